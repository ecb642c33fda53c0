"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge.

Strategic merge follows k8s.io/apimachinery/pkg/util/strategicpatch for the lists ingot and
kubectl touch: lists with a merge key (``spec.ports`` by ``port``, ``*.conditions`` by
``type``, ``metadata.ownerReferences`` by ``uid``, ``status.addresses`` by ``type``,
containers/env/volumes by ``name``), ``metadata.finalizers`` as a merged set of strings, and the
directives ``$patch`` (replace/delete), ``$setElementOrder/<f>``, ``$deleteFromPrimitiveList/<f>``,
``$retainKeys``. Every other list (e.g. ``status.loadBalancer.ingress``) is replaced whole.
"""

from __future__ import annotations

import copy
from typing import Any

from ingot.apiserver import errors

_PRIMITIVE_MERGE = "<set>"

#: (parent key, list key) -> merge key; ``_PRIMITIVE_MERGE`` marks lists of strings merged as sets.
MERGE_KEYS: dict[tuple[str, str], str] = {
    ("metadata", "ownerReferences"): "uid",
    ("metadata", "finalizers"): _PRIMITIVE_MERGE,
    ("spec", "ports"): "port",
    ("status", "conditions"): "type",
    ("status", "addresses"): "type",
    ("spec", "containers"): "name",
    ("spec", "initContainers"): "name",
    ("spec", "volumes"): "name",
    ("spec", "tolerations"): "key",
    ("spec", "taints"): "key",
    ("*", "env"): "name",
    ("*", "volumeMounts"): "mountPath",
    ("*", "ports"): "containerPort",
}


def _merge_key(parent: str, key: str) -> str | None:
    return MERGE_KEYS.get((parent, key)) or MERGE_KEYS.get(("*", key))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch of ``target`` by ``patch`` (a new value; inputs unchanged)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise errors.bad_request(f'invalid JSON pointer "{path}": must start with "/"')
    return [_unescape(t) for t in path[1:].split("/")]


class _PatchFailed(Exception):
    pass


def _resolve(doc: Any, tokens: list[str]) -> Any:
    cur = doc
    for tok in tokens:
        if isinstance(cur, dict):
            if tok not in cur:
                raise _PatchFailed(f'missing value at "{tok}"')
            cur = cur[tok]
        elif isinstance(cur, list):
            idx = _index(cur, tok, allow_end=False)
            cur = cur[idx]
        else:
            raise _PatchFailed(f'cannot descend into a scalar at "{tok}"')
    return cur


def _index(lst: list[Any], tok: str, *, allow_end: bool) -> int:
    if tok == "-" and allow_end:
        return len(lst)
    if not tok.isdigit() or (len(tok) > 1 and tok.startswith("0")):
        raise _PatchFailed(f'invalid array index "{tok}"')
    idx = int(tok)
    limit = len(lst) + (1 if allow_end else 0)
    if idx >= limit:
        raise _PatchFailed(f"array index {idx} out of bounds")
    return idx


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise _PatchFailed(f'cannot add to a scalar at "{last}"')
    return doc


def _remove(doc: Any, tokens: list[str]) -> tuple[Any, Any]:
    if not tokens:
        raise _PatchFailed("cannot remove the whole document")
    parent = _resolve(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _PatchFailed(f'missing value at "{last}"')
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, allow_end=False))
    raise _PatchFailed(f'cannot remove from a scalar at "{last}"')


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test); a new value.

    Raises:
        errors.ApiError: 400 BadRequest for a malformed patch document, 422 Invalid (field
            ``patch``) when an operation cannot be applied or a ``test`` fails.
    """
    if not isinstance(ops, list):
        raise errors.bad_request("json patch must be a JSON array of operations")
    doc = copy.deepcopy(target)
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise errors.bad_request(f"json patch operation {i} needs 'op' and 'path'")
        kind = op["op"]
        try:
            tokens = _pointer(op["path"])
            if kind in ("add", "replace", "test") and "value" not in op:
                raise errors.bad_request(f"json patch operation {i} ({kind}) needs 'value'")
            if kind == "add":
                doc = _add(doc, tokens, copy.deepcopy(op["value"]))
            elif kind == "remove":
                doc, _ = _remove(doc, tokens)
            elif kind == "replace":
                _resolve(doc, tokens)  # must exist
                if tokens:
                    doc, _ = _remove(doc, tokens)
                doc = _add(doc, tokens, copy.deepcopy(op["value"]))
            elif kind in ("move", "copy"):
                if "from" not in op:
                    raise errors.bad_request(f"json patch operation {i} ({kind}) needs 'from'")
                src = _pointer(op["from"])
                if kind == "move":
                    doc, value = _remove(doc, src)
                else:
                    value = copy.deepcopy(_resolve(doc, src))
                doc = _add(doc, tokens, value)
            elif kind == "test":
                if _resolve(doc, tokens) != op["value"]:
                    raise _PatchFailed(f'test failed at "{op["path"]}"')
            else:
                raise errors.bad_request(f'json patch operation {i}: unknown op "{kind}"')
        except _PatchFailed as exc:
            raise errors.invalid(
                "",
                "",
                "",
                [errors.Cause("FieldValueInvalid", f"operation {i} ({kind}): {exc}", "patch")],
            ) from None
    return doc


