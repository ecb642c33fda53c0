"""BGP advertisement planning: which prefixes this node hands to which BGP peer, and how.

Place in the pipeline: the speaker gathers the compiled configuration (BGPPeers and
BGPAdvertisements), the LoadBalancer Services with their assigned IPs, their EndpointSlices and
the Nodes, calls :func:`plan_advertisements` and hands :attr:`BgpPlan.routes` to the BGP driver,
which applies only the difference (``speaker/bgp/driver.py``). Nothing here does I/O.

Semantics follow MetalLB's speaker (``speaker/bgp_controller.go`` ``ShouldAnnounce`` and
``SetBalancer``, ``internal/bgp/native``):

* A Service is announced from this node only if the node is not ``NetworkUnavailable`` and not
  labelled ``node.kubernetes.io/exclude-from-external-load-balancers``; with
  ``externalTrafficPolicy: Local`` only while an endpoint on this node is serving; with
  ``Cluster`` while any endpoint anywhere is serving; never without a serving endpoint.
* A BGPAdvertisement applies when its pools contain the Service's pool, its
  ``serviceSelectors`` (if any) match the Service labels and its ``nodeSelectors`` (if any)
  match this node.
* The prefix is the IP masked to ``aggregationLength`` / ``aggregationLengthV6``.
* Peers: the BGPPeers whose ``nodeSelectors`` select this node (sessions run only there),
  restricted to the advertisement's ``peers`` names when given (unknown names match nothing).
* The same prefix to the same peer from several advertisements carries the union of their
  communities (MetalLB ``mergeCommunities``); LOCAL_PREF goes only to iBGP peers
  (``myASN == peerASN``, RFC 4271 §5.1.5); two different localPrefs for the same prefix and
  peer are a conflict and the prefix is not announced to that peer (MetalLB
  ``conflictingAdvertisements``).
* Address families: an IPv4 route goes to an IPv4 session and an IPv6 route to an IPv6 session
  with next hop ``self``; with ``dualStackAddressFamily`` the other family also goes over the
  session (MP-BGP, RFC 4760) with this node's address of that family as explicit next hop,
  because ``next-hop self`` only works for the session's own family (netlab pitfall P5).

Inputs are plain frozen dataclasses (``BgpPeerSpec``, ``BgpAdvertisementSpec``, ``ServiceInfo``,
``EndpointInfo``, ``NodeInfo``); ``*_from_raw`` helpers build the last three from Kubernetes
dicts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

from ingot.api import config

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool"
DEFAULT_BGP_PORT = 179
UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1


class Selector(Protocol):
    """Anything with Kubernetes label-selector semantics (``ipam.selectors.LabelSelector``)."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy the selector (an empty selector matches everything)."""
        ...


def _any_selects(selectors: Sequence[Selector], labels: Mapping[str, str]) -> bool:
    """MetalLB list semantics: an empty list selects everything, else any selector must match."""
    return not selectors or any(s.matches(labels) for s in selectors)


# ---------------------------------------------------------------------------- communities


@dataclass(frozen=True, order=True)
class StandardCommunity:
    """An RFC 1997 community ``asn:value`` (two 16-bit halves)."""

    asn: int
    value: int

    def __str__(self) -> str:
        return f"{self.asn}:{self.value}"


@dataclass(frozen=True, order=True)
class LargeCommunity:
    """An RFC 8092 large community ``global:local1:local2`` (three 32-bit parts)."""

    global_admin: int
    local1: int
    local2: int

    def __str__(self) -> str:
        return f"{self.global_admin}:{self.local1}:{self.local2}"


Community: TypeAlias = StandardCommunity | LargeCommunity


def parse_community(text: str) -> Community:
    """Parse a MetalLB community value: ``"A:B"`` (16-bit each) or ``"large:G:L1:L2"`` (32-bit).

    Aliases (Community CR names) are resolved by the config compiler before this is called.

    Raises:
        ValueError: the text is neither form, or a part is out of range; the message quotes it.
    """
    parts = text.strip().split(":")
    try:
        if len(parts) == 2:
            asn, value = (int(p) for p in parts)
            if not (0 <= asn <= UINT16_MAX and 0 <= value <= UINT16_MAX):
                raise ValueError("each part of a standard community must be in 0..65535")
            return StandardCommunity(asn, value)
        if len(parts) == 4 and parts[0] == "large":
            g, l1, l2 = (int(p) for p in parts[1:])
            if not all(0 <= x <= UINT32_MAX for x in (g, l1, l2)):
                raise ValueError("each part of a large community must be in 0..4294967295")
            return LargeCommunity(g, l1, l2)
    except ValueError as exc:
        raise ValueError(f"invalid community {text!r}: {exc}") from exc
    raise ValueError(f"invalid community {text!r}: expected 'A:B' or 'large:G:L1:L2'")


