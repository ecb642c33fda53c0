"""``python -m controller`` / ``ingot-controller``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ingot-controller", description="ingot controller")
    parser.parse_args(argv)
    print("ingot-controller: not built yet (issue 4)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
