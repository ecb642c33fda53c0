"""The L2 wire seam: raw Ethernet frames in and out of named interfaces.

:class:`RawWire` is the real thing: per interface, one ``AF_PACKET``/``SOCK_RAW`` socket per
EtherType (ARP, IPv6 with a BPF filter that keeps only Neighbor Solicitations, and ingot's
heartbeat EtherType), read by the asyncio loop (``add_reader``, never a thread), and reused for
every send (~14 µs a frame; netlab-facts §3.5, pitfall P12). IPv6 solicited-node groups are
joined with ``IPV6_JOIN_GROUP`` (so MLD-snooping switches forward NS to us; MetalLB does the
same), falling back to a ``PACKET_ADD_MEMBERSHIP`` MAC filter when the interface has no IPv6.

:class:`FakeWire` records every frame sent and lets tests inject received frames.
Errors from the kernel are translated to :class:`ingot.errors.AnnounceError`.
"""

from __future__ import annotations

import asyncio
import ctypes
import ipaddress
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ingot.errors import AnnounceError
from speaker.l2 import frames

FrameHandler = Callable[[str, bytes], object]
"""Called with (interface name, whole Ethernet frame) for each received frame."""

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_DROP_MEMBERSHIP = 2
PACKET_MR_MULTICAST = 0
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26


class Wire(Protocol):
    """Frames in and out of interfaces (the seam; see :class:`RawWire`, :class:`FakeWire`)."""

    def open(self, ifname: str, *, ifindex: int, on_frame: FrameHandler) -> None:
        """Start receiving on ``ifname``; raises ``AnnounceError``."""
        ...

    def close(self, ifname: str) -> None:
        """Stop receiving on ``ifname`` and release its sockets and groups (idempotent)."""
        ...

    def send(self, ifname: str, frame: bytes) -> None:
        """Send one frame on ``ifname``; raises ``AnnounceError``."""
        ...

    def join(self, ifname: str, group: ipaddress.IPv6Address) -> None:
        """Join IPv6 multicast ``group`` on ``ifname``."""
        ...

    def leave(self, ifname: str, group: ipaddress.IPv6Address) -> None:
        """Leave IPv6 multicast ``group`` on ``ifname``."""
        ...


class _SockFilter(ctypes.Structure):
    _fields_ = [  # noqa: RUF012 - ctypes layout
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [  # noqa: RUF012 - ctypes layout
        ("len", ctypes.c_uint16),
        ("filter", ctypes.POINTER(_SockFilter)),
    ]


# Classic BPF over the Ethernet frame: accept IPv6 next-header 58 (no extension headers) with
# ICMPv6 type 135 (Neighbor Solicitation), drop everything else.
_NS_FILTER = (
    (0x30, 0, 0, 20),  # ldb [20]     IPv6 next header
    (0x15, 0, 3, 58),  # jeq #58      else drop
    (0x30, 0, 0, 54),  # ldb [54]     ICMPv6 type
    (0x15, 0, 1, 135),  # jeq #135    else drop
    (0x06, 0, 0, 0x40000),  # ret #262144 accept
    (0x06, 0, 0, 0),  # ret #0       drop
)
# ARP: accept requests only (operation at offset 20..21 == 1).
_ARP_FILTER = (
    (0x28, 0, 0, 20),  # ldh [20]
    (0x15, 0, 1, 1),  # jeq #1
    (0x06, 0, 0, 0x40000),
    (0x06, 0, 0, 0),
)


def _attach_filter(sock: socket.socket, program: tuple[tuple[int, int, int, int], ...]) -> None:
    insns = (_SockFilter * len(program))(*(_SockFilter(*i) for i in program))
    prog = _SockFprog(len(program), insns)
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(prog))
    # the kernel copies the program during setsockopt; ``insns`` may go now
    del insns


@dataclass
class _Link:
    ifindex: int
    sockets: list[socket.socket] = field(default_factory=list)
    mcast: socket.socket | None = None
    joined: dict[ipaddress.IPv6Address, str] = field(default_factory=dict)  # group -> how


