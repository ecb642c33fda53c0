"""``python -m speaker`` / ``ingot-speaker``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ingot-speaker", description="ingot speaker")
    parser.add_argument("--node-name", required=True)
    parser.parse_args(argv)
    print("ingot-speaker: not built yet (issue 5)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
