"""Config: the validated, resolved configuration every component works from. PURE, frozen.

Produced only by :func:`ingot.api.compile.compile_config` from the metallb.io objects plus
Namespaces, Nodes and Secrets. Everything downstream (allocator, L2 placement, BGP planning,
``ingot explain``) reads a ``Config``, never the CRD models. All references are resolved:

* pools are :class:`ipam.pool.Pool` objects, with namespace selectors resolved against the
  Namespaces given (``ServiceAllocation.namespaces`` = listed names plus matching namespaces;
  the selectors are kept too, so a Namespace relabel can be evaluated before recompiling);
* advertisements carry the *names* of the pools they apply to (from ``ipAddressPools``,
  ``ipAddressPoolSelectors``, or every pool when neither is given), their selectors as
  :class:`ipam.selectors.LabelSelector`, and the Nodes their ``nodeSelectors`` select now;
* BGP communities are values (aliases resolved), peers carry the resolved TCP-MD5 password
  (a ``SecretStr``: never in ``repr``, logs or ``str``) and their resolved BFD profile.

MetalLB equivalent: ``internal/config/config.go`` ``Config``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

from ingot.api.communityvalue import CommunityValue
from ipam import pool, ranges, selectors

Pool = pool.Pool
LabelSelector = selectors.LabelSelector


def _selects(sels: tuple[LabelSelector, ...], labels: Mapping[str, str]) -> bool:
    """MetalLB list semantics: an empty list selects everything, else any selector must match."""
    return not sels or any(s.matches(labels) for s in sels)


@dataclass(frozen=True)
class Preference:
    """One L2 ``preferredNodeSelectors`` entry: nodes matching ``selector`` score ``weight``."""

    weight: int
    selector: LabelSelector


@dataclass(frozen=True)
class L2Advertisement:
    """A compiled L2Advertisement.

    Attributes:
        name: metadata.name.
        pools: names of the pools it announces (resolved; never empty-means-all).
        node_selectors: ``spec.nodeSelectors``; empty = every node.
        service_selectors: ``spec.serviceSelectors``; empty = every Service.
        interfaces: ``spec.interfaces``; empty = every eligible interface.
        preferences: ``spec.preferredNodeSelectors``.
        nodes: names of the known Nodes ``node_selectors`` selects at compile time.
    """

    name: str
    pools: frozenset[str]
    node_selectors: tuple[LabelSelector, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()
    interfaces: tuple[str, ...] = ()
    preferences: tuple[Preference, ...] = ()
    nodes: frozenset[str] = frozenset()

    def selects_node(self, labels: Mapping[str, str]) -> bool:
        """Whether a node with these labels may announce (empty nodeSelectors = all)."""
        return _selects(self.node_selectors, labels)

    def selects_service(self, labels: Mapping[str, str]) -> bool:
        """Whether the advertisement applies to a Service with these labels."""
        return _selects(self.service_selectors, labels)


@dataclass(frozen=True)
class BGPAdvertisement:
    """A compiled BGPAdvertisement.

    Attributes:
        name: metadata.name.
        pools: names of the pools it advertises (resolved).
        aggregation_length: IPv4 prefix length of the routes (32 = one per address).
        aggregation_length_v6: IPv6 prefix length of the routes (128 = one per address).
        local_pref: LOCAL_PREF for iBGP peers; ``None`` when unset or 0 (MetalLB's "unset").
        communities: resolved community values (aliases replaced), standard and large.
        peers: BGPPeer names to advertise to; empty = every peer.
        node_selectors: nodes that advertise; empty = every node.
        service_selectors: Services it applies to; empty = every Service.
        nodes: names of the known Nodes ``node_selectors`` selects at compile time.
    """

    name: str
    pools: frozenset[str]
    aggregation_length: int = 32
    aggregation_length_v6: int = 128
    local_pref: int | None = None
    communities: frozenset[CommunityValue] = frozenset()
    peers: tuple[str, ...] = ()
    node_selectors: tuple[LabelSelector, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()
    nodes: frozenset[str] = frozenset()

    def selects_node(self, labels: Mapping[str, str]) -> bool:
        """Whether a node with these labels advertises (empty nodeSelectors = all)."""
        return _selects(self.node_selectors, labels)

    def selects_service(self, labels: Mapping[str, str]) -> bool:
        """Whether the advertisement applies to a Service with these labels."""
        return _selects(self.service_selectors, labels)

    def selects_peer(self, peer: str) -> bool:
        """Whether routes go to the BGPPeer named ``peer`` (empty peers = all)."""
        return not self.peers or peer in self.peers


@dataclass(frozen=True)
class BFDProfile:
    """A compiled BFDProfile with FRR's defaults filled in (RFC 5880 section 6.8.1 timers).

    Attributes:
        name: metadata.name.
        receive_interval_ms: Required Min RX Interval, ms (default 300).
        transmit_interval_ms: Desired Min TX Interval, ms (default 300).
        detect_multiplier: Detect Mult (default 3).
        echo_interval_ms: echo interval, ms (default 50; echo mode itself is rejected).
        passive_mode: wait for the peer to send first (RFC 5880 section 6.1).
        minimum_ttl: minimum incoming TTL for multi-hop sessions (default 254).
    """

    name: str
    receive_interval_ms: int = 300
    transmit_interval_ms: int = 300
    detect_multiplier: int = 3
    echo_interval_ms: int = 50
    passive_mode: bool = False
    minimum_ttl: int = 254


@dataclass(frozen=True)
class BGPPeer:
    """A compiled BGPPeer (``metallb.io/v1beta2``), ready for ExaBGP.

    Attributes:
        name: metadata.name.
        my_asn: local AS (1..2^32-1).
        peer_asn: expected remote AS.
        peer_address: address to dial.
        source_address: local address of the session, if set.
        peer_port: TCP port (default 179).
        hold_time_s: hold time in whole seconds; ``None`` = unset (ExaBGP default 180 s,
            MetalLB native 90 s; the BGP speaker chooses and documents it). If only the
            keepalive was given, 3 x keepalive (MetalLB ``parseTimers``).
        keepalive_time_s: keepalive in whole seconds; ``None`` = hold/3.
        router_id: BGP identifier, if set.
        ebgp_multihop: the eBGP peer is more than one hop away.
        password: resolved TCP-MD5 key (RFC 2385) from ``password`` or ``passwordSecret``;
            a ``SecretStr`` (call ``get_secret_value()`` only where the key is written out).
        password_source: where the password came from, for explanations
            (``""``, ``"spec.password"`` or ``"Secret ns/name"``); never the value.
        node_selectors: nodes that run a session; empty = every node.
        dual_stack_address_family: also carry the other address family (MP-BGP, RFC 4760).
        bfd_profile: name of the BFDProfile, or ``None``.
        bfd: the resolved BFDProfile, or ``None``.
        nodes: names of the known Nodes ``node_selectors`` selects at compile time.
    """

    name: str
    my_asn: int
    peer_asn: int
    peer_address: ranges.IPAddress
    source_address: ranges.IPAddress | None = None
    peer_port: int = 179
    hold_time_s: float | None = None
    keepalive_time_s: float | None = None
    router_id: ranges.IPAddress | None = None
    ebgp_multihop: bool = False
    password: SecretStr | None = field(default=None, repr=False)
    password_source: str = ""
    node_selectors: tuple[LabelSelector, ...] = ()
    dual_stack_address_family: bool = False
    bfd_profile: str | None = None
    bfd: BFDProfile | None = None
    nodes: frozenset[str] = frozenset()

    @property
    def is_ibgp(self) -> bool:
        """Internal BGP session (same AS on both ends, RFC 4271 section 1.1)."""
        return self.my_asn == self.peer_asn

    def selects_node(self, labels: Mapping[str, str]) -> bool:
        """Whether a node with these labels runs a session to this peer."""
        return _selects(self.node_selectors, labels)


def _frozen_map(m: Mapping[str, object] | None) -> Mapping[str, object]:
    return types.MappingProxyType(dict(sorted((m or {}).items())))


@dataclass(frozen=True)
class Config:
    """The whole validated configuration.

    Attributes:
        namespace: the namespace the configuration objects were read from.
        pools: pools by name (``pools_by_name``), sorted by name.
        l2_advertisements: compiled L2Advertisements, sorted by name.
        bgp_advertisements: compiled BGPAdvertisements, sorted by name.
        bgp_peers: peers by name.
        bfd_profiles: BFD profiles by name.
        communities: community aliases by name (already substituted in advertisements).
    """

    namespace: str = ""
    pools: Mapping[str, Pool] = field(default_factory=dict)
    l2_advertisements: tuple[L2Advertisement, ...] = ()
    bgp_advertisements: tuple[BGPAdvertisement, ...] = ()
    bgp_peers: Mapping[str, BGPPeer] = field(default_factory=dict)
    bfd_profiles: Mapping[str, BFDProfile] = field(default_factory=dict)
    communities: Mapping[str, CommunityValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("pools", "bgp_peers", "bfd_profiles", "communities"):
            object.__setattr__(self, name, _frozen_map(getattr(self, name)))
        object.__setattr__(
            self, "l2_advertisements", tuple(sorted(self.l2_advertisements, key=lambda a: a.name))
        )
        object.__setattr__(
            self,
            "bgp_advertisements",
            tuple(sorted(self.bgp_advertisements, key=lambda a: a.name)),
        )

    __hash__ = None  # type: ignore[assignment]  # mappings inside; compare with ==

    def l2_advertisements_for_pool(self, pool_name: str) -> tuple[L2Advertisement, ...]:
        """The L2Advertisements that announce ``pool_name`` (sorted by name)."""
        return tuple(a for a in self.l2_advertisements if pool_name in a.pools)

    def bgp_advertisements_for_pool(self, pool_name: str) -> tuple[BGPAdvertisement, ...]:
        """The BGPAdvertisements that advertise ``pool_name`` (sorted by name)."""
        return tuple(a for a in self.bgp_advertisements if pool_name in a.pools)

    def unannounced_pools(self) -> frozenset[str]:
        """Pools no advertisement covers: their IPs are assigned but nobody answers (case C14)."""
        covered = {p for a in self.l2_advertisements for p in a.pools}
        covered |= {p for a in self.bgp_advertisements for p in a.pools}
        return frozenset(self.pools) - covered

    def pool_of(self, ip: ranges.IPAddress) -> Pool | None:
        """The pool that contains ``ip`` (pools never overlap), or ``None``."""
        for p in self.pools.values():
            if p.contains(ip):
                return p
        return None
