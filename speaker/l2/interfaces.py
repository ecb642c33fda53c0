"""Which interfaces may carry L2 announcements, and watching them change (netlink, no polling).

Selection follows MetalLB ``internal/layer2/announcer.go`` ``updateInterfaces``: skip interfaces
matching the exclusion regex list (MetalLB's Helm default, ``DEFAULT_EXCLUDE``), interfaces that
are down or without carrier, enslaved interfaces (bond/bridge ports), ``NOARP`` interfaces and
interfaces without broadcast. :func:`usable` is pure; :class:`LinkWatcher` turns kernel link
events (an ``RTMGRP_LINK`` netlink socket read by the asyncio loop, so no event is lost to
pyroute2's internal buffering — netlab-facts pitfall P11) into a fresh scan and a callback.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_EXCLUDE = (
    r"^docker.*",
    r"^cbr.*",
    r"^dummy.*",
    r"^virbr.*",
    r"^lxcbr.*",
    r"^veth.*",
    r"^lo$",
    r"^cali.*",
    r"^tunl.*",
    r"^flannel.*",
    r"^kube-ipvs.*",
    r"^cni.*",
    r"^nodelocaldns.*",
    r"^lxc.*",
)
"""MetalLB's chart default ``announcedInterfacesToExclude`` (``excludel2.yaml``)."""

IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_NOARP = 0x80
IFF_LOWER_UP = 0x10000
RTMGRP_LINK = 0x1


@dataclass(frozen=True)
class LinkInfo:
    """One network interface as the kernel reports it.

    Attributes:
        name: Interface name.
        index: ifindex.
        mac: Hardware address (6 bytes; empty when none).
        flags: ``IFF_*`` flags.
        carrier: Operational state is UP (carrier present).
        master: ifindex of the master (bond/bridge) or 0.
    """

    name: str
    index: int
    mac: bytes
    flags: int
    carrier: bool
    master: int = 0


def compile_exclude(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """Compile the exclusion regexes; raises ``ValueError`` naming the bad pattern."""
    out = []
    for p in patterns:
        try:
            out.append(re.compile(p))
        except re.error as exc:
            raise ValueError(f"bad interface exclusion regex {p!r}: {exc}") from exc
    return tuple(out)


def why_unusable(link: LinkInfo, exclude: Iterable[re.Pattern[str]]) -> str | None:
    """Why ``link`` cannot announce (``None`` when it can)."""
    if any(p.search(link.name) for p in exclude):
        return "excluded by regex"
    if not link.flags & IFF_UP:
        return "admin down"
    if not link.carrier:
        return "no carrier"
    if link.master:
        return "enslaved"
    if link.flags & IFF_NOARP:
        return "NOARP"
    if not link.flags & IFF_BROADCAST or len(link.mac) != 6:
        return "not broadcast Ethernet"
    return None


def usable(links: Iterable[LinkInfo], exclude: Iterable[re.Pattern[str]]) -> dict[str, LinkInfo]:
    """The links that may announce, by name."""
    ex = tuple(exclude)
    return {lk.name: lk for lk in links if why_unusable(lk, ex) is None}


def _from_pyroute2(msg: Any) -> LinkInfo | None:
    name = msg.get_attr("IFLA_IFNAME")
    if not name:
        return None
    mac_text = msg.get_attr("IFLA_ADDRESS") or ""
    try:
        mac = bytes(int(p, 16) for p in mac_text.split(":")) if mac_text else b""
    except ValueError:
        mac = b""
    oper = msg.get_attr("IFLA_OPERSTATE") or ""
    flags = int(msg["flags"])
    carrier = oper == "UP" or (oper == "UNKNOWN" and bool(flags & IFF_LOWER_UP))
    return LinkInfo(
        name=name,
        index=int(msg["index"]),
        mac=mac,
        flags=flags,
        carrier=carrier,
        master=int(msg.get_attr("IFLA_MASTER") or 0),
    )


def scan() -> list[LinkInfo]:
    """Every interface of this network namespace (one netlink dump through pyroute2)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        out = [_from_pyroute2(m) for m in ipr.get_links()]
    return [lk for lk in out if lk is not None]


class LinkWatcher:
    """Reports a fresh scan to ``on_change`` after every kernel link event (netlink).

    Events are debounced by ``debounce_s``; ``run()`` does the work until cancelled.

    Args:
        on_change: Receives every interface (not only usable ones), by name.
        scanner: The scan function (a fake in tests).
        debounce_s: Coalesce bursts of events within this many seconds.
    """

    def __init__(
        self,
        on_change: Callable[[Mapping[str, LinkInfo]], None],
        *,
        scanner: Callable[[], list[LinkInfo]] = scan,
        debounce_s: float = 0.005,
    ) -> None:
        self._on_change = on_change
        self._scanner = scanner
        self._debounce_s = debounce_s

    def rescan(self) -> None:
        """Scan now and report (blocking; not from inside a running loop with the real scan)."""
        self._on_change({lk.name: lk for lk in self._scanner()})

    async def _rescan_async(self) -> None:
        # pyroute2's synchronous IPRoute runs its own event loop: keep it off ours
        links = await asyncio.to_thread(self._scanner)
        self._on_change({lk.name: lk for lk in links})

    async def run(self) -> None:
        """Report once, then after every link event; closes its socket on cancellation."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        event = asyncio.Event()

        def readable() -> None:
            for _ in range(256):
                try:
                    sock.recv(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                event.set()

        try:
            sock.bind((0, RTMGRP_LINK))
            sock.setblocking(False)
            loop.add_reader(sock.fileno(), readable)
            await self._rescan_async()
            while True:
                await event.wait()
                await asyncio.sleep(self._debounce_s)
                event.clear()
                await self._rescan_async()
        finally:
            loop.remove_reader(sock.fileno())
            sock.close()
