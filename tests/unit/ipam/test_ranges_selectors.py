"""Address entries, pools' capacity and admission, label selectors: table-driven."""

from __future__ import annotations

import ipaddress
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipam import pool, ranges, selectors
from ipam.occupancy import RangeOccupancy


@pytest.mark.parametrize(
    ("entry", "first", "last", "size"),
    [
        pytest.param("192.0.2.0/30", "192.0.2.0", "192.0.2.3", 4, id="cidr"),
        pytest.param("192.0.2.5/24", "192.0.2.0", "192.0.2.255", 256, id="cidr-host-bits"),
        pytest.param(" 192.0.2.1 - 192.0.2.3 ", "192.0.2.1", "192.0.2.3", 3, id="range-spaces"),
        pytest.param("192.0.2.7/32", "192.0.2.7", "192.0.2.7", 1, id="single-v4"),
        pytest.param("2001:db8::/128", "2001:db8::", "2001:db8::", 1, id="single-v6"),
        pytest.param(
            "2001:db8::/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", 2**64, id="v6-64"
        ),
        pytest.param(
            "2001:db8::/32",
            "2001:db8::",
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            2**96,
            id="v6-32",
        ),
        pytest.param("10.0.0.0/8", "10.0.0.0", "10.255.255.255", 2**24, id="v4-8"),
    ],
)
def test_parse_address_entry(entry: str, first: str, last: str, size: int) -> None:
    r = ranges.parse_address_entry(entry)
    assert (str(r.first), str(r.last), r.size) == (first, last, size)
    assert r.contains(ipaddress.ip_address(first))
    assert r.contains(ipaddress.ip_address(last))


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("192.0.2.0/33", "invalid CIDR", id="bad-prefix"),
        pytest.param("192.0.2.300/32", "invalid CIDR", id="bad-octet"),
        pytest.param("192.0.2.1-2001:db8::1", "different families", id="mixed-range"),
        pytest.param("192.0.2.x-192.0.2.3", "bad start", id="bad-start"),
        pytest.param("192.0.2.1-192.0.2.", "bad end", id="bad-end"),
        pytest.param("2001:db8::1", "2001:db8::1/128", id="bare-v6"),
        pytest.param("hello", "expected a/n or start-end", id="garbage"),
    ],
)
def test_parse_address_entry_errors(entry: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace(".", r"\.").replace("/", "/")):
        ranges.parse_address_entry(entry)


