"""Property tests (hypothesis) of the allocator over random pools, Services and operations.

Properties: no IP is held by two Services unless their sharing is compatible; every held IP
lies in a pool admitting its holder; all IPs of a Service come from one pool, one per family;
usage counters match the assignments; restore(snapshot(a)) reproduces a; results are
deterministic; restore does not depend on the order of its input; automatic allocation is
first fit in pool order.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import random
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipam import allocator, decisions, pool, ranges, selectors, sharing
from ipam.request import Port, ServiceKey, ServiceRequest

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

V4_BASE = int(ipaddress.IPv4Address("198.51.100.0"))
V6_BASE = int(ipaddress.IPv6Address("2001:db8::"))
TIER_X = selectors.LabelSelector({"tier": "x"})
PORTS = [Port("TCP", p) for p in (80, 443, 8080, 8443)] + [Port("UDP", 53)]
KEYS = [ServiceKey(f"{ns}/s{i}") for ns in ("a", "b", "c") for i in range(4)]


def _ip(family: int, offset: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if family == 4:
        return ipaddress.IPv4Address(V4_BASE + offset)
    return ipaddress.IPv6Address(V6_BASE + offset)


@st.composite
def pool_sets(draw: Any) -> list[pool.Pool]:
    """1-3 pools over disjoint 16-address blocks of 198.51.100.0/24 and 2001:db8::/120."""
    blocks = {4: draw(st.permutations(range(16))), 6: draw(st.permutations(range(16)))}
    n = draw(st.integers(1, 3))
    out: list[pool.Pool] = []
    for i in range(n):
        k = draw(st.integers(1, 2))
        rngs = []
        for _ in range(k):
            fam = draw(st.sampled_from([4, 4, 6]))
            blk = blocks[fam].pop()
            first = draw(st.integers(0, 15))
            last = min(15, first + draw(st.integers(0, 3)))
            rngs.append(ranges.AddressRange(_ip(fam, blk * 16 + first), _ip(fam, blk * 16 + last)))
        alloc = draw(
            st.one_of(
                st.none(),
                st.none(),
                st.builds(
                    pool.ServiceAllocation,
                    priority=st.sampled_from([None, 0, 1, 2]),
                    namespaces=st.frozensets(st.sampled_from(["a", "b"]), max_size=2),
                    service_selectors=st.sampled_from([(), (TIER_X,)]),
                ),
            )
        )
        out.append(
            pool.Pool(
                f"p{i}",
                tuple(rngs),
                auto_assign=draw(st.sampled_from([True, True, False])),
                avoid_buggy_ips=draw(st.booleans()),
                allocation=alloc,
            )
        )
    return out


@st.composite
def requests(draw: Any, pool_names: Sequence[str] = ("p0", "p1", "p2")) -> ServiceRequest:
    families = draw(st.sampled_from([(4,), (4,), (4,), (6,), (4, 6), (6, 4)]))
    if len(families) == 2:
        policy = draw(st.sampled_from(["PreferDualStack", "RequireDualStack"]))
    else:
        policy = draw(
            st.sampled_from(["SingleStack"] * 4 + ["PreferDualStack", "RequireDualStack"])
        )
    requested: tuple[Any, ...] = ()
    if draw(st.integers(0, 4)) == 0:
        fam = draw(st.sampled_from([4, 6]))
        requested = (_ip(fam, draw(st.integers(0, 255))),)
    return ServiceRequest(
        draw(st.sampled_from(KEYS)),
        families=families,
        family_policy=policy,
        labels=draw(st.sampled_from([{}, {"tier": "x"}])),
        requested_ips=requested,
        pool=draw(st.sampled_from([None] * 8 + [*pool_names, "nope"])),
        sharing_key=draw(st.sampled_from([None, "k1", "k1", "k2"])),
        traffic_policy=draw(st.sampled_from(["Cluster", "Cluster", "Local"])),
        backend_key=draw(st.sampled_from(["app=x", "app=y"])),
        ports=draw(st.frozensets(st.sampled_from(PORTS), min_size=1, max_size=2)),
    )


def ops(draw: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(["assign"] * 6 + ["release", "set_pools", "edit_pools"]))
        if kind == "assign":
            out.append(("assign", draw(requests())))
        elif kind == "release":
            out.append(("release", draw(st.sampled_from(KEYS))))
        elif kind == "edit_pools":
            out.append(("edit_pools", draw(st.integers(0, 2**16))))
        else:
            out.append(("set_pools", draw(pool_sets())))
    return out


def edit_one_pool(pools: list[pool.Pool], seed: int) -> list[pool.Pool]:
    """Change one pool (the others stay equal): the incremental path of set_pools."""
    if not pools:
        return pools
    rnd = random.Random(seed)
    i = rnd.randrange(len(pools))
    p = pools[i]
    how = rnd.choice(["auto", "buggy", "alloc", "shrink", "drop", "rename"])
    if how == "auto":
        q = dataclasses.replace(p, auto_assign=not p.auto_assign)
    elif how == "buggy":
        q = dataclasses.replace(p, avoid_buggy_ips=not p.avoid_buggy_ips)
    elif how == "alloc":
        q = dataclasses.replace(
            p,
            allocation=None if p.allocation else pool.ServiceAllocation(namespaces=frozenset("a")),
        )
    elif how == "shrink":
        r = p.ranges[0]
        if r.size == 1:
            return pools[:i] + pools[i + 1 :]
        q = dataclasses.replace(p, ranges=(ranges.AddressRange(r.first + 1, r.last), *p.ranges[1:]))
    elif how == "drop":
        return pools[:i] + pools[i + 1 :]
    else:
        q = dataclasses.replace(p, name=p.name + "x")
    return [*pools[:i], q, *pools[i + 1 :]]


def check_invariants(a: allocator.Allocator) -> None:
    snap = a.snapshot()
    pools = a.pools
    holders: dict[Any, list[ServiceRequest]] = {}
    for key, asg in snap.items():
        assert asg.request.key == key
        assert asg.ips
        fams = [x.version for x in asg.ips]
        assert len(set(fams)) == len(fams)
        assert set(fams) <= set(asg.request.families)
        p = pools[asg.pool]
        ns = asg.request.namespace
        assert (
            p.admission(
                namespace=ns,
                namespace_labels=asg.request.namespace_labels,
                service_labels=asg.request.labels,
            )
            is None
        )
        for x in asg.ips:
            assert p.contains(x)
            assert a.pool_of(x) == asg.pool
            holders.setdefault(x, []).append(asg.request)
    for x, reqs in holders.items():
        assert a.holders(x) == tuple(sorted(r.key for r in reqs))
        for r1, r2 in itertools.combinations(reqs, 2):
            assert compatible(r1, r2)
            assert sharing.sharing_problem(r1, r2) is None
    for name in pools:
        u = a.usage(name)
        in_pool = [x for x in holders if a.pool_of(x) == name]
        assert u.in_use_v4 == sum(1 for x in in_pool if x.version == 4)
        assert u.in_use_v6 == sum(1 for x in in_pool if x.version == 6)
        assert u.services == sum(1 for s in snap.values() if s.pool == name)
        assert u.capacity_v4 == sum(
            1
            for r in pools[name].ranges
            if r.family == 4
            for v in range(int(r.first), int(r.last) + 1)
            if pools[name].contains(ipaddress.IPv4Address(v))
        )
    # restore(snapshot(a)) == a
    b = allocator.Allocator()
    b.set_pools(pools.values())
    assert b.restore(snap.values()) == []
    assert b.snapshot() == snap


def compatible(r1: ServiceRequest, r2: ServiceRequest) -> bool:
    """Independent oracle of MetalLB's sharing rule (same key, same backend, no port overlap)."""
    return (
        r1.sharing_key is not None
        and r1.sharing_key == r2.sharing_key
        and r1.traffic_policy == r2.traffic_policy
        and (r1.traffic_policy == "Cluster" or r1.backend_key == r2.backend_key)
        and not (r1.ports & r2.ports)
    )


