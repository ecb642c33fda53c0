"""Announcer: answers only owned IPs on allowed interfaces, GARP schedule, release at once."""

from __future__ import annotations

import ipaddress

from prometheus_client import CollectorRegistry

from ingot.clock import FakeClock
from speaker.l2 import frames
from speaker.l2.announcer import Announcer, GarpSchedule
from speaker.l2.frames import Drop
from speaker.l2.interfaces import IFF_BROADCAST, IFF_UP, LinkInfo
from speaker.l2.metrics import L2Metrics
from speaker.l2.wire import FakeWire

MAC0 = frames.mac_bytes("02:00:00:00:00:11")
MAC1 = frames.mac_bytes("02:00:00:00:01:11")
CLIENT = frames.mac_bytes("02:00:00:00:01:00")
V4 = ipaddress.IPv4Address("203.0.113.10")
V6 = ipaddress.IPv6Address("2001:db8:10::10")
C4 = ipaddress.IPv4Address("198.51.100.100")
C6 = ipaddress.IPv6Address("2001:db8:1::100")
LINKS = {
    "eth0": LinkInfo("eth0", 2, MAC0, IFF_UP | IFF_BROADCAST, True),
    "eth1": LinkInfo("eth1", 3, MAC1, IFF_UP | IFF_BROADCAST, True),
}


SCHEDULE = GarpSchedule(burst_count=2, burst_interval_s=0.25, refresh_interval_s=10)


def make(schedule=SCHEDULE):
    wire, clock, reg = FakeWire(), FakeClock(), CollectorRegistry()
    a = Announcer(wire=wire, clock=clock, schedule=schedule, metrics=L2Metrics(reg))
    a.set_links(LINKS)
    return a, wire, clock, reg


def kinds(sent):
    out = []
    for ifname, raw in sent:
        if raw[12:14] == b"\x08\x06":
            out.append((ifname, "arp", raw[21]))
        else:
            out.append((ifname, "na", raw[54]))
    return out


def test_take_sends_garp_at_once_on_allowed_interfaces_and_joins_group():
    a, wire, _, reg = make()
    taken, released = a.set_owned({str(V4): None, str(V6): frozenset({"eth1"})})
    assert taken == {V4, V6}
    assert released == set()
    assert sorted(kinds(wire.sent)) == [
        ("eth0", "arp", 1),
        ("eth0", "arp", 2),
        ("eth1", "arp", 1),
        ("eth1", "arp", 2),
        ("eth1", "na", 136),
    ]
    assert wire.groups["eth1"] == {frames.solicited_node(V6)}
    assert wire.groups["eth0"] == set()
    assert reg.get_sample_value("metallb_layer2_gratuitous_sent_total", {"ip": str(V4)}) == 4


def test_burst_then_refresh():
    a, wire, clock, _ = make()
    a.set_owned({str(V6): None})
    wire.sent.clear()
    times = []
    for _ in range(200):  # 20 s in 0.1 s steps
        clock.advance(0.1)
        before = len(wire.sent)
        a.tick()
        if len(wire.sent) > before:
            times.append(round(clock.now() - 1000, 2))
    # two burst sends 0.25 s apart (quantised to the 0.1 s steps), then refresh every 10 s
    assert times[:2] == [0.3, 0.6]
    assert len(times) == 4
    assert 9.9 <= times[2] <= 10.1