# ---------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class BgpPeerSpec:
    """One BGPPeer as the speaker needs it (``metallb.io/v1beta2`` ``spec``).

    Times are seconds; ``None`` means "not set" (ExaBGP/RFC defaults apply). ``password`` is the
    resolved TCP-MD5 key (``password`` or ``passwordSecret``) and never appears in ``repr``.
    """

    name: str
    my_asn: int
    peer_asn: int
    peer_address: IPAddress
    source_address: IPAddress | None = None
    peer_port: int = DEFAULT_BGP_PORT
    hold_time_s: float | None = None
    keepalive_time_s: float | None = None
    router_id: ipaddress.IPv4Address | None = None
    ebgp_multihop: bool = False
    password: str | None = field(default=None, repr=False)
    node_selectors: tuple[Selector, ...] = ()
    dual_stack_address_family: bool = False
    bfd_profile: str | None = None

    @property
    def is_ibgp(self) -> bool:
        """Internal BGP session (same AS on both ends, RFC 4271 §1.1)."""
        return self.my_asn == self.peer_asn

    @property
    def family(self) -> int:
        """Address family of the session itself (4 or 6)."""
        return self.peer_address.version


@dataclass(frozen=True)
class BgpAdvertisementSpec:
    """One BGPAdvertisement with pools resolved to names (``metallb.io/v1beta1`` ``spec``).

    ``local_pref`` ``None`` (or MetalLB's default 0) means "not set". ``peers`` empty means every
    peer; ``node_selectors``/``service_selectors`` empty mean every node/Service.
    """

    name: str
    pools: frozenset[str]
    aggregation_length: int = 32
    aggregation_length_v6: int = 128
    local_pref: int | None = None
    communities: frozenset[Community] = frozenset()
    peers: tuple[str, ...] = ()
    node_selectors: tuple[Selector, ...] = ()
    service_selectors: tuple[Selector, ...] = ()


TrafficPolicy: TypeAlias = Literal["Cluster", "Local"]


@dataclass(frozen=True)
class ServiceInfo:
    """A LoadBalancer Service with its assigned IPs and the pool they came from.

    ``key`` is ``"namespace/name"``; ``pool`` is ``None`` when unknown (then no advertisement
    applies and the reason says so).
    """

    key: str
    ips: tuple[IPAddress, ...]
    pool: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    external_traffic_policy: TrafficPolicy = "Cluster"


@dataclass(frozen=True)
class EndpointInfo:
    """One endpoint of an EndpointSlice (``discovery.k8s.io/v1``): its node and conditions.

    Conditions are ``None`` when absent from the object (Kubernetes: unknown).
    """

    node: str | None
    ready: bool | None = True
    serving: bool | None = None
    has_addresses: bool = True

    @property
    def is_serving(self) -> bool:
        """Serving as MetalLB reads it: ``serving`` if present, else ``ready`` (unknown = yes)."""
        if not self.has_addresses:
            return False
        if self.serving is not None:
            return self.serving
        return self.ready is not False


