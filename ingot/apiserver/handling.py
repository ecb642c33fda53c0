"""The request semantics of the kube-apiserver over the in-memory ``Store``.

``Backend`` implements create/get/update/patch/delete/deletecollection/list for every resource
type, with the behaviour of the real server's generic registry (k8s.io/apiserver
pkg/registry/generic/registry/store.go) that controllers depend on:

- create: 201; ``generateName`` + 5 random characters; ``uid``, ``creationTimestamp``,
  ``resourceVersion`` (one global counter), ``generation`` 1; 409 AlreadyExists; 404 when the
  namespace does not exist; status dropped on create for kinds with a status subresource
  (except Nodes); CRD objects are pruned, defaulted and validated against their schema (422).
- update (PUT) and patch: 409 Conflict when the body carries a stale ``resourceVersion``;
  custom resources need one on PUT (422), built-ins allow unconditional PUT; the main endpoint
  keeps ``.status``; ``/status`` keeps ``spec`` (for custom resources and CRDs: everything but
  ``.status``; for Services, Nodes and Pods metadata changes are kept too, see
  ``STATUS_KEEPS_METADATA``); system metadata never changes; ``generation`` bumps on spec changes;
  a write that changes nothing keeps the resourceVersion and emits no watch event.
- delete: honours ``preconditions``; with finalizers sets ``deletionTimestamp`` (MODIFIED)
  and the object goes away (DELETED) when the last finalizer is removed; no finalizer may be
  added during deletion (422); deleting a Namespace deletes its contents, deleting a CRD its
  custom resources.
- list: label and field selectors, ``limit``/``continue`` (pages are consistent at the first
  page's revision, rebuilt from the history; tokens older than it are Expired), list
  ``resourceVersion`` and ``resourceVersionMatch=Exact``.

All methods run on the server's event-loop thread only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import random
import uuid
from collections.abc import Callable
from typing import Any

from ingot.apiserver import builtins, errors, patching, resources, schema, selectors, typed
from ingot.apiserver.resources import ResourceType
from ingot.apiserver.store import Store, clone

RawObject = dict[str, Any]

_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
STATUS_KEEPS_METADATA: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "services"): (),
    ("", "nodes"): (),
    ("", "pods"): ("ownerReferences",),
}
"""Built-in kinds whose ``/status`` writes also persist metadata changes (labels, annotations,
finalizers...), with the extra metadata fields their status strategy resets from storage.

