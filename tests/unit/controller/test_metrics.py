from __future__ import annotations

import io
import json
import logging

import structlog
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from controller import logs
from controller.metrics import ControllerMetrics, PoolUsage, make_http_app


def samples(m: ControllerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(m.exposition().decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_pool_gauges_exist_before_allocation_and_vanish_with_the_pool() -> None:
    m = ControllerMetrics()
    # C39 step 1: /29 with avoidBuggyIPs -> 7 usable, 0 in use, present before any allocation
    m.set_pools({"default": PoolUsage(total_v4=7)})
    s = samples(m)
    assert s[("metallb_allocator_addresses_total", (("pool", "default"),))] == 7
    assert s[("metallb_allocator_addresses_in_use_total", (("pool", "default"),))] == 0
    # C39 step 4: two services share one IP -> one address in use, two services
    m.set_pools({"default": PoolUsage(total_v4=7, in_use_v4=1, services=2)})
    s = samples(m)
    assert s[("metallb_allocator_addresses_in_use_total", (("pool", "default"),))] == 1
    assert s[("metallb_allocator_services_allocated_total", (("pool", "default"),))] == 2
    m.set_pools({})
    assert not [k for k in samples(m) if k[0].startswith("metallb_allocator")]


def test_per_family_and_huge_pools() -> None:
    m = ControllerMetrics()
    m.set_pools({"v6": PoolUsage(total_v4=2, total_v6=2**64, in_use_v6=3)})
    s = samples(m)
    assert s[("metallb_allocator_ipv6_addresses_total", (("pool", "v6"),))] == float(2**64)
    assert s[("metallb_allocator_ipv4_addresses_total", (("pool", "v6"),))] == 2
    assert s[("metallb_allocator_ipv6_addresses_in_use_total", (("pool", "v6"),))] == 3


def test_client_series_have_metallb_names() -> None:
    m = ControllerMetrics()
    m.updates.inc()
    m.update_errors.inc()
    m.set_config_state(loaded=True, stale=True)
    m.reconcile_duration.observe(0.01)
    s = samples(m)
    assert s[("metallb_k8s_client_updates_total", ())] == 1
    assert s[("metallb_k8s_client_update_errors_total", ())] == 1
    assert s[("metallb_k8s_client_config_loaded_bool", ())] == 1
    assert s[("metallb_k8s_client_config_stale_bool", ())] == 1
    assert s[("ingot_controller_reconcile_duration_seconds_count", ())] == 1


def test_registries_are_per_instance() -> None:
    a, b = ControllerMetrics(), ControllerMetrics()
    a.updates.inc()
    assert samples(b)[("metallb_k8s_client_updates_total", ())] == 0


async def test_http_endpoints() -> None:
    m = ControllerMetrics()
    ready = {"v": False}
    app = make_http_app(m, ready=lambda: ready["v"])
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status == 503
        ready["v"] = True
        assert (await client.get("/readyz")).status == 200
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert "metallb_k8s_client_updates_total" in await resp.text()


def test_json_logs_carry_service_pool_ip() -> None:
    buf = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure(level="debug", stream=buf)
        logs.get("controller.test").info(
            "ip assigned", service="demo/web", pool="p", ip="203.0.113.1"
        )
        logging.getLogger("kubernetes.foreign").warning("plain %s", "record")
        logging.getLogger("controller.x").info("std", extra={"service": "demo/a", "ip": "::1"})
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        structlog.reset_defaults()
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert lines[0]["service"] == "demo/web"
    assert lines[0]["pool"] == "p"
    assert lines[0]["ip"] == "203.0.113.1"
    assert lines[0]["level"] == "info"
    assert lines[0]["component"] == "controller"
    assert "ts" in lines[0]
    assert lines[1]["event"] == "plain record"
    assert lines[1]["logger"] == "kubernetes.foreign"
    assert (lines[2]["service"], lines[2]["ip"]) == ("demo/a", "::1")


def test_bad_log_level_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="--log-level"):
        logs.configure(level="loud")
