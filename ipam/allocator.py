"""The allocator: which IPs each LoadBalancer Service holds. Pure, in-memory, single-writer.

Place in the pipeline: the controller restores the allocator from every Service's status
(:meth:`Allocator.restore`), feeds it the compiled pools (:meth:`Allocator.set_pools`) and asks
it for each Service (:meth:`Allocator.assign`); it applies the returned decision to the API.

Semantics are MetalLB's (``controller/service.go``, ``internal/allocator/allocator.go``; see
``docs/ipam.md``), with these deliberate differences:

* pools are tried in a deterministic order: prioritised pools by (priority, name), then generic
  pools by name (MetalLB iterates generic pools in random map order and leaves ties unordered);
* capacity and usage are exact Python ints for any pool size (MetalLB saturates at MaxInt64);
* allocation never walks a pool address by address: used addresses are kept as sorted runs
  (:mod:`ipam.occupancy`), so cost and memory grow with the allocated IPs, not the pool size;
* a failed allocation keeps the per-pool reasons (:class:`~ipam.decisions.NoAddressAvailable`);
* restore reports conflicting claims instead of keeping both.

Invariants (checked by the property tests): an IP is held by two Services only if their sharing
is compatible (:mod:`ipam.sharing`); every held IP lies in a pool that admits its holder; all IPs
of a Service come from one pool, at most one per family; ``restore(snapshot())`` reproduces the
state; decisions depend only on the state and the inputs, never on dict or set order.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ipam import decisions, sharing
from ipam.decisions import (
    Assigned,
    Decision,
    Pending,
    PoolCause,
    PoolVerdict,
    Reason,
    RestoreConflict,
)
from ipam.occupancy import RangeOccupancy
from ipam.pool import Pool
from ipam.ranges import IPAddress
from ipam.request import ServiceKey, ServiceRequest

__all__ = ["Allocator", "Assignment", "Claim", "PoolUsage"]

_IPKey = tuple[int, int]  # (family, integer address)


@dataclass(frozen=True)
class Assignment:
    """What one Service holds.

    Attributes:
        request: the request it was assigned for (latest seen).
        ips: its IPs (IPv4 first when auto-allocated; requested order otherwise).
        pool: the pool they come from.
    """

    request: ServiceRequest
    ips: tuple[IPAddress, ...]
    pool: str


class Claim(Protocol):
    """Anything with ``request`` and ``ips`` (an :class:`Assignment` or a restore input)."""

    @property
    def request(self) -> ServiceRequest:
        """The Service's request."""
        ...

    @property
    def ips(self) -> Sequence[IPAddress]:
        """IPs the Service holds (from its ``status.loadBalancer.ingress``)."""
        ...


@dataclass(frozen=True)
class PoolUsage:
    """Exact capacity and usage of one pool (IPAddressPool status, metrics).

    Attributes:
        pool: pool name.
        capacity_v4: allocatable IPv4 addresses (avoidBuggyIPs applied).
        capacity_v6: allocatable IPv6 addresses (a /64 is 2**64).
        in_use_v4: distinct IPv4 addresses held (a shared IP counts once).
        in_use_v6: distinct IPv6 addresses held.
        services: Services holding addresses of this pool.
    """

    pool: str
    capacity_v4: int
    capacity_v6: int
    in_use_v4: int
    in_use_v6: int
    services: int

    @property
    def available_v4(self) -> int:
        """Free IPv4 addresses."""
        return self.capacity_v4 - self.in_use_v4

    @property
    def available_v6(self) -> int:
        """Free IPv6 addresses."""
        return self.capacity_v6 - self.in_use_v6


@dataclass(frozen=True)
class _Slot:
    """Where an address lives: pool, index of its range in the pool, occupancy, ordinal."""

    pool: str
    range_index: int
    occ: RangeOccupancy
    ordinal: int


def _ip(family: int, value: int) -> IPAddress:
    if family == 4:
        return ipaddress.IPv4Address(value)
    return ipaddress.IPv6Address(value)


