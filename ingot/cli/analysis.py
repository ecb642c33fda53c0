"""The decisions of controller and speakers, recomputed from a snapshot with their own functions.

Nothing here decides anything itself: every answer comes from the pure core the components
call, with the inputs the components gather, so an explanation cannot disagree with what the
system does:

* configuration: :func:`ingot.api.compile.compile_config` (controller, speaker, webhook);
* allocation: :class:`ipam.allocator.Allocator`, restored from the Services' current
  ``status.loadBalancer.ingress`` the way the controller restores it at start-up
  (``controller.reconciler.Reconciler._restore``), then :meth:`Allocator.preview` per Service
  (the decision the controller's next reconcile would take, without changing anything);
* Service parsing: :func:`ingot.api.services.service_request` and ``wants_allocation``;
* L2 placement: :func:`ingot.api.l2.place_all` over ``service_views_by_ip`` / ``node_view``,
  with membership from the speakers' node Leases judged by the speaker's own rule
  (:func:`speaker.l2.fencing.member_state`);
* BGP: :func:`ingot.api.bgp.plan_from_config` once per node (what each speaker hands to each
  peer).

Two small helpers live here because the core has no single call for them; both only call
existing functions: :func:`pool_verdicts` (the allocator's per-pool verdict for a Service that
is already assigned, by previewing the request pinned to each pool in turn) and
:func:`simulate_config_change` (the controller's reaction to a new configuration: ``set_pools``,
then re-assigning released, pending and all Services in the controller's order).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingot.api import bgp as bgp_plan
from ingot.api import l2 as place
from ingot.api import services as svc_api
from ingot.api.compile import CompileResult, compile_config
from ingot.api.config import Config
from ingot.api.fielderror import FieldError
from ingot.cli.snapshot import RawObject, Snapshot
from ingot.kube.lease import parse_time
from ipam import decisions
from ipam.allocator import Allocator
from ipam.pool import Pool
from ipam.request import ServiceKey, ServiceRequest

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
RouteIndex = tuple[list[tuple[int, int]], dict[Any, list[bgp_plan.Route]]]
LEASE_PREFIX = "ingot-speaker-"  # speaker.l2.component.LEASE_PREFIX (checked by a unit test)
ALLOCATED_CONDITION = "ingot.io/IPAllocated"
ANNOUNCED_CONDITION = "ingot.io/Announced"

BGP_REASONS = {
    "noEndpoints": "no serving endpoint",
    "noLocalEndpoints": "externalTrafficPolicy Local and no serving endpoint on this node",
    "nodeNetworkUnavailable": "node condition NetworkUnavailable=True",
    "nodeLabeledExcludeBalancers": f"node labelled {bgp_plan.EXCLUDE_LB_LABEL}",
    "nodeNotFound": "no Node object",
    "noMatchingAdvertisement": (
        "no BGPAdvertisement of the pool selects this node and Service "
        "(nodeSelectors / serviceSelectors)"
    ),
    "noPeers": "no BGPPeer session from this node matches the advertisement's peers",
    "conflictingAdvertisements": "two BGPAdvertisements set different localPref for one prefix",
    "noIPAllocated": "no IP allocated",
}


def _meta(raw: RawObject) -> Mapping[str, Any]:
    md = raw.get("metadata")
    return md if isinstance(md, Mapping) else {}


def object_key(raw: RawObject) -> str:
    """``namespace/name`` of a namespaced object."""
    md = _meta(raw)
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


def conditions(raw: RawObject) -> list[dict[str, str]]:
    """The ``status.conditions`` of an object as ``{type, status, reason, message}``."""
    out = []
    for c in (raw.get("status") or {}).get("conditions") or []:
        if isinstance(c, Mapping):
            out.append({k: str(c.get(k, "")) for k in ("type", "status", "reason", "message")})
    return out


# ------------------------------------------------------------------------------ membership


@dataclass(frozen=True)
class Speaker:
    """One node's speaker as its Lease shows it.

    Attributes:
        node: node name.
        state: ``live`` | ``fenced`` | ``absent`` (``ingot.api.l2.MemberState`` values).
        holder: ``spec.holderIdentity`` ("" when fenced).
        transitions: ``spec.leaseTransitions`` (the fencing epoch).
        renew_age_s: seconds since ``spec.renewTime`` at the snapshot instant, or ``None``.
        lease_duration_s: ``spec.leaseDurationSeconds``.
    """

    node: str
    state: str
    holder: str
    transitions: int
    renew_age_s: float | None
    lease_duration_s: float


def speakers_from_leases(leases: Sequence[RawObject], *, now_s: float) -> dict[str, Speaker]:
    """Membership of every speaker with a Lease ``ingot-speaker-<node>``, by node.

    The state is the speaker's own rule (:func:`speaker.l2.fencing.member_state`) seen from a
    speaker that hears no heartbeat and reaches the API: live while the Lease is held by its
    node and renewed within ``leaseDurationSeconds``; fenced when the holder was emptied by a
    fencing write; absent otherwise. A fenced speaker rejoins only after its hold-down.
    """
    from speaker.l2 import fencing

    out: dict[str, Speaker] = {}
    for raw in leases:
        name = str(_meta(raw).get("name", ""))
        if not name.startswith(LEASE_PREFIX):
            continue
        node = name[len(LEASE_PREFIX) :]
        spec = raw.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        transitions = int(spec.get("leaseTransitions") or 0)
        duration = float(spec.get("leaseDurationSeconds") or fencing.Timings().lease_duration_s)
        renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
        timings = dataclasses.replace(fencing.Timings(), lease_duration_s=duration)
        view = fencing.LeaseView(holder, transitions, "", renewed if renewed is not None else -1e18)
        state = fencing.member_state(
            node, lease=view, heartbeat=None, now_s=now_s, api_ok=True, timings=timings
        )
        out[node] = Speaker(
            node=node,
            state=state.value,
            holder=holder,
            transitions=transitions,
            renew_age_s=None if renewed is None else round(now_s - renewed, 3),
            lease_duration_s=duration,
        )
    return out


# ------------------------------------------------------------------------------ analysis


@dataclass
class Analysis:
    """Everything recomputed from one snapshot (see the module docstring).

    Attributes:
        snapshot: the input.
        compiled: the compile result (``config`` is ``None`` when the configuration is invalid).
        lb_services: LoadBalancer Services ingot serves, by key.
        requests: each one's allocation request, or its field errors.
        allocator: the allocator restored from the current statuses.
        restore_conflicts: Services whose current IPs the allocator refused, by key.
        decisions: what the controller's next reconcile decides for each valid Service.
        slices_by_service: EndpointSlices by Service key.
        speakers: membership by node.
        placements: L2 placement of every assigned IP (canonical text).
        bgp: each node's BGP sessions and plan, by node.
    """

    snapshot: Snapshot
    compiled: CompileResult
    lb_services: dict[str, RawObject] = field(default_factory=dict)
    requests: dict[str, ServiceRequest | list[FieldError]] = field(default_factory=dict)
    allocator: Allocator = field(default_factory=Allocator)
    restore_conflicts: dict[str, str] = field(default_factory=dict)
    decisions: dict[str, decisions.Decision] = field(default_factory=dict)
    slices_by_service: dict[str, list[RawObject]] = field(default_factory=dict)
    speakers: dict[str, Speaker] = field(default_factory=dict)
    placements: dict[str, place.Placement] = field(default_factory=dict)
    bgp: dict[str, tuple[tuple[bgp_plan.BgpPeerSpec, ...], bgp_plan.BgpPlan]] = field(
        default_factory=dict
    )
    lb_class: str | None = None
    ignore_exclude_lb: bool = False
    route_index: dict[str, RouteIndex] | None = None

    @property
    def config(self) -> Config | None:
        """The compiled configuration, or ``None`` when invalid."""
        return self.compiled.config

    def nodes(self) -> dict[str, RawObject]:
        """Raw Nodes by name."""
        return {str(_meta(n).get("name", "")): n for n in self.snapshot.resources.nodes}

    def namespace_labels(self, ns: str) -> dict[str, str]:
        """Labels of Namespace ``ns`` (empty when unknown)."""
        for raw in self.snapshot.resources.namespaces:
            if _meta(raw).get("name") == ns:
                return {str(k): str(v) for k, v in (_meta(raw).get("labels") or {}).items()}
        return {}


def _created(raw: RawObject) -> str:
    return str(_meta(raw).get("creationTimestamp") or "")


def _status_ips(raw: RawObject) -> tuple[Any, ...]:
    return svc_api.status_ips(raw)


def analyse(
    snap: Snapshot,
    *,
    lb_class: str | None = None,
    ignore_exclude_lb: bool = False,
    focus: str | None = None,
) -> Analysis:
    """Recompute every decision of the system from ``snap`` (pure; see the module docstring).

    Args:
        snap: the snapshot.
        lb_class: the controller's ``--lb-class`` (``None``: Services without a class).
        ignore_exclude_lb: the speakers' ``--ignore-exclude-lb``.
        focus: a Service key (``explain``): only its allocation decision is previewed, and
            BGP is planned only for the Services whose routes can interact with its routes
            (:func:`bgp_neighbours`), which gives the same answers for it and is much cheaper
            on big clusters.
    """
    compiled = compile_config(snap.resources, namespace=snap.namespace)
    a = Analysis(
        snapshot=snap, compiled=compiled, lb_class=lb_class, ignore_exclude_lb=ignore_exclude_lb
    )
    for raw in sorted(snap.services, key=object_key):
        if svc_api.wants_allocation(raw, lb_class=lb_class):
            key = object_key(raw)
            a.lb_services[key] = raw
            ns = str(_meta(raw).get("namespace") or "")
            a.requests[key] = svc_api.service_request(raw, namespace_labels=a.namespace_labels(ns))
    for sl in snap.endpoint_slices:
        md = _meta(sl)
        owner = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if owner:
            a.slices_by_service.setdefault(f"{md.get('namespace', '')}/{owner}", []).append(sl)
    a.speakers = speakers_from_leases(snap.leases, now_s=snap.now_s)
    cfg = compiled.config
    if cfg is None:
        return a
    a.allocator.set_pools(tuple(cfg.pools.values()))
    a.restore_conflicts = restore(a.allocator, a.lb_services, a.requests)
    for key, req in a.requests.items():
        if isinstance(req, ServiceRequest) and (focus is None or key == focus):
            a.decisions[key] = a.allocator.preview(req)
    a.placements = l2_placements(a, cfg, focus=focus)
    a.bgp = bgp_plans(a, cfg, only=bgp_neighbours(a, cfg, focus) if focus else None)
    return a


def bgp_neighbours(a: Analysis, cfg: Config, key: str) -> set[str]:
    """Services whose BGP routes can share a prefix with ``key``'s (``key`` included).

    ``plan_advertisements`` relates two Services only through a common (prefix, peer, next
    hop): merged communities and localPref conflicts. Prefixes are the IPs masked to the
    advertisements' aggregation lengths, so only Services with an IP inside one of ``key``'s
    prefixes can matter.
    """
    raw = a.lb_services.get(key)
    if raw is None:
        return set()
    lengths = {(4, ad.aggregation_length) for ad in cfg.bgp_advertisements}
    lengths |= {(6, ad.aggregation_length_v6) for ad in cfg.bgp_advertisements}
    prefixes = [
        ipaddress.ip_network(f"{ip}/{length}", strict=False)
        for ip in svc_api.status_ips(raw)
        for version, length in lengths
        if version == ip.version
    ]
    out = {key}
    for other, s in a.lb_services.items():
        if any(
            ip.version == p.version and ip in p for ip in svc_api.status_ips(s) for p in prefixes
        ):
            out.add(other)
    return out


@dataclass(frozen=True)
class _Claim:
    request: ServiceRequest
    ips: tuple[Any, ...]


def restore(
    alloc: Allocator,
    lb_services: Mapping[str, RawObject],
    requests: Mapping[str, ServiceRequest | list[FieldError]],
) -> dict[str, str]:
    """Claim every Service's current IPs as the controller does at start-up; refusals by key."""
    claims = []
    for key, raw in sorted(lb_services.items(), key=lambda kv: (_created(kv[1]), kv[0])):
        req = requests.get(key)
        ips = _status_ips(raw)
        if ips and isinstance(req, ServiceRequest):
            claims.append(_Claim(req, ips))
    return {str(c.key): c.reason.message for c in alloc.restore(claims)}


