"""EventRecorder: Kubernetes Events that say something new, never one per reconcile.

Events are written as **core ``v1`` Events** (``/api/v1/namespaces/{ns}/events``) with
``involvedObject``, ``reason``, ``message``, ``type``, ``count``, ``firstTimestamp`` and
``lastTimestamp`` filled in: that is what ``kubectl describe svc`` lists under "Events" (it
reads core Events by ``involvedObject``), and what MetalLB users look at (``IPAllocated``,
``AllocationFailed`` ...). ``events.k8s.io/v1`` is the same storage on a real cluster but
not necessarily in every test server, so ingot writes core v1 only.

Semantics (client-go's EventCorrelator, made stricter because controllers here call the
recorder on every reconcile):

* **Only on change.** For each involved object the recorder remembers the last
  ``(type, reason, message)`` it reported. Reporting the same thing again is a *repeat*: it
  increments a local count and writes nothing, unless ``repeat_interval_s`` has passed since
  that Event was last written; then one PATCH updates ``count`` and ``lastTimestamp``. A
  reconcile loop that re-confirms "IPAllocated 198.51.100.7" every few seconds produces one
  Event, updated at most every ``repeat_interval_s``.
* **Aggregation.** A change back to something reported before (A, then B, then A again)
  re-uses A's Event: its ``count`` and ``lastTimestamp`` are patched at once (it is news),
  no new Event object is created.
* **Bounded memory.** At most ``max_series`` (object, type, reason, message) series are
  remembered (least recently used are forgotten).
* **Best effort.** API failures are logged (without the message text, which callers should
  keep free of secrets anyway) and swallowed: an Event never fails a reconcile. A vanished
  Event (TTL expiry, 404 on PATCH) is created anew.

Writes are synchronous on the caller's thread (one request at most per call).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ingot import errors
from ingot.kube import source as src
from ingot.kube import timing

log = logging.getLogger(__name__)

EventKind = Literal["Normal", "Warning"]

MAX_MESSAGE_LEN = 1024
"""Kubernetes rejects Event messages over 1 KiB in events.k8s.io; core v1 is kept the same."""


def format_time(wall_s: float) -> str:
    """RFC 3339 Time with whole seconds (``metav1.Time``), e.g. ``2026-01-02T03:04:05Z``."""
    return datetime.fromtimestamp(wall_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_reference(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A core ``ObjectReference`` for a raw object (kind, apiVersion, namespace, name, uid)."""
    meta = obj.get("metadata") or {}
    ref = {
        "kind": obj.get("kind"),
        "apiVersion": obj.get("apiVersion"),
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    return {k: v for k, v in ref.items() if v}


@dataclass
class _Series:
    event_name: str
    namespace: str
    count: int  # occurrences so far (written or not)
    written_count: int
    first_wall: float
    last_written_at: float  # monotonic


class EventRecorder:
    """Record Events for objects (see module docstring for the exact semantics).

    Args:
        source: the API seam.
        component: ``source.component`` / ``reportingComponent``, e.g. ``"ingot-controller"``.
        host: ``source.host`` / ``reportingInstance`` (node or pod name), optional.
        repeat_interval_s: minimum time between two writes of the same repeated Event.
        max_series: how many event series to remember.
        clock: time source.
    """

    def __init__(
        self,
        source: src.Source,
        *,
        component: str,
        host: str = "",
        repeat_interval_s: float = 600.0,
        max_series: int = 4096,
        clock: timing.ThreadClock | None = None,
    ) -> None:
        self._source = source
        self.component = component
        self.host = host
        self.repeat_interval_s = repeat_interval_s
        self.max_series = max_series
        self._clock: timing.ThreadClock = clock or timing.RealThreadClock()
        self._lock = threading.Lock()
        self._series: OrderedDict[tuple[str, str, str, str], _Series] = OrderedDict()
        self._last: OrderedDict[str, tuple[str, str, str]] = OrderedDict()
        self._seq = itertools.count()
        self.writes = 0
        """API writes done so far (creates + patches), for tests and metrics."""

    @staticmethod
    def _object_id(obj: Mapping[str, Any]) -> str:
        meta = obj.get("metadata") or {}
        return str(
            meta.get("uid")
            or f"{obj.get('kind')}/{meta.get('namespace') or ''}/{meta.get('name') or ''}"
        )

    def event(
        self,
        obj: Mapping[str, Any],
        *,
        type: EventKind,  # noqa: A002 - the Kubernetes field name
        reason: str,
        message: str,
    ) -> bool:
        """Report ``reason``/``message`` about ``obj``; returns True if the API was written.

        Args:
            obj: the involved object as a raw dict (needs ``kind`` and ``metadata.name``).
            type: ``"Normal"`` or ``"Warning"``.
            reason: CamelCase machine reason, e.g. ``"IPAllocated"``.
            message: human-readable text (truncated to 1024 characters; no secrets).
        """
        message = message[:MAX_MESSAGE_LEN]
        oid = self._object_id(obj)
        skey = (oid, type, reason, message)
        now = self._clock.now()
        with self._lock:
            changed = self._last.get(oid) != (type, reason, message)
            self._last[oid] = (type, reason, message)
            self._last.move_to_end(oid)
            while len(self._last) > self.max_series:
                self._last.popitem(last=False)
            series = self._series.get(skey)
            if series is not None:
                series.count += 1
                self._series.move_to_end(skey)
                if not changed and now - series.last_written_at < self.repeat_interval_s:
                    return False
                series.last_written_at = now
                count = series.count
                name, namespace = series.event_name, series.namespace
                first_wall = series.first_wall
            else:
                name = namespace = ""
                count = 1
                first_wall = self._clock.wall()
        wall = self._clock.wall()
        if series is not None:
            outcome = self._patch(name, namespace, count, wall)
            if outcome == "ok":
                with self._lock:
                    series.written_count = count
                return True
            if outcome == "failed":
                return False
            # Gone (TTL expiry): create a fresh Event carrying the count so far.
        created = self._create(
            obj,
            type=type,
            reason=reason,
            message=message,
            count=count,
            first_wall=first_wall,
            wall=wall,
        )
        if created is None:
            return False
        with self._lock:
            self._series[skey] = _Series(
                event_name=created[0],
                namespace=created[1],
                count=count,
                written_count=count,
                first_wall=first_wall,
                last_written_at=now,
            )
            self._series.move_to_end(skey)
            while len(self._series) > self.max_series:
                self._series.popitem(last=False)
        return True

    def normal(self, obj: Mapping[str, Any], reason: str, message: str) -> bool:
        """Shorthand for ``event(obj, type="Normal", ...)``."""
        return self.event(obj, type="Normal", reason=reason, message=message)

    def warning(self, obj: Mapping[str, Any], reason: str, message: str) -> bool:
        """Shorthand for ``event(obj, type="Warning", ...)``."""
        return self.event(obj, type="Warning", reason=reason, message=message)

    def forget(self, obj: Mapping[str, Any]) -> None:
        """Drop what is remembered about ``obj`` (call when it is deleted)."""
        oid = self._object_id(obj)
        with self._lock:
            self._last.pop(oid, None)
            for key in [k for k in self._series if k[0] == oid]:
                del self._series[key]

    # -- API writes ----------------------------------------------------------------------

    def _create(
        self,
        obj: Mapping[str, Any],
        *,
        type: str,  # noqa: A002
        reason: str,
        message: str,
        count: int,
        first_wall: float,
        wall: float,
    ) -> tuple[str, str] | None:
        meta = obj.get("metadata") or {}
        obj_name = str(meta.get("name") or "unknown")
        namespace = str(meta.get("namespace") or "default")
        name = f"{obj_name}.{int(wall * 1e9):x}{next(self._seq):x}"
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": object_reference(obj),
            "reason": reason,
            "message": message,
            "type": type,
            "count": count,
            "firstTimestamp": format_time(first_wall),
            "lastTimestamp": format_time(wall),
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "reportingComponent": self.component,
            "reportingInstance": self.host or self.component,
        }
        try:
            self._source.create(src.EVENT, body, namespace=namespace)
        except errors.KubeError as exc:
            log.warning(
                "event %s for %s/%s not recorded: %s", reason, namespace, obj_name, exc.status
            )
            return None
        with self._lock:
            self.writes += 1
        return name, namespace

    def _patch(
        self, name: str, namespace: str, count: int, wall: float
    ) -> Literal["ok", "gone", "failed"]:
        try:
            self._source.patch(
                src.EVENT,
                name,
                {"count": count, "lastTimestamp": format_time(wall)},
                namespace=namespace,
                patch_type="merge",
            )
        except errors.NotFound:
            return "gone"
        except errors.KubeError as exc:
            log.warning("event %s/%s not updated: %s", namespace, name, exc.status)
            return "failed"
        with self._lock:
            self.writes += 1
        return "ok"
