"""L2 placement: which nodes may announce an IP, and in which order they take it (pure).

This is the decision core of the speaker's L2 mode (ARCHITECTURE.md §3, I-1 and I-5). The
speaker gathers plain inputs (advertisements, the Services using an IP, Nodes, live membership)
and calls :func:`place_ip` / :func:`place_all`; it never decides ownership anywhere else.

Semantics follow MetalLB's ``speaker/layer2_controller.go`` ``ShouldAnnounce`` (reference §2):

1. A Service takes part only if it has at least one serving endpoint (``ready`` unset/true or
   ``serving`` true), for both traffic policies.
2. The advertisements that apply to a Service are those attached to its pool whose
   ``serviceSelectors`` match the Service's labels (empty list = every Service).
3. A Service carrying ``allow-shared-ip`` that matches an advertisement with serviceSelectors is
   never announced (MetalLB ``sharedIPWithServiceSelector``).
4. Candidates are live members (unfenced, not held down), minus nodes with
   ``NetworkUnavailable=True``, minus nodes labelled
   ``node.kubernetes.io/exclude-from-external-load-balancers`` (unless ``ignore_exclude_lb``),
   restricted to nodes selected by at least one applicable advertisement's ``nodeSelectors``.
5. ``externalTrafficPolicy: Local``: only nodes hosting a serving endpoint.
6. Rank by (preference score descending, ``sha256(node + "#" + ip)`` ascending), where the score
   sums the ``preferredNodeSelectors`` weights of every applicable advertisement whose
   nodeSelectors admit the node.

Where ingot departs from MetalLB (documented in ``docs/l2.md``):

* **Ownership is per IP, not per Service.** All Services sharing an IP are placed together: a
  node is a candidate for the IP only if it is eligible for *every* participating Service
  (intersection), so siblings can never elect different owners. Each IP is hashed on its own
  (MetalLB hashes the Service's first ingress IP for both families).
* **Interfaces take part in candidacy.** A node whose announcing interfaces (from the union of
  the applicable advertisements' ``interfaces``) are all missing or down is not a candidate, so
  the next node takes the IP (MetalLB elects it anyway and reports ``announceFailed``).

Nothing here touches the network, the API or the clock.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ingot.api import config as cfgmod

EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
"""Node label (any value) that keeps a node from announcing (MetalLB ``nodes.go``)."""


class LabelMatcher(Protocol):
    """Anything with Kubernetes label-selector semantics (``ipam.selectors.LabelSelector``)."""

    def matches(self, labels: Mapping[str, str], /) -> bool:
        """Whether ``labels`` satisfy the selector (an empty selector matches everything)."""
        ...


@dataclass(frozen=True)
class Preference:
    """One ``preferredNodeSelectors`` entry of an L2Advertisement: ``weight`` 1..100."""

    weight: int
    selector: LabelMatcher


@dataclass(frozen=True)
class L2Ad:
    """An L2Advertisement with its pools already resolved (names and pool selectors).

    Attributes:
        name: ``namespace/name`` of the L2Advertisement (for reasons and ``explain``).
        pools: Names of the IPAddressPools it announces.
        node_selectors: ``spec.nodeSelectors``; empty = every node.
        service_selectors: ``spec.serviceSelectors``; empty = every Service (OR semantics).
        interfaces: ``spec.interfaces``; empty = every (non-excluded) interface.
        preferences: ``spec.preferredNodeSelectors``.
    """

    name: str
    pools: frozenset[str]
    node_selectors: tuple[LabelMatcher, ...] = ()
    service_selectors: tuple[LabelMatcher, ...] = ()
    interfaces: tuple[str, ...] = ()
    preferences: tuple[Preference, ...] = ()

    def selects_node(self, labels: Mapping[str, str]) -> bool:
        """``nodeSelectors`` hard filter: empty list = all nodes, else any selector matches."""
        return not self.node_selectors or any(s.matches(labels) for s in self.node_selectors)

    def selects_service(self, labels: Mapping[str, str]) -> bool:
        """``serviceSelectors``: empty list = all Services, else any selector matches (OR)."""
        return not self.service_selectors or any(s.matches(labels) for s in self.service_selectors)


@dataclass(frozen=True)
class NodeView:
    """What placement needs of a Node object.

    Attributes:
        name: ``metadata.name``.
        labels: ``metadata.labels``.
        network_unavailable: condition ``NetworkUnavailable`` is ``True``.
    """

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    network_unavailable: bool = False


class MemberState(enum.Enum):
    """Membership of a speaker as seen by this speaker (from node Leases and heartbeats)."""

    LIVE = "live"
    ABSENT = "absent"
    """No valid lease: the speaker is not running, never joined or its lease expired."""
    FENCED = "fenced"
    """Its lease was fenced (empty holder) after it was suspected dead."""
    HELD_DOWN = "held-down"
    """It came back, but has not yet been healthy for the hold-down (I-5)."""


@dataclass(frozen=True)
class Member:
    """Membership of one node's speaker.

    Attributes:
        state: see :class:`MemberState`.
        up_interfaces: Names of the interfaces the speaker can announce on (up, with carrier,
            not excluded); ``None`` when unknown, which counts as "every interface".
    """

    state: MemberState = MemberState.LIVE
    up_interfaces: frozenset[str] | None = None


@dataclass(frozen=True)
class ServiceView:
    """What placement needs of one LoadBalancer Service using an IP.

    Attributes:
        key: ``namespace/name``.
        labels: ``metadata.labels``.
        pool: Name of the IPAddressPool its IPs come from (``metallb.io/ip-allocated-from-pool``,
            or found by address); ``None`` when no pool holds the IP.
        etp_local: ``spec.externalTrafficPolicy == "Local"``.
        shared: It carries ``metallb.io/allow-shared-ip`` (or the legacy key).
        has_serving_endpoint: Some endpoint of its EndpointSlices can serve (any node).
        serving_nodes: ``nodeName`` of every endpoint that can serve.
    """

    key: str
    labels: Mapping[str, str] = field(default_factory=dict)
    pool: str | None = None
    etp_local: bool = False
    shared: bool = False
    has_serving_endpoint: bool = True
    serving_nodes: frozenset[str] = frozenset()


class NodeReason(enum.Enum):
    """Why a node is or is not a candidate for an IP (feeds ``ingot explain`` and events)."""

    ELIGIBLE = "eligible"
    IP_NOT_ANNOUNCED = "the IP is announced by no node (see the IP's reason)"
    UNKNOWN_NODE = "no Node object"
    NOT_MEMBER = "no live speaker (lease absent or expired)"
    FENCED = "speaker fenced (suspected dead)"
    HELD_DOWN = "speaker in hold-down after returning"
    EXCLUDED_BY_LABEL = f"node labelled {EXCLUDE_LB_LABEL}"
    NETWORK_UNAVAILABLE = "node condition NetworkUnavailable=True"
    NOT_SELECTED = "no applicable L2Advertisement selects the node (nodeSelectors)"
    NO_LOCAL_ENDPOINT = "externalTrafficPolicy Local and no serving endpoint on the node"
    NO_INTERFACE = "none of the advertised interfaces is up on the node"


class IPReason(enum.Enum):
    """Why an IP is not announced at all (no owner)."""

    NO_SERVICE = "no LoadBalancer Service uses the IP"
    NO_POOL = "the IP is in no IPAddressPool"
    NO_ADVERTISEMENT = "the IP's pool is not selected by any L2Advertisement"
    SERVICE_SELECTORS = "no L2Advertisement of the pool matches the Service labels"
    SHARED_WITH_SERVICE_SELECTOR = (
        "Service uses allow-shared-ip and an applicable L2Advertisement has serviceSelectors"
    )
    NO_SERVING_ENDPOINT = "no serving endpoint"
    NO_ELIGIBLE_NODE = "no node is eligible"


@dataclass(frozen=True)
class Verdict:
    """A node's standing for one IP.

    Attributes:
        node: Node name.
        reason: ``NodeReason.ELIGIBLE`` or why not.
        score: Preference score (sum of matching ``preferredNodeSelectors`` weights).
        interfaces: Interfaces to announce on; ``None`` = every allowed interface.
        service: For a per-Service reason, the Service (``namespace/name``) that excluded it.
    """

    node: str
    reason: NodeReason
    score: int = 0
    interfaces: frozenset[str] | None = None
    service: str | None = None

    @property
    def eligible(self) -> bool:
        """True when the node is a candidate."""
        return self.reason is NodeReason.ELIGIBLE


@dataclass(frozen=True)
class Placement:
    """The placement of one IP.

    Attributes:
        ip: The IP in canonical text form.
        candidates: Eligible nodes in takeover order (first = owner).
        verdicts: Every known node's verdict, by node name.
        reason: ``None`` when there is an owner, else why nobody announces.
        services: ``namespace/name`` of the Services announced through this IP (when nobody
            announces it: every Service using it, so the reason can be reported on them).
    """

    ip: str
    candidates: tuple[str, ...]
    verdicts: Mapping[str, Verdict]
    reason: IPReason | None
    services: tuple[str, ...] = ()

    @property
    def owner(self) -> str | None:
        """The node that must announce the IP, or ``None``."""
        return self.candidates[0] if self.candidates else None


def rank_key(node: str, ip: str) -> bytes:
    """MetalLB's tie-break: ``sha256(node + "#" + ip)`` (ascending bytes order wins)."""
    return hashlib.sha256(f"{node}#{ip}".encode()).digest()


