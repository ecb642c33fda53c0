"""LeaseElector against FakeSource with a fake clock, driven pass by pass (run_once)."""

from __future__ import annotations

import random

import pytest

from ingot import errors
from ingot.kube import lease, source, timing

NS = "ingot-system"


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def acquired(self, name: str) -> None:
        self.events.append(("acquired", name))

    def lost(self, name: str) -> None:
        self.events.append(("lost", name))


def elector(
    fake: source.FakeSource,
    clock: timing.FakeThreadClock,
    identity: str,
    log: Log | None = None,
    **kw,
) -> lease.LeaseElector:
    log = log or Log()
    return lease.LeaseElector(
        fake,
        namespace=NS,
        identity=identity,
        lease_duration_s=kw.pop("lease_duration_s", 15.0),
        renew_interval_s=kw.pop("renew_interval_s", 5.0),
        retry_interval_s=kw.pop("retry_interval_s", 2.0),
        on_acquired=log.acquired,
        on_lost=log.lost,
        clock=clock,
        **kw,
    )


def holder(fake: source.FakeSource, name: str) -> str:
    return fake.get(source.LEASE, name, namespace=NS)["spec"].get("holderIdentity", "")


def test_constructor_does_no_io(fake, clock) -> None:
    e = elector(fake, clock, "a")
    e.want("l1")
    assert fake.calls == []


@pytest.mark.parametrize(
    ("duration", "api"),
    [
        pytest.param(15.0, 15, id="whole"),
        pytest.param(2.5, 3, id="rounded-up"),
        pytest.param(0.3, 1, id="min-1"),
    ],
)
def test_acquire_creates_lease_with_rounded_duration(fake, clock, duration, api) -> None:
    log = Log()
    e = elector(
        fake,
        clock,
        "a",
        log,
        lease_duration_s=duration,
        renew_interval_s=duration / 5,
        retry_interval_s=duration / 5,
    )
    e.want("l1")
    e.run_once()
    raw = fake.get(source.LEASE, "l1", namespace=NS)
    assert raw["spec"]["holderIdentity"] == "a"
    assert raw["spec"]["leaseDurationSeconds"] == api
    assert raw["spec"]["leaseTransitions"] == 0
    assert raw["spec"]["renewTime"].endswith("Z")
    assert e.is_holder("l1")
    assert log.events == [("acquired", "l1")]


def test_renewal_keeps_acquire_time_and_bumps_renew_time(fake, clock) -> None:
    e = elector(fake, clock, "a")
    e.want("l1")
    e.run_once()
    first = fake.get(source.LEASE, "l1", namespace=NS)["spec"]
    clock.advance(5.0)
    e.run_once()
    second = fake.get(source.LEASE, "l1", namespace=NS)["spec"]
    assert second["acquireTime"] == first["acquireTime"]
    assert second["renewTime"] > first["renewTime"]
    assert second["leaseTransitions"] == 0


def test_two_electors_never_both_hold_and_takeover_after_expiry(fake, clock) -> None:
    la, lb = Log(), Log()
    a, b = elector(fake, clock, "a", la), elector(fake, clock, "b", lb)
    a.want("l1")
    b.want("l1")
    a.run_once()
    for _ in range(20):  # a renews, b keeps checking: b never acquires
        clock.advance(1.0)
        a.run_once()
        b.run_once()
        assert not (a.is_holder("l1") and b.is_holder("l1"))
        assert holder(fake, "l1") == "a"
    assert not b.is_holder("l1")
    assert b.holder_of("l1") == "a"
    # a dies silently (no release): b takes over once the lease expired in b's view.
    took_over_at = None
    for step in range(40):
        clock.advance(1.0)
        b.run_once()
        assert not (a.is_holder("l1") and b.is_holder("l1"))
        if b.is_holder("l1"):
            took_over_at = step + 1
            break
    assert took_over_at is not None
    assert 15 <= took_over_at <= 18  # lease duration after b last saw a's renewal
    spec = fake.get(source.LEASE, "l1", namespace=NS)["spec"]
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    assert lb.events == [("acquired", "l1")]
    # a comes back: its next pass sees b and reports the loss.
    a.run_once()
    assert not a.is_holder("l1")
    assert ("lost", "l1") in la.events