def l2_placements(
    a: Analysis, cfg: Config, *, focus: str | None = None
) -> dict[str, place.Placement]:
    """:func:`ingot.api.l2.place_from_config`, the very call of ``L2Component._recompute``.

    With ``focus`` (a Service key) only its IPs are placed (each IP is placed on its own, from
    the Services using it, so the result for those IPs is the same).
    """
    only = None
    if focus is not None and focus in a.lb_services:
        only = place.ingress_ips(a.lb_services[focus])
    members = {node: place.Member(place.MemberState(sp.state)) for node, sp in a.speakers.items()}
    return place.place_from_config(
        cfg,
        services=list(a.lb_services.values()),
        slices_by_service=a.slices_by_service,
        raw_nodes=a.nodes(),
        members=members,
        load_balancer_class=a.lb_class,
        ignore_exclude_lb=a.ignore_exclude_lb,
        only_ips=only,
    )


def bgp_plans(
    a: Analysis, cfg: Config, *, only: set[str] | None = None
) -> dict[str, tuple[tuple[bgp_plan.BgpPeerSpec, ...], bgp_plan.BgpPlan]]:
    """:func:`ingot.api.bgp.plan_from_config` for every node (``BgpComponent``'s call).

    ``only``: plan just these Services (see :func:`bgp_neighbours`); ``None`` = all.
    """
    if not cfg.bgp_peers and not cfg.bgp_advertisements:
        return {}
    nodes = a.nodes()
    services = [
        s for k, s in a.lb_services.items() if svc_api.status_ips(s) and (only is None or k in only)
    ]
    return {
        name: bgp_plan.plan_from_config(
            cfg,
            raw_services=services,
            raw_slices_by_service=a.slices_by_service,
            raw_nodes=nodes,
            node_name=name,
        )
        for name in sorted(nodes)
    }


