"""Membership, fencing, self-fencing (speaker.l2.fencing) and heartbeats over recorded inputs."""

from __future__ import annotations

import random

import pytest

from ingot.api.l2 import MemberState
from speaker.l2 import heartbeat
from speaker.l2.fencing import (
    LeaseView,
    PeerHeartbeat,
    SelfReason,
    Timings,
    fence_targets,
    fenced_lease,
    may_announce,
    member_state,
    membership,
    rejoin_due,
)

T = Timings()
NOW = 1000.0


def lease(holder, *, renewed=NOW - 1, transitions=0, rv="1"):
    return LeaseView(holder, transitions, rv, renewed)


def hb(heard=NOW - 0.05, **kw):
    return PeerHeartbeat(heard, **kw)


@pytest.mark.parametrize(
    ("lease_", "hb_", "api_ok", "want"),
    [
        pytest.param(None, None, True, MemberState.ABSENT, id="no-lease"),
        pytest.param(lease("n1"), None, True, MemberState.LIVE, id="held"),
        pytest.param(lease("n1"), hb(NOW - 5), True, MemberState.LIVE, id="silent-but-unfenced"),
        pytest.param(lease("", transitions=3), hb(), True, MemberState.FENCED, id="fenced"),
        pytest.param(lease(""), None, True, MemberState.ABSENT, id="never-held"),
        pytest.param(lease("n2"), hb(), True, MemberState.ABSENT, id="other-holder"),
        pytest.param(lease("n1", renewed=NOW - 11), None, True, MemberState.ABSENT, id="expired"),
        pytest.param(
            lease("n1", renewed=NOW - 11), hb(), True, MemberState.LIVE, id="I4-expired-heard"
        ),
        pytest.param(
            lease("n1", renewed=NOW - 60), None, False, MemberState.LIVE, id="I4-api-down-freeze"
        ),
    ],
)
def test_member_state(lease_, hb_, api_ok, want):
    got = member_state("n1", lease=lease_, heartbeat=hb_, now_s=NOW, api_ok=api_ok, timings=T)
    assert got is want


def test_membership_interfaces_from_self_scan_and_heartbeats():
    m = membership(
        leases={"n1": lease("n1"), "n2": lease("n2"), "n3": lease("n3")},
        heartbeats={"n2": hb(up_interfaces=frozenset({"eth0"}))},
        me="n1",
        my_interfaces=frozenset({"eth0", "eth1"}),
        now_s=NOW,
        api_ok=True,
        timings=T,
    )
    assert m["n1"].up_interfaces == {"eth0", "eth1"}
    assert m["n2"].up_interfaces == {"eth0"}
    assert m["n3"].up_interfaces is None


@pytest.mark.parametrize(
    ("heartbeats", "leases", "api_ok", "want"),
    [
        pytest.param({"n2": hb()}, None, True, [], id="all-heard"),
        pytest.param({"n2": hb(NOW - 0.36)}, None, True, ["n2"], id="silent-350ms"),
        pytest.param({"n2": hb(NOW - 0.2)}, None, True, [], id="two-lost-frames"),
        pytest.param({}, None, True, [], id="never-heard-lease-valid"),
        pytest.param({"n2": hb(NOW - 0.5)}, None, False, [], id="I4-api-down-no-fence"),
        pytest.param(
            {}, {"n2": lease("n2", renewed=NOW - 10.5)}, True, ["n2"], id="expired-and-silent"
        ),
        pytest.param(
            {"n2": hb()}, {"n2": lease("n2", renewed=NOW - 10.5)}, True, [], id="expired-but-heard"
        ),
        pytest.param(
            {"n2": hb(NOW - 1)}, {"n2": lease("", transitions=1)}, True, [], id="already-fenced"
        ),
    ],
)
def test_fence_targets(heartbeats, leases, api_ok, want):
    leases = leases or {"n1": lease("n1"), "n2": lease("n2")}
    got = fence_targets(
        leases=leases, heartbeats=heartbeats, me="n1", now_s=NOW, api_ok=api_ok, timings=T
    )
    assert got == want