def test_release_on_stop_lets_other_take_over_at_once(fake, clock) -> None:
    la = Log()
    a, b = elector(fake, clock, "a", la), elector(fake, clock, "b")
    a.want("l1")
    b.want("l1")
    a.run_once()
    b.run_once()
    assert not b.is_holder("l1")
    a.stop()
    assert holder(fake, "l1") == ""
    assert la.events == [("acquired", "l1"), ("lost", "l1")]
    clock.advance(2.0)  # b's retry interval, far less than the 15 s duration
    b.run_once()
    assert b.is_holder("l1")


def test_unwant_releases(fake, clock) -> None:
    a = elector(fake, clock, "a")
    a.set_wanted(["l1", "l2"])
    a.run_once()
    assert a.held() == {"l1", "l2"}
    a.set_wanted(["l2"])
    a.run_once()
    assert a.held() == {"l2"}
    assert holder(fake, "l1") == ""
    assert a.wanted() == {"l2"}


def test_many_leases_one_elector(fake, clock) -> None:
    a, b = elector(fake, clock, "a"), elector(fake, clock, "b")
    names = [f"svc-{i}" for i in range(100)]
    a.set_wanted(names[:60])
    b.set_wanted(names[40:])
    a.run_once()
    b.run_once()
    assert a.held() == set(names[:60])
    assert b.held() == set(names[60:])
    assert not (a.held() & b.held())


def test_lost_cas_race_is_not_holding(fake, clock) -> None:
    a, b = elector(fake, clock, "a"), elector(fake, clock, "b")
    b.want("l1")
    b.run_once()
    b.stop(release=True)  # free lease exists
    a.want("l1")
    fake.fail_next(errors.Conflict("409", status=409), verbs=("replace",))
    a.run_once()
    assert not a.is_holder("l1")
    a.run_once()  # re-read at once, then wins
    assert a.is_holder("l1")


def test_renew_failures_past_deadline_lose_then_regain(fake, clock) -> None:
    """Case C19: after a lost renewal the elector keeps campaigning and gets it back."""
    log = Log()
    a = elector(fake, clock, "a", log)
    a.want("l1")
    a.run_once()
    for _ in range(5):  # five outages, each 1.5 x the lease duration
        fake.fail_next(errors.Unavailable("api down", status=0), count=10_000)
        lost_at = None
        for step in range(23):
            clock.advance(1.0)
            a.run_once()
            if lost_at is None and not a.is_holder("l1"):
                lost_at = step + 1
        assert lost_at is not None
        assert lost_at <= 10  # renew deadline = 2/3 of 15 s
        fake._faults.clear()
        for _ in range(15):
            clock.advance(1.0)
            a.run_once()
            if a.is_holder("l1"):
                break
        assert a.is_holder("l1")
    assert log.events == [("acquired", "l1")] + [("lost", "l1"), ("acquired", "l1")] * 5


def test_fenced_lease_is_lost_and_not_retaken_before_delay(fake, clock) -> None:
    log = Log()
    a = elector(fake, clock, "a", log, reacquire_delay_s=10.0)
    a.want("node-a")
    a.run_once()
    rv = fake.get(source.LEASE, "node-a", namespace=NS)["metadata"]["resourceVersion"]
    assert lease.fence_lease(
        fake, namespace=NS, name="node-a", expected_resource_version=rv, wall_s=clock.wall()
    )
    assert not lease.fence_lease(
        fake, namespace=NS, name="node-a", expected_resource_version=rv, wall_s=clock.wall()
    )
    clock.advance(5.0)
    a.run_once()
    assert not a.is_holder("node-a")
    assert log.events == [("acquired", "node-a"), ("lost", "node-a")]
    clock.advance(5.0)
    a.run_once()
    assert not a.is_holder("node-a")
    clock.advance(5.0)
    a.run_once()
    assert a.is_holder("node-a")
    assert fake.get(source.LEASE, "node-a", namespace=NS)["spec"]["leaseTransitions"] == 2


def test_throttled_waits_retry_after(fake, clock) -> None:
    a = elector(fake, clock, "a")
    a.want("l1")
    fake.fail_next(errors.Throttled("429", retry_after_s=7.0), verbs=("get",))
    nxt = a.run_once()
    assert nxt == pytest.approx(clock.now() + 7.0)


