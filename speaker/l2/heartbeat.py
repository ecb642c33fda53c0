"""Data-plane heartbeats between L2 speakers: small authenticated broadcast frames.

Each speaker broadcasts one frame every ``heartbeat_interval_s`` (default 100 ms) on every
announcing interface, so liveness is measured on the very link that carries ARP/NDP (a node
whose announcing link dies goes silent even if its API connection is fine: I-6, peers §3 #2).

Departure from the proposal in ARCHITECTURE.md §3 (UDP): the heartbeat is a raw Ethernet frame
with EtherType 0x88B5 (IEEE 802 local experimental), broadcast to ``ff:ff:ff:ff:ff:ff``. It
needs no IP address on the interface (IPv6-only or address-less announcing interfaces work),
cannot be routed around the segment, and reuses the announcer's raw sockets.

Payload (network order)::

    b"IGHB" | version u8 | boot u64 | seq u64 | wall_ms u64 | epoch u32 |
    name (u8 len + utf-8) | n_ifaces u8 + (u8 len + name)* | n_fenced u8 + (u8 len + name, u32)* |
    HMAC-SHA256(key, everything before)[:16]

Receivers drop frames with a bad MAC, a timestamp outside ``max_age_s`` of their own wall
clock, or a (boot, seq) not newer than the last one accepted from that sender (replay).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from speaker.l2 import frames

MAGIC = b"IGHB"
VERSION = 1
TAG_LEN = 16


@dataclass(frozen=True)
class Heartbeat:
    """One heartbeat's content.

    Attributes:
        node: Sender's node name.
        boot: Random id of the sender process (a restart starts a new sequence).
        seq: Sequence number, increasing per boot.
        wall_ms: Sender's wall clock (ms since the epoch).
        epoch: Sender's own Lease ``leaseTransitions``.
        interfaces: Sender's usable announcing interfaces.
        fenced: Fenced Leases the sender knows: node -> transitions.
    """

    node: str
    boot: int
    seq: int
    wall_ms: int
    epoch: int = 0
    interfaces: tuple[str, ...] = ()
    fenced: Mapping[str, int] = field(default_factory=dict)


def _short(text: str) -> bytes:
    raw = text.encode()[:255]
    return bytes((len(raw),)) + raw


def encode(hb: Heartbeat, *, key: bytes) -> bytes:
    """The payload for ``hb`` signed with ``key``."""
    body = MAGIC + struct.pack("!BQQQI", VERSION, hb.boot, hb.seq, hb.wall_ms, hb.epoch)
    body += _short(hb.node)
    ifaces = hb.interfaces[:32]
    body += bytes((len(ifaces),)) + b"".join(_short(i) for i in ifaces)
    fenced = sorted(hb.fenced.items())[:32]
    body += bytes((len(fenced),)) + b"".join(_short(n) + struct.pack("!I", t) for n, t in fenced)
    return body + hmac.new(key, body, hashlib.sha256).digest()[:TAG_LEN]


def frame(hb: Heartbeat, *, key: bytes, mac: bytes) -> bytes:
    """A broadcast Ethernet frame carrying ``hb``."""
    return frames.BROADCAST + mac + struct.pack("!H", frames.ETH_P_HEARTBEAT) + encode(hb, key=key)


class Reject(enum.Enum):
    """Why a heartbeat was not accepted."""

    MALFORMED = "malformed"
    BAD_MAC = "authentication failed"
    STALE = "timestamp outside the accepted window"
    REPLAY = "sequence not newer than the last accepted"
    OWN = "our own heartbeat"


def _read_short(buf: bytes, off: int) -> tuple[str, int]:
    n = buf[off]
    raw = buf[off + 1 : off + 1 + n]
    if len(raw) != n:
        raise ValueError("truncated")
    return raw.decode(), off + 1 + n


def decode(payload: bytes, *, key: bytes) -> Heartbeat | Reject:
    """Parse and authenticate a payload; never raises."""
    if len(payload) < len(MAGIC) + 29 + TAG_LEN or not payload.startswith(MAGIC):
        return Reject.MALFORMED
    body, tag = payload[:-TAG_LEN], payload[-TAG_LEN:]
    if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest()[:TAG_LEN], tag):
        return Reject.BAD_MAC
    try:
        version, boot, seq, wall_ms, epoch = struct.unpack_from("!BQQQI", body, 4)
        if version != VERSION:
            return Reject.MALFORMED
        off = 4 + 29
        node, off = _read_short(body, off)
        ifaces = []
        count = body[off]
        off += 1
        for _ in range(count):
            name, off = _read_short(body, off)
            ifaces.append(name)
        fenced: dict[str, int] = {}
        count = body[off]
        off += 1
        for _ in range(count):
            name, off = _read_short(body, off)
            (fenced[name],) = struct.unpack_from("!I", body, off)
            off += 4
        if off != len(body):
            return Reject.MALFORMED
    except (IndexError, ValueError, struct.error, UnicodeDecodeError):
        return Reject.MALFORMED
    return Heartbeat(node, boot, seq, wall_ms, epoch, tuple(ifaces), fenced)


@dataclass
class Receiver:
    """Accepts heartbeats: authentication, replay window and per-sender ordering.

    Args:
        me: Our node name (our own frames are ignored).
        key: HMAC key.
        max_age_s: Accepted difference between the sender's and our wall clock.
    """

    me: str
    key: bytes
    max_age_s: float = 5.0
    last: dict[str, tuple[int, int]] = field(default_factory=dict)  # node -> (boot, seq)
    rejected: dict[Reject, int] = field(default_factory=dict)

    def accept(self, payload: bytes, *, wall_s: float) -> Heartbeat | Reject:
        """Decode ``payload`` received at our wall time ``wall_s``."""
        out = decode(payload, key=self.key)
        if isinstance(out, Heartbeat):
            prev = self.last.get(out.node)
            if out.node == self.me:
                out = Reject.OWN
            elif abs(out.wall_ms / 1000.0 - wall_s) > self.max_age_s:
                out = Reject.STALE
            elif prev is not None and prev[0] == out.boot and out.seq <= prev[1]:
                out = Reject.REPLAY
            else:
                self.last[out.node] = (out.boot, out.seq)
                return out
        self.rejected[out] = self.rejected.get(out, 0) + 1
        return out
