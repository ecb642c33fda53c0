"""``python -m ingot.apiserver``: run the development API server until SIGINT/SIGTERM.

Not for production: no authentication, no persistence. See docs/apiserver.md.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from ingot.apiserver.server import APIServer, ManifestError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingot apiserver",
        description="In-memory Kubernetes API server for development and tests (not for "
        "production).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=6443, help="TCP port, 0 = any (default 6443)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA")
    parser.add_argument(
        "--manifests",
        action="append",
        default=[],
        metavar="PATH",
        help="YAML file or directory to load at start (CRDs first); repeatable",
    )
    parser.add_argument("--kubeconfig", metavar="PATH", help="write a kubeconfig for this server")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code (1 when a manifest fails to load)."""
    args = build_parser().parse_args(argv)
    srv = APIServer(host=args.host, port=args.port, tls=args.tls)
    url = srv.start()
    stop = threading.Event()
    try:
        for path in args.manifests:
            if not Path(path).exists():
                print(f"ingot apiserver: {path}: no such file or directory", file=sys.stderr)
                return 1
            loaded = srv.load_manifests(path)
            print(f"loaded {len(loaded)} objects from {path}", file=sys.stderr)
        if args.kubeconfig:
            srv.write_kubeconfig(args.kubeconfig)
            print(f"kubeconfig written to {args.kubeconfig}", file=sys.stderr)
        previous = {
            sig: signal.signal(sig, lambda *_: stop.set())
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        print(f"ingot apiserver (development server, not for production) serving at {url}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        return 0
    except ManifestError as exc:
        print(f"ingot apiserver: {exc}", file=sys.stderr)
        return 1
    finally:
        srv.stop()


if __name__ == "__main__":
    sys.exit(main())
