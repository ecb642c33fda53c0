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
    parser.add_argument(
        "--history-size",
        type=int,
        default=10_000,
        help="watch history length; older resumes get 410 Expired (default 10000)",
    )
    parser.add_argument(
        "--call-webhooks",
        action="store_true",
        help="call ValidatingWebhookConfigurations before writes",
    )
    parser.add_argument(
        "--webhook-service",
        action="append",
        default=[],
        metavar="NS/NAME=HOST:PORT",
        help="address of a webhook Service (there is no cluster DNS); repeatable",
    )
    return parser


def _parse_service(text: str) -> tuple[tuple[str, str], str]:
    ref, sep, address = text.partition("=")
    namespace, slash, name = ref.partition("/")
    if not sep or not slash or not namespace or not name or not address:
        raise ValueError(f"--webhook-service {text!r}: want NS/NAME=HOST:PORT")
    return (namespace, name), address


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code (1 when a manifest fails to load)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        services = dict(_parse_service(text) for text in args.webhook_service)
    except ValueError as exc:
        parser.error(str(exc))
    srv = APIServer(
        host=args.host,
        port=args.port,
        tls=args.tls,
        history_size=args.history_size,
        call_webhooks=args.call_webhooks,
    )
    srv.webhook_services.update(services)
    try:
        url = srv.start()
    except OSError as exc:
        print(f"ingot apiserver: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
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
