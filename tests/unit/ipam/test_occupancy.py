"""RangeOccupancy against a plain-set model (hypothesis), plus edge cases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipam import ranges
from ipam.occupancy import RangeOccupancy


@settings(max_examples=80, deadline=None)
@given(
    entry=st.sampled_from(
        ["192.0.2.250-192.0.3.5", "10.0.0.0/28", "2001:db8::/124", "192.0.2.255/32"]
    ),
    avoid=st.booleans(),
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=60),
)
def test_matches_set_model(entry: str, avoid: bool, ops: list[tuple[bool, int]]) -> None:
    occ = RangeOccupancy(ranges.parse_address_entry(entry), avoid_buggy_ips=avoid)
    model: set[int] = set()
    for add, raw in ops:
        if occ.size == 0:
            assert occ.lowest_free() is None
            return
        o = raw % occ.size
        if add and o not in model:
            occ.add(o)
            model.add(o)
        elif not add and o in model:
            occ.remove(o)
            model.discard(o)
        free = [i for i in range(occ.size) if i not in model]
        assert occ.lowest_free() == (free[0] if free else None)
        assert occ.used == len(model)
        assert all(occ.is_used(i) == (i in model) for i in range(occ.size))
        assert occ.runs <= len(model)


def test_double_add_and_remove_refused() -> None:
    occ = RangeOccupancy(ranges.parse_address_entry("10.0.0.0/30"), avoid_buggy_ips=False)
    occ.add(1)
    with pytest.raises(ValueError, match="already used"):
        occ.add(1)
    with pytest.raises(ValueError, match="not used"):
        occ.remove(2)


def test_huge_range_costs_nothing_until_used() -> None:
    occ = RangeOccupancy(ranges.parse_address_entry("2001:db8::/48"), avoid_buggy_ips=False)
    assert occ.size == 2**80
    occ.add(2**80 - 1)
    occ.add(0)
    assert occ.lowest_free() == 1
    assert occ.runs == 2
    assert occ.address(2**80 - 1) == int(ranges.parse_address_entry("2001:db8::/48").last)