def canonical_ip(ip: str) -> str:
    """``ip`` in canonical text form (compressed IPv6); raises ``ValueError`` if invalid."""
    return str(ipaddress.ip_address(ip.strip()))


def _node_base_reason(
    node: str,
    nodes: Mapping[str, NodeView],
    members: Mapping[str, Member],
    ignore_exclude_lb: bool,
) -> NodeReason | None:
    view = nodes.get(node)
    if view is None:
        return NodeReason.UNKNOWN_NODE
    member = members.get(node)
    if member is None or member.state is MemberState.ABSENT:
        return NodeReason.NOT_MEMBER
    if member.state is MemberState.FENCED:
        return NodeReason.FENCED
    if member.state is MemberState.HELD_DOWN:
        return NodeReason.HELD_DOWN
    if not ignore_exclude_lb and EXCLUDE_LB_LABEL in view.labels:
        return NodeReason.EXCLUDED_BY_LABEL
    if view.network_unavailable:
        return NodeReason.NETWORK_UNAVAILABLE
    return None


def _interfaces_for(ads: Iterable[L2Ad], labels: Mapping[str, str]) -> frozenset[str] | None:
    """Union of ``interfaces`` of the ads selecting the node; ``None`` if any lists none."""
    names: set[str] = set()
    for ad in ads:
        if not ad.selects_node(labels):
            continue
        if not ad.interfaces:
            return None
        names.update(ad.interfaces)
    return frozenset(names)


