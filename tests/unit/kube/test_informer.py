"""Informer against FakeSource: sync, events, resume, 410 relist, back-off, indexers, resync."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from ingot import errors
from ingot.kube import informer, source, timing

from .conftest import eventually

SVC = source.SERVICE


def svc(name: str, ns: str = "demo", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": {"ports": []}}


class Recorder:
    """Records handler calls as ("add"|"update"|"delete", key, rv)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    def add(self, obj: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(("add", source.object_key(obj), source.resource_version_of(obj)))

    def update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(("update", source.object_key(new), source.resource_version_of(new)))

    def delete(self, obj: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(("delete", source.object_key(obj), source.resource_version_of(obj)))

    def kinds(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(c, k) for c, k, _ in self.calls]

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()


def start(
    fake: source.FakeSource,
    clock: timing.FakeThreadClock,
    stopper: list,
    **kw: Any,
) -> tuple[informer.Informer, Recorder]:
    inf = informer.Informer(fake, kw.pop("kind", SVC), clock=clock, rng=random.Random(1), **kw)
    rec = Recorder()
    inf.add_handler(on_add=rec.add, on_update=rec.update, on_delete=rec.delete)
    stopper.append(inf)
    inf.start()
    assert inf.wait_for_sync(10)
    return inf, rec


def test_constructor_starts_nothing(fake: source.FakeSource) -> None:
    inf = informer.Informer(fake, SVC)
    assert fake.calls == []
    assert not inf.has_synced()
    inf.stop()


def test_initial_list_adds_then_sync(fake, clock, stopper) -> None:
    fake.create(SVC, svc("a"))
    fake.create(SVC, svc("b"))
    inf, rec = start(fake, clock, stopper)
    assert sorted(rec.kinds()) == [("add", "demo/a"), ("add", "demo/b")]
    assert sorted(inf.keys()) == ["demo/a", "demo/b"]
    assert inf.list_count == 1


def test_watch_events_reach_cache_and_handlers(fake, clock, stopper) -> None:
    inf, rec = start(fake, clock, stopper)
    fake.create(SVC, svc("a"))
    fake.patch(SVC, "a", {"spec": {"ports": [{"port": 80}]}}, namespace="demo")
    fake.delete(SVC, "a", namespace="demo")
    eventually(lambda: len(rec.calls) == 3)
    assert rec.kinds() == [("add", "demo/a"), ("update", "demo/a"), ("delete", "demo/a")]
    assert inf.get("demo/a") is None
    assert inf.resource_version == fake.resource_version


def test_noop_write_produces_no_update(fake, clock, stopper) -> None:
    fake.create(SVC, svc("a"))
    inf, rec = start(fake, clock, stopper)
    fake.patch(SVC, "a", {"spec": {"ports": []}}, namespace="demo")  # no change
    fake.create(SVC, svc("marker"))
    eventually(lambda: inf.get("demo/marker") is not None)
    assert ("update", "demo/a") not in rec.kinds()


def test_resume_after_dropped_watch_without_replay(fake, clock, stopper) -> None:
    fake.create(SVC, svc("a"))
    inf, rec = start(fake, clock, stopper)
    eventually(lambda: fake.open_watches() == 1)
    rv_before = inf.resource_version
    fake.drop_watches()
    fake.create(SVC, svc("b"))
    eventually(lambda: inf.get("demo/b") is not None)
    assert inf.list_count == 1  # resumed, not relisted
    assert inf.watch_count >= 2
    assert rec.kinds() == [("add", "demo/a"), ("add", "demo/b")]
    assert int(inf.resource_version) > int(rv_before)


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("compact-then-drop", id="http-410-on-resume"),
        pytest.param("expire", id="error-event-410-in-stream"),
    ],
)
def test_relist_after_410_emits_deleted_for_vanished(fake, clock, stopper, how: str) -> None:
    for n in ("keep", "change", "gone"):
        fake.create(SVC, svc(n))
    inf, rec = start(fake, clock, stopper)
    eventually(lambda: fake.open_watches() == 1)
    rec.clear()
    if how == "compact-then-drop":
        # The gap: the watch drops, the re-watch fails (503), and while the informer backs
        # off objects change and the history is compacted; its resume then gets 410.
        fake.fail_next(errors.Unavailable("down", status=503), count=1, verbs=("watch",))
        fake.drop_watches()
        fake.delete(SVC, "gone", namespace="demo")
        fake.patch(SVC, "change", {"metadata": {"labels": {"x": "1"}}}, namespace="demo")
        fake.create(SVC, svc("new"))
        fake.compact()
        eventually(lambda: inf.retry_at is not None)
        clock.advance(60)  # past the back-off of the 503
    else:
        fake.expire_watches()
        eventually(lambda: inf.list_count == 2)
        fake.delete(SVC, "gone", namespace="demo")
    eventually(lambda: inf.get("demo/gone") is None)
    assert ("delete", "demo/gone") in rec.kinds()
    assert ("add", "demo/keep") not in rec.kinds()
    assert ("update", "demo/keep") not in rec.kinds()
    if how == "compact-then-drop":
        eventually(lambda: inf.list_count == 2)
        assert ("update", "demo/change") in rec.kinds()
        assert ("add", "demo/new") in rec.kinds()
    assert sorted(inf.keys()) == sorted(
        o["metadata"]["namespace"] + "/" + o["metadata"]["name"] for o in fake.objects(SVC)
    )