def test_isolated_node_fences_nobody():
    leases = {n: lease(n) for n in ("n1", "n2", "n3")}
    silent = {"n2": hb(NOW - 1), "n3": hb(NOW - 1)}
    kw = dict(leases=leases, me="n1", now_s=NOW, api_ok=True, timings=T)
    assert fence_targets(heartbeats=silent, **kw) == []  # hears nobody of 2 live peers
    assert fence_targets(heartbeats={"n2": hb(NOW - 1), "n3": hb()}, **kw) == ["n2"]
    assert fence_targets(heartbeats={"n2": hb(NOW - 1), "n3": hb()}, links_up=False, **kw) == []


def test_never_fence_self():
    got = fence_targets(
        leases={"n1": lease("n1", renewed=NOW - 30)},
        heartbeats={},
        me="n1",
        now_s=NOW,
        api_ok=True,
        timings=T,
    )
    assert got == []


@pytest.mark.parametrize(
    ("own", "heartbeats", "size", "api_ok", "want"),
    [
        pytest.param(lease("n1"), {}, 3, True, SelfReason.OK, id="ok"),
        pytest.param(None, {}, 3, True, SelfReason.NO_LEASE, id="no-lease"),
        pytest.param(lease("", transitions=2), {}, 3, True, SelfReason.FENCED, id="fenced"),
        pytest.param(
            lease("n1", transitions=2),
            {"n2": hb(fenced={"n1": 2})},
            3,
            True,
            SelfReason.FENCED_BY_PEER,
            id="peer-says-fenced",
        ),
        pytest.param(
            lease("n1", transitions=3),
            {"n2": hb(fenced={"n1": 2})},
            3,
            True,
            SelfReason.OK,
            id="stale-claim-after-rejoin",
        ),
        pytest.param(lease("n1"), {}, 3, False, SelfReason.ISOLATED, id="api-down-alone"),
        pytest.param(lease("n1"), {"n2": hb()}, 3, False, SelfReason.OK, id="I4-api-down-majority"),
        pytest.param(lease("n1"), {}, 1, False, SelfReason.OK, id="I4-single-node"),
        pytest.param(
            lease("n1"), {"n2": hb(NOW - 1)}, 2, False, SelfReason.ISOLATED, id="two-nodes-silent"
        ),
    ],
)
def test_may_announce(own, heartbeats, size, api_ok, want):
    got = may_announce(
        me="n1",
        lease=own,
        heartbeats=heartbeats,
        cluster_size=size,
        now_s=NOW,
        api_ok=api_ok,
        timings=T,
    )
    assert got is want


def test_rejoin_after_hold_down_only():
    assert not rejoin_due(healthy_since_s=None, now_s=NOW, timings=T)
    assert not rejoin_due(healthy_since_s=NOW - 9.9, now_s=NOW, timings=T)
    assert rejoin_due(healthy_since_s=NOW - 10, now_s=NOW, timings=T)


def test_fenced_lease_body():
    raw = {
        "metadata": {"name": "ingot-speaker-n2", "resourceVersion": "42"},
        "spec": {"holderIdentity": "n2", "leaseTransitions": 4, "leaseDurationSeconds": 10},
    }
    out = fenced_lease(raw, holder="n2")
    assert out["spec"]["holderIdentity"] == ""
    assert out["spec"]["leaseTransitions"] == 5
    assert out["metadata"]["resourceVersion"] == "42"
    assert raw["spec"]["holderIdentity"] == "n2"  # input untouched
    with pytest.raises(ValueError):
        fenced_lease(raw, holder="n3")


def test_timings_check():
    assert Timings().check() == []
    assert Timings(suspect_after_s=0.1).check()
    assert Timings(renew_interval_s=20).check()


