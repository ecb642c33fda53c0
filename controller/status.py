"""Pure reconcile helpers: desired Service status, write-or-not diff, transition events.

Pipeline position: the worker reads a Service from the cache, asks the allocator, turns the
answer into an ``Outcome`` (``Allocated`` | ``Unallocated`` | ``Cleared``), then

* ``desired_service(raw, outcome, now_iso)`` -> the Service with ingress, the
  ``metallb.io/ip-allocated-from-pool`` annotation and the ``ingot.io/IPAllocated`` condition;
* ``service_write(raw, desired)`` -> the body to PUT to ``services/status`` or ``None`` when
  nothing changed (one write per real change, zero on resync);
* ``event_for(raw, outcome)`` -> the ``EventSpec`` to record, only on a transition (read from
  the current condition, so a restart does not re-announce anything).

MetalLB writes the annotation with the status in one ``UpdateStatus`` call (the Service
status strategy resets only ``spec``), reference §1h; ingot does the same.
The module also computes ``IPAddressPool.status`` (``assignedIPv4/6``, ``availableIPv4/6``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool"
"""Annotation written with the allocating pool's name (MetalLB ``controller/service.go``)."""
CONDITION_TYPE = "ingot.io/IPAllocated"
"""Service condition carrying the allocation state and its reason."""

RawObject = Mapping[str, Any]


@dataclass(frozen=True)
class Allocated:
    """The Service holds ``ips`` (IPv4 first unless requested otherwise) from ``pool``."""

    ips: tuple[str, ...]
    pool: str


@dataclass(frozen=True)
class Unallocated:
    """The Service gets no IP. ``reason`` is a CamelCase word, ``message`` the human cause."""

    reason: str
    message: str


@dataclass(frozen=True)
class Cleared:
    """The Service is no longer ours to serve (type changed, no config): remove our state."""

    why: str


Outcome = Allocated | Unallocated | Cleared


@dataclass(frozen=True)
class EventSpec:
    """An event to record on the Service: ``type_`` is ``Normal`` or ``Warning``."""

    type_: str
    reason: str
    message: str


