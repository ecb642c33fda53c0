"""Lease election over ``coordination.k8s.io/v1`` Leases: many Leases, one thread, CAS writes.

``LeaseElector`` campaigns for any number of named Leases from one loop (per-service or
per-node leases for the speaker; the single controller lease through ``LeaderElector``).
The algorithm is client-go's ``leaderelection`` (read, then write with the read
``resourceVersion``; a 409 means another writer won), with the differences
python-k8s-stack.md §1.2 asks for: many leases per loop, float-second durations, a clean stop
that releases what is held, and no process exit on errors.

Per Lease, each pass of the loop:

1. GET the Lease. If it does not exist, CREATE it with us as holder (409 AlreadyExists: lost
   the race, try again later).
2. If someone else holds it and it has not expired, we are not the holder. Expiry is judged
   the way client-go does it, on *our* monotonic clock: a Lease held by another expires
   ``leaseDurationSeconds`` after we last saw its record change (its resourceVersion), so
   clock skew between nodes does not matter. An empty ``holderIdentity`` is free at once
   (that is how a released or fenced Lease looks).
3. Otherwise PUT the Lease with ``holderIdentity`` = us, ``renewTime`` = now, carrying the
   read ``resourceVersion`` (compare-and-swap). Taking it over from someone else sets
   ``acquireTime`` and increments ``leaseTransitions``. A 409 means we lost the race.

A held Lease is renewed every ``renew_interval_s``. It is considered lost (``on_lost``) when
a read shows another holder, or when no renewal succeeded for ``renew_deadline_s`` (default
two thirds of the duration, so we stop acting as holder *before* anyone else may take over).
After a loss the elector keeps campaigning (case C19: a single failed renewal must not leave
the Lease dark for good). ``stop()`` releases held Leases (empty holder, 1 s duration, as
client-go's ``ReleaseOnCancel``), so a successor takes over at once.

Durations are float seconds here. The API field ``leaseDurationSeconds`` is an integer: the
duration is written rounded *up* to whole seconds (min 1), so others never consider a Lease
expired earlier than its holder intended; the holder's own deadlines use the exact float.
``renewTime``/``acquireTime`` are RFC 3339 MicroTime from the clock's wall time.

Cost: a held Lease is renewed by one PUT on the copy we last wrote (a 409 falls back to GET +
PUT). Requests are sequential on the elector's thread, so one elector keeps about
``renew_interval_s / request latency`` Leases renewed.

Callbacks ``on_acquired(name)`` and ``on_lost(name)`` run on the elector's thread, outside
its lock; they must be quick. ``run_once()`` does one pass synchronously (tests, or callers
that bring their own loop).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ingot import errors
from ingot.kube import source as src
from ingot.kube import timing

log = logging.getLogger(__name__)

Callback = Callable[[str], None]


def format_micro_time(wall_s: float) -> str:
    """RFC 3339 MicroTime (``2026-01-02T03:04:05.123456Z``) for a wall time in seconds."""
    return datetime.fromtimestamp(wall_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: object) -> float | None:
    """Parse an RFC 3339 Time/MicroTime to wall seconds (None if absent, not text or malformed)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def duration_to_api(duration_s: float) -> int:
    """``leaseDurationSeconds`` for a float duration: rounded up, at least 1."""
    return max(1, math.ceil(duration_s - 1e-9))


@dataclass(frozen=True)
class LeaseRecord:
    """The election-relevant part of a Lease (``spec``), plus its resourceVersion.

    Attributes:
        holder: ``spec.holderIdentity`` (``""`` when free, released or fenced).
        lease_duration_s: ``spec.leaseDurationSeconds`` as float seconds.
        acquire_time: ``spec.acquireTime`` (wall seconds) or None.
        renew_time: ``spec.renewTime`` (wall seconds) or None.
        transitions: ``spec.leaseTransitions``.
        resource_version: ``metadata.resourceVersion``.
    """

    holder: str
    lease_duration_s: float
    acquire_time: float | None
    renew_time: float | None
    transitions: int
    resource_version: str

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> LeaseRecord:
        """Read a raw Lease dict."""
        spec = raw.get("spec") or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            lease_duration_s=float(spec.get("leaseDurationSeconds") or 0),
            acquire_time=parse_time(spec.get("acquireTime")),
            renew_time=parse_time(spec.get("renewTime")),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=src.resource_version_of(raw),
        )

    def expired_at_wall(self, now_wall_s: float) -> bool:
        """Whether the Lease is free or expired by *wall-clock* ``renewTime + duration``.

        For observers that only have a snapshot (e.g. an informer on Leases). Assumes
        roughly synchronised clocks; the elector itself uses its own monotonic clock.
        """
        if not self.holder or self.renew_time is None:
            return True
        return now_wall_s > self.renew_time + self.lease_duration_s


