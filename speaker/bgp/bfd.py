"""BFD beside ExaBGP: RFC 5880 asynchronous mode, single hop (RFC 5881), IPv4 and IPv6.

ExaBGP has no BFD. When a BGPPeer references a BFDProfile, the speaker runs a BFD session to
the peer's address; when that session goes from Up to Down, the BGP session is torn down (the
peer's ExaBGP process is restarted), the way routers tie BGP to BFD.

Layers:

* :class:`ControlPacket` / :func:`decode` - the control packet format (RFC 5880 §4.1) and the
  reception checks of §6.8.6 that need no session state; failures are :class:`Drop` values.
* :class:`BfdSession` - the per-session state machine and timers (§6.2, §6.8.1-§6.8.7),
  pure: time is passed in, randomness injected. Poll/Final (§6.5) for timer changes.
* :class:`BfdService` - asyncio runtime: UDP port 3784 receive sockets (one per family),
  per-session transmit sockets from source ports 49152-65535 with TTL/hop limit 255
  (RFC 5881 §4), received TTL must be 255 (RFC 5881 §5, GTSM), demultiplexing by Your
  Discriminator or, while it is zero, by source address (§6.3), metrics, and the Down callback.

Not implemented (and rejected by the configuration compiler where a field asks for it): echo
mode (§6.4), demand mode (§6.6), authentication (§6.7; packets with the A bit are dropped),
multihop (RFC 5883).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import random
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import structlog

from speaker.bgp.metrics import BfdMetrics

log = structlog.get_logger("speaker.bfd")

BFD_PORT = 3784  # RFC 5881 §4: single-hop control packets
SOURCE_PORTS = (49152, 65535)  # RFC 5881 §4
TTL = 255  # RFC 5881 §5
SLOW_TX_US = 1_000_000  # RFC 5880 §6.8.3: at least 1 s while not Up
VERSION = 1
HEADER = struct.Struct("!BBBBIIIII")
HEADER_LEN = HEADER.size  # 24
IP_RECVTTL = 12  # linux/in.h; Python 3.11's socket module lacks it (netlab-facts §5.4)
IP_PKTINFO = 8  # linux/in.h (also absent from Python's socket module)


class State(enum.IntEnum):
    """Session states (RFC 5880 §4.1 "Sta", §6.2)."""

    ADMIN_DOWN = 0
    DOWN = 1
    INIT = 2
    UP = 3


class Diag(enum.IntEnum):
    """Diagnostic codes (RFC 5880 §4.1 "Diag")."""

    NONE = 0
    DETECTION_TIME_EXPIRED = 1
    ECHO_FAILED = 2
    NEIGHBOR_SIGNALED_DOWN = 3
    FORWARDING_RESET = 4
    PATH_DOWN = 5
    CONCATENATED_PATH_DOWN = 6
    ADMIN_DOWN = 7
    REVERSE_CONCATENATED_PATH_DOWN = 8


class Drop(enum.Enum):
    """Why a received packet was discarded (RFC 5880 §6.8.6, RFC 5881 §5)."""

    SHORT = "short"
    BAD_VERSION = "bad_version"
    BAD_LENGTH = "bad_length"
    ZERO_DETECT_MULT = "zero_detect_mult"
    MULTIPOINT = "multipoint"
    ZERO_MY_DISCRIMINATOR = "zero_my_discriminator"
    ZERO_YOUR_DISCRIMINATOR = "zero_your_discriminator"
    AUTH_UNSUPPORTED = "auth_unsupported"
    UNKNOWN_DISCRIMINATOR = "unknown_discriminator"
    UNKNOWN_PEER = "unknown_peer"
    BAD_TTL = "bad_ttl"
    ADMIN_DOWN = "admin_down"


@dataclass(frozen=True)
class ControlPacket:
    """A BFD Control packet without authentication (RFC 5880 §4.1). Intervals in µs."""

    state: State
    my_discriminator: int
    your_discriminator: int
    desired_min_tx_us: int
    required_min_rx_us: int
    detect_mult: int
    diag: Diag = Diag.NONE
    poll: bool = False
    final: bool = False
    control_plane_independent: bool = False
    auth: bool = False
    demand: bool = False
    multipoint: bool = False
    required_min_echo_rx_us: int = 0
    version: int = VERSION
    length: int = HEADER_LEN

    def encode(self) -> bytes:
        """The 24-byte wire form."""
        flags = (
            (self.state << 6)
            | (self.poll << 5)
            | (self.final << 4)
            | (self.control_plane_independent << 3)
            | (self.auth << 2)
            | (self.demand << 1)
            | int(self.multipoint)
        )
        return HEADER.pack(
            (self.version << 5) | (self.diag & 0x1F),
            flags,
            self.detect_mult,
            self.length,
            self.my_discriminator,
            self.your_discriminator,
            self.desired_min_tx_us,
            self.required_min_rx_us,
            self.required_min_echo_rx_us,
        )


def decode(data: bytes) -> ControlPacket | Drop:
    """Parse and apply the stateless reception checks of RFC 5880 §6.8.6 (first six rules).

    Returns the packet or the :class:`Drop` reason. Packets with the A bit are dropped because
    no authentication is configured (§6.8.6: A set and bfd.AuthType zero -> discard).
    """
    if len(data) < HEADER_LEN:
        return Drop.SHORT
    vd, flags, mult, length, my_d, your_d, tx, rx, echo = HEADER.unpack_from(data)
    if vd >> 5 != VERSION:
        return Drop.BAD_VERSION
    auth = bool(flags & 0x04)
    if length < (HEADER_LEN + 2 if auth else HEADER_LEN) or length > len(data):
        return Drop.BAD_LENGTH
    if mult == 0:
        return Drop.ZERO_DETECT_MULT
    if flags & 0x01:
        return Drop.MULTIPOINT
    if my_d == 0:
        return Drop.ZERO_MY_DISCRIMINATOR
    state = State(flags >> 6)
    if your_d == 0 and state not in (State.DOWN, State.ADMIN_DOWN):
        return Drop.ZERO_YOUR_DISCRIMINATOR
    if auth:
        return Drop.AUTH_UNSUPPORTED
    try:
        diag = Diag(vd & 0x1F)
    except ValueError:
        diag = Diag.NONE  # reserved codes: ignore the diagnostic, keep the packet
    return ControlPacket(
        state=state,
        my_discriminator=my_d,
        your_discriminator=your_d,
        desired_min_tx_us=tx,
        required_min_rx_us=rx,
        detect_mult=mult,
        diag=diag,
        poll=bool(flags & 0x20),
        final=bool(flags & 0x10),
        control_plane_independent=bool(flags & 0x08),
        auth=auth,
        demand=bool(flags & 0x02),
        multipoint=False,
        required_min_echo_rx_us=echo,
        version=VERSION,
        length=length,
    )


@dataclass(frozen=True)
class BfdTimers:
    """Local timer configuration (BFDProfile): intervals in µs, multiplier, passive role."""

    desired_min_tx_us: int = 300_000
    required_min_rx_us: int = 300_000
    detect_mult: int = 3
    passive: bool = False

    @classmethod
    def from_profile(cls, profile: object) -> BfdTimers:
        """From an ``ingot.api.config.BFDProfile`` (ms fields)."""
        return cls(
            desired_min_tx_us=int(getattr(profile, "transmit_interval_ms", 300)) * 1000,
            required_min_rx_us=int(getattr(profile, "receive_interval_ms", 300)) * 1000,
            detect_mult=int(getattr(profile, "detect_multiplier", 3)),
            passive=bool(getattr(profile, "passive_mode", False)),
        )


@dataclass(frozen=True)
class Transition:
    """A state change of a session (for metrics, logs and the BGP tie-in)."""

    old: State
    new: State
    diag: Diag


@dataclass
class BfdSession:
    """The RFC 5880 state variables (§6.8.1) and their rules; time in seconds, pure.

    Call :meth:`receive` for each valid packet, :meth:`expire` when ``detect_deadline``
    passes, and send :meth:`build_packet` whenever :meth:`tx_due` (or at once when
    ``final_pending``).
    """

    local_discr: int
    timers: BfdTimers
    rng: random.Random = field(default_factory=random.Random)
    state: State = State.DOWN
    remote_state: State = State.DOWN
    remote_discr: int = 0
    local_diag: Diag = Diag.NONE
    remote_min_rx_us: int = 1  # §6.8.1: initialised to 1
    remote_desired_min_tx_us: int = 0
    remote_detect_mult: int = 0
    poll_active: bool = False
    final_pending: bool = False
    detect_deadline: float | None = None
    next_tx: float = 0.0
    _pending: BfdTimers | None = None
    _active_rx_us: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.local_discr < 2**32:
            raise ValueError("local discriminator must be a non-zero 32-bit value")
        self._active_rx_us = self.timers.required_min_rx_us

    # -- timers (§6.8.2-§6.8.4, §6.8.7)

    @property
    def desired_min_tx_us(self) -> int:
        """bfd.DesiredMinTxInterval as sent: at least 1 s while not Up (§6.8.3)."""
        if self.state != State.UP:
            return max(SLOW_TX_US, self.timers.desired_min_tx_us)
        return self.timers.desired_min_tx_us

    @property
    def tx_interval_s(self) -> float:
        """Periodic transmission interval before jitter (§6.8.7): max(local tx, remote rx)."""
        return max(self.desired_min_tx_us, self.remote_min_rx_us) / 1e6

    @property
    def detection_time_s(self) -> float:
        """Asynchronous-mode Detection Time (§6.8.4): remote mult x max(local rx, remote tx)."""
        return (
            self.remote_detect_mult * max(self._active_rx_us, self.remote_desired_min_tx_us) / 1e6
        )

    def tx_due(self, now: float) -> bool:
        """Whether a packet should go out now (periodic or a pending Final, §6.8.7)."""
        if self.final_pending:
            return True
        if self.timers.passive and self.remote_discr == 0:
            return False  # §6.1: the passive side waits for the peer's first packet
        if self.remote_min_rx_us == 0:
            return False  # the peer asked us not to send (§6.8.7)
        return now >= self.next_tx

    def build_packet(self, now: float) -> ControlPacket:
        """The next packet (§6.8.7); schedules the next periodic one with 75-100 % jitter."""
        final = self.final_pending
        self.final_pending = False
        jitter = self.rng.uniform(0.75, 0.9 if self.timers.detect_mult == 1 else 1.0)
        self.next_tx = now + self.tx_interval_s * jitter
        timers = self._pending or self.timers
        return ControlPacket(
            state=self.state,
            diag=self.local_diag,
            poll=self.poll_active and not final,
            final=final,
            detect_mult=self.timers.detect_mult,
            my_discriminator=self.local_discr,
            your_discriminator=self.remote_discr,
            desired_min_tx_us=(
                timers.desired_min_tx_us
                if self.state == State.UP
                else max(SLOW_TX_US, timers.desired_min_tx_us)
            ),
            required_min_rx_us=timers.required_min_rx_us,
        )

    def set_timers(self, timers: BfdTimers, *, now: float) -> None:
        """Change the local intervals; while Up through a Poll Sequence (§6.5, §6.8.3).

        A faster transmit interval applies at once; a slower one and a new receive interval
        only when the peer's Final arrives, so the peer never sees us break its detection time.
        """
        if timers == self.timers and self._pending is None:
            return
        if self.state != State.UP:
            self.timers = timers
            self._active_rx_us = timers.required_min_rx_us
            return
        if timers.desired_min_tx_us < self.timers.desired_min_tx_us:
            self.timers = replace(self.timers, desired_min_tx_us=timers.desired_min_tx_us)
        self._pending = timers
        self.poll_active = True
        self.next_tx = now  # start the poll at once

    # -- reception (§6.8.6)

    def receive(self, pkt: ControlPacket, *, now: float) -> Transition | None:
        """Apply a valid packet addressed to this session; return the state change, if any."""
        self.remote_discr = pkt.my_discriminator
        self.remote_state = pkt.state
        self.remote_min_rx_us = pkt.required_min_rx_us
        self.remote_desired_min_tx_us = pkt.desired_min_tx_us
        self.remote_detect_mult = pkt.detect_mult
        if pkt.final and self.poll_active:
            self.poll_active = False
            if self._pending is not None:
                self.timers = self._pending
                self._active_rx_us = self._pending.required_min_rx_us
                self._pending = None
        if pkt.poll:
            self.final_pending = True
        self.detect_deadline = now + self.detection_time_s
        if self.state == State.ADMIN_DOWN:
            return None
        old = self.state
        if pkt.state == State.ADMIN_DOWN:
            if self.state != State.DOWN:
                self._go(State.DOWN, Diag.NEIGHBOR_SIGNALED_DOWN)
        elif self.state == State.DOWN:
            if pkt.state == State.DOWN:
                self._go(State.INIT, Diag.NONE)
            elif pkt.state == State.INIT:
                self._go(State.UP, Diag.NONE)
        elif self.state == State.INIT:
            if pkt.state in (State.INIT, State.UP):
                self._go(State.UP, Diag.NONE)
        elif pkt.state == State.DOWN:  # local Up
            self._go(State.DOWN, Diag.NEIGHBOR_SIGNALED_DOWN)
        if self.state != old:
            return Transition(old, self.state, self.local_diag)
        return None

    def expire(self, now: float) -> Transition | None:
        """Detection Time passed without a packet (§6.8.4, §6.8.1 RemoteDiscr reset)."""
        if self.detect_deadline is None or now < self.detect_deadline:
            return None
        self.detect_deadline = None
        self.remote_discr = 0
        self.remote_min_rx_us = 1
        self.poll_active = self._pending is not None
        if self.state in (State.INIT, State.UP):
            old = self.state
            self._go(State.DOWN, Diag.DETECTION_TIME_EXPIRED)
            return Transition(old, State.DOWN, self.local_diag)
        return None

    def _go(self, state: State, diag: Diag) -> None:
        if state == State.UP and self.state != State.UP:
            # entering Up lowers DesiredMinTx from the 1 s floor: a timer change (§6.8.3)
            self.poll_active = True
        self.state = state
        self.local_diag = diag


# ---------------------------------------------------------------------------- runtime


@dataclass(frozen=True)
class BfdPeer:
    """One BFD session to configure: BGPPeer name, addresses and timers."""

    name: str
    peer_address: ipaddress.IPv4Address | ipaddress.IPv6Address
    timers: BfdTimers
    local_address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None


@dataclass
class _Live:
    peer: BfdPeer
    session: BfdSession
    tx: socket.socket
    wake: asyncio.Event
    task: asyncio.Task[None] | None = None
    closed: bool = False


def _rx_socket(family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        sock.bind(("::", BFD_PORT))
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        sock.bind(("0.0.0.0", BFD_PORT))
    sock.setblocking(False)
    return sock


def _tx_socket(peer: BfdPeer, rng: random.Random) -> socket.socket:
    family = socket.AF_INET6 if peer.peer_address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, TTL)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, TTL)
    local = (
        str(peer.local_address)
        if peer.local_address
        else ("::" if family == socket.AF_INET6 else "0.0.0.0")
    )
    for _ in range(64):  # RFC 5881 §4: a source port in 49152-65535
        try:
            sock.bind((local, rng.randint(*SOURCE_PORTS)))
            break
        except OSError:
            continue
    else:
        sock.close()
        raise OSError("no free BFD source port in 49152-65535")
    sock.setblocking(False)
    return sock


def _destination(ancdata: list[tuple[int, int, bytes]]) -> str | None:
    """The packet's destination address from IP_PKTINFO / IPV6_PKTINFO ancillary data."""
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= 12:
            return socket.inet_ntop(socket.AF_INET, data[8:12])  # in_pktinfo.ipi_addr
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= 16:
            return socket.inet_ntop(socket.AF_INET6, data[:16])
    return None


