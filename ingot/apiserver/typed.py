"""Unknown-field handling for built-in kinds, from the Kubernetes OpenAPI definitions.

The real server decodes built-in objects into Go structs, so fields it does not know vanish
(``fieldValidation=Warn``, the default, adds a warning; ``Strict``, what kubectl sends, is a 400
"strict decoding error: unknown field"). This module finds those fields with the JSON schemas
bundled by ``kubernetes-validate`` (Kubernetes 1.37 definitions, matching the client). When
that package is not installed, built-in objects are stored as sent (see docs/apiserver.md).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

RawObject = dict[str, Any]

_SCHEMA_DIR = "v1.37.0-local"

#: (group, plural) -> definition name of the built-in kinds served
DEFINITIONS: dict[tuple[str, str], str] = {
    ("", "namespaces"): "io.k8s.api.core.v1.Namespace",
    ("", "services"): "io.k8s.api.core.v1.Service",
    ("", "nodes"): "io.k8s.api.core.v1.Node",
    ("", "secrets"): "io.k8s.api.core.v1.Secret",
    ("", "configmaps"): "io.k8s.api.core.v1.ConfigMap",
    ("", "events"): "io.k8s.api.core.v1.Event",
    ("", "pods"): "io.k8s.api.core.v1.Pod",
    ("", "serviceaccounts"): "io.k8s.api.core.v1.ServiceAccount",
    ("", "endpoints"): "io.k8s.api.core.v1.Endpoints",
    ("discovery.k8s.io", "endpointslices"): "io.k8s.api.discovery.v1.EndpointSlice",
    ("events.k8s.io", "events"): "io.k8s.api.events.v1.Event",
    ("coordination.k8s.io", "leases"): "io.k8s.api.coordination.v1.Lease",
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): (
        "io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration"
    ),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): (
        "io.k8s.api.admissionregistration.v1.MutatingWebhookConfiguration"
    ),
}


@functools.cache
def _definitions() -> dict[str, RawObject] | None:
    try:
        import kubernetes_validate
    except ImportError:
        return None
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    path = root / _SCHEMA_DIR / "_definitions.json"
    if not path.exists():
        candidates = sorted(root.glob("v*-local/_definitions.json"))
        if not candidates:
            return None
        path = candidates[-1]
    defs = json.loads(path.read_text())
    result = defs.get("$defs") or defs.get("definitions")
    return result if isinstance(result, dict) else None


def available() -> bool:
    """True when the Kubernetes definitions could be loaded."""
    return _definitions() is not None


def _resolve(schema: Any, defs: dict[str, RawObject]) -> Any:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 20:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        schema = defs.get(name, {})
        seen += 1
    return schema


def unknown_fields(key: tuple[str, str], obj: RawObject, *, prune: bool) -> list[str]:
    """Field paths of ``obj`` unknown to its kind's definition (removed when ``prune``).

    Returns [] for kinds without a definition or when the definitions are unavailable.
    """
    return inspect(key, obj, prune=prune)[0]


def inspect(key: tuple[str, str], obj: RawObject, *, prune: bool) -> tuple[list[str], list[str]]:
    """(unknown field paths, type mismatches like ``spec: want object, got boolean``).

    A type mismatch is what makes the real server fail decoding the body into its Go struct.
    """
    defs = _definitions()
    name = DEFINITIONS.get(key)
    if defs is None or name is None or name not in defs:
        return [], []
    found: list[str] = []
    mismatches: list[str] = []
    _walk(obj, defs[name], defs, "", found, mismatches, prune=prune)
    return found, mismatches


_JSON_TYPES = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _type_name(value: Any) -> str:
    for name, kinds in (("boolean", (bool,)), *_JSON_TYPES.items()):
        if isinstance(value, kinds):
            return name
    return "null" if value is None else type(value).__name__


def _type_ok(value: Any, schema: RawObject) -> bool:
    declared = schema.get("type")
    if declared is None or value is None:
        return True
    names = declared if isinstance(declared, list) else [declared]
    for name in names:
        kinds = _JSON_TYPES.get(name)
        if kinds is None:
            continue
        if isinstance(value, bool) and name != "boolean":
            continue
        if isinstance(value, kinds):
            return True
    return False


def _walk(
    value: Any,
    schema: Any,
    defs: dict[str, RawObject],
    path: str,
    found: list[str],
    mismatches: list[str],
    *,
    prune: bool,
) -> None:
    schema = _resolve(schema, defs)
    if not isinstance(schema, dict):
        return
    if not _type_ok(value, schema):
        declared = schema.get("type")
        want = [
            str(t) for t in (declared if isinstance(declared, list) else [declared]) if t != "null"
        ]
        mismatches.append(f"{path or '<root>'}: want {'/'.join(want)}, got {_type_name(value)}")
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        if props is None and not isinstance(addl, dict):
            return  # free-form (RawExtension, JSON, ...) or a scalar type given an object
        for key in list(value):
            sub = f"{path}.{key}" if path else key
            if props is not None and key in props:
                _walk(value[key], props[key], defs, sub, found, mismatches, prune=prune)
            elif isinstance(addl, dict):
                _walk(value[key], addl, defs, sub, found, mismatches, prune=prune)
            elif addl is True:
                continue
            else:
                found.append(sub)
                if prune:
                    del value[key]
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _walk(item, items, defs, f"{path}[{i}]", found, mismatches, prune=prune)
