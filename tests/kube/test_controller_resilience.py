"""Restart safety and chaos: the threaded controller against ingot.apiserver.

* Restart safety (issue 4, case C33 at scale, sized to run in seconds here: 200 assigned +
  20 pending, restarted 5 times, once with a slow Service list, once killed mid-burst):
  zero IP changes, zero duplicates, zero status writes on restart.
* Chaos: 409/429/500 on about 10 % of requests, dropped watches and forced 410s while 500
  Services are created: they converge to a correct, duplicate-free state.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from controller import status as st
from controller.testing import APP_NS, KubeHarness, l2, pool, service
from ingot.kube import source as src


@pytest.fixture
def kh(apiserver, kube_client) -> Iterator[KubeHarness]:
    h = KubeHarness(kube_client, audit=lambda: list(apiserver.audit), start=False, timeout_s=90)
    try:
        yield h
    finally:
        h.stop()


def _create_services(h: KubeHarness, names: list[str]) -> None:
    for n in names:
        body = service(n)
        body["spec"].pop("clusterIP")
        body["spec"].pop("clusterIPs")
        h.fs.create(src.SERVICE, body, namespace=APP_NS)


def _wait(pred, *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _assigned(h: KubeHarness) -> dict[str, list[str]]:
    return {k: v for k, v in h.all_ips().items() if v}


def test_restart_safety_200_assigned_20_pending(kh: KubeHarness, apiserver) -> None:
    kh.apply(pool("p", "198.51.100.1-198.51.100.200"), l2(), settle=False)
    names = [f"svc-{i:03d}" for i in range(220)]
    _create_services(kh, names)
    kh.start()
    kh.settle()
    first = kh.all_ips()
    assigned = {k: v for k, v in first.items() if v}
    assert len(assigned) == 200
    assert not st.duplicates(assigned)
    pending = sorted(k for k, v in first.items() if not v)
    assert len(pending) == 20
    writes = kh.service_writes()
    events = len(kh.events)
    for i in range(5):
        if i == 2:  # once with the API server slow to list Services
            apiserver.faults.latency(1.0, count=1, verbs=["list"], resources=["services"])
        kh.start()
        assert kh.all_ips() == first, f"restart {i + 1} changed an IP"
    assert kh.service_writes() == writes
    assert len(kh.events) == events, kh.events[events:]
    kh.delete("Service", "svc-000")  # frees one IP: exactly one pending Service takes it
    got = _assigned(kh)
    assert len(got) == 200
    assert sum(1 for k in got if k in pending) == 1
    assert not st.duplicates(got)


def test_killed_mid_burst_then_restarted(kh: KubeHarness) -> None:
    kh.apply(pool("p", "198.51.100.1-198.51.100.150"), l2(), settle=False)
    _create_services(kh, [f"svc-{i:03d}" for i in range(100)])
    kh.start()
    first = _assigned(kh)
    assert len(first) == 100
    _create_services(kh, [f"late-{i:03d}" for i in range(80)])
    _wait(
        lambda: sum(1 for k in _assigned(kh) if "late-" in k) >= 10,
        timeout_s=60,
        what="some late Services assigned",
    )
    kh.stop()  # killed in the middle of the second burst
    kh.start()
    got = _assigned(kh)
    assert len(got) == 150
    assert not st.duplicates(got)
    assert {k: v for k, v in got.items() if k in first} == first
    assert kh.resync() == 0


def _chaos(apiserver, stop: threading.Event, rng: random.Random, counts: dict) -> None:
    """About one injected failure per ten requests, plus watch drops and compactions."""
    seen = len(apiserver.audit)
    tick = 0
    while not stop.wait(0.02):
        now = len(apiserver.audit)
        while now - seen >= 10:
            seen += 10
            apiserver.faults.inject(status=rng.choice([409, 429, 500]), count=1, retry_after_s=0)
            counts["injected"] += 1
        tick += 1
        if tick % 25 == 0:
            apiserver.faults.drop_watches()
            counts["drops"] += 1
        if tick % 60 == 0:
            apiserver.faults.compact()
            counts["compactions"] += 1


def test_chaos_500_services_converge_duplicate_free(kh: KubeHarness, apiserver) -> None:
    kh.apply(pool("p", "198.51.100.0/24", "203.0.113.0/24"), l2(), settle=False)
    kh.start()
    stop = threading.Event()
    counts = {"injected": 0, "drops": 0, "compactions": 0}
    chaos = threading.Thread(target=_chaos, args=(apiserver, stop, random.Random(4), counts))
    chaos.start()
    try:
        names = [f"svc-{i:03d}" for i in range(500)]
        created = 0
        for n in names:  # the test's own creates also meet the faults: retry them
            for _ in range(20):
                try:
                    body = service(n)
                    body["spec"].pop("clusterIP")
                    body["spec"].pop("clusterIPs")
                    kh.fs.create(src.SERVICE, body, namespace=APP_NS)
                    created += 1
                    break
                except Exception as exc:  # noqa: BLE001 - injected failure or already created
                    if "AlreadyExists" in str(exc) or "already exists" in str(exc):
                        created += 1
                        break
        assert created == 500
        time.sleep(1.0)  # let the controller work under chaos for a while
    finally:
        stop.set()
        chaos.join()
        apiserver.faults.clear()
    assert counts["injected"] >= 50, counts
    assert counts["drops"] >= 2, counts
    assert counts["compactions"] >= 1, counts
    _wait(lambda: len(_assigned(kh)) == 500, timeout_s=90, what="500 assigned")
    kh.settle()
    got = _assigned(kh)
    assert len(got) == 500
    assert not st.duplicates(got)
    for s in kh.fs.list(src.SERVICE).items:
        assert st.current_pool(s) == "p"
        assert st.current_condition(s)["status"] == "True"
    assert kh.resync() == 0
    kh.start()  # and a restart after the storm changes nothing
    assert _assigned(kh) == got


def test_restore_conflict_older_holder_wins(kh: KubeHarness) -> None:
    """Two Services show one IP without sharing (e.g. restored from a backup): on start the
    older one keeps it, the younger one gets a new IP; nobody ends up duplicated."""
    kh.apply(pool("p", "198.51.100.10-198.51.100.11"), l2(), settle=False)
    for name in ("z-old", "a-young"):  # key order would favour a-young
        _create_services(kh, [name])
        svc = kh.fs.get(src.SERVICE, name, namespace=APP_NS)
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.10"}]}}
        kh.fs.replace_status(src.SERVICE, svc, namespace=APP_NS)
        time.sleep(1.1)  # creationTimestamp has one-second resolution
    kh.start()
    assert kh.ips("z-old") == ["198.51.100.10"]
    assert kh.ips("a-young") == ["198.51.100.11"]


def test_api_never_shows_an_ip_twice_during_churn(kh: KubeHarness, apiserver) -> None:
    """Replays the API's own history (a watch sees every write in order) while Services are
    deleted, re-created and flipped between LoadBalancer and ClusterIP with a pool that is
    always short: at no resourceVersion do two Services show the same IP."""
    from ingot.kube import informer as inf

    kh.apply(pool("p", "198.51.100.1-198.51.100.10"), l2(), settle=False)
    shown: dict[str, tuple[str, ...]] = {}
    violations: list[str] = []
    lock = threading.Lock()

    def observe(obj: dict) -> None:
        with lock:
            shown[src.object_key(obj)] = tuple(st.current_ips(obj))
            dup = st.duplicates({k: list(v) for k, v in shown.items()})
            if dup:
                violations.append(f"rv {src.resource_version_of(obj)}: {dup}")

    def gone(obj: dict) -> None:
        with lock:
            shown.pop(src.object_key(obj), None)

    watcher = inf.Informer(kh.fs, src.SERVICE, namespace=APP_NS)
    watcher.add_handler(on_add=observe, on_update=lambda _o, n: observe(n), on_delete=gone)
    watcher.start()
    try:
        _create_services(kh, [f"svc-{i:02d}" for i in range(16)])
        kh.start()
        rng = random.Random(7)
        for _ in range(60):
            name = f"svc-{rng.randrange(16):02d}"
            action = rng.choice(["delete", "flip"])
            try:
                if action == "delete":
                    kh.fs.delete(src.SERVICE, name, namespace=APP_NS)
                    _create_services(kh, [name])
                else:
                    cur = kh.fs.get(src.SERVICE, name, namespace=APP_NS)
                    lb = cur["spec"]["type"] == "LoadBalancer"
                    cur["spec"]["type"] = "ClusterIP" if lb else "LoadBalancer"
                    kh.fs.replace(src.SERVICE, cur, namespace=APP_NS)
            except Exception:  # noqa: BLE001 - a racing recreate or a 409: just move on
                pass
            time.sleep(rng.random() * 0.05)
        kh.settle()
        time.sleep(0.5)
    finally:
        watcher.stop()
    assert not violations, violations[:5]
    got = _assigned(kh)
    assert not st.duplicates(got)
    lbs = [s for s in kh.fs.list(src.SERVICE).items if s["spec"]["type"] == "LoadBalancer"]
    assert len(got) == min(10, len(lbs))
