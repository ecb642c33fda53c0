"""Fixtures of the kube tier: the embedded API server and an official-client ApiClient.

``apiserver``: a started ``ingot.apiserver.server.APIServer`` on 127.0.0.1:<free port>, with the
metallb.io CRDs of ``charts/ingot/crds/`` loaded when that directory has files; stopped (all
watches closed, thread joined) after the test. ``kube_client``: a
``kubernetes.client.ApiClient`` pointed at it, closed after the test. ``apiserver_factory``:
``make(**APIServer options)`` for extra or differently configured servers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest

from ingot.apiserver.server import APIServer, read_manifests

REPO = Path(__file__).resolve().parents[2]
CRDS_DIR = REPO / "charts" / "ingot" / "crds"


@pytest.fixture(scope="session")
def _chart_crds() -> list[tuple[str, int, dict[str, object]]]:
    """The CRD documents of ``charts/ingot/crds/``, parsed once per session."""
    if not CRDS_DIR.is_dir() or not any(CRDS_DIR.iterdir()):
        return []
    return read_manifests(CRDS_DIR)


@pytest.fixture
def apiserver(_chart_crds: list[tuple[str, int, dict[str, object]]]) -> Iterator[APIServer]:
    """A started in-memory API server (metallb.io CRDs loaded when generated)."""
    srv = APIServer(host="127.0.0.1", port=0)
    srv.start()
    try:
        srv.load_objects(_chart_crds)
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def apiserver_factory(
    _chart_crds: list[tuple[str, int, dict[str, object]]],
) -> Iterator[Callable[..., APIServer]]:
    """Start extra servers with options (``history_size``, ``tls``, ``expired_as_http_error``,
    ``bookmark_interval_s``...); each has the chart CRDs and is stopped after the test."""
    started: list[APIServer] = []

    def make(**options: Any) -> APIServer:
        srv = APIServer(host="127.0.0.1", port=0, **options)
        srv.start()
        started.append(srv)
        srv.load_objects(_chart_crds)
        return srv

    try:
        yield make
    finally:
        for srv in started:
            srv.stop()


@pytest.fixture
def kube_client(apiserver: APIServer) -> Iterator[kubernetes.client.ApiClient]:
    """An official-client ApiClient for ``apiserver`` (closed after the test)."""
    client = apiserver.api_client()
    try:
        yield client
    finally:
        client.close()
