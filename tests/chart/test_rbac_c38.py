"""Case C38 end to end: the real controller, run with the chart's default RBAC in mind.

The controller runs against ``ingot.apiserver`` (official client over HTTP) on C38's input:
a pool restricted by ``namespaceSelectors`` to namespaces labelled ``tenant=a``, an
L2Advertisement, a Service in ``team-a``. Every call it makes goes through a recording wrapper
of its ``Source`` seam (the server's own audit log cannot tell the controller's requests from
the test's). Expected, as in the case: the Service gets the pool's first address, and every
(verb, resource, namespace) the controller used is allowed by the rendered Roles and
ClusterRoles for its ServiceAccount - including the Namespace list that broke the Bitnami
chart. The address range is moved from 192.0.2.0/24 to 198.51.100.0/24 (lab rule).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingot.kube import source as src

REPO = Path(__file__).resolve().parents[2]
NS = "ingot-system"
SA = "ingot-controller"


@pytest.fixture
def apiserver() -> Iterator[Any]:
    from ingot.apiserver.server import APIServer

    srv = APIServer(host="127.0.0.1", port=0)
    srv.start()
    try:
        srv.load_manifests(REPO / "charts" / "ingot" / "crds")
        yield srv
    finally:
        srv.stop()


def _c38_objects() -> list[tuple[src.Kind, dict[str, Any]]]:
    pool = src.IP_ADDRESS_POOL
    return [
        (src.NAMESPACE, {"metadata": {"name": NS}}),
        (src.NAMESPACE, {"metadata": {"name": "team-a", "labels": {"tenant": "a"}}}),
        (
            pool,
            {
                "apiVersion": pool.api_version,
                "kind": pool.kind,
                "metadata": {"name": "tenant-a", "namespace": NS},
                "spec": {
                    "addresses": ["198.51.100.240-198.51.100.245"],
                    "serviceAllocation": {"namespaceSelectors": [{"matchLabels": {"tenant": "a"}}]},
                },
            },
        ),
        (
            src.L2_ADVERTISEMENT,
            {
                "apiVersion": src.L2_ADVERTISEMENT.api_version,
                "kind": src.L2_ADVERTISEMENT.kind,
                "metadata": {"name": "l2", "namespace": NS},
                "spec": {"nodeSelectors": [{"matchLabels": {"kubernetes.io/os": "linux"}}]},
            },
        ),
        (
            src.SERVICE,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": "team-a"},
                "spec": {
                    "type": "LoadBalancer",
                    "selector": {"app": "web"},
                    "ports": [{"port": 80, "protocol": "TCP"}],
                },
            },
        ),
    ]


def test_c38_controller_calls_are_all_granted(
    apiserver: Any, render: Any, recording_source: Any
) -> None:
    from controller.controller import Controller
    from controller.events import EventWriter
    from controller.metrics import ControllerMetrics
    from ingot.api import compile as api_compile
    from ingot.api import services
    from ipam.allocator import Allocator

    api_client = apiserver.api_client()
    setup = src.KubeSource(api_client)
    for kind, body in _c38_objects():
        setup.create(kind, body, namespace=body["metadata"].get("namespace"))

    recording = recording_source(src.KubeSource(api_client))
    events = EventWriter(recording, instance="c38")  # type: ignore[arg-type]
    ctrl = Controller(
        source=recording,  # type: ignore[arg-type]
        namespace=NS,
        metrics=ControllerMetrics(),
        events=events,
        allocator_factory=Allocator,
        compile_fn=functools.partial(api_compile.compile_config, namespace=NS),
        resources_fn=api_compile.ClusterResources,
        request_fn=services.service_request,
        resync_period_s=None,
        pools_debounce_s=0.02,
    )
    events.start()
    ctrl.start()
    try:
        assert ctrl.wait_ready(30.0), "controller did not sync its caches"
        deadline = time.monotonic() + 30.0
        ingress: list[Any] = []
        while time.monotonic() < deadline and not ingress:
            svc = setup.get(src.SERVICE, "web", namespace="team-a")
            ingress = (svc.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
            if not ingress:
                time.sleep(0.05)
        assert [i.get("ip") for i in ingress] == ["198.51.100.240"]
        assert events.flush(timeout_s=10.0)
    finally:
        ctrl.stop()
        events.stop()
        api_client.close()

    objs = render()
    used = sorted(recording.calls, key=str)
    assert ("list", "", "namespaces", None) in used, "the controller lists Namespaces (C38)"
    denied = [
        call
        for call in used
        if not objs.allowed(SA, call[0], call[1], call[2], namespace=call[3], any_name=True)
    ]
    assert not denied, f"forbidden with the chart's RBAC: {denied}"
