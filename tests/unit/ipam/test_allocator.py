"""Sequential scenario tables for the stateful allocator (MetalLB TestAssignment style).

Each scenario is a list of steps; after every step the inputs are checked to be unmutated.
Steps: ("pools", [Pool...], released_keys) | ("assign", request, expected) |
("release", key, released_ips). ``expected`` is a tuple ``(pool, ip, ...)`` for Assigned, or a
Reason class, optionally with a message fragment: ``(ReasonClass, "fragment")``.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest

from ipam import allocator, decisions, pool, ranges, selectors
from ipam.request import Port, ServiceKey, ServiceRequest


def P(name: str, *entries: str, **kw: Any) -> pool.Pool:  # noqa: N802
    return pool.Pool(name, tuple(ranges.parse_address_entry(e) for e in entries), **kw)


def R(key: str, **kw: Any) -> ServiceRequest:  # noqa: N802
    kw.setdefault("ports", frozenset({Port("TCP", 80)}))
    if "requested_ips" in kw:
        kw["requested_ips"] = tuple(ipaddress.ip_address(x) for x in kw["requested_ips"])
    return ServiceRequest(ServiceKey(key if "/" in key else f"demo/{key}"), **kw)


def K(name: str) -> ServiceKey:  # noqa: N802
    return ServiceKey(f"demo/{name}")


KEEP = "kept"
PRIO1 = pool.ServiceAllocation(priority=1)
PRIO2 = pool.ServiceAllocation(priority=2)
NS_PROD = pool.ServiceAllocation(namespaces=frozenset({"prod"}))
WEB_ONLY = pool.ServiceAllocation(service_selectors=(selectors.LabelSelector({"app": "web"}),))
V4 = P("v4", "192.0.2.0/30")
V6 = P("v6", "2001:db8::/126")
DUAL = P("dual", "198.51.100.0/30", "2001:db8:1::/126")

SCENARIOS = [
    pytest.param(
        [
            ("pools", [V4, DUAL], set()),
            (
                "assign",
                R("a", families=(4, 6), family_policy="RequireDualStack"),
                ("dual", "198.51.100.0", "2001:db8:1::"),
            ),
            (
                "assign",
                R("b", families=(6, 4), family_policy="RequireDualStack"),
                ("dual", "198.51.100.1", "2001:db8:1::1"),
            ),
        ],
        id="require-dual-takes-dual-pool-ipv4-first",
    ),
    pytest.param(
        [
            ("pools", [V4], set()),
            (
                "assign",
                R("a", families=(4, 6), family_policy="RequireDualStack"),
                (decisions.NoAddressAvailable, "has no IPv6 addresses"),
            ),
            (
                "assign",
                R("a", families=(4,), family_policy="RequireDualStack"),
                decisions.NotEnoughClusterIPs,
            ),
        ],
        id="require-dual-without-dual-pool",
    ),
    pytest.param(
        [
            ("pools", [P("p", "192.0.2.0/30")], set()),
            (
                "assign",
                R("a", families=(4, 6), family_policy="PreferDualStack"),
                ("p", "192.0.2.0"),
            ),
            ("pools", [P("p", "192.0.2.0/30", "2001:db8::/126")], set()),
            (
                "assign",
                R("a", families=(4, 6), family_policy="PreferDualStack"),
                ("p", "192.0.2.0", "2001:db8::"),
            ),
            (
                "assign",
                R("a", families=(4, 6), family_policy="PreferDualStack"),
                (KEEP, "p", "192.0.2.0", "2001:db8::"),
            ),
        ],
        id="prefer-dual-adds-missing-family-from-same-pool",
    ),
    pytest.param(
        [
            ("pools", [V4, V6], set()),
            (
                "assign",
                R("a", families=(6, 4), family_policy="PreferDualStack"),
                ("v6", "2001:db8::"),
            ),
            (
                "assign",
                R("b", families=(4, 6), family_policy="PreferDualStack"),
                ("v4", "192.0.2.0"),
            ),
        ],
        id="prefer-dual-falls-back-to-primary-family",
    ),
    pytest.param(
        [
            ("pools", [P("b-pool", "192.0.2.0/30"), P("a-pool", "192.0.2.4/30")], set()),
            ("assign", R("a"), ("a-pool", "192.0.2.4")),
        ],
        id="generic-pools-by-name",
    ),
    pytest.param(
        [
            (
                "pools",
                [
                    P("z-none", "192.0.2.0/31", allocation=pool.ServiceAllocation()),
                    P("y-two", "192.0.2.2/31", allocation=PRIO2),
                    P("x-one", "192.0.2.4/31", allocation=PRIO1),
                    P("a-generic", "192.0.2.6/31"),
                ],
                set(),
            ),
            ("assign", R("s1"), ("x-one", "192.0.2.4")),
            ("assign", R("s2"), ("x-one", "192.0.2.5")),
            ("assign", R("s3"), ("y-two", "192.0.2.2")),
            ("assign", R("s4"), ("y-two", "192.0.2.3")),
            ("assign", R("s5"), ("z-none", "192.0.2.0")),
            ("assign", R("s6"), ("z-none", "192.0.2.1")),
            ("assign", R("s7"), ("a-generic", "192.0.2.6")),
        ],
        id="priority-then-unprioritised-then-generic",
    ),
    pytest.param(
        [
            (
                "pools",
                [P("prod-only", "192.0.2.0/31", allocation=NS_PROD), P("any", "192.0.2.8/31")],
                set(),
            ),
            ("assign", R("dev/s"), ("any", "192.0.2.8")),
            ("assign", R("prod/s"), ("prod-only", "192.0.2.0")),
            (
                "assign",
                R("dev/t", pool="prod-only"),
                (decisions.PoolNotAdmitting, "namespace 'dev'"),
            ),
        ],
        id="namespace-restricted-pool",
    ),
    pytest.param(
        [
            ("pools", [P("web", "192.0.2.0/31", allocation=WEB_ONLY, auto_assign=False)], set()),
            (
                "assign",
                R("a", labels={"app": "web"}),
                (decisions.NoAddressAvailable, "autoAssign is false"),
            ),
            (
                "assign",
                R("a", labels={"app": "db"}, pool="web"),
                (decisions.PoolNotAdmitting, "serviceSelectors"),
            ),
            ("assign", R("a", labels={"app": "web"}, pool="web"), ("web", "192.0.2.0")),
            (
                "assign",
                R("b", labels={"app": "web"}, requested_ips=["192.0.2.1"]),
                ("web", "192.0.2.1"),
            ),
        ],
        id="autoassign-off-used-on-request",
    ),
    pytest.param(
        [
            ("pools", [V4, V6, P("home", "203.0.113.0/30", allocation=NS_PROD)], set()),
            (
                "assign",
                R(
                    "a",
                    families=(4, 6),
                    family_policy="RequireDualStack",
                    requested_ips=["192.0.2.1", "2001:db8::1"],
                ),
                (decisions.RequestedIPsInDifferentPools, "192.0.2.1 in v4"),
            ),
            (
                "assign",
                R("a", requested_ips=["192.0.2.1"], pool="v6"),
                (decisions.RequestedPoolMismatch, "not to the requested pool v6"),
            ),
            (
                "assign",
                R("a", requested_ips=["203.0.113.1"]),
                (decisions.PoolNotAdmitting, "pool home"),
            ),
            (
                "assign",
                R("a", requested_ips=["198.51.100.1"]),
                (decisions.RequestedIPNotInPool, "outside every IPAddressPool"),
            ),
            ("assign", R("a", pool="nope"), (decisions.UnknownPool, "'nope'")),
            (
                "assign",
                R(
                    "a",
                    requested_ips=["2001:db8::2", "192.0.2.2"],
                    families=(4, 6),
                    family_policy="PreferDualStack",
                ),
                (decisions.RequestedIPsInDifferentPools, ""),
            ),
            (
                "assign",
                R(
                    "a",
                    requested_ips=["192.0.2.2"],
                    families=(4, 6),
                    family_policy="PreferDualStack",
                ),
                ("v4", "192.0.2.2"),
            ),
            ("assign", R("a", requested_ips=["192.0.2.3"]), ("v4", "192.0.2.3")),
            ("release", K("a"), ["192.0.2.3"]),
            ("release", K("a"), []),
        ],
        id="requested-ip-rules",
    ),
    pytest.param(
        [
            ("pools", [V4], set()),
            ("assign", R("a", sharing_key="k"), ("v4", "192.0.2.0")),
            ("assign", R("b", sharing_key="k"), ("v4", "192.0.2.1")),
            ("release", K("b"), ["192.0.2.1"]),
            (
                "assign",
                R("b", sharing_key="k", requested_ips=["192.0.2.0"]),
                (decisions.SharingConflict, "TCP/80 already used by demo/a"),
            ),
            (
                "assign",
                R("b", sharing_key="j", requested_ips=["192.0.2.0"]),
                (decisions.SharingConflict, "sharing key 'j' differs"),
            ),
            (
                "assign",
                R("b", sharing_key="k", ports=frozenset({Port("UDP", 80)})),
                ("v4", "192.0.2.0"),
            ),
            ("assign", R("c"), ("v4", "192.0.2.1")),
            ("release", K("a"), ["192.0.2.0"]),
            (
                "assign",
                R("b", sharing_key="other", ports=frozenset({Port("UDP", 80)})),
                (KEEP, "v4", "192.0.2.0"),
            ),
            (
                "assign",
                R("d", sharing_key="other", ports=frozenset({Port("TCP", 443)})),
                ("v4", "192.0.2.0"),
            ),
        ],
        id="sharing-packs-compatible-and-sole-user-may-change-key",
    ),
    pytest.param(
        [
            ("pools", [P("old", "192.0.2.0/30")], set()),
            ("assign", R("a"), ("old", "192.0.2.0")),
            ("assign", R("b", requested_ips=["192.0.2.3"]), ("old", "192.0.2.3")),
            ("pools", [P("new", "192.0.2.0/29")], set()),
            ("assign", R("a"), (KEEP, "new", "192.0.2.0")),
            ("assign", R("b", requested_ips=["192.0.2.3"]), (KEEP, "new", "192.0.2.3")),
            ("assign", R("b", requested_ips=["192.0.2.5"]), ("new", "192.0.2.5")),
            ("assign", R("c"), ("new", "192.0.2.1")),
            ("pools", [P("new", "192.0.2.0/29", allocation=NS_PROD)], {K("a"), K("b"), K("c")}),
            ("pools", [], set()),
            ("assign", R("a"), decisions.NoPools),
        ],
        id="pool-edits-reattribute-or-release",
    ),
    pytest.param(
        [
            ("pools", [P("p", "192.0.2.10/31", "192.0.2.0/31")], set()),
            ("assign", R("a"), ("p", "192.0.2.10")),
            ("assign", R("b"), ("p", "192.0.2.11")),
            ("assign", R("c"), ("p", "192.0.2.0")),
        ],
        id="entries-in-spec-order",
    ),
    pytest.param(
        [
            ("pools", [P("p", "192.0.2.0/30")], set()),
            (
                "assign",
                R("a", family_policy="SingleStack", families=(6,)),
                (decisions.NoAddressAvailable, "pool p: has no IPv6 addresses"),
            ),
        ],
        id="family-verdict",
    ),
]


def _check(got: decisions.Decision, expected: Any) -> None:
    if isinstance(expected, tuple) and isinstance(expected[0], str):
        kept = expected[0] == KEEP
        want = expected[1:] if kept else expected
        assert isinstance(got, decisions.Assigned), got
        assert (got.pool, *map(str, got.ips)) == want
        assert got.kept is kept
        return
    cls, fragment = expected if isinstance(expected, tuple) else (expected, "")
    assert isinstance(got, decisions.Pending), got
    assert isinstance(got.reason, cls), got.reason
    assert fragment in got.message
    assert got.reason.code


@pytest.mark.parametrize("steps", SCENARIOS)
def test_scenario(steps: list[tuple[str, Any, Any]]) -> None:
    a = allocator.Allocator()
    for i, (op, arg, expected) in enumerate(steps):
        frozen = copy.deepcopy(arg)
        if op == "pools":
            assert a.set_pools(arg) == expected, f"step {i}"
        elif op == "assign":
            _check(a.assign(arg), expected)
        else:
            assert [str(x) for x in a.release(arg)] == expected, f"step {i}"
        assert arg == frozen, f"step {i} mutated its input"


def test_overlapping_pools_refused_and_state_kept() -> None:
    a = allocator.Allocator()
    a.set_pools([V4])
    a.assign(R("a"))
    before = a.snapshot()
    with pytest.raises(ValueError, match="pools v4 and w overlap at 192.0.2.2"):
        a.set_pools([V4, P("w", "192.0.2.2-192.0.2.9")])
    with pytest.raises(ValueError, match="overlapping address entries"):
        a.set_pools([P("x", "192.0.2.0/30", "192.0.2.1/32")])
    with pytest.raises(ValueError, match="duplicate pool name"):
        a.set_pools([V4, P("v4", "10.0.0.0/8")])
    assert a.snapshot() == before
    assert a.pools == {"v4": V4}


def test_usage_exact_for_slash64() -> None:
    a = allocator.Allocator()
    a.set_pools([P("big", "2001:db8::/64", "192.0.2.0/24")])
    a.assign(R("a", families=(6,)))
    u = a.usage("big")
    assert (u.capacity_v6, u.in_use_v6, u.available_v6) == (2**64, 1, 2**64 - 1)
    assert (u.capacity_v4, u.in_use_v4) == (256, 0)
    assert a.usages() == {"big": u}


def test_requested_ip_at_end_of_slash64_is_cheap() -> None:
    a = allocator.Allocator()
    a.set_pools([P("big", "2001:db8::/64")])
    last = "2001:db8::ffff:ffff:ffff:ffff"
    got = a.assign(R("a", families=(6,), requested_ips=[last]))
    assert isinstance(got, decisions.Assigned)
    assert str(got.ips[0]) == last
    got = a.assign(R("b", families=(6,)))
    assert isinstance(got, decisions.Assigned)
    assert str(got.ips[0]) == "2001:db8::"
    assert a.pool_of(ipaddress.ip_address(last)) == "big"
    assert a.holders(ipaddress.ip_address(last)) == (K("a"),)


def test_restore_refuses_stale_claims_with_reasons() -> None:
    a = allocator.Allocator()
    a.set_pools([V4, V6])
    claims = [
        allocator.Assignment(R("a"), (ipaddress.ip_address("198.51.100.1"),), "?"),
        allocator.Assignment(R("b", families=(6,)), (ipaddress.ip_address("192.0.2.1"),), "?"),
        allocator.Assignment(
            R("c", requested_ips=["192.0.2.2"]), (ipaddress.ip_address("192.0.2.1"),), "?"
        ),
        allocator.Assignment(R("d"), (ipaddress.ip_address("192.0.2.3"),), "?"),
    ]
    conflicts = a.restore(claims)
    assert [(c.key, type(c.reason)) for c in conflicts] == [
        (K("a"), decisions.RequestedIPNotInPool),
        (K("b"), decisions.FamilyMismatch),
        (K("c"), decisions.StaleAssignment),
    ]
    assert all(c.message.startswith(c.key) for c in conflicts)
    assert list(a.snapshot()) == [K("d")]
    with pytest.raises(ValueError, match="two claims"):
        a.restore(claims[3:] * 2)
