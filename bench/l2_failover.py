"""L2 failover benchmark -> bench/results/l2_failover.json (root: network namespaces).

Phase ``failover`` (netns): the topology of tests/netlab/test_l2_failover.py (3 nodes + client
on a data bridge, ingot.apiserver in its own namespace on a management bridge). The client pings
both VIPs every 10 ms while a tcpdump in the client records every echo reply with its source
MAC. Each run fails the current owner of one VIP — ``kill -9`` of its speaker, or
``ip link set eth0 down`` — and measures the time from the failure to the first echo reply
whose source MAC is another node's (the client reaches the new owner). Then the failed node is
restored (speaker restarted / link up) and the run waits until it has rejoined after the
hold-down. A tcpdump on the bridge records every ARP reply / GARP / NA for the VIPs; at each
change of answering MAC, a frame from the previous MAC within the next second counts as a double
answer (overlap = its time after the new MAC's first frame).

Note on kill -9: only the speaker dies; the old node's kernel still answers ICMP for the VIP on
``lo``, so "first reply through the new owner" is what is timed, not the first reply at all.

Phase ``writes`` (in-process, no root): 3 L2 speakers against an in-process ingot.apiserver with
frames on an in-memory segment; after N LoadBalancer Services are announced and the status
objects written, API writes (create/update/patch/delete in the server's audit log) are counted
over a steady-state window, for N = 10 and N = 1000.

Usage: ``.venv/bin/python bench/l2_failover.py [--runs 20] [--phase failover|writes|all]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingot.lab.l2lab import L2Lab, mac  # noqa: E402
from ingot.lab.netns import Topology, run  # noqa: E402
from ingot.lab.sniff import answer_frames, double_answer_overlap_s  # noqa: E402

NODES = {"n1": 11, "n2": 12, "n3": 13}
VIP4 = "198.51.100.200"
VIP6 = "2001:db8:1::200"
NS = "ingot-system"
HOLD_DOWN_S = 2.0


def _status_kind() -> Any:
    from speaker.l2.component import SERVICE_L2_STATUS

    return SERVICE_L2_STATUS


MAC_NODE = {mac(h): n for n, h in NODES.items()}


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(xs: list[float]) -> dict[str, Any]:
    if not xs:
        return {"n": 0}
    return {
        "n": len(xs),
        "min_s": round(min(xs), 4),
        "p50_s": round(percentile(xs, 0.5), 4),
        "p99_s": round(percentile(xs, 0.99), 4),
        "max_s": round(max(xs), 4),
        "mean_s": round(statistics.fmean(xs), 4),
    }


# ---------------------------------------------------------------------------------------------
# netns failover phase


def seed(admin: Any, services: list[tuple[str, str, str]], nodes: list[str]) -> None:
    from ingot.kube import source as src
    from ingot.lab.cluster import add_lb_service

    for n in (NS, "demo"):
        admin.create(
            src.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
        )
    addrs = sorted({ip for _, ip, _ in services})
    admin.create(
        src.IP_ADDRESS_POOL,
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "p", "namespace": NS},
            "spec": {"addresses": [f"{a}/{32 if ':' not in a else 128}" for a in addrs]},
        },
        namespace=NS,
    )
    admin.create(
        src.L2_ADVERTISEMENT,
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": "l2", "namespace": NS},
        },
        namespace=NS,
    )
    for n in nodes:
        admin.create(src.NODE, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}})
    for name, ip, fam in services:
        add_lb_service(admin, name=name, ip=ip, family=fam, endpoint_nodes=nodes)


class Lab(L2Lab):
    """The shared L2 lab (``ingot.lab.l2lab``) seeded with web4/web6 on every node."""

    def __init__(self, topo: Topology, tmp: Path) -> None:
        services = [("web4", VIP4, "IPv4"), ("web6", VIP6, "IPv6")]
        super().__init__(
            topo,
            tmp,
            nodes=NODES,
            vip4=VIP4,
            vip6=VIP6,
            namespace=NS,
            seed=lambda admin: seed(admin, services, list(NODES)),
        )

    def call(self, fn: Any, *a: Any, **kw: Any) -> Any:
        return self.api(fn, *a, **kw)

    def start_speaker(self, node: str) -> subprocess.Popen[bytes]:  # type: ignore[override]
        return super().start_speaker(node, hold_down_s=HOLD_DOWN_S)


REPLY_RE = re.compile(
    r"^(\d+\.\d+) ([0-9a-f:]{17}) > [0-9a-f:]{17}, .*?: (\S+) > \S+: ICMP6?,? echo reply"
)


class ReplyLog:
    """Echo replies seen by the client: (wall time, source MAC, source IP), from tcpdump -e."""

    def __init__(self, lab: Lab) -> None:
        self.path = lab.tmp / "client-replies.txt"
        self.out = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = lab.topo.spawn(
            ["tcpdump", "-l", "-n", "-e", "-tt", "-i", "eth0", "icmp or icmp6"],
            ns=lab.ns["client"],
            stdout=self.out.fileno(),
        )

    def replies(self) -> list[tuple[float, str, str]]:
        self.out.flush()
        out = []
        for line in self.path.read_text(errors="replace").splitlines():
            m = REPLY_RE.match(line)
            if m:
                out.append((float(m.group(1)), m.group(2), m.group(3)))
        return out

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=5)
        self.out.close()


def current_owner(log: ReplyLog, ip: str, since: float) -> str | None:
    for t, m, src in reversed(log.replies()):
        if src == ip and t >= since:
            return MAC_NODE.get(m)
    return None


def wait(pred: Any, timeout_s: float, step_s: float = 0.05) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step_s)
    return False


def overlaps(pcap: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ip, fr in answer_frames(pcap, ipv4=VIP4, ipv6=VIP6).items():
        worst = double_answer_overlap_s([(t, m) for t, m, _ in fr])
        changes = sum(1 for k in range(1, len(fr)) if fr[k][1] != fr[k - 1][1])
        out[ip] = {"max_s": round(worst, 4), "answer_frames": len(fr), "owner_changes": changes}
    return out


def failover_phase(runs: int, cases: frozenset[str] = frozenset()) -> dict[str, Any]:
    results: dict[str, list[float]] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ingot-bench-l2-") as tmp_s, Topology() as topo:
        tmp = Path(tmp_s)
        lab = Lab(topo, tmp)
        pings: list[subprocess.Popen[bytes]] = []
        log = None
        sniff = None
        try:
            for n in NODES:
                lab.start_speaker(n)
            pcap = tmp / "bridge.pcap"
            sniff = topo.spawn(
                ["tcpdump", "-i", "br0", "-U", "-w", str(pcap), "arp or icmp6"], ns=lab.ns["br"]
            )
            log = ReplyLog(lab)
            for ip in (VIP4, VIP6):
                pings.append(
                    topo.spawn(["ping", "-n", "-i", "0.01", "-W", "1", ip], ns=lab.ns["client"])
                )
            if not wait(lambda: current_owner(log, VIP4, 0) and current_owner(log, VIP6, 0), 60):
                raise RuntimeError("VIPs never became reachable")
            time.sleep(3)
            for mode in ("kill", "linkdown"):
                for fam, ip in (("ipv4", VIP4), ("ipv6", VIP6)):
                    key = f"{mode}_{fam}"
                    if cases and key not in cases:
                        continue
                    results[key] = []
                    for i in range(runs):
                        owner = current_owner(log, ip, time.time() - 0.5)
                        if owner is None:
                            failures.append(f"{key}#{i}: no owner before the run")
                            time.sleep(2)
                            continue
                        t_fail = time.time()
                        if mode == "kill":
                            lab.speakers[owner].send_signal(signal.SIGKILL)
                        else:
                            run(["ip", "link", "set", "eth0", "down"], ns=lab.ns[owner])
                        got: list[float] = []

                        def moved(
                            ip: str = ip,
                            t_fail: float = t_fail,
                            owner: str = owner,
                            got: list[float] = got,
                        ) -> bool:
                            for t, m, src in log.replies():
                                if (
                                    src == ip
                                    and t > t_fail
                                    and MAC_NODE.get(m) not in (None, owner)
                                ):
                                    got.append(t - t_fail)
                                    return True
                            return False

                        if wait(moved, 15, 0.02):
                            results[key].append(got[0])
                        else:
                            failures.append(f"{key}#{i}: no reply via a new owner within 15 s")
                        # restore the failed node and let it rejoin (hold-down) and settle
                        if mode == "kill":
                            lab.speakers[owner].wait(timeout=5)
                            lab.start_speaker(owner)
                        else:
                            run(["ip", "link", "set", "eth0", "up"], ns=lab.ns[owner])
                        time.sleep(HOLD_DOWN_S + 3.5)
                        print(
                            f"{key} run {i}: {got[0] if got else None}", file=sys.stderr, flush=True
                        )
        finally:
            for p in pings:
                p.send_signal(signal.SIGINT)
                with contextlib.suppress(Exception):
                    p.wait(timeout=5)
            if log is not None:
                log.close()
            if sniff is not None:
                sniff.send_signal(signal.SIGTERM)
                sniff.wait(timeout=5)
            ov = overlaps(tmp / "bridge.pcap") if (tmp / "bridge.pcap").exists() else {}
            lab.close()
            keep = os.environ.get("L2_BENCH_KEEP")
            if keep:
                import shutil

                shutil.rmtree(keep, ignore_errors=True)
                shutil.copytree(tmp, keep)
    return {
        "runs_per_case": runs,
        "cases": {k: summary(v) for k, v in results.items()},
        "raw_s": {k: [round(x, 4) for x in v] for k, v in results.items()},
        "double_answer_overlap": ov,
        "failures": failures,
    }


# ---------------------------------------------------------------------------------------------
# in-process steady-state writes phase


async def _writes(n_services: int, window_s: float) -> dict[str, Any]:
    from ingot.apiserver.server import APIServer
    from ingot.clock import RealClock
    from ingot.kube.source import KubeSource
    from speaker.app import SpeakerApp
    from speaker.l2.component import L2Component, L2Options
    from speaker.l2.interfaces import IFF_BROADCAST, IFF_UP, LinkInfo
    from speaker.l2.wire import FakeWire

    class Bus:
        def __init__(self) -> None:
            self.wires: dict[str, Any] = {}

    bus = Bus()

    class BusWire(FakeWire):
        node = ""

        def send(self, ifname: str, frame: bytes) -> None:
            super().send(ifname, frame)
            loop = asyncio.get_running_loop()
            for name, w in bus.wires.items():
                if name != self.node and ifname in w.handlers:
                    loop.call_soon(lambda w=w: ifname in w.handlers and w.inject(ifname, frame))

    srv = APIServer(host="127.0.0.1", port=0)
    srv.start()
    tasks = []
    try:
        for path in sorted((REPO / "charts" / "ingot" / "crds").glob("*.yaml")):
            srv.load_manifests(path)
        admin = KubeSource(srv.api_client())
        net = ipaddress.ip_network("198.51.100.0/24")
        ips = [str(net.network_address + 1 + (i % 250)) for i in range(n_services)]
        # more than 250 Services share addresses (MetalLB allow-shared-ip style) so the pool fits
        services = [(f"svc-{i:04d}", ips[i], "IPv4") for i in range(n_services)]
        await asyncio.to_thread(seed, admin, services, list(NODES))
        for i, node in enumerate(NODES, 1):
            w = BusWire()
            w.node = node
            bus.wires[node] = w
            link = LinkInfo("eth0", 2, bytes((2, 0, 0, 0, 0, i)), IFF_UP | IFF_BROADCAST, True)
            source = KubeSource(srv.api_client(), request_timeout_s=5.0)
            comp = L2Component(
                options=L2Options(node=node, namespace=NS, heartbeat_key=b"bench"),
                wire=w,
                clock=RealClock(),
                source=source,
                link_scanner=lambda link=link: [link],
            )
            app = SpeakerApp(components=[comp], source=source, namespace=NS)
            tasks.append((comp, asyncio.get_running_loop().create_task(app.run())))

        def announced() -> int:
            return sum(len(c.owned_services) for c, _ in tasks)

        t0 = time.monotonic()
        while announced() < n_services and time.monotonic() - t0 < 300:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        settle_s = time.monotonic() - t0
        # let status writes drain: wait until the audit log stops growing fast
        write_verbs = {"create", "update", "patch", "delete"}

        def writes_now() -> int:
            return sum(1 for a in srv.audit[:] if a.verb in write_verbs)

        last = -1
        for _ in range(120):
            await asyncio.sleep(1.0)
            cur = writes_now()
            print(f"settling: {cur} writes so far", file=sys.stderr, flush=True)
            if cur - last < 5:
                break
            last = cur
        start_n = writes_now()
        start_t = time.monotonic()
        await asyncio.sleep(window_s)
        window = [a for a in srv.audit[:] if a.verb in write_verbs][start_n:]
        print(f"window: {len(window)} writes", file=sys.stderr, flush=True)
        elapsed = time.monotonic() - start_t
        by_res: dict[str, int] = {}
        for a in window:
            by_res[a.resource] = by_res.get(a.resource, 0) + 1
        leases = await asyncio.to_thread(
            lambda: len(
                admin.list(
                    __import__("ingot.kube.source", fromlist=["LEASE"]).LEASE, namespace=NS
                ).items
            )
        )
        return {
            "services": n_services,
            "announced": announced(),
            "time_to_announce_all_s": round(settle_s, 2),
            "steady_window_s": round(elapsed, 1),
            "writes_per_s": round(len(window) / elapsed, 3),
            "writes_by_resource": by_res,
            "leases": leases,
        }
    finally:
        for _, t in tasks:
            t.cancel()
        for _, t in tasks:
            with contextlib.suppress(BaseException):
                await t
        srv.stop()


def writes_phase(window_s: float, sizes: tuple[int, ...] = (10, 1000)) -> dict[str, Any]:
    return {str(n): asyncio.run(_writes(n, window_s)) for n in sizes}


def writes_netns(n_services: int, window_s: float) -> dict[str, Any]:
    """Steady-state API writes with 3 real speaker processes (netns lab) and N Services."""
    from ingot.kube import source as src

    with tempfile.TemporaryDirectory(prefix="ingot-bench-l2w-") as tmp_s, Topology() as topo:
        tmp = Path(tmp_s)
        lab = Lab(topo, tmp)
        try:
            extra = max(0, n_services - 2)
            ips = [f"203.0.113.{128 + (i % 120)}" for i in range(extra)]

            def more() -> None:
                lab.admin.create(
                    src.IP_ADDRESS_POOL,
                    {
                        "apiVersion": "metallb.io/v1beta1",
                        "kind": "IPAddressPool",
                        "metadata": {"name": "q", "namespace": NS},
                        "spec": {"addresses": ["203.0.113.128-203.0.113.247"]},
                    },
                    namespace=NS,
                )
                ad = lab.admin.get(src.L2_ADVERTISEMENT, "l2", namespace=NS)
                for i, ip in enumerate(ips):
                    name = f"svc-{i:04d}"
                    svc = lab.admin.create(
                        src.SERVICE,
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "metadata": {"name": name, "namespace": "demo"},
                            "spec": {
                                "type": "LoadBalancer",
                                "selector": {"app": "web"},
                                "ports": [{"port": 1000 + i, "protocol": "TCP"}],
                            },
                        },
                        namespace="demo",
                    )
                    svc["status"] = {"loadBalancer": {"ingress": [{"ip": ip}]}}
                    lab.admin.replace_status(src.SERVICE, svc, namespace="demo")
                    lab.admin.create(
                        src.ENDPOINT_SLICE,
                        {
                            "apiVersion": "discovery.k8s.io/v1",
                            "kind": "EndpointSlice",
                            "metadata": {
                                "name": f"{name}-1",
                                "namespace": "demo",
                                "labels": {"kubernetes.io/service-name": name},
                            },
                            "addressType": "IPv4",
                            "endpoints": [
                                {
                                    "addresses": ["10.0.0.1"],
                                    "nodeName": n,
                                    "conditions": {"ready": True},
                                }
                                for n in NODES
                            ],
                        },
                        namespace="demo",
                    )
                del ad

            lab.call(more)
            write_verbs = {"create", "update", "patch", "delete"}

            def writes_now() -> int:
                return sum(1 for a in list(lab.srv.audit) if a.verb in write_verbs)

            base = writes_now()
            t0 = time.monotonic()
            for n in NODES:
                lab.start_speaker(n)

            def statuses() -> int:
                return len(lab.admin.list(_status_kind(), namespace=NS).items)

            while time.monotonic() - t0 < 600 and lab.call(statuses) < n_services:
                time.sleep(1.0)
            settle_s = time.monotonic() - t0
            last = -1
            for _ in range(120):
                time.sleep(2.0)
                cur = writes_now()
                print(f"settling: {cur - base} writes", file=sys.stderr, flush=True)
                if cur - last < 10:
                    break
                last = cur
            start = len(lab.srv.audit)
            t1 = time.monotonic()
            time.sleep(window_s)
            window = [a for a in list(lab.srv.audit)[start:] if a.verb in write_verbs]
            elapsed = time.monotonic() - t1
            by_res: dict[str, int] = {}
            for a in window:
                by_res[a.resource] = by_res.get(a.resource, 0) + 1
            fences = sum(
                (tmp / f"{n}.log").read_text().count("fenced silent speaker") for n in NODES
            )
            return {
                "services": n_services,
                "status_objects": lab.call(statuses),
                "time_to_all_status_objects_s": round(settle_s, 1),
                "steady_window_s": round(elapsed, 1),
                "writes_per_s": round(len(window) / elapsed, 3),
                "writes_by_resource": by_res,
                "leases": len(lab.call(lab.admin.list, src.LEASE, namespace=NS).items),
                "fences_during_run": fences,
            }
        finally:
            lab.close()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--phase", choices=("failover", "writes", "writes-inproc", "all"), default="all")
    p.add_argument("--cases", nargs="*", default=[], help="e.g. kill_ipv4 linkdown_ipv6")
    p.add_argument("--sizes", type=int, nargs="*", default=[10, 1000])
    p.add_argument("--window", type=float, default=20.0, help="steady-state window, s")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "l2_failover.json"))
    args = p.parse_args()
    out_path = Path(args.out)
    result: dict[str, Any] = {}
    if out_path.exists():
        with contextlib.suppress(ValueError):
            result = json.loads(out_path.read_text())
    result["machine"] = {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    result["settings"] = {
        "heartbeat_interval_s": 0.1,
        "suspect_after_s": 0.35,
        "hold_down_s": HOLD_DOWN_S,
        "note": "speaker defaults except --hold-down (only affects rejoin between runs)",
        "ping_interval_s": 0.01,
    }
    if args.phase in ("failover", "all"):
        if os.geteuid() != 0:
            print("failover phase needs root", file=sys.stderr)
            return 2
        result["failover"] = failover_phase(args.runs, frozenset(args.cases))
    if args.phase in ("writes", "all"):
        result["steady_state_api_writes"] = {
            str(n): writes_netns(n, args.window) for n in args.sizes
        }
    if args.phase == "writes-inproc":
        result["steady_state_api_writes_inproc"] = writes_phase(args.window, tuple(args.sizes))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