# ------------------------------------------------------------------------------ pools


def allocation_order(pools: Mapping[str, Pool]) -> list[Pool]:
    """Pools in the allocator's automatic order: prioritised (priority, name), then the rest.

    Source: ``ipam.allocator`` (module docstring; MetalLB ``sortPools``). Pools with a
    ``serviceAllocation`` and no positive priority come after the prioritised ones; pools
    without ``serviceAllocation`` come last, by name.
    """

    def key(p: Pool) -> tuple[int, int, str]:
        if p.allocation is None:
            return (2, 0, p.name)
        prio = p.allocation.priority
        if not prio:
            return (1, 0, p.name)
        return (0, prio, p.name)

    return sorted(pools.values(), key=key)


def _fams(fams: Sequence[int] | frozenset[int]) -> str:
    return "/".join(f"IPv{f}" for f in sorted(fams)) or "none"


@dataclass(frozen=True)
class PoolVerdict:
    """One pool's answer for one Service.

    Attributes:
        pool: pool name.
        verdict: ``chosen`` | ``eligible`` (could serve; another pool was chosen first) |
            ``rejected``.
        cause: ``namespace`` / ``selector`` (serviceAllocation), ``auto-assign-off``,
            ``family``, ``exhausted``, ``sharing``, ``requested-ip-outside``,
            ``other-pool-requested``, or the allocator's reason code.
        detail: human sentence.
    """

    pool: str
    verdict: str
    cause: str
    detail: str


