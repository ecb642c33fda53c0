"""IP sharing rules (MetalLB ``allocator.go`` ``checkSharing``/``sharingOK``).

Two Services may hold the same IP only if all of these hold, checked in this order:

1. both carry a non-empty ``metallb.io/allow-shared-ip`` key and the keys are equal;
2. their backends are equal: same ``externalTrafficPolicy``, and for ``Local`` the same pod
   selector (MetalLB compares ``k8salloc.BackendKey``; Local never shares with Cluster, because
   the announcing node must host the pods of every sharer);
3. no ``(protocol, port)`` pair is used by both.
"""

from __future__ import annotations

from ipam.decisions import SharingCause
from ipam.request import ServiceRequest


def _backend(req: ServiceRequest) -> str:
    if req.traffic_policy == "Local":
        return f"externalTrafficPolicy Local with selector {req.backend_key or '<none>'!r}"
    return "externalTrafficPolicy Cluster"


def sharing_problem(new: ServiceRequest, holder: ServiceRequest) -> tuple[SharingCause, str] | None:
    """Return why ``new`` cannot share an IP with ``holder``, or ``None`` if it can.

    Args:
        new: the Service that wants the IP.
        holder: a Service that holds it.

    Returns:
        ``(cause, detail)`` with cause ``no-sharing-key`` | ``key-differs`` |
        ``backend-differs`` | ``port-overlap``, or ``None`` when compatible.
    """
    if new.sharing_key is None or holder.sharing_key is None:
        missing = [r.key for r in (new, holder) if r.sharing_key is None]
        return (
            "no-sharing-key",
            "no metallb.io/allow-shared-ip key on " + " and ".join(missing),
        )
    if new.sharing_key != holder.sharing_key:
        return (
            "key-differs",
            f"sharing key {new.sharing_key!r} differs from {holder.key}'s {holder.sharing_key!r}",
        )
    if new.traffic_policy != holder.traffic_policy or (
        new.traffic_policy == "Local" and new.backend_key != holder.backend_key
    ):
        return (
            "backend-differs",
            f"backend differs: {_backend(new)} vs {holder.key}'s {_backend(holder)} "
            "(Local services may share only with Local services selecting the same pods)",
        )
    overlap = new.ports & holder.ports
    if overlap:
        pairs = ", ".join(f"{p.protocol}/{p.port}" for p in sorted(overlap))
        return ("port-overlap", f"port(s) {pairs} already used by {holder.key}")
    return None
