"""Which addresses of one address range are in use, without enumerating the range.

Each :class:`RangeOccupancy` maps the allocatable addresses of an :class:`~ipam.ranges.AddressRange`
onto ordinals ``0 .. size-1`` (skipping IPv4 .0/.255 when ``avoidBuggyIPs`` is set) and keeps the
used ordinals as sorted, disjoint, maximal runs ``[start, end]``. Hence:

* the lowest free ordinal is ``0`` or ``end of the first run + 1``: O(1);
* marking used / free is a binary search plus at most one list insert or delete: O(log r) search,
  O(r) memmove, with ``r`` = number of runs <= number of used addresses;
* memory grows with the runs, never with the range size (an empty /64 costs what an empty /24
  costs).

MetalLB instead scans each CIDR from its first address (``getIPFromCIDR``), O(used) per
allocation.
"""

from __future__ import annotations

from bisect import bisect_right

from ipam.ranges import AddressRange, usable_below_v4


class RangeOccupancy:
    """Used addresses of one range as sorted runs of ordinals.

    Args:
        rng: the address range.
        avoid_buggy_ips: exclude IPv4 addresses ending in .0 or .255 from the ordinal space.
    """

    __slots__ = ("_ends", "_starts", "base", "buggy", "first", "last", "range", "size", "used")

    def __init__(self, rng: AddressRange, *, avoid_buggy_ips: bool) -> None:
        self.range = rng
        self.buggy = avoid_buggy_ips and rng.family == 4
        self.first = int(rng.first)
        self.last = int(rng.last)
        self.base = usable_below_v4(self.first) if self.buggy else self.first
        self.size = rng.usable_size(avoid_buggy_ips=avoid_buggy_ips)
        self.used = 0
        self._starts: list[int] = []
        self._ends: list[int] = []

    def ordinal(self, ip: int) -> int | None:
        """Ordinal of integer address ``ip``, or ``None`` if not allocatable in this range."""
        if ip < self.first or ip > self.last:
            return None
        if self.buggy:
            low = ip & 0xFF
            if low == 0 or low == 255:
                return None
            return usable_below_v4(ip) - self.base
        return ip - self.base

    def address(self, ordinal: int) -> int:
        """Integer address of ``ordinal`` (inverse of :meth:`ordinal`)."""
        u = ordinal + self.base
        if self.buggy:
            block, within = divmod(u, 254)
            return (block << 8) + within + 1
        return u

    def lowest_free(self) -> int | None:
        """Lowest free ordinal, or ``None`` when every address is used."""
        if not self._starts or self._starts[0] > 0:
            return 0 if self.size > 0 else None
        nxt = self._ends[0] + 1
        return nxt if nxt < self.size else None

    def is_used(self, ordinal: int) -> bool:
        """Return whether ``ordinal`` is marked used."""
        i = bisect_right(self._starts, ordinal) - 1
        return i >= 0 and self._ends[i] >= ordinal

    def add(self, ordinal: int) -> None:
        """Mark a free ordinal used (merging with adjacent runs)."""
        starts, ends = self._starts, self._ends
        i = bisect_right(starts, ordinal)
        if i > 0 and ends[i - 1] >= ordinal:
            raise ValueError(f"ordinal {ordinal} is already used")
        left = i > 0 and ends[i - 1] == ordinal - 1
        right = i < len(starts) and starts[i] == ordinal + 1
        if left and right:
            ends[i - 1] = ends[i]
            del starts[i]
            del ends[i]
        elif left:
            ends[i - 1] = ordinal
        elif right:
            starts[i] = ordinal
        else:
            starts.insert(i, ordinal)
            ends.insert(i, ordinal)
        self.used += 1

    def remove(self, ordinal: int) -> None:
        """Mark a used ordinal free (splitting its run if needed)."""
        starts, ends = self._starts, self._ends
        i = bisect_right(starts, ordinal) - 1
        if i < 0 or ends[i] < ordinal:
            raise ValueError(f"ordinal {ordinal} is not used")
        start, end = starts[i], ends[i]
        if start == end:
            del starts[i]
            del ends[i]
        elif ordinal == start:
            starts[i] = ordinal + 1
        elif ordinal == end:
            ends[i] = ordinal - 1
        else:
            ends[i] = ordinal - 1
            starts.insert(i + 1, ordinal + 1)
            ends.insert(i + 1, end)
        self.used -= 1

    @property
    def runs(self) -> int:
        """Number of used runs (for tests and memory accounting)."""
        return len(self._starts)
