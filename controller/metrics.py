"""Controller metrics (MetalLB names), health/readiness endpoints.

Names and labels follow MetalLB (reference §5): ``metallb_allocator_*`` gauges per ``pool``
(all families and per family), ``metallb_k8s_client_*`` counters and config booleans. ingot adds
``ingot_controller_reconcile_duration_seconds`` (histogram) and exports
``metallb_allocator_services_allocated_total`` for real (MetalLB registers it but never sets it).

Every gauge for a pool exists from the moment the pool is loaded (MetalLB #626) and disappears
when the pool is deleted (#622); shared IPs count once (#625). Counts are exact Python ints
turned into floats only at exposition (a /64 pool reports 2**64, not MaxInt64).

The registry is per instance (never the global one), so tests and several components in one
process do not collide. Nothing is registered at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest


@dataclass(frozen=True)
class PoolUsage:
    """Exact address counts of one pool: capacity and distinct IPs in use, per family."""

    total_v4: int = 0
    total_v6: int = 0
    in_use_v4: int = 0
    in_use_v6: int = 0
    services: int = 0

    @property
    def total(self) -> int:
        return self.total_v4 + self.total_v6

    @property
    def in_use(self) -> int:
        return self.in_use_v4 + self.in_use_v6


class ControllerMetrics:
    """The controller's Prometheus series on its own ``CollectorRegistry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.addresses_total = Gauge(
            "addresses_total", "Usable IPs per pool", ["pool"],
            namespace="metallb", subsystem="allocator", registry=r,
        )  # fmt: skip
        self.ipv4_addresses_total = Gauge(
            "ipv4_addresses_total", "Usable IPv4 addresses per pool", ["pool"],
            namespace="metallb", subsystem="allocator", registry=r,
        )  # fmt: skip
        self.ipv6_addresses_total = Gauge(
            "ipv6_addresses_total", "Usable IPv6 addresses per pool", ["pool"],
            namespace="metallb", subsystem="allocator", registry=r,
        )  # fmt: skip
        self.addresses_in_use_total = Gauge(
            "addresses_in_use_total", "Distinct IPs in use per pool (shared IPs count once)",
            ["pool"], namespace="metallb", subsystem="allocator", registry=r,
        )  # fmt: skip
        self.ipv4_addresses_in_use_total = Gauge(
            "ipv4_addresses_in_use_total", "Distinct IPv4 addresses in use per pool", ["pool"],
            namespace="metallb", subsystem="allocator", registry=r,
        )  # fmt: skip
        self.ipv6_addresses_in_use_total = Gauge(
            "ipv6_addresses_in_use_total", "Distinct IPv6 addresses in use per pool", ["pool"],
            namespace="metallb", subsystem="allocator", registry=r,
        )  # fmt: skip
        self.services_allocated_total = Gauge(
            "services_allocated_total", "Services holding an IP from the pool", ["pool"],
            namespace="metallb", subsystem="allocator", registry=r,
        )  # fmt: skip
        self.updates = Counter(
            "updates", "Reconciles processed", namespace="metallb", subsystem="k8s_client",
            registry=r,
        )  # fmt: skip
        self.update_errors = Counter(
            "update_errors", "Reconciles that failed", namespace="metallb",
            subsystem="k8s_client", registry=r,
        )  # fmt: skip
        self.config_loaded = Gauge(
            "config_loaded_bool", "1 once a valid configuration is loaded", namespace="metallb",
            subsystem="k8s_client", registry=r,
        )  # fmt: skip
        self.config_stale = Gauge(
            "config_stale_bool", "1 while running on a stale configuration (latest is invalid)",
            namespace="metallb", subsystem="k8s_client", registry=r,
        )  # fmt: skip
        self.reconcile_duration = Histogram(
            "reconcile_duration_seconds", "Time to reconcile one Service", namespace="ingot",
            subsystem="controller", registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )  # fmt: skip
        self.api_writes = Counter(
            "api_writes", "Writes to the Kubernetes API by kind of write", ["kind"],
            namespace="ingot", subsystem="controller", registry=r,
        )  # fmt: skip
        self._pools: set[str] = set()
        self._pool_gauges = (
            self.addresses_total,
            self.ipv4_addresses_total,
            self.ipv6_addresses_total,
            self.addresses_in_use_total,
            self.ipv4_addresses_in_use_total,
            self.ipv6_addresses_in_use_total,
            self.services_allocated_total,
        )

    def set_pools(self, usage_by_pool: Mapping[str, PoolUsage]) -> None:
        """Publish every pool's counts; remove the series of pools that are gone."""
        for gone in self._pools - set(usage_by_pool):
            for g in self._pool_gauges:
                g.remove(gone)
        for name, u in usage_by_pool.items():
            self.addresses_total.labels(name).set(float(u.total))
            self.ipv4_addresses_total.labels(name).set(float(u.total_v4))
            self.ipv6_addresses_total.labels(name).set(float(u.total_v6))
            self.addresses_in_use_total.labels(name).set(float(u.in_use))
            self.ipv4_addresses_in_use_total.labels(name).set(float(u.in_use_v4))
            self.ipv6_addresses_in_use_total.labels(name).set(float(u.in_use_v6))
            self.services_allocated_total.labels(name).set(float(u.services))
        self._pools = set(usage_by_pool)

    def set_config_state(self, *, loaded: bool, stale: bool) -> None:
        """``loaded``: a valid config is in force; ``stale``: the latest one was rejected."""
        self.config_loaded.set(1 if loaded else 0)
        self.config_stale.set(1 if stale else 0)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


def make_http_app(
    metrics: ControllerMetrics,
    *,
    healthy: Callable[[], bool] = lambda: True,
    ready: Callable[[], bool] = lambda: True,
) -> web.Application:
    """Aiohttp app serving ``/metrics``, ``/healthz`` (alive) and ``/readyz`` (caches synced).

    Paths as MetalLB's health probe server (``--health-probe-port``); 200 ``ok`` or 503.
    """

    async def _metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    def _probe(check: Callable[[], bool]) -> Callable[[web.Request], object]:
        async def handler(_: web.Request) -> web.Response:
            if check():
                return web.Response(text="ok")
            return web.Response(status=503, text="not ready")

        return handler

    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _probe(healthy))  # type: ignore[arg-type]
    app.router.add_get("/readyz", _probe(ready))  # type: ignore[arg-type]
    return app
