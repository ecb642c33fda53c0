"""What the speaker writes about Services: the ``ingot.io/Announced`` condition and Events.

Shared by the L2 and BGP components.

``ServiceStatus.conditions`` is a list-map keyed by ``type`` (strategic-merge
``patchMergeKey: type``), so each writer sends only its own condition as a strategic merge
patch: the controller's ``ingot.io/IPAllocated`` and any other condition stay as the server
has them, whatever our cached copy of the Service says.

Who writes the condition for a Service (so the components never fight over it) is decided by
the pure cores: ``ingot.api.l2.announced_condition_owner`` (L2, or BGP when the Service is
BGP-only) and ``ingot.api.bgp.service_condition`` (BGP's reporter node). See docs/l2.md
("Status and events") and docs/bgp.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from ingot.clock import Clock
from ingot.kube import source as src
from ingot.kube.events import format_time

ANNOUNCED = "ingot.io/Announced"
COMPONENT = "ingot-speaker"


def service_key(svc: Mapping[str, Any]) -> str:
    """``namespace/name`` of a raw Service."""
    meta = svc.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def find(svc: Mapping[str, Any], ctype: str) -> Mapping[str, Any] | None:
    """Condition ``ctype`` of a raw Service, if present."""
    for c in (svc.get("status") or {}).get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == ctype:
            return c
    return None


def service_event(
    svc: Mapping[str, Any], *, reason: str, message: str, etype: str, node: str, clock: Clock
) -> dict[str, Any]:
    """A core v1 Event about a raw Service from this node's speaker (``count`` 1).

    The name is ``<service>.<wall time in µs, hex>`` (unique per call); timestamps are whole
    seconds. The callers decide when an event is news (L2: per ownership change; BGP: each time
    the node starts announcing the Service), as MetalLB's ``nodeAssigned``.
    """
    meta = svc.get("metadata") or {}
    now = format_time(clock.wall())
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta.get('name')}.{int(clock.wall() * 1e6):x}",
            "namespace": meta.get("namespace"),
        },
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Service",
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
        },
        "reason": reason,
        "message": message,
        "type": etype,
        "source": {"component": COMPONENT, "host": node},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": COMPONENT,
        "reportingInstance": node,
    }


class ConditionWriter:
    """Sets one condition type on Services, only on change, as a strategic merge patch.

    Args:
        source: The API seam (``patch_status`` with ``patch_type="strategic"``).
        clock: For ``lastTransitionTime`` (wall clock, whole seconds, RFC 3339).
        ctype: The condition type this writer owns (default ``ingot.io/Announced``).
    """

    def __init__(self, *, source: src.Source, clock: Clock, ctype: str = ANNOUNCED) -> None:
        self.source = source
        self.clock = clock
        self.ctype = ctype
        # Service key -> (value sent, resourceVersion of the copy it was sent from)
        self._sent: dict[str, tuple[tuple[str, str, str], Any]] = {}

    async def set(self, svc: Mapping[str, Any], *, status: str, reason: str, message: str) -> None:
        """Make the Service's condition ``(status, reason, message)``; no write when it is.

        ``svc`` is this component's cached copy. No write when the copy already shows the
        value, or when we sent that value from a copy of the same ``resourceVersion`` (our write
        is not in the cache yet). A copy changed since (e.g. another node wrote the condition
        meanwhile) that differs is written again, so a node that takes a Service back corrects
        the condition. Raises ``ingot.errors.KubeError`` from the API (nothing is remembered
        then, so the next call retries).
        """
        key = service_key(svc)
        want = (status, reason, message)
        meta = svc.get("metadata") or {}
        rv = meta.get("resourceVersion")
        now = find(svc, self.ctype)
        if now is not None and (now.get("status"), now.get("reason"), now.get("message")) == want:
            self._sent[key] = (want, rv)
            return
        if self._sent.get(key) == (want, rv):
            return
        since = format_time(self.clock.wall())
        if now is not None and now.get("status") == status and now.get("lastTransitionTime"):
            since = str(now["lastTransitionTime"])  # same status: no transition
        cond = {
            "type": self.ctype,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": since,
            "observedGeneration": meta.get("generation", 0),
        }
        await asyncio.to_thread(
            self.source.patch_status,
            src.SERVICE,
            str(meta.get("name")),
            {"status": {"conditions": [cond]}},
            namespace=meta.get("namespace"),
            patch_type="strategic",
        )
        self._sent[key] = (want, rv)

    def forget(self, key: str) -> None:
        """Drop what was sent for Service ``key`` (e.g. after it was deleted)."""
        self._sent.pop(key, None)
