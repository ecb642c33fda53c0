"""The L2 component of the speaker: membership, fencing, placement, announcing, status.

One asyncio task set per speaker (``run()``):

* the **link watcher** (netlink) keeps the announcer's interfaces current;
* the **tick** (every ``heartbeat_interval_s``) sends heartbeats, fences silent peers with one
  compare-and-swap on their Lease, checks self-fencing and re-places when anything changed;
* the **lease keeper** creates/renews our own Lease (``ingot-speaker-<node>``) and re-acquires
  it after a fence only once the hold-down has passed;
* the **status writer** creates/deletes ``ServiceL2Status`` objects, emits ``nodeAssigned`` /
  ``announceFailed`` events and sets the Service condition ``ingot.io/Announced`` (unless the
  Service is BGP-only: ``ingot.api.l2.announced_condition_owner``; one strategic-merge patch of
  that condition alone, ``speaker.conditions``) — only on change, never in the failover path.

Placement itself is ``ingot.api.l2.place_all`` (pure); fencing rules are ``speaker.l2.fencing``
(pure). API calls run in worker threads (``asyncio.to_thread``); informer callbacks come back to
the loop with ``call_soon_threadsafe``.

Static mode (``static_ips``): no cluster; the node announces the given IPs unconditionally
(lab and debugging only).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from ingot import errors
from ingot.api import l2 as place
from ingot.api.l2 import MemberState
from ingot.clock import Clock
from ingot.kube import source as src
from ingot.kube.informer import Informer
from ingot.kube.lease import format_micro_time, parse_time
from speaker import conditions
from speaker.app import ClusterState, stop_informers
from speaker.l2 import fencing, heartbeat
from speaker.l2.announcer import Announcer, GarpSchedule
from speaker.l2.fencing import LeaseView, PeerHeartbeat, SelfReason, Timings
from speaker.l2.interfaces import LinkInfo, LinkWatcher, compile_exclude, usable
from speaker.l2.metrics import NULL, L2Metrics
from speaker.l2.wire import Wire

log = structlog.get_logger("ingot.speaker.l2")

SERVICE_L2_STATUS = src.SERVICE_L2_STATUS
LEASE_LABEL = "ingot.io/speaker-lease"
LEASE_PREFIX = "ingot-speaker-"
CONDITION = conditions.ANNOUNCED
COMPONENT = conditions.COMPONENT


def lease_name(node: str) -> str:
    """The Lease of ``node``'s speaker."""
    return f"{LEASE_PREFIX}{node}"


def status_name(service_key: str, node: str) -> str:
    """Deterministic ServiceL2Status name for (Service, node) (``l2-`` + readable + hash)."""
    ns, _, name = service_key.partition("/")
    digest = hashlib.sha256(f"{service_key}#{node}".encode()).hexdigest()[:8]
    base = re.sub(r"[^a-z0-9-]", "-", f"l2-{ns}-{name}-{node}".lower())[:200].strip("-")
    return f"{base}-{digest}"


@dataclass(frozen=True)
class L2Options:
    """Settings of the L2 component (each a speaker flag).

    Attributes:
        node: This node's name.
        namespace: Where Leases and ServiceL2Status objects live.
        timings: Election/fencing timings.
        schedule: Gratuitous ARP/NA schedule.
        exclude: Interface exclusion regexes.
        heartbeat_key: HMAC key of heartbeats.
        ignore_exclude_lb: Ignore the exclude-from-external-load-balancers label.
        load_balancer_class: Handle only Services of this class (``None``: without class).
        static_ips: Static mode: announce these IPs, no cluster.
        write_status: Write ServiceL2Status objects, events and conditions.
        heartbeat_thread: Send heartbeats from a dedicated thread, so a busy event loop (a
            large re-placement, a burst of events) never makes this node look silent. Needs a
            thread-safe wire (``RawWire``); the in-memory test wires send from the loop.
    """

    node: str
    namespace: str = "ingot-system"
    timings: Timings = Timings()
    schedule: GarpSchedule = GarpSchedule()
    exclude: tuple[str, ...] = ()
    heartbeat_key: bytes = b""
    ignore_exclude_lb: bool = False
    load_balancer_class: str | None = None
    static_ips: tuple[str, ...] = ()
    write_status: bool = True
    heartbeat_thread: bool = False