Kubernetes' status strategies for these kinds (``pkg/registry/core/{service,node,pod}/
strategy.go``, ``PrepareForUpdate``) reset only ``spec`` (Pods also ``ownerReferences``), so
metadata sent to ``/status`` is kept; MetalLB writes its pool annotation that way. Custom
resources (apiextensions ``customresource/status_strategy.go``: the stored object with only
``.status`` replaced) and CRDs (``ResetObjectMetaForStatus``) keep everything but ``.status``.
"""

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def now_rfc3339() -> str:
    """UTC now as RFC 3339 with second precision (metav1.Time)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Backend:
    """Resource types + store + semantics. See the module docstring."""

    def __init__(self, *, history_size: int) -> None:
        self.store = Store(history_size=history_size)
        self.types: dict[tuple[str, str], ResourceType] = {}
        self._validators: dict[tuple[str, str, str], Any] = {}
        self.alloc = builtins.IPAllocator()
        self.on_type_removed: Callable[[tuple[str, str]], None] = lambda key: None
        #: runs ``fn`` after ``delay_s`` on the loop thread (the server installs call_later)
        self.schedule: Callable[[float, Callable[[], None]], Any] = lambda delay_s, fn: fn()
        #: fieldValidation of the request being served (Ignore, Warn, Strict) and its warnings
        self.field_validation = "Warn"
        self.warnings: list[str] = []
        #: how long a deleted Namespace stays Terminating before its contents go
        self.namespace_finalize_delay_s = 0.05
        for rt in resources.builtin_types():
            self.types[rt.key] = rt
        ns_rt = self.types[("", "namespaces")]
        for name in _INITIAL_NAMESPACES:
            self.create(ns_rt, "v1", None, {"metadata": {"name": name}})

    # ------------------------------------------------------------------ type lookup

    def lookup(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.types.get((group, plural))
        if rt is None or version not in rt.versions:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        return rt

    def lookup_kind(self, api_version: str, kind: str) -> tuple[ResourceType, str]:
        group, _, version = api_version.rpartition("/")
        for rt in self.types.values():
            if rt.group == group and rt.kind == kind and version in rt.versions:
                return rt, version
        raise errors.ApiError(
            404,
            "NotFound",
            f'no matches for kind "{kind}" in version "{api_version}"',
            kind=kind,
            group=group,
        )

    def group_versions(self) -> dict[str, list[str]]:
        """Served versions by group ("" is the core group), preferred first."""
        out: dict[str, list[str]] = {}
        for rt in self.types.values():
            versions = out.setdefault(rt.group, [])
            for v in [rt.preferred_version, *rt.versions]:
                if v not in versions and v in rt.versions:
                    versions.append(v)
        return out

    # ------------------------------------------------------------------ helpers

    def output(
        self, rt: ResourceType, version: str, obj: RawObject, *, typed: bool = True
    ) -> RawObject:
        """A copy of a stored object as served at ``version`` (kind/apiVersion set)."""
        out = clone(obj)
        if rt.key == builtins.EVENTS_V1:
            out = builtins.event_to_v1(out)
        if typed:
            return {
                "apiVersion": rt.api_version(version),
                "kind": rt.kind,
                **{k: v for k, v in out.items() if k not in ("apiVersion", "kind")},
            }
        out.pop("apiVersion", None)
        out.pop("kind", None)
        return out

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> tuple[str, str]:
        return (namespace or "" if rt.namespaced else "", name)

    def _convert_in(self, rt: ResourceType, obj: RawObject) -> RawObject:
        """Validate and convert a request object to the stored form (events.k8s.io -> core)."""
        if rt.key != builtins.EVENTS_V1:
            return obj
        causes = builtins.validate_event_v1(obj)
        if causes:
            name = (obj.get("metadata") or {}).get("name", "")
            raise errors.invalid(rt.kind, rt.group, name, causes)
        return builtins.event_from_v1(obj)

    def _must_get(self, rt: ResourceType, namespace: str | None, name: str) -> RawObject:
        obj = self.store.get(rt.skey, self._key(rt, namespace, name))
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    def _check_namespace(self, rt: ResourceType, namespace: str | None) -> None:
        if not rt.namespaced:
            return
        ns = self.store.get(("", "namespaces"), ("", namespace or ""))
        if ns is None:
            raise errors.not_found("namespaces", "", namespace or "")
        if (ns.get("metadata") or {}).get("deletionTimestamp"):
            raise errors.ApiError(
                403,
                "Forbidden",
                f"{rt.plural} is forbidden: unable to create new content in namespace "
                f"{namespace} because it is being terminated",
            )

    def _unknown_fields(self, removed: list[str]) -> None:
        """Apply ``fieldValidation`` to dropped unknown fields (400 when Strict, else warn)."""
        unknown = [f'unknown field "{path}"' for path in removed]
        if unknown and self.field_validation == "Strict":
            raise errors.bad_request("strict decoding error: " + ", ".join(unknown))
        if unknown and self.field_validation == "Warn":
            self.warnings.extend(unknown)

    def _validator(self, rt: ResourceType, version: str) -> Any:
        key = (rt.group, rt.plural, version)
        if key not in self._validators:
            self._validators[key] = schema.compile_validator(rt.schemas.get(version) or {})
        return self._validators[key]

    def _admit(self, rt: ResourceType, version: str, obj: RawObject, old: RawObject | None) -> None:
        """Defaults, pruning and validation for the kind; raises 422 Invalid."""
        meta = obj["metadata"]
        name = meta.get("name", "")
        causes: list[errors.Cause] = []
        for key in ("labels", "annotations"):
            value = meta.get(key)
            if value is not None and (
                not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
            ):
                causes.append(
                    errors.Cause(
                        "FieldValueTypeMismatch", "must be a map of strings", f"metadata.{key}"
                    )
                )
        if not causes:
            causes = builtins.metadata_causes(meta)
        if causes:
            raise errors.invalid(rt.kind, rt.group, name, causes)
        if rt.custom:
            sch = rt.schemas.get(version) or {}
            removed: list[str] = []
            schema.prune(obj, sch, root=True, removed=removed)
            self._unknown_fields(removed)
            schema.apply_defaults(obj, sch)
            causes = schema.validate(obj, sch, self._validator(rt, version))
        else:
            unknown, mismatches = typed.inspect(rt.skey, obj, prune=True)
            if mismatches:
                raise _decode_error(rt, version, "; ".join(mismatches))
            self._unknown_fields(unknown)
            try:
                builtins.prepare(rt, obj, old, self.alloc)
                causes = builtins.validate(rt, obj, old)
                if rt.key == CRD_KEY:
                    causes += validate_crd(obj, self)
            except (AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
                # a shape the Go structs could not have decoded
                raise _decode_error(rt, version, f"{type(exc).__name__}: {exc}") from None
        if causes:
            raise errors.invalid(rt.kind, rt.group, name, causes)

    # ------------------------------------------------------------------ verbs

    def get(self, rt: ResourceType, version: str, namespace: str | None, name: str) -> RawObject:
        return self.output(rt, version, self._must_get(rt, namespace, name))

    def create(
        self,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
    ) -> RawObject:
        obj = self._convert_in(rt, _check_body(rt, version, body))
        meta = obj["metadata"]
        if rt.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            namespace = namespace or meta.get("namespace") or ""
            meta["namespace"] = namespace
            self._check_namespace(rt, namespace)
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise errors.internal_error(
                "resourceVersion should not be set on objects to be created"
            )
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    "",
                    [
                        errors.Cause(
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                            "metadata.name",
                        )
                    ],
                )
            # like RetryGenerateName (GA in 1.32): up to 8 tries before AlreadyExists
            for _ in range(8):
                meta["name"] = prefix + "".join(random.choices(_GENERATE_ALPHABET, k=5))
                if self.store.get(rt.skey, self._key(rt, namespace, meta["name"])) is None:
                    break
        name = meta["name"]
        causes = builtins.name_causes(rt, name)
        if causes:
            raise errors.invalid(rt.kind, rt.group, name, causes)
        key = self._key(rt, namespace, name)
        if self.store.get(rt.skey, key) is not None:
            raise errors.already_exists(rt.plural, rt.group, name)
        for drop in (
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ):
            meta.pop(drop, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if rt.tracks_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if rt.has_status and rt.key not in (("", "nodes"), CRD_KEY):
            obj.pop("status", None)
        self._admit(rt, version, obj, None)
        if rt.key == CRD_KEY:
            obj["status"] = crd_status(obj)
        if dry_run:
            return self.output(rt, version, obj)
        meta["resourceVersion"] = str(self.store.next_rv())
        obj["apiVersion"] = rt.stored_api_version
        self.store.put(rt.skey, key, obj, None)
        if rt.key == CRD_KEY:
            self._register_crd(obj)
        return self.output(rt, version, obj)

    def update(
        self,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> RawObject:
        candidate = _check_body(rt, version, body)
        meta = candidate["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        old = self._must_get(rt, namespace, name)
        want_rv = meta.get("resourceVersion")
        if not want_rv and rt.custom:
            raise errors.invalid(
                rt.kind,
                rt.group,
                name,
                [
                    errors.Cause(
                        "FieldValueInvalid",
                        "Invalid value: 0x0: must be specified for an update",
                        "metadata.resourceVersion",
                    )
                ],
            )
        return self._write(
            rt, version, old, candidate, want_rv=want_rv, subresource=subresource, dry_run=dry_run
        )

    def patch(
        self,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        name: str,
        raw_patch: Any,
        content_type: str,
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> RawObject:
        old = self._must_get(rt, namespace, name)
        current = self.output(rt, version, old)
        try:
            if content_type == MERGE_PATCH:
                if not isinstance(raw_patch, dict):
                    raise errors.bad_request("merge patch must be a JSON object")
                candidate = patching.merge_patch(current, raw_patch)
            elif content_type == JSON_PATCH:
                candidate = patching.json_patch(current, raw_patch)
            elif content_type == STRATEGIC_PATCH:
                if rt.custom:
                    raise errors.unsupported_media_type(content_type)
                if not isinstance(raw_patch, dict):
                    raise errors.bad_request("strategic merge patch must be a JSON object")
                candidate = patching.strategic_merge_patch(current, raw_patch)
            else:
                raise errors.unsupported_media_type(content_type)
        except errors.ApiError as exc:
            if exc.code == 422:
                raise errors.invalid(rt.kind, rt.group, name, exc.causes) from None
            raise
        if not isinstance(candidate, dict) or not isinstance(candidate.get("metadata"), dict):
            raise errors.bad_request("the patched object must be a JSON object with metadata")
        candidate_meta = candidate["metadata"]
        check_meta(rt, version, candidate_meta)
        if candidate_meta.get("name", name) != name:
            raise errors.bad_request("metadata.name cannot be changed by a patch")
        want_rv = candidate_meta.get("resourceVersion")
        candidate_meta["name"] = name
        return self._write(
            rt, version, old, candidate, want_rv=want_rv, subresource=subresource, dry_run=dry_run
        )

    def _write(
        self,
        rt: ResourceType,
        version: str,
        old: RawObject,
        candidate: RawObject,
        *,
        want_rv: str | None,
        subresource: str,
        dry_run: bool,
    ) -> RawObject:
        candidate = self._convert_in(rt, candidate)
        old_meta = old["metadata"]
        name = old_meta["name"]
        if want_rv and str(want_rv) != old_meta["resourceVersion"]:
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                "the object has been modified; please apply your changes to the latest version "
                "and try again",
            )
        new_uid = candidate["metadata"].get("uid")
        if new_uid and new_uid != old_meta["uid"]:
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {new_uid}, UID in object meta: "
                f"{old_meta['uid']}",
            )
        if subresource == "status":
            new = clone(old)
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
            if rt.key in STATUS_KEEPS_METADATA:
                new["metadata"] = _updated_meta(
                    candidate["metadata"], old_meta, also_keep=STATUS_KEEPS_METADATA[rt.key]
                )
        else:
            new = candidate
            if rt.has_status:
                if "status" in old:
                    new["status"] = clone(old["status"])
                else:
                    new.pop("status", None)
            new["metadata"] = _updated_meta(new["metadata"], old_meta)
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        self._admit(rt, version, new, old)
        if rt.key == CRD_KEY:
            new["status"] = crd_status(new, old.get("status"))
        if old_meta.get("deletionTimestamp"):
            added = set(new["metadata"].get("finalizers") or []) - set(
                old_meta.get("finalizers") or []
            )
            if added:
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    name,
                    [
                        errors.Cause(
                            "FieldValueForbidden",
                            "Forbidden: no new finalizers can be added if the object is being "
                            "deleted, found new finalizers " + json.dumps(sorted(added)),
                            "metadata.finalizers",
                        )
                    ],
                )
        if rt.tracks_generation and _spec_of(new) != _spec_of(old):
            new["metadata"]["generation"] = int(old_meta.get("generation") or 1) + 1
        new["apiVersion"] = old.get("apiVersion", rt.api_version(rt.preferred_version))
        new["kind"] = rt.kind
        if _same(new, old):
            return self.output(rt, version, old)
        if dry_run:
            return self.output(rt, version, new)
        key = self._key(rt, old_meta.get("namespace"), name)
        new["metadata"]["resourceVersion"] = str(self.store.next_rv())
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._finish_delete(rt, key, new, old)
        else:
            self.store.put(rt.skey, key, new, old)
            if rt.key == CRD_KEY:
                self._register_crd(new)
        return self.output(rt, version, new)

    def delete(
        self,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        name: str,
        options: Any,
        *,
        dry_run: bool = False,
    ) -> RawObject:
        old = self._must_get(rt, namespace, name)
        meta = old["metadata"]
        if options is not None and not isinstance(options, dict):
            raise errors.bad_request("DeleteOptions must be a JSON object")
        pre = (options or {}).get("preconditions") or {}
        if not isinstance(pre, dict) or not all(
            isinstance(pre.get(k), (str, type(None))) for k in ("uid", "resourceVersion")
        ):
            raise errors.bad_request(
                "DeleteOptions.preconditions: want {uid, resourceVersion} strings"
            )
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
                f"{meta['uid']}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {meta['resourceVersion']}",
            )
        key = self._key(rt, namespace, name)
        if meta.get("finalizers") or rt.key == ("", "namespaces"):
            if meta.get("deletionTimestamp") or dry_run:
                return self.output(rt, version, old)
            new = clone(old)
            new["metadata"]["deletionTimestamp"] = now_rfc3339()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if rt.key == ("", "namespaces"):
                new.setdefault("status", {})["phase"] = "Terminating"
                self.schedule(
                    self.namespace_finalize_delay_s, lambda: self._finalize_namespace(name)
                )
            new["metadata"]["resourceVersion"] = str(self.store.next_rv())
            self.store.put(rt.skey, key, new, old)
            return self.output(rt, version, new)
        if dry_run:
            return self.output(rt, version, old)
        final = clone(old)
        final["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self._finish_delete(rt, key, final, old)
        if rt.return_deleted_object:
            return self.output(rt, version, final)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": meta["uid"]},
        }

    def _finish_delete(
        self, rt: ResourceType, key: tuple[str, str], final: RawObject, old: RawObject
    ) -> None:
        self.store.remove(rt.skey, key, final, old)
        if rt.key == CRD_KEY:
            self._unregister_crd(old)

    def _finalize_namespace(self, name: str) -> None:
        """What the namespace controller does: delete the contents, then the Namespace."""
        rt = self.types[("", "namespaces")]
        old = self.store.get(rt.skey, ("", name))
        if old is None:
            return
        self._delete_namespace_contents(name)
        final = clone(old)
        final["metadata"]["resourceVersion"] = str(self.store.next_rv())
        final.setdefault("spec", {})["finalizers"] = []
        self._finish_delete(rt, ("", name), final, old)

    def _delete_namespace_contents(self, namespace: str) -> None:
        for rt in list(self.types.values()):
            if not rt.namespaced:
                continue
            for obj in list(self.store.items(rt.skey, namespace)):
                final = clone(obj)
                final["metadata"]["resourceVersion"] = str(self.store.next_rv())
                self.store.remove(rt.skey, (namespace, obj["metadata"]["name"]), final, obj)

    def delete_collection(
        self,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        *,
        label_selector: str | None,
        field_selector: str | None,
        options: Any,
        dry_run: bool = False,
    ) -> RawObject:
        listed = self.list(
            rt, version, namespace, label_selector=label_selector, field_selector=field_selector
        )
        items: list[RawObject] = []
        for item in listed["items"]:
            meta = item["metadata"]
            self.delete(rt, version, meta.get("namespace"), meta["name"], options, dry_run=dry_run)
            items.append(item)
        listed["items"] = items
        listed["metadata"] = {"resourceVersion": str(self.store.rv)}
        return listed

    def matcher(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None,
        field_selector: str | None,
    ) -> Callable[[RawObject], bool]:
        """A predicate over stored objects (namespace + selectors); raises 400 on bad selectors."""
        lsel = selectors.parse_label_selector(label_selector)
        fsel = selectors.parse_field_selector(field_selector, allowed=rt.field_selectors)
        ns = namespace if rt.namespaced else None
        translate = builtins.event_field_path_v1 if rt.key == builtins.EVENTS_V1 else str

        def matches(obj: RawObject) -> bool:
            meta = obj.get("metadata") or {}
            if ns and meta.get("namespace") != ns:
                return False
            if not lsel.matches(meta.get("labels")):
                return False
            return fsel.matches(lambda path: selectors.field_value(obj, translate(path)))

        return matches

    def list(
        self,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
    ) -> RawObject:
        matches = self.matcher(
            rt, namespace, label_selector=label_selector, field_selector=field_selector
        )
        list_rv = self.store.rv
        if resource_version not in (None, "", "0"):
            wanted = _parse_rv(resource_version)
            if wanted > self.store.rv:
                raise errors.ApiError(
                    504,
                    "Timeout",
                    f"Too large resource version: {wanted}, current: {self.store.rv}",
                )
            if resource_version_match == "Exact" and wanted != self.store.rv:
                if wanted < self.store.floor:
                    raise errors.expired(f"too old resource version: {wanted} ({self.store.floor})")
                list_rv = wanted
        start_after: tuple[str, str] | None = None
        if continue_token:
            list_rv, start_after = _decode_continue(continue_token)
            if list_rv < self.store.floor:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                )
        ns = namespace if rt.namespaced else None
        if list_rv == self.store.rv:
            source = self.store.items(rt.skey, ns)
        else:  # a consistent page: the state at list_rv, rebuilt from the history
            source = self.store.items_at(rt.skey, list_rv, ns)
        items: list[RawObject] = []
        remaining = 0
        for obj in source:
            meta = obj["metadata"]
            pos = (meta.get("namespace", ""), meta["name"])
            if start_after is not None and pos <= start_after:
                continue
            if not matches(obj):
                continue
            if limit and len(items) >= limit:
                remaining += 1
                continue
            items.append(obj)
        list_meta: RawObject = {"resourceVersion": str(list_rv)}
        if remaining and items:
            last = items[-1]["metadata"]
            list_meta["continue"] = _encode_continue(
                list_rv, (last.get("namespace", ""), last["name"])
            )
            list_meta["remainingItemCount"] = remaining
        return {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.api_version(version),
            "metadata": list_meta,
            "items": [self.output(rt, version, o, typed=rt.custom) for o in items],
        }

    # ------------------------------------------------------------------ CRDs

    def _register_crd(self, crd: RawObject) -> None:
        rt = resources.from_crd(crd)
        old = self.types.get(rt.key)
        self.types[rt.key] = rt
        for key in [k for k in self._validators if (k[0], k[1]) == rt.key]:
            del self._validators[key]
        if old is not None and old.namespaced != rt.namespaced:
            self.store.drop_type(rt.key)

    def _unregister_crd(self, crd: RawObject) -> None:
        spec = crd["spec"]
        key = (spec["group"], spec["names"]["plural"])
        rt = self.types.get(key)
        if rt is None or not rt.custom:
            return
        for obj in list(self.store.items(key)):
            final = clone(obj)
            final["metadata"]["resourceVersion"] = str(self.store.next_rv())
            self.store.remove(
                key, (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]), final, obj
            )
        del self.types[key]
        self.store.drop_type(key)
        self.on_type_removed(key)


