"""Address ranges: one ``IPAddressPool.spec.addresses`` entry as an inclusive first..last range.

MetalLB accepts each entry as a CIDR (``10.0.0.0/24``, ``fc00::/120``) or a range
``start-end`` (whitespace trimmed, start <= end); see ``internal/config/config.go`` ``ParseCIDR``.
ingot keeps an entry as one inclusive range instead of summarising it into CIDRs, so sizes are
exact Python ints for any prefix (an IPv6 /64 is 2**64 addresses, no overflow).

"Buggy" addresses (MetalLB ``avoidBuggyIPs``): IPv4 addresses whose last octet is 0 or 255,
i.e. the first and last address of every /24, which some old firmware mis-handles.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def ip_family(ip: IPAddress) -> int:
    """Return 4 or 6."""
    return ip.version


def is_buggy(ip: IPAddress) -> bool:
    """Return whether ``ip`` is an IPv4 ``.0`` or ``.255`` address (MetalLB avoidBuggyIPs)."""
    return ip.version == 4 and int(ip) & 0xFF in (0, 255)


def usable_below_v4(x: int) -> int:
    """Number of non-buggy IPv4 integers in ``[0, x)`` (254 per /24)."""
    return (x >> 8) * 254 + min(max((x & 0xFF) - 1, 0), 254)


@dataclass(frozen=True, order=True)
class AddressRange:
    """An inclusive range of addresses of one family.

    Attributes:
        first: the first address (inclusive).
        last: the last address (inclusive), same family, ``first <= last``.

    Raises:
        ValueError: families differ or ``first > last``.
    """

    first: IPAddress
    last: IPAddress

    def __post_init__(self) -> None:
        if self.first.version != self.last.version:
            raise ValueError(f"range {self.first}-{self.last} mixes IPv4 and IPv6")
        if int(self.first) > int(self.last):
            raise ValueError(f"range start {self.first} is after its end {self.last}")

    @property
    def family(self) -> int:
        """4 or 6."""
        return self.first.version

    @property
    def size(self) -> int:
        """Exact number of addresses (``last - first + 1``), any size."""
        return int(self.last) - int(self.first) + 1

    def contains(self, ip: IPAddress) -> bool:
        """Return whether ``ip`` (of any family) lies in this range."""
        return ip.version == self.family and int(self.first) <= int(ip) <= int(self.last)

    def overlaps(self, other: AddressRange) -> bool:
        """Return whether the two ranges share at least one address."""
        return (
            self.family == other.family
            and int(self.first) <= int(other.last)
            and int(other.first) <= int(self.last)
        )

    def usable_size(self, *, avoid_buggy_ips: bool) -> int:
        """Number of allocatable addresses; with ``avoid_buggy_ips`` IPv4 .0/.255 are excluded."""
        if not avoid_buggy_ips or self.family == 6:
            return self.size
        return usable_below_v4(int(self.last) + 1) - usable_below_v4(int(self.first))

    def cidrs(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The range summarised into the fewest CIDRs, in address order (as MetalLB does)."""
        return tuple(ipaddress.summarize_address_range(self.first, self.last))

    def widest_prefix_len(self) -> int:
        """Shortest prefix length among :meth:`cidrs` (for BGP aggregation-length checks)."""
        return min(n.prefixlen for n in self.cidrs())

    def __str__(self) -> str:
        if self.first == self.last:
            return f"{self.first}/{self.first.max_prefixlen}"
        nets = self.cidrs()
        if len(nets) == 1:
            return str(nets[0])
        return f"{self.first}-{self.last}"


def parse_address_entry(text: str) -> AddressRange:
    """Parse one ``spec.addresses`` entry: a CIDR ``a/n`` or a range ``a-b``.

    Host bits in a CIDR are ignored, as Go's ``net.ParseCIDR`` does (``10.0.0.5/24`` is the
    whole /24). A bare address without ``/32`` or ``/128`` is refused, as MetalLB does
    ("invalid CIDR"), with a hint to write it as ``a/32``, ``a/128`` or ``a-a`` (case C10).

    Args:
        text: the entry, surrounding whitespace allowed.

    Returns:
        The inclusive range.

    Raises:
        ValueError: with a message that quotes the entry and says what is wrong.
    """
    entry = text.strip()
    if not entry:
        raise ValueError("empty address entry")
    if "," in entry or (" " in entry and "-" not in entry):
        raise ValueError(f"{entry!r} holds several values; write one CIDR or range per list entry")
    if "/" in entry:
        try:
            net = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"invalid CIDR {entry!r}") from None
        return AddressRange(net.network_address, net.broadcast_address)
    if "-" in entry:
        start_s, _, end_s = entry.partition("-")
        try:
            start = ipaddress.ip_address(start_s.strip())
        except ValueError:
            raise ValueError(f"invalid range {entry!r}: bad start address {start_s!r}") from None
        try:
            end = ipaddress.ip_address(end_s.strip())
        except ValueError:
            raise ValueError(f"invalid range {entry!r}: bad end address {end_s!r}") from None
        if start.version != end.version:
            raise ValueError(f"invalid range {entry!r}: start and end are of different families")
        if int(start) > int(end):
            raise ValueError(f"invalid range {entry!r}: start {start} is after end {end}")
        return AddressRange(start, end)
    try:
        ip = ipaddress.ip_address(entry)
    except ValueError:
        raise ValueError(f"invalid CIDR {entry!r}: expected a/n or start-end") from None
    raise ValueError(
        f"invalid CIDR {entry!r}: a single address must be written as "
        f"{ip}/{ip.max_prefixlen} or {ip}-{ip}"
    )
