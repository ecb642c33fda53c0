"""Discovery documents (``/api``, ``/apis``, ``/apis/<g>/<v>``, ``/version``) and Tables.

Legacy (unaggregated) discovery: kubectl asks for aggregated discovery first
(``application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``) and falls back to
these documents when the answer's content type is plain ``application/json``.
``kubectl get`` asks for ``meta.k8s.io/v1`` ``Table`` renderings (``as=Table``), built here
from NAME, the CRD's ``additionalPrinterColumns`` and AGE.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ingot.apiserver import resources
from ingot.apiserver.resources import ResourceType

RawObject = dict[str, Any]

VERSION_INFO: RawObject = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-ingot.dev",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-11-29T00:00:00Z",
    "goVersion": "python3.11",
    "compiler": "ingot-apiserver",
    "platform": "linux/amd64",
}


def api_versions(server_address: str) -> RawObject:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> RawObject:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(group_versions: dict[str, list[str]]) -> RawObject:
    groups = [_group(g, vs) for g, vs in sorted(group_versions.items()) if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(name: str, versions: list[str]) -> RawObject:
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def api_resource_list(group: str, version: str, types: list[ResourceType]) -> RawObject:
    out: list[RawObject] = []
    for rt in sorted(types, key=lambda r: r.plural):
        if rt.group != group or version not in rt.versions:
            continue
        entry: RawObject = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(resources.VERBS),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        out.append(entry)
        if rt.has_status:
            out.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": out,
    }


def wants_table(accept: str) -> bool:
    """True when the Accept header asks for a meta.k8s.io Table rendering."""
    return "as=Table" in accept


def _age(created: str | None) -> str:
    if not created:
        return "<unknown>"
    try:
        then = dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((dt.datetime.now(dt.UTC) - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _json_path(obj: RawObject, path: str) -> Any:
    cur: Any = obj
    for part in path.lstrip(".").split("."):
        if not part:
            continue
        if isinstance(cur, dict):
            cur = cur.get(part)
        else:
            return None
    return cur


def _svc_external(obj: RawObject) -> str:
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    ips = [i.get("ip") or i.get("hostname") or "" for i in ingress if isinstance(i, dict)]
    if ips:
        return ",".join(ips)
    return "<pending>" if (obj.get("spec") or {}).get("type") == "LoadBalancer" else "<none>"


def _svc_ports(obj: RawObject) -> str:
    out = []
    for p in (obj.get("spec") or {}).get("ports") or []:
        text = str(p.get("port", ""))
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


#: columns kube-apiserver prints for built-ins (between NAME and AGE), reduced
_BUILTIN_COLUMNS: dict[tuple[str, str], list[tuple[str, Any]]] = {
    ("", "services"): [
        ("Type", lambda o: (o.get("spec") or {}).get("type", "")),
        ("Cluster-IP", lambda o: (o.get("spec") or {}).get("clusterIP", "")),
        ("External-IP", _svc_external),
        ("Port(s)", _svc_ports),
    ],
    ("", "namespaces"): [("Status", lambda o: (o.get("status") or {}).get("phase", ""))],
    ("coordination.k8s.io", "leases"): [
        ("Holder", lambda o: (o.get("spec") or {}).get("holderIdentity", "")),
    ],
}


def to_table(
    rt: ResourceType, version: str, objects: list[RawObject], list_meta: RawObject
) -> RawObject:
    """A ``meta.k8s.io/v1`` Table of ``objects`` (NAME, printer columns, AGE)."""
    columns: list[RawObject] = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}
    ]
    builtin = _BUILTIN_COLUMNS.get(rt.key, [])
    for title, _ in builtin:
        columns.append(
            {"name": title, "type": "string", "format": "", "description": title, "priority": 0}
        )
    extra = [c for c in rt.printer_columns.get(version, []) if c.get("jsonPath")]
    for col in extra:
        columns.append(
            {
                "name": col.get("name", ""),
                "type": col.get("type", "string"),
                "format": col.get("format", ""),
                "description": col.get("description", ""),
                "priority": col.get("priority", 0),
            }
        )
    columns.append(
        {"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0}
    )
    rows = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        cells: list[Any] = [meta.get("name", "")]
        cells.extend(fn(obj) for _, fn in builtin)
        for col in extra:
            value = _json_path(obj, col["jsonPath"])
            if col.get("type") == "date" and isinstance(value, str):
                value = _age(value)
            cells.append("" if value is None else value)
        cells.append(_age(meta.get("creationTimestamp")))
        rows.append(
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                },
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    }


def openapi_v3_root(group_versions: dict[str, list[str]]) -> RawObject:
    """The ``/openapi/v3`` index: one document per group-version (as kube-apiserver serves)."""
    paths: RawObject = {}
    for group, versions in sorted(group_versions.items()):
        for version in versions:
            gv_path = f"apis/{group}/{version}" if group else f"api/{version}"
            paths[gv_path] = {"serverRelativeURL": f"/openapi/v3/{gv_path}?hash=ingot"}
    return {"paths": paths}


def openapi_v3_group_version(group: str, version: str, types: list[ResourceType]) -> RawObject:
    """A minimal OpenAPI v3 document of one group-version.

    It declares, per kind, the item paths with GET/PUT/PATCH/DELETE operations tagged
    ``x-kubernetes-group-version-kind`` and the ``fieldValidation`` query parameter, which is
    what kubectl's QueryParamVerifierV3 looks for before it leaves validation to the server
    (``fieldValidation=Strict``). No schemas and no PATCH request body: kubectl then computes
    apply patches from its compiled-in types (strategic merge) or as JSON merge patches (CRs).
    """
    paths: RawObject = {}
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    params = [
        {
            "name": "fieldValidation",
            "in": "query",
            "schema": {"type": "string", "uniqueItems": True},
        },
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    ]
    schemas: RawObject = {}
    for rt in sorted(types, key=lambda r: r.plural):
        if rt.group != group or version not in rt.versions:
            continue
        gvk = {"group": group, "version": version, "kind": rt.kind}
        scope = "/namespaces/{namespace}" if rt.namespaced else ""
        item = f"{prefix}{scope}/{rt.plural}/{{name}}"
        collection = f"{prefix}{scope}/{rt.plural}"

        def op(action: str, *, gvk: RawObject = gvk) -> RawObject:
            return {
                "operationId": f"{action}{gvk['kind']}",
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
            }

        paths[item] = {
            "get": op("get"),
            "put": op("put"),
            "patch": op("patch"),
            "delete": op("delete"),
        }
        paths[collection] = {"get": op("list"), "post": op("post")}
        crd_schema = rt.schemas.get(version) if rt.custom else None
        if crd_schema:
            # the CRD's own schema, so that ``kubectl explain <kind>`` works for custom kinds
            reverse = ".".join(reversed(group.split(".")))
            schemas[f"{reverse}.{version}.{rt.kind}"] = {
                **crd_schema,
                "x-kubernetes-group-version-kind": [gvk],
            }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (ingot development server)", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
