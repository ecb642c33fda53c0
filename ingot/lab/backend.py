"""A tiny HTTP backend standing in for a Service's pods: it answers every GET with its node name.

Run as ``python -m ingot.lab.backend --node NAME --port 80`` inside a node's namespace. It
listens on all IPv4 and IPv6 addresses, so it answers for any VIP the node accepts.
"""

from __future__ import annotations

import argparse
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main(argv: list[str] | None = None) -> int:
    """Serve until killed; each response body is the node name and a newline."""
    parser = argparse.ArgumentParser(prog="ingot-lab-backend")
    parser.add_argument("--node", required=True)
    parser.add_argument("--port", type=int, default=80)
    args = parser.parse_args(argv)
    body = f"{args.node}\n".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    with _DualStackServer(("::", args.port), Handler) as server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