def place_ip(
    *,
    ip: str,
    services: Sequence[ServiceView],
    advertisements: Sequence[L2Ad],
    nodes: Mapping[str, NodeView],
    members: Mapping[str, Member],
    ignore_exclude_lb: bool = False,
) -> Placement:
    """Place one IP: the ranked candidates and every node's verdict.

    Args:
        ip: The IP (any valid text form; canonicalised for hashing).
        services: Every LoadBalancer Service whose ingress holds ``ip`` (sharing siblings).
        advertisements: Every L2Advertisement (pools resolved).
        nodes: Node views by name.
        members: Speaker membership by node name (nodes missing here are not members).
        ignore_exclude_lb: MetalLB's ``--ignore-exclude-lb``.

    Returns:
        A :class:`Placement`; the result does not depend on the order of any input.

    Raises:
        ValueError: ``ip`` is not an IP address.
    """
    ip = canonical_ip(ip)
    all_nodes = sorted(set(nodes) | set(members))
    base = {n: _node_base_reason(n, nodes, members, ignore_exclude_lb) for n in all_nodes}

    def none_placed(reason: IPReason, keys: tuple[str, ...] = ()) -> Placement:
        verdicts = {n: Verdict(n, base[n] or NodeReason.IP_NOT_ANNOUNCED) for n in all_nodes}
        return Placement(ip, (), verdicts, reason, keys)

    if not services:
        return none_placed(IPReason.NO_SERVICE)
    ordered = sorted(services, key=lambda s: s.key)
    # Services that take part (steps 1-3); remember the most telling reason for the others.
    taking_part: list[tuple[ServiceView, list[L2Ad]]] = []
    worst: IPReason | None = None
    rank = list(IPReason)
    for svc in ordered:
        why: IPReason | None = None
        pool_ads = [a for a in advertisements if svc.pool is not None and svc.pool in a.pools]
        ads = [a for a in pool_ads if a.selects_service(svc.labels)]
        if svc.pool is None:
            why = IPReason.NO_POOL
        elif not pool_ads:
            why = IPReason.NO_ADVERTISEMENT
        elif not ads:
            why = IPReason.SERVICE_SELECTORS
        elif svc.shared and any(a.service_selectors for a in ads):
            why = IPReason.SHARED_WITH_SERVICE_SELECTOR
        elif not svc.has_serving_endpoint:
            why = IPReason.NO_SERVING_ENDPOINT
        if why is None:
            taking_part.append((svc, sorted(ads, key=lambda a: a.name)))
        elif worst is None or rank.index(why) > rank.index(worst):
            worst = why
    if not taking_part:
        assert worst is not None
        return none_placed(worst, tuple(s.key for s in ordered))
    keys = tuple(s.key for s, _ in taking_part)

    verdicts: dict[str, Verdict] = {}
    for node in all_nodes:
        reason = base[node]
        if reason is not None:
            verdicts[node] = Verdict(node, reason)
            continue
        labels = nodes[node].labels
        score = 0
        ifaces: frozenset[str] | None = None
        first = True
        blocked: Verdict | None = None
        counted: set[str] = set()
        for svc, ads in taking_part:
            selecting = [a for a in ads if a.selects_node(labels)]
            if not selecting:
                blocked = Verdict(node, NodeReason.NOT_SELECTED, service=svc.key)
                break
            if svc.etp_local and node not in svc.serving_nodes:
                blocked = Verdict(node, NodeReason.NO_LOCAL_ENDPOINT, service=svc.key)
                break
            for ad in selecting:
                if ad.name in counted:
                    continue
                counted.add(ad.name)
                score += sum(p.weight for p in ad.preferences if p.selector.matches(labels))
            svc_ifaces = _interfaces_for(selecting, labels)
            if first:
                ifaces, first = svc_ifaces, False
            elif ifaces is None:
                ifaces = svc_ifaces
            elif svc_ifaces is not None:
                ifaces = ifaces | svc_ifaces
        if blocked is not None:
            verdicts[node] = blocked
            continue
        up = members[node].up_interfaces
        if up is not None and (not up or (ifaces is not None and not ifaces & up)):
            verdicts[node] = Verdict(node, NodeReason.NO_INTERFACE, score=score, interfaces=ifaces)
            continue
        verdicts[node] = Verdict(node, NodeReason.ELIGIBLE, score=score, interfaces=ifaces)

    eligible = [v for v in verdicts.values() if v.eligible]
    eligible.sort(key=lambda v: (-v.score, rank_key(v.node, ip)))
    candidates = tuple(v.node for v in eligible)
    return Placement(
        ip, candidates, verdicts, None if candidates else IPReason.NO_ELIGIBLE_NODE, keys
    )