@pytest.mark.parametrize(
    ("entry", "avoid", "usable"),
    [
        pytest.param("192.0.2.0/24", True, 254, id="slash24-avoid"),
        pytest.param("192.0.2.0/24", False, 256, id="slash24"),
        pytest.param("192.0.2.0/29", True, 7, id="c39-slash29"),
        pytest.param("192.0.2.252/30", True, 3, id="c04-top"),
        pytest.param("192.0.2.255-192.0.3.0", True, 0, id="only-buggy"),
        pytest.param("10.0.0.0/12", True, 2**20 // 256 * 254, id="slash12-avoid"),
        pytest.param("2001:db8::/120", True, 256, id="v6-unaffected"),
    ],
)
def test_usable_size_matches_brute_force(entry: str, avoid: bool, usable: int) -> None:
    r = ranges.parse_address_entry(entry)
    assert r.usable_size(avoid_buggy_ips=avoid) == usable
    if r.size <= 4096:
        p = pool.Pool("p", (r,), avoid_buggy_ips=avoid)
        ips = [ipaddress.ip_address(v) for v in range(int(r.first), int(r.last) + 1)]
        brute = [ip for ip in ips if p.contains(ip)]
        assert len(brute) == usable
        occ = RangeOccupancy(r, avoid_buggy_ips=avoid)
        assert [occ.address(o) for o in range(occ.size)] == [int(ip) for ip in brute]
        assert [occ.ordinal(int(ip)) for ip in brute] == list(range(usable))


def test_range_helpers() -> None:
    r = ranges.parse_address_entry("203.0.113.1-203.0.113.126")
    assert r.widest_prefix_len() == 27
    assert str(r) == "203.0.113.1-203.0.113.126"
    assert str(ranges.parse_address_entry("203.0.113.0/25")) == "203.0.113.0/25"
    assert r.overlaps(ranges.parse_address_entry("203.0.113.126/31"))
    assert not r.overlaps(ranges.parse_address_entry("203.0.113.127/32"))
    assert not r.overlaps(ranges.parse_address_entry("2001:db8::/32"))
    with pytest.raises(ValueError, match="after"):
        ranges.AddressRange(ipaddress.IPv4Address("10.0.0.2"), ipaddress.IPv4Address("10.0.0.1"))


def test_pool_capacity_exact_for_huge_pools() -> None:
    p = pool.Pool(
        "big",
        (ranges.parse_address_entry("2001:db8::/64"), ranges.parse_address_entry("10.0.0.0/24")),
    )
    assert p.capacity(6) == 2**64
    assert p.capacity(4) == 256
    assert p.capacity() == 2**64 + 256
    assert p.families == frozenset({4, 6})


SEL_WEB = selectors.LabelSelector({"app": "web"})
SEL_EXPR = selectors.LabelSelector.from_raw(
    {
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "team", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
        ]
    }
)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        pytest.param(selectors.LabelSelector(), {}, True, id="empty-matches-nothing-labelled"),
        pytest.param(selectors.LabelSelector(), {"x": "y"}, True, id="empty-matches-all"),
        pytest.param(SEL_WEB, {"app": "web", "x": "y"}, True, id="labels-subset"),
        pytest.param(SEL_WEB, {"app": "db"}, False, id="labels-differ"),
        pytest.param(SEL_WEB, {}, False, id="labels-missing"),
        pytest.param(SEL_EXPR, {"tier": "a", "team": "t"}, True, id="expr-all-hold"),
        pytest.param(SEL_EXPR, {"tier": "c", "team": "t"}, False, id="expr-in-fails"),
        pytest.param(
            SEL_EXPR, {"tier": "a", "team": "t", "env": "prod"}, False, id="expr-notin-fails"
        ),
        pytest.param(SEL_EXPR, {"tier": "a"}, False, id="expr-exists-fails"),
        pytest.param(
            SEL_EXPR, {"tier": "a", "team": "t", "legacy": ""}, False, id="expr-doesnotexist-fails"
        ),
    ],
)
def test_selector_matches(
    selector: selectors.LabelSelector, labels: dict[str, str], expected: bool
) -> None:
    assert selector.matches(labels) is expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        pytest.param({"matchLabels": {"a": 1}}, "matchLabels.a", id="label-not-string"),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Is"}]},
            r"matchExpressions\[0\]\.operator",
            id="bad-operator",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "needs at least one value",
            id="in-without-values",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "takes no values",
            id="exists-with-values",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["x", "x"]}]},
            "duplicate value",
            id="duplicate-value",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists"}] * 2},
            "duplicate match expression",
            id="duplicate-expression",
        ),
        pytest.param({"matchLabel": {}}, "unknown selector field", id="typo-field"),
    ],
)
def test_selector_from_raw_errors(raw: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        selectors.LabelSelector.from_raw(raw)


def test_selector_value_semantics() -> None:
    a = selectors.LabelSelector({"b": "2", "a": "1"})
    b = selectors.LabelSelector.from_raw({"matchLabels": {"a": "1", "b": "2"}})
    assert a == b
    assert hash(a) == hash(b)
    assert str(a) == "a=1,b=2"
    assert pickle.loads(pickle.dumps(a)) == a
    assert str(SEL_EXPR) == "tier in (a,b),env notin (prod),team,!legacy"


ALLOC_NS = pool.ServiceAllocation(namespaces=frozenset({"prod"}))
ALLOC_NS_SEL = pool.ServiceAllocation(namespace_selectors=(selectors.LabelSelector({"t": "x"}),))
ALLOC_SVC = pool.ServiceAllocation(service_selectors=(SEL_WEB,))
ALLOC_BOTH = pool.ServiceAllocation(namespaces=frozenset({"prod"}), service_selectors=(SEL_WEB,))


@pytest.mark.parametrize(
    ("alloc", "namespace", "ns_labels", "svc_labels", "admitted"),
    [
        pytest.param(pool.ServiceAllocation(priority=5), "any", {}, {}, True, id="priority-only"),
        pytest.param(ALLOC_NS, "prod", {}, {}, True, id="namespace-listed"),
        pytest.param(ALLOC_NS, "dev", {}, {}, False, id="namespace-not-listed"),
        pytest.param(ALLOC_NS_SEL, "dev", {"t": "x"}, {}, True, id="namespace-selector"),
        pytest.param(ALLOC_NS_SEL, "dev", {"t": "y"}, {}, False, id="namespace-selector-miss"),
        pytest.param(ALLOC_SVC, "dev", {}, {"app": "web"}, True, id="service-selector"),
        pytest.param(ALLOC_SVC, "dev", {}, {"app": "db"}, False, id="service-selector-miss"),
        pytest.param(ALLOC_BOTH, "prod", {}, {"app": "web"}, True, id="both-hold"),
        pytest.param(ALLOC_BOTH, "dev", {}, {"app": "web"}, False, id="and-namespace-fails"),
        pytest.param(ALLOC_BOTH, "prod", {}, {"app": "db"}, False, id="and-selector-fails"),
    ],
)
def test_service_allocation_admission(
    alloc: pool.ServiceAllocation,
    namespace: str,
    ns_labels: dict[str, str],
    svc_labels: dict[str, str],
    admitted: bool,
) -> None:
    why = alloc.admission(
        namespace=namespace, namespace_labels=ns_labels, service_labels=svc_labels
    )
    assert (why is None) is admitted
    if why is not None:
        assert "serviceAllocation" in why


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=16), c, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(
    raw=st.one_of(
        JUNK,
        st.fixed_dictionaries(
            {},
            optional={
                "matchLabels": JUNK,
                "matchExpressions": st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "key": JUNK,
                            "operator": st.sampled_from(["In", "NotIn", "Exists", "X"]) | JUNK,
                            "values": JUNK,
                        },
                    ),
                    max_size=3,
                ),
            },
        ),
    )
)
def test_selector_from_raw_only_raises_value_error(raw: Any) -> None:
    try:
        sel = selectors.LabelSelector.from_raw(raw)
    except ValueError:
        return
    assert isinstance(sel.matches({"a": "b"}), bool)


@settings(max_examples=200, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.from_regex(
            r"\s*[0-9a-f:.]{1,20}(/[0-9]{1,3}|\s*-\s*[0-9a-f:.]{1,20})?\s*", fullmatch=True
        ),
    )
)
def test_parse_address_entry_only_raises_value_error(text: str) -> None:
    try:
        r = ranges.parse_address_entry(text)
    except ValueError as exc:
        message = str(exc)
    else:
        message = ""
        assert r.size >= 1
        return
    assert message
