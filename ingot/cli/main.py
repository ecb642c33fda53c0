"""The ``ingot`` command.

Subcommands: ``status``, ``explain service NS/NAME``, ``plan -f ...`` (against a cluster, the
embedded API server or a recorded snapshot), ``snapshot`` (dump what those read),
``validate`` (offline), ``apiserver`` (the embedded development API server), ``lab demo``
(root). Exit codes: 0 ok, 1 problems found, 2 usage error (or the cluster could not be read).
"""

from __future__ import annotations

import argparse
import signal
import sys


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ingot``."""
    parser = argparse.ArgumentParser(prog="ingot", description="ingot: bare-metal LoadBalancer")
    sub = parser.add_subparsers(dest="command", required=True)

    val = sub.add_parser("validate", help="check manifests offline (no cluster needed)")
    val.add_argument("-f", "--filename", action="append", required=True, help="file or directory")
    val.add_argument(
        "-n",
        "--namespace",
        help="ingot's namespace: configuration objects elsewhere are ignored (default: any)",
    )
    val.add_argument("--lb-class", help="loadBalancerClass ingot serves (as the controller flag)")
    val.add_argument("-o", "--output", choices=["text", "json", "yaml"], default="text")

    from ingot.cli import commands

    status = sub.add_parser(
        "status", help="pools, Services, speakers and configuration state of a cluster"
    )
    commands.add_cluster_args(status)

    explain = sub.add_parser("explain", help="why a Service has its IP and who announces it")
    explain_sub = explain.add_subparsers(dest="what", required=True)
    explain_svc = explain_sub.add_parser("service", help="explain one Service")
    explain_svc.add_argument("name", metavar="NAMESPACE/NAME")
    commands.add_cluster_args(explain_svc)
    explain_ip = explain_sub.add_parser("ip", help="who holds an IP, and explain each holder")
    explain_ip.add_argument("address", metavar="ADDRESS")
    commands.add_cluster_args(explain_ip)

    plan = sub.add_parser(
        "plan", help="what-if: changes proposed manifests would cause (writes nothing)"
    )
    plan.add_argument("-f", "--filename", action="append", help="file or directory to apply")
    plan.add_argument(
        "--delete",
        action="append",
        metavar="KIND/NAME",
        help="object to delete (e.g. ipaddresspool/old; Service: service/NS/NAME)",
    )
    commands.add_cluster_args(plan)

    snap = sub.add_parser(
        "snapshot",
        help="dump every object status/explain/plan read (Secrets redacted), for --snapshot",
    )
    commands.add_cluster_args(snap)
    snap.set_defaults(output="yaml")

    sub.add_parser(
        "apiserver",
        help="run the embedded development API server (not for production)",
        add_help=False,
    )

    lab = sub.add_parser("lab", help="network-namespace lab (root)")
    lab.add_argument("action", choices=["demo", "up", "down"])
    lab.add_argument("-o", "--output", choices=["text", "json"], default="text")
    lab.add_argument("--keep", action="store_true", help="leave the lab running (debugging)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ingot`` console script; returns the exit code."""
    if argv is None:  # the console script: `ingot status | head` ends quietly, like other CLIs
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        argv = sys.argv[1:]
    if argv[:1] == ["apiserver"]:
        from ingot.apiserver.__main__ import main as apiserver_main

        return int(apiserver_main(argv[1:]) or 0)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "validate":
        from ingot.cli import validate

        return validate.run(args)
    if args.command in ("status", "explain", "plan", "snapshot"):
        from ingot.cli import commands

        run = {
            "status": commands.run_status,
            "explain": commands.run_explain,
            "plan": commands.run_plan,
            "snapshot": commands.run_snapshot,
        }[args.command]
        return run(args)
    if args.command == "lab":
        from ingot.lab import demo

        if args.action == "up":
            return demo.up(output=args.output)
        if args.action == "down":
            return demo.down()
        return demo.main(output=args.output, keep=args.keep)
    return 2


if __name__ == "__main__":
    sys.exit(main())