@dataclass(frozen=True)
class NodeInfo:
    """A Node: labels, the NetworkUnavailable condition and its InternalIP addresses."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    network_unavailable: bool = False
    addresses: tuple[IPAddress, ...] = ()


# ---------------------------------------------------------------------------- outputs

NextHop: TypeAlias = Literal["self"] | IPAddress


@dataclass(frozen=True, order=True)
class Route:
    """One prefix handed to one peer, with its path attributes.

    ``next_hop`` is ``"self"`` (the session's local address) or an explicit address (MP-BGP
    routes of the other family). ``local_pref`` is set only for iBGP peers.
    """

    prefix: IPNetwork
    peer: str
    next_hop: str
    communities: tuple[StandardCommunity, ...] = ()
    large_communities: tuple[LargeCommunity, ...] = ()
    local_pref: int | None = None


@dataclass(frozen=True)
class BgpPlan:
    """The routes to announce, and why a Service is not announced from this node.

    ``not_announced`` maps ``"namespace/name"`` to a MetalLB-style reason
    (``noEndpoints``, ``noLocalEndpoints``, ``nodeNetworkUnavailable``,
    ``nodeLabeledExcludeBalancers``, ``noMatchingAdvertisement``, ``noPeers``,
    ``conflictingAdvertisements``, ``noIPAllocated``). ``peers_by_service`` lists the peers
    each announced Service's prefixes go to (for ``ServiceBGPStatus``).
    """

    routes: frozenset[Route]
    not_announced: Mapping[str, str]
    peers_by_service: Mapping[str, frozenset[str]]

    def routes_for(self, peer: str) -> frozenset[Route]:
        """The routes that go to ``peer``."""
        return frozenset(r for r in self.routes if r.peer == peer)


# ---------------------------------------------------------------------------- planning


def node_reason(node: NodeInfo | None) -> str | None:
    """Why this node must not announce anything, or ``None`` when it may."""
    if node is None:
        return "nodeNotFound"
    if node.network_unavailable:
        return "nodeNetworkUnavailable"
    if EXCLUDE_LB_LABEL in node.labels:
        return "nodeLabeledExcludeBalancers"
    return None


def endpoint_reason(
    service: ServiceInfo, endpoints: Iterable[EndpointInfo], *, node_name: str
) -> str | None:
    """Why ``service`` has no serving endpoint for this node, or ``None`` when it has one."""
    serving = [ep for ep in endpoints if ep.is_serving]
    if not serving:
        return "noEndpoints"
    if service.external_traffic_policy == "Local" and not any(
        ep.node == node_name for ep in serving
    ):
        return "noLocalEndpoints"
    return None


def peers_for_node(peers: Iterable[BgpPeerSpec], node: NodeInfo) -> tuple[BgpPeerSpec, ...]:
    """The BGPPeers whose ``nodeSelectors`` select ``node`` (sorted by name)."""
    return tuple(
        sorted(
            (p for p in peers if _any_selects(p.node_selectors, node.labels)),
            key=lambda p: p.name,
        )
    )


def aggregate(ip: IPAddress, adv: BgpAdvertisementSpec) -> IPNetwork:
    """``ip`` masked to the advertisement's aggregation length for its family."""
    length = adv.aggregation_length if ip.version == 4 else adv.aggregation_length_v6
    return ipaddress.ip_network(f"{ip}/{length}", strict=False)


def _next_hop(ip: IPAddress, peer: BgpPeerSpec, node: NodeInfo) -> str | None:
    """Next hop for ``ip`` over ``peer``'s session, or ``None`` when it cannot go there."""
    if ip.version == peer.family:
        return "self"
    if not peer.dual_stack_address_family:
        return None
    for addr in node.addresses:
        if addr.version == ip.version:
            return str(addr)
    return None


@dataclass
class _Acc:
    communities: set[Community] = field(default_factory=set)
    local_prefs: set[int] = field(default_factory=set)
    services: set[str] = field(default_factory=set)


