"""Thread-friendly clocks for ``ingot.kube``: monotonic time plus an interruptible wait.

``ingot.clock.Clock`` serves asyncio code (its ``sleep`` is a coroutine). The informer, work
queue and Lease elector run in plain threads, so they need a clock whose *wait* blocks a thread
on a ``threading.Condition`` and can be cut short by ``notify`` (stop, new work). Components take
a ``ThreadClock`` in their constructor; tests pass ``FakeThreadClock`` and move time with
``advance()``, which wakes every waiter so it can re-check its deadline. No test has to sleep for
real to see a back-off or a lease expire.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Protocol

from ingot import clock as ingot_clock


class ThreadClock(Protocol):
    """Monotonic time in seconds plus a condition wait measured on the same clock."""

    def now(self) -> float:
        """Monotonic time in seconds."""
        ...

    def wall(self) -> float:
        """Wall-clock time in seconds since the epoch (for timestamps written to the API)."""
        ...

    def wait(self, cond: threading.Condition, timeout_s: float | None) -> None:
        """Wait on ``cond`` (which the caller holds) for at most ``timeout_s`` clock seconds.

        May return early (spurious wake-up, ``notify``, or the fake clock moving): callers loop
        and re-check their predicate and deadline, as with ``Condition.wait``.
        """
        ...


class RealThreadClock:
    """The machine's clock: ``time.monotonic``/``time.time`` and ``Condition.wait``."""

    def now(self) -> float:
        """Monotonic time in seconds."""
        return time.monotonic()

    def wall(self) -> float:
        """Wall-clock time in seconds since the epoch."""
        return time.time()

    def wait(self, cond: threading.Condition, timeout_s: float | None) -> None:
        """Block on ``cond`` for at most ``timeout_s`` seconds (``None``: until notified)."""
        cond.wait(None if timeout_s is None else max(0.0, timeout_s))


class FakeThreadClock(ingot_clock.FakeClock):
    """A fake clock for threaded code: time moves only on ``advance()``, which wakes all waiters.

    ``wait`` never times out on its own in fake time; it returns when notified, when time is
    advanced, or after ``safety_poll_s`` of *real* time (a guard against a lost wake-up, so a
    buggy test fails by its assertion rather than by hanging).
    """

    def __init__(
        self,
        start_s: float = 1000.0,
        wall_offset_s: float = 1_800_000_000.0,
        *,
        safety_poll_s: float = 0.05,
    ) -> None:
        super().__init__(start_s, wall_offset_s)
        self._lock = threading.Lock()
        self._waiting: weakref.WeakSet[threading.Condition] = weakref.WeakSet()
        self._safety_poll_s = safety_poll_s

    def now(self) -> float:
        """Current fake monotonic time in seconds."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake every thread waiting on this clock."""
        if seconds < 0:
            raise ValueError("FakeThreadClock cannot go backwards")
        with self._lock:
            self._now += seconds
            conds = list(self._waiting)
        for cond in conds:
            with cond:
                cond.notify_all()

    def wait(self, cond: threading.Condition, timeout_s: float | None) -> None:
        """Wait on ``cond`` until notified or time is advanced (never on its own)."""
        if timeout_s is not None and timeout_s <= 0:
            return
        with self._lock:
            self._waiting.add(cond)
        cond.wait(self._safety_poll_s)
