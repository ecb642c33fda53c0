"""ingot.kube.LeaseElector against the embedded API server, real threads and real time.

Proves: two electors never both hold a Lease (sampled while they compete for many Leases),
release on stop hands a Lease over without waiting for expiry, takeover after the holder
dies silently, and recovery after an API outage longer than the lease (case C19).
Durations are short (2 s lease) to keep the tier fast; nothing asserts on elapsed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ingot.kube import lease, source

NS = "ingot-system"
TIMING = {"lease_duration_s": 2.0, "renew_interval_s": 0.4, "retry_interval_s": 0.2}


def eventually(pred: Callable[[], object], *, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    assert pred(), "condition not reached"


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def acquired(self, name: str) -> None:
        self.events.append(("acquired", name))

    def lost(self, name: str) -> None:
        self.events.append(("lost", name))


@pytest.fixture
def kube(kube_client: Any) -> source.KubeSource:
    ks = source.KubeSource(kube_client)
    ks.create(source.NAMESPACE, {"metadata": {"name": NS}})
    return ks


@pytest.fixture
def electors(kube: source.KubeSource) -> Iterator[Callable[..., lease.LeaseElector]]:
    made: list[lease.LeaseElector] = []

    def make(identity: str, log: Log | None = None, **kw: Any) -> lease.LeaseElector:
        log = log or Log()
        e = lease.LeaseElector(
            kube,
            namespace=NS,
            identity=identity,
            on_acquired=log.acquired,
            on_lost=log.lost,
            **{**TIMING, **kw},
        )
        made.append(e)
        return e

    yield make
    for e in made:
        e.stop(release=False)


def holder(kube: source.KubeSource, name: str) -> str:
    return str(kube.get(source.LEASE, name, namespace=NS)["spec"].get("holderIdentity") or "")


def test_two_electors_never_both_hold(apiserver, kube, electors) -> None:
    names = [f"svc-{i}" for i in range(10)]
    a, b = electors("node-a"), electors("node-b")
    for e in (a, b):
        e.set_wanted(names)
        e.start()
    eventually(lambda: len(a.held() | b.held()) == len(names))
    # Churn: an API outage longer than the lease, then both race to (re)acquire: holders
    # give Leases up at their renew deadline, and after the outage the other elector sees
    # them expired, so Leases can change hands while we sample.
    apiserver.faults.inject(status=503, count=1_000_000, resources=["leases"])
    samples = 0
    start = time.monotonic()
    cleared = False
    while time.monotonic() - start < 6.0:
        if not cleared and time.monotonic() - start > 2.5:
            apiserver.faults.clear()
            cleared = True
        for n in names:
            assert not (a.is_holder(n) and b.is_holder(n)), n
        samples += 1
        time.sleep(0.002)
    eventually(lambda: len(a.held() | b.held()) == len(names))
    assert samples > 10
    for n in names:  # the API agrees with the holders' own view
        expected = "node-a" if a.is_holder(n) else "node-b"
        assert holder(kube, n) == expected


def test_release_on_stop_hands_over(kube, electors) -> None:
    la = Log()
    a = electors("node-a", la, lease_duration_s=30.0, renew_interval_s=0.4)
    b = electors("node-b")
    a.want("ctl")
    a.start()
    eventually(lambda: a.is_holder("ctl"))
    b.want("ctl")
    b.start()
    eventually(lambda: b.holder_of("ctl") == "node-a")
    a.stop(release=True)
    assert holder(kube, "ctl") in ("", "node-b")
    assert la.events == [("acquired", "ctl"), ("lost", "ctl")]
    # A 30 s lease: b can only have it this soon because a released it.
    eventually(lambda: b.is_holder("ctl"), timeout_s=10.0)
    spec = kube.get(source.LEASE, "ctl", namespace=NS)["spec"]
    assert spec["holderIdentity"] == "node-b"
    assert spec["leaseTransitions"] == 1


def test_takeover_after_silent_death(kube, electors) -> None:
    a, b = electors("node-a"), electors("node-b")
    a.want("l1")
    a.start()
    eventually(lambda: a.is_holder("l1"))
    b.want("l1")
    b.start()
    eventually(lambda: b.holder_of("l1") == "node-a")
    a.stop(release=False)  # dies: no release, renewals stop
    eventually(lambda: b.is_holder("l1"))
    assert not a.is_holder("l1")
    spec = kube.get(source.LEASE, "l1", namespace=NS)["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("node-b", 1)
    assert spec["leaseDurationSeconds"] == 2


def test_regains_lease_after_api_outage(apiserver, kube, electors) -> None:
    """Case C19: an outage longer than the lease loses it; it comes back without a restart."""
    log = Log()
    a = electors("node-a", log)
    a.want("smb")
    a.start()
    eventually(lambda: a.is_holder("smb"))
    for _ in range(2):
        apiserver.faults.inject(status=503, count=1_000_000, resources=["leases"])
        eventually(lambda: not a.is_holder("smb"))
        apiserver.faults.clear()
        eventually(lambda: a.is_holder("smb"))
    assert log.events == [("acquired", "smb")] + [("lost", "smb"), ("acquired", "smb")] * 2


def test_conflicts_are_lost_races_not_errors(apiserver, kube, electors) -> None:
    a = electors("node-a")
    a.want("l1")
    a.start()
    eventually(lambda: a.is_holder("l1"))
    apiserver.faults.inject(status=409, count=3, verbs=["update"], resources=["leases"])
    eventually(lambda: apiserver.faults.pending() == 0)
    eventually(lambda: a.is_holder("l1"))
    assert holder(kube, "l1") == "node-a"


def test_leader_elector_single_leader(kube) -> None:
    les = [
        lease.LeaderElector(
            kube,
            namespace=NS,
            name="ingot-controller",
            identity=f"pod-{i}",
            lease_duration_s=2.0,
            renew_interval_s=0.4,
            retry_interval_s=0.2,
        )
        for i in range(3)
    ]
    try:
        for le in les:
            le.start()
        eventually(lambda: sum(le.is_leader() for le in les) == 1)
        leader = next(le for le in les if le.is_leader())
        leader.stop()
        eventually(lambda: sum(le.is_leader() for le in les if le is not leader) == 1)
    finally:
        for le in les:
            le.stop(release=False)
