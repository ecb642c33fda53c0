"""Ethernet frames of L2 mode: ARP (RFC 826) and IPv6 neighbour discovery (RFC 4861), by hand.

Building is plain ``struct`` packing so a frame costs microseconds (netlab-facts §3.5: scapy
``sendp()`` costs ~24 ms, a prebuilt frame through a raw socket ~14 µs). Parsing never raises:
:func:`parse` returns a request or a :class:`Drop` naming why the frame was ignored, so a
malformed frame can never crash the responder.

Forms sent (netlab-facts §3.4, MetalLB ``internal/layer2``):

* gratuitous ARP: an ARP *request* with sender = target = VIP, ``tha`` zero, to broadcast, and an
  ARP *reply* with sender = target = VIP and ``tha`` = ``sha`` (accepted by Linux even within
  ``locktime``);
* unsolicited NA: to ``ff02::1``, hop limit 255, Override=1, Solicited=0, target LLA option
  (RFC 4861 §7.2.6; O=0 would be ignored by clients with an entry);
* solicited NA: unicast to the solicitor, Solicited=1, Override=1 (so a client that still holds
  the old owner's MAC switches at once), or to ``ff02::1`` with S=0 when the NS came from ``::``
  (RFC 4861 §7.2.4).
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_HEARTBEAT = 0x88B5
"""IEEE 802 "local experimental" EtherType 1: ingot's data-plane heartbeats (see heartbeat.py)."""

BROADCAST = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
ALL_NODES = ipaddress.IPv6Address("ff02::1")
ALL_NODES_MAC = b"\x33\x33\x00\x00\x00\x01"
ICMPV6 = 58
ND_NS = 135
ND_NA = 136
MIN_FRAME = 60


def mac_bytes(mac: str) -> bytes:
    """``"02:00:00:00:00:11"`` -> 6 bytes; raises ``ValueError`` on a malformed address."""
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return bytes(int(p, 16) for p in parts)


def mac_text(mac: bytes) -> str:
    """6 bytes -> ``"02:00:00:00:00:11"``."""
    return ":".join(f"{b:02x}" for b in mac)