def test_gap_deletions_seen_via_relist_only(fake, clock, stopper) -> None:
    """Objects deleted while no watch was open and history was compacted -> on_delete."""
    for n in ("a", "b", "c"):
        fake.create(SVC, svc(n))
    fake.fail_next(errors.Unavailable("down", status=503), count=1, verbs=("watch",))
    inf, rec = start(fake, clock, stopper)
    eventually(lambda: inf.retry_at is not None)  # first watch failed; back-off pending
    fake.delete(SVC, "a", namespace="demo")
    fake.delete(SVC, "b", namespace="demo")
    fake.compact()
    rec.clear()
    clock.advance(60)
    eventually(lambda: inf.list_count == 2)
    eventually(lambda: len(rec.calls) == 2)
    assert sorted(rec.kinds()) == [("delete", "demo/a"), ("delete", "demo/b")]
    assert inf.keys() == ["demo/c"]


def test_list_errors_back_off_then_sync(fake, clock, stopper) -> None:
    fake.create(SVC, svc("a"))
    fake.fail_next(errors.Unavailable("500", status=500), count=3, verbs=("list",))
    inf = informer.Informer(
        fake, SVC, clock=clock, rng=random.Random(1), backoff=informer.Backoff(initial_s=1.0)
    )
    stopper.append(inf)
    inf.start()
    eventually(lambda: isinstance(inf.last_error, errors.Unavailable))
    assert not inf.has_synced()
    for _ in range(200):
        if inf.has_synced():
            break
        clock.advance(1.0)
        inf.wait_for_sync(0.01)
    assert inf.has_synced()
    assert [c for c in fake.calls if c[0] == "list"].__len__() == 4


def test_throttled_waits_at_least_retry_after(fake, clock, stopper) -> None:
    fake.fail_next(errors.Throttled("slow down", retry_after_s=30.0), count=1, verbs=("list",))
    inf = informer.Informer(
        fake, SVC, clock=clock, rng=random.Random(1), backoff=informer.Backoff(initial_s=0.1)
    )
    stopper.append(inf)
    inf.start()
    eventually(lambda: inf.retry_at is not None)
    assert isinstance(inf.last_error, errors.Throttled)
    clock.advance(29.0)
    assert not inf.wait_for_sync(0.1)
    clock.advance(1.5)
    assert inf.wait_for_sync(5)


def test_backoff_is_bounded_with_jitter() -> None:
    b = informer.Backoff(initial_s=1.0, max_s=10.0, factor=2.0, jitter=0.2)
    rng = random.Random(7)
    delays = [b.delay_s(n, rng) for n in range(1, 12)]
    assert delays[0] >= 1.0
    assert delays[0] < 1.2
    assert all(10.0 <= d < 12.0 for d in delays[5:])
    assert b.delay_s(0, rng) == 0.0


