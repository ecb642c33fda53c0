"""A rate-limited work queue of keys with client-go ``util/workqueue`` semantics, on threads.

Contract (the same as client-go's, so controller code reads like any Kubernetes controller):

* **De-duplication.** A key is queued at most once; adding a queued key is a no-op. Many
  events for one Service become one reconcile.
* **Processing / dirty.** ``get()`` hands a key to one worker and marks it *processing*. If
  the key is added again meanwhile it is marked *dirty*, not handed to a second worker; when
  the first worker calls ``done(key)`` it is queued again. So one key is never processed by
  two workers at once, and no change is lost.
* **Delayed add.** ``add_after(key, delay_s)`` queues the key once ``delay_s`` seconds have
  passed (an earlier pending deadline for the same key wins).
* **Per-key exponential back-off.** ``add_rate_limited(key)`` waits
  ``min(max_delay_s, base_delay_s * 2**n)`` where ``n`` counts this key's rate-limited adds
  since its last ``forget(key)`` (client-go's ``ItemExponentialFailureRateLimiter``: 5 ms ..
  1000 s). Call ``forget`` after a successful reconcile. No overall token bucket: the
  workers' count bounds the write rate.
* **Shutdown.** After ``shutdown()`` adds are ignored, pending delayed adds are dropped, keys
  already queued are still handed out, then ``get()`` returns None for every caller.

Time comes from a ``ThreadClock`` (``FakeThreadClock`` in tests). Keys are any hashable value;
ingot uses ``"namespace/name"`` strings.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from ingot.kube import timing

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Thread-safe work queue (see module docstring).

    Args:
        clock: time source for delays.
        base_delay_s: first rate-limited delay of a key, seconds.
        max_delay_s: cap on a key's rate-limited delay, seconds.
        name: for logs.
    """

    def __init__(
        self,
        *,
        clock: timing.ThreadClock | None = None,
        base_delay_s: float = 0.005,
        max_delay_s: float = 1000.0,
        name: str = "",
    ) -> None:
        if base_delay_s < 0 or max_delay_s < base_delay_s:
            raise ValueError("need 0 <= base_delay_s <= max_delay_s")
        self._clock: timing.ThreadClock = clock or timing.RealThreadClock()
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self.name = name
        self._cond = threading.Condition()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: list[tuple[float, int, K]] = []  # heap of (due, seq, key)
        self._due_by_key: dict[K, float] = {}
        self._seq = itertools.count()
        self._failures: dict[K, int] = {}
        self._shutting_down = False

    # -- adding --------------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Queue ``key`` now (no-op if already queued; marked dirty if being processed)."""
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._cond.notify()

    def add_after(self, key: K, delay_s: float) -> None:
        """Queue ``key`` after ``delay_s`` seconds (<= 0: now). Earlier deadlines win."""
        with self._cond:
            if self._shutting_down:
                return
            if delay_s <= 0:
                self._add_locked(key)
                return
            due = self._clock.now() + delay_s
            current = self._due_by_key.get(key)
            if current is not None and current <= due:
                return
            self._due_by_key[key] = due
            heapq.heappush(self._waiting, (due, next(self._seq), key))
            self._cond.notify_all()

    def add_rate_limited(self, key: K) -> float:
        """Queue ``key`` after its per-key exponential back-off; returns the delay in seconds."""
        with self._cond:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
            delay = min(self._max_delay_s, self._base_delay_s * float(2 ** min(n, 64)))
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset ``key``'s back-off (call after it was processed successfully)."""
        with self._cond:
            self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        """How many rate-limited adds ``key`` had since its last ``forget``."""
        with self._cond:
            return self._failures.get(key, 0)

    # -- consuming -----------------------------------------------------------------------

    def _promote_due_locked(self) -> float | None:
        """Move due delayed keys into the queue; returns seconds until the next one (or None)."""
        now = self._clock.now()
        while self._waiting:
            due, _, key = self._waiting[0]
            if self._due_by_key.get(key) != due:
                heapq.heappop(self._waiting)  # superseded by an earlier deadline
                continue
            if due > now:
                return due - now
            heapq.heappop(self._waiting)
            del self._due_by_key[key]
            self._add_locked(key)
        return None

    def get(self, timeout_s: float | None = None) -> K | None:
        """Take the next key and mark it processing; the caller must call ``done(key)``.

        Blocks until a key is ready, or for at most ``timeout_s`` clock seconds (None: no
        limit). Returns None on timeout or once the queue is shut down and drained.
        """
        with self._cond:
            deadline = None if timeout_s is None else self._clock.now() + timeout_s
            while True:
                next_due = None if self._shutting_down else self._promote_due_locked()
                if self._queue:
                    key = self._queue.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                if self._shutting_down:
                    return None
                wait = next_due
                if deadline is not None:
                    remaining = deadline - self._clock.now()
                    if remaining <= 0:
                        return None
                    wait = remaining if wait is None else min(wait, remaining)
                self._clock.wait(self._cond, wait)

    def done(self, key: K) -> None:
        """Finish processing ``key``; re-queue it if it was added meanwhile (dirty)."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def shutdown(self) -> None:
        """Stop accepting keys and wake all ``get()`` callers; delayed keys are dropped."""
        with self._cond:
            self._shutting_down = True
            self._waiting.clear()
            self._due_by_key.clear()
            self._cond.notify_all()

    @property
    def shutting_down(self) -> bool:
        """True after ``shutdown()``."""
        with self._cond:
            return self._shutting_down

    def __len__(self) -> int:
        """Keys ready to be handed out (not counting delayed or processing ones)."""
        with self._cond:
            return len(self._queue)

    def pending_delayed(self) -> int:
        """Keys waiting for their ``add_after``/back-off delay."""
        with self._cond:
            return len(self._due_by_key)

    def is_processing(self, key: K) -> bool:
        """True while a worker holds ``key`` (between ``get`` and ``done``)."""
        with self._cond:
            return key in self._processing

    def run_worker(self, process: Callable[[K], bool | None]) -> None:
        """Worker loop until shutdown: ``process(key)``; success forgets, failure re-adds.

        ``process`` returns True/None for success and False to retry with back-off; an
        exception is logged and also retried with back-off. Run it in as many threads as you
        want workers.
        """
        while True:
            key = self.get()
            if key is None:
                return
            try:
                ok = process(key)
            except Exception:
                log.exception("workqueue %s: processing %r failed", self.name, key)
                ok = False
            try:
                if ok is False:
                    self.add_rate_limited(key)
                else:
                    self.forget(key)
            finally:
                self.done(key)