def _reason_cause(reason: decisions.Reason) -> tuple[str, str]:
    if isinstance(reason, decisions.NoAddressAvailable) and reason.verdicts:
        v = reason.verdicts[0]
        cause = "sharing" if "in use by" in v.detail or "sharing key" in v.detail else v.cause
        return cause, v.detail
    if isinstance(reason, decisions.SharingConflict):
        return "sharing", reason.message
    if isinstance(reason, decisions.FamilyMismatch):
        return "family", reason.message
    if isinstance(reason, decisions.PoolNotAdmitting):
        return _admission_cause(reason.detail), reason.detail
    return reason.code, reason.message


def _admission_cause(why: str) -> str:
    return "namespace" if "namespace" in why else "selector"


def pool_verdicts(
    alloc: Allocator, cfg: Config, request: ServiceRequest, decision: decisions.Decision
) -> list[PoolVerdict]:
    """Why each pool was accepted or rejected for ``request`` (pools in allocation order).

    Every verdict comes from the pool's own rule (``Pool.admission``, ``auto_assign``,
    ``families``, ``contains``) or from :meth:`Allocator.preview` of the request pinned to the
    pool (exhausted, sharing conflict naming the holder and the protocol/port), so it is
    exactly what the allocator would find. The allocator's state is unchanged.
    """
    chosen = decision.pool if isinstance(decision, decisions.Assigned) else None
    out: list[PoolVerdict] = []
    wanted = set(request.families)
    for p in allocation_order(cfg.pools):
        why = p.admission(
            namespace=request.namespace,
            namespace_labels=request.namespace_labels,
            service_labels=request.labels,
        )
        if p.name == chosen:
            assert isinstance(decision, decisions.Assigned)
            ips = ", ".join(str(ip) for ip in decision.ips)
            out.append(PoolVerdict(p.name, "chosen", "", f"gives {ips}"))
            continue
        trial: decisions.Decision | None = None
        if request.requested_ips:
            inside = [ip for ip in request.requested_ips if p.contains(ip)]
            if not inside:
                asked = ", ".join(str(ip) for ip in request.requested_ips)
                out.append(
                    PoolVerdict(
                        p.name,
                        "rejected",
                        "requested-ip-outside",
                        f"requested IP {asked} is not in this pool",
                    )
                )
                continue
            trial = alloc.preview(request)
        elif request.pool is not None and request.pool != p.name:
            out.append(
                PoolVerdict(
                    p.name,
                    "rejected",
                    "other-pool-requested",
                    f"the Service asks for pool {request.pool} (address-pool annotation)",
                )
            )
            continue
        elif why is not None:
            out.append(PoolVerdict(p.name, "rejected", _admission_cause(why), why))
            continue
        elif request.pool is None and not p.auto_assign:
            out.append(
                PoolVerdict(
                    p.name,
                    "rejected",
                    "auto-assign-off",
                    "autoAssign is false (only explicit requests use this pool)",
                )
            )
            continue
        elif not (p.families & wanted):
            out.append(
                PoolVerdict(
                    p.name,
                    "rejected",
                    "family",
                    f"has {_fams(p.families)} addresses only; the Service needs "
                    f"{_fams(request.families)} (from its ClusterIPs)",
                )
            )
            continue
        else:
            trial = alloc.preview(dataclasses.replace(request, pool=p.name))
        if isinstance(trial, decisions.Assigned):
            ips = ", ".join(str(ip) for ip in trial.ips)
            out.append(
                PoolVerdict(
                    p.name, "eligible", "", f"could give {ips}, but an earlier pool was chosen"
                )
            )
        else:
            assert trial is not None
            cause, detail = _reason_cause(trial.reason)
            out.append(PoolVerdict(p.name, "rejected", cause, detail))
    return out


