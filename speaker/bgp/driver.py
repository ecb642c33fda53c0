"""The BGP seam: declarative route sets in, ExaBGP process-API commands out.

Two layers:

* :class:`ApiChannel` speaks ExaBGP's text process API over the helper relay
  (``speaker/bgp/helper.py``): **one command at a time, each waiting for its own ack**, because
  ExaBGP executes route commands asynchronously and its acks do not come back in command order
  when commands are pipelined (netlab pitfall P2). The channel's reader runs all the time, so
  acks and ``neighbor X up|down`` events never pile up (P1; the helper also drains).
* :class:`BgpDriver` is what the speaker talks to: ``set_peers(peers)`` and
  ``set_routes(full_set)``. It is declarative: the implementation works out the difference
  against what is already announced and sends only that. :class:`FakeDriver` records the
  calls; the real one is ``speaker.bgp.exabgp.ExabgpDriver``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from ingot.api.bgp import BgpPeerSpec, IPNetwork, Route
from ingot.errors import BgpDriverError

log = structlog.get_logger("speaker.bgp")


# ---------------------------------------------------------------------------- commands


def announce_command(route: Route) -> str:
    """ExaBGP 5 text API line announcing ``route`` (attributes as in netlab-facts §5.4)."""
    parts = [f"announce route {route.prefix} next-hop {route.next_hop}"]
    if route.local_pref is not None:
        parts.append(f"local-preference {route.local_pref}")
    if route.communities:
        parts.append("community [" + " ".join(str(c) for c in route.communities) + "]")
    if route.large_communities:
        parts.append("large-community [" + " ".join(str(c) for c in route.large_communities) + "]")
    return " ".join(parts)


def withdraw_command(route: Route) -> str:
    """ExaBGP 5 text API line withdrawing ``route``'s prefix."""
    return f"withdraw route {route.prefix} next-hop {route.next_hop}"


@dataclass(frozen=True)
class RouteDiff:
    """What to send to move a session from ``applied`` to ``desired`` (one peer's routes)."""

    announce: tuple[Route, ...]
    withdraw: tuple[Route, ...]

    def __bool__(self) -> bool:
        return bool(self.announce or self.withdraw)


def diff_routes(
    applied: Mapping[IPNetwork, Route], desired: Mapping[IPNetwork, Route]
) -> RouteDiff:
    """The commands that turn ``applied`` into ``desired``, sorted for determinism.

    New or changed prefixes are announced (an UPDATE replaces the old attributes, RFC 4271
    §3.1), vanished ones withdrawn; unchanged routes send nothing.
    """
    return RouteDiff(
        announce=tuple(sorted(r for p, r in desired.items() if applied.get(p) != r)),
        withdraw=tuple(sorted(r for p, r in applied.items() if p not in desired)),
    )


def by_prefix(routes: Iterable[Route]) -> dict[IPNetwork, Route]:
    """Index one peer's routes by prefix (a prefix goes to a peer once)."""
    return {r.prefix: r for r in routes}


# ---------------------------------------------------------------------------- API channel


@dataclass(frozen=True)
class NeighborEvent:
    """A ``neighbor ADDR up|connected|down - reason`` line from ExaBGP's text encoder."""

    address: str
    state: str
    reason: str = ""


def parse_event(line: str) -> NeighborEvent | None:
    """Parse a neighbor state line, or return ``None`` for anything else."""
    words = line.split(maxsplit=3)
    if len(words) >= 3 and words[0] == "neighbor" and words[2] in {"up", "down", "connected"}:
        reason = words[3].removeprefix("- ").strip() if len(words) > 3 else ""
        return NeighborEvent(words[1], words[2], reason)
    return None


class ApiChannel:
    """ExaBGP's process API over one helper connection: serial commands, each with its ack.

    ``run_reader()`` must run for the channel's whole life; it ends when ExaBGP/the helper
    closes the connection. ``on_event`` receives neighbor state changes.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_event: Callable[[NeighborEvent], None],
        ack_timeout_s: float = 10.0,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_event = on_event
        self._ack_timeout_s = ack_timeout_s
        self._acks: asyncio.Queue[bool] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._closed = False

    async def run_reader(self) -> None:
        """Read every line ExaBGP writes until EOF: acks to the waiting command, events out."""
        try:
            while True:
                raw = await self._reader.readline()
                if not raw:
                    return
                line = raw.decode(errors="replace").strip()
                if line == "done":
                    self._acks.put_nowait(True)
                elif line == "error":
                    self._acks.put_nowait(False)
                elif (event := parse_event(line)) is not None:
                    self._on_event(event)
                elif line:
                    log.debug("exabgp api output", line=line)
        finally:
            self._closed = True
            self._acks.put_nowait(False)  # wake a waiting command; it sees _closed

    async def command(self, line: str) -> bool:
        """Send ``line`` and wait for its ack; ``True`` for ``done``, ``False`` for ``error``.

        Raises:
            BgpDriverError: the channel closed, or no ack came within ``ack_timeout_s``
                (the caller restarts ExaBGP: its state is then unknown).
        """
        async with self._lock:
            if self._closed:
                raise BgpDriverError("ExaBGP API channel closed")
            self._writer.write(line.encode() + b"\n")
            try:
                await self._writer.drain()
                async with asyncio.timeout(self._ack_timeout_s):  # not wait_for (3.11 race)
                    ok = await self._acks.get()
            except (TimeoutError, OSError) as exc:
                raise BgpDriverError(f"no ack from ExaBGP for {line!r}: {exc!r}") from exc
            if self._closed and self._acks.empty() and not ok:
                raise BgpDriverError(f"ExaBGP API channel closed while sending {line!r}")
            return ok

    def close(self) -> None:
        """Close the connection to the helper (ExaBGP's API process then exits)."""
        self._writer.close()


# ---------------------------------------------------------------------------- the seam


class BgpDriver(Protocol):
    """What the speaker's BGP component needs from the BGP implementation."""

    def set_peers(self, peers: Iterable[BgpPeerSpec]) -> Mapping[str, str]:
        """Make the sessions exactly ``peers`` (by name); return render errors by peer name.

        A peer whose definition is unchanged keeps its session untouched.
        """
        ...

    def set_routes(self, routes: frozenset[Route]) -> None:
        """Make the announced routes exactly ``routes`` (the full set, every peer)."""
        ...


@dataclass
class FakeDriver:
    """In-memory :class:`BgpDriver`: records the peers and every route set it was given."""

    peers: dict[str, BgpPeerSpec] = field(default_factory=dict)
    routes: frozenset[Route] = frozenset()
    history: list[frozenset[Route]] = field(default_factory=list)
    peer_history: list[tuple[str, ...]] = field(default_factory=list)

    def set_peers(self, peers: Iterable[BgpPeerSpec]) -> Mapping[str, str]:
        self.peers = {p.name: p for p in peers}
        self.peer_history.append(tuple(sorted(self.peers)))
        return {}

    def set_routes(self, routes: frozenset[Route]) -> None:
        if routes != self.routes:
            self.history.append(routes)
        self.routes = routes
