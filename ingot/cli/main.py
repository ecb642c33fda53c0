"""The ``ingot`` command.

Subcommands: ``validate`` (offline), ``apiserver`` (the embedded development API server),
``lab demo`` (root). Exit codes: 0 ok, 1 problems found, 2 usage error.
"""

from __future__ import annotations

import argparse
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

    sub.add_parser(
        "apiserver",
        help="run the embedded development API server (not for production)",
        add_help=False,
    )

    lab = sub.add_parser("lab", help="network-namespace lab (root)")
    lab.add_argument("action", choices=["demo"])
    lab.add_argument("-o", "--output", choices=["text", "json"], default="text")
    lab.add_argument("--keep", action="store_true", help="leave the lab running (debugging)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ingot`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
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
    if args.command == "lab":
        from ingot.lab import demo

        return demo.main(output=args.output, keep=args.keep)
    return 2


if __name__ == "__main__":
    sys.exit(main())
