"""BGP benchmark: Service gets its IP -> route in BIRD's RIB (issue 6).

Setup: the lab network (``ingot.lab.topology.Lab``), BIRD 2 in the router namespace with one
IPv4 and one IPv6 session to node1, and node1's BGP component (planner + ``ExabgpDriver``, one
ExaBGP per session) driven from this process, ExaBGP running inside node1's namespace.

* ``latency_200``: 200 Services get an IP one after another (203.0.113.1..200, Cluster policy,
  one serving endpoint). For each: t0 = wall clock just before the speaker's work (plan over
  all Services so far + ``set_routes``); t1 = BIRD's own timestamp of the route
  (``timeformat route iso long ms``), read by polling ``birdc``. Latency = t1 - t0: it includes
  the planner, the driver diff, the helper relay, ExaBGP, the UPDATE and BIRD's import, and not
  the birdc polling time. p50/p99/max over the 200.
* ``bulk_1000``: 1,000 Services (IPv6 /128s 2001:db8:20::1..3e8 over the IPv6 session) get
  their IPs at once; time from the single ``set_routes`` to BIRD holding all 1,000 routes
  (``show route count``), and to the driver having every ack.

Run: ``.venv/bin/python bench/bgp.py`` as root (about 30 s). Writes ``bench/results/bgp.json``.
Targets (issue 6): p99 under 300 ms; 1,000 routes in under 10 s.
"""

from __future__ import annotations

import asyncio
import ipaddress
import platform
import re
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

# bench/ holds ipam.py, named like the ipam package: drop this directory from the import path
# so that ``import ipam`` (via ingot.api) finds the package, not that script.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from ingot.api import bgp  # noqa: E402
from ingot.api.bgp import BgpAdvertisementSpec, BgpPeerSpec, EndpointInfo, NodeInfo, ServiceInfo  # noqa: E402
from ingot.lab.bench import run_lab_bench  # noqa: E402
from ingot.lab.netns import run  # noqa: E402
from ingot.lab.topology import Lab  # noqa: E402
from speaker.bgp.exabgp import ExabgpDriver  # noqa: E402
from speaker.bgp.metrics import BgpMetrics  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bgp.json"
ROUTER_ASN, NODE_ASN = 64501, 64500
IP = ipaddress.ip_address


def bird_conf(run_dir: Path) -> str:
    return f"""
log "{run_dir / "bird.log"}" {{ warning, error, fatal }};
router id 198.51.100.1;
timeformat route iso long ms;
protocol device {{ scan time 10; }}
protocol bgp n4 {{ local 198.51.100.1 as {ROUTER_ASN}; neighbor 198.51.100.11 as {NODE_ASN};
  hold time 9; connect retry time 1; ipv4 {{ import all; export none; }}; }}
protocol bgp n6 {{ local 2001:db8:100::1 as {ROUTER_ASN}; neighbor 2001:db8:100::11 as {NODE_ASN};
  hold time 9; connect retry time 1; ipv6 {{ import all; export none; }}; }}
"""


def birdc(ns: str, ctl: Path, *args: str) -> str:
    return run(["birdc", "-s", str(ctl), *args], ns=ns, check=False).stdout


TS = re.compile(r"\[n[46] (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]")


def route_time(ns: str, ctl: Path, prefix: str) -> float | None:
    m = TS.search(birdc(ns, ctl, "show", "route", prefix))
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()


def route_count(ns: str, ctl: Path, protocol: str) -> int:
    out = birdc(ns, ctl, "show", "route", "count", "protocol", protocol)
    m = re.search(r"(\d+) of \d+ routes", out)
    return int(m.group(1)) if m else 0