def why_ip(
    a: Analysis, key: str, request: ServiceRequest, decision: decisions.Assigned
) -> list[str]:
    """Sentences saying why ``decision``'s IPs and pool were chosen."""
    raw = a.lb_services[key]
    annotations = {str(k): str(v) for k, v in (_meta(raw).get("annotations") or {}).items()}
    held = set(svc_api.status_ips(raw))
    out: list[str] = []
    if request.requested_ips:
        ann = svc_api.annotation_value(annotations, svc_api.LOAD_BALANCER_IPS)
        src = ann[0] if ann else "spec.loadBalancerIP"
        out.append(f"requested by {src}; pool {decision.pool} contains it and admits the Service")
    elif decision.kept:
        out.append(
            f"pool {decision.pool} holds the Service's current IPs and still admits it (an "
            "assignment that still fits is kept, whatever pool would be chosen today)"
        )
    elif request.pool is not None:
        out.append(f"pool {decision.pool} is named by the address-pool annotation")
    else:
        out.append(
            f"pool {decision.pool} is the first pool in allocation order "
            "(serviceAllocation priority, then name) that admits the Service and has a free "
            "address of its family"
        )
    for ip in decision.ips:
        others = [k for k in a.allocator.holders(ip) if k != key]
        if ip in held and decision.kept:
            line = f"{ip}: already held; kept because it still fits (a live IP is never moved)"
        elif ip in request.requested_ips:
            line = f"{ip}: requested"
        else:
            line = f"{ip}: lowest free address of pool {decision.pool} (spec.addresses order)"
        if others:
            line += (
                f"; shared with {', '.join(others)} (sharing key {request.sharing_key!r}, "
                "same backend, distinct ports)"
            )
        out.append(line)
    return out