class RawWire:
    """``AF_PACKET`` sockets per interface, read by the running asyncio loop.

    Args:
        ethertypes: Which EtherTypes to receive (default ARP, IPv6 NS and heartbeats).
    """

    def __init__(
        self,
        *,
        ethertypes: Iterable[int] = (frames.ETH_P_ARP, frames.ETH_P_IPV6, frames.ETH_P_HEARTBEAT),
    ) -> None:
        self._ethertypes = tuple(ethertypes)
        self._links: dict[str, _Link] = {}

    def open(self, ifname: str, *, ifindex: int, on_frame: FrameHandler) -> None:
        if ifname in self._links:
            return
        loop = asyncio.get_running_loop()
        link = _Link(ifindex)
        try:
            for etype in self._ethertypes:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(etype))
                link.sockets.append(sock)
                if etype == frames.ETH_P_IPV6:
                    _attach_filter(sock, _NS_FILTER)
                elif etype == frames.ETH_P_ARP:
                    _attach_filter(sock, _ARP_FILTER)
                sock.bind((ifname, etype))
                sock.setblocking(False)
                loop.add_reader(sock.fileno(), self._readable, sock, ifname, on_frame)
        except OSError as exc:
            self._drop(ifname, link)
            raise AnnounceError(f"cannot open raw sockets on {ifname}: {exc}") from exc
        self._links[ifname] = link

    @staticmethod
    def _readable(sock: socket.socket, ifname: str, on_frame: FrameHandler) -> None:
        for _ in range(64):  # bounded per wake-up; the loop calls again if more is queued
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            on_frame(ifname, data)

    def _drop(self, ifname: str, link: _Link) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for sock in link.sockets:
            if loop is not None:
                loop.remove_reader(sock.fileno())
            sock.close()
        link.sockets.clear()
        if link.mcast is not None:
            link.mcast.close()  # leaves every group joined through it
            link.mcast = None

    def close(self, ifname: str) -> None:
        link = self._links.pop(ifname, None)
        if link is not None:
            self._drop(ifname, link)

    def close_all(self) -> None:
        """Close every interface."""
        for name in list(self._links):
            self.close(name)

    def send(self, ifname: str, frame: bytes) -> None:
        link = self._links.get(ifname)
        if link is None or not link.sockets:
            raise AnnounceError(f"interface {ifname} is not open")
        try:
            link.sockets[0].send(frame)
        except OSError as exc:
            raise AnnounceError(f"send on {ifname} failed: {exc}") from exc

    def join(self, ifname: str, group: ipaddress.IPv6Address) -> None:
        link = self._links.get(ifname)
        if link is None or group in link.joined:
            return
        try:
            if link.mcast is None:
                link.mcast = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            mreq = group.packed + struct.pack("@I", link.ifindex)
            link.mcast.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
            link.joined[group] = "ipv6"
        except OSError:
            # no IPv6 on the interface: at least open the NIC's MAC filter for the group
            mreq = struct.pack(
                "@iHH8s", link.ifindex, PACKET_MR_MULTICAST, 6, frames.multicast_mac(group)
            )
            try:
                link.sockets[0].setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
                link.joined[group] = "packet"
            except OSError as exc:
                raise AnnounceError(f"cannot join {group} on {ifname}: {exc}") from exc

    def leave(self, ifname: str, group: ipaddress.IPv6Address) -> None:
        link = self._links.get(ifname)
        if link is None or group not in link.joined:
            return
        how = link.joined.pop(group)
        try:
            if how == "ipv6" and link.mcast is not None:
                mreq = group.packed + struct.pack("@I", link.ifindex)
                link.mcast.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP, mreq)
            elif how == "packet":
                mreq = struct.pack(
                    "@iHH8s", link.ifindex, PACKET_MR_MULTICAST, 6, frames.multicast_mac(group)
                )
                link.sockets[0].setsockopt(SOL_PACKET, PACKET_DROP_MEMBERSHIP, mreq)
        except OSError:
            return


@dataclass
class FakeWire:
    """In-memory wire: records ``sent`` frames and joined groups; ``inject`` delivers a frame."""

    sent: list[tuple[str, bytes]] = field(default_factory=list)
    handlers: dict[str, FrameHandler] = field(default_factory=dict)
    groups: dict[str, set[ipaddress.IPv6Address]] = field(default_factory=dict)
    fail_send: set[str] = field(default_factory=set)

    def open(self, ifname: str, *, ifindex: int, on_frame: FrameHandler) -> None:
        self.handlers[ifname] = on_frame
        self.groups.setdefault(ifname, set())

    def close(self, ifname: str) -> None:
        self.handlers.pop(ifname, None)
        self.groups.pop(ifname, None)

    def send(self, ifname: str, frame: bytes) -> None:
        if ifname not in self.handlers or ifname in self.fail_send:
            raise AnnounceError(f"interface {ifname} is not open")
        self.sent.append((ifname, frame))

    def join(self, ifname: str, group: ipaddress.IPv6Address) -> None:
        self.groups.setdefault(ifname, set()).add(group)

    def leave(self, ifname: str, group: ipaddress.IPv6Address) -> None:
        self.groups.get(ifname, set()).discard(group)

    def inject(self, ifname: str, frame: bytes) -> None:
        """Deliver ``frame`` as if received on ``ifname``."""
        self.handlers[ifname](ifname, frame)


class FakeSegment:
    """An in-memory L2 segment joining :class:`BusWire` s (several speakers in one process).

    A frame one connected member sends reaches every other connected member that has the
    interface open, on the next turn of the running event loop. ``wires`` maps node name to
    wire; popping a node from it cuts the node off (no frames in or out), putting it back
    reconnects it.
    """

    def __init__(self) -> None:
        self.wires: dict[str, BusWire] = {}

    def connect(self, node: str) -> BusWire:
        """The wire of ``node`` on this segment (created and connected on first use)."""
        if node not in self.wires:
            self.wires[node] = BusWire(node=node, segment=self)
        return self.wires[node]

    def deliver(self, sender: str, ifname: str, frame: bytes) -> None:
        """Schedule ``frame`` for every other connected member with ``ifname`` open."""
        if sender not in self.wires:
            return
        loop = asyncio.get_running_loop()
        for name, w in self.wires.items():
            if name != sender and ifname in w.handlers:
                loop.call_soon(_deliver, w, ifname, frame)


def _deliver(w: FakeWire, ifname: str, frame: bytes) -> None:
    if ifname in w.handlers:  # closed meanwhile: dropped, as on a real link
        w.inject(ifname, frame)


@dataclass
class BusWire(FakeWire):
    """A :class:`FakeWire` whose sent frames also travel over a :class:`FakeSegment`."""

    node: str = ""
    segment: FakeSegment | None = None

    def send(self, ifname: str, frame: bytes) -> None:
        super().send(ifname, frame)
        if self.segment is not None:
            self.segment.deliver(self.node, ifname, frame)