def test_observe_reports_holder_and_expiry(fake, clock) -> None:
    a, b = elector(fake, clock, "a"), elector(fake, clock, "b")
    a.want("l1")
    a.run_once()
    b.observe("l1")
    b.run_once()
    assert b.holder_of("l1") == "a"
    assert "l1" not in b.wanted()
    clock.advance(16.0)
    assert b.holder_of("l1") is None  # no change seen for longer than the duration


def test_live_holders_by_wall_clock(fake, clock) -> None:
    a = elector(fake, clock, "a")
    a.set_wanted(["x", "y"])
    a.run_once()
    leases = fake.list(source.LEASE, namespace=NS).items
    assert lease.live_holders(leases, now_wall_s=clock.wall()) == {"x": "a", "y": "a"}
    assert lease.live_holders(leases, now_wall_s=clock.wall() + 16) == {}


@pytest.mark.parametrize("seed", range(10))
def test_random_interleavings_never_two_holders(fake, clock, seed: int) -> None:
    rng = random.Random(seed)
    electors = [elector(fake, clock, n) for n in ("a", "b", "c")]
    for e in electors:
        e.want("l1")
    for _ in range(300):
        action = rng.random()
        if action < 0.6:
            rng.choice(electors).run_once()
        elif action < 0.9:
            clock.advance(rng.uniform(0.0, 4.0))
        else:
            fake.fail_next(
                rng.choice([errors.Unavailable("x", status=500), errors.Conflict("y", status=409)]),
                count=rng.randint(1, 3),
            )
        holders = [e.identity for e in electors if e.is_holder("l1")]
        assert len(holders) <= 1, holders


def test_leader_elector_single_lease(fake, clock) -> None:
    started: list[str] = []
    le = lease.LeaderElector(
        fake,
        namespace=NS,
        name="ingot-controller",
        identity="pod-1",
        on_started_leading=lambda: started.append("start"),
        on_stopped_leading=lambda: started.append("stop"),
        clock=clock,
    )
    le.run_once()
    assert le.is_leader()
    le.stop()
    assert started == ["start", "stop"]
    assert not le.is_leader()


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        pytest.param(
            {"renew_interval_s": 20.0}, "renew_interval_s", id="renew-longer-than-duration"
        ),
        pytest.param({"retry_interval_s": 0.0}, "retry_interval_s", id="zero-retry"),
    ],
)
def test_bad_durations_rejected(fake, clock, kw, msg) -> None:
    with pytest.raises(ValueError, match=msg):
        elector(fake, clock, "a", **kw)


def test_steady_renewal_is_one_put_per_lease(fake, clock) -> None:
    a = elector(fake, clock, "a")
    a.set_wanted(["x", "y"])
    a.run_once()
    fake.calls.clear()
    for _ in range(3):
        clock.advance(5.0)
        a.run_once()
    assert sorted(c[0] for c in fake.calls) == ["replace"] * 6
    assert a.held() == {"x", "y"}


def test_fast_renewal_conflict_falls_back_to_read(fake, clock) -> None:
    la = Log()
    a = elector(fake, clock, "a", la)
    a.want("x")
    a.run_once()
    # Someone else writes the Lease (e.g. an admin edit that keeps us as holder).
    fake.patch(source.LEASE, "x", {"metadata": {"labels": {"touched": "yes"}}}, namespace=NS)
    clock.advance(5.0)
    a.run_once()  # fast PUT gets 409, then GET + PUT on the fresh copy
    assert a.is_holder("x")
    assert [c[0] for c in fake.calls[-3:]] == ["replace", "get", "replace"]
    assert la.events == [("acquired", "x")]


def test_lapse_is_reported_even_if_the_next_renewal_succeeds(fake, clock) -> None:
    """is_holder() was False for a while: callbacks must say so (lost, then acquired)."""
    log = Log()
    a = elector(fake, clock, "a", log)
    a.want("x")
    a.run_once()
    clock.advance(11.0)  # past the 10 s renew deadline without any pass (thread starved)
    assert not a.is_holder("x")
    a.run_once()  # the API answers fine now
    assert a.is_holder("x")
    assert log.events == [("acquired", "x"), ("lost", "x"), ("acquired", "x")]
