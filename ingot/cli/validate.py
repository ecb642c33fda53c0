"""``ingot validate -f FILE|DIR ...``: compile manifests offline, print every problem with its file.

Uses the same compiler as the controller, the speaker and the admission webhook
(:func:`ingot.api.compile.compile_config`), and the same Service parser as the controller
(:func:`ingot.api.services.service_request`), so what it accepts is what ingot accepts.
Exit codes: 0 valid, 1 problems found, 2 usage error (e.g. a path that does not exist).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

import yaml

from ingot.api.compile import ClusterResources, compile_config
from ingot.api.fielderror import FieldError
from ingot.api.services import service_request, wants_allocation
from ingot.cli import manifests


def validate(
    paths: list[str], *, namespace: str | None = None, lb_class: str | None = None
) -> dict[str, Any]:
    """Validate the manifests under ``paths``; return a JSON-ready report.

    Keys: ``ok``, ``objects`` (count), ``errors`` and ``warnings`` (each ``{file, object,
    path, message}``). Raises ``FileNotFoundError`` for a missing path.
    """
    loaded, problems = manifests.load(paths, unpack_lists=True)
    origins = manifests.origin_index(loaded)
    objects = [item.obj for item in loaded]
    result = compile_config(ClusterResources.from_objects(objects), namespace=namespace)

    ns_labels: dict[str, Mapping[str, str]] = {}
    for obj in objects:
        if obj.get("kind") == "Namespace":
            md = obj.get("metadata") or {}
            ns_labels[str(md.get("name"))] = md.get("labels") or {}
    service_errors: list[FieldError] = []
    for obj in objects:
        if obj.get("kind") == "Service" and wants_allocation(obj, lb_class=lb_class):
            md = obj.get("metadata") or {}
            ns = str(md.get("namespace") or "default")
            parsed = service_request(
                {**obj, "metadata": {**md, "namespace": ns}},
                namespace_labels=ns_labels.get(ns, {}),
            )
            if isinstance(parsed, list):
                service_errors += parsed

    def row(e: FieldError) -> dict[str, str]:
        where = origins.get((e.kind, e.namespace, e.name)) or origins.get((e.kind, "", e.name))
        if where is None and e.kind == "Service":
            where = origins.get((e.kind, "", e.name))
        return {
            "file": str(where) if where else "",
            "object": e.object_ref,
            "path": e.path,
            "message": e.message,
        }

    errors = [
        {"file": str(p.path), "object": "", "path": "", "message": p.message} for p in problems
    ]
    errors += [row(e) for e in (*result.errors, *service_errors)]
    return {
        "ok": not errors,
        "objects": len(objects),
        "errors": errors,
        "warnings": [row(w) for w in result.warnings],
    }


def render_text(report: dict[str, Any]) -> str:
    """Human-readable lines: one per problem, ``file: Kind ns/name path: message``."""
    lines = []
    for level in ("errors", "warnings"):
        for e in report[level]:
            where = f"{e['file']}: " if e["file"] else ""
            obj = f"{e['object']} " if e["object"] else ""
            path = f"{e['path']}: " if e["path"] else ""
            tag = "error" if level == "errors" else "warning"
            lines.append(f"{tag}: {where}{obj}{path}{e['message']}".replace(" : ", ": "))
    n_err, n_warn = len(report["errors"]), len(report["warnings"])
    verdict = "valid" if report["ok"] else "INVALID"
    lines.append(f"{report['objects']} objects: {verdict} ({n_err} errors, {n_warn} warnings)")
    return "\n".join(lines)


def run(args: Any) -> int:
    """The ``validate`` subcommand."""
    try:
        report = validate(args.filename, namespace=args.namespace, lb_class=args.lb_class)
    except FileNotFoundError as exc:
        print(f"ingot validate: {exc}", file=sys.stderr)
        return 2
    if args.output == "json":
        print(json.dumps(report, indent=2))
    elif args.output == "yaml":
        print(yaml.safe_dump(report, sort_keys=False), end="")
    else:
        print(render_text(report))
    return 0 if report["ok"] else 1
