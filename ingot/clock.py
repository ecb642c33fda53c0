"""Clock seam: real monotonic time for components, ``FakeClock`` for tests.

All durations are floats in seconds. Components take a ``Clock`` in their constructor instead of
calling ``time`` directly, so timing logic can be tested without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """A source of monotonic time (seconds) and a way to wait."""

    def now(self) -> float:
        """Monotonic time in seconds."""
        ...

    def wall(self) -> float:
        """Wall-clock time in seconds since the epoch (for timestamps written to the API)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` seconds."""
        ...


class RealClock:
    """The machine's clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        """Monotonic time in seconds."""
        return time.monotonic()

    def wall(self) -> float:
        """Wall-clock time in seconds since the epoch."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` seconds."""
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that moves only when told to (``advance``). ``sleep`` advances it and yields once."""

    def __init__(self, start_s: float = 1000.0, wall_offset_s: float = 1_800_000_000.0) -> None:
        self._now = start_s
        self._wall_offset = wall_offset_s

    def now(self) -> float:
        """Current fake monotonic time in seconds."""
        return self._now

    def wall(self) -> float:
        """Current fake wall time in seconds since the epoch."""
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must be >= 0)."""
        if seconds < 0:
            raise ValueError("FakeClock cannot go backwards")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` and let other tasks run once."""
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)
