"""The process-API seam and the ExaBGP supervisor, against a fake ExaBGP executable.

The fake (``fake_exabgp.py``) runs the real helper relay from the rendered configuration, so
these tests cover helper <-> socket <-> ApiChannel for real; only BGP itself is absent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ingot.api.bgp import BgpPeerSpec, LargeCommunity, Route, StandardCommunity
from ingot.clock import FakeClock
from speaker.bgp import driver
from speaker.bgp.exabgp import ExabgpDriver
from speaker.bgp.metrics import BgpMetrics

FAKE = [sys.executable, str(Path(__file__).with_name("fake_exabgp.py"))]
NET = ipaddress.ip_network


def route(prefix: str, peer: str = "router-a", **kw) -> Route:
    return Route(NET(prefix), peer, kw.pop("next_hop", "self"), **kw)


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        pytest.param(
            route("203.0.113.16/32"), "announce route 203.0.113.16/32 next-hop self", id="plain"
        ),
        pytest.param(
            route(
                "203.0.113.16/32",
                communities=(StandardCommunity(64512, 1), StandardCommunity(64512, 2)),
                large_communities=(LargeCommunity(64512, 1, 2),),
                local_pref=200,
            ),
            "announce route 203.0.113.16/32 next-hop self local-preference 200 "
            "community [64512:1 64512:2] large-community [64512:1:2]",
            id="attributes",
        ),
        pytest.param(
            route("2001:db8:10::5/128", next_hop="2001:db8::11"),
            "announce route 2001:db8:10::5/128 next-hop 2001:db8::11",
            id="mp-bgp-explicit-next-hop",
        ),
    ],
)
def test_announce_command(r, expected):
    assert driver.announce_command(r) == expected


def test_diff_only_changes():
    a, b, c = route("203.0.113.1/32"), route("203.0.113.2/32"), route("203.0.113.3/32")
    b2 = replace(b, communities=(StandardCommunity(1, 1),))
    diff = driver.diff_routes(driver.by_prefix([a, b]), driver.by_prefix([b2, c]))
    assert diff.announce == (b2, c)
    assert diff.withdraw == (a,)
    assert not driver.diff_routes(driver.by_prefix([a]), driver.by_prefix([a]))


@pytest.mark.parametrize(
    ("line", "event"),
    [
        pytest.param(
            "neighbor 198.51.100.1 up", driver.NeighborEvent("198.51.100.1", "up"), id="up"
        ),
        pytest.param(
            "neighbor 198.51.100.1 down - notification sent (2,2) OPEN message error / Bad Peer AS",
            driver.NeighborEvent(
                "198.51.100.1", "down", "notification sent (2,2) OPEN message error / Bad Peer AS"
            ),
            id="down-with-reason",
        ),
        pytest.param("done", None, id="ack"),
        pytest.param("neighbor 198.51.100.1 announced route", None, id="other"),
    ],
)
def test_parse_event(line, event):
    assert driver.parse_event(line) == event


def test_fake_driver_records():
    fake = driver.FakeDriver()
    r = frozenset({route("203.0.113.1/32")})
    fake.set_routes(r)
    fake.set_routes(r)
    assert fake.routes == r
    assert fake.history == [r]


PEER_A = BgpPeerSpec("router-a", 64512, 64500, ipaddress.ip_address("198.51.100.1"))
PEER_B = BgpPeerSpec("router-b", 64512, 64500, ipaddress.ip_address("198.51.100.2"))


def make_driver(tmp_path: Path, **opts: float) -> ExabgpDriver:
    return ExabgpDriver(
        runtime_dir=tmp_path / "run",
        metrics=BgpMetrics(),
        node_name="node-a",
        node_addresses=[ipaddress.ip_address("198.51.100.11")],
        clock=FakeClock(),
        process_options={"ack_timeout_s": 2.0, "connect_timeout_s": 10.0, **opts},
    )


@pytest.fixture
def fake_exabgp(monkeypatch, tmp_path):
    record = tmp_path / "record.txt"
    monkeypatch.setenv("FAKE_EXABGP_RECORD", str(record))
    monkeypatch.setattr("speaker.bgp.exabgp.exabgp_command", lambda: FAKE)
    return record


def commands(record: Path) -> list[tuple[int, str]]:
    if not record.exists():
        return []
    out = []
    for line in record.read_text().splitlines():
        pid, cmd = line.split(" ", 1)
        out.append((int(pid), cmd))
    return out


async def running(drv: ExabgpDriver):
    task = asyncio.create_task(drv.run())
    await asyncio.sleep(0)
    return task


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_applies_only_the_difference(fake_exabgp, tmp_path):
    drv = make_driver(tmp_path)
    task = await running(drv)
    try:
        drv.set_peers([PEER_A])
        r1, r2, r3 = route("203.0.113.1/32"), route("203.0.113.2/32"), route("203.0.113.3/32")
        drv.set_routes(frozenset({r1, r2}))
        assert await drv.wait_synced(timeout_s=20)
        drv.set_routes(frozenset({r2, r3}))
        assert await drv.wait_synced(timeout_s=20)
        cmds = [c for _, c in commands(fake_exabgp)]
        assert cmds == [
            "announce route 203.0.113.1/32 next-hop self",
            "announce route 203.0.113.2/32 next-hop self",
            "announce route 203.0.113.3/32 next-hop self",
            "withdraw route 203.0.113.1/32 next-hop self",
        ]
        proc = drv.processes["router-a"]
        assert proc.session_up
        m = drv.metrics.registry
        labels = {"peer": "198.51.100.1"}
        assert m.get_sample_value("metallb_bgp_session_up", labels) == 1
        assert m.get_sample_value("metallb_bgp_updates_total", labels) == 4
        assert m.get_sample_value("metallb_bgp_announced_prefixes_total", labels) == 2
    finally:
        await stop(task)
    assert drv.metrics.registry.get_sample_value("metallb_bgp_session_up", labels) == 0


async def test_restart_reannounces_everything(fake_exabgp, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EXABGP_EXIT_AFTER", "2")
    drv = make_driver(tmp_path)
    task = await running(drv)
    try:
        drv.set_peers([PEER_A])
        routes = frozenset(route(f"203.0.113.{i}/32") for i in range(1, 5))
        drv.set_routes(routes)
        assert await drv.wait_synced(timeout_s=30)
        by_pid: dict[int, list[str]] = {}
        for pid, cmd in commands(fake_exabgp):
            by_pid.setdefault(pid, []).append(cmd)
        first, second = by_pid.values()
        assert len(first) == 2  # crashed after two commands
        assert sorted(second) == sorted(driver.announce_command(r) for r in routes)
        assert drv.processes["router-a"].applied == routes
        assert (
            drv.metrics.registry.get_sample_value(
                "ingot_bgp_exabgp_restarts_total", {"peer": "198.51.100.1"}
            )
            == 1
        )
    finally:
        await stop(task)


async def test_ack_timeout_restarts_with_backoff(fake_exabgp, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EXABGP_HANG", "1")
    drv = make_driver(tmp_path, ack_timeout_s=0.3, backoff_initial_s=1.0, backoff_max_s=4.0)
    task = await running(drv)
    try:
        drv.set_peers([PEER_A])
        drv.set_routes(frozenset({route("203.0.113.1/32")}))
        proc = drv.processes["router-a"]
        for _ in range(200):
            if proc.starts >= 4:
                break
            await asyncio.sleep(0.05)
        assert proc.starts >= 4
        assert "no ack" in proc.last_down_reason
        # FakeClock: the supervisor slept 1 + 2 + 4 (capped) s between the four starts
        assert drv.clock is not None
        assert drv.clock.now() >= 1000 + 1 + 2 + 4
    finally:
        await stop(task)


async def test_error_ack_does_not_loop(fake_exabgp, tmp_path):
    drv = make_driver(tmp_path)
    task = await running(drv)
    try:
        drv.set_peers([PEER_A])
        bad = route("203.0.113.1/32", next_hop="bogus")
        drv.set_routes(frozenset({bad}))
        assert await drv.wait_synced(timeout_s=20)
        await asyncio.sleep(0.2)
        assert len(commands(fake_exabgp)) == 1
    finally:
        await stop(task)


async def test_event_flood_is_drained_p1(fake_exabgp, tmp_path, monkeypatch):
    """ExaBGP writes ~1.5 MB of events before reading: the relay and reader must keep up."""
    monkeypatch.setenv("FAKE_EXABGP_FLOOD", "50000")
    drv = make_driver(tmp_path)
    task = await running(drv)
    try:
        drv.set_peers([PEER_A])
        drv.set_routes(frozenset({route("203.0.113.1/32")}))
        assert await drv.wait_synced(timeout_s=60)
    finally:
        await stop(task)


async def test_peer_change_restarts_only_that_peer(fake_exabgp, tmp_path):
    drv = make_driver(tmp_path)
    task = await running(drv)
    try:
        drv.set_peers([PEER_A, PEER_B])
        drv.set_routes(frozenset({route("203.0.113.1/32"), route("203.0.113.1/32", "router-b")}))
        assert await drv.wait_synced(timeout_s=20)
        pids = {n: p.pid for n, p in drv.processes.items()}
        # change router-b (hold time): only its process is replaced
        drv.set_peers([PEER_A, replace(PEER_B, hold_time_s=9)])
        assert await drv.wait_synced(timeout_s=20)
        assert drv.processes["router-a"].pid == pids["router-a"]
        assert drv.processes["router-b"].pid not in (None, pids["router-b"])
        # the same definition again: nothing restarts
        same = {n: p.pid for n, p in drv.processes.items()}
        drv.set_peers([PEER_A, replace(PEER_B, hold_time_s=9)])
        await asyncio.sleep(0.1)
        assert {n: p.pid for n, p in drv.processes.items()} == same
        # remove router-b: router-a untouched
        drv.set_peers([PEER_A])
        assert set(drv.processes) == {"router-a"}
        assert drv.processes["router-a"].pid == pids["router-a"]
    finally:
        await stop(task)


async def test_render_error_reported_not_started(fake_exabgp, tmp_path):
    drv = make_driver(tmp_path)
    task = await running(drv)
    try:
        errors = drv.set_peers([replace(PEER_A, hold_time_s=1)])
        assert "spec.holdTime" in errors["router-a"]
        assert drv.processes == {}
    finally:
        await stop(task)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        pytest.param(0, 1.0, id="after-stable-session-quick"),
        pytest.param(1, 5.0, id="first-failure"),
        pytest.param(2, 10.0, id="doubling"),
        pytest.param(5, 80.0, id="still-doubling"),
        pytest.param(6, 120.0, id="capped"),
        pytest.param(60, 120.0, id="capped-far"),
    ],
)
def test_restart_delay(failures, expected):
    from speaker.bgp.exabgp import restart_delay_s

    assert restart_delay_s(failures=failures, quick_s=1.0, initial_s=5.0, max_s=120.0) == expected


def test_c24_attempts_never_storm():
    """C24: a peer that never comes up gets at most one attempt in any 5 s window, 10 min."""
    from speaker.bgp.exabgp import restart_delay_s

    t, attempts, failures = 0.0, [], 0
    while t < 600:
        attempts.append(t)
        failures += 1
        t += 0.5 + restart_delay_s(failures=failures, quick_s=1.0, initial_s=5.0, max_s=120.0)
    assert all(b - a >= 5 for a, b in itertools.pairwise(attempts))
    assert len(attempts) <= 10