def place_all(
    *,
    services_by_ip: Mapping[str, Sequence[ServiceView]],
    advertisements: Sequence[L2Ad],
    nodes: Mapping[str, NodeView],
    members: Mapping[str, Member],
    ignore_exclude_lb: bool = False,
) -> dict[str, Placement]:
    """:func:`place_ip` for every IP in ``services_by_ip`` (keys canonicalised).

    Raises:
        ValueError: a key is not an IP address.
    """
    grouped: dict[str, list[ServiceView]] = {}
    for ip, svcs in services_by_ip.items():
        grouped.setdefault(canonical_ip(ip), []).extend(svcs)
    return {
        ip: place_ip(
            ip=ip,
            services=svcs,
            advertisements=advertisements,
            nodes=nodes,
            members=members,
            ignore_exclude_lb=ignore_exclude_lb,
        )
        for ip, svcs in sorted(grouped.items())
    }


def owned_by(placements: Mapping[str, Placement], node: str) -> dict[str, Placement]:
    """The placements whose owner is ``node`` (the IPs ``node`` must announce)."""
    return {ip: p for ip, p in placements.items() if p.owner == node}


# ---- raw Kubernetes objects -> views (pure; used by the speaker and by ``ingot explain``) ----

SHARED_IP_ANNOTATIONS = ("metallb.io/allow-shared-ip", "metallb.universe.tf/allow-shared-ip")
POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool"