def _parse_rv(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise errors.bad_request(f'invalid resourceVersion "{text}"') from None
    if value < 0:
        raise errors.bad_request(f'invalid resourceVersion "{text}"')
    return value


def parse_rv(text: str) -> int:
    """A client-supplied resourceVersion as int (400 BadRequest when not one of ours)."""
    return _parse_rv(text)


def _encode_continue(rv: int, start_after: tuple[str, str]) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(start_after)})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token.encode()))
        namespace, name = raw["start"]
        return int(raw["rv"]), (str(namespace), str(name))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise errors.bad_request("continue key is not valid") from None


def _decode_error(rt: ResourceType, version: str, detail: str) -> errors.ApiError:
    return errors.bad_request(
        f'{rt.kind} in version "{version}" cannot be handled as a {rt.kind}: {detail}'
    )


_META_STRINGS = ("name", "generateName", "namespace", "resourceVersion", "uid")


def check_meta(rt: ResourceType, version: str, meta: Any) -> None:
    """Basic ObjectMeta types (what decoding into metav1.ObjectMeta checks); 400 otherwise."""
    if not isinstance(meta, dict):
        raise _decode_error(rt, version, "metadata: want object")
    for key in _META_STRINGS:
        if key in meta and meta[key] is not None and not isinstance(meta[key], str):
            raise _decode_error(rt, version, f"metadata.{key}: want string")
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is not None and (
            not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
        ):
            raise _decode_error(rt, version, f"metadata.{key}: want map of strings")
    for key in ("finalizers",):
        value = meta.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise _decode_error(rt, version, f"metadata.{key}: want list of strings")
    if meta.get("ownerReferences") is not None and not isinstance(meta["ownerReferences"], list):
        raise _decode_error(rt, version, "metadata.ownerReferences: want list")


