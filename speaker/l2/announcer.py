"""The ARP/NDP responder and gratuitous announcer for the IPs this node owns.

The announcer holds one table, ``owned`` (IP -> allowed interface names or ``None`` for every
usable interface), set as a whole by :meth:`Announcer.set_owned` from the election's result.

* **Taking an IP:** gratuitous ARP (request and reply forms) / unsolicited NA with Override are
  sent *synchronously inside* ``set_owned`` on every allowed interface, then a short burst
  (``burst_count`` more, ``burst_interval_s`` apart), then a slow refresh every
  ``refresh_interval_s`` (keeps switch FDBs and router ARP caches warm: MetalLB #2910).
  IPv6: the solicited-node group of the IP is joined first (refcounted per interface).
* **Answering:** ARP requests (broadcast or to our MAC, including unicast reachability probes,
  netlab-facts §3.3) and Neighbor Solicitations whose target is owned and whose interface is
  allowed; everything else returns a :class:`frames.Drop` reason (never raises).
* **Losing an IP:** it leaves the table before anything else happens, so the very next request
  is not answered (no "withdraw" frame exists in ARP/NDP).
"""

from __future__ import annotations

import ipaddress
from collections import Counter as Tally
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from ingot.clock import Clock
from ingot.errors import AnnounceError
from speaker.l2 import frames
from speaker.l2.interfaces import LinkInfo
from speaker.l2.metrics import NULL, L2Metrics
from speaker.l2.wire import Wire

log = structlog.get_logger("ingot.speaker.l2")

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class GarpSchedule:
    """When gratuitous frames go out after taking an IP.

    Attributes:
        burst_count: Extra sends after the immediate one (default 4: covers clients that miss
            one frame and the 1 s ARP ``locktime`` window).
        burst_interval_s: Spacing of the burst (default 0.25 s).
        refresh_interval_s: Then one send per IP this often (default 30 s; 0 disables), shorter
            than common switch FDB ageing (300 s) and router ARP timeouts.
    """

    burst_count: int = 4
    burst_interval_s: float = 0.25
    refresh_interval_s: float = 30.0