def live_holders(leases: Iterable[Mapping[str, Any]], *, now_wall_s: float) -> dict[str, str]:
    """Map Lease name -> holder for raw Leases that are held and unexpired (wall clock)."""
    out: dict[str, str] = {}
    for raw in leases:
        rec = LeaseRecord.from_raw(raw)
        if not rec.expired_at_wall(now_wall_s):
            out[str((raw.get("metadata") or {}).get("name"))] = rec.holder
    return out


@dataclass
class _State:
    held: bool = False
    record: LeaseRecord | None = None
    observed_at: float = 0.0  # our monotonic time when ``record`` last changed
    last_renew: float = 0.0  # our monotonic time of the last successful write as holder
    next_attempt: float = 0.0
    wanted: bool = True
    failures: int = 0
    raw: dict[str, Any] | None = None  # the Lease as we last wrote it (renewal fast path)


class LeaseElector:
    """Campaign for, hold and renew many Leases in one thread (see module docstring).

    Args:
        source: the API seam.
        namespace: where the Leases live (e.g. the ingot namespace).
        identity: this candidate's ``holderIdentity`` (e.g. the node name); must be unique.
        lease_duration_s: how long a Lease stays valid after a renewal, seconds.
        renew_interval_s: how often a held Lease is renewed, seconds (< renew_deadline_s).
        renew_deadline_s: give a Lease up when no renewal succeeded for this long, seconds
            (default: two thirds of ``lease_duration_s``; must be < ``lease_duration_s``).
        retry_interval_s: how often a Lease held by someone else is re-checked, seconds.
        reacquire_delay_s: after a read shows our Lease taken or fenced, wait this long
            before campaigning for it again (default: ``retry_interval_s``).
        on_acquired: called with the Lease name when we become its holder.
        on_lost: called with the Lease name when we stop being its holder (lost, released).
        labels: labels put on Leases this elector creates.
        clock: time source.
    """

    def __init__(
        self,
        source: src.Source,
        *,
        namespace: str,
        identity: str,
        lease_duration_s: float = 15.0,
        renew_interval_s: float = 5.0,
        renew_deadline_s: float | None = None,
        retry_interval_s: float = 2.0,
        reacquire_delay_s: float | None = None,
        on_acquired: Callback | None = None,
        on_lost: Callback | None = None,
        labels: Mapping[str, str] | None = None,
        clock: timing.ThreadClock | None = None,
    ) -> None:
        if not identity:
            raise ValueError("LeaseElector needs a non-empty identity")
        deadline = renew_deadline_s if renew_deadline_s is not None else lease_duration_s * 2 / 3
        if not 0 < renew_interval_s < deadline < lease_duration_s:
            raise ValueError(
                "need 0 < renew_interval_s < renew_deadline_s < lease_duration_s, got "
                f"{renew_interval_s} / {deadline} / {lease_duration_s}"
            )
        if retry_interval_s <= 0:
            raise ValueError("retry_interval_s must be > 0")
        self._source = source
        self.namespace = namespace
        self.identity = identity
        self.lease_duration_s = lease_duration_s
        self.renew_interval_s = renew_interval_s
        self.renew_deadline_s = deadline
        self.retry_interval_s = retry_interval_s
        self.reacquire_delay_s = (
            retry_interval_s if reacquire_delay_s is None else max(0.0, reacquire_delay_s)
        )
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._labels = dict(labels or {})
        self._clock: timing.ThreadClock = clock or timing.RealThreadClock()
        self._cond = threading.Condition()
        self._states: dict[str, _State] = {}
        self._observed: dict[str, _State] = {}
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._pass_lock = threading.Lock()
        self._pending: list[tuple[Callable[..., None], tuple[Any, ...]]] = []

    # -- what to campaign for ------------------------------------------------------------

    def want(self, name: str) -> None:
        """Campaign for Lease ``name`` (no-op if already wanted)."""
        with self._cond:
            st = self._states.get(name)
            if st is None:
                self._states[name] = _State(next_attempt=self._clock.now())
            elif not st.wanted:
                st.wanted = True
                st.next_attempt = self._clock.now()
            self._cond.notify_all()

    def unwant(self, name: str) -> None:
        """Stop campaigning for ``name``; if held, it is released on the next pass."""
        with self._cond:
            st = self._states.get(name)
            if st is not None:
                st.wanted = False
                st.next_attempt = self._clock.now()
            self._cond.notify_all()

    def set_wanted(self, names: Iterable[str]) -> None:
        """Campaign for exactly ``names`` (others are released)."""
        wanted = set(names)
        with self._cond:
            current = {n for n, st in self._states.items() if st.wanted}
        for name in wanted - current:
            self.want(name)
        for name in current - wanted:
            self.unwant(name)

    def observe(self, name: str) -> None:
        """Also read Lease ``name`` every ``retry_interval_s`` without campaigning for it."""
        with self._cond:
            self._observed.setdefault(name, _State(next_attempt=self._clock.now()))
            self._cond.notify_all()

    # -- state ---------------------------------------------------------------------------

    def is_holder(self, name: str) -> bool:
        """True while we hold ``name`` and the last renewal is within the renew deadline."""
        with self._cond:
            st = self._states.get(name)
            return bool(
                st is not None
                and st.held
                and self._clock.now() - st.last_renew < self.renew_deadline_s
            )

    def held(self) -> frozenset[str]:
        """Names of the Leases we currently hold."""
        with self._cond:
            names = [n for n, st in self._states.items() if st.held]
        return frozenset(n for n in names if self.is_holder(n))

    def wanted(self) -> frozenset[str]:
        """Names of the Leases we campaign for."""
        with self._cond:
            return frozenset(n for n, st in self._states.items() if st.wanted)

    def record(self, name: str) -> LeaseRecord | None:
        """The last Lease record read or written for ``name`` (wanted or observed)."""
        with self._cond:
            st = self._states.get(name) or self._observed.get(name)
            return st.record if st is not None else None

    def holder_of(self, name: str) -> str | None:
        """Who holds ``name`` as far as we know: None if free, expired or never seen.

        Expiry of others' Leases is judged on our monotonic clock (see module docstring).
        """
        with self._cond:
            st = self._states.get(name) or self._observed.get(name)
            if st is None or st.record is None or not st.record.holder:
                return None
            if st.record.holder == self.identity:
                return self.identity if self.is_holder(name) else None
            if self._clock.now() - st.observed_at > st.record.lease_duration_s:
                return None
            return st.record.holder

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the election thread. Idempotent."""
        with self._cond:
            if self._thread is not None or self._stopped:
                return
            self._thread = threading.Thread(
                target=self._run, name=f"lease-elector-{self.identity}", daemon=True
            )
        self._thread.start()

    def stop(self, *, release: bool = True, timeout_s: float = 10.0) -> None:
        """Stop the thread; with ``release`` give up every held Lease (empty holder)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        if release:
            with self._cond:
                names = [n for n, st in self._states.items() if st.held]
            for name in names:
                self._release(name)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
            try:
                next_due = self.run_once()
            except Exception:
                log.exception("lease elector %s: pass failed", self.identity)
                next_due = self._clock.now() + self.retry_interval_s
            with self._cond:
                if self._stopped:
                    return
                self._clock.wait(self._cond, max(0.0, next_due - self._clock.now()))

    # -- one pass ------------------------------------------------------------------------

    def run_once(self) -> float:
        """Do every due acquire/renew/release/observe now; returns when the next one is due."""
        with self._pass_lock:
            now = self._clock.now()
            with self._cond:
                self._check_deadlines()  # report lapsed holds before trying to renew them
            self._flush()
            with self._cond:
                due = [n for n, st in self._states.items() if st.next_attempt <= now]
                due_observe = [n for n, st in self._observed.items() if st.next_attempt <= now]
            for name in sorted(due):
                self._attempt(name)
            for name in sorted(due_observe):
                self._observe_once(name)
            with self._cond:
                for name in [n for n, st in self._states.items() if not st.wanted and not st.held]:
                    del self._states[name]
                self._check_deadlines()
                times = [st.next_attempt for st in self._states.values()]
                times += [st.next_attempt for st in self._observed.values()]
                times += [
                    st.last_renew + self.renew_deadline_s for st in self._states.values() if st.held
                ]
            self._flush()
            return min(times) if times else self._clock.now() + self.retry_interval_s

    def _check_deadlines(self) -> None:
        """Declare held Leases lost when the renew deadline passed (caller holds the lock)."""
        now = self._clock.now()
        for name, st in self._states.items():
            if st.held and now - st.last_renew >= self.renew_deadline_s:
                log.warning(
                    "lease %s/%s: no successful renewal for %.1fs; giving it up",
                    self.namespace,
                    name,
                    now - st.last_renew,
                )
                st.held = False
                self._later(self._fire, self._on_lost, name)

    def _later(self, fn: Callable[..., None], *args: Any) -> None:
        # Callbacks run after the lock is released: collect them, run at end of _attempt.
        self._pending.append((fn, args))

    def _flush(self) -> None:
        with self._cond:
            pending, self._pending = self._pending, []
        for fn, args in pending:
            fn(*args)

    def _fire(self, cb: Callback | None, name: str) -> None:
        if cb is None:
            return
        try:
            cb(name)
        except Exception:
            log.exception("lease elector %s: callback for %s failed", self.identity, name)

    def _new_spec(self, st: _State, now_wall: float) -> dict[str, Any]:
        prev = st.record
        mine = prev is not None and prev.holder == self.identity
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": duration_to_api(self.lease_duration_s),
            "renewTime": format_micro_time(now_wall),
        }
        if mine and prev is not None and prev.acquire_time is not None:
            spec["acquireTime"] = format_micro_time(prev.acquire_time)
            spec["leaseTransitions"] = prev.transitions
        else:
            spec["acquireTime"] = format_micro_time(now_wall)
            spec["leaseTransitions"] = (prev.transitions + 1) if prev is not None else 0
        return spec

    def _observe_record(self, st: _State, rec: LeaseRecord, now: float) -> None:
        if st.record is None or st.record.resource_version != rec.resource_version:
            st.observed_at = now
        st.record = rec

    def _attempt(self, name: str) -> None:
        try:
            self._attempt_locked_io(name)
        finally:
            self._flush()

    def _attempt_locked_io(self, name: str) -> None:
        with self._cond:
            st = self._states.get(name)
            if st is None:
                return
            wanted = st.wanted
        if not wanted:
            if st.held:
                self._release(name)
            with self._cond:
                st.held = False
            return
        now = self._clock.now()
        if self._renew_fast(name, st, now):
            return
        try:
            raw = self._source.get(src.LEASE, name, namespace=self.namespace)
        except errors.NotFound:
            raw = None
        except errors.KubeError as exc:
            self._failed(name, st, exc)
            return
        if raw is None:
            self._create(name, st)
            return
        rec = LeaseRecord.from_raw(raw)
        with self._cond:
            self._observe_record(st, rec, now)
            if st.held and rec.holder != self.identity:
                # Taken over, released by someone else, or fenced (empty holder): lost.
                # Campaign again only after ``reacquire_delay_s`` (a fenced node's hold-down).
                log.warning("lease %s/%s: now held by %r; lost", self.namespace, name, rec.holder)
                st.held = False
                self._later(self._fire, self._on_lost, name)
                st.next_attempt = now + self.reacquire_delay_s
                return
            if rec.holder and rec.holder != self.identity:
                if now - st.observed_at <= rec.lease_duration_s:
                    # Held by someone else and not expired: check again later.
                    st.next_attempt = min(
                        now + self.retry_interval_s,
                        st.observed_at + rec.lease_duration_s + 1e-3,
                    )
                    st.failures = 0
                    return
            spec = self._new_spec(st, self._clock.wall())
        body = dict(raw)
        body["spec"] = {**(raw.get("spec") or {}), **spec}
        try:
            written = self._source.replace(src.LEASE, body, namespace=self.namespace)
        except errors.Conflict as exc:
            log.info("lease %s/%s: lost a write race (%s)", self.namespace, name, exc)
            with self._cond:
                st.next_attempt = self._clock.now()  # re-read at once on the next pass
                st.failures += 1
                if st.failures > 3:
                    st.next_attempt += self.retry_interval_s
            return
        except errors.KubeError as exc:
            self._failed(name, st, exc)
            return
        self._won(name, st, written, now)

    def _renew_fast(self, name: str, st: _State, now: float) -> bool:
        """Renew a held Lease with one PUT on the copy we last wrote (no GET).

        The PUT carries our last resourceVersion, so it only succeeds if nobody wrote the
        Lease since: exactly what a GET would have checked. On 409 (someone wrote it: a
        takeover, a fence, or our own write whose answer we missed) fall back to the full
        read path at once. Halves the steady-state cost: one request per held Lease per
        renew interval (client-go does the same since 1.29). Returns True when handled.
        """
        with self._cond:
            if not (st.held and st.raw is not None and st.record is not None):
                return False
            if st.record.holder != self.identity:
                return False
            body = dict(st.raw)
            body["spec"] = {**(st.raw.get("spec") or {}), **self._new_spec(st, self._clock.wall())}
        try:
            written = self._source.replace(src.LEASE, body, namespace=self.namespace)
        except errors.Conflict:
            with self._cond:
                st.raw = None
            return False
        except errors.NotFound:
            with self._cond:
                st.raw = None
            return False
        except errors.KubeError as exc:
            self._failed(name, st, exc)
            return True
        self._won(name, st, written, now)
        return True

    def _create(self, name: str, st: _State) -> None:
        now = self._clock.now()
        with self._cond:
            st.record = None
            spec = self._new_spec(st, self._clock.wall())
        body: dict[str, Any] = {
            "apiVersion": src.LEASE.api_version,
            "kind": src.LEASE.kind,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }
        if self._labels:
            body["metadata"]["labels"] = dict(self._labels)
        try:
            written = self._source.create(src.LEASE, body, namespace=self.namespace)
        except errors.Conflict:
            with self._cond:
                st.next_attempt = self._clock.now()  # someone created it first: read it
            return
        except errors.KubeError as exc:
            self._failed(name, st, exc)
            return
        self._won(name, st, written, now)

    def _won(self, name: str, st: _State, written: Mapping[str, Any], now: float) -> None:
        rec = LeaseRecord.from_raw(written)
        with self._cond:
            if st.held and self._clock.now() - st.last_renew >= self.renew_deadline_s:
                # The request outlived the renew deadline: ``is_holder`` was already False
                # for a moment, so report the gap as a loss followed by a new acquisition.
                st.held = False
                self._later(self._fire, self._on_lost, name)
            self._observe_record(st, rec, now)
            st.raw = dict(written)
            st.last_renew = now
            st.failures = 0
            st.next_attempt = now + self.renew_interval_s
            if not st.held:
                st.held = True
                log.info("lease %s/%s: acquired by %s", self.namespace, name, self.identity)
                self._later(self._fire, self._on_acquired, name)

    def _failed(self, name: str, st: _State, exc: errors.KubeError) -> None:
        now = self._clock.now()
        with self._cond:
            st.failures += 1
            delay = self.retry_interval_s
            if isinstance(exc, errors.Throttled):
                delay = max(delay, exc.retry_after_s)
            if st.held:
                # Keep trying to renew, but never past the renew deadline.
                delay = min(delay, max(0.0, st.last_renew + self.renew_deadline_s - now))
            st.next_attempt = now + max(delay, 0.0)
        log.warning("lease %s/%s: %s (failure %d)", self.namespace, name, exc, st.failures)

    def _observe_once(self, name: str) -> None:
        now = self._clock.now()
        with self._cond:
            st = self._observed.get(name)
        if st is None:
            return
        try:
            raw = self._source.get(src.LEASE, name, namespace=self.namespace)
        except errors.NotFound:
            with self._cond:
                st.record = None
                st.next_attempt = now + self.retry_interval_s
            return
        except errors.KubeError as exc:
            log.warning("lease %s/%s: observe failed: %s", self.namespace, name, exc)
            with self._cond:
                st.next_attempt = now + self.retry_interval_s
            return
        with self._cond:
            self._observe_record(st, LeaseRecord.from_raw(raw), now)
            st.next_attempt = now + self.retry_interval_s

    def _release(self, name: str) -> None:
        """Give ``name`` up: empty holder and a 1 s duration, CAS on our last resourceVersion."""
        with self._cond:
            st = self._states.get(name)
            if st is None or not st.held or st.record is None:
                return
            rv = st.record.resource_version
            transitions = st.record.transitions
            st.held = False
        wall = format_micro_time(self._clock.wall())
        body = {
            "apiVersion": src.LEASE.api_version,
            "kind": src.LEASE.kind,
            "metadata": {"name": name, "namespace": self.namespace, "resourceVersion": rv},
            "spec": {
                "holderIdentity": "",
                "leaseDurationSeconds": 1,
                "acquireTime": wall,
                "renewTime": wall,
                "leaseTransitions": transitions,
            },
        }
        try:
            self._source.replace(src.LEASE, body, namespace=self.namespace)
            log.info("lease %s/%s: released by %s", self.namespace, name, self.identity)
        except errors.KubeError as exc:
            # 409: someone else already took it; anything else: it will expire on its own.
            log.info("lease %s/%s: release skipped: %s", self.namespace, name, exc)
        self._fire(self._on_lost, name)


