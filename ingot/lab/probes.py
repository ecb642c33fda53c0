"""What the lab client measures: neighbour entries, HTTP answers, and outages during failover.

Run ``python -m ingot.lab.probes watch --url URL --interval-ms 20 --duration-s 10`` in the
client namespace: it prints one JSON line per request (``t`` wall seconds, ``ok``, ``node``).
The other helpers run commands in the client namespace and parse what the kernel says.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from ingot.lab.netns import run


def url_for(ip: str, port: int = 80, path: str = "/") -> str:
    """``http://ip:port/path`` with brackets for IPv6."""
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{port}{path}"


def neighbour_mac(ns: str, ip: str) -> str | None:
    """The MAC the kernel in ``ns`` has for ``ip`` (``ip neigh``), or None when it has none."""
    fam = "-6" if ":" in ip else "-4"
    out = run(["ip", fam, "neigh", "show", ip], ns=ns, check=False).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def http_get(
    ns: str, ip: str, *, port: int = 80, path: str = "/", timeout_s: float = 2.0
) -> str | None:
    """GET ``http://ip:port/path`` from namespace ``ns``; the body, or None on any failure."""
    code = (
        "import sys,urllib.request;"
        f"print(urllib.request.urlopen({url_for(ip, port, path)!r}, timeout={timeout_s}).read()"
        ".decode().strip())"
    )
    res = run([sys.executable, "-c", code], ns=ns, check=False, timeout_s=timeout_s + 5)
    return res.stdout.strip() or None if res.returncode == 0 else None


def watch(url: str, *, interval_ms: int, duration_s: float, timeout_ms: int = 200) -> int:
    """Request ``url`` every ``interval_ms`` for ``duration_s``; print a JSON line per request."""
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        start = time.monotonic()
        rec: dict[str, object] = {"t": time.time(), "ok": False, "node": None}
        try:
            with urllib.request.urlopen(url, timeout=timeout_ms / 1000) as resp:
                rec.update(ok=True, node=resp.read().decode().strip())
        except (urllib.error.URLError, OSError, TimeoutError):
            pass
        print(json.dumps(rec), flush=True)
        time.sleep(max(0.0, interval_ms / 1000 - (time.monotonic() - start)))
    return 0


def outage(records: list[dict[str, Any]], *, failure_at: float) -> dict[str, Any]:
    """Measure a failover from ``watch`` records around a failure at wall time ``failure_at``.

    Returns ``node_before`` (who answered last before the failure), ``node_after`` (the first
    other node that answered after it), ``outage_s`` (last answer before the failure to the first
    answer from ``node_after``, or None if no other node answered), and the number of failed
    requests after the failure.
    """
    before = [r for r in records if r["ok"] and float(r["t"]) <= failure_at]
    last_before = before[-1] if before else None
    node_before = last_before["node"] if last_before else None
    after = [r for r in records if r["ok"] and float(r["t"]) > failure_at]
    moved = next((r for r in after if r["node"] != node_before), None)
    failed = [r for r in records if not r["ok"] and float(r["t"]) > failure_at]
    return {
        "node_before": node_before,
        "node_after": moved["node"] if moved else None,
        "outage_s": (
            round(float(moved["t"]) - float(last_before["t"]), 3) if moved and last_before else None
        ),
        "failed_requests": len(failed),
    }


def main(argv: list[str] | None = None) -> int:
    """``watch`` subcommand entry point."""
    parser = argparse.ArgumentParser(prog="ingot-lab-probes")
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("watch")
    w.add_argument("--url", required=True)
    w.add_argument("--interval-ms", type=int, default=20)
    w.add_argument("--timeout-ms", type=int, default=200)
    w.add_argument("--duration-s", type=float, default=10.0)
    args = parser.parse_args(argv)
    return watch(
        args.url,
        interval_ms=args.interval_ms,
        duration_s=args.duration_s,
        timeout_ms=args.timeout_ms,
    )


if __name__ == "__main__":
    raise SystemExit(main())
