"""Prometheus metrics of the BGP component (MetalLB names, ``peer`` label = peer address).

Registered on the registry passed in (never at import time), so tests and several speakers in
one process do not collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class BgpMetrics:
    """The BGP session metrics of MetalLB's ``internal/bgp/native/stats.go``.

    ``metallb_bgp_session_up``, ``metallb_bgp_updates_total``,
    ``metallb_bgp_announced_prefixes_total``.

    ``updates_total`` counts route commands ExaBGP accepted (one announce or withdraw each; ExaBGP
    may pack several into one UPDATE message).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.session_up = Gauge(
            "metallb_bgp_session_up",
            "BGP session state (1 established, 0 not)",
            ["peer"],
            registry=self.registry,
        )
        self.updates = Counter(
            "metallb_bgp_updates_total",
            "Route announcements and withdrawals sent to the peer",
            ["peer"],
            registry=self.registry,
        )
        self.announced_prefixes = Gauge(
            "metallb_bgp_announced_prefixes_total",
            "Prefixes currently advertised to the peer",
            ["peer"],
            registry=self.registry,
        )
        self.restarts = Counter(
            "ingot_bgp_exabgp_restarts_total",
            "ExaBGP process restarts after it exited or its API broke",
            ["peer"],
            registry=self.registry,
        )

    def forget(self, peer: str) -> None:
        """Drop every series of ``peer`` (the BGPPeer was removed)."""
        for metric in (self.session_up, self.updates, self.announced_prefixes, self.restarts):
            try:
                metric.remove(peer)
            except KeyError:
                continue


class BfdMetrics:
    """BFD metrics with MetalLB's FRR-mode names (``frr-tools/metrics/collector/bfd.go``).

    ``peer`` label = peer address. Counters are exposed with the ``_total`` suffix
    prometheus-client adds. ``ingot_bfd_dropped_packets_total`` counts discarded packets by
    reason (RFC 5880 §6.8.6, RFC 5881 §5).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.session_up = Gauge(
            "metallb_bfd_session_up", "BFD session state (1 Up)", ["peer"], registry=self.registry
        )
        self.up_events = Counter(
            "metallb_bfd_session_up_events",
            "BFD sessions going Up",
            ["peer"],
            registry=self.registry,
        )
        self.down_events = Counter(
            "metallb_bfd_session_down_events",
            "BFD sessions going Down from Up",
            ["peer"],
            registry=self.registry,
        )
        self.control_in = Counter(
            "metallb_bfd_control_packet_input",
            "BFD control packets received",
            ["peer"],
            registry=self.registry,
        )
        self.control_out = Counter(
            "metallb_bfd_control_packet_output",
            "BFD control packets sent",
            ["peer"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "ingot_bfd_dropped_packets",
            "BFD packets discarded, by reason",
            ["reason"],
            registry=self.registry,
        )

    def forget(self, peer: str) -> None:
        """Drop every per-peer series of ``peer``."""
        for metric in (
            self.session_up,
            self.up_events,
            self.down_events,
            self.control_in,
            self.control_out,
        ):
            try:
                metric.remove(peer)
            except KeyError:
                continue
