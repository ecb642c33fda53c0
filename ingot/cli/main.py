"""The ``ingot`` command: ``ingot lab demo|up|down``, and later status/explain/validate/plan."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ingot``."""
    parser = argparse.ArgumentParser(prog="ingot", description="ingot: bare-metal LoadBalancer")
    sub = parser.add_subparsers(dest="command", required=True)
    lab = sub.add_parser("lab", help="network-namespace lab (root)")
    lab.add_argument("action", choices=["demo"])
    lab.add_argument("-o", "--output", choices=["text", "json"], default="text")
    lab.add_argument("--keep", action="store_true", help="leave the lab running (debugging)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ingot`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "lab":
        from ingot.lab import demo

        return demo.main(output=args.output, keep=args.keep)
    return 2


if __name__ == "__main__":
    sys.exit(main())
