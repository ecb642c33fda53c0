"""The resource types the server knows: built-ins and those registered by CRDs.

A ``ResourceType`` is what discovery lists (``APIResource``) plus what the server needs to
store and serve it: scope, subresources, the field selectors it accepts, whether DELETE answers
the object or a ``Status`` (the registry's ``ReturnDeletedObject``), and a CRD's schemas.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

RawObject = dict[str, Any]

BASE_FIELDS = frozenset({"metadata.name", "metadata.namespace"})

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served resource (all versions of a group share storage)."""

    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str
    singular: str
    namespaced: bool
    has_status: bool = False
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    field_selectors: frozenset[str] = BASE_FIELDS
    return_deleted_object: bool = False
    storage_version: str = ""
    #: per served version: the structural ``openAPIV3Schema`` (CRDs only)
    schemas: dict[str, RawObject] = field(default_factory=dict, compare=False)
    #: per served version: additionalPrinterColumns (CRDs only)
    printer_columns: dict[str, list[RawObject]] = field(default_factory=dict, compare=False)
    custom: bool = False
    #: bumps ``metadata.generation`` on spec changes only (kinds with a status subresource)
    tracks_generation: bool = False
    #: storage shared with another type, as events.k8s.io Events share core Events' storage
    storage: tuple[str, str] | None = None

    @property
    def key(self) -> tuple[str, str]:
        """Storage key ``(group, plural)``."""
        return (self.group, self.plural)

    @property
    def skey(self) -> tuple[str, str]:
        """Store key: ``storage`` when shared, else ``key``."""
        return self.storage or self.key

    @property
    def stored_api_version(self) -> str:
        """The apiVersion objects of this type carry in storage."""
        return "v1" if self.storage == ("", "events") else self.api_version(self.preferred_version)

    @property
    def preferred_version(self) -> str:
        return self.storage_version or self.versions[0]

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _rt(
    group: str,
    version: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool,
    status: bool = False,
    short: tuple[str, ...] = (),
    fields: tuple[str, ...] = (),
    return_deleted: bool = False,
    categories: tuple[str, ...] = (),
) -> ResourceType:
    return ResourceType(
        group=group,
        versions=(version,),
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        has_status=status,
        short_names=short,
        categories=categories,
        field_selectors=BASE_FIELDS | frozenset(fields),
        return_deleted_object=return_deleted,
        storage_version=version,
        tracks_generation=status,
    )


_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

_EVENTS_V1_FIELDS = (
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "reason",
    "reportingController",
    "type",
)


def builtin_types() -> list[ResourceType]:
    """The built-in kinds this server serves (see docs/apiserver.md)."""
    return [
        _rt(
            "",
            "v1",
            "Namespace",
            "namespaces",
            namespaced=False,
            status=False,
            short=("ns",),
            fields=("status.phase",),
            return_deleted=True,
        ),
        _rt(
            "",
            "v1",
            "Service",
            "services",
            namespaced=True,
            status=True,
            short=("svc",),
            fields=("spec.type", "spec.clusterIP"),
            return_deleted=True,
            categories=("all",),
        ),
        _rt(
            "",
            "v1",
            "Node",
            "nodes",
            namespaced=False,
            status=True,
            short=("no",),
            fields=("spec.unschedulable",),
        ),
        _rt("", "v1", "Secret", "secrets", namespaced=True, fields=("type",)),
        _rt("", "v1", "ConfigMap", "configmaps", namespaced=True, short=("cm",)),
        _rt("", "v1", "Event", "events", namespaced=True, short=("ev",), fields=_EVENT_FIELDS),
        _rt(
            "",
            "v1",
            "Pod",
            "pods",
            namespaced=True,
            status=True,
            short=("po",),
            fields=("spec.nodeName", "status.phase", "status.podIP", "spec.serviceAccountName"),
            return_deleted=True,
            categories=("all",),
        ),
        _rt("", "v1", "ServiceAccount", "serviceaccounts", namespaced=True, short=("sa",)),
        _rt("", "v1", "Endpoints", "endpoints", namespaced=True, short=("ep",)),
        _rt(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "endpointslices",
            namespaced=True,
            fields=("addressType",),
        ),
        dataclasses.replace(
            _rt(
                "events.k8s.io",
                "v1",
                "Event",
                "events",
                namespaced=True,
                short=("ev",),
                fields=_EVENTS_V1_FIELDS,
            ),
            storage=("", "events"),
        ),
        _rt("coordination.k8s.io", "v1", "Lease", "leases", namespaced=True),
        _rt(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            namespaced=False,
            status=True,
            short=("crd", "crds"),
            return_deleted=True,
        ),
        _rt(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            namespaced=False,
        ),
        _rt(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            namespaced=False,
        ),
    ]


def from_crd(crd: RawObject) -> ResourceType:
    """The ``ResourceType`` a (valid) ``apiextensions.k8s.io/v1`` CRD registers."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    storage = next((v["name"] for v in spec["versions"] if v.get("storage")), served[0]["name"])
    has_status = any("status" in (v.get("subresources") or {}) for v in served)
    schemas = {
        v["name"]: (v.get("schema") or {}).get("openAPIV3Schema") or {} for v in spec["versions"]
    }
    columns = {v["name"]: list(v.get("additionalPrinterColumns") or []) for v in spec["versions"]}
    selectable = tuple(
        f["jsonPath"].lstrip(".") for v in served for f in (v.get("selectableFields") or [])
    )
    return ResourceType(
        group=spec["group"],
        versions=tuple(v["name"] for v in served),
        kind=names["kind"],
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        has_status=has_status,
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        field_selectors=BASE_FIELDS | frozenset(selectable),
        return_deleted_object=True,
        storage_version=storage,
        schemas=schemas,
        printer_columns=columns,
        custom=True,
        tracks_generation=True,
    )