def _received_ttl(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancdata:
        if (level, kind) in ((socket.IPPROTO_IP, socket.IP_TTL), (socket.IPPROTO_IPV6, 52)):
            if len(data) >= 4:
                return int(struct.unpack("i", data[:4])[0])
            if len(data) == 1:
                return data[0]
    return None


class BfdService:
    """Runs the BFD sessions of this speaker (see the module docstring).

    ``on_down(peer_name)`` is called when a session goes from Up to Down; ``on_change`` on
    every transition. Receive sockets are opened in ``run()`` (in the caller's network
    namespace); ``open_sockets()`` may be called earlier to choose the namespace explicitly.
    """

    def __init__(
        self,
        *,
        metrics: BfdMetrics,
        on_down: Callable[[str], None] = lambda _name: None,
        rng: random.Random | None = None,
        max_reads_per_wake: int = 256,
    ) -> None:
        self.metrics = metrics
        self.on_down = on_down
        self.rng = rng or random.Random()
        self.max_reads_per_wake = max_reads_per_wake
        self.sessions: dict[str, _Live] = {}
        self._rx: list[socket.socket] = []
        self._discriminators: set[int] = set()
        self._running = False

    def open_sockets(self) -> None:
        """Open the port-3784 receive sockets (IPv4 and IPv6) if not open yet."""
        if self._rx:
            return
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                self._rx.append(_rx_socket(family))
            except OSError as exc:
                log.warning("BFD receive socket unavailable", family=family, error=str(exc))

    def make_tx_sockets(self, peers: Iterable[BfdPeer]) -> dict[str, socket.socket]:
        """Transmit sockets for ``peers`` (call in the right namespace, like open_sockets)."""
        return {p.name: _tx_socket(p, self.rng) for p in peers}

    def set_peers(
        self, peers: Iterable[BfdPeer], *, tx_sockets: dict[str, socket.socket] | None = None
    ) -> None:
        """Make the sessions exactly ``peers``; unchanged ones keep their state.

        A timer-only change of a live session goes through a Poll Sequence (§6.5).
        """
        wanted = {p.name: p for p in peers}
        loop = asyncio.get_running_loop()
        for name in list(self.sessions):
            current = self.sessions[name]
            new = wanted.get(name)
            if new is None or replace(new, timers=current.peer.timers) != current.peer:
                self._remove(name)
        for name, peer in wanted.items():
            live = self.sessions.get(name)
            if live is not None:
                if peer.timers != live.peer.timers:
                    live.session.set_timers(peer.timers, now=loop.time())
                    live.peer = peer
                    live.wake.set()
                continue
            discr = self._new_discriminator()
            tx = (tx_sockets or {}).get(name) or _tx_socket(peer, self.rng)
            live = _Live(peer, BfdSession(discr, peer.timers, rng=self.rng), tx, asyncio.Event())
            self.sessions[name] = live
            self.metrics.session_up.labels(str(peer.peer_address)).set(0)
            if self._running:
                live.task = asyncio.create_task(self._session_loop(live), name=f"bfd-{name}")

    async def run(self) -> None:
        """Receive packets and run every session until cancelled."""
        loop = asyncio.get_running_loop()
        self.open_sockets()
        for sock in self._rx:
            loop.add_reader(sock.fileno(), self._read, sock)
        self._running = True
        for live in self.sessions.values():
            if live.task is None:
                live.task = asyncio.create_task(self._session_loop(live))
        try:
            await asyncio.Event().wait()
        finally:
            self._running = False
            for sock in self._rx:
                loop.remove_reader(sock.fileno())
                sock.close()
            self._rx.clear()
            for name in list(self.sessions):
                self._remove(name)

    def _new_discriminator(self) -> int:
        while True:
            d = self.rng.randint(1, 2**32 - 1)
            if d not in self._discriminators:
                self._discriminators.add(d)
                return d

    def _remove(self, name: str) -> None:
        live = self.sessions.pop(name)
        live.closed = True
        if live.task is not None:
            live.task.cancel()
        live.tx.close()
        self._discriminators.discard(live.session.local_discr)
        self.metrics.forget(str(live.peer.peer_address))

    def _drop(self, reason: Drop) -> None:
        self.metrics.dropped.labels(reason.value).inc()

    def _read(self, sock: socket.socket) -> None:
        for _ in range(self.max_reads_per_wake):
            try:
                data, anc, _flags, addr = sock.recvmsg(128, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._handle(data, anc, addr[0])

    def _handle(self, data: bytes, anc: list[tuple[int, int, bytes]], source: str) -> None:
        ttl = _received_ttl(anc)
        if ttl is not None and ttl != TTL:  # RFC 5881 §5 (GTSM)
            self._drop(Drop.BAD_TTL)
            return
        pkt = decode(data)
        if isinstance(pkt, Drop):
            self._drop(pkt)
            return
        live = self._find(pkt, source, _destination(anc))
        if live is None:
            return
        loop = asyncio.get_running_loop()
        label = str(live.peer.peer_address)
        self.metrics.control_in.labels(label).inc()
        change = live.session.receive(pkt, now=loop.time())
        if change is not None:
            self._transition(live, change)
        live.wake.set()

    def _find(self, pkt: ControlPacket, source: str, destination: str | None) -> _Live | None:
        """The session of a packet (RFC 5880 §6.3, RFC 5881 §3).

        By Your Discriminator; while that is zero, by source address and, for sessions with a
        local address, the packet's destination address.
        """
        if pkt.your_discriminator:
            for live in self.sessions.values():
                if live.session.local_discr == pkt.your_discriminator:
                    return live
            self._drop(Drop.UNKNOWN_DISCRIMINATOR)
            return None
        try:
            src = ipaddress.ip_address(source.split("%")[0])
        except ValueError:
            src = None
        try:
            dst = ipaddress.ip_address(destination.split("%")[0]) if destination else None
        except ValueError:
            dst = None
        for live in self.sessions.values():
            if live.peer.peer_address != src:
                continue
            if live.peer.local_address is None or dst is None or live.peer.local_address == dst:
                return live
        self._drop(Drop.UNKNOWN_PEER)
        return None

    def _transition(self, live: _Live, change: Transition) -> None:
        label = str(live.peer.peer_address)
        log.info(
            "bfd session " + change.new.name.lower(),
            peer=live.peer.name,
            old=change.old.name,
            diag=change.diag.name,
            remote=live.session.remote_state.name,
        )
        if change.new == State.UP:
            self.metrics.session_up.labels(label).set(1)
            self.metrics.up_events.labels(label).inc()
        elif change.old == State.UP:
            self.metrics.session_up.labels(label).set(0)
            self.metrics.down_events.labels(label).inc()
            if live.session.remote_state == State.ADMIN_DOWN:
                # RFC 5882 §3.2: a peer that takes BFD administratively down is not a
                # forwarding failure; the BGP session is left alone.
                return
            try:
                self.on_down(live.peer.name)
            except Exception:
                log.exception("bfd on_down callback failed", peer=live.peer.name)

    async def _session_loop(self, live: _Live) -> None:
        loop = asyncio.get_running_loop()
        s = live.session
        s.next_tx = loop.time()
        dest = (str(live.peer.peer_address), BFD_PORT)
        label = str(live.peer.peer_address)
        while not live.closed:
            now = loop.time()
            change = s.expire(now)
            if change is not None:
                self._transition(live, change)
            if s.tx_due(now):
                try:
                    live.tx.sendto(s.build_packet(now).encode(), dest)
                    self.metrics.control_out.labels(label).inc()
                except OSError as exc:  # e.g. link down: keep running, the timer decides
                    log.debug("bfd send failed", peer=live.peer.name, error=str(exc))
                    s.next_tx = now + s.tx_interval_s
            wake_at = s.next_tx if not (s.timers.passive and s.remote_discr == 0) else now + 1.0
            if s.detect_deadline is not None:
                wake_at = min(wake_at, s.detect_deadline)
            live.wake.clear()
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation
            # that races with the wake-up, which left sessions running after removal
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake_at - loop.time())):
                    await live.wake.wait()
