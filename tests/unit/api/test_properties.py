"""Property tests: the compiler's cross-object rules against brute-force oracles."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ingot.api.compile import ClusterResources, compile_config

NS = "metallb-system"
BASE = int(ipaddress.IPv4Address("198.51.100.0"))


def pool(name: str, entries: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"addresses": entries, **spec},
    }


@st.composite
def entry(draw: st.DrawFn) -> tuple[str, int, int]:
    """A CIDR or range inside 198.51.100.0/24, with its inclusive integer bounds."""
    if draw(st.booleans()):
        prefix = draw(st.integers(26, 32))
        size = 2 ** (32 - prefix)
        first = BASE + draw(st.integers(0, 256 // size - 1)) * size
        return f"{ipaddress.IPv4Address(first)}/{prefix}", first, first + size - 1
    a = draw(st.integers(0, 255))
    b = draw(st.integers(a, min(255, a + 40)))
    text = f"{ipaddress.IPv4Address(BASE + a)}-{ipaddress.IPv4Address(BASE + b)}"
    return text, BASE + a, BASE + b


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(entry(), min_size=1, max_size=3), min_size=1, max_size=4))
def test_overlap_detected_iff_any_two_entries_share_an_address(pools: list[Any]) -> None:
    flat = [(i, j, lo, hi) for i, p in enumerate(pools) for j, (_, lo, hi) in enumerate(p)]
    expected = {
        (a[0], a[1])
        for a in flat
        for b in flat
        if (a[0], a[1]) != (b[0], b[1]) and a[2] <= b[3] and b[2] <= a[3]
    }
    objects = [pool(f"p{i}", [text for text, _, _ in p]) for i, p in enumerate(pools)]
    result = compile_config(ClusterResources.from_objects(objects), namespace=NS)
    flagged = {
        (int(e.name[1:]), int(e.path.split("[")[1].rstrip("]")))
        for e in result.errors
        if "overlaps" in e.message
    }
    assert bool(flagged) == bool(expected)
    assert flagged <= expected  # never a false accusation
    assert result.ok == (not expected)


@settings(max_examples=200, deadline=None)
@given(entry(), st.integers(1, 32))
def test_aggregation_accepted_iff_no_shorter_than_widest_piece(e: Any, agg: int) -> None:
    """MetalLB ``validateBGPAdvPerPool``: agg >= the widest CIDR the entry summarises to."""
    text, lo, hi = e
    nets = ipaddress.summarize_address_range(ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi))
    widest = min(n.prefixlen for n in nets)
    adv = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": {"name": "agg", "namespace": NS},
        "spec": {"ipAddressPools": ["p"], "aggregationLength": agg},
    }
    result = compile_config(ClusterResources.from_objects([pool("p", [text]), adv]), namespace=NS)
    assert result.ok == (agg >= widest), result.summary()
    if not result.ok:
        assert f"/{widest}" in result.summary()