def current_ips(raw: RawObject) -> tuple[str, ...]:
    """IPs in ``status.loadBalancer.ingress`` (entries without ``ip`` are skipped)."""
    ingress = ((raw.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return tuple(str(i["ip"]) for i in ingress if isinstance(i, Mapping) and i.get("ip"))


def current_pool(raw: RawObject) -> str | None:
    """The pool named by our annotation, if any."""
    value = ((raw.get("metadata") or {}).get("annotations") or {}).get(POOL_ANNOTATION)
    return str(value) if value is not None else None


def current_condition(raw: RawObject) -> Mapping[str, Any] | None:
    """Our ``ingot.io/IPAllocated`` condition, if present."""
    for c in (raw.get("status") or {}).get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == CONDITION_TYPE:
            return c
    return None


def _condition(outcome: Allocated | Unallocated) -> dict[str, str]:
    if isinstance(outcome, Allocated):
        return {
            "type": CONDITION_TYPE,
            "status": "True",
            "reason": "IPAllocated",
            "message": f"Assigned IP {list(outcome.ips)} from pool {outcome.pool}",
        }
    return {
        "type": CONDITION_TYPE,
        "status": "False",
        "reason": outcome.reason,
        "message": outcome.message[:32768],
    }


def desired_service(raw: RawObject, outcome: Outcome, *, now_iso: str) -> dict[str, Any]:
    """A deep copy of ``raw`` with our status fields set for ``outcome``.

    Args:
        raw: the Service as read (never mutated).
        outcome: the allocation outcome.
        now_iso: RFC 3339 time used as ``lastTransitionTime`` when the condition's
            status flips; an unchanged status keeps the old time (so a resync writes nothing).
    """
    svc: dict[str, Any] = copy.deepcopy(dict(raw))
    meta = svc.setdefault("metadata", {})
    status = svc.setdefault("status", {})
    annotations = dict(meta.get("annotations") or {})
    conditions = [
        c for c in status.get("conditions") or [] if not (c.get("type") == CONDITION_TYPE)
    ]
    if isinstance(outcome, Cleared):
        annotations.pop(POOL_ANNOTATION, None)
        status["loadBalancer"] = {}
    else:
        if isinstance(outcome, Allocated):
            annotations[POOL_ANNOTATION] = outcome.pool
            status["loadBalancer"] = {"ingress": [{"ip": ip} for ip in outcome.ips]}
        else:
            annotations.pop(POOL_ANNOTATION, None)
            status["loadBalancer"] = {}
        cond: dict[str, Any] = _condition(outcome)
        old = current_condition(raw)
        if old is not None and old.get("status") == cond["status"]:
            cond["lastTransitionTime"] = old.get("lastTransitionTime") or now_iso
        else:
            cond["lastTransitionTime"] = now_iso
        conditions.append(cond)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    return svc


def _ours(raw: RawObject) -> tuple[object, ...]:
    lb = (raw.get("status") or {}).get("loadBalancer") or {}
    ingress = lb.get("ingress") or []
    cond = current_condition(raw)
    cond_key = (
        None
        if cond is None
        else tuple(cond.get(k) for k in ("status", "reason", "message", "lastTransitionTime"))
    )
    return (tuple(map(repr, ingress)), current_pool(raw), cond_key)


def service_write(raw: RawObject, desired: RawObject) -> dict[str, Any] | None:
    """The body to PUT to ``services/<name>/status``, or ``None`` when our fields are equal.

    Only the fields the controller owns are compared (ingress, pool annotation, condition);
    the body carries ``raw``'s ``resourceVersion`` so a concurrent change yields 409.
    """
    if _ours(raw) == _ours(desired):
        return None
    return dict(desired)


def event_for(raw: RawObject, outcome: Outcome) -> EventSpec | None:
    """The event for the transition from ``raw``'s state to ``outcome``, or ``None``.

    * -> Allocated with different IPs (or pool) than now: ``IPAllocated`` (Normal), naming the
      old IPs when they change.
    * -> Unallocated when the current condition is not already False with the same message:
      ``AllocationFailed`` (Warning) with the cause.
    * -> Cleared while IPs are held: ``ClearAssignment`` (Normal).
    """
    ips = current_ips(raw)
    cond = current_condition(raw)
    if isinstance(outcome, Allocated):
        if ips == outcome.ips and current_pool(raw) == outcome.pool:
            return None
        msg = f"Assigned IP {list(outcome.ips)} from pool {outcome.pool}"
        if ips:
            msg += f" (was {list(ips)})"
        return EventSpec("Normal", "IPAllocated", msg)
    if isinstance(outcome, Unallocated):
        if (
            cond is not None
            and cond.get("status") == "False"
            and cond.get("message") == outcome.message
            and not ips
        ):
            return None
        return EventSpec("Warning", "AllocationFailed", outcome.message)
    if ips:
        return EventSpec("Normal", "ClearAssignment", f"{outcome.why}; released {list(ips)}")
    return None


INT64_MAX = 2**63 - 1
"""The CRD's int64 bound: ``IPAddressPool.status`` counts are capped here (metrics stay exact)."""


def pool_status(
    *, assigned_v4: int, assigned_v6: int, total_v4: int, total_v6: int
) -> dict[str, int]:
    """``IPAddressPool.status`` (MetalLB ``IPAddressPoolStatus``) from exact counts.

    Values are exact up to 2^63-1 and capped there (a /64 pool reports 2^63-1 available),
    matching the CRD's int64 fields (``ingot/api/ipaddresspool.py``).
    """
    return {
        "assignedIPv4": min(assigned_v4, INT64_MAX),
        "assignedIPv6": min(assigned_v6, INT64_MAX),
        "availableIPv4": min(total_v4 - assigned_v4, INT64_MAX),
        "availableIPv6": min(total_v6 - assigned_v6, INT64_MAX),
    }


def pool_status_write(raw_pool: RawObject, desired: Mapping[str, int]) -> dict[str, Any] | None:
    """The pool body to PUT to ``ipaddresspools/<name>/status``, or ``None`` when unchanged."""
    current = raw_pool.get("status") or {}
    if all(current.get(k) == v for k, v in desired.items()):
        return None
    body: dict[str, Any] = copy.deepcopy(dict(raw_pool))
    body["status"] = dict(desired)
    return body


def duplicates(ips_by_service: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """IPs held by more than one Service (test and self-check helper): ip -> sorted keys."""
    holders: dict[str, list[str]] = {}
    for key, ips in ips_by_service.items():
        for ip in ips:
            holders.setdefault(ip, []).append(key)
    return {ip: sorted(keys) for ip, keys in holders.items() if len(keys) > 1}
