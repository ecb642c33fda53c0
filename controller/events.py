"""Event sink for the controller: core/v1 Events, written off the allocation worker's thread.

The decision *whether* to emit is made by ``controller.status.event_for`` (transitions only),
so this sink only writes. Writes go through a bounded queue and one thread so that a slow
API server never delays allocation; when the queue is full the event is dropped and logged
(an event is advisory; the Service condition carries the same information). With a
``recorder`` (``ingot.kube.events.EventRecorder``, what ``ingot-controller`` uses) the thread
hands each event to it, which adds client-go style aggregation (a repeat patches ``count``);
without one it creates plain core/v1 Events.
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
        recorder: Any = None,
    ) -> None:
        self._source = source
        self._recorder = recorder
        self._queue: queue.Queue[tuple[Mapping[str, Any], EventSpec] | None] = queue.Queue(
            maxsize=capacity
        )
        self._instance = instance
        self._wall_s = wall_s
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0

    def __call__(self, involved: Mapping[str, Any], spec: EventSpec) -> None:
        """Queue one event (never blocks)."""
        try:
            self._queue.put_nowait((involved, spec))
        except queue.Full:
            self.dropped += 1
            meta = involved.get("metadata") or {}
            log.warning(
                "event queue full, dropped %s for %s/%s",
                spec.reason,
                meta.get("namespace"),
                meta.get("name"),
            )

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
            item = self._queue.get()
            try:
                if item is None:
                    return
                involved, spec = item
                if self._recorder is not None:
                    if self._recorder.event(
                        involved, type=spec.type_, reason=spec.reason, message=spec.message
                    ):
                        self.written += 1
                    continue
                body = event_body(involved, spec, now_s=self._wall_s(), instance=self._instance)
                try:
                    self._source.create(src.EVENT, body, namespace=body["metadata"]["namespace"])
                    self.written += 1
                except errors.KubeError as exc:
                    log.warning("could not write event %s: %s", spec.reason, exc)
            finally:
                self._queue.task_done()