async def main_async(lab: Lab, run_dir: Path) -> dict[str, object]:
    rns, node = lab.ns("router"), lab.host("node1")
    ctl, pidfile = run_dir / "bird.ctl", run_dir / "bird.pid"
    (run_dir / "bird.conf").write_text(bird_conf(run_dir))
    run(["bird", "-c", str(run_dir / "bird.conf"), "-s", str(ctl), "-P", str(pidfile)], ns=rns)
    drv = ExabgpDriver(
        runtime_dir=run_dir / "node1",
        metrics=BgpMetrics(),
        node_name="node1",
        node_addresses=[IP(node.ipv4)],
        command_prefix=["ip", "netns", "exec", lab.ns("node1")],
    )
    task = asyncio.create_task(drv.run())
    peers = [
        BgpPeerSpec("r4", NODE_ASN, ROUTER_ASN, IP("198.51.100.1")),
        BgpPeerSpec("r6", NODE_ASN, ROUTER_ASN, IP("2001:db8:100::1")),
    ]
    adv = BgpAdvertisementSpec("bgp", pools=frozenset({"bgp"}))
    nodes = {"node1": NodeInfo("node1", addresses=(IP(node.ipv4),))}
    try:
        await asyncio.sleep(0)
        drv.set_peers(peers)
        deadline = time.monotonic() + 30
        while not all(p.session_up for p in drv.processes.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("sessions did not come up")
            await asyncio.sleep(0.05)

        services: list[ServiceInfo] = []
        endpoints: dict[str, tuple[EndpointInfo, ...]] = {}
        latencies_ms = []
        for i in range(1, 201):
            svc = ServiceInfo(f"bench/s{i}", (IP(f"203.0.113.{i}"),), "bgp")
            t0 = time.time()
            services.append(svc)
            endpoints[svc.key] = (EndpointInfo("node1"),)
            plan = bgp.plan_advertisements(
                peers=peers,
                advertisements=[adv],
                services=services,
                endpoints=endpoints,
                nodes=nodes,
                node_name="node1",
            )
            drv.set_routes(plan.routes)
            prefix = f"203.0.113.{i}/32"
            t1 = None
            poll_deadline = time.monotonic() + 5
            while t1 is None and time.monotonic() < poll_deadline:
                await asyncio.sleep(0.005)
                t1 = await asyncio.to_thread(route_time, rns, ctl, prefix)
            if t1 is None:
                raise RuntimeError(f"{prefix} never reached BIRD")
            latencies_ms.append((t1 - t0) * 1000)
        latencies_ms.sort()

        # bulk: 1,000 routes at once over the IPv6 session (previous 200 stay)
        bulk = {
            bgp.Route(ipaddress.ip_network(f"2001:db8:20::{i:x}/128"), "r6", "self")
            for i in range(1, 1001)
        }
        all_routes = plan.routes | bulk
        t0 = time.monotonic()
        drv.set_routes(all_routes)
        acked_s = None
        in_bird_s = None
        deadline = time.monotonic() + 60
        while in_bird_s is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if acked_s is None and drv.processes["r6"].applied == frozenset(bulk):
                acked_s = time.monotonic() - t0
            if await asyncio.to_thread(route_count, rns, ctl, "n6") >= 1000:
                in_bird_s = time.monotonic() - t0
        if acked_s is None and drv.processes["r6"].applied == frozenset(bulk):
            acked_s = time.monotonic() - t0
        sessions_stayed_up = all(p.session_up for p in drv.processes.values())
        starts = {n: p.starts for n, p in drv.processes.items()}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    p99 = latencies_ms[int(0.99 * len(latencies_ms)) - 1]
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "router": "BIRD " + birdc(rns, ctl, "show", "status").split("\n")[0].split()[-2],
        "latency_200": {
            "services": len(latencies_ms),
            "p50_ms": round(statistics.median(latencies_ms), 1),
            "p99_ms": round(p99, 1),
            "max_ms": round(latencies_ms[-1], 1),
            "min_ms": round(latencies_ms[0], 1),
            "target_p99_ms": 300,
            "meets_target": p99 < 300,
            "measured": "wall clock before plan+set_routes -> BIRD's route timestamp (ms)",
        },
        "bulk_1000": {
            "routes": len(bulk),
            "seconds_to_all_acked": round(acked_s, 2) if acked_s is not None else None,
            "seconds_to_all_in_bird": round(in_bird_s, 2) if in_bird_s is not None else None,
            "target_s": 10,
            "meets_target": in_bird_s is not None and in_bird_s < 10,
        },
        "sessions_stayed_up": sessions_stayed_up,
        "exabgp_starts": starts,
    }


def main() -> int:
    return run_lab_bench(main_async, name="bgp", results=RESULTS, doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