class Announcer:
    """Answers ARP/NS for owned IPs and sends gratuitous frames. ``run()`` drives the schedule.

    Args:
        wire: The frame seam.
        clock: Time source.
        schedule: Gratuitous schedule.
        metrics: Metric sink.
        on_other_frame: Receives frames of other EtherTypes (heartbeats).
    """

    def __init__(
        self,
        *,
        wire: Wire,
        clock: Clock,
        schedule: GarpSchedule = GarpSchedule(),
        metrics: L2Metrics = NULL,
        on_other_frame: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self._wire = wire
        self._clock = clock
        self._schedule = schedule
        self._metrics = metrics
        self._on_other = on_other_frame
        self.links: dict[str, LinkInfo] = {}
        self.owned: dict[IP, frozenset[str] | None] = {}
        self._groups: dict[tuple[str, ipaddress.IPv6Address], int] = {}
        self._burst: dict[IP, tuple[float, int]] = {}
        self._refresh_at: dict[IP, float] = {}
        self.drops: Tally[frames.Drop] = Tally()
        self.last_garp_at: dict[IP, float] = {}

    # ---- interfaces -----------------------------------------------------------------------

    def set_links(self, links: Mapping[str, LinkInfo]) -> list[str]:
        """Use exactly ``links`` (usable interfaces, by name); returns names that failed to open.

        New links are opened and get gratuitous frames for owned IPs at once; vanished links are
        closed.
        """
        failed: list[str] = []
        for name in list(self.links):
            old = self.links[name]
            new = links.get(name)
            if new is None or new.index != old.index or new.mac != old.mac:
                self._close_link(name)
        for name, link in sorted(links.items()):
            if name in self.links:
                continue
            try:
                self._wire.open(name, ifindex=link.index, on_frame=self.on_frame)
            except AnnounceError as exc:
                log.warning("interface open failed", interface=name, error=str(exc))
                failed.append(name)
                continue
            self.links[name] = link
            for ip in sorted(self.owned, key=str):
                if self._allowed(ip, name):
                    self._join(name, ip)
                    self._send_garp(ip, only=name)
        return failed

    def _close_link(self, name: str) -> None:
        self.links.pop(name, None)
        for key in [k for k in self._groups if k[0] == name]:
            del self._groups[key]
        self._wire.close(name)

    def _allowed(self, ip: IP, ifname: str) -> bool:
        allowed = self.owned.get(ip)
        return ip in self.owned and (allowed is None or ifname in allowed)

    def interfaces_for(self, ip: IP) -> list[str]:
        """Open interfaces ``ip`` is announced on (sorted)."""
        return sorted(n for n in self.links if self._allowed(ip, n))

    def _join(self, ifname: str, ip: IP) -> None:
        if not isinstance(ip, ipaddress.IPv6Address):
            return
        key = (ifname, frames.solicited_node(ip))
        self._groups[key] = self._groups.get(key, 0) + 1
        if self._groups[key] == 1:
            try:
                self._wire.join(ifname, key[1])
            except AnnounceError as exc:
                log.warning("multicast join failed", interface=ifname, error=str(exc))

    def _leave(self, ifname: str, ip: IP) -> None:
        if not isinstance(ip, ipaddress.IPv6Address):
            return
        key = (ifname, frames.solicited_node(ip))
        if key not in self._groups:
            return
        self._groups[key] -= 1
        if self._groups[key] <= 0:
            del self._groups[key]
            self._wire.leave(ifname, key[1])

    # ---- ownership ------------------------------------------------------------------------

    def set_owned(self, owned: Mapping[Any, frozenset[str] | None]) -> tuple[set[IP], set[IP]]:
        """Announce exactly ``owned`` (IP or IP text -> allowed interfaces, ``None`` = all).

        Returns:
            (taken, released) IP sets. Released IPs stop being answered before this returns;
            taken IPs have had their first gratuitous frames sent before this returns.
        """
        want = {ipaddress.ip_address(ip): ifs for ip, ifs in owned.items()}
        released = set(self.owned) - set(want)
        for ip in released:
            for name in self.interfaces_for(ip):
                self._leave(name, ip)
            del self.owned[ip]
            self._burst.pop(ip, None)
            self._refresh_at.pop(ip, None)
        taken: set[IP] = set()
        for ip, ifs in want.items():
            before = self.interfaces_for(ip) if ip in self.owned else []
            if ip in self.owned and self.owned[ip] == ifs:
                continue
            self.owned[ip] = ifs
            after = self.interfaces_for(ip)
            for name in set(before) - set(after):
                self._leave(name, ip)
            new_ifs = [n for n in after if n not in before]
            for name in new_ifs:
                self._join(name, ip)
            if not before:
                taken.add(ip)
            for name in new_ifs:
                self._send_garp(ip, only=name)
            if new_ifs:
                now = self._clock.now()
                if self._schedule.burst_count > 0:
                    self._burst[ip] = (
                        now + self._schedule.burst_interval_s,
                        self._schedule.burst_count,
                    )
                self._refresh_at[ip] = now + self._refresh_interval()
        self._metrics.change("taken", len(taken))
        self._metrics.change("released", len(released))
        return taken, released

    def release_all(self) -> set[IP]:
        """Stop announcing everything at once (fenced / shutting down); returns what was owned."""
        _, released = self.set_owned({})
        return released

    def _refresh_interval(self) -> float:
        r = self._schedule.refresh_interval_s
        return r if r > 0 else float("inf")

    def _send_garp(self, ip: IP, *, only: str | None = None) -> int:
        sent = 0
        for name in [only] if only else self.interfaces_for(ip):
            link = self.links.get(name)
            if link is None:
                continue
            if isinstance(ip, ipaddress.IPv4Address):
                out = [
                    frames.garp_request(mac=link.mac, ip=ip),
                    frames.garp_reply(mac=link.mac, ip=ip),
                ]
            else:
                out = [frames.neighbor_advert(mac=link.mac, ip=ip)]
            for frame in out:
                try:
                    self._wire.send(name, frame)
                    sent += 1
                except AnnounceError as exc:
                    log.warning(
                        "gratuitous send failed", ip=str(ip), interface=name, error=str(exc)
                    )
                    break
        if sent:
            self._metrics.garp(str(ip), sent)
            self.last_garp_at[ip] = self._clock.now()
        return sent

    def tick(self) -> float:
        """Send every due burst/refresh frame; returns seconds until the next one is due."""
        now = self._clock.now()
        nxt = float("inf")
        for ip, (due, left) in list(self._burst.items()):
            if due <= now:
                self._send_garp(ip)
                if left > 1:
                    due = now + self._schedule.burst_interval_s
                    self._burst[ip] = (due, left - 1)
                else:
                    del self._burst[ip]
                    continue
            nxt = min(nxt, due)
        for ip, due in list(self._refresh_at.items()):
            if due <= now:
                self._send_garp(ip)
                due = now + self._refresh_interval()
                self._refresh_at[ip] = due
            nxt = min(nxt, due)
        return max(0.0, nxt - now)

    async def run(self, *, max_sleep_s: float = 0.05) -> None:
        """Drive :meth:`tick` until cancelled (sleeps at most ``max_sleep_s`` at a time)."""
        while True:
            wait = self.tick()
            await self._clock.sleep(min(wait, max_sleep_s))

    # ---- receiving ------------------------------------------------------------------------

    def on_frame(self, ifname: str, frame: bytes) -> frames.Drop | None:
        """Handle one received frame; returns ``None`` when answered, else the drop reason."""
        if len(frame) >= 14 and frame[12:14] == b"\x88\xb5":
            if self._on_other is not None:
                self._on_other(ifname, frame)
            return None
        link = self.links.get(ifname)
        if link is None:
            return self._drop(frames.Drop.INTERFACE_NOT_ALLOWED)
        parsed = frames.parse(frame, own_mac=link.mac)
        if isinstance(parsed, frames.Drop):
            return self._drop(parsed)
        target = parsed.target
        if target not in self.owned:
            return self._drop(frames.Drop.NOT_OWNED)
        text = str(target)
        self._metrics.request(text)
        if not self._allowed(target, ifname):
            return self._drop(frames.Drop.INTERFACE_NOT_ALLOWED)
        if isinstance(parsed, frames.ArpRequest):
            assert isinstance(target, ipaddress.IPv4Address)
            reply = frames.arp_reply(mac=link.mac, ip=target, to_mac=parsed.sha, to_ip=parsed.spa)
        else:
            assert isinstance(target, ipaddress.IPv6Address)
            if parsed.src_ip.is_unspecified:  # DAD probe: answer to all-nodes (RFC 4861 §7.2.4)
                reply = frames.neighbor_advert(mac=link.mac, ip=target)
            else:
                reply = frames.neighbor_advert(
                    mac=link.mac,
                    ip=target,
                    dst_ip=parsed.src_ip,
                    dst_mac=parsed.sllao or parsed.eth_src,
                    solicited=True,
                )
        try:
            self._wire.send(ifname, reply)
        except AnnounceError as exc:
            log.warning("reply send failed", ip=text, interface=ifname, error=str(exc))
            return None
        self._metrics.response(text)
        return None

    def _drop(self, reason: frames.Drop) -> frames.Drop:
        self.drops[reason] += 1
        return reason
