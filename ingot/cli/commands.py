"""``ingot status``, ``ingot explain service NS/NAME`` and ``ingot plan -f ...``.

Each command reads a snapshot (live cluster via :mod:`ingot.cli.cluster`, or a recorded one
with ``--snapshot FILE``), recomputes the system's decisions (:mod:`ingot.cli.analysis`),
builds report data (:mod:`ingot.cli.reports`) and prints it as text, JSON or YAML.

Exit codes: 0 ok; 1 problems found (a Pending or unannounced Service, an invalid
configuration, a plan that loses or moves IPs); 2 the command could not run as asked (usage
error, missing file, unreachable cluster).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import yaml

from ingot import errors
from ingot.cli import analysis, manifests, reports
from ingot.cli.snapshot import Snapshot

SNAPSHOT_TIME = "ingot.io/snapshot-time"
"""Annotation of an ``ingot snapshot`` dump (a ``List``): the instant it was read."""

USAGE = 2
PROBLEMS = 1
OK = 0


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    """The flags every live command shares (kubectl-like)."""
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("--server", help="API server URL without authentication (ingot apiserver)")
    p.add_argument(
        "-n",
        "--namespace",
        default="metallb-system",
        help="ingot's namespace: configuration, Leases, status objects (default metallb-system)",
    )
    p.add_argument(
        "--snapshot",
        action="append",
        metavar="FILE|DIR",
        help="read a recorded snapshot (YAML/JSON objects, e.g. kubectl get -o yaml) "
        "instead of a cluster",
    )
    p.add_argument("--now", help="RFC 3339 instant of a recorded snapshot (Lease expiry)")
    p.add_argument("--lb-class", help="loadBalancerClass ingot serves (controller --lb-class)")
    p.add_argument(
        "--ignore-exclude-lb",
        action="store_true",
        help="speakers run with --ignore-exclude-lb",
    )
    p.add_argument("-o", "--output", choices=["text", "json", "yaml"], default="text")


class CommandError(Exception):
    """The command cannot run as asked (exit 2)."""


def load_snapshot(args: Any) -> Snapshot:
    """The snapshot the flags name (recorded files, else the live cluster)."""
    from ingot.kube.lease import parse_time

    if args.snapshot:
        try:
            loaded, problems = manifests.load(args.snapshot)
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        if problems:
            raise CommandError("; ".join(f"{p.path}: {p.message}" for p in problems))
        now_s = parse_time(args.now) if args.now else None
        if args.now and now_s is None:
            raise CommandError(f"--now {args.now!r} is not an RFC 3339 time")
        for item in loaded:  # an `ingot snapshot` dump records its own instant
            recorded = ((item.obj.get("metadata") or {}).get("annotations") or {}).get(
                SNAPSHOT_TIME
            )
            if now_s is None and recorded:
                now_s = parse_time(recorded)
        if now_s is None:
            import time

            now_s = time.time()
        return Snapshot.from_objects(
            [item.obj for item in loaded], namespace=args.namespace, now_s=now_s
        )
    if args.now:
        raise CommandError("--now applies only to --snapshot (a live cluster is read as of now)")
    from ingot.cli import cluster
    from ingot.kube.source import KubeSource

    try:
        client = cluster.api_client(
            kubeconfig=args.kubeconfig, context=args.context, server=args.server
        )
    except cluster.ConnectError as exc:
        raise CommandError(str(exc)) from exc
    try:
        return cluster.read_snapshot(KubeSource(client), namespace=args.namespace)
    except errors.KubeError as exc:
        raise CommandError(f"cannot read the cluster: {exc}") from exc
    finally:
        client.close()


def emit(report: dict[str, Any], output: str, render: Callable[[dict[str, Any]], str]) -> int:
    """Print ``report`` in the chosen format; exit 1 when it lists problems."""
    if output == "json":
        print(json.dumps(report, indent=2, default=str))
    elif output == "yaml":
        print(yaml.safe_dump(json.loads(json.dumps(report, default=str)), sort_keys=False), end="")
    else:
        print(render(report))
    return PROBLEMS if report.get("problems") else OK


def _analyse(args: Any, snap: Snapshot, *, focus: str | None = None) -> analysis.Analysis:
    return analysis.analyse(
        snap,
        lb_class=args.lb_class or None,
        ignore_exclude_lb=args.ignore_exclude_lb,
        focus=focus,
    )


def _guard(fn: Callable[[Any], int]) -> Callable[[Any], int]:
    def run(args: Any) -> int:
        try:
            return fn(args)
        except CommandError as exc:
            print(f"ingot {args.command}: {exc}", file=sys.stderr)
            return USAGE

    return run


@_guard
def run_status(args: Any) -> int:
    """``ingot status``."""
    a = _analyse(args, load_snapshot(args))
    return emit(reports.status_report(a), args.output, reports.render_status)


@_guard
def run_explain(args: Any) -> int:
    """``ingot explain service NS/NAME`` / ``ingot explain ip ADDRESS``."""
    if args.what == "ip":
        import ipaddress

        try:
            ip = str(ipaddress.ip_address(args.address))
        except ValueError as exc:
            raise CommandError(f"{args.address!r} is not an IP address") from exc
        a = _analyse(args, load_snapshot(args))
        return emit(reports.explain_ip_report(a, ip), args.output, reports.render_explain_ip)
    target = args.name
    if "/" not in target:
        target = f"default/{target}"
    ns, _, name = target.partition("/")
    if not ns or not name or "/" in name:
        raise CommandError(f"{args.name!r}: expected NAMESPACE/NAME")
    a = _analyse(args, load_snapshot(args), focus=target)
    return emit(reports.explain_report(a, target), args.output, reports.render_explain)


def parse_delete(text: str) -> tuple[str, str, str]:
    """``Kind/name`` or ``Kind/namespace/name`` (kind case-insensitive, e.g. ``ipaddresspool``).

    Raises:
        CommandError: unknown kind or bad shape.
    """
    kinds = {
        k.lower(): k
        for k in (
            "IPAddressPool",
            "L2Advertisement",
            "BGPAdvertisement",
            "BGPPeer",
            "BFDProfile",
            "Community",
            "Node",
            "Namespace",
            "Service",
            "Secret",
        )
    }
    parts = text.split("/")
    if len(parts) not in (2, 3) or parts[0].lower() not in kinds or not all(parts):
        raise CommandError(f"--delete {text!r}: expected KIND/NAME or KIND/NAMESPACE/NAME")
    kind = kinds[parts[0].lower()]
    if len(parts) == 2:
        return kind, "", parts[1]
    return kind, parts[1], parts[2]


@_guard
def run_plan(args: Any) -> int:
    """``ingot plan -f FILE|DIR ... [--delete KIND/NAME ...]``."""
    if not args.filename and not args.delete:
        raise CommandError("nothing to plan: give -f FILE|DIR and/or --delete KIND/NAME")
    deletes = [parse_delete(d) for d in args.delete or []]
    upserts: list[Any] = []
    if args.filename:
        try:
            loaded, problems = manifests.load(args.filename)
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        if problems:
            raise CommandError("; ".join(f"{p.path}: {p.message}" for p in problems))
        upserts = [item.obj for item in loaded]
    before_snap = load_snapshot(args)
    before = _analyse(args, before_snap)
    proposed = before_snap.with_changes(upserts, deletes)
    after_snap = analysis.simulate_config_change(before, proposed)
    after = _analyse(args, after_snap)
    return emit(reports.plan_report(before, after), args.output, reports.render_plan)


def snapshot_document(snap: Snapshot) -> dict[str, Any]:
    """A ``kind: List`` of every object of ``snap`` (Secrets redacted, managedFields dropped).

    ``--snapshot`` reads it back with the recorded instant, so ``explain`` and ``status`` give
    the same answers offline, e.g. on a dump attached to a bug report.
    """
    import datetime as dt

    items = []
    for obj in snap.objects():
        md = dict(obj.get("metadata") or {})
        md.pop("managedFields", None)
        items.append({**obj, "metadata": md})
    when = dt.datetime.fromtimestamp(snap.now_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"annotations": {SNAPSHOT_TIME: when, "ingot.io/namespace": snap.namespace}},
        "items": items,
    }


@_guard
def run_snapshot(args: Any) -> int:
    """``ingot snapshot``: dump what the other commands read (for offline use, bug reports)."""
    doc = snapshot_document(load_snapshot(args))
    if args.output == "json":
        print(json.dumps(doc, indent=1, default=str))
    else:
        print(yaml.safe_dump(json.loads(json.dumps(doc, default=str)), sort_keys=False), end="")
    return OK