def _check_body(rt: ResourceType, version: str, body: Any) -> RawObject:
    if not isinstance(body, dict):
        raise errors.bad_request(f"the body of a {rt.kind} must be a JSON object")
    obj = clone(body)
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if kind and kind != rt.kind:
        raise errors.bad_request(
            f"the kind of the request body ({kind}) does not match the resource {rt.qualified()} "
            f"(kind {rt.kind})"
        )
    if api_version and api_version != rt.api_version(version):
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({rt.api_version(version)})"
        )
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    check_meta(rt, version, meta)
    obj["apiVersion"] = rt.api_version(version)
    obj["kind"] = rt.kind
    return obj


_SYSTEM_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "namespace",
    "name",
)
"""ObjectMeta fields no update can change (generic registry ``rest.BeforeUpdate``)."""


def _updated_meta(
    meta: RawObject, old_meta: RawObject, *, also_keep: tuple[str, ...] = ()
) -> RawObject:
    """``meta`` from a write with the system fields (and ``also_keep``) taken from storage."""
    out = dict(meta)
    for keep in _SYSTEM_META + also_keep:
        if keep in old_meta:
            out[keep] = clone(old_meta[keep])
        else:
            out.pop(keep, None)
    out.pop("managedFields", None)
    out.pop("selfLink", None)
    return out