def solicited_node(ip: ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    """The solicited-node multicast group ``ff02::1:ffXX:XXXX`` of ``ip`` (RFC 4291 §2.7.1)."""
    return ipaddress.IPv6Address(b"\xff\x02" + b"\x00" * 9 + b"\x01\xff" + ip.packed[13:])


def multicast_mac(group: ipaddress.IPv6Address) -> bytes:
    """Ethernet address of an IPv6 multicast group: ``33:33`` + low 32 bits (RFC 2464 §7)."""
    return b"\x33\x33" + group.packed[12:]


def _pad(frame: bytes) -> bytes:
    return frame + b"\x00" * (MIN_FRAME - len(frame)) if len(frame) < MIN_FRAME else frame


def _arp(
    *, op: int, dst: bytes, sha: bytes, spa: bytes, tha: bytes, tpa: bytes, src: bytes
) -> bytes:
    eth = dst + src + struct.pack("!H", ETH_P_ARP)
    return _pad(eth + struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa)


def garp_request(*, mac: bytes, ip: ipaddress.IPv4Address) -> bytes:
    """Gratuitous ARP as a broadcast request, sender = target = ``ip`` (RFC 5227 §3)."""
    return _arp(op=1, dst=BROADCAST, src=mac, sha=mac, spa=ip.packed, tha=ZERO_MAC, tpa=ip.packed)


def garp_reply(*, mac: bytes, ip: ipaddress.IPv4Address) -> bytes:
    """Gratuitous ARP as a broadcast reply, sender = target = ``ip``, ``tha`` = ``sha``."""
    return _arp(op=2, dst=BROADCAST, src=mac, sha=mac, spa=ip.packed, tha=mac, tpa=ip.packed)


def arp_reply(*, mac: bytes, ip: ipaddress.IPv4Address, to_mac: bytes, to_ip: bytes) -> bytes:
    """ARP reply "``ip`` is at ``mac``" unicast to the requester (``to_mac``, ``to_ip``)."""
    return _arp(op=2, dst=to_mac, src=mac, sha=mac, spa=ip.packed, tha=to_mac, tpa=to_ip)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _icmpv6_checksum(src: bytes, dst: bytes, payload: bytes) -> int:
    pseudo = src + dst + struct.pack("!I3xB", len(payload), ICMPV6)
    return _checksum(pseudo + payload)


def neighbor_advert(
    *,
    mac: bytes,
    ip: ipaddress.IPv6Address,
    dst_ip: ipaddress.IPv6Address = ALL_NODES,
    dst_mac: bytes = ALL_NODES_MAC,
    solicited: bool = False,
    override: bool = True,
) -> bytes:
    """Neighbor Advertisement for target ``ip`` with the target link-layer option (RFC 4861 §4.4).

    Defaults give the unsolicited form (to all-nodes, S=0, O=1). The IPv6 source is ``ip`` itself.
    """
    flags = (0x40000000 if solicited else 0) | (0x20000000 if override else 0)
    body = struct.pack("!BBHI", ND_NA, 0, 0, flags) + ip.packed + bytes((2, 1)) + mac
    csum = _icmpv6_checksum(ip.packed, dst_ip.packed, body)
    body = body[:2] + struct.pack("!H", csum) + body[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(body), ICMPV6, 255) + ip.packed + dst_ip.packed
    return dst_mac + mac + struct.pack("!H", ETH_P_IPV6) + ip6 + body


def neighbor_solicit(
    *,
    mac: bytes,
    src_ip: ipaddress.IPv6Address,
    target: ipaddress.IPv6Address,
    dst_mac: bytes | None = None,
    hop_limit: int = 255,
) -> bytes:
    """A Neighbor Solicitation (to the target's solicited-node group unless ``dst_mac``); tests."""
    group = solicited_node(target)
    dst_ip = group if dst_mac is None else target
    body = struct.pack("!BBHI", ND_NS, 0, 0, 0) + target.packed + bytes((1, 1)) + mac
    csum = _icmpv6_checksum(src_ip.packed, dst_ip.packed, body)
    body = body[:2] + struct.pack("!H", csum) + body[4:]
    ip6 = (
        struct.pack("!IHBB", 6 << 28, len(body), ICMPV6, hop_limit) + src_ip.packed + dst_ip.packed
    )
    eth_dst = multicast_mac(group) if dst_mac is None else dst_mac
    return eth_dst + mac + struct.pack("!H", ETH_P_IPV6) + ip6 + body


def arp_request(
    *,
    mac: bytes,
    src_ip: ipaddress.IPv4Address,
    target: ipaddress.IPv4Address,
    dst: bytes = BROADCAST,
) -> bytes:
    """An ARP request "who has ``target``" (tests and the ownership verifier)."""
    return _arp(op=1, dst=dst, src=mac, sha=mac, spa=src_ip.packed, tha=ZERO_MAC, tpa=target.packed)


class Drop(enum.Enum):
    """Why a received frame was not answered (the responder's drop reasons, as MetalLB's)."""

    TOO_SHORT = "frame too short"
    NOT_ARP_OR_IPV6 = "neither ARP nor IPv6"
    OWN_FRAME = "sent by this host"
    NOT_FOR_US = "Ethernet destination neither broadcast/multicast nor our MAC"
    BAD_ARP_HEADER = "not Ethernet/IPv4 ARP"
    NOT_REQUEST = "ARP operation is not a request"
    GRATUITOUS = "gratuitous (sender is the target)"
    NOT_ICMPV6 = "IPv6 next header is not ICMPv6 (or has extension headers)"
    NOT_NS = "ICMPv6 type is not Neighbor Solicitation"
    BAD_HOP_LIMIT = "NDP hop limit is not 255"
    BAD_CHECKSUM = "ICMPv6 checksum mismatch"
    BAD_TARGET = "NS target is multicast or malformed"
    BAD_OPTION = "malformed NDP option"
    NOT_OWNED = "target IP is not announced by this node"
    INTERFACE_NOT_ALLOWED = "target IP is not announced on this interface"


@dataclass(frozen=True)
class ArpRequest:
    """A parsed ARP request: who (``sha``/``spa``) asks for ``target``; ``eth_dst`` as received."""

    eth_dst: bytes
    sha: bytes
    spa: bytes
    target: ipaddress.IPv4Address


@dataclass(frozen=True)
class NeighborSolicitation:
    """A parsed NS for ``target`` from ``src_ip``; ``sllao`` = source link-layer option, if any."""

    eth_dst: bytes
    eth_src: bytes
    src_ip: ipaddress.IPv6Address
    target: ipaddress.IPv6Address
    sllao: bytes | None


Parsed = ArpRequest | NeighborSolicitation | Drop


def parse(frame: bytes, *, own_mac: bytes) -> Parsed:
    """Classify one received Ethernet frame; never raises.

    Args:
        frame: The whole frame from the Ethernet header on.
        own_mac: The receiving interface's MAC (frames from it are dropped; frames to another
            unicast MAC are not ours — MetalLB answers only broadcast or own-MAC requests).

    Returns:
        :class:`ArpRequest`, :class:`NeighborSolicitation` or a :class:`Drop` reason.
    """
    if len(frame) < 14:
        return Drop.TOO_SHORT
    dst, src = frame[0:6], frame[6:12]
    (etype,) = struct.unpack_from("!H", frame, 12)
    if src == own_mac:
        return Drop.OWN_FRAME
    if dst != own_mac and not dst[0] & 1:
        return Drop.NOT_FOR_US
    if etype == ETH_P_ARP:
        return _parse_arp(frame, dst)
    if etype == ETH_P_IPV6:
        return _parse_ns(frame, dst, src)
    return Drop.NOT_ARP_OR_IPV6


def _parse_arp(frame: bytes, dst: bytes) -> Parsed:
    if len(frame) < 42:
        return Drop.TOO_SHORT
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", frame, 14)
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4):
        return Drop.BAD_ARP_HEADER
    if op != 1:
        return Drop.NOT_REQUEST
    sha, spa, tpa = frame[22:28], frame[28:32], frame[38:42]
    if spa == tpa:
        return Drop.GRATUITOUS
    return ArpRequest(dst, sha, spa, ipaddress.IPv4Address(tpa))