def plan_advertisements(
    *,
    peers: Iterable[BgpPeerSpec],
    advertisements: Iterable[BgpAdvertisementSpec],
    services: Iterable[ServiceInfo],
    endpoints: Mapping[str, Sequence[EndpointInfo]],
    nodes: Mapping[str, NodeInfo],
    node_name: str,
) -> BgpPlan:
    """Plan the routes this node announces (pure; see the module docstring for the rules).

    Args:
        peers: every BGPPeer of the configuration (this node's sessions are derived here).
        advertisements: every BGPAdvertisement, pools resolved to names.
        services: LoadBalancer Services that have IPs assigned.
        endpoints: endpoints of each Service, by ``"namespace/name"`` (all its slices).
        nodes: every Node by name (this node must be among them).
        node_name: this node's name.

    Returns:
        The route set (one :class:`Route` per prefix and peer) and per-Service reasons.
    """
    node = nodes.get(node_name)
    my_peers = peers_for_node(peers, node) if node is not None else ()
    peers_by_name = {p.name: p for p in my_peers}
    advs = sorted(advertisements, key=lambda a: a.name)
    acc: dict[tuple[IPNetwork, str, str], _Acc] = {}
    reasons: dict[str, str] = {}
    blocked = node_reason(node)

    for svc in sorted(services, key=lambda s: s.key):
        if not svc.ips:
            reasons[svc.key] = "noIPAllocated"
            continue
        if blocked is not None or node is None:
            reasons[svc.key] = blocked or "nodeNotFound"
            continue
        why = endpoint_reason(svc, endpoints.get(svc.key, ()), node_name=node_name)
        if why is not None:
            reasons[svc.key] = why
            continue
        matching = [
            a
            for a in advs
            if svc.pool is not None
            and svc.pool in a.pools
            and _any_selects(a.service_selectors, svc.labels)
            and _any_selects(a.node_selectors, node.labels)
        ]
        if not matching:
            reasons[svc.key] = "noMatchingAdvertisement"
            continue
        targeted = False
        for adv in matching:
            targets = (
                [peers_by_name[n] for n in adv.peers if n in peers_by_name]
                if adv.peers
                else list(my_peers)
            )
            for ip in svc.ips:
                prefix = aggregate(ip, adv)
                for peer in targets:
                    hop = _next_hop(ip, peer, node)
                    if hop is None:
                        continue
                    entry = acc.setdefault((prefix, peer.name, hop), _Acc())
                    entry.communities |= adv.communities
                    if adv.local_pref and peer.is_ibgp:
                        entry.local_prefs.add(adv.local_pref)
                    entry.services.add(svc.key)
                    targeted = True
        if not targeted:
            reasons[svc.key] = "noPeers"

    routes: set[Route] = set()
    peers_by_service: dict[str, set[str]] = {}
    conflicted: set[str] = set()
    for (prefix, peer_name, hop), entry in acc.items():
        if len(entry.local_prefs) > 1:
            conflicted |= entry.services
            continue
        routes.add(
            Route(
                prefix=prefix,
                peer=peer_name,
                next_hop=hop,
                communities=tuple(
                    sorted(c for c in entry.communities if isinstance(c, StandardCommunity))
                ),
                large_communities=tuple(
                    sorted(c for c in entry.communities if isinstance(c, LargeCommunity))
                ),
                local_pref=next(iter(entry.local_prefs)) if entry.local_prefs else None,
            )
        )
        for key in entry.services:
            peers_by_service.setdefault(key, set()).add(peer_name)
    for key in conflicted - peers_by_service.keys():
        reasons[key] = "conflictingAdvertisements"
    return BgpPlan(
        routes=frozenset(routes),
        not_announced=dict(sorted(reasons.items())),
        peers_by_service={k: frozenset(v) for k, v in sorted(peers_by_service.items())},
    )


# ---------------------------------------------------------------------------- raw parsing


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def service_from_raw(raw: Mapping[str, object], *, pool: str | None = None) -> ServiceInfo:
    """Build a :class:`ServiceInfo` from a ``v1/Service`` dict.

    IPs come from ``status.loadBalancer.ingress[].ip`` (unparsable entries skipped); the pool
    from ``pool`` or else the ``metallb.io/ip-allocated-from-pool`` annotation.
    """
    meta = _as_map(raw.get("metadata"))
    spec = _as_map(raw.get("spec"))
    status = _as_map(_as_map(raw.get("status")).get("loadBalancer"))
    ips: list[IPAddress] = []
    for ing in _as_list(status.get("ingress")):
        ip = _parse_ip(str(_as_map(ing).get("ip", "")))
        if ip is not None:
            ips.append(ip)
    annotations = _as_map(meta.get("annotations"))
    etp: TrafficPolicy = "Local" if spec.get("externalTrafficPolicy") == "Local" else "Cluster"
    return ServiceInfo(
        key=f"{meta.get('namespace', '')}/{meta.get('name', '')}",
        ips=tuple(ips),
        pool=pool if pool is not None else _opt_str(annotations.get(POOL_ANNOTATION)),
        labels={str(k): str(v) for k, v in _as_map(meta.get("labels")).items()},
        external_traffic_policy=etp,
    )


def endpoints_from_raw(slices: Iterable[Mapping[str, object]]) -> tuple[EndpointInfo, ...]:
    """Flatten ``discovery.k8s.io/v1`` EndpointSlice dicts into :class:`EndpointInfo` values."""
    out: list[EndpointInfo] = []
    for sl in slices:
        for ep in _as_list(sl.get("endpoints")):
            epm = _as_map(ep)
            cond = _as_map(epm.get("conditions"))
            out.append(
                EndpointInfo(
                    node=_opt_str(epm.get("nodeName")),
                    ready=_opt_bool(cond.get("ready")),
                    serving=_opt_bool(cond.get("serving")),
                    has_addresses=bool(_as_list(epm.get("addresses"))),
                )
            )
    return tuple(out)