def _spec_of(obj: RawObject) -> RawObject:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _same(new: RawObject, old: RawObject) -> bool:
    a = dict(new)
    b = dict(old)
    a["metadata"] = {k: v for k, v in new["metadata"].items() if k != "resourceVersion"}
    b["metadata"] = {k: v for k, v in old["metadata"].items() if k != "resourceVersion"}
    return a == b


def validate_crd(crd: RawObject, backend: Backend) -> list[errors.Cause]:
    """Validation of a CustomResourceDefinition (names, versions, structural schemas)."""
    causes: list[errors.Cause] = []
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [errors.Cause("FieldValueRequired", "Required value", "spec")]
    group = spec.get("group")
    names: RawObject = spec["names"] if isinstance(spec.get("names"), dict) else {}
    plural = names.get("plural")
    if not group or not isinstance(group, str) or "." not in group:
        causes.append(
            errors.Cause(
                "FieldValueInvalid", "should be a domain with at least one dot", "spec.group"
            )
        )
    for key in ("plural", "kind"):
        if not names.get(key):
            causes.append(errors.Cause("FieldValueRequired", "Required value", f"spec.names.{key}"))
    if plural:
        names.setdefault("singular", str(names.get("kind", "")).lower())
        names.setdefault("listKind", f"{names.get('kind')}List")
    expected = f"{plural}.{group}"
    if crd["metadata"].get("name") != expected:
        causes.append(
            errors.Cause(
                "FieldValueInvalid",
                f'Invalid value: "{crd["metadata"].get("name")}": must be spec.names.plural+"."+'
                "spec.group",
                "metadata.name",
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            errors.Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", '
                '"Namespaced"',
                "spec.scope",
            )
        )
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        causes.append(
            errors.Cause("FieldValueInvalid", "must have at least one version", "spec.versions")
        )
        return causes
    storage = [v for v in versions if isinstance(v, dict) and v.get("storage")]
    if len(storage) != 1:
        causes.append(
            errors.Cause(
                "FieldValueInvalid",
                "must have exactly one version marked as storage version",
                "spec.versions",
            )
        )
    for i, v in enumerate(versions):
        path = f"spec.versions[{i}]"
        if not isinstance(v, dict) or not v.get("name"):
            causes.append(errors.Cause("FieldValueRequired", "Required value", f"{path}.name"))
            continue
        v.setdefault("served", True)
        v.setdefault("storage", False)
        sch = (v.get("schema") or {}).get("openAPIV3Schema")
        if sch is None:
            causes.append(
                errors.Cause(
                    "FieldValueRequired",
                    "Required value: schemas are required",
                    f"{path}.schema.openAPIV3Schema",
                )
            )
            continue
        causes.extend(schema.structural_errors(sch, path=f"{path}.schema.openAPIV3Schema"))
    if plural and group and not causes:
        existing = backend.types.get((group, plural))
        if existing is not None and not existing.custom:
            causes.append(
                errors.Cause(
                    "FieldValueInvalid", "conflicts with a built-in resource", "spec.names.plural"
                )
            )
    spec.setdefault("conversion", {"strategy": "None"})
    return causes


def crd_status(crd: RawObject, old_status: RawObject | None = None) -> RawObject:
    """The status the apiextensions controllers would set: names accepted, established."""
    when = now_rfc3339()
    old_conditions = {c.get("type"): c for c in (old_status or {}).get("conditions") or []}

    def cond(kind: str, reason: str, message: str) -> RawObject:
        prev = old_conditions.get(kind)
        return {
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": (prev or {}).get("lastTransitionTime", when),
        }

    spec = crd["spec"]
    stored = list((old_status or {}).get("storedVersions") or [])
    for v in spec["versions"]:
        if v.get("storage") and v["name"] not in stored:
            stored.append(v["name"])
    return {
        "conditions": [
            cond("NamesAccepted", "NoConflicts", "no conflicts found"),
            cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": clone(spec["names"]),
        "storedVersions": stored,
    }


def clone_with_rv(doc: RawObject, current: RawObject) -> RawObject:
    """A copy of ``doc`` carrying ``current``'s resourceVersion (an update of what is stored)."""
    out = clone(doc)
    meta = out.setdefault("metadata", {})
    meta["resourceVersion"] = current["metadata"]["resourceVersion"]
    return out