def test_answers_owned_ips_only_and_releases_at_once():
    a, wire, _, reg = make()
    a.set_owned({str(V4): frozenset({"eth0"}), str(V6): None})
    wire.sent.clear()
    assert a.on_frame("eth0", frames.arp_request(mac=CLIENT, src_ip=C4, target=V4)) is None
    ifname, reply = wire.sent[-1]
    assert ifname == "eth0"
    assert reply[:6] == CLIENT
    assert reply[21] == 2
    assert reply[22:28] == MAC0
    assert reply[28:32] == V4.packed
    # unicast probe to our MAC (reachability confirmation) is answered too
    assert (
        a.on_frame("eth0", frames.arp_request(mac=CLIENT, src_ip=C4, target=V4, dst=MAC0)) is None
    )
    # not allowed on eth1
    assert (
        a.on_frame("eth1", frames.arp_request(mac=CLIENT, src_ip=C4, target=V4))
        is Drop.INTERFACE_NOT_ALLOWED
    )
    # NS on eth1 for V6 -> solicited NA unicast
    assert a.on_frame("eth1", frames.neighbor_solicit(mac=CLIENT, src_ip=C6, target=V6)) is None
    ifname, na = wire.sent[-1]
    assert ifname == "eth1"
    assert na[:6] == CLIENT
    assert na[38:54] == C6.packed
    assert na[58] & 0x60 == 0x60  # S and O
    other = ipaddress.IPv4Address("203.0.113.99")
    assert (
        a.on_frame("eth0", frames.arp_request(mac=CLIENT, src_ip=C4, target=other))
        is Drop.NOT_OWNED
    )
    assert reg.get_sample_value("metallb_layer2_responses_sent_total", {"ip": str(V4)}) == 2
    assert reg.get_sample_value("metallb_layer2_requests_received_total", {"ip": str(V4)}) == 3

    _, released = a.set_owned({str(V6): None})
    assert released == {V4}
    n = len(wire.sent)
    assert (
        a.on_frame("eth0", frames.arp_request(mac=CLIENT, src_ip=C4, target=V4)) is Drop.NOT_OWNED
    )
    assert len(wire.sent) == n
    assert a.release_all() == {V6}
    assert wire.groups["eth0"] == set()
    assert wire.groups["eth1"] == set()
    assert (
        a.on_frame("eth1", frames.neighbor_solicit(mac=CLIENT, src_ip=C6, target=V6))
        is Drop.NOT_OWNED
    )


def test_dad_probe_answered_to_all_nodes():
    a, wire, _, _ = make()
    a.set_owned({str(V6): None})
    probe = frames.neighbor_solicit(mac=CLIENT, src_ip=ipaddress.IPv6Address("::"), target=V6)
    assert a.on_frame("eth0", probe) is None
    assert wire.sent[-1][1][:6] == frames.ALL_NODES_MAC


def test_new_link_gets_garp_and_lost_link_closes():
    a, wire, _, _ = make()
    a.set_links({"eth0": LINKS["eth0"]})
    a.set_owned({str(V4): None})
    assert {i for i, _ in wire.sent} == {"eth0"}
    wire.sent.clear()
    a.set_links(LINKS)
    assert {i for i, _ in wire.sent} == {"eth1"}
    a.set_links({})
    assert wire.handlers == {}
    assert a.interfaces_for(V4) == []


def test_send_failure_is_logged_not_raised():
    a, wire, _, _ = make()
    wire.fail_send.add("eth0")
    a.set_owned({str(V4): None})
    assert {i for i, _ in wire.sent} == {"eth1"}


def test_malformed_frames_never_raise():
    a, _, _, _ = make()
    a.set_owned({str(V4): None, str(V6): None})
    for raw in (
        b"",
        b"\x00" * 14,
        b"\xff" * 80,
        frames.BROADCAST + CLIENT + b"\x86\xdd" + b"\x60" + b"\x00" * 70,
    ):
        assert isinstance(a.on_frame("eth0", raw), Drop)
    assert (
        a.on_frame("nope", frames.arp_request(mac=CLIENT, src_ip=C4, target=V4))
        is Drop.INTERFACE_NOT_ALLOWED
    )


def test_heartbeat_ethertype_goes_to_hook():
    got = []
    wire, clock = FakeWire(), FakeClock()
    a = Announcer(wire=wire, clock=clock, on_other_frame=lambda i, f: got.append(i))
    a.set_links(LINKS)
    wire.inject("eth0", frames.BROADCAST + CLIENT + b"\x88\xb5" + b"x" * 50)
    assert got == ["eth0"]
