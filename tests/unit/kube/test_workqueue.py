"""WorkQueue: client-go semantics (dedup, processing/dirty, delays, back-off, shutdown)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingot.kube import timing, workqueue

from .conftest import eventually


def make(clock: timing.FakeThreadClock, **kw: float) -> workqueue.WorkQueue[str]:
    return workqueue.WorkQueue(clock=clock, **kw)


def test_dedup_and_fifo(clock: timing.FakeThreadClock) -> None:
    q = make(clock)
    for k in ["a", "b", "a", "c", "b"]:
        q.add(k)
    assert len(q) == 3
    assert [q.get(timeout_s=0), q.get(timeout_s=0), q.get(timeout_s=0)] == ["a", "b", "c"]
    assert q.get(timeout_s=0) is None


def test_key_added_while_processing_is_requeued_on_done(clock: timing.FakeThreadClock) -> None:
    q = make(clock)
    q.add("a")
    assert q.get(timeout_s=0) == "a"
    q.add("a")  # dirty: must not be handed to a second worker now
    assert len(q) == 0
    assert q.get(timeout_s=0) is None
    assert q.is_processing("a")
    q.done("a")
    assert q.get(timeout_s=0) == "a"
    q.done("a")
    assert q.get(timeout_s=0) is None


def test_done_without_readd_does_not_requeue(clock: timing.FakeThreadClock) -> None:
    q = make(clock)
    q.add("a")
    assert q.get(timeout_s=0) == "a"
    q.done("a")
    assert len(q) == 0


def test_add_after_waits_for_clock(clock: timing.FakeThreadClock) -> None:
    q = make(clock)
    q.add_after("a", 5.0)
    assert q.get(timeout_s=0) is None
    assert q.pending_delayed() == 1
    clock.advance(4.9)
    assert q.get(timeout_s=0) is None
    clock.advance(0.2)
    assert q.get(timeout_s=0) == "a"


def test_add_after_earlier_deadline_wins(clock: timing.FakeThreadClock) -> None:
    q = make(clock)
    q.add_after("a", 10.0)
    q.add_after("a", 2.0)
    q.add_after("a", 5.0)  # later than the pending 2 s: ignored
    clock.advance(2.0)
    assert q.get(timeout_s=0) == "a"
    q.done("a")
    clock.advance(10.0)
    assert q.get(timeout_s=0) is None  # superseded entries do not fire again


@pytest.mark.parametrize(
    ("base", "cap", "expected"),
    [
        pytest.param(0.005, 1000.0, [0.005, 0.01, 0.02, 0.04, 0.08], id="client-go-defaults"),
        pytest.param(1.0, 5.0, [1.0, 2.0, 4.0, 5.0, 5.0], id="capped"),
        pytest.param(0.0, 0.0, [0.0, 0.0, 0.0, 0.0, 0.0], id="no-delay"),
    ],
)
def test_rate_limited_backoff_per_key(
    clock: timing.FakeThreadClock, base: float, cap: float, expected: list[float]
) -> None:
    q = make(clock, base_delay_s=base, max_delay_s=cap)
    delays = [q.add_rate_limited("a") for _ in expected]
    assert delays == pytest.approx(expected)
    assert q.num_requeues("a") == len(expected)
    assert q.add_rate_limited("b") == pytest.approx(base)  # independent per key
    q.forget("a")
    assert q.num_requeues("a") == 0
    assert q.add_rate_limited("a") == pytest.approx(base)


def test_rate_limited_key_becomes_ready_after_its_delay(clock: timing.FakeThreadClock) -> None:
    q = make(clock, base_delay_s=1.0, max_delay_s=60.0)
    q.add_rate_limited("a")
    q.add_rate_limited("a")  # second failure: 2 s, but the pending 1 s deadline is earlier
    clock.advance(1.0)
    assert q.get(timeout_s=0) == "a"


def test_blocking_get_wakes_on_add_and_on_clock(clock: timing.FakeThreadClock) -> None:
    q = make(clock)
    got: list[str | None] = []
    t = threading.Thread(target=lambda: got.append(q.get()))
    t.start()
    q.add_after("x", 3.0)
    clock.advance(3.0)
    t.join(5)
    assert got == ["x"]


def test_shutdown_drains_queue_then_returns_none(clock: timing.FakeThreadClock) -> None:
    q = make(clock)
    q.add("a")
    q.add_after("later", 1.0)
    q.shutdown()
    q.add("b")  # ignored after shutdown
    assert q.shutting_down
    assert q.get() == "a"
    assert q.get() is None
    clock.advance(2.0)
    assert q.get() is None


def test_shutdown_wakes_blocked_workers(clock: timing.FakeThreadClock) -> None:
    q = make(clock)
    results: list[str | None] = []
    threads = [threading.Thread(target=lambda: results.append(q.get())) for _ in range(3)]
    for t in threads:
        t.start()
    q.shutdown()
    for t in threads:
        t.join(5)
    assert results == [None, None, None]


def test_one_key_never_processed_concurrently() -> None:
    """Many producers, four workers: a key is never held by two workers at once."""
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue(base_delay_s=0.0, max_delay_s=0.0)
    active: set[str] = set()
    lock = threading.Lock()
    overlaps: list[str] = []
    processed: list[str] = []

    def process(key: str) -> bool:
        with lock:
            if key in active:
                overlaps.append(key)
            active.add(key)
        with lock:
            active.discard(key)
            processed.append(key)
        return True

    workers = [threading.Thread(target=q.run_worker, args=(process,)) for _ in range(4)]
    for w in workers:
        w.start()
    for i in range(2000):
        q.add(f"k{i % 7}")
    eventually(lambda: len(q) == 0 and not any(q.is_processing(f"k{i}") for i in range(7)))
    q.shutdown()
    for w in workers:
        w.join(5)
    assert overlaps == []
    assert set(processed) == {f"k{i}" for i in range(7)}


def test_run_worker_retries_failures_with_backoff_then_forgets(
    clock: timing.FakeThreadClock,
) -> None:
    q = make(clock, base_delay_s=1.0, max_delay_s=8.0)
    attempts: list[str] = []

    def process(key: str) -> bool:
        attempts.append(key)
        if len(attempts) < 3:
            return False
        return True

    t = threading.Thread(target=q.run_worker, args=(process,))
    t.start()
    q.add("svc")
    eventually(lambda: len(attempts) == 1 and q.pending_delayed() == 1)
    clock.advance(1.0)  # first retry after 1 s
    eventually(lambda: len(attempts) == 2 and q.pending_delayed() == 1)
    clock.advance(1.0)
    assert len(attempts) == 2  # second retry needs 2 s
    clock.advance(1.0)
    eventually(lambda: len(attempts) == 3)
    eventually(lambda: q.num_requeues("svc") == 0)
    q.shutdown()
    t.join(5)


class Model:
    """A plain reference model of the queue contract (single-threaded)."""

    def __init__(self, base: float, cap: float) -> None:
        self.now = 1000.0
        self.queue: list[str] = []
        self.dirty: set[str] = set()
        self.processing: set[str] = set()
        self.waiting: dict[str, tuple[float, int]] = {}
        self.seq = 0
        self.failures: dict[str, int] = {}
        self.base, self.cap = base, cap

    def add(self, k: str) -> None:
        if k in self.dirty:
            return
        self.dirty.add(k)
        if k not in self.processing:
            self.queue.append(k)

    def add_after(self, k: str, d: float) -> None:
        if d <= 0:
            self.add(k)
            return
        due = self.now + d
        cur = self.waiting.get(k)
        if cur is not None and cur[0] <= due:
            return
        self.seq += 1
        self.waiting[k] = (due, self.seq)

    def add_rate_limited(self, k: str) -> None:
        n = self.failures.get(k, 0)
        self.failures[k] = n + 1
        self.add_after(k, min(self.cap, self.base * 2**n))

    def get(self) -> str | None:
        for k, _ in sorted(
            ((k, v) for k, v in self.waiting.items() if v[0] <= self.now), key=lambda kv: kv[1]
        ):
            del self.waiting[k]
            self.add(k)
        if not self.queue:
            return None
        k = self.queue.pop(0)
        self.processing.add(k)
        self.dirty.discard(k)
        return k

    def done(self, k: str) -> None:
        self.processing.discard(k)
        if k in self.dirty:
            self.queue.append(k)


KEYS = st.sampled_from(["a", "b", "c"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), KEYS),
        st.tuples(st.just("add_after"), KEYS, st.sampled_from([0.0, 0.5, 1.0, 2.0])),
        st.tuples(st.just("add_rate_limited"), KEYS),
        st.tuples(st.just("forget"), KEYS),
        st.tuples(st.just("get")),
        st.tuples(st.just("done"), st.integers(0, 2)),
        st.tuples(st.just("advance"), st.sampled_from([0.25, 0.5, 1.0])),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ops=OPS)
def test_queue_matches_reference_model(ops: list[tuple]) -> None:
    clock = timing.FakeThreadClock()
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue(
        clock=clock, base_delay_s=0.25, max_delay_s=1.0
    )
    m = Model(0.25, 1.0)
    for op in ops:
        if op[0] == "add":
            q.add(op[1])
            m.add(op[1])
        elif op[0] == "add_after":
            q.add_after(op[1], op[2])
            m.add_after(op[1], op[2])
        elif op[0] == "add_rate_limited":
            q.add_rate_limited(op[1])
            m.add_rate_limited(op[1])
        elif op[0] == "forget":
            q.forget(op[1])
            m.failures.pop(op[1], None)
        elif op[0] == "get":
            assert q.get(timeout_s=0) == m.get()
        elif op[0] == "done":
            if m.processing:
                k = sorted(m.processing)[op[1] % len(m.processing)]
                q.done(k)
                m.done(k)
        else:
            clock.advance(op[1])
            m.now += op[1]
        assert len(q) == len(m.queue)
        assert q.pending_delayed() == len(m.waiting)
        for k in "abc":
            assert q.is_processing(k) == (k in m.processing)
            assert q.num_requeues(k) == m.failures.get(k, 0)