# ------------------------------------------------------------------------------ announcement


def announcing_modes(cfg: Config, pool: str | None, labels: Mapping[str, str]) -> list[str]:
    """``L2`` / ``BGP``: which kinds of advertisement of ``pool`` apply to a Service's labels."""
    if pool is None:
        return []
    modes = []
    if any(ad.selects_service(labels) for ad in cfg.l2_advertisements_for_pool(pool)):
        modes.append("L2")
    if any(ad.selects_service(labels) for ad in cfg.bgp_advertisements_for_pool(pool)):
        modes.append("BGP")
    return modes


def service_pool(a: Analysis, key: str) -> str | None:
    """Pool of a Service's current IPs (annotation, else the pool containing its first IP)."""
    raw = a.lb_services[key]
    ann = (_meta(raw).get("annotations") or {}).get(svc_api.ALLOCATED_FROM_POOL)
    cfg = a.config
    if ann and cfg is not None and ann in cfg.pools:
        return str(ann)
    if cfg is not None:
        for ip in svc_api.status_ips(raw):
            p = cfg.pool_of(ip)
            if p is not None:
                return p.name
    return str(ann) if ann else None


def _route_index(a: Analysis) -> dict[str, RouteIndex]:
    """Per node: the (family, prefix length) pairs in use and the routes by prefix, sorted.

    Built once per analysis, so looking up one Service's routes costs O(lengths), not O(routes).
    """
    if a.route_index is None:
        a.route_index = {}
        for node, (_peers, plan) in a.bgp.items():
            by_prefix: dict[Any, list[bgp_plan.Route]] = {}
            for r in sorted(plan.routes):
                by_prefix.setdefault(r.prefix, []).append(r)
            lengths = sorted({(p.version, p.prefixlen) for p in by_prefix})
            a.route_index[node] = (lengths, by_prefix)
    return a.route_index


def bgp_routes_for(a: Analysis, key: str) -> dict[str, dict[str, Any]]:
    """Per node: ``{"routes": [...], "reason": str | None}`` for the Service ``key``."""
    ips = svc_api.status_ips(a.lb_services[key])
    index = _route_index(a)
    out: dict[str, dict[str, Any]] = {}
    for node, (peers, plan) in a.bgp.items():
        code = plan.not_announced.get(key)
        routes = []
        if key in plan.peers_by_service:
            lengths, by_prefix = index[node]
            for ip in ips:
                for version, length in lengths:
                    if version != ip.version:
                        continue
                    prefix = ipaddress.ip_network(f"{ip}/{length}", strict=False)
                    routes += [route_dict(r) for r in by_prefix.get(prefix, ())]
        reason = None
        if code is not None:
            reason = f"{code}: {BGP_REASONS.get(code, code)}"
        elif not routes and not peers:
            reason = "noPeers: no BGPPeer selects this node (BGPPeer nodeSelectors)"
        out[node] = {"routes": routes, "reason": reason}
    return out