def fence_lease(
    source: src.Source,
    *,
    namespace: str,
    name: str,
    expected_resource_version: str,
    wall_s: float,
) -> bool:
    """Fence a Lease: CAS it to an empty holder (transitions + 1) if unchanged since read.

    Used to evict a peer judged dead by faster means (ARCHITECTURE.md §3 "Fencing by one
    write"). Returns True if this call fenced it, False if the Lease changed meanwhile (409)
    or is gone.

    Raises:
        errors.KubeError: other API failures.
    """
    try:
        raw = source.get(src.LEASE, name, namespace=namespace)
    except errors.NotFound:
        return False
    rec = LeaseRecord.from_raw(raw)
    if rec.resource_version != expected_resource_version:
        return False
    body = dict(raw)
    body["spec"] = {
        **(raw.get("spec") or {}),
        "holderIdentity": "",
        "renewTime": format_micro_time(wall_s),
        "leaseTransitions": rec.transitions + 1,
    }
    try:
        source.replace(src.LEASE, body, namespace=namespace)
    except (errors.Conflict, errors.NotFound):
        return False
    return True


class LeaderElector:
    """Single-leader election for ``--leader-elect``: one Lease, one ``LeaseElector``.

    Args:
        source: the API seam.
        namespace: namespace of the Lease.
        name: Lease name, e.g. ``"ingot-controller"``.
        identity: unique candidate id (pod name).
        on_started_leading: called (elector thread) when we become leader.
        on_stopped_leading: called when we stop being leader (lost or released).
        lease_duration_s, renew_interval_s, retry_interval_s, clock: as ``LeaseElector``
            (defaults 15 / 5 / 2 s, client-go's defaults are 15 / 10 deadline / 2 s).
    """

    def __init__(
        self,
        source: src.Source,
        *,
        namespace: str,
        name: str,
        identity: str,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
        lease_duration_s: float = 15.0,
        renew_interval_s: float = 5.0,
        retry_interval_s: float = 2.0,
        clock: timing.ThreadClock | None = None,
    ) -> None:
        self.name = name
        self._leading = threading.Event()
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._elector = LeaseElector(
            source,
            namespace=namespace,
            identity=identity,
            lease_duration_s=lease_duration_s,
            renew_interval_s=renew_interval_s,
            retry_interval_s=retry_interval_s,
            on_acquired=self._acquired,
            on_lost=self._lost,
            clock=clock,
        )
        self._elector.want(name)

    def _acquired(self, _: str) -> None:
        self._leading.set()
        if self._on_started is not None:
            self._on_started()

    def _lost(self, _: str) -> None:
        self._leading.clear()
        if self._on_stopped is not None:
            self._on_stopped()

    @property
    def elector(self) -> LeaseElector:
        """The underlying multi-lease elector."""
        return self._elector

    def start(self) -> None:
        """Start campaigning (background thread)."""
        self._elector.start()

    def stop(self, *, release: bool = True) -> None:
        """Stop; by default release the Lease so a standby takes over at once."""
        self._elector.stop(release=release)

    def is_leader(self) -> bool:
        """True while we hold the Lease within the renew deadline."""
        return self._elector.is_holder(self.name)

    def wait_until_leader(self, timeout_s: float | None = None) -> bool:
        """Block (real time, at most ``timeout_s``) until we lead; returns ``is_leader()``."""
        self._leading.wait(timeout_s)
        return self.is_leader()

    def run_once(self) -> float:
        """One synchronous election pass (tests)."""
        return self._elector.run_once()
