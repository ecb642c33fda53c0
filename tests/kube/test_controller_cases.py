"""The controller's case scenarios end to end: threaded Controller, KubeSource, ingot.apiserver.

The scenarios are the same functions as the unit tier's (``tests/unit/controller/
test_reconciler.py``), run here against ``KubeHarness``: informers over HTTP watches, the work
queue, the worker thread, real writes through the official client.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.testing import KubeHarness

_SCENARIOS = Path(__file__).resolve().parents[1] / "unit" / "controller" / "test_reconciler.py"
_spec = importlib.util.spec_from_file_location("controller_scenarios", _SCENARIOS)
assert _spec is not None
assert _spec.loader is not None
scenarios = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scenarios)

# Scenarios that drive the FakeSource's own fault hooks or the harness internals only.
_UNIT_ONLY = {
    "test_conflict_on_write_is_retried_without_double_allocation",
    # ingot.apiserver models a dual-stack cluster: a PreferDualStack Service always gets two
    # ClusterIPs there, so the IPv4-only premise of C13 exists only in the unit tier.
    "test_c13_prefer_dual_single_cluster_ip",
}

CASES = [
    pytest.param(fn, id=name.removeprefix("test_"))
    for name, fn in inspect.getmembers(scenarios, inspect.isfunction)
    if name.startswith("test_")
    and name not in _UNIT_ONLY
    and list(inspect.signature(fn).parameters) == ["h"]
]


@pytest.fixture
def kh(apiserver, kube_client) -> Iterator[KubeHarness]:
    h = KubeHarness(kube_client, audit=lambda: list(apiserver.audit))
    try:
        yield h
    finally:
        h.stop()


@pytest.mark.parametrize("scenario", CASES)
def test_case(kh: KubeHarness, scenario) -> None:
    scenario(kh)


def test_no_valid_config_leaves_services_untouched(apiserver, kube_client) -> None:
    h = KubeHarness(kube_client, audit=lambda: list(apiserver.audit), start=False)
    try:
        from controller.testing import pool, service

        h.apply(pool("bad", "nope"))
        h.apply(service("web"))
        h.start()
        assert h.condition("web") is None
        assert h.service_writes() == 0
    finally:
        h.stop()


def test_lb_class_filter(apiserver, kube_client) -> None:
    from controller.testing import l2, pool, service

    h = KubeHarness(kube_client, audit=lambda: list(apiserver.audit), lb_class="ingot")
    try:
        h.apply(pool("p", "198.51.100.10/31"), l2())
        h.apply(
            service("mine", lb_class="ingot"), service("theirs", lb_class="other"), service("none")
        )
        assert h.ips("mine") == ["198.51.100.10"]
        assert h.ips("theirs") == []
        assert h.condition("none") is None
    finally:
        h.stop()


def test_deprecated_annotation_warned_on_create_not_on_restart(apiserver, kube_client) -> None:
    from controller.testing import l2, pool, service

    h = KubeHarness(kube_client, audit=lambda: list(apiserver.audit))
    try:
        h.apply(pool("p", "198.51.100.10/31"), l2())
        h.apply(service("legacy", annotations={"metallb.universe.tf/address-pool": "p"}))
        assert h.ips("legacy") == ["198.51.100.10"]
        warned = [(r, m) for r, m in h.events_for("legacy") if r == "DeprecatedAnnotation"]
        assert len(warned) == 1
        assert "metallb.io/address-pool" in warned[0][1]
        h.start()
        assert len([r for r, _ in h.events_for("legacy") if r == "DeprecatedAnnotation"]) == 1
    finally:
        h.stop()
