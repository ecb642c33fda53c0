"""Event sink for the controller: core/v1 Events, written off the allocation worker's thread.

The decision *whether* to emit is made by ``controller.status.event_for`` (transitions only),
so this sink only writes. Writes go through a bounded queue and one thread so that a slow
API server never delays allocation; when the queue is full the event is dropped and logged
(an event is advisory; the Service condition carries the same information).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from controller.status import EventSpec
from ingot import errors
from ingot.kube import source as src

log = logging.getLogger(__name__)

COMPONENT = "ingot-controller"
"""``source.component`` / ``reportingComponent`` of the events (MetalLB: metallb-controller)."""


def event_body(
    involved: Mapping[str, Any], spec: EventSpec, *, now_s: float, instance: str = ""
) -> dict[str, Any]:
    """A core/v1 Event about ``involved`` (a raw object), timestamped ``now_s`` (epoch s)."""
    meta = involved.get("metadata") or {}
    ns = str(meta.get("namespace") or "default")
    stamp = dt.datetime.fromtimestamp(now_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ref = {
        "apiVersion": involved.get("apiVersion", "v1"),
        "kind": involved.get("kind", "Service"),
        "name": meta.get("name"),
        "namespace": ns,
    }
    for f in ("uid", "resourceVersion"):
        if meta.get(f):
            ref[f] = meta[f]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta.get('name')}.", "namespace": ns},
        "involvedObject": ref,
        "reason": spec.reason,
        "message": spec.message[:1024],
        "type": spec.type_,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance or COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventWriter:
    """Writes events from a queue on its own thread. ``start()`` starts it, ``stop()`` ends it.

    Args:
        source: the API seam.
        capacity: queued events beyond this are dropped (logged).
        instance: ``reportingInstance`` (pod name).
        wall_s: wall clock, epoch seconds.
    """

    def __init__(
        self,
        source: src.Source,
        *,
        capacity: int = 10_000,
        instance: str = "",
        wall_s: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=capacity)
        self._instance = instance
        self._wall_s = wall_s
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0

    def __call__(self, involved: Mapping[str, Any], spec: EventSpec) -> None:
        """Queue one event (never blocks)."""
        body = event_body(involved, spec, now_s=self._wall_s(), instance=self._instance)
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self.dropped += 1
            log.warning("event queue full, dropped %s %s", spec.reason, body["involvedObject"])

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
            self._thread.start()

    def stop(self, *, timeout_s: float = 5.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout_s)
            self._thread = None

    def flush(self, *, timeout_s: float = 10.0) -> bool:
        """Wait until the queue is empty (tests); True if it emptied in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            try:
                if body is None:
                    return
                ns = body["metadata"]["namespace"]
                try:
                    self._source.create(src.EVENT, body, namespace=ns)
                    self.written += 1
                except errors.KubeError as exc:
                    log.warning("could not write event %s: %s", body["reason"], exc)
            finally:
                self._queue.task_done()