def _meta(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = raw.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def ingress_ips(raw_service: Mapping[str, Any]) -> list[str]:
    """``status.loadBalancer.ingress[].ip`` in canonical form (invalid entries skipped)."""
    status = raw_service.get("status")
    lb = status.get("loadBalancer") if isinstance(status, Mapping) else None
    ingress = lb.get("ingress") if isinstance(lb, Mapping) else None
    out: list[str] = []
    for item in ingress if isinstance(ingress, list) else []:
        ip = item.get("ip") if isinstance(item, Mapping) else None
        if isinstance(ip, str):
            try:
                out.append(canonical_ip(ip))
            except ValueError:
                continue
    return out


def serving_endpoints(slices: Iterable[Mapping[str, Any]]) -> tuple[bool, frozenset[str]]:
    """(any endpoint can serve, nodes hosting one) over a Service's EndpointSlices.

    An endpoint can serve when ``conditions.ready`` is unset or true, or ``serving`` is true
    (terminating but still serving counts; MetalLB ``epslices``).
    """
    any_serving = False
    nodes: set[str] = set()
    for sl in slices:
        endpoints = sl.get("endpoints")
        for ep in endpoints if isinstance(endpoints, list) else []:
            if not isinstance(ep, Mapping):
                continue
            cond = ep.get("conditions")
            cond = cond if isinstance(cond, Mapping) else {}
            ready = cond.get("ready")
            if ready is None or ready is True or cond.get("serving") is True:
                any_serving = True
                node = ep.get("nodeName")
                if isinstance(node, str) and node:
                    nodes.add(node)
    return any_serving, frozenset(nodes)


def service_views_by_ip(
    *,
    services: Iterable[Mapping[str, Any]],
    slices_by_service: Mapping[str, Sequence[Mapping[str, Any]]],
    pool_of: Callable[[str], str | None],
    load_balancer_class: str | None = None,
) -> dict[str, list[ServiceView]]:
    """Group the LoadBalancer Services that have ingress IPs by IP, as :class:`ServiceView`.

    Args:
        services: Raw Service objects.
        slices_by_service: Raw EndpointSlices by Service key ``namespace/name``.
        pool_of: Pool name holding an IP (canonical text), or ``None``; used when the
            ``metallb.io/ip-allocated-from-pool`` annotation is missing.
        load_balancer_class: Only Services with this ``spec.loadBalancerClass`` (``None``:
            only Services without a class, as MetalLB without ``--lb-class``).
    """
    out: dict[str, list[ServiceView]] = {}
    for raw in services:
        spec = raw.get("spec")
        spec = spec if isinstance(spec, Mapping) else {}
        if spec.get("type") != "LoadBalancer":
            continue
        if spec.get("loadBalancerClass") != load_balancer_class:
            continue
        ips = ingress_ips(raw)
        if not ips:
            continue
        meta = _meta(raw)
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        annotations = _str_map(meta.get("annotations"))
        any_serving, nodes = serving_endpoints(slices_by_service.get(key, ()))
        for ip in ips:
            pool = annotations.get(POOL_ANNOTATION) or pool_of(ip)
            out.setdefault(ip, []).append(
                ServiceView(
                    key=key,
                    labels=_str_map(meta.get("labels")),
                    pool=pool,
                    etp_local=spec.get("externalTrafficPolicy") == "Local",
                    shared=any(a in annotations for a in SHARED_IP_ANNOTATIONS),
                    has_serving_endpoint=any_serving,
                    serving_nodes=nodes,
                )
            )
    return out


def node_view(raw_node: Mapping[str, Any]) -> NodeView:
    """A :class:`NodeView` from a raw Node (labels, ``NetworkUnavailable`` condition)."""
    meta = _meta(raw_node)
    status = raw_node.get("status")
    conds = status.get("conditions") if isinstance(status, Mapping) else None
    unavailable = any(
        isinstance(c, Mapping)
        and c.get("type") == "NetworkUnavailable"
        and c.get("status") == "True"
        for c in (conds if isinstance(conds, list) else [])
    )
    return NodeView(str(meta.get("name", "")), _str_map(meta.get("labels")), unavailable)


# ---------------------------------------------------------------------------- from Config


def ads_from_config(cfg: cfgmod.Config) -> list[L2Ad]:
    """The compiled L2Advertisements of ``cfg`` as :class:`L2Ad` (the speaker's and CLI's)."""
    return [
        L2Ad(
            name=a.name,
            pools=a.pools,
            node_selectors=a.node_selectors,
            service_selectors=a.service_selectors,
            interfaces=a.interfaces,
            preferences=tuple(Preference(p.weight, p.selector) for p in a.preferences),
        )
        for a in cfg.l2_advertisements
    ]


def pool_namer(cfg: cfgmod.Config) -> Callable[[str], str | None]:
    """``ip -> name of the pool containing it`` (``None`` when no pool does) over ``cfg``."""

    def pool_of(ip: str) -> str | None:
        pool = cfg.pool_of(ipaddress.ip_address(ip))
        return pool.name if pool is not None else None

    return pool_of


def announced_condition_owner(
    cfg: cfgmod.Config, *, pool: str | None, service_labels: Mapping[str, str]
) -> Literal["l2", "bgp"]:
    """Which speaker component writes a Service's ``ingot.io/Announced`` condition.

    One condition type, one writer per Service, so the L2 and BGP components never overwrite
    each other: L2 when an L2Advertisement of the Service's pool matches the Service's labels
    (also when BGP advertises the pool too: the condition then tells about the L2 owner; BGP's
    view is in ServiceBGPStatus and the ``nodeAssigned`` events); BGP when only
    BGPAdvertisements select the pool; L2 otherwise, so a pool no advertisement selects (case
    C14) or an IP in no pool still gets ``False`` with the reason.

    Args:
        cfg: Compiled configuration.
        pool: Name of the pool of the Service's (first) ingress IP; ``None`` when unknown.
        service_labels: The Service's ``metadata.labels``.
    """
    if pool is None:
        return "l2"
    if any(pool in a.pools and a.selects_service(service_labels) for a in cfg.l2_advertisements):
        return "l2"
    return "bgp" if cfg.bgp_advertisements_for_pool(pool) else "l2"


def service_pool(cfg: cfgmod.Config, raw_service: Mapping[str, Any]) -> str | None:
    """Pool of a raw Service, as :func:`service_views_by_ip` finds it.

    ``metallb.io/ip-allocated-from-pool``, else the pool of its first ingress IP in ``cfg``;
    ``None`` when neither says.
    """
    pool = _str_map(_meta(raw_service).get("annotations")).get(POOL_ANNOTATION)
    if pool:
        return pool
    ips = ingress_ips(raw_service)
    return pool_namer(cfg)(ips[0]) if ips else None


def place_from_config(
    cfg: cfgmod.Config,
    *,
    services: Iterable[Mapping[str, Any]],
    slices_by_service: Mapping[str, Sequence[Mapping[str, Any]]],
    raw_nodes: Mapping[str, Mapping[str, Any]],
    members: Mapping[str, Member],
    load_balancer_class: str | None = None,
    ignore_exclude_lb: bool = False,
    only_ips: Iterable[str] | None = None,
) -> dict[str, Placement]:
    """:func:`place_all` from a compiled Config and raw objects: what the speaker decides.

    The speaker (``L2Component``) and ``ingot explain``/``status`` both call this, so an
    explanation can never disagree with the speaker's decision for the same inputs.

    Args:
        cfg: Compiled configuration (pools and L2Advertisements).
        services: Raw Service objects (non-LoadBalancer ones and other classes are skipped).
        slices_by_service: Raw EndpointSlices by Service key ``namespace/name``.
        raw_nodes: Raw Node objects by name.
        members: Speaker membership by node name.
        load_balancer_class: See :func:`service_views_by_ip`.
        ignore_exclude_lb: MetalLB's ``--ignore-exclude-lb``.
        only_ips: Place only these IPs (each IP is placed on its own from the Services using
            it, so the result for them is the same as in a full run); ``None`` = all.

    Returns:
        Placements by canonical IP text.
    """
    by_ip = service_views_by_ip(
        services=services,
        slices_by_service=slices_by_service,
        pool_of=pool_namer(cfg),
        load_balancer_class=load_balancer_class,
    )
    if only_ips is not None:
        wanted = set(only_ips)
        by_ip = {ip: views for ip, views in by_ip.items() if ip in wanted}
    return place_all(
        services_by_ip=by_ip,
        advertisements=ads_from_config(cfg),
        nodes={name: node_view(raw) for name, raw in raw_nodes.items()},
        members=members,
        ignore_exclude_lb=ignore_exclude_lb,
    )
