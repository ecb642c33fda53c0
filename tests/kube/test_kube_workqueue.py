"""Informer + WorkQueue + KubeSource as a controller would use them, under injected faults.

A toy reconciler writes ``status.loadBalancer.ingress`` for every LoadBalancer Service with a
resourceVersion-guarded PUT to ``/status``. With 409/429/500 injected on those writes it must
converge: every Service gets its address, exactly one successful write per Service (no write
when already correct), failures retried with per-key back-off, one key never processed by two
workers at once.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable

import pytest

from ingot import errors
from ingot.kube import informer, source, workqueue

SVC = source.SERVICE


def eventually(pred: Callable[[], object], *, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    assert pred(), "condition not reached"


def desired_ip(key: str) -> str:
    return f"198.51.100.{int(key.rsplit('-', 1)[1]) + 1}"


class ToyController:
    def __init__(self, kube: source.KubeSource) -> None:
        self.kube = kube
        self.inf = informer.Informer(kube, SVC, backoff=informer.Backoff(initial_s=0.05, max_s=0.5))
        self.queue: workqueue.WorkQueue[str] = workqueue.WorkQueue(
            base_delay_s=0.01, max_delay_s=0.5, name="services"
        )
        self.inf.add_handler(
            on_add=lambda o: self.queue.add(source.object_key(o)),
            on_update=lambda old, new: self.queue.add(source.object_key(new)),
        )
        self.lock = threading.Lock()
        self.active: set[str] = set()
        self.overlaps: list[str] = []
        self.writes: list[str] = []
        self.retries: list[tuple[str, str]] = []
        self.workers: list[threading.Thread] = []

    def reconcile(self, key: str) -> bool:
        with self.lock:
            if key in self.active:
                self.overlaps.append(key)
            self.active.add(key)
        try:
            obj = self.inf.get(key)
            if obj is None:
                return True
            want = [{"ip": desired_ip(key)}]
            if ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") == want:
                return True  # already right: no write
            new = copy.deepcopy(obj)
            new["status"] = {"loadBalancer": {"ingress": want}}
            try:
                self.kube.replace_status(SVC, new)
            except (errors.Conflict, errors.Throttled, errors.Unavailable) as exc:
                with self.lock:
                    self.retries.append((key, type(exc).__name__))
                return False
            with self.lock:
                self.writes.append(key)
            return True
        finally:
            with self.lock:
                self.active.discard(key)

    def start(self, workers: int = 3) -> None:
        self.inf.start()
        assert self.inf.wait_for_sync(20)
        for _ in range(workers):
            t = threading.Thread(target=self.queue.run_worker, args=(self.reconcile,))
            t.start()
            self.workers.append(t)

    def stop(self) -> None:
        self.queue.shutdown()
        for t in self.workers:
            t.join(10)
        self.inf.stop()


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([(409, 6)], id="409-stale-writes"),
        pytest.param([(429, 4)], id="429-throttled"),
        pytest.param([(500, 6)], id="500-server-errors"),
        pytest.param([(409, 3), (429, 2), (500, 3)], id="mixed"),
    ],
)
def test_converges_under_write_faults(apiserver, kube_client, faults) -> None:
    kube = source.KubeSource(kube_client)
    kube.create(source.NAMESPACE, {"metadata": {"name": "demo"}})
    names = [f"svc-{i}" for i in range(8)]
    for n in names:
        kube.create(
            SVC,
            {
                "metadata": {"name": n, "namespace": "demo"},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            },
        )
    for status, count in faults:
        apiserver.faults.inject(
            status=status, count=count, verbs=["update"], resources=["services/status"]
        )
    ctl = ToyController(kube)
    try:
        ctl.start()

        def converged() -> bool:
            got = {
                o["metadata"]["name"]: o.get("status", {}).get("loadBalancer", {}).get("ingress")
                for o in kube.list(SVC, namespace="demo").items
            }
            return all(got[n] == [{"ip": desired_ip(f"demo/{n}")}] for n in names)

        eventually(converged)
        eventually(lambda: len(ctl.queue) == 0 and ctl.queue.pending_delayed() == 0)
    finally:
        ctl.stop()
    assert apiserver.faults.pending() == 0
    expected_failures = sum(c for _, c in faults)
    assert len(ctl.retries) == expected_failures
    assert sorted(ctl.writes) == sorted(f"demo/{n}" for n in names)  # one write each
    assert ctl.overlaps == []
    assert all(ctl.queue.num_requeues(f"demo/{n}") == 0 for n in names)  # forgotten


def test_conflict_from_a_real_concurrent_writer(kube_client) -> None:
    """A PUT carrying a stale resourceVersion is a Conflict; re-reading resolves it."""
    kube = source.KubeSource(kube_client)
    kube.create(source.NAMESPACE, {"metadata": {"name": "demo"}})
    obj = kube.create(
        SVC,
        {
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        },
    )
    kube.patch(SVC, "web", {"metadata": {"labels": {"other": "writer"}}}, namespace="demo")
    stale = copy.deepcopy(obj)
    stale["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.9"}]}}
    with pytest.raises(errors.Conflict):
        kube.replace_status(SVC, stale)
    fresh = kube.get(SVC, "web", namespace="demo")
    fresh["status"] = stale["status"]
    assert kube.replace_status(SVC, fresh)["status"] == stale["status"]