def strategic_merge_patch(target: Any, patch: Any, *, parent: str = "") -> Any:
    """Strategic merge of ``patch`` into ``target`` (a new value; inputs unchanged).

    ``parent`` is the key under which ``target`` sits (used to pick list merge keys).
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result: dict[str, Any] = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value if isinstance(value, list) else []
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            drop = value if isinstance(value, list) else []
            if isinstance(result.get(field), list):
                result[field] = [x for x in result[field] if x not in drop]
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, list):
            merged = _merge_list(current, value, parent=parent, key=key)
            result[key] = merged
        elif isinstance(value, dict):
            merged_map = strategic_merge_patch(current, value, parent=key)
            if merged_map is None:
                result.pop(key, None)
            else:
                result[key] = merged_map
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        result[field] = _reorder(result.get(field), order, _merge_key(parent, field))
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(current: Any, patch: list[Any], *, parent: str, key: str) -> list[Any]:
    merge_key = _merge_key(parent, key)
    if merge_key is None or not isinstance(current, list):
        return [
            strategic_merge_patch(None, item, parent=key) if isinstance(item, dict) else item
            for item in patch
            if not (isinstance(item, dict) and item.get("$patch") == "delete")
        ]
    if merge_key == _PRIMITIVE_MERGE:
        out = list(current)
        for item in patch:
            if item not in out:
                out.append(item)
        return out
    out = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict):
            out.append(item)
            continue
        if item.get("$patch") == "replace" and len(item) == 1:
            return [x for x in patch if not (isinstance(x, dict) and "$patch" in x)]
        wanted = item.get(merge_key)
        pos = next(
            (i for i, x in enumerate(out) if isinstance(x, dict) and x.get(merge_key) == wanted),
            None,
        )
        if item.get("$patch") == "delete":
            if pos is not None:
                out.pop(pos)
            continue
        if pos is None:
            out.append(strategic_merge_patch(None, item, parent=key))
        else:
            out[pos] = strategic_merge_patch(out[pos], item, parent=key)
    return out


def _reorder(items: Any, order: list[Any], merge_key: str | None) -> Any:
    if not isinstance(items, list) or not order:
        return items

    def ident(x: Any) -> Any:
        if merge_key and merge_key != _PRIMITIVE_MERGE and isinstance(x, dict):
            return x.get(merge_key)
        return x

    wanted = [ident(o) for o in order]
    ranked = sorted(
        enumerate(items),
        key=lambda p: (wanted.index(ident(p[1])) if ident(p[1]) in wanted else len(wanted), p[0]),
    )
    return [x for _, x in ranked]
