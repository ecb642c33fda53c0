"""Service objects -> allocation requests. PURE.

Reads a raw ``v1.Service`` dict (as the API returns it) and produces the
:class:`ipam.request.ServiceRequest` the allocator understands, or field errors naming the
Service and the field path. Inputs read (MetalLB ``controller/service.go``, reference §1h):

* annotations ``metallb.io/loadBalancerIPs``, ``metallb.io/address-pool``,
  ``metallb.io/allow-shared-ip`` and their deprecated ``metallb.universe.tf/*`` twins (the
  stable ``metallb.io/*`` key wins when both are set);
* ``spec.loadBalancerIP`` (deprecated by Kubernetes; an error together with the annotation);
* ``spec.clusterIPs`` / ``spec.clusterIP`` (the Service's families), ``spec.ipFamilies``,
  ``spec.ipFamilyPolicy``;
* ``spec.ports[].protocol/port`` (sharing), ``spec.externalTrafficPolicy`` and
  ``spec.selector`` (backend key for Local sharing);
* ``spec.type`` and ``spec.loadBalancerClass`` (:func:`wants_allocation`);
* ``status.loadBalancer.ingress[].ip`` (:func:`status_ips`, for restore).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, cast

from ingot.api.fielderror import FieldError
from ipam.ranges import IPAddress
from ipam.request import FAMILY_POLICIES, FamilyPolicy, Port, ServiceKey, ServiceRequest

STABLE_PREFIX = "metallb.io/"
LEGACY_PREFIX = "metallb.universe.tf/"
LOAD_BALANCER_IPS = "loadBalancerIPs"
ADDRESS_POOL = "address-pool"
ALLOW_SHARED_IP = "allow-shared-ip"
__all__ = [
    "ALLOCATED_FROM_POOL",
    "FieldError",
    "annotation_value",
    "backend_key",
    "deprecated_annotations",
    "ingress",
    "service_request",
    "status_ips",
    "wants_allocation",
]

ALLOCATED_FROM_POOL = STABLE_PREFIX + "ip-allocated-from-pool"
"""Annotation ingot writes with the pool name (MetalLB ``metallb.io/ip-allocated-from-pool``)."""

_INPUT_ANNOTATIONS = (LOAD_BALANCER_IPS, ADDRESS_POOL, ALLOW_SHARED_IP)
_FAMILY_NAMES = {"IPv4": 4, "IPv6": 6}
_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP"})


def _annotation_path(key: str) -> str:
    return f"metadata.annotations[{key}]"


def annotation_value(annotations: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """Return ``(key, value)`` of annotation ``name`` (e.g. ``"address-pool"``) or ``None``.

    The stable ``metallb.io/`` key wins over the legacy ``metallb.universe.tf/`` one (MetalLB
    ``valueForAnnotation``).
    """
    for prefix in (STABLE_PREFIX, LEGACY_PREFIX):
        key = prefix + name
        if key in annotations:
            return key, annotations[key]
    return None


def deprecated_annotations(raw_service: Mapping[str, Any]) -> tuple[str, ...]:
    """Legacy ``metallb.universe.tf/*`` input annotations present (for a Warning event)."""
    annotations = _mapping(_mapping(raw_service.get("metadata")).get("annotations"))
    return tuple(
        sorted(LEGACY_PREFIX + n for n in _INPUT_ANNOTATIONS if LEGACY_PREFIX + n in annotations)
    )


def wants_allocation(raw_service: Mapping[str, Any], *, lb_class: str | None = None) -> bool:
    """Return whether ingot allocates for this Service.

    True for ``spec.type: LoadBalancer`` whose ``spec.loadBalancerClass`` is unset when
    ``lb_class`` is ``None`` or empty, or equals ``lb_class`` otherwise (MetalLB ``--lb-class``,
    ``filterByLoadBalancerClass``).
    """
    spec = _mapping(raw_service.get("spec"))
    if spec.get("type") != "LoadBalancer":
        return False
    cls = spec.get("loadBalancerClass")
    if not lb_class:
        return cls is None or cls == ""
    return cls == lb_class


def status_ips(raw_service: Mapping[str, Any]) -> tuple[IPAddress, ...]:
    """IPs in ``status.loadBalancer.ingress[].ip``, in order; malformed entries are skipped.

    Malformed or hostname-only entries are dropped so the Service is re-validated and its status
    rewritten (MetalLB PR #1778 wipes malformed status IPs).
    """
    lb = _mapping(_mapping(raw_service.get("status")).get("loadBalancer"))
    out: list[IPAddress] = []
    ingress = lb.get("ingress")
    if not isinstance(ingress, list):
        return ()
    for entry in ingress:
        ip = _mapping(entry).get("ip")
        if isinstance(ip, str):
            try:
                out.append(ipaddress.ip_address(ip))
            except ValueError:
                continue
    return tuple(out)


def ingress(ips: Sequence[IPAddress]) -> list[dict[str, str]]:
    """``status.loadBalancer.ingress`` for ``ips`` (``[{"ip": "..."}]``, order kept)."""
    return [{"ip": str(ip)} for ip in ips]


def backend_key(selector: Mapping[str, str]) -> str:
    """Canonical selector string ``k1=v1,k2=v2``, keys sorted (``SelectorFromSet().String()``)."""
    return ",".join(f"{k}={selector[k]}" for k in sorted(selector))


def _mapping(value: object) -> Mapping[str, Any]:
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}


def _parse_ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text.strip())


def service_request(
    raw_service: Mapping[str, Any], *, namespace_labels: Mapping[str, str]
) -> ServiceRequest | list[FieldError]:
    """Parse a raw Service into an allocation request.

    Args:
        raw_service: the ``v1.Service`` as a JSON dict.
        namespace_labels: labels of the Service's Namespace (pool namespaceSelectors).

    Returns:
        The request, or every field error found (never both). ``spec.type`` and
        ``loadBalancerClass`` are not checked here: see :func:`wants_allocation`.

    Families come from ``spec.clusterIPs`` (else ``spec.clusterIP``), as MetalLB derives them,
    so a PreferDualStack Service with one ClusterIP is single-stack (case C13). Without any
    ClusterIP yet, ``spec.ipFamilies`` is used; without that either, IPv4 (IPv4 + IPv6 for
    RequireDualStack).
    """
    meta = _mapping(raw_service.get("metadata"))
    spec = _mapping(raw_service.get("spec"))
    name = meta.get("name") if isinstance(meta.get("name"), str) else ""
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else ""
    errors: list[FieldError] = []

    def err(path: str, message: str) -> None:
        errors.append(FieldError("Service", str(namespace), str(name), path, message))

    if not name:
        err("metadata.name", "required")
    if not namespace:
        err("metadata.namespace", "required")
    raw_labels = _mapping(meta.get("labels"))
    labels = {str(k): str(v) for k, v in raw_labels.items()}
    annotations = {str(k): str(v) for k, v in _mapping(meta.get("annotations")).items()}

    # requested IPs
    requested: tuple[IPAddress, ...] = ()
    ann = annotation_value(annotations, LOAD_BALANCER_IPS)
    spec_ip = spec.get("loadBalancerIP")
    if ann is not None and spec_ip:
        err(
            "spec.loadBalancerIP",
            f"set together with annotation {ann[0]}; use only the annotation",
        )
    elif ann is not None:
        parsed: list[IPAddress] = []
        for part in ann[1].split(","):
            try:
                parsed.append(_parse_ip(part))
            except ValueError:
                err(_annotation_path(ann[0]), f"invalid IP address {part.strip()!r}")
        if len(parsed) > 2:
            err(_annotation_path(ann[0]), "at most two IPs (one IPv4 and one IPv6)")
        elif len({ip.version for ip in parsed}) != len(parsed):
            err(_annotation_path(ann[0]), "at most one IP per family")
        requested = tuple(parsed)
    elif spec_ip:
        if not isinstance(spec_ip, str):
            err("spec.loadBalancerIP", "must be a string")
        else:
            try:
                requested = (_parse_ip(spec_ip),)
            except ValueError:
                err("spec.loadBalancerIP", f"invalid IP address {spec_ip!r}")

    pool_ann = annotation_value(annotations, ADDRESS_POOL)
    pool = pool_ann[1].strip() if pool_ann else None
    if pool_ann is not None and not pool:
        err(_annotation_path(pool_ann[0]), "empty pool name")
    share_ann = annotation_value(annotations, ALLOW_SHARED_IP)
    sharing_key = share_ann[1] if share_ann and share_ann[1] else None

    # families
    policy_raw = spec.get("ipFamilyPolicy") or "SingleStack"
    if not isinstance(policy_raw, str) or policy_raw not in FAMILY_POLICIES:
        err("spec.ipFamilyPolicy", f"{policy_raw!r} is not one of {sorted(FAMILY_POLICIES)}")
        policy_raw = "SingleStack"
    policy = cast(FamilyPolicy, policy_raw)
    families: list[int] = []
    cluster_ips = spec.get("clusterIPs")
    if not isinstance(cluster_ips, list) or not cluster_ips:
        single = spec.get("clusterIP")
        cluster_ips = [single] if isinstance(single, str) and single else []
    for i, cip in enumerate(cluster_ips):
        if cip in ("None", ""):
            continue
        try:
            fam = ipaddress.ip_address(str(cip)).version
        except ValueError:
            err(f"spec.clusterIPs[{i}]", f"invalid IP address {cip!r}")
            continue
        if fam not in families:
            families.append(fam)
    if not families:
        raw_fams = spec.get("ipFamilies")
        if isinstance(raw_fams, list):
            for i, f in enumerate(raw_fams):
                if not isinstance(f, str) or f not in _FAMILY_NAMES:
                    err(f"spec.ipFamilies[{i}]", f"{f!r} is not IPv4 or IPv6")
                elif _FAMILY_NAMES[f] not in families:
                    families.append(_FAMILY_NAMES[f])
    if not families:
        families = [4, 6] if policy == "RequireDualStack" else [4]
    if len(families) > 1 and policy == "SingleStack":
        families = families[:1]

    # ports
    ports: set[Port] = set()
    raw_ports = spec.get("ports") or []
    if not isinstance(raw_ports, list):
        err("spec.ports", "must be a list")
        raw_ports = []
    for i, rp in enumerate(raw_ports):
        p = _mapping(rp)
        proto = p.get("protocol") or "TCP"
        number = p.get("port")
        if not isinstance(proto, str) or proto not in _PROTOCOLS:
            err(f"spec.ports[{i}].protocol", f"{proto!r} is not one of TCP, UDP, SCTP")
            continue
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            err(f"spec.ports[{i}].port", f"{number!r} is not a port number 1..65535")
            continue
        ports.add(Port(str(proto), number))

    etp = spec.get("externalTrafficPolicy") or "Cluster"
    if not isinstance(etp, str) or etp not in ("Cluster", "Local"):
        err("spec.externalTrafficPolicy", f"{etp!r} is not Cluster or Local")
        etp = "Cluster"
    selector = {str(k): str(v) for k, v in _mapping(spec.get("selector")).items()}

    if errors:
        return errors
    return ServiceRequest(
        key=ServiceKey(f"{namespace}/{name}"),
        families=tuple(families),
        family_policy=policy,
        labels=labels,
        namespace_labels=dict(namespace_labels),
        requested_ips=requested,
        pool=pool,
        sharing_key=sharing_key,
        traffic_policy="Local" if etp == "Local" else "Cluster",
        backend_key=backend_key(selector),
        ports=frozenset(ports),
    )
