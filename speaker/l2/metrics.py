"""Prometheus metrics of L2 mode, with MetalLB's names (reference §5) plus failover telemetry.

Nothing registers at import: :class:`L2Metrics` is built with a registry by the app (tests pass
a fresh ``CollectorRegistry``). Components take an :class:`L2Metrics`; :data:`NULL` ignores all.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class L2Metrics:
    """The L2 counters, gauges and histograms (labels as MetalLB where it has the metric)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.enabled = registry is not None
        if registry is None:
            return
        self.requests = Counter(
            "metallb_layer2_requests_received",
            "ARP/NDP requests received for owned IPs",
            ["ip"],
            registry=registry,
        )
        self.responses = Counter(
            "metallb_layer2_responses_sent", "ARP/NDP replies sent", ["ip"], registry=registry
        )
        self.gratuitous = Counter(
            "metallb_layer2_gratuitous_sent",
            "gratuitous ARP / unsolicited NA frames sent (ARP counts request + reply = 2)",
            ["ip"],
            registry=registry,
        )
        self.announced = Gauge(
            "metallb_speaker_announced",
            "1 while this node announces the Service's IP",
            ["service", "protocol", "node", "ip"],
            registry=registry,
        )
        self.ownership_changes = Counter(
            "ingot_l2_ownership_changes",
            "IPs this node took or gave up",
            ["direction"],
            registry=registry,
        )
        self.failover = Histogram(
            "ingot_l2_failover_seconds",
            "time from the last heartbeat heard from a failed owner to this node's first GARP/NA",
            buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0, 30.0),
            registry=registry,
        )
        self.fences = Counter(
            "ingot_l2_fences", "fencing writes by result", ["result"], registry=registry
        )

    def request(self, ip: str) -> None:
        """One ARP request / NS for owned ``ip`` received."""
        if self.enabled:
            self.requests.labels(ip).inc()

    def response(self, ip: str) -> None:
        """One reply for ``ip`` sent."""
        if self.enabled:
            self.responses.labels(ip).inc()

    def garp(self, ip: str, frames_sent: int) -> None:
        """``frames_sent`` gratuitous frames for ``ip`` sent."""
        if self.enabled:
            self.gratuitous.labels(ip).inc(frames_sent)

    def change(self, direction: str, count: int = 1) -> None:
        """``count`` IPs ``taken`` or ``released``."""
        if self.enabled and count:
            self.ownership_changes.labels(direction).inc(count)


NULL = L2Metrics(None)