def _priority_key(pool: Pool) -> tuple[int, int, str]:
    prio = pool.allocation.priority if pool.allocation else None
    if prio is None or prio == 0:
        return (1, 0, pool.name)
    return (0, prio, pool.name)


def _fam(f: int) -> str:
    return f"IPv{f}"


class Allocator:
    """In-memory IP allocator with MetalLB semantics (see module docstring).

    Construction starts nothing; the allocator begins with no pools and no assignments. It is
    not thread-safe: one writer (the controller's allocation worker) owns it.
    """

    def __init__(self) -> None:
        self._pools: dict[str, Pool] = {}
        self._occ: dict[str, list[RangeOccupancy]] = {}
        self._pinned: list[Pool] = []
        self._generic: list[Pool] = []
        # per family: sorted first addresses of every range, and the matching (pool, idx, occ)
        self._index_starts: dict[int, list[int]] = {4: [], 6: []}
        self._index_ranges: dict[int, list[tuple[str, int, RangeOccupancy]]] = {4: [], 6: []}
        self._assignments: dict[ServiceKey, Assignment] = {}
        self._holders: dict[_IPKey, tuple[ServiceKey, ...]] = {}
        self._keyed_ips: dict[str, set[_IPKey]] = {}
        self._services_by_pool: dict[str, int] = {}

    # ------------------------------------------------------------------ pools

    @property
    def pools(self) -> Mapping[str, Pool]:
        """The current pools by name (read-only view)."""
        return dict(self._pools)

    def set_pools(self, pools: Iterable[Pool] | Mapping[str, Pool]) -> frozenset[ServiceKey]:
        """Replace the pool set; release the Services the new pools no longer fit.

        A Service keeps its IPs, untouched, when they still lie together in one pool that admits
        it (the pool may be a different one: its IPs are then re-attributed, as MetalLB
        ``SetPools`` does), the ``metallb.io/address-pool`` pin still matches, and sharing still
        holds. Otherwise its IPs are released (case C30).

        Args:
            pools: the compiled pools (an iterable or a mapping by name). Ranges must not
                overlap, within or across pools (``ingot.api`` validates this, as MetalLB's
                webhook does).

        Returns:
            The Services that were released and must be assigned again (call :meth:`assign`).

        Raises:
            ValueError: duplicate pool names or overlapping ranges; the allocator is unchanged.
        """
        items = list(pools.values()) if isinstance(pools, Mapping) else list(pools)
        by_name: dict[str, Pool] = {}
        for p in items:
            if p.name in by_name:
                raise ValueError(f"duplicate pool name {p.name!r}")
            by_name[p.name] = p
        spans: list[tuple[int, int, int, str]] = sorted(
            (r.family, int(r.first), int(r.last), p.name) for p in items for r in p.ranges
        )
        for lo, hi in zip(spans, spans[1:], strict=False):
            if lo[0] == hi[0] and hi[1] <= lo[2]:
                raise ValueError(
                    f"pools {lo[3]} and {hi[3]} overlap at {_ip(hi[0], hi[1])}"
                    if lo[3] != hi[3]
                    else f"pool {lo[3]} has overlapping address entries at {_ip(hi[0], hi[1])}"
                )
        if by_name == self._pools:
            return frozenset()
        new_pools = dict(sorted(by_name.items()))
        # Pools that did not change keep their occupancy and their assignments untouched:
        # ranges never overlap, so their IPs cannot have moved into another pool.
        unchanged = {name for name, p in new_pools.items() if self._pools.get(name) == p}
        self._occ = {
            name: self._occ[name]
            if name in unchanged
            else [RangeOccupancy(r, avoid_buggy_ips=p.avoid_buggy_ips) for r in p.ranges]
            for name, p in new_pools.items()
        }
        self._pools = new_pools
        self._pinned = sorted(
            (p for p in self._pools.values() if p.allocation is not None), key=_priority_key
        )
        self._generic = [p for p in self._pools.values() if p.allocation is None]
        self._index_starts = {4: [], 6: []}
        self._index_ranges = {4: [], 6: []}
        entries = sorted(
            (occ.range.family, occ.first, name, i, occ)
            for name, occs in self._occ.items()
            for i, occ in enumerate(occs)
        )
        for fam, first, name, i, occ in entries:
            self._index_starts[fam].append(first)
            self._index_ranges[fam].append((name, i, occ))
        # Assignments of changed or deleted pools are forgotten, then re-validated in key
        # order. All holders of an IP are in the IP's pool, so they are forgotten together.
        moved = [
            self._assignments.pop(key)
            for key in sorted(self._assignments)
            if self._assignments[key].pool not in unchanged
        ]
        for a in moved:
            sk = a.request.sharing_key
            for ip in a.ips:
                ipk = (ip.version, int(ip))
                self._holders.pop(ipk, None)
                if sk is not None and sk in self._keyed_ips:
                    self._keyed_ips[sk].discard(ipk)
                    if not self._keyed_ips[sk]:
                        del self._keyed_ips[sk]
        self._services_by_pool = {
            name: n for name, n in self._services_by_pool.items() if name in unchanged
        }
        released: set[ServiceKey] = set()
        for a in moved:
            problem, pool = self._claim_problem(a.request, a.ips)
            if problem is None and pool is not None:
                self._claim(a.request, a.ips, pool)
            else:
                released.add(a.request.key)
        return frozenset(released)

    # ------------------------------------------------------------------ queries

    def assignment(self, key: ServiceKey) -> Assignment | None:
        """What ``key`` holds, or ``None``."""
        return self._assignments.get(key)

    def snapshot(self) -> Mapping[ServiceKey, Assignment]:
        """Every assignment by Service key, sorted by key (a copy)."""
        return dict(sorted(self._assignments.items()))

    def holders(self, ip: IPAddress) -> tuple[ServiceKey, ...]:
        """Services holding ``ip``, sorted."""
        return tuple(sorted(self._holders.get((ip.version, int(ip)), ())))

    def pool_of(self, ip: IPAddress) -> str | None:
        """Name of the pool from which ``ip`` is allocatable, or ``None``."""
        slot = self._locate(ip.version, int(ip))
        return slot.pool if slot else None

    def usage(self, pool: str) -> PoolUsage:
        """Exact capacity and usage of ``pool``.

        Raises:
            KeyError: unknown pool.
        """
        p = self._pools[pool]
        occs = self._occ[pool]
        return PoolUsage(
            pool=pool,
            capacity_v4=p.capacity(4),
            capacity_v6=p.capacity(6),
            in_use_v4=sum(o.used for o in occs if o.range.family == 4),
            in_use_v6=sum(o.used for o in occs if o.range.family == 6),
            services=self._services_by_pool.get(pool, 0),
        )

    def usages(self) -> dict[str, PoolUsage]:
        """:meth:`usage` of every pool, by name."""
        return {name: self.usage(name) for name in self._pools}

    # ------------------------------------------------------------------ mutations

    def release(self, key: ServiceKey) -> tuple[IPAddress, ...]:
        """Release everything ``key`` holds (Service deleted or no longer a LoadBalancer).

        Returns:
            The IPs it held (empty if none). IPs still used by sharers stay in use.
        """
        a = self._assignments.pop(key, None)
        if a is None:
            return ()
        self._services_by_pool[a.pool] -= 1
        for ip in a.ips:
            ipk = (ip.version, int(ip))
            rest = tuple(k for k in self._holders[ipk] if k != key)
            if rest:
                self._holders[ipk] = rest
            else:
                del self._holders[ipk]
                slot = self._locate(*ipk)
                if slot is not None:
                    slot.occ.remove(slot.ordinal)
            sk = a.request.sharing_key
            if sk is not None and not any(
                self._assignments[k].request.sharing_key == sk for k in rest
            ):
                keyed = self._keyed_ips[sk]
                keyed.discard(ipk)
                if not keyed:
                    del self._keyed_ips[sk]
        return a.ips

    def assign(self, request: ServiceRequest) -> Decision:
        """Decide the IPs of a Service and record them.

        Order (MetalLB ``convergeBalancer``): an existing assignment that still fits is kept
        (``Assigned(kept=True)``), and a PreferDualStack Service with two families holding one IP
        gets the missing family from the same pool when possible; otherwise the old IPs are
        released and the Service is allocated afresh from requested IPs
        (``metallb.io/loadBalancerIPs`` / ``spec.loadBalancerIP``), else the
        ``metallb.io/address-pool`` pool, else automatically (prioritised pools by priority then
        name, then generic auto-assign pools by name). Within a pool, entries are tried in
        ``spec.addresses`` order, each from its lowest address; an IP already used by compatible
        sharers counts as free (first fit, as MetalLB).

        Args:
            request: the Service's request.

        Returns:
            :class:`Assigned` or :class:`Pending` with a reason. A Pending Service holds nothing.
        """
        key = request.key
        existing = self._assignments.get(key)
        if (
            existing is not None
            and existing.request == request
            and not (request.is_dual and len(existing.ips) == 1)
        ):
            # Fast path (resync): same request, and pools unchanged since it was validated
            # (set_pools re-validates every assignment), so it still fits.
            return Assigned(existing.ips, existing.pool, kept=True)
        if existing is not None:
            problem, pool = self._claim_problem(request, existing.ips, exclude=key)
            if problem is None and pool is not None:
                self.release(key)
                extra = self._missing_family(request, existing.ips, pool)
                ips = existing.ips + extra
                if extra:
                    ips = tuple(sorted(ips, key=lambda ip: ip.version))
                self._claim(request, ips, pool)
                return Assigned(ips, pool, kept=not extra)
            self.release(key)
        decision = self._allocate(request)
        if isinstance(decision, Assigned):
            self._claim(request, decision.ips, decision.pool)
        return decision

    def preview(self, request: ServiceRequest) -> Decision:
        """What :meth:`assign` would decide now, without changing anything (``ingot explain``).

        Args:
            request: the Service's request.

        Returns:
            The decision :meth:`assign` would return; the allocator's state is unchanged.
        """
        old = self._assignments.get(request.key)
        decision = self.assign(request)
        self.release(request.key)
        if old is not None:
            self._claim(old.request, old.ips, old.pool)
        return decision

    def restore(
        self, claims: Iterable[Claim], *, rank: Mapping[ServiceKey, str] | None = None
    ) -> list[RestoreConflict]:
        """Claim existing assignments exactly (controller start-up, case C33/C35).

        Claims are processed in (rank, Service key) order, so the result does not depend on
        the input order; when two claims conflict, the one processed first keeps the IP. A claim
        is accepted, with exactly its IPs, when they lie together in one pool
        admitting the Service, match its families, its requested IPs and pool pin, and share
        compatibly with the claims accepted before it. Any other claim is refused and reported;
        a refused Service holds nothing and should be assigned again. A Service that already
        holds IPs in this allocator is first released.

        Args:
            claims: ``(request, ips)`` pairs, e.g. the values of another allocator's
                :meth:`snapshot`. Claims with no IPs are ignored.
            rank: optional precedence per Service, e.g. ``metadata.creationTimestamp`` (RFC 3339
                strings sort chronologically), so the older Service wins a conflict, as the
                earlier holder does in MetalLB. Services without a rank come last.

        Returns:
            The refused claims with reasons (sorted by key).

        Raises:
            ValueError: two claims for the same Service.
        """
        ranks = rank or {}
        items = sorted(
            claims,
            key=lambda c: (c.request.key not in ranks, ranks.get(c.request.key, ""), c.request.key),
        )
        conflicts: list[RestoreConflict] = []
        seen: set[ServiceKey] = set()
        for c in items:
            key = c.request.key
            if key in seen:
                raise ValueError(f"two claims for service {key}")
            seen.add(key)
            ips = tuple(c.ips)
            if not ips:
                continue
            self.release(key)
            problem, pool = self._claim_problem(c.request, ips)
            if problem is None and pool is not None:
                self._claim(c.request, ips, pool)
            else:
                assert problem is not None
                conflicts.append(RestoreConflict(key, ips, problem))
        return conflicts

    # ------------------------------------------------------------------ internals

    def _locate(self, family: int, value: int) -> _Slot | None:
        starts = self._index_starts[family]
        i = bisect_right(starts, value) - 1
        if i < 0:
            return None
        name, idx, occ = self._index_ranges[family][i]
        ordinal = occ.ordinal(value)
        if ordinal is None:
            return None
        return _Slot(name, idx, occ, ordinal)

    def _claim(self, request: ServiceRequest, ips: tuple[IPAddress, ...], pool: str) -> None:
        key = request.key
        for ip in ips:
            ipk = (ip.version, int(ip))
            held = self._holders.get(ipk)
            if held is None:
                slot = self._locate(*ipk)
                assert slot is not None
                slot.occ.add(slot.ordinal)
                self._holders[ipk] = (key,)
            else:
                self._holders[ipk] = (*held, key)
            if request.sharing_key is not None:
                self._keyed_ips.setdefault(request.sharing_key, set()).add(ipk)
        self._assignments[key] = Assignment(request, ips, pool)
        self._services_by_pool[pool] = self._services_by_pool.get(pool, 0) + 1

    def _sharing_conflict(
        self, request: ServiceRequest, ip: IPAddress, *, exclude: ServiceKey | None = None
    ) -> decisions.SharingConflict | None:
        for holder in sorted(self._holders.get((ip.version, int(ip)), ())):
            if holder == exclude:
                continue
            other = self._assignments[holder].request
            problem = sharing.sharing_problem(request, other)
            if problem is not None:
                return decisions.SharingConflict(ip, holder, problem[0], problem[1])
        return None

    def _family_problem(self, request: ServiceRequest) -> Reason | None:
        if request.family_policy == "RequireDualStack" and not request.is_dual:
            return decisions.NotEnoughClusterIPs(request.families)
        return None

    def _claim_problem(
        self,
        request: ServiceRequest,
        ips: Sequence[IPAddress],
        *,
        exclude: ServiceKey | None = None,
    ) -> tuple[Reason | None, str | None]:
        """Return (problem, pool): ``problem`` None when ``request`` may hold exactly ``ips``."""
        ips = tuple(ips)
        fam_problem = self._family_problem(request)
        if fam_problem is not None:
            return fam_problem, None
        if not ips:
            return decisions.StaleAssignment(ips, "no IPs"), None
        fams = [ip.version for ip in ips]
        if len(set(fams)) != len(fams) or len(ips) > 2:
            return decisions.StaleAssignment(ips, "more than one IP of a family"), None
        if not set(fams) <= set(request.families):
            return decisions.FamilyMismatch(ips, request.families), None
        if len(ips) < len(request.families) and request.family_policy != "PreferDualStack":
            return decisions.StaleAssignment(
                ips, f"{request.family_policy} service needs one IP per ClusterIP family"
            ), None
        if request.requested_ips and set(request.requested_ips) != set(ips):
            wanted = ", ".join(str(ip) for ip in request.requested_ips)
            return decisions.StaleAssignment(ips, f"the service requests {wanted}"), None
        pool, problem = self._pool_for_ips(request, ips, requested=False)
        if problem is not None:
            return problem, None
        assert pool is not None
        for ip in ips:
            conflict = self._sharing_conflict(request, ip, exclude=exclude)
            if conflict is not None:
                return conflict, None
        return None, pool

    def _pool_for_ips(
        self, request: ServiceRequest, ips: tuple[IPAddress, ...], *, requested: bool = True
    ) -> tuple[str | None, Reason | None]:
        """The single pool holding all ``ips`` and admitting ``request``, or the problem."""
        pools_by_ip: list[tuple[IPAddress, str]] = []
        for ip in ips:
            slot = self._locate(ip.version, int(ip))
            if slot is None:
                owner = self._range_owner(ip)
                detail = (
                    f"excluded by avoidBuggyIPs of pool {owner}"
                    if owner
                    else "outside every IPAddressPool"
                )
                return None, decisions.RequestedIPNotInPool(ip, detail, requested=requested)
            pools_by_ip.append((ip, slot.pool))
        names = {name for _, name in pools_by_ip}
        if len(names) > 1:
            return None, decisions.RequestedIPsInDifferentPools(tuple(pools_by_ip))
        pool = pools_by_ip[0][1]
        if request.pool is not None and request.pool != pool:
            return None, decisions.RequestedPoolMismatch(pools_by_ip[0][0], pool, request.pool)
        why = self._pools[pool].admission(
            namespace=request.namespace,
            namespace_labels=request.namespace_labels,
            service_labels=request.labels,
        )
        if why is not None:
            return None, decisions.PoolNotAdmitting(pool, why)
        return pool, None

    def _range_owner(self, ip: IPAddress) -> str | None:
        for name, p in self._pools.items():
            if any(r.contains(ip) for r in p.ranges):
                return name
        return None

    def _missing_family(
        self, request: ServiceRequest, ips: tuple[IPAddress, ...], pool: str
    ) -> tuple[IPAddress, ...]:
        """PreferDualStack with two families and one IP: the other family from ``pool``."""
        if (
            request.family_policy != "PreferDualStack"
            or not request.is_dual
            or len(ips) != 1
            or request.requested_ips
        ):
            return ()
        have = ips[0].version
        missing = next(f for f in request.families if f != have)
        found = self._candidate(self._pools[pool], missing, request)
        return () if isinstance(found, tuple) else (found,)

    # -- allocation

    def _allocate(self, request: ServiceRequest) -> Decision:
        fam_problem = self._family_problem(request)
        if fam_problem is not None:
            return Pending(fam_problem)
        if not self._pools:
            return Pending(decisions.NoPools())
        if request.requested_ips:
            return self._allocate_requested(request)
        if request.pool is not None:
            p = self._pools.get(request.pool)
            if p is None:
                return Pending(decisions.UnknownPool(request.pool))
            why = p.admission(
                namespace=request.namespace,
                namespace_labels=request.namespace_labels,
                service_labels=request.labels,
            )
            if why is not None:
                return Pending(decisions.PoolNotAdmitting(p.name, why))
            verdicts: list[PoolVerdict] = []
            got = self._choose([p], request, verdicts)
            if got is not None:
                return got
            return Pending(decisions.NoAddressAvailable(tuple(verdicts), pool=p.name))
        verdicts = []
        skipped: list[PoolVerdict] = []
        pinned: list[Pool] = []
        for p in self._pinned:
            why = p.admission(
                namespace=request.namespace,
                namespace_labels=request.namespace_labels,
                service_labels=request.labels,
            )
            if not p.auto_assign:
                skipped.append(PoolVerdict(p.name, "auto-assign-off", "autoAssign is false"))
            elif why is not None:
                skipped.append(PoolVerdict(p.name, "not-admitted", why))
            else:
                pinned.append(p)
        got = self._choose(pinned, request, verdicts)
        if got is not None:
            return got
        generic: list[Pool] = []
        for p in self._generic:
            if p.auto_assign:
                generic.append(p)
            else:
                skipped.append(PoolVerdict(p.name, "auto-assign-off", "autoAssign is false"))
        got = self._choose(generic, request, verdicts)
        if got is not None:
            return got
        return Pending(decisions.NoAddressAvailable(tuple(verdicts + skipped)))

    def _choose(
        self, pools: list[Pool], request: ServiceRequest, verdicts: list[PoolVerdict]
    ) -> Assigned | None:
        """MetalLB ``findBestPoolForService`` over ``pools`` in order; appends verdicts."""
        found: list[dict[int, IPAddress]] = []
        for p in pools:
            per_family: dict[int, IPAddress] = {}
            reasons: list[str] = []
            causes: list[PoolCause] = []
            for f in request.families:
                got = self._candidate(p, f, request)
                if isinstance(got, tuple):
                    causes.append(got[0])
                    reasons.append(got[1])
                else:
                    per_family[f] = got
            found.append(per_family)
            complete = len(per_family) == len(request.families)
            if not complete and not (
                request.family_policy == "PreferDualStack" and request.is_dual and per_family
            ):
                cause: PoolCause = (
                    "family" if causes and all(c == "family" for c in causes) else "exhausted"
                )
                verdicts.append(PoolVerdict(p.name, cause, "; ".join(reasons)))
            if complete:
                ips = tuple(per_family[f] for f in sorted(per_family))
                return Assigned(ips, p.name)
        if request.family_policy == "PreferDualStack" and request.is_dual:
            for f in request.families:  # primary family first, then the secondary
                for p, per_family in zip(pools, found, strict=True):
                    if f in per_family:
                        return Assigned((per_family[f],), p.name)
        return None

    def _candidate(
        self, pool: Pool, family: int, request: ServiceRequest
    ) -> IPAddress | tuple[PoolCause, str]:
        """First-fit IP of ``family`` in ``pool``, or ``(cause, detail)`` when there is none."""
        occs = self._occ[pool.name]
        if not any(o.range.family == family for o in occs):
            return ("family", f"has no {_fam(family)} addresses")
        best: tuple[int, int] | None = None
        best_value = 0
        for idx, occ in enumerate(occs):
            if occ.range.family != family:
                continue
            o = occ.lowest_free()
            if o is not None:
                best = (idx, o)
                best_value = occ.address(o)
                break
        shared_detail = ""
        key = request.sharing_key
        if key is not None and key in self._keyed_ips:
            candidates: list[tuple[int, int, int]] = []
            for fam, value in self._keyed_ips[key]:
                if fam != family:
                    continue
                slot = self._locate(fam, value)
                if slot is None or slot.pool != pool.name:
                    continue
                order = (slot.range_index, slot.ordinal)
                if best is not None and order >= best:
                    continue
                candidates.append((slot.range_index, slot.ordinal, value))
            for _idx, _ordinal, value in sorted(candidates):
                ip = _ip(family, value)
                conflict = self._sharing_conflict(request, ip, exclude=request.key)
                if conflict is None:
                    return ip
                if not shared_detail:
                    shared_detail = f"; {conflict.ip} is in use by {conflict.holder}: " + (
                        conflict.detail
                    )
        if best is not None:
            return _ip(family, best_value)
        total = sum(o.size for o in occs if o.range.family == family)
        if key is not None and not shared_detail:
            shared_detail = f"; no {_fam(family)} address here carries sharing key {key!r}"
        return ("exhausted", f"all {total} {_fam(family)} addresses in use{shared_detail}")

    def _allocate_requested(self, request: ServiceRequest) -> Decision:
        ips = request.requested_ips
        fams = [ip.version for ip in ips]
        ok_families = len(set(fams)) == len(fams) and (
            set(fams) == set(request.families)
            or (
                request.family_policy == "PreferDualStack"
                and len(ips) == 1
                and fams[0] in request.families
            )
        )
        if not ok_families:
            return Pending(decisions.FamilyMismatch(ips, request.families))
        pool, problem = self._pool_for_ips(request, ips)
        if problem is not None:
            return Pending(problem)
        assert pool is not None
        for ip in ips:
            conflict = self._sharing_conflict(request, ip, exclude=request.key)
            if conflict is not None:
                return Pending(conflict)
        return Assigned(ips, pool)
