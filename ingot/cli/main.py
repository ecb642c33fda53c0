"""The ``ingot`` command: ``ingot lab demo|up|down``, and later status/explain/validate/plan."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ingot``."""
    parser = argparse.ArgumentParser(prog="ingot", description="ingot: bare-metal LoadBalancer")
    sub = parser.add_subparsers(dest="command", required=True)
    lab = sub.add_parser("lab", help="network-namespace lab (root)")
    lab.add_argument("action", choices=["demo", "up", "down"])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ingot`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "lab":
        print(
            "ingot lab: the network-namespace lab is not built yet (issue 9); "
            "nothing was run, nothing is claimed.",
            file=sys.stderr,
        )
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
