"""Go duration strings (``metav1.Duration``) as MetalLB's BGPPeer timers use them.

Grammar of Go's ``time.ParseDuration``: an optional sign, then one or more decimal numbers each
followed by a unit (``ns``, ``us``/``µs``, ``ms``, ``s``, ``m``, ``h``), e.g. ``90s``, ``1m30s``,
``1.5h``, ``300ms``; ``0`` alone is allowed.
"""

from __future__ import annotations

import re
from decimal import Decimal

_UNITS_S = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "µs": Decimal("1e-6"),
    "μs": Decimal("1e-6"),
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration_s(text: str) -> float:
    """Parse a Go duration string into seconds.

    Args:
        text: e.g. ``"90s"``, ``"1m30s"``, ``"500ms"``, ``"0"``.

    Returns:
        The duration in seconds (may be fractional or negative).

    Raises:
        ValueError: the text is not a Go duration (the message quotes it).
    """
    s = text.strip()
    sign = Decimal(1)
    if s[:1] in {"+", "-"}:
        sign = Decimal(-1) if s[0] == "-" else Decimal(1)
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"invalid duration {text!r}: empty")
    pos = 0
    total = Decimal(0)
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            raise ValueError(
                f"invalid duration {text!r}: expected a number followed by a unit "
                "(ns, us, ms, s, m, h), e.g. 90s or 1m30s"
            )
        total += Decimal(m.group(1)) * _UNITS_S[m.group(2)]
        pos = m.end()
    return float(sign * total)