def first_fit(a: allocator.Allocator, req: ServiceRequest, pool_name: str, family: int) -> Any:
    """Brute force: first usable address of ``family`` in pool order that is free or held only
    by Services compatible with ``req`` (MetalLB first fit)."""
    held: dict[Any, list[ServiceRequest]] = {}
    for k, s in a.snapshot().items():
        if k != req.key:
            for x in s.ips:
                held.setdefault(x, []).append(s.request)
    p = a.pools[pool_name]
    for r in p.ranges:
        if r.family != family:
            continue
        for v in range(int(r.first), int(r.last) + 1):
            x = _ip(family, v - (V4_BASE if family == 4 else V6_BASE))
            if p.contains(x) and all(compatible(req, h) for h in held.get(x, [])):
                return x
    return None


def run_ops(pools: list[pool.Pool], steps: list[tuple[str, Any]], *, check: bool) -> list[Any]:
    a = allocator.Allocator()
    a.set_pools(pools)
    trace: list[Any] = []
    for kind, arg in steps:
        if kind == "assign":
            expect = None
            if (
                check
                and not arg.requested_ips
                and len(arg.families) == 1
                and a.assignment(arg.key) is None
            ):
                expect = arg
            before_preview = a.snapshot()
            preview = a.preview(arg)
            assert a.snapshot() == before_preview
            d = a.assign(arg)
            assert d == preview
            trace.append(d)
            if isinstance(d, decisions.Assigned):
                assert a.snapshot()[arg.key].ips == d.ips
                if expect is not None:
                    assert d.ips == (first_fit(a, arg, d.pool, arg.families[0]),)
            else:
                assert a.assignment(arg.key) is None
                assert d.message
        elif kind == "release":
            trace.append(a.release(arg))
            assert a.assignment(arg) is None
        else:
            if kind == "edit_pools":
                arg = edit_one_pool(list(a.pools.values()), arg)
            before = a.snapshot()
            released = a.set_pools(arg)
            trace.append(released)
            after = a.snapshot()
            assert set(before) - set(after) == released
            new_pools = {p.name: p for p in arg}
            for key in released:  # released only when the new pools cannot hold it
                old = before[key]
                owners = {a.pool_of(x) for x in old.ips}
                name = owners.pop() if len(owners) == 1 else None
                r = old.request
                assert (
                    name is None
                    or (r.pool is not None and r.pool != name)
                    or new_pools[name].admission(
                        namespace=r.namespace,
                        namespace_labels=r.namespace_labels,
                        service_labels=r.labels,
                    )
                    is not None
                )
            for key in after:  # kept Services keep exactly their IPs
                assert after[key].ips == before[key].ips
        if check:
            check_invariants(a)
    trace.append(a.snapshot())
    return trace