def node_from_raw(raw: Mapping[str, object]) -> NodeInfo:
    """Build a :class:`NodeInfo` from a ``v1/Node`` dict (labels, conditions, InternalIPs)."""
    meta = _as_map(raw.get("metadata"))
    status = _as_map(raw.get("status"))
    unavailable = any(
        _as_map(c).get("type") == "NetworkUnavailable" and _as_map(c).get("status") == "True"
        for c in _as_list(status.get("conditions"))
    )
    addrs: list[IPAddress] = []
    for a in _as_list(status.get("addresses")):
        am = _as_map(a)
        if am.get("type") == "InternalIP":
            ip = _parse_ip(str(am.get("address", "")))
            if ip is not None:
                addrs.append(ip)
    return NodeInfo(
        name=str(meta.get("name", "")),
        labels={str(k): str(v) for k, v in _as_map(meta.get("labels")).items()},
        network_unavailable=unavailable,
        addresses=tuple(addrs),
    )


def _as_map(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


# ---------------------------------------------------------------------------- from Config


def peer_from_config(peer: config.BGPPeer) -> BgpPeerSpec:
    """Convert a compiled ``ingot.api.config.BGPPeer`` into a :class:`BgpPeerSpec`.

    The password leaves its ``SecretStr`` here because ExaBGP's configuration needs the key;
    :class:`BgpPeerSpec` keeps it out of ``repr``.
    """
    router_id = peer.router_id if isinstance(peer.router_id, ipaddress.IPv4Address) else None
    return BgpPeerSpec(
        name=peer.name,
        my_asn=peer.my_asn,
        peer_asn=peer.peer_asn,
        peer_address=peer.peer_address,
        source_address=peer.source_address,
        peer_port=peer.peer_port,
        hold_time_s=peer.hold_time_s,
        keepalive_time_s=peer.keepalive_time_s,
        router_id=router_id,
        ebgp_multihop=peer.ebgp_multihop,
        password=peer.password.get_secret_value() if peer.password is not None else None,
        node_selectors=tuple(peer.node_selectors),
        dual_stack_address_family=peer.dual_stack_address_family,
        bfd_profile=peer.bfd_profile,
    )


def advertisement_from_config(adv: config.BGPAdvertisement) -> BgpAdvertisementSpec:
    """Convert a compiled ``ingot.api.config.BGPAdvertisement`` (communities resolved)."""
    communities: set[Community] = set()
    for c in adv.communities:
        parts = tuple(c.parts)
        communities.add(LargeCommunity(*parts) if c.large else StandardCommunity(*parts))
    return BgpAdvertisementSpec(
        name=adv.name,
        pools=frozenset(adv.pools),
        aggregation_length=adv.aggregation_length,
        aggregation_length_v6=adv.aggregation_length_v6,
        local_pref=adv.local_pref or None,
        communities=frozenset(communities),
        peers=tuple(adv.peers),
        node_selectors=tuple(adv.node_selectors),
        service_selectors=tuple(adv.service_selectors),
    )


def pool_of(ips: Sequence[IPAddress], pools: Mapping[str, Any]) -> str | None:
    """Name of the pool holding the first of ``ips`` (pools expose ``contains(ip)``)."""
    for ip in ips:
        for name, pool in sorted(pools.items()):
            if pool.contains(ip):
                return str(name)
    return None


_Inputs: TypeAlias = tuple[
    tuple[BgpPeerSpec, ...],
    tuple[BgpAdvertisementSpec, ...],
    list[ServiceInfo],
    dict[str, tuple[EndpointInfo, ...]],
    dict[str, NodeInfo],
]


def _inputs_from_config(
    cfg: config.Config,
    *,
    raw_services: Iterable[Mapping[str, object]],
    raw_slices_by_service: Mapping[str, Sequence[Mapping[str, object]]],
    raw_nodes: Mapping[str, Mapping[str, object]],
) -> _Inputs:
    peers = tuple(peer_from_config(p) for p in cfg.bgp_peers.values())
    advs = tuple(advertisement_from_config(a) for a in cfg.bgp_advertisements)
    nodes = {name: node_from_raw(raw) for name, raw in raw_nodes.items()}
    services = []
    for raw in raw_services:
        svc = service_from_raw(raw)
        if svc.pool is None or svc.pool not in cfg.pools:
            svc = ServiceInfo(
                svc.key,
                svc.ips,
                pool_of(svc.ips, cfg.pools),
                svc.labels,
                svc.external_traffic_policy,
            )
        services.append(svc)
    endpoints = {key: endpoints_from_raw(slices) for key, slices in raw_slices_by_service.items()}
    return peers, advs, services, endpoints, nodes


def plan_from_config(
    cfg: config.Config,
    *,
    raw_services: Iterable[Mapping[str, object]],
    raw_slices_by_service: Mapping[str, Sequence[Mapping[str, object]]],
    raw_nodes: Mapping[str, Mapping[str, object]],
    node_name: str,
) -> tuple[tuple[BgpPeerSpec, ...], BgpPlan]:
    """Plan from the compiled ``Config`` and raw Kubernetes objects (the speaker's inputs).

    Returns this node's BGP sessions (peers whose nodeSelectors select it) and the plan. A
    Service's pool is its ``metallb.io/ip-allocated-from-pool`` annotation, else the pool that
    contains its first IP.
    """
    peers, advs, services, endpoints, nodes = _inputs_from_config(
        cfg,
        raw_services=raw_services,
        raw_slices_by_service=raw_slices_by_service,
        raw_nodes=raw_nodes,
    )
    plan = plan_advertisements(
        peers=peers,
        advertisements=advs,
        services=services,
        endpoints=endpoints,
        nodes=nodes,
        node_name=node_name,
    )
    node = nodes.get(node_name)
    mine = peers_for_node(peers, node) if node is not None else ()
    return mine, plan


# ---------------------------------------------------------------------------- status


@dataclass(frozen=True)
class ServiceCondition:
    """The ``ingot.io/Announced`` condition for a Service in BGP mode, and who writes it.

    Every node plans the whole cluster (pure, cheap), so all agree on one ``reporter`` per
    Service: the first announcing node by name, or, when none announces, the first node that
    would have announced but for a reason (no endpoints, Local without local endpoint, ...).
    """

    reporter: str
    status: Literal["True", "False"]
    reason: str
    message: str


def cluster_plans(
    cfg: config.Config,
    *,
    raw_services: Sequence[Mapping[str, object]],
    raw_slices_by_service: Mapping[str, Sequence[Mapping[str, object]]],
    raw_nodes: Mapping[str, Mapping[str, object]],
) -> dict[str, BgpPlan]:
    """:func:`plan_from_config` for every node (by node name); inputs are parsed once.

    Cost grows with nodes x Services (about 1 s for 100 nodes x 1,000 Services on the lab
    machine): callers run it off the event loop.
    """
    peers, advs, services, endpoints, nodes = _inputs_from_config(
        cfg,
        raw_services=raw_services,
        raw_slices_by_service=raw_slices_by_service,
        raw_nodes=raw_nodes,
    )
    return {
        name: plan_advertisements(
            peers=peers,
            advertisements=advs,
            services=services,
            endpoints=endpoints,
            nodes=nodes,
            node_name=name,
        )
        for name in sorted(raw_nodes)
    }


def service_condition(key: str, plans: Mapping[str, BgpPlan]) -> ServiceCondition | None:
    """The condition of Service ``key`` from every node's plan; ``None`` when BGP has no say.

    BGP has no say when no BGPAdvertisement applies to the Service on any node (an L2-only
    Service: the L2 component owns its condition) or no node has a BGP session.
    """
    announcing = sorted(n for n, p in plans.items() if key in p.peers_by_service)
    if announcing:
        peers = sorted({peer for n in announcing for peer in plans[n].peers_by_service[key]})
        return ServiceCondition(
            reporter=announcing[0],
            status="True",
            reason="Announced",
            message=(
                f"announced over BGP from {len(announcing)} node(s) "
                f"[{', '.join(announcing)}] to peers [{', '.join(peers)}]"
            ),
        )
    silent = {"noMatchingAdvertisement", "noIPAllocated", "nodeNotFound", "noPeers"}
    for name in sorted(plans):
        reason = plans[name].not_announced.get(key)
        if reason is not None and reason not in silent:
            return ServiceCondition(
                reporter=name,
                status="False",
                reason=reason[:1].upper() + reason[1:],
                message=f"not announced over BGP: {reason} (node {name})",
            )
    return None
