"""BGP community values: standard ``A:B`` (RFC 1997) and large ``large:G:L1:L2`` (RFC 8092).

Source of the syntax: MetalLB ``internal/bgp/community/community.go``.
"""

from __future__ import annotations

from dataclasses import dataclass

UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1


@dataclass(frozen=True, order=True)
class CommunityValue:
    """A BGP community: ``large`` False = two 16-bit halves, True = three 32-bit parts.

    ``str()`` gives the canonical MetalLB text (``64500:100`` or ``large:64500:1:2``).
    """

    large: bool
    parts: tuple[int, ...]

    def __str__(self) -> str:
        text = ":".join(str(p) for p in self.parts)
        return f"large:{text}" if self.large else text

    @property
    def exabgp(self) -> str:
        """The value as ExaBGP writes it (``64500:100`` or ``64500:1:2``)."""
        return ":".join(str(p) for p in self.parts)


def parse_community_value(text: str) -> CommunityValue:
    """Parse ``A:B`` (two uint16) or ``large:G:L1:L2`` (three uint32).

    Args:
        text: the community as written in a BGPAdvertisement or Community object.

    Returns:
        The parsed value.

    Raises:
        ValueError: malformed text or a number out of range; the message says which.
    """
    fields = text.split(":")
    if fields[0] == "large":
        nums = fields[1:]
        if len(nums) != 3:
            raise ValueError(
                f"invalid large community {text!r}: expected large:G:L1:L2 (three 32-bit numbers)"
            )
        limit = UINT32_MAX
    elif fields[0].lower() == "large":
        raise ValueError(f"invalid large community {text!r}: the marker must be lowercase 'large'")
    else:
        nums = fields
        if len(nums) != 2:
            raise ValueError(
                f"invalid community {text!r}: expected A:B (two 16-bit numbers) or large:G:L1:L2"
            )
        limit = UINT16_MAX
    parts: list[int] = []
    for n in nums:
        if not n.isdigit():
            raise ValueError(f"invalid community {text!r}: {n!r} is not a non-negative integer")
        v = int(n)
        if v > limit:
            raise ValueError(f"invalid community {text!r}: {v} exceeds {limit}")
        parts.append(v)
    return CommunityValue(large=fields[0] == "large", parts=tuple(parts))


def looks_like_alias(text: str) -> bool:
    """A community entry without ``:`` is an alias name (MetalLB's rule)."""
    return ":" not in text
