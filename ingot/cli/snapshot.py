"""A snapshot of everything ``ingot status`` / ``explain`` / ``plan`` look at, as plain dicts.

The snapshot is the only input of the pure report functions (:mod:`ingot.cli.analysis`,
:mod:`ingot.cli.reports`), so they can be tested on recorded snapshots (a YAML stream of
objects, as ``kubectl get -o yaml`` prints them) and run against any cluster. Reading it from a
live API is :mod:`ingot.cli.cluster`'s job.

Secrets are redacted on the way in (every ``data`` value becomes the base64 of
``"<redacted>"``, every ``stringData`` value ``"<redacted>"``, annotations dropped), and so is
an inline ``BGPPeer.spec.password``: the compiler still sees which keys and fields exist, so a
missing password key is still reported, but no password is ever held or printed by the CLI.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ingot.api.compile import KIND_FIELDS, ClusterResources
from ingot.kube.lease import parse_time as parse_time  # Lease times read as the speaker reads them

RawObject = Mapping[str, Any]

REDACTED = "<redacted>"
_REDACTED_B64 = base64.b64encode(REDACTED.encode()).decode()

# Kinds the snapshot keeps besides the compiler's inputs (ClusterResources).
EXTRA_KINDS = {
    "Service": "services",
    "EndpointSlice": "endpoint_slices",
    "Lease": "leases",
    "ConfigurationState": "configuration_states",
    "ServiceL2Status": "l2_statuses",
    "ServiceBGPStatus": "bgp_statuses",
}


def redact_secret(raw: RawObject) -> dict[str, Any]:
    """A copy of a Secret with every value replaced (keys kept, see the module docstring).

    Annotations are dropped too: ``kubectl apply`` keeps the whole Secret, values included,
    in ``kubectl.kubernetes.io/last-applied-configuration``.
    """
    out = dict(raw)
    md = dict(out.get("metadata") or {})
    md.pop("annotations", None)
    md.pop("managedFields", None)
    out["metadata"] = md
    if isinstance(out.get("data"), Mapping):
        out["data"] = {k: _REDACTED_B64 for k in out["data"]}
    if isinstance(out.get("stringData"), Mapping):
        out["stringData"] = {k: REDACTED for k in out["stringData"]}
    return out


def redact_peer(raw: RawObject) -> dict[str, Any]:
    """A copy of a BGPPeer with an inline ``spec.password`` replaced and annotations dropped."""
    out = dict(raw)
    md = dict(out.get("metadata") or {})
    md.pop("annotations", None)
    md.pop("managedFields", None)
    out["metadata"] = md
    spec = out.get("spec")
    if isinstance(spec, Mapping) and spec.get("password"):
        out["spec"] = {**spec, "password": REDACTED}
    return out


def _meta(raw: RawObject) -> tuple[str, str]:
    md = raw.get("metadata") or {}
    return str(md.get("namespace") or ""), str(md.get("name") or "")


@dataclass(frozen=True)
class Snapshot:
    """What the CLI knows about one cluster at one instant.

    Attributes:
        namespace: ingot's namespace (metallb.io objects, Leases, status objects).
        now_s: the instant of the snapshot, seconds since the epoch (Lease expiry is judged
            against it, not against the CLI's clock, so recorded snapshots stay reproducible).
        resources: the compiler's inputs (metallb.io kinds, Namespaces, Nodes, redacted
            Secrets).
        services: every Service (all namespaces).
        endpoint_slices: every EndpointSlice (all namespaces).
        leases: Leases in ``namespace`` (the speakers' ``ingot-speaker-<node>``).
        configuration_states: ``ConfigurationState`` objects (controller, speakers).
        l2_statuses: ``ServiceL2Status`` objects (who announces what, as the speakers say).
        bgp_statuses: ``ServiceBGPStatus`` objects.
        notes: what could not be read (missing CRD, RBAC), for the report.
    """

    namespace: str
    now_s: float
    resources: ClusterResources = field(default_factory=ClusterResources)
    services: tuple[RawObject, ...] = ()
    endpoint_slices: tuple[RawObject, ...] = ()
    leases: tuple[RawObject, ...] = ()
    configuration_states: tuple[RawObject, ...] = ()
    l2_statuses: tuple[RawObject, ...] = ()
    bgp_statuses: tuple[RawObject, ...] = ()
    notes: tuple[str, ...] = ()

    @classmethod
    def from_objects(
        cls, objects: Iterable[RawObject], *, namespace: str, now_s: float
    ) -> Snapshot:
        """Sort a mixed stream of objects by kind (``List`` objects unpacked; others ignored)."""
        flat: list[RawObject] = []
        stack = list(objects)[::-1]
        while stack:
            obj = stack.pop()
            if not isinstance(obj, Mapping):
                continue
            kind = str(obj.get("kind", ""))
            items = obj.get("items")
            if kind.endswith("List") and isinstance(items, list):
                item_kind = kind[: -len("List")]
                stack.extend(
                    {**i, "kind": i.get("kind") or item_kind}
                    for i in reversed(items)
                    if isinstance(i, Mapping)
                )
                continue
            flat.append(obj)
        extra: dict[str, list[RawObject]] = {v: [] for v in EXTRA_KINDS.values()}
        config: list[RawObject] = []
        for obj in flat:
            kind = str(obj.get("kind", ""))
            if kind in EXTRA_KINDS:
                extra[EXTRA_KINDS[kind]].append(obj)
            elif kind == "Secret":
                config.append(redact_secret(obj))
            elif kind == "BGPPeer":
                config.append(redact_peer(obj))
            elif kind in KIND_FIELDS:
                config.append(obj)
        return cls(
            namespace=namespace,
            now_s=now_s,
            resources=ClusterResources.from_objects(config),
            services=tuple(extra["services"]),
            endpoint_slices=tuple(extra["endpoint_slices"]),
            leases=tuple(extra["leases"]),
            configuration_states=tuple(extra["configuration_states"]),
            l2_statuses=tuple(extra["l2_statuses"]),
            bgp_statuses=tuple(extra["bgp_statuses"]),
        )

    def objects(self) -> tuple[RawObject, ...]:
        """Every object of the snapshot (compiler inputs first)."""
        out: list[RawObject] = list(self.resources.objects())
        for attr in EXTRA_KINDS.values():
            out.extend(getattr(self, attr))
        return tuple(out)

    def with_changes(
        self,
        upserts: Iterable[RawObject] = (),
        deletes: Iterable[tuple[str, str, str]] = (),
    ) -> Snapshot:
        """A copy with objects replaced/added (same kind, namespace, name) and others removed.

        Args:
            upserts: objects to add or replace. Config objects without a namespace are put in
                :attr:`namespace` (as ``kubectl apply -n`` would).
            deletes: ``(kind, namespace, name)`` triples; namespace ``""`` for cluster-scoped
                kinds, and for config kinds it means :attr:`namespace`.
        """
        cluster_scoped = {"Node", "Namespace"}
        drop: set[tuple[str, str, str]] = set()
        for kind, ns, name in deletes:
            if not ns and kind not in cluster_scoped:
                ns = self.namespace
            drop.add((kind, ns, name))
        adds: list[RawObject] = []
        for raw in upserts:
            kind = str(raw.get("kind", ""))
            md = dict(raw.get("metadata") or {})
            if kind not in cluster_scoped and not md.get("namespace"):
                md["namespace"] = self.namespace if kind != "Service" else "default"
                raw = {**raw, "metadata": md}
            key = (kind, *_meta(raw))
            if kind == "Service" and not raw.get("status"):
                # a manifest has no status: the Service keeps what it holds now
                current = next((o for o in self.services if ("Service", *_meta(o)) == key), None)
                if current is not None and current.get("status"):
                    raw = {**raw, "status": current["status"]}
            drop.add(key)
            adds.append(raw)
        kept = [o for o in self.objects() if (str(o.get("kind", "")), *_meta(o)) not in drop]
        fresh = Snapshot.from_objects([*kept, *adds], namespace=self.namespace, now_s=self.now_s)
        return replace(fresh, notes=self.notes)