def test_scenario_kill_owner_one_fence_then_rejoin_after_hold_down():
    """Recorded run: n2 dies at t=0; n1 and n3 hear its silence; both try the CAS once."""
    leases = {n: lease(n, renewed=-1.0) for n in ("n1", "n2", "n3")}
    heard = {"n2": -0.0}
    t = 0.0
    fenced_at = None
    while t < 2.0:
        hbs = {n: PeerHeartbeat(h) for n, h in heard.items()}
        hbs["n3"] = PeerHeartbeat(t)  # n3 is alive and heard
        targets = fence_targets(
            leases=leases, heartbeats=hbs, me="n1", now_s=t, api_ok=True, timings=T
        )
        if targets and fenced_at is None:
            fenced_at = t
            leases["n2"] = LeaseView("", 1, "2", -1.0)
        t = round(t + 0.05, 2)
    assert fenced_at is not None
    assert 0.35 <= fenced_at <= 0.4
    # n2 restarts and heartbeats; it may only rejoin after the hold-down
    assert not rejoin_due(healthy_since_s=5.0, now_s=14.9, timings=T)
    assert rejoin_due(healthy_since_s=5.0, now_s=15.0, timings=T)


# --- heartbeats ------------------------------------------------------------------------------

KEY = b"k" * 32


def test_heartbeat_roundtrip_and_auth():
    hb_ = heartbeat.Heartbeat("node-a", 7, 3, 1_700_000_000_000, 2, ("eth0", "eth1"), {"node-b": 4})
    payload = heartbeat.encode(hb_, key=KEY)
    assert heartbeat.decode(payload, key=KEY) == hb_
    assert heartbeat.decode(payload, key=b"other") is heartbeat.Reject.BAD_MAC
    assert heartbeat.decode(payload[:-1], key=KEY) is heartbeat.Reject.BAD_MAC
    assert heartbeat.decode(b"junk", key=KEY) is heartbeat.Reject.MALFORMED


def test_heartbeat_receiver_replay_and_window():
    r = heartbeat.Receiver("me", KEY)
    wall = 1_700_000_000.0
    first = heartbeat.encode(heartbeat.Heartbeat("n2", 1, 5, int(wall * 1000)), key=KEY)
    assert isinstance(r.accept(first, wall_s=wall), heartbeat.Heartbeat)
    assert r.accept(first, wall_s=wall) is heartbeat.Reject.REPLAY
    old = heartbeat.encode(heartbeat.Heartbeat("n2", 1, 6, int((wall - 30) * 1000)), key=KEY)
    assert r.accept(old, wall_s=wall) is heartbeat.Reject.STALE
    restarted = heartbeat.encode(heartbeat.Heartbeat("n2", 9, 1, int(wall * 1000)), key=KEY)
    assert isinstance(r.accept(restarted, wall_s=wall), heartbeat.Heartbeat)
    own = heartbeat.encode(heartbeat.Heartbeat("me", 1, 1, int(wall * 1000)), key=KEY)
    assert r.accept(own, wall_s=wall) is heartbeat.Reject.OWN


def test_heartbeat_decode_never_raises():
    rnd = random.Random(3)
    base = heartbeat.encode(heartbeat.Heartbeat("n", 1, 1, 1, 1, ("eth0",), {"x": 1}), key=KEY)
    for _ in range(2000):
        b = bytearray(base)
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        heartbeat.decode(bytes(b[: rnd.randint(0, len(b))]), key=KEY)
        heartbeat.decode(bytes(b), key=KEY)


def test_heartbeat_decode_authenticated_garbage_is_malformed():
    import hashlib
    import hmac

    rnd = random.Random(5)
    for _ in range(2000):
        body = heartbeat.MAGIC + bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 80)))
        tag = hmac.new(KEY, body, hashlib.sha256).digest()[: heartbeat.TAG_LEN]
        got = heartbeat.decode(body + tag, key=KEY)
        assert isinstance(got, (heartbeat.Heartbeat, heartbeat.Reject))
