"""Structural OpenAPI v3 schemas of CRDs: structural checks, pruning, defaulting, validation.

Follows the apiextensions rules (k8s.io/apiextensions-apiserver/pkg/apiserver/schema):
a CRD schema must be structural (every node typed unless ``x-kubernetes-int-or-string`` or
``x-kubernetes-preserve-unknown-fields``; no ``$ref``; arrays have ``items``; no ``type``,
``default``, ``nullable`` or ``additionalProperties`` under ``anyOf``/``oneOf``/``allOf``;
not both ``properties`` and ``additionalProperties``). Objects are pruned of unknown fields,
defaulted (``default``), then validated with ``openapi-schema-validator`` (OAS 3.0 dialect, which
knows ``nullable``) plus the Kubernetes extensions int-or-string and list-type set/map.
Errors are ``errors.Cause`` values whose ``field`` uses Kubernetes paths (``spec.addresses[2]``).
CEL ``x-kubernetes-validations`` are not evaluated.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from openapi_schema_validator import OAS30Validator

from ingot.apiserver import errors

RawObject = dict[str, Any]

_TOP_LEVEL = ("apiVersion", "kind", "metadata")


def field_path(parts: Iterable[Any], *, prefix: str = "") -> str:
    """Kubernetes field path: ``("spec", "addresses", 2)`` -> ``spec.addresses[2]``."""
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


# --------------------------------------------------------------------------- structural check


def structural_errors(schema: Any, *, path: str) -> list[errors.Cause]:
    """Violations of the structural-schema rules in ``schema`` (``path`` names its root)."""
    out: list[errors.Cause] = []
    _structural(schema, path, out, under_junctor=False, root=True)
    return out


def _structural(
    node: Any, path: str, out: list[errors.Cause], *, under_junctor: bool, root: bool = False
) -> None:
    if not isinstance(node, dict):
        out.append(errors.Cause("FieldValueInvalid", "must be an object", path))
        return
    if "$ref" in node:
        out.append(errors.Cause("FieldValueForbidden", "$ref is not allowed", f"{path}.$ref"))
    if "const" in node:
        out.append(errors.Cause("FieldValueForbidden", "const is not supported", f"{path}.const"))
    if under_junctor:
        for key in ("type", "default", "nullable", "additionalProperties"):
            if key in node:
                out.append(
                    errors.Cause(
                        "FieldValueForbidden",
                        f"{key} is forbidden inside anyOf/oneOf/allOf/not",
                        f"{path}.{key}",
                    )
                )
    else:
        typed = "type" in node
        loose = node.get("x-kubernetes-int-or-string") or node.get(
            "x-kubernetes-preserve-unknown-fields"
        )
        if not typed and not loose:
            out.append(
                errors.Cause(
                    "FieldValueRequired",
                    "must not be empty for specified object fields"
                    if not root
                    else "Required value",
                    f"{path}.type",
                )
            )
        if root and node.get("type") not in (None, "object"):
            out.append(
                errors.Cause("FieldValueInvalid", "must be object at the root", f"{path}.type")
            )
    if "properties" in node and "additionalProperties" in node:
        out.append(
            errors.Cause(
                "FieldValueForbidden",
                "additionalProperties and properties are mutual exclusive",
                f"{path}.additionalProperties",
            )
        )
    if node.get("type") == "array" and "items" not in node and not under_junctor:
        out.append(errors.Cause("FieldValueRequired", "must be specified", f"{path}.items"))
    for name, sub in (node.get("properties") or {}).items():
        _structural(sub, f"{path}.properties[{name}]", out, under_junctor=under_junctor)
    if isinstance(node.get("items"), dict):
        _structural(node["items"], f"{path}.items", out, under_junctor=under_junctor)
    if isinstance(node.get("additionalProperties"), dict):
        _structural(
            node["additionalProperties"],
            f"{path}.additionalProperties",
            out,
            under_junctor=under_junctor,
        )
    for junctor in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(node.get(junctor) or []):
            _structural(sub, f"{path}.{junctor}[{i}]", out, under_junctor=True)
    if isinstance(node.get("not"), dict):
        _structural(node["not"], f"{path}.not", out, under_junctor=True)


# --------------------------------------------------------------------------- prune + default


def prune(
    value: Any,
    schema: RawObject | None,
    *,
    root: bool = False,
    removed: list[str] | None = None,
    path: str = "",
) -> Any:
    """Drop fields the schema does not know (in place where possible); returns the value.

    The field paths of what was dropped are appended to ``removed`` when given.
    """
    if schema is None or not isinstance(value, (dict, list)):
        return value
    if schema.get("x-kubernetes-preserve-unknown-fields") and not (
        schema.get("properties") or schema.get("additionalProperties")
    ):
        return value
    if isinstance(value, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        if schema.get("x-kubernetes-embedded-resource"):
            keep = set(_TOP_LEVEL)
        else:
            keep = set()
        for key in list(value):
            if root and key in _TOP_LEVEL:
                continue
            sub = f"{path}.{key}" if path else key
            if props is not None and key in props:
                value[key] = prune(value[key], props[key], removed=removed, path=sub)
            elif isinstance(addl, dict):
                value[key] = prune(value[key], addl, removed=removed, path=sub)
            elif addl is True or preserve or key in keep:
                continue
            elif props is None and addl is None and not schema.get("type"):
                continue
            else:
                del value[key]
                if removed is not None:
                    removed.append(sub)
        return value
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            value[i] = prune(item, items, removed=removed, path=f"{path}[{i}]")
    return value


def apply_defaults(value: Any, schema: RawObject | None) -> Any:
    """Fill ``default`` values of missing (or null, non-nullable) properties; returns the value."""
    if schema is None:
        return value
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if not isinstance(sub, dict):
                continue
            missing = key not in value or (value[key] is None and not sub.get("nullable"))
            if missing and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(value[key], sub)
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            props = schema.get("properties") or {}
            for key in value:
                if key not in props:
                    value[key] = apply_defaults(value[key], addl)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            value[i] = apply_defaults(item, schema["items"])
    return value


# --------------------------------------------------------------------------- validation


def compile_validator(schema: RawObject) -> OAS30Validator:
    """An OAS 3.0 validator of ``schema`` (top-level apiVersion/kind/metadata allowed)."""
    return OAS30Validator(schema)


_REASONS = {
    "required": "FieldValueRequired",
    "enum": "FieldValueNotSupported",
    "type": "FieldValueTypeMismatch",
    "nullable": "FieldValueTypeMismatch",
}


def validate(obj: RawObject, schema: RawObject, validator: OAS30Validator) -> list[errors.Cause]:
    """Schema violations of ``obj`` as causes with Kubernetes field paths."""
    body = {k: v for k, v in obj.items() if k not in ("metadata",)}
    causes: list[errors.Cause] = []
    for err in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
        parts = list(err.absolute_path)
        reason = _REASONS.get(str(err.validator), "FieldValueInvalid")
        if err.validator == "required":
            missing = _missing_property(err.message)
            path = field_path([*parts, missing])
            causes.append(errors.Cause(reason, "Required value", path))
            continue
        path = field_path(parts)
        if err.validator == "enum":
            allowed = ", ".join(f'"{v}"' for v in err.validator_value)
            msg = f"Unsupported value: {_show(err.instance)}: supported values: {allowed}"
        elif err.validator == "type":
            msg = (
                f"Invalid value: {_show(err.instance)}: {path} in body must be of type "
                f"{err.validator_value}: {_show(_type_name(err.instance))}"
            )
        else:
            msg = f"Invalid value: {_show(err.instance)}: {err.message}"
        causes.append(errors.Cause(reason, msg, path))
    causes.extend(_k8s_extensions(body, schema, []))
    return causes


def _missing_property(message: str) -> str:
    # jsonschema: "'name' is a required property"
    if message.startswith("'") and "'" in message[1:]:
        return message[1 : message.index("'", 1)]
    return message.split(" ", 1)[0]


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (dict, list)):
        return _type_name(value)
    return repr(value).lower() if isinstance(value, bool) else repr(value)


def _k8s_extensions(value: Any, schema: Any, parts: list[Any]) -> list[errors.Cause]:
    """int-or-string and list-type set/map uniqueness (not part of OAS 3.0)."""
    if not isinstance(schema, dict):
        return []
    out: list[errors.Cause] = []
    if schema.get("x-kubernetes-int-or-string") and value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            out.append(
                errors.Cause(
                    "FieldValueTypeMismatch",
                    f"Invalid value: {_show(value)}: must be an integer or a string",
                    field_path(parts),
                )
            )
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in value.items():
            if key in props:
                out.extend(_k8s_extensions(sub, props[key], [*parts, key]))
            elif isinstance(schema.get("additionalProperties"), dict):
                out.extend(_k8s_extensions(sub, schema["additionalProperties"], [*parts, key]))
    elif isinstance(value, list):
        items = schema.get("items")
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            out.extend(_duplicates(value, [repr_key(v) for v in value], parts))
        elif list_type == "map":
            keys: Sequence[str] = schema.get("x-kubernetes-list-map-keys") or []
            out.extend(
                _duplicates(
                    value,
                    [
                        repr_key(tuple(v.get(k) for k in keys)) if isinstance(v, dict) else ""
                        for v in value
                    ],
                    parts,
                )
            )
        for i, item in enumerate(value):
            out.extend(_k8s_extensions(item, items, [*parts, i]))
    return out


def repr_key(value: Any) -> str:
    return repr(value)


def _duplicates(values: list[Any], keys: list[str], parts: list[Any]) -> list[errors.Cause]:
    seen: set[str] = set()
    out = []
    for i, key in enumerate(keys):
        if key in seen:
            out.append(
                errors.Cause(
                    "FieldValueDuplicate",
                    f"Duplicate value: {_show(values[i])}",
                    field_path([*parts, i]),
                )
            )
        seen.add(key)
    return out