@SETTINGS
@given(pools=pool_sets(), data=st.data())
def test_invariants_hold_over_random_operations(pools: list[pool.Pool], data: Any) -> None:
    steps = data.draw(st.composite(lambda draw: ops(draw))())
    run_ops(pools, steps, check=True)


@SETTINGS
@given(pools=pool_sets(), data=st.data())
def test_deterministic_for_same_inputs(pools: list[pool.Pool], data: Any) -> None:
    steps = data.draw(st.composite(lambda draw: ops(draw))())
    assert run_ops(pools, steps, check=False) == run_ops(pools, steps, check=False)


@SETTINGS
@given(
    pools=pool_sets(),
    claims=st.lists(
        st.tuples(requests(), st.lists(st.integers(0, 255), min_size=1, max_size=2)),
        max_size=12,
        unique_by=lambda c: c[0].key,
    ),
    seed=st.integers(0, 2**16),
)
def test_restore_is_order_independent_and_safe(
    pools: list[pool.Pool], claims: list[tuple[ServiceRequest, list[int]]], seed: int
) -> None:
    items = [
        allocator.Assignment(req, tuple(_ip(f, o) for f, o in zip(req.families, offs)), "?")
        for req, offs in claims
    ]
    a = allocator.Allocator()
    a.set_pools(pools)
    conflicts = a.restore(items)
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    b = allocator.Allocator()
    b.set_pools(pools)
    assert b.restore(shuffled) == conflicts
    assert b.snapshot() == a.snapshot()
    check_invariants(a)
    accepted = a.snapshot()
    for item in items:  # accepted claims are kept exactly; refused ones hold nothing
        if item.request.key in accepted:
            assert accepted[item.request.key].ips == item.ips
        else:
            assert any(c.key == item.request.key for c in conflicts)
