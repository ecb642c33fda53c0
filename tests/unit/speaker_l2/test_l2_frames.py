"""Frame building and parsing (speaker.l2.frames), checked against scapy's dissectors."""

from __future__ import annotations

import ipaddress

import pytest
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from speaker.l2 import frames
from speaker.l2.frames import Drop

MAC = frames.mac_bytes("02:00:00:00:00:11")
CLIENT = frames.mac_bytes("02:00:00:00:01:00")
V4 = ipaddress.IPv4Address("203.0.113.10")
V6 = ipaddress.IPv6Address("2001:db8:10::10")
C4 = ipaddress.IPv4Address("198.51.100.100")
C6 = ipaddress.IPv6Address("2001:db8:1::100")


def test_garp_forms():
    req = Ether(frames.garp_request(mac=MAC, ip=V4))
    assert req.dst == "ff:ff:ff:ff:ff:ff"
    assert req[ARP].op == 1
    assert req[ARP].psrc == req[ARP].pdst == str(V4)
    assert req[ARP].hwdst == "00:00:00:00:00:00"
    rep = Ether(frames.garp_reply(mac=MAC, ip=V4))
    assert rep[ARP].op == 2
    assert rep[ARP].hwdst == rep[ARP].hwsrc == "02:00:00:00:00:11"
    assert len(frames.garp_request(mac=MAC, ip=V4)) == 60


def test_unsolicited_na_is_valid_ndp():
    raw = frames.neighbor_advert(mac=MAC, ip=V6)
    pkt = Ether(raw)
    assert pkt.dst == "33:33:00:00:00:01"
    assert pkt[IPv6].hlim == 255
    assert pkt[IPv6].dst == "ff02::1"
    na = pkt[ICMPv6ND_NA]
    assert (na.R, na.S, na.O) == (0, 0, 1)
    assert na.tgt == str(V6)
    assert pkt[ICMPv6NDOptDstLLAddr].lladdr == "02:00:00:00:00:11"
    good = na.cksum
    del na.cksum
    assert Ether(bytes(pkt))[ICMPv6ND_NA].cksum == good


def test_solicited_node_group_and_mac():
    g = frames.solicited_node(ipaddress.IPv6Address("2001:db8::abcd:1234"))
    assert str(g) == "ff02::1:ffcd:1234"
    assert frames.mac_text(frames.multicast_mac(g)) == "33:33:ff:cd:12:34"


def test_parse_arp_request_broadcast_and_unicast():
    for dst in (frames.BROADCAST, MAC):
        got = frames.parse(
            frames.arp_request(mac=CLIENT, src_ip=C4, target=V4, dst=dst), own_mac=MAC
        )
        assert isinstance(got, frames.ArpRequest)
        assert got.target == V4
        assert got.sha == CLIENT


def test_parse_ns_roundtrip():
    got = frames.parse(frames.neighbor_solicit(mac=CLIENT, src_ip=C6, target=V6), own_mac=MAC)
    assert isinstance(got, frames.NeighborSolicitation)
    assert got.target == V6
    assert got.sllao == CLIENT
    assert got.src_ip == C6


def _corrupt_checksum(frame: bytes) -> bytes:
    b = bytearray(frame)
    b[56] ^= 0xFF
    return bytes(b)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        pytest.param(b"", Drop.TOO_SHORT, id="empty"),
        pytest.param(b"\xff" * 13, Drop.TOO_SHORT, id="13-bytes"),
        pytest.param(
            frames.BROADCAST + CLIENT + b"\x08\x06" + b"\x00" * 5, Drop.TOO_SHORT, id="short-arp"
        ),
        pytest.param(
            frames.BROADCAST + CLIENT + b"\x08\x00" + b"\x00" * 46, Drop.NOT_ARP_OR_IPV6, id="ipv4"
        ),
        pytest.param(frames.garp_request(mac=MAC, ip=V4), Drop.OWN_FRAME, id="own"),
        pytest.param(frames.garp_request(mac=CLIENT, ip=V4), Drop.GRATUITOUS, id="foreign-garp"),
        pytest.param(frames.garp_reply(mac=CLIENT, ip=V4), Drop.NOT_REQUEST, id="arp-reply"),
        pytest.param(
            frames.arp_request(mac=CLIENT, src_ip=C4, target=V4, dst=b"\x02\x00\x00\x00\x00\x99"),
            Drop.NOT_FOR_US,
            id="unicast-to-other-mac",
        ),
        pytest.param(
            frames.BROADCAST
            + CLIENT
            + b"\x08\x06"
            + b"\x00\x06\x08\x00\x06\x04\x00\x01"
            + b"\x00" * 20,
            Drop.BAD_ARP_HEADER,
            id="arp-not-ethernet",
        ),
        pytest.param(
            frames.neighbor_solicit(mac=CLIENT, src_ip=C6, target=V6, hop_limit=64),
            Drop.BAD_HOP_LIMIT,
            id="ns-hop-limit",
        ),
        pytest.param(
            _corrupt_checksum(frames.neighbor_solicit(mac=CLIENT, src_ip=C6, target=V6)),
            Drop.BAD_CHECKSUM,
            id="ns-checksum",
        ),
        pytest.param(frames.neighbor_advert(mac=CLIENT, ip=V6), Drop.NOT_NS, id="na"),
        pytest.param(
            frames.neighbor_solicit(mac=CLIENT, src_ip=C6, target=V6)[:70],
            Drop.TOO_SHORT,
            id="ns-cut",
        ),
    ],
)
def test_parse_drops(frame, reason):
    assert frames.parse(frame, own_mac=MAC) is reason


def test_parse_bad_option_length():
    raw = bytearray(frames.neighbor_solicit(mac=CLIENT, src_ip=C6, target=V6))
    raw[14 + 40 + 24 + 1] = 0  # option length 0 is illegal (RFC 4861 §4.6)
    # fix checksum so the option check is what fails
    body = bytes(raw[54:])
    body = body[:2] + b"\x00\x00" + body[4:]
    csum = frames._icmpv6_checksum(bytes(raw[22:38]), bytes(raw[38:54]), body)
    raw[56:58] = csum.to_bytes(2, "big")
    assert frames.parse(bytes(raw), own_mac=MAC) is Drop.BAD_OPTION


def test_parse_never_raises_on_random_bytes():
    import random

    rnd = random.Random(7)
    seeds = [
        frames.garp_request(mac=CLIENT, ip=V4),
        frames.neighbor_solicit(mac=CLIENT, src_ip=C6, target=V6),
    ]
    for _ in range(3000):
        base = bytearray(rnd.choice(seeds))
        for _ in range(rnd.randint(1, 6)):
            base[rnd.randrange(len(base))] = rnd.randrange(256)
        cut = bytes(base[: rnd.randint(0, len(base))])
        frames.parse(cut, own_mac=MAC)
