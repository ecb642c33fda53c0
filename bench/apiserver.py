"""Benchmark of ingot.apiserver: creates/s and watch-event delivery latency.

Setup: the server runs as its own process (``python -m ingot.apiserver --port 0``, as the lab
runs it). This process creates N ConfigMaps through the **official kubernetes client**
(``CoreV1Api.create_namespaced_config_map``, C creator threads, one ApiClient each) while W
watchers read ``?watch=1`` streams over **raw HTTP** (http.client, newline-delimited JSON;
the official client's pydantic deserialisation would measure the client, not the server).
Each object carries its creation start time (``time.time()``) in an annotation; delivery
latency = time a watcher reads the event - time the create request started (so it includes
the create round trip). All processes share this machine's cores.

Usage: .venv/bin/python bench/apiserver.py [--objects 10000] [--watchers 10] [--creators 4]
Writes bench/results/apiserver.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from kubernetes import client

RESULTS = Path(__file__).parent / "results" / "apiserver.json"
NAMESPACE = "default"


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]


def _watch(
    url: str,
    rv: str,
    expected: int,
    latencies: list[float],
    ready: threading.Event,
    done: threading.Event,
) -> None:
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
    conn.request(
        "GET",
        f"/api/v1/namespaces/{NAMESPACE}/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=600",
    )
    resp = conn.getresponse()
    ready.set()
    seen = 0
    while seen < expected:
        line = resp.readline()
        if not line:
            break
        event = json.loads(line)
        if event["type"] != "ADDED":
            continue
        sent = float(event["object"]["metadata"]["annotations"]["bench/t0"])
        latencies.append(time.time() - sent)
        seen += 1
    conn.close()
    done.set()


def _create(url: str, names: list[str], durations: list[float]) -> None:
    cfg = client.Configuration()
    cfg.host = url
    api = client.ApiClient(cfg)
    v1 = client.CoreV1Api(api)
    for name in names:
        t0 = time.time()
        v1.create_namespaced_config_map(
            NAMESPACE,
            {"metadata": {"name": name, "annotations": {"bench/t0": repr(t0)}}, "data": {"k": "v"}},
        )
        durations.append(time.time() - t0)
    api.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--creators", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    server = subprocess.Popen(
        [sys.executable, "-m", "ingot.apiserver", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().rsplit(" ", 1)[-1].strip()
        cfg = client.Configuration()
        cfg.host = url
        with client.ApiClient(cfg) as api:
            rv = (
                client.CoreV1Api(api)
                .list_namespaced_config_map(NAMESPACE)
                .metadata.resource_version
            )
        latencies: list[list[float]] = [[] for _ in range(args.watchers)]
        watchers = []
        dones = []
        for i in range(args.watchers):
            ready, done = threading.Event(), threading.Event()
            t = threading.Thread(
                target=_watch, args=(url, rv, args.objects, latencies[i], ready, done), daemon=True
            )
            t.start()
            ready.wait(30)
            watchers.append(t)
            dones.append(done)
        names = [f"cm-{i:05d}" for i in range(args.objects)]
        durations: list[list[float]] = [[] for _ in range(args.creators)]
        creators = [
            threading.Thread(target=_create, args=(url, names[i :: args.creators], durations[i]))
            for i in range(args.creators)
        ]
        start = time.perf_counter()
        for t in creators:
            t.start()
        for t in creators:
            t.join()
        create_s = time.perf_counter() - start
        for done in dones:
            done.wait(600)
        delivered_s = time.perf_counter() - start
        all_lat = [x * 1000 for lst in latencies for x in lst]
        all_create = [x * 1000 for lst in durations for x in lst]
        result = {
            "benchmark": "ingot.apiserver creates and watch delivery",
            "command": " ".join(
                ["python bench/apiserver.py", *(argv if argv is not None else sys.argv[1:])]
            ),
            "objects": args.objects,
            "watchers": args.watchers,
            "creator_threads": args.creators,
            "create_client": "official kubernetes client 37 (create_namespaced_config_map)",
            "watch_client": "raw HTTP (http.client), newline-delimited JSON watch stream",
            "server": "separate process: python -m ingot.apiserver --port 0 (HTTP)",
            "creates_per_s": round(args.objects / create_s, 1),
            "create_latency_ms": {
                "p50": round(_percentile(all_create, 50), 2),
                "p99": round(_percentile(all_create, 99), 2),
            },
            "events_expected": args.objects * args.watchers,
            "events_delivered": len(all_lat),
            "watch_delivery_latency_ms": {
                "definition": "watcher read time - create request start time",
                "p50": round(_percentile(all_lat, 50), 2),
                "p99": round(_percentile(all_lat, 99), 2),
                "max": round(max(all_lat), 2) if all_lat else None,
                "mean": round(statistics.fmean(all_lat), 2) if all_lat else None,
            },
            "all_events_delivered_after_s": round(delivered_s, 2),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "note": "2 cores shared with other work; numbers are indicative",
            },
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return 0 if len(all_lat) == args.objects * args.watchers else 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        if server.stdout:
            server.stdout.close()


if __name__ == "__main__":
    sys.exit(main())
