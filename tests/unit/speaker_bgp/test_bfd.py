"""BFD (speaker.bgp.bfd): packet format, reception checks, state machine, timers, Poll/Final.

References are RFC 5880 sections; the transition table is §6.8.6's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
from dataclasses import replace

import pytest

from speaker.bgp import bfd
from speaker.bgp.bfd import BfdSession, BfdTimers, ControlPacket, Diag, Drop, State
from speaker.bgp.metrics import BfdMetrics

T300 = BfdTimers(300_000, 300_000, 3)


def pkt(state: State, **kw) -> ControlPacket:
    base = {
        "my_discriminator": 77,
        "your_discriminator": 42,
        "desired_min_tx_us": 300_000,
        "required_min_rx_us": 300_000,
        "detect_mult": 3,
    }
    base.update(kw)
    return ControlPacket(state=state, **base)


def session(state: State = State.DOWN, **kw) -> BfdSession:
    s = BfdSession(42, kw.pop("timers", T300), rng=random.Random(1))
    s.state = state
    for k, v in kw.items():
        setattr(s, k, v)
    return s


# ---------------------------------------------------------------- packet format (§4.1)


def test_encode_decode_roundtrip():
    p = pkt(State.UP, poll=True, diag=Diag.DETECTION_TIME_EXPIRED, required_min_echo_rx_us=0)
    wire = p.encode()
    assert len(wire) == 24
    assert wire[0] == (1 << 5) | 1  # version 1, diag 1
    assert wire[1] == (3 << 6) | (1 << 5)  # Up, P
    assert bfd.decode(wire) == p


def raw(**kw) -> bytes:
    return pkt(kw.pop("state", State.DOWN), **kw).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(raw()[:23], Drop.SHORT, id="short"),
        pytest.param(bytes([2 << 5]) + raw()[1:], Drop.BAD_VERSION, id="version-2"),
        pytest.param(raw(length=40), Drop.BAD_LENGTH, id="length-beyond-payload"),
        pytest.param(raw(length=20), Drop.BAD_LENGTH, id="length-below-24"),
        pytest.param(raw(detect_mult=0), Drop.ZERO_DETECT_MULT, id="zero-mult"),
        pytest.param(raw(multipoint=True), Drop.MULTIPOINT, id="multipoint"),
        pytest.param(raw(my_discriminator=0), Drop.ZERO_MY_DISCRIMINATOR, id="zero-my-discr"),
        pytest.param(
            raw(state=State.UP, your_discriminator=0),
            Drop.ZERO_YOUR_DISCRIMINATOR,
            id="zero-your-discr-while-up",
        ),
        pytest.param(raw(auth=True, length=26) + b"\x01\x02", Drop.AUTH_UNSUPPORTED, id="auth-bit"),
    ],
)
def test_malformed_dropped(data, reason):
    assert bfd.decode(data) == reason


def test_zero_your_discriminator_allowed_when_down():
    assert isinstance(bfd.decode(raw(state=State.DOWN, your_discriminator=0)), ControlPacket)


# ---------------------------------------------------------------- state machine (§6.8.6)


@pytest.mark.parametrize(
    ("local", "remote", "expected", "diag"),
    [
        pytest.param(State.DOWN, State.DOWN, State.INIT, Diag.NONE, id="down+down->init"),
        pytest.param(State.DOWN, State.INIT, State.UP, Diag.NONE, id="down+init->up"),
        pytest.param(State.DOWN, State.UP, State.DOWN, Diag.NONE, id="down+up-stays"),
        pytest.param(State.DOWN, State.ADMIN_DOWN, State.DOWN, Diag.NONE, id="down+admin-stays"),
        pytest.param(State.INIT, State.INIT, State.UP, Diag.NONE, id="init+init->up"),
        pytest.param(State.INIT, State.UP, State.UP, Diag.NONE, id="init+up->up"),
        pytest.param(State.INIT, State.DOWN, State.INIT, Diag.NONE, id="init+down-stays"),
        pytest.param(
            State.INIT, State.ADMIN_DOWN, State.DOWN, Diag.NEIGHBOR_SIGNALED_DOWN, id="init+admin"
        ),
        pytest.param(State.UP, State.UP, State.UP, Diag.NONE, id="up+up-stays"),
        pytest.param(State.UP, State.INIT, State.UP, Diag.NONE, id="up+init-stays"),
        pytest.param(
            State.UP, State.DOWN, State.DOWN, Diag.NEIGHBOR_SIGNALED_DOWN, id="up+down->down"
        ),
        pytest.param(
            State.UP, State.ADMIN_DOWN, State.DOWN, Diag.NEIGHBOR_SIGNALED_DOWN, id="up+admin"
        ),
        pytest.param(State.ADMIN_DOWN, State.UP, State.ADMIN_DOWN, Diag.NONE, id="admin-ignores"),
    ],
)
def test_transitions(local, remote, expected, diag):
    s = session(local)
    change = s.receive(pkt(remote), now=0.0)
    assert s.state == expected
    assert (change is not None) == (expected != local)
    if change is not None:
        assert change.diag == diag
        assert s.local_diag == diag


def test_three_way_handshake_between_two_sessions():
    a = BfdSession(1, T300, rng=random.Random(1))
    b = BfdSession(2, T300, rng=random.Random(2))
    now = 0.0
    for _ in range(3):
        b.receive(bfd.decode(a.build_packet(now).encode()), now=now)  # type: ignore[arg-type]
        a.receive(bfd.decode(b.build_packet(now).encode()), now=now)  # type: ignore[arg-type]
    assert a.state == b.state == State.UP
    assert a.remote_discr == 2
    assert b.remote_discr == 1


# ---------------------------------------------------------------- timers (§6.8.2-§6.8.4, §6.8.7)


def test_slow_tx_until_up():
    s = session(State.DOWN, timers=BfdTimers(100_000, 100_000, 3))
    assert s.build_packet(0.0).desired_min_tx_us == 1_000_000  # §6.8.3 floor while not Up
    s.state = State.UP
    assert s.build_packet(0.0).desired_min_tx_us == 100_000


@pytest.mark.parametrize(
    ("local", "remote_tx", "remote_rx", "remote_mult", "tx_s", "detect_s"),
    [
        pytest.param(BfdTimers(300_000, 300_000, 3), 300_000, 300_000, 3, 0.3, 0.9, id="300x3"),
        pytest.param(
            BfdTimers(100_000, 100_000, 3), 300_000, 500_000, 5, 0.5, 1.5, id="slower-peer"
        ),
        pytest.param(BfdTimers(300_000, 200_000, 3), 100_000, 100_000, 2, 0.3, 0.4, id="our-rx"),
    ],
)
def test_negotiation(local, remote_tx, remote_rx, remote_mult, tx_s, detect_s):
    s = session(State.UP, timers=local)
    s.receive(
        pkt(
            State.UP,
            desired_min_tx_us=remote_tx,
            required_min_rx_us=remote_rx,
            detect_mult=remote_mult,
        ),
        now=10.0,
    )
    assert s.tx_interval_s == pytest.approx(tx_s)
    assert s.detection_time_s == pytest.approx(detect_s)
    assert s.detect_deadline == pytest.approx(10.0 + detect_s)


def test_jitter_75_to_100_percent():
    s = session(State.UP)
    s.remote_min_rx_us = 300_000
    gaps = []
    for i in range(200):
        s.build_packet(float(i))
        gaps.append(s.next_tx - i)
    assert min(gaps) >= 0.3 * 0.75
    assert max(gaps) <= 0.3


def test_detection_expiry_goes_down_and_resets_remote():
    s = session(State.UP)
    s.receive(pkt(State.UP), now=0.0)
    assert s.expire(0.5) is None
    change = s.expire(0.91)
    assert change == bfd.Transition(State.UP, State.DOWN, Diag.DETECTION_TIME_EXPIRED)
    assert s.remote_discr == 0


def test_passive_waits_for_peer():
    s = session(State.DOWN, timers=replace(T300, passive=True))
    assert not s.tx_due(100.0)
    s.receive(pkt(State.DOWN, your_discriminator=0), now=100.0)
    assert s.tx_due(100.0)


def test_remote_min_rx_zero_stops_periodic_tx():
    s = session(State.UP)
    s.receive(pkt(State.UP, required_min_rx_us=0), now=0.0)
    assert not s.tx_due(100.0)


# ---------------------------------------------------------------- Poll / Final (§6.5)


def test_poll_answered_with_final():
    s = session(State.UP)
    s.receive(pkt(State.UP, poll=True), now=0.0)
    assert s.tx_due(0.0)
    out = s.build_packet(0.0)
    assert out.final
    assert not out.poll


def test_timer_change_uses_poll_sequence():
    s = session(State.UP)
    s.poll_active = False
    slower = BfdTimers(1_000_000, 1_000_000, 3)
    s.set_timers(slower, now=0.0)
    out = s.build_packet(0.0)
    assert out.poll
    assert out.required_min_rx_us == 1_000_000
    # until the Final, the old (faster) intervals stay in force
    s.receive(pkt(State.UP), now=0.0)
    assert s.detection_time_s == pytest.approx(0.9)
    assert s.timers == T300
    s.receive(pkt(State.UP, final=True), now=0.1)
    assert s.timers == slower
    assert not s.poll_active
    assert s.detection_time_s == pytest.approx(3.0)


def test_entering_up_polls_for_faster_tx():
    s = session(State.INIT)
    s.receive(pkt(State.UP), now=0.0)
    assert s.state == State.UP
    assert s.build_packet(0.0).poll


# ---------------------------------------------------------------- runtime over loopback


async def test_two_services_come_up_over_loopback_and_drop_bad_ttl():
    """The service's packet path (TTL check, demultiplexing, state, metrics, Down callback)
    with crafted packets and ancillary data; the sockets are exercised in the netlab tier."""
    metrics = BfdMetrics()
    downs: list[str] = []
    svc = bfd.BfdService(metrics=metrics, on_down=downs.append, rng=random.Random(3))
    peer = bfd.BfdPeer("router", ipaddress.ip_address("127.0.0.2"), T300)
    # no socket: drive _handle directly with ancillary TTL data
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        svc.set_peers([peer], tx_sockets={"router": tx})
        live = svc.sessions["router"]
        ttl255 = [(socket.IPPROTO_IP, socket.IP_TTL, (255).to_bytes(4, "little"))]
        ttl64 = [(socket.IPPROTO_IP, socket.IP_TTL, (64).to_bytes(4, "little"))]
        down = pkt(State.DOWN, your_discriminator=0).encode()
        svc._handle(down, ttl64, "127.0.0.2")
        assert (
            metrics.registry.get_sample_value(
                "ingot_bfd_dropped_packets_total", {"reason": "bad_ttl"}
            )
            == 1
        )
        assert live.session.state == State.DOWN
        svc._handle(down, ttl255, "127.0.0.2")
        assert live.session.state == State.INIT
        svc._handle(
            pkt(State.UP, your_discriminator=live.session.local_discr).encode(), ttl255, "x"
        )
        assert live.session.state == State.UP
        labels = {"peer": "127.0.0.2"}
        assert metrics.registry.get_sample_value("metallb_bfd_session_up", labels) == 1
        svc._handle(
            pkt(State.DOWN, your_discriminator=live.session.local_discr).encode(), ttl255, "x"
        )
        assert downs == ["router"]
        assert (
            metrics.registry.get_sample_value("metallb_bfd_session_down_events_total", labels) == 1
        )
        svc._handle(pkt(State.UP, your_discriminator=999).encode(), ttl255, "x")
        assert (
            metrics.registry.get_sample_value(
                "ingot_bfd_dropped_packets_total", {"reason": "unknown_discriminator"}
            )
            == 1
        )
        svc._handle(down, ttl255, "127.0.0.9")
        assert (
            metrics.registry.get_sample_value(
                "ingot_bfd_dropped_packets_total", {"reason": "unknown_peer"}
            )
            == 1
        )
    finally:
        for name in list(svc.sessions):
            svc._remove(name)
    await asyncio.sleep(0)