def _parse_ns(frame: bytes, dst: bytes, src: bytes) -> Parsed:
    if len(frame) < 14 + 40 + 24:
        return Drop.TOO_SHORT
    vtc, plen, nh, hlim = struct.unpack_from("!IHBB", frame, 14)
    if nh != ICMPV6 or vtc >> 28 != 6:
        return Drop.NOT_ICMPV6
    src_ip, dst_ip = frame[22:38], frame[38:54]
    icmp = frame[54 : 54 + plen]
    if len(icmp) < plen or plen < 24:
        return Drop.TOO_SHORT
    if icmp[0] != ND_NS:
        return Drop.NOT_NS
    if hlim != 255 or icmp[1] != 0:
        return Drop.BAD_HOP_LIMIT
    if _icmpv6_checksum(src_ip, dst_ip, icmp) != 0:
        return Drop.BAD_CHECKSUM
    target = ipaddress.IPv6Address(icmp[8:24])
    if target.is_multicast:
        return Drop.BAD_TARGET
    sllao: bytes | None = None
    opts = icmp[24:]
    while opts:
        if len(opts) < 8 or opts[1] == 0 or len(opts) < opts[1] * 8:
            return Drop.BAD_OPTION
        if opts[0] == 1:
            sllao = opts[2:8]
        opts = opts[opts[1] * 8 :]
    return NeighborSolicitation(dst, src, ipaddress.IPv6Address(src_ip), target, sllao)