def test_indexers(fake, clock, stopper) -> None:
    fake.create(SVC, svc("a", "ns1"))
    fake.create(SVC, svc("b", "ns2"))
    inf, _ = start(
        fake,
        clock,
        stopper,
        indexers={"ns": informer.index_by_namespace, "ip": informer.index_by_ingress_ip},
    )
    fake.patch_status(
        SVC,
        "a",
        {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}},
        namespace="ns1",
    )
    eventually(lambda: inf.by_index("ip", "198.51.100.1"))
    assert [o["metadata"]["name"] for o in inf.by_index("ns", "ns2")] == ["b"]
    fake.patch_status(
        SVC,
        "a",
        {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.2"}]}}},
        namespace="ns1",
    )
    eventually(lambda: not inf.by_index("ip", "198.51.100.1"))
    assert [o["metadata"]["name"] for o in inf.by_index("ip", "198.51.100.2")] == ["a"]
    fake.delete(SVC, "b", namespace="ns2")
    eventually(lambda: inf.by_index("ns", "ns2") == [])
    assert inf.store.index_values("ns") == ["ns1"]


def test_label_index() -> None:
    store = informer.Store({"svc": informer.index_by_label("kubernetes.io/service-name")})
    store.upsert(
        {
            "metadata": {
                "name": "s1",
                "namespace": "d",
                "labels": {"kubernetes.io/service-name": "web"},
            }
        }
    )
    store.upsert({"metadata": {"name": "s2", "namespace": "d"}})
    assert [o["metadata"]["name"] for o in store.by_index("svc", "web")] == ["s1"]


def test_late_handler_gets_replay(fake, clock, stopper) -> None:
    fake.create(SVC, svc("a"))
    inf, _ = start(fake, clock, stopper)
    late = Recorder()
    inf.add_handler(on_add=late.add)
    assert late.kinds() == [("add", "demo/a")]


def test_handler_exception_does_not_kill_informer(fake, clock, stopper) -> None:
    inf = informer.Informer(fake, SVC, clock=clock)
    stopper.append(inf)

    def boom(obj: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    rec = Recorder()
    inf.add_handler(on_add=boom)
    inf.add_handler(on_add=rec.add)
    inf.start()
    assert inf.wait_for_sync(10)
    fake.create(SVC, svc("a"))
    eventually(lambda: rec.kinds() == [("add", "demo/a")])


def test_resync_redelivers_as_update(fake, clock, stopper) -> None:
    fake.create(SVC, svc("a"))
    inf, rec = start(fake, clock, stopper, resync_period_s=30.0)
    rec.clear()
    clock.advance(31.0)
    eventually(lambda: ("update", "demo/a") in rec.kinds())


def test_custom_objects_and_cluster_scoped(fake, clock, stopper) -> None:
    fake.create(source.NODE, {"metadata": {"name": "node-a"}})
    fake.create(
        source.IP_ADDRESS_POOL,
        {
            "metadata": {"name": "p", "namespace": "metallb-system"},
            "spec": {"addresses": ["198.51.100.0/28"]},
        },
    )
    nodes, _ = start(fake, clock, stopper, kind=source.NODE)
    pools, _ = start(fake, clock, stopper, kind=source.IP_ADDRESS_POOL)
    assert nodes.keys() == ["node-a"]
    assert pools.get_by_name("p", "metallb-system")["spec"]["addresses"] == ["198.51.100.0/28"]
    assert informer.wait_for_cache_sync([nodes, pools], timeout_s=1)


def test_namespace_and_selector_scoping(fake, clock, stopper) -> None:
    fake.create(SVC, svc("a", "x", app="web"))
    fake.create(SVC, svc("b", "x", app="db"))
    fake.create(SVC, svc("c", "y", app="web"))
    inf, _ = start(fake, clock, stopper, namespace="x", label_selector="app=web")
    assert inf.keys() == ["x/a"]


def test_stop_closes_watch(fake, clock) -> None:
    inf = informer.Informer(fake, SVC, clock=clock)
    inf.start()
    assert inf.wait_for_sync(10)
    eventually(lambda: fake.open_watches() == 1)
    inf.stop()
    eventually(lambda: fake.open_watches() == 0)
    fake.create(SVC, svc("late"))
    assert inf.get("demo/late") is None


def test_repeated_410_backs_off_instead_of_hot_looping(fake, clock, stopper) -> None:
    fake.fail_next(
        lambda: errors.Expired("too old", status=410, reason="Expired"),
        count=1_000,
        verbs=("watch",),
    )
    inf = informer.Informer(
        fake, SVC, clock=clock, rng=random.Random(1), backoff=informer.Backoff(initial_s=1.0)
    )
    stopper.append(inf)
    inf.start()
    eventually(lambda: inf.retry_at is not None)
    lists = inf.list_count
    assert lists == 2  # first 410 relists at once; the second in a row backs off
    time.sleep(0.05)  # a hot loop would relist many times meanwhile
    assert inf.list_count == lists
    clock.advance(5.0)
    eventually(lambda: inf.list_count > lists)


def test_stream_broken_midway_resumes_from_last_applied_event(fake, clock, stopper) -> None:
    """No replay into the cache: a deleted object must not come back from an older version."""
    inf, rec = start(fake, clock, stopper)
    eventually(lambda: fake.open_watches() == 1)
    fake.create(SVC, svc("a"))
    fake.delete(SVC, "a", namespace="demo")
    eventually(lambda: ("delete", "demo/a") in rec.kinds())
    fake.break_watches(errors.Unavailable("connection reset", status=0))
    eventually(lambda: inf.retry_at is not None)
    clock.advance(60.0)
    fake.create(SVC, svc("marker"))
    eventually(lambda: inf.get("demo/marker") is not None)
    assert rec.kinds() == [("add", "demo/a"), ("delete", "demo/a"), ("add", "demo/marker")]
    assert inf.list_count == 1


class Mirror:
    """Rebuilds the server state from handler calls alone (what a consumer would see)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: dict[str, str] = {}
        self.newest: dict[str, int] = {}  # highest resourceVersion seen per key, deletes too
        self.errors: list[str] = []

    def _seen(self, what: str, key: str, obj: dict[str, Any]) -> None:
        rv = int(source.resource_version_of(obj))
        if rv < self.newest.get(key, 0):
            self.errors.append(f"{what} of {key} went back in time ({rv})")
        self.newest[key] = max(rv, self.newest.get(key, 0))

    def add(self, obj: dict[str, Any]) -> None:
        with self.lock:
            key = source.object_key(obj)
            if key in self.state:
                self.errors.append(f"add of known {key}")
            self._seen("add", key, obj)
            self.state[key] = source.resource_version_of(obj)

    def update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        with self.lock:
            key = source.object_key(new)
            if key not in self.state:
                self.errors.append(f"update of unknown {key}")
            self._seen("update", key, new)
            self.state[key] = source.resource_version_of(new)

    def delete(self, obj: dict[str, Any]) -> None:
        with self.lock:
            key = source.object_key(obj)
            if self.state.pop(key, None) is None:
                self.errors.append(f"delete of unknown {key}")
            self._seen("delete", key, obj)


@pytest.mark.parametrize("seed", range(8))
def test_random_history_with_faults_converges(fake, clock, stopper, seed: int) -> None:
    """Writes interleaved with dropped/broken watches, compaction and failing calls: the cache
    and the handler-built mirror both end equal to the server, with no impossible callbacks."""
    rng = random.Random(seed)
    inf = informer.Informer(
        fake, SVC, clock=clock, rng=random.Random(seed), backoff=informer.Backoff(initial_s=0.5)
    )
    mirror = Mirror()
    inf.add_handler(on_add=mirror.add, on_update=mirror.update, on_delete=mirror.delete)
    stopper.append(inf)
    inf.start()
    assert inf.wait_for_sync(10)
    names = [f"s{i}" for i in range(6)]
    for _ in range(120):
        r = rng.random()
        name = rng.choice(names)
        existing = {o["metadata"]["name"] for o in fake.objects(SVC)}
        if r < 0.35:
            if name in existing:
                fake.patch(
                    SVC, name, {"metadata": {"labels": {"v": str(rng.random())}}}, namespace="demo"
                )
            else:
                fake.create(SVC, svc(name))
        elif r < 0.55:
            if name in existing:
                fake.delete(SVC, name, namespace="demo")
        elif r < 0.62:
            fake.drop_watches()
        elif r < 0.68:
            fake.break_watches(errors.Unavailable("reset", status=0))
        elif r < 0.74:
            fake.compact()
            fake.drop_watches()
        elif r < 0.78:
            fake.expire_watches()
        elif r < 0.84:
            fake.fail_next(
                errors.Unavailable("500", status=500),
                count=rng.randint(1, 3),
                verbs=(rng.choice(["list", "watch"]),),
            )
        else:
            clock.advance(rng.uniform(0.0, 3.0))
        time.sleep(0.001)  # let the informer thread interleave with the writes

    def server_state() -> dict[str, str]:
        return {source.object_key(o): source.resource_version_of(o) for o in fake.objects(SVC)}

    def converged() -> bool:
        clock.advance(5.0)  # let any back-off finish
        cache = {source.object_key(o): source.resource_version_of(o) for o in inf.list()}
        with mirror.lock:
            return cache == server_state() and mirror.state == server_state()

    fake.create(SVC, svc("final-marker"))
    eventually(converged, timeout_s=30)
    assert mirror.errors == []