def route_dict(r: bgp_plan.Route) -> dict[str, Any]:
    """A route as JSON-ready data."""
    return {
        "prefix": str(r.prefix),
        "peer": r.peer,
        "next_hop": r.next_hop,
        "communities": [str(c) for c in (*r.communities, *r.large_communities)],
        "local_pref": r.local_pref,
    }


def route_text(node: str, r: Mapping[str, Any]) -> str:
    """``node -> peer prefix next-hop X [communities] [local-pref N]``."""
    extra = ""
    if r["communities"]:
        extra += " communities " + ",".join(r["communities"])
    if r["local_pref"] is not None:
        extra += f" local-pref {r['local_pref']}"
    return f"{node} -> {r['peer']}: {r['prefix']} next-hop {r['next_hop']}{extra}"


def simulate_config_change(before: Analysis, after_snap: Snapshot) -> Snapshot:
    """The snapshot after the controller has reacted to ``after_snap``'s configuration.

    Replays the controller (``Reconciler.reconcile_config``): the allocator holds what the
    Services hold now (restored under the current configuration, or under the new one if the
    current one is invalid); the new pools are set (``set_pools`` releases the Services whose
    IPs no longer fit); then released Services, pending Services and every other Service are
    assigned in that order. Services get the resulting ingress and pool annotation; nothing
    else changes. If the new configuration is invalid the components keep the current one, so
    Services are unchanged.
    """
    new = compile_config(after_snap.resources, namespace=after_snap.namespace)
    if new.config is None:
        return after_snap
    alloc = Allocator()
    requests: dict[str, ServiceRequest | list[FieldError]] = {}
    services: dict[str, RawObject] = {}
    ns_labels = {
        str(_meta(n).get("name", "")): {
            str(k): str(v) for k, v in (_meta(n).get("labels") or {}).items()
        }
        for n in after_snap.resources.namespaces
    }
    for raw in after_snap.services:
        if svc_api.wants_allocation(raw, lb_class=before.lb_class):
            key = object_key(raw)
            services[key] = raw
            ns = str(_meta(raw).get("namespace") or "")
            requests[key] = svc_api.service_request(raw, namespace_labels=ns_labels.get(ns, {}))
    released: frozenset[ServiceKey] = frozenset()
    if before.config is not None:
        alloc.set_pools(tuple(before.config.pools.values()))
        restore(alloc, services, requests)
        released = alloc.set_pools(tuple(new.config.pools.values()))
    else:
        alloc.set_pools(tuple(new.config.pools.values()))
        restore(alloc, services, requests)
    pending = sorted(k for k in services if not svc_api.status_ips(services[k]))
    order = list(dict.fromkeys([*sorted(released), *pending, *sorted(services)]))
    outcome: dict[str, decisions.Decision | None] = {}
    for key in order:
        req = requests[key]
        outcome[key] = alloc.assign(req) if isinstance(req, ServiceRequest) else None
    rewritten: list[RawObject] = []
    for raw in after_snap.services:
        key = object_key(raw)
        if key not in outcome:
            rewritten.append(raw)
            continue
        dec = outcome[key]
        md = dict(_meta(raw))
        annotations = dict(md.get("annotations") or {})
        status = dict(raw.get("status") or {})
        if isinstance(dec, decisions.Assigned):
            status["loadBalancer"] = {"ingress": svc_api.ingress(dec.ips)}
            annotations[svc_api.ALLOCATED_FROM_POOL] = dec.pool
        else:
            status["loadBalancer"] = {}
            annotations.pop(svc_api.ALLOCATED_FROM_POOL, None)
        md["annotations"] = annotations
        rewritten.append({**raw, "metadata": md, "status": status})
    return dataclasses.replace(after_snap, services=tuple(rewritten))