class L2Component:
    """The speaker's L2 mode (see the module docstring)."""

    name = "l2"

    def __init__(
        self,
        *,
        options: L2Options,
        wire: Wire,
        clock: Clock,
        source: src.Source | None,
        metrics: L2Metrics = NULL,
        link_scanner: Any = None,
    ) -> None:
        self.opt = options
        self._wire = wire
        self._clock = clock
        self._source = source
        self._metrics = metrics
        self._scanner = link_scanner
        self._exclude = compile_exclude(options.exclude)
        self.announcer = Announcer(
            wire=wire,
            clock=clock,
            schedule=options.schedule,
            metrics=metrics,
            on_other_frame=self._on_heartbeat_frame,
        )
        self._hb_rx = heartbeat.Receiver(
            options.node, options.heartbeat_key, options.timings.heartbeat_max_age_s
        )
        self._boot = int.from_bytes(os.urandom(8), "big")
        self._seq = 0
        self.state = ClusterState()
        self.leases: dict[str, LeaseView] = {}
        self._raw_leases: dict[str, dict[str, Any]] = {}
        self.heartbeats: dict[str, PeerHeartbeat] = {}
        self.links: dict[str, LinkInfo] = {}
        self.placements: dict[str, place.Placement] = {}
        self.self_reason = SelfReason.NO_LEASE
        self._last_api_ok_s: float | None = None
        self._healthy_since_s: float | None = None
        self._dirty = asyncio.Event()
        self._pending_since: dict[str, float] = {}
        self._prev_owner: dict[str, str | None] = {}
        self._fencing: set[str] = set()
        self._status_dirty: set[str] = set()
        self._status_wake = asyncio.Event()
        self._status_known: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._events_sent: dict[tuple[str, str], str] = {}
        self._conditions = (
            conditions.ConditionWriter(source=source, clock=clock) if source is not None else None
        )
        self._lease_informer: Informer | None = None
        self.owned_services: dict[str, str] = {}  # service key -> ip announced
        self._last_inputs: tuple[object, object] | None = None
        self._ready_at_s: float | None = None
        self._gauge_keys: set[tuple[str, str]] = set()
        self._iface_failed: dict[str, tuple[str, frozenset[str] | None, str]] = {}

    # ---- inputs ---------------------------------------------------------------------------

    def update(self, state: ClusterState) -> None:
        self.state = state
        self._dirty.set()

    def _on_links(self, all_links: Mapping[str, LinkInfo]) -> None:
        links = usable(all_links.values(), self._exclude)
        failed = self.announcer.set_links(links)
        new = {n: lk for n, lk in links.items() if n not in failed}
        if new.keys() != self.links.keys():
            log.info("interfaces", usable=sorted(new))
        self.links = new
        self._recompute()

    def _on_heartbeat_frame(self, ifname: str, frame: bytes) -> None:
        got = self._hb_rx.accept(frame[14:], wall_s=self._clock.wall())
        if not isinstance(got, heartbeat.Heartbeat):
            return
        now = self._clock.now()
        prev = self.heartbeats.get(got.node)
        hb = PeerHeartbeat(now, frozenset(got.interfaces), got.epoch, dict(got.fenced))
        self.heartbeats[got.node] = hb
        t = self.opt.timings
        if (
            prev is None
            or now - prev.heard_s >= t.suspect_after_s
            or prev.up_interfaces != hb.up_interfaces
            or prev.fenced != hb.fenced
        ):
            self._dirty.set()

    def _on_lease(self, obj: Mapping[str, Any], deleted: bool) -> None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name", ""))
        if not name.startswith(LEASE_PREFIX):
            return
        node = name[len(LEASE_PREFIX) :]
        before = self.leases.get(node)
        if deleted:
            self.leases.pop(node, None)
            self._raw_leases.pop(node, None)
        else:
            self._store_lease(node, dict(obj))
        self._last_api_ok_s = self._clock.now()
        after = self.leases.get(node)
        # a plain renewal changes no membership: let the cheap check decide
        same = (
            before is not None
            and after is not None
            and (before.holder, before.transitions) == (after.holder, after.transitions)
        )
        self._recompute(force=not same)

    def _store_lease(self, node: str, raw: dict[str, Any]) -> None:
        spec = raw.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        transitions = int(spec.get("leaseTransitions") or 0)
        rv = str((raw.get("metadata") or {}).get("resourceVersion", ""))
        old = self.leases.get(node)
        old_raw = self._raw_leases.get(node)
        renew = (spec.get("renewTime"), holder)
        same = (
            old_raw is not None
            and (
                (old_raw.get("spec") or {}).get("renewTime"),
                str((old_raw.get("spec") or {}).get("holderIdentity") or ""),
            )
            == renew
        )
        seen = old.seen_renew_s if (old is not None and same) else self._clock.now()
        self.leases[node] = LeaseView(holder, transitions, rv, seen)
        self._raw_leases[node] = raw

    # ---- decisions ------------------------------------------------------------------------

    def api_ok(self) -> bool:
        if self._source is None:
            return True
        last = self._last_api_ok_s
        return last is not None and self._clock.now() - last < self.opt.timings.api_grace_s

    def _recompute(self, *, force: bool = True) -> None:
        """Place every IP and hand this node's share to the announcer (synchronous).

        Without ``force`` (the periodic tick) placement reruns only if membership or the
        self-fencing verdict changed since the last run.
        """
        if force:
            self._dirty.clear()
        now = self._clock.now()
        if self.opt.static_ips:
            self.announcer.set_owned({ip: None for ip in self.opt.static_ips})
            return
        t = self.opt.timings
        api_ok = self.api_ok()
        me = self.opt.node
        members = fencing.membership(
            leases=self.leases,
            heartbeats=self.heartbeats,
            me=me,
            my_interfaces=frozenset(self.links),
            now_s=now,
            api_ok=api_ok,
            timings=t,
        )
        live = sum(1 for m in members.values() if m.state is MemberState.LIVE)
        reason = fencing.may_announce(
            me=me,
            lease=self.leases.get(me),
            heartbeats=self.heartbeats,
            cluster_size=max(1, live),
            now_s=now,
            api_ok=api_ok,
            timings=t,
        )
        changed = (members, reason) != self._last_inputs
        self._last_inputs = (members, reason)
        if not force and not changed:
            return
        if reason is not self.self_reason:
            log.info("self state", reason=reason.value)
            if reason in (SelfReason.FENCED, SelfReason.FENCED_BY_PEER):
                self._healthy_since_s = now
        self.self_reason = reason
        state = self.state
        if reason is SelfReason.OK and self._ready_at_s is None:
            synced = self._lease_informer is None or self._lease_informer.has_synced()
            if synced:
                self._ready_at_s = now + t.startup_grace_s
                asyncio.get_running_loop().call_later(t.startup_grace_s + 0.01, self._dirty.set)
        if self._source is not None and (self._ready_at_s is None or now < self._ready_at_s):
            return  # starting: learn the other speakers first
        if not state.synced or state.config is None:
            if reason is not SelfReason.OK:
                self.announcer.release_all()
            return  # keep announcing what we had until we know better
        placements = place.place_from_config(
            state.config,
            services=state.services,
            slices_by_service=state.slices_by_service,
            raw_nodes=state.nodes,
            members=members,
            load_balancer_class=self.opt.load_balancer_class,
            ignore_exclude_lb=self.opt.ignore_exclude_lb,
        )
        desired: dict[str, frozenset[str] | None] = {}
        wait_s = float("inf")
        for ip, p in placements.items():
            prev = self._prev_owner.get(ip)
            if p.owner != me or reason is not SelfReason.OK:
                self._pending_since.pop(ip, None)
                continue
            current = ipaddress.ip_address(ip) in self.announcer.owned
            if prev is None and not current:
                # never placed here before: whoever would own it without us may announce it
                prev = p.candidates[1] if len(p.candidates) > 1 else None
            prev_live = (
                prev is not None
                and prev != me
                and members.get(prev, place.Member(MemberState.ABSENT)).state is MemberState.LIVE
            )
            if not current and prev_live:
                since = self._pending_since.setdefault(ip, now)
                if now - since < t.handover_delay_s:
                    wait_s = min(wait_s, since + t.handover_delay_s - now)
                    continue
            self._pending_since.pop(ip, None)
            desired[ip] = p.verdicts[me].interfaces
        taken, released = self.announcer.set_owned(desired)
        for ip_obj in taken:
            ip = str(ip_obj)
            prev = self._prev_owner.get(ip)
            hb = self.heartbeats.get(prev) if prev else None
            if prev and prev != me and hb is not None and self._metrics.enabled:
                self._metrics.failover.observe(max(0.0, now - hb.heard_s))
            log.info("announcing", ip=ip, previous_owner=prev, services=placements[ip].services)
        for ip_obj in released:
            log.info("stopped announcing", ip=str(ip_obj), new_owner=placements.get(str(ip_obj)))
        for ip, p in placements.items():
            if p.owner is not None and (p.owner != me or ip in desired):
                self._prev_owner[ip] = p.owner
        for ip in list(self._prev_owner):
            if ip not in placements:
                del self._prev_owner[ip]
        self.placements = placements
        self._set_announced_gauge(placements)
        if wait_s != float("inf"):
            asyncio.get_running_loop().call_later(wait_s + 0.001, self._dirty.set)
        if self.opt.write_status and self._source is not None:
            self._queue_status(placements)

    def _set_announced_gauge(self, placements: Mapping[str, place.Placement]) -> None:
        if not self._metrics.enabled:
            return
        now: set[tuple[str, str]] = set()
        for ip, p in placements.items():
            if ipaddress.ip_address(ip) in self.announcer.owned:
                now |= {(key, ip) for key in p.services}
        for key, ip in self._gauge_keys - now:
            self._metrics.announced.remove(key, "layer2", self.opt.node, ip)
        for key, ip in now - self._gauge_keys:
            self._metrics.announced.labels(key, "layer2", self.opt.node, ip).set(1)
        self._gauge_keys = now

    # ---- periodic work --------------------------------------------------------------------

    def _my_heartbeat(self) -> heartbeat.Heartbeat:
        self._seq += 1
        own = self.leases.get(self.opt.node)
        fenced = {
            n: lv.transitions
            for n, lv in tuple(self.leases.items())
            if lv.holder == "" and n != self.opt.node
        }
        return heartbeat.Heartbeat(
            node=self.opt.node,
            boot=self._boot,
            seq=self._seq,
            wall_ms=int(self._clock.wall() * 1000),
            epoch=own.transitions if own else 0,
            interfaces=tuple(sorted(self.links)),
            fenced=fenced,
        )

    def _send_heartbeats(self) -> None:
        hb = self._my_heartbeat()
        for name, link in tuple(self.links.items()):
            try:
                self._wire.send(name, heartbeat.frame(hb, key=self.opt.heartbeat_key, mac=link.mac))
            except errors.AnnounceError:
                continue

    def _heartbeat_loop(self, stop: threading.Event) -> None:
        interval = self.opt.timings.heartbeat_interval_s
        while not stop.wait(interval):
            try:
                self._send_heartbeats()
            except Exception:  # never let the liveness signal die with an odd error
                log.exception("heartbeat send failed")

    async def _tick(self) -> None:
        t = self.opt.timings
        last_s = self._clock.now()
        for _ in range(1 << 62):
            now_s = self._clock.now()
            gap_s, last_s = now_s - last_s, now_s
            stalled = gap_s > t.suspect_after_s / 2
            if stalled:
                # the loop was blocked: queued heartbeats are not processed yet, so silence
                # now means nothing; decide on the next tick
                log.debug("event loop stalled, no fencing this tick", stall_s=gap_s)
            if self._source is not None and not self.opt.heartbeat_thread:
                self._send_heartbeats()
            if self._source is not None and not stalled:
                targets = fencing.fence_targets(
                    leases=self.leases,
                    heartbeats=self.heartbeats,
                    me=self.opt.node,
                    now_s=self._clock.now(),
                    api_ok=self.api_ok(),
                    timings=t,
                    links_up=bool(self.links),
                )
                for node in targets:
                    if node not in self._fencing:
                        self._fencing.add(node)
                        asyncio.get_running_loop().create_task(self._fence(node))
            # membership and self-fencing depend on time too: check them every tick
            self._recompute(force=self._dirty.is_set())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), timeout=t.heartbeat_interval_s)

    def _count_fence(self, result: str) -> None:
        if self._metrics.enabled:
            self._metrics.fences.labels(result).inc()

    async def _fence(self, node: str) -> None:
        assert self._source is not None
        raw = self._raw_leases.get(node)
        try:
            if raw is None:
                return
            body = fencing.fenced_lease(raw, holder=node)
            new = await asyncio.to_thread(
                self._source.replace, src.LEASE, body, namespace=self.opt.namespace
            )
            self._last_api_ok_s = self._clock.now()
            self._store_lease(node, new)
            self._count_fence("fenced")
            log.warning("fenced silent speaker", node=node)
            self._recompute()
        except errors.Conflict:
            self._count_fence("conflict")
        except ValueError:
            pass
        except errors.KubeError as exc:
            self._count_fence("error")
            log.warning("fencing write failed", node=node, error=str(exc))
        finally:
            self._fencing.discard(node)

    # ---- own lease ------------------------------------------------------------------------

    def _lease_body(
        self, *, transitions: int, acquire: bool, base: dict[str, Any] | None
    ) -> dict[str, Any]:
        now = format_micro_time(self._clock.wall())
        spec = dict((base or {}).get("spec") or {})
        spec.update(
            holderIdentity=self.opt.node,
            leaseDurationSeconds=max(1, round(self.opt.timings.lease_duration_s)),
            leaseTransitions=transitions,
            renewTime=now,
        )
        if acquire:
            spec["acquireTime"] = now
        meta = dict((base or {}).get("metadata") or {})
        meta.setdefault("name", lease_name(self.opt.node))
        meta.setdefault("namespace", self.opt.namespace)
        labels = dict(meta.get("labels") or {})
        labels[LEASE_LABEL] = "true"
        meta["labels"] = labels
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": spec,
        }

    async def _lease_step(self) -> None:
        assert self._source is not None
        me = self.opt.node
        ns = self.opt.namespace
        now = self._clock.now()
        try:
            raw = await asyncio.to_thread(self._source.get, src.LEASE, lease_name(me), namespace=ns)
        except errors.NotFound:
            raw = None
        self._last_api_ok_s = self._clock.now()
        if raw is None:
            new = await asyncio.to_thread(
                self._source.create,
                src.LEASE,
                self._lease_body(transitions=0, acquire=True, base=None),
                namespace=ns,
            )
            log.info("lease created", lease=lease_name(me))
        else:
            spec = raw.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            transitions = int(spec.get("leaseTransitions") or 0)
            if holder == me:
                new = await asyncio.to_thread(
                    self._source.replace,
                    src.LEASE,
                    self._lease_body(transitions=transitions, acquire=False, base=raw),
                    namespace=ns,
                )
            else:
                if self._healthy_since_s is None:
                    self._healthy_since_s = now
                self._store_lease(me, raw)
                if not fencing.rejoin_due(
                    healthy_since_s=self._healthy_since_s, now_s=now, timings=self.opt.timings
                ):
                    self._recompute()
                    return
                new = await asyncio.to_thread(
                    self._source.replace,
                    src.LEASE,
                    self._lease_body(transitions=transitions + 1, acquire=True, base=raw),
                    namespace=ns,
                )
                log.info("lease re-acquired after hold-down", lease=lease_name(me))
                if self.opt.timings.hold_down_s >= self.opt.timings.startup_grace_s:
                    self._ready_at_s = now  # the hold-down was a longer grace: no extra wait
        self._last_api_ok_s = self._clock.now()
        self._store_lease(me, new)
        self._recompute()

    async def _lease_keeper(self) -> None:
        t = self.opt.timings
        # A restart finds our Lease: if it is still ours and fresh, continue at once; if it was
        # fenced or expired, the hold-down starts now.
        if self._source is not None:
            with contextlib.suppress(errors.KubeError):
                raw = await asyncio.to_thread(
                    self._source.get,
                    src.LEASE,
                    lease_name(self.opt.node),
                    namespace=self.opt.namespace,
                )
                spec = raw.get("spec") or {}
                renewed = parse_time(spec.get("renewTime"))
                fresh = renewed is not None and time.time() - renewed < t.lease_duration_s
                if spec.get("holderIdentity") != self.opt.node or not fresh:
                    self._healthy_since_s = self._clock.now()
                    if spec.get("holderIdentity") == self.opt.node:
                        # expired: give it up explicitly, then rejoin after the hold-down
                        await asyncio.to_thread(
                            self._source.replace,
                            src.LEASE,
                            fencing.fenced_lease(raw, holder=self.opt.node),
                            namespace=self.opt.namespace,
                        )
        for _ in range(1 << 62):
            try:
                await self._lease_step()
                delay = t.renew_interval_s
            except errors.Conflict:
                delay = 0.05  # someone fenced us or raced: re-read at once
            except errors.KubeError as exc:
                log.warning("lease renewal failed", error=str(exc))
                delay = min(t.renew_interval_s, 1.0)
            await self._clock.sleep(delay)

    # ---- status ---------------------------------------------------------------------------

    def _queue_status(self, placements: Mapping[str, place.Placement]) -> None:
        me = self.opt.node
        owned: dict[str, str] = {}
        for ip, p in placements.items():
            if p.owner == me and ipaddress.ip_address(ip) in self.announcer.owned:
                for key in p.services:
                    owned.setdefault(key, ip)
        keys = set(owned) | set(self.owned_services) | set(self._status_known)
        self.owned_services = owned
        self._status_dirty |= keys
        # the reporter (first live member by name) writes conditions for unowned IPs
        self._status_dirty |= {
            k for p in placements.values() if p.owner is None for k in p.services
        }
        # we lack the advertised interfaces but would rank before the owner: say so
        self._iface_failed = {}
        for ip, p in placements.items():
            v = p.verdicts.get(me)
            if v is None or v.reason is not place.NodeReason.NO_INTERFACE or p.owner is None:
                continue
            owner_v = p.verdicts[p.owner]
            if (-v.score, place.rank_key(me, ip)) < (-owner_v.score, place.rank_key(p.owner, ip)):
                for key in p.services:
                    self._iface_failed[key] = (ip, v.interfaces, p.owner)
        self._status_dirty |= set(self._iface_failed)
        if self._status_dirty:
            self._status_wake.set()

    async def _status_writer(self) -> None:
        assert self._source is not None
        with contextlib.suppress(errors.KubeError):
            found = await asyncio.to_thread(
                self._source.list,
                SERVICE_L2_STATUS,
                namespace=self.opt.namespace,
                label_selector=f"metallb.io/node={self.opt.node}",
            )
            for obj in found.items:
                st = obj.get("status") or {}
                key = f"{st.get('serviceNamespace', '')}/{st.get('serviceName', '')}"
                ifs = tuple(i.get("name", "") for i in st.get("interfaces") or [])
                self._status_known[key] = (obj["metadata"]["name"], ifs)
                self._status_dirty.add(key)
        for _ in range(1 << 62):
            await self._status_wake.wait()
            self._status_wake.clear()
            keys, self._status_dirty = sorted(self._status_dirty), set()
            for key in keys:
                try:
                    await self._write_status(key)
                except errors.KubeError as exc:
                    log.warning("status write failed", service=key, error=str(exc))
                    self._status_dirty.add(key)
            if self._status_dirty:
                await self._clock.sleep(1.0)
                self._status_wake.set()

    def _service_raw(self, key: str) -> dict[str, Any] | None:
        ns, _, name = key.partition("/")
        for s in self.state.services:
            meta = s.get("metadata") or {}
            if meta.get("namespace") == ns and meta.get("name") == name:
                return s
        return None

    async def _write_status(self, key: str) -> None:
        assert self._source is not None
        me = self.opt.node
        ns = self.opt.namespace
        ip = self.owned_services.get(key)
        known = self._status_known.get(key)
        svc = self._service_raw(key)
        if ip is not None and svc is not None:
            p = self.placements.get(ip)
            restricted = p is not None and p.verdicts[me].interfaces is not None
            ifs = (
                tuple(self.announcer.interfaces_for(ipaddress.ip_address(ip))) if restricted else ()
            )
            if known is None or known[1] != ifs:
                await self._ensure_status_object(key, ifs, known)
            await self._event(
                svc, "nodeAssigned", f'announcing from node "{me}" with protocol "layer2"', "Normal"
            )
            await self._condition(svc, "True", "Announced", f"announced from node {me} ({ip})")
        else:
            failed = self._iface_failed.get(key)
            if failed is not None and svc is not None:
                ip_f, ifs_f, owner_f = failed
                names = ", ".join(sorted(ifs_f or ())) or "any"
                await self._event(
                    svc,
                    "announceFailed",
                    f"{ip_f}: interfaces [{names}] not up on node {me}; announced from {owner_f}",
                    "Warning",
                )
            if known is not None:
                with contextlib.suppress(errors.NotFound):
                    await asyncio.to_thread(
                        self._source.delete, SERVICE_L2_STATUS, known[0], namespace=ns
                    )
                self._status_known.pop(key, None)
            self._events_sent.pop((key, "nodeAssigned"), None)
            if svc is not None:
                await self._report_unowned(key, svc)

    async def _ensure_status_object(
        self, key: str, ifs: tuple[str, ...], known: tuple[str, tuple[str, ...]] | None
    ) -> None:
        assert self._source is not None
        me, ns = self.opt.node, self.opt.namespace
        svc_ns, _, svc_name = key.partition("/")
        name = known[0] if known else status_name(key, me)
        body: dict[str, Any] = {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "ServiceL2Status",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": {
                    "metallb.io/node": me,
                    "metallb.io/service-name": svc_name,
                    "metallb.io/service-namespace": svc_ns,
                },
            },
            "spec": {},
            "status": {
                "node": me,
                "serviceName": svc_name,
                "serviceNamespace": svc_ns,
                "interfaces": [{"name": i} for i in ifs],
            },
        }
        if known is None:
            await self._drop_dead_nodes_status(svc_ns, svc_name)
            try:
                created = await asyncio.to_thread(
                    self._source.create, SERVICE_L2_STATUS, body, namespace=ns
                )
            except errors.Conflict:
                created = await asyncio.to_thread(
                    self._source.get, SERVICE_L2_STATUS, name, namespace=ns
                )
            body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
        else:
            cur = await asyncio.to_thread(self._source.get, SERVICE_L2_STATUS, name, namespace=ns)
            body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        await asyncio.to_thread(self._source.replace_status, SERVICE_L2_STATUS, body, namespace=ns)
        self._status_known[key] = (name, ifs)

    async def _drop_dead_nodes_status(self, svc_ns: str, svc_name: str) -> None:
        """Delete this Service's ServiceL2Status objects left by fenced or absent speakers.

        A live loser deletes its own object; a dead one cannot, so the new owner does it.
        """
        assert self._source is not None
        sel = f"metallb.io/service-name={svc_name},metallb.io/service-namespace={svc_ns}"
        found = await asyncio.to_thread(
            self._source.list, SERVICE_L2_STATUS, namespace=self.opt.namespace, label_selector=sel
        )
        for obj in found.items:
            node = (obj.get("metadata", {}).get("labels") or {}).get("metallb.io/node", "")
            lease = self.leases.get(node)
            if node == self.opt.node or (lease is not None and lease.holder == node):
                continue  # ours, or a live speaker's (it deletes its own)
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await asyncio.to_thread(
                    self._source.delete,
                    SERVICE_L2_STATUS,
                    obj["metadata"]["name"],
                    namespace=self.opt.namespace,
                )

    async def _report_unowned(self, key: str, svc: dict[str, Any]) -> None:
        """The reporter (first live member by name) says why nobody announces a Service."""
        me = self.opt.node
        live = sorted(n for n, lv in self.leases.items() if lv.holder == n)
        if not live or live[0] != me or self._bgp_only(svc):
            return  # not the reporter, or BGP speaks for this Service
        ips = place.ingress_ips(svc)
        p = self.placements.get(ips[0]) if ips else None
        if p is None or p.owner is not None or p.reason is None:
            return
        detail = p.reason.value
        why = sorted({v.reason.value for v in p.verdicts.values() if not v.eligible})
        if p.reason is place.IPReason.NO_ELIGIBLE_NODE and why:
            detail += ": " + "; ".join(why)
        await self._event(svc, "announceFailed", f"{ips[0]} not announced: {detail}", "Warning")
        await self._condition(svc, "False", p.reason.name.title().replace("_", ""), detail)

    async def _event(self, svc: dict[str, Any], reason: str, message: str, etype: str) -> None:
        assert self._source is not None
        meta = svc.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if self._events_sent.get((key, reason)) == message:
            return
        body = conditions.service_event(
            svc, reason=reason, message=message, etype=etype, node=self.opt.node, clock=self._clock
        )
        await asyncio.to_thread(
            self._source.create, src.EVENT, body, namespace=meta.get("namespace")
        )
        self._events_sent[(key, reason)] = message

    def _bgp_only(self, svc: Mapping[str, Any]) -> bool:
        """Whether only BGPAdvertisements apply to the Service (BGP writes its condition)."""
        cfg = self.state.config
        if cfg is None:
            return False
        pool = place.service_pool(cfg, svc)
        labels = (svc.get("metadata") or {}).get("labels") or {}
        return place.announced_condition_owner(cfg, pool=pool, service_labels=labels) == "bgp"

    async def _condition(self, svc: dict[str, Any], status: str, reason: str, message: str) -> None:
        assert self._conditions is not None
        if self._bgp_only(svc):
            return  # the BGP reporter writes the condition
        await self._conditions.set(svc, status=status, reason=reason, message=message)

    # ---- run ------------------------------------------------------------------------------

    def _start_lease_informer(self) -> None:
        assert self._source is not None
        loop = asyncio.get_running_loop()
        inf = Informer(
            self._source,
            src.LEASE,
            namespace=self.opt.namespace,
            label_selector=f"{LEASE_LABEL}=true",
        )

        def on(obj: Mapping[str, Any], deleted: bool = False) -> None:
            loop.call_soon_threadsafe(self._on_lease, obj, deleted)

        inf.add_handler(
            on_add=lambda o: on(o),
            on_update=lambda _old, new: on(new),
            on_delete=lambda o: on(o, True),
        )
        inf.start()
        self._lease_informer = inf

    async def run(self) -> None:
        """Run until cancelled; on the way out stop answering and close the sockets."""
        hb_stop = threading.Event()
        watcher = LinkWatcher(
            self._on_links, **({"scanner": self._scanner} if self._scanner else {})
        )
        try:
            if self._source is not None and self.opt.heartbeat_thread:
                hb_thread = threading.Thread(
                    target=self._heartbeat_loop, args=(hb_stop,), name="l2-heartbeat", daemon=True
                )
                hb_thread.start()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(watcher.run(), name="l2-links")
                tg.create_task(self.announcer.run(), name="l2-garp")
                tg.create_task(self._tick(), name="l2-tick")
                if self._source is not None:
                    self._start_lease_informer()
                    tg.create_task(self._lease_keeper(), name="l2-lease")
                    if self.opt.write_status:
                        tg.create_task(self._status_writer(), name="l2-status")
        finally:
            hb_stop.set()
            self.announcer.release_all()
            self.announcer.set_links({})
            if self._lease_informer is not None:
                await stop_informers([self._lease_informer])


def parse_static(ips: Iterable[str]) -> tuple[str, ...]:
    """Canonical IPs for static mode; raises ``ValueError`` naming a bad one."""
    return tuple(place.canonical_ip(ip) for ip in ips)
