"""Defaulting and validation of the built-in kinds, reduced to what ingot and kubectl rely on.

Sources: k8s.io/kubernetes pkg/apis/core/v1/defaults.go (Service defaults: type ClusterIP,
sessionAffinity None, ports protocol TCP and targetPort = port, ipFamilies/ipFamilyPolicy,
externalTrafficPolicy Cluster for NodePort/LoadBalancer), pkg/registry/core/service (cluster IP
and node-port allocation), pkg/apis/core/validation (names, ports, load-balancer ingress IPs,
loadBalancerClass immutability), and apimachinery's name rules (DNS-1123 subdomain/label,
DNS-1035 label for Services).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from typing import Any

from ingot.apiserver import errors
from ingot.apiserver.resources import ResourceType

RawObject = dict[str, Any]
Cause = errors.Cause

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

#: kinds whose names must be DNS-1123 labels / DNS-1035 labels (others: subdomains)
_LABEL_NAMED = {("", "namespaces")}
_DNS1035_NAMED = {("", "services")}


def name_causes(rt: ResourceType, name: str) -> list[Cause]:
    """Invalid ``metadata.name`` for the kind (empty list when valid)."""
    if rt.key in _DNS1035_NAMED:
        ok = len(name) <= 63 and bool(_DNS1035_LABEL.match(name))
        rule = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
        rule += "start with an alphabetic character, and end with an alphanumeric character"
    elif rt.key in _LABEL_NAMED:
        ok = len(name) <= 63 and bool(_DNS1123_LABEL.match(name))
        rule = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
        rule += "or '-', and must start and end with an alphanumeric character"
    elif rt.key == ("", "events") or rt.key == ("events.k8s.io", "events"):
        ok = len(name) <= 253 and bool(re.match(r"^[A-Za-z0-9.:_-]+$", name))
        rule = "event names are dot-separated path segments"
    else:
        ok = len(name) <= 253 and bool(_DNS1123_SUBDOMAIN.match(name))
        rule = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
        rule += "characters, '-' or '.', and must start and end with an alphanumeric character"
    if ok:
        return []
    return [Cause("FieldValueInvalid", f'Invalid value: "{name}": {rule}', "metadata.name")]


_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _key_causes(key: str, path: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    ok = 0 < len(name) <= 63 and bool(_QUALIFIED_NAME.match(name))
    if prefix:
        ok = ok and len(prefix) <= 253 and bool(_DNS1123_SUBDOMAIN.match(prefix))
    if ok:
        return []
    return [
        Cause(
            "FieldValueInvalid",
            f'Invalid value: "{key}": name part must consist of alphanumeric characters, '
            "'-', '_' or '.', and must start and end with an alphanumeric character (at most 63 "
            "characters), with an optional DNS subdomain prefix and '/'",
            path,
        )
    ]


def metadata_causes(meta: RawObject) -> list[Cause]:
    """Label keys/values and annotation keys (apimachinery ValidateLabels/ValidateAnnotations)."""
    out: list[Cause] = []
    for key, value in (meta.get("labels") or {}).items():
        out.extend(_key_causes(key, "metadata.labels"))
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            out.append(
                Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "{value}": a valid label must be an empty string or consist '
                    "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                    "alphanumeric character (at most 63 characters)",
                    "metadata.labels",
                )
            )
    for key in meta.get("annotations") or {}:
        out.extend(_key_causes(key.lower(), "metadata.annotations"))
    size = sum(len(k) + len(v) for k, v in (meta.get("annotations") or {}).items())
    if size > 256 * 1024:
        out.append(
            Cause(
                "FieldValueTooLong",
                "Too long: must have at most 262144 bytes",
                "metadata.annotations",
            )
        )
    return out


class IPAllocator:
    """Cluster IPs from 10.96.0.0/12 and fd00:10:96::/112, node ports from 30000-32767."""

    def __init__(self) -> None:
        self._next_v4 = int(ipaddress.IPv4Address("10.96.0.10"))
        self._next_v6 = int(ipaddress.IPv6Address("fd00:10:96::10"))
        self._next_port = 30000

    def cluster_ip(self, family: str) -> str:
        if family == "IPv6":
            self._next_v6 += 1
            return str(ipaddress.IPv6Address(self._next_v6))
        self._next_v4 += 1
        return str(ipaddress.IPv4Address(self._next_v4))

    def node_port(self) -> int:
        self._next_port += 1
        if self._next_port > 32767:
            self._next_port = 30001
        return self._next_port


def _family_of(ip: str) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return "IPv4"


def default_service(obj: RawObject, old: RawObject | None, alloc: IPAllocator) -> None:
    """Apply Service defaults in place (keeps allocations of ``old`` on update)."""
    spec = obj.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    if old is None:
        obj["status"] = {"loadBalancer": {}}
    stype = spec.setdefault("type", "ClusterIP")
    if old is not None:
        _drop_type_dependent_fields(spec, old_spec)
    if stype == "ExternalName":
        return
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    headless = spec.get("clusterIP") == "None"
    # IP families: keep what the old object had, else infer from given clusterIPs or policy
    if old_spec.get("ipFamilies") and "ipFamilies" not in spec:
        spec["ipFamilies"] = list(old_spec["ipFamilies"])
    policy = spec.setdefault("ipFamilyPolicy", old_spec.get("ipFamilyPolicy", "SingleStack"))
    families = list(spec.get("ipFamilies") or [])
    given = [ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")]) if ip]
    if not families:
        families = [_family_of(given[0])] if given and not headless else ["IPv4"]
    if policy in ("RequireDualStack", "PreferDualStack") and len(families) == 1:
        families.append("IPv6" if families[0] == "IPv4" else "IPv4")
    spec["ipFamilies"] = families
    if headless:
        spec["clusterIPs"] = ["None"]
    else:
        ips = list(old_spec.get("clusterIPs") or []) if old else []
        if not ips:
            ips = [ip for ip in given if ip != "None"]
        while len(ips) < len(families):
            ips.append(alloc.cluster_ip(families[len(ips)]))
        spec["clusterIPs"] = ips[: len(families)]
        spec["clusterIP"] = ips[0]
    if headless:
        spec["clusterIP"] = "None"
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if stype in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
        wants_ports = stype == "NodePort" or spec.setdefault("allocateLoadBalancerNodePorts", True)
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
            for p in old_spec.get("ports") or []
            if isinstance(p, dict)
        }
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and wants_ports and not port.get("nodePort"):
                kept = old_ports.get((port.get("port"), port.get("protocol")))
                port["nodePort"] = kept or alloc.node_port()
        if (
            stype == "LoadBalancer"
            and spec.get("externalTrafficPolicy") == "Local"
            and not spec.get("healthCheckNodePort")
        ):
            spec["healthCheckNodePort"] = old_spec.get("healthCheckNodePort") or alloc.node_port()


def _drop_type_dependent_fields(spec: RawObject, old_spec: RawObject) -> None:
    """Clear what the old type allocated when the type changes and the client kept it.

    Source: pkg/registry/core/service/strategy.go ``dropTypeDependentFields``.
    """
    stype, old_type = spec.get("type"), old_spec.get("type")
    if stype == old_type:
        return
    node_port_types = ("NodePort", "LoadBalancer")
    if old_type in node_port_types and stype not in node_port_types:
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
            for p in old_spec.get("ports") or []
            if isinstance(p, dict)
        }
        for port in spec.get("ports") or []:
            if not isinstance(port, dict):
                continue
            port_key = (port.get("port"), port.get("protocol", "TCP"))
            if port.get("nodePort") and old_ports.get(port_key) == port["nodePort"]:
                del port["nodePort"]
        if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)
    if old_type == "LoadBalancer" and stype != "LoadBalancer":
        for key in ("allocateLoadBalancerNodePorts", "loadBalancerClass", "healthCheckNodePort"):
            if key in spec and spec[key] == old_spec.get(key):
                spec.pop(key)


def validate_service(obj: RawObject, old: RawObject | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    out: list[Cause] = []
    stype = spec.get("type", "ClusterIP")
    supported = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
    if stype not in supported:
        allowed = ", ".join(f'"{s}"' for s in supported)
        out.append(
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{stype}": supported values: {allowed}',
                "spec.type",
            )
        )
    ports = spec.get("ports")
    if ports is not None and not isinstance(ports, list):
        out.append(Cause("FieldValueInvalid", "must be a list", "spec.ports"))
        ports = []
    if not ports and stype != "ExternalName" and spec.get("clusterIP") != "None":
        out.append(Cause("FieldValueRequired", "Required value", "spec.ports"))
    names: set[str] = set()
    for i, port in enumerate(ports or []):
        path = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            out.append(Cause("FieldValueInvalid", "must be an object", path))
            continue
        value = port.get("port")
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            out.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {value!r}: must be between 1 and 65535, inclusive",
                    f"{path}.port",
                )
            )
        if port.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
            out.append(
                Cause(
                    "FieldValueNotSupported",
                    f'Unsupported value: "{port.get("protocol")}": supported values: '
                    '"SCTP", "TCP", "UDP"',
                    f"{path}.protocol",
                )
            )
        name = port.get("name", "")
        if len(ports or []) > 1 and not name:
            out.append(Cause("FieldValueRequired", "Required value", f"{path}.name"))
        if name and name in names:
            out.append(Cause("FieldValueDuplicate", f'Duplicate value: "{name}"', f"{path}.name"))
        names.add(name)
    for key in ("externalTrafficPolicy", "internalTrafficPolicy"):
        if key in spec and spec[key] not in ("Cluster", "Local"):
            out.append(
                Cause(
                    "FieldValueNotSupported",
                    f'Unsupported value: "{spec[key]}": supported values: "Cluster", "Local"',
                    f"spec.{key}",
                )
            )
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in ("SingleStack", "PreferDualStack", "RequireDualStack"):
        out.append(
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{policy}": supported values: "PreferDualStack", '
                '"RequireDualStack", "SingleStack"',
                "spec.ipFamilyPolicy",
            )
        )
    for i, fam in enumerate(spec.get("ipFamilies") or []):
        if fam not in ("IPv4", "IPv6"):
            out.append(
                Cause(
                    "FieldValueNotSupported",
                    f'Unsupported value: "{fam}": supported values: "IPv4", "IPv6"',
                    f"spec.ipFamilies[{i}]",
                )
            )
    lb_ip = spec.get("loadBalancerIP")
    if lb_ip:
        out.extend(_ip_causes(lb_ip, "spec.loadBalancerIP"))
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    for i, entry in enumerate(ingress if isinstance(ingress, list) else []):
        if isinstance(entry, dict) and entry.get("ip"):
            out.extend(_ip_causes(entry["ip"], f"status.loadBalancer.ingress[{i}].ip"))
    if old is not None:
        old_spec = old.get("spec") or {}
        if old_spec.get("loadBalancerClass") != spec.get("loadBalancerClass") and (
            old_spec.get("type") == "LoadBalancer" and stype == "LoadBalancer"
        ):
            out.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {spec.get('loadBalancerClass')!r}: may not change once set",
                    "spec.loadBalancerClass",
                )
            )
        if (
            old_spec.get("clusterIP")
            and spec.get("clusterIP")
            and old_spec["clusterIP"] != spec["clusterIP"]
            and stype != "ExternalName"
            and old_spec.get("type") != "ExternalName"
        ):
            out.append(
                Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "{spec["clusterIP"]}": field is immutable',
                    "spec.clusterIP",
                )
            )
    return out


def _ip_causes(ip: Any, path: str) -> list[Cause]:
    try:
        ipaddress.ip_address(str(ip))
    except ValueError:
        return [
            Cause(
                "FieldValueInvalid",
                f'Invalid value: "{ip}": must be a valid IP address, '
                "(e.g. 10.9.8.7 or 2001:db8::ffff)",
                path,
            )
        ]
    return []


def default_secret(obj: RawObject) -> None:
    """Secret ``type`` defaults to Opaque; ``stringData`` is merged into ``data`` (base64)."""
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def validate_secret(obj: RawObject) -> list[Cause]:
    out = []
    for key, value in (obj.get("data") or {}).items():
        try:
            base64.b64decode(str(value), validate=True)
        except ValueError:
            out.append(
                Cause("FieldValueInvalid", "Invalid value: illegal base64 data", f"data[{key}]")
            )
    return out


def validate_endpointslice(obj: RawObject) -> list[Cause]:
    kind = obj.get("addressType")
    if kind is None:
        return [Cause("FieldValueRequired", "Required value", "addressType")]
    if kind not in ("IPv4", "IPv6", "FQDN"):
        return [
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{kind}": supported values: "FQDN", "IPv4", "IPv6"',
                "addressType",
            )
        ]
    out: list[Cause] = []
    for i, ep in enumerate(obj.get("endpoints") or []):
        if not isinstance(ep, dict) or not ep.get("addresses"):
            out.append(Cause("FieldValueRequired", "Required value", f"endpoints[{i}].addresses"))
    return out


def validate_lease(obj: RawObject) -> list[Cause]:
    spec = obj.get("spec") or {}
    out: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        out.append(
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {duration!r}: must be greater than 0",
                "spec.leaseDurationSeconds",
            )
        )
    return out


def prepare(rt: ResourceType, obj: RawObject, old: RawObject | None, alloc: IPAllocator) -> None:
    """Kind-specific defaults, in place."""
    if rt.key == ("", "services"):
        default_service(obj, old, alloc)
    elif rt.key == ("", "secrets"):
        default_secret(obj)
    elif rt.key == ("coordination.k8s.io", "leases"):
        _normalise_times(obj, ("spec.acquireTime", "spec.renewTime"))
    elif rt.skey == ("", "events"):
        _normalise_times(obj, ("eventTime", "series.lastObservedTime"))
    elif rt.key == ("", "namespaces"):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def validate(rt: ResourceType, obj: RawObject, old: RawObject | None) -> list[Cause]:
    """Kind-specific validation causes (empty when valid)."""
    if rt.key == ("", "services"):
        return validate_service(obj, old)
    if rt.key == ("", "secrets"):
        return validate_secret(obj)
    if rt.key == ("discovery.k8s.io", "endpointslices"):
        return validate_endpointslice(obj)
    if rt.key == ("coordination.k8s.io", "leases"):
        return validate_lease(obj)
    return []


EVENTS_V1 = ("events.k8s.io", "events")

#: events.k8s.io/v1 field -> core/v1 Event field (k8s.io/kubernetes pkg/apis/events/v1 conversion)
_EVENT_FIELDS_V1_TO_CORE = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_EVENT_FIELDS_CORE_TO_V1 = {v: k for k, v in _EVENT_FIELDS_V1_TO_CORE.items()}


def event_from_v1(obj: RawObject) -> RawObject:
    """An events.k8s.io/v1 Event as the core/v1 Event both APIs store."""
    out = {_EVENT_FIELDS_V1_TO_CORE.get(k, k): v for k, v in obj.items()}
    out["apiVersion"] = "v1"
    return out


def event_to_v1(obj: RawObject) -> RawObject:
    """A stored core/v1 Event as served by events.k8s.io/v1."""
    out = {_EVENT_FIELDS_CORE_TO_V1.get(k, k): v for k, v in obj.items()}
    out["apiVersion"] = "events.k8s.io/v1"
    return out


def event_field_path_v1(path: str) -> str:
    """An events.k8s.io/v1 field-selector path on the stored core form."""
    head, _, rest = path.partition(".")
    core = _EVENT_FIELDS_V1_TO_CORE.get(head, head)
    return f"{core}.{rest}" if rest else core


def validate_event_v1(obj: RawObject) -> list[Cause]:
    """events.k8s.io/v1 create/update rules (pkg/apis/core/validation/events.go, reduced)."""
    out = []
    for key in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
        if not obj.get(key):
            out.append(Cause("FieldValueRequired", "Required value", key))
    if obj.get("type") not in ("Normal", "Warning"):
        out.append(
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{obj.get("type")}": supported values: "Normal", "Warning"',
                "type",
            )
        )
    note = obj.get("note")
    if isinstance(note, str) and len(note.encode()) > 1024:
        out.append(Cause("FieldValueTooLong", "Too long: may not be more than 1024 bytes", "note"))
    return out


def micro_time(value: Any, path: str) -> str:
    """Normalise a metav1.MicroTime to RFC 3339 UTC with microseconds (``...T..:..:...123456Z``).

    Raises:
        errors.ApiError: 400 BadRequest when the value is not an RFC 3339 time (the real
            server fails decoding the body).
    """
    import datetime as dt

    text = str(value)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.bad_request(
            f'{path}: invalid MicroTime "{text}": want RFC 3339, e.g. 2006-01-02T15:04:05.000000Z'
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _normalise_times(obj: RawObject, paths: tuple[str, ...]) -> None:
    for path in paths:
        parent: Any = obj
        parts = path.split(".")
        for part in parts[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(parts[-1]) is not None:
            parent[parts[-1]] = micro_time(parent[parts[-1]], path)
