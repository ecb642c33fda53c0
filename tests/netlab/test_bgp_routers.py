"""BGP mode against real routers: BIRD 2, FRR and GoBGP in a router namespace (netlab tier).

Three node namespaces each run the speaker's BGP component (the pure planner
``ingot.api.bgp.plan_advertisements`` + ``speaker.bgp.exabgp.ExabgpDriver``, ExaBGP included) in
this test's event loop, ExaBGP itself inside the node's namespace. Every node has two BGPPeers:
an IPv4 session with TCP-MD5 and an IPv6 session. For each router the test checks ECMP next
hops for a /32 and a /128, communities and large communities, Local policy, withdrawal, and that
adding a Service never resets a session (the router's own session identity does not change).
Router configs follow ``shared/reference/netlab-conf`` (short connect-retry timers, P7, P8, P15).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ingot.api import bgp
from ingot.api.bgp import (
    BgpAdvertisementSpec,
    BgpPeerSpec,
    EndpointInfo,
    LargeCommunity,
    NodeInfo,
    ServiceInfo,
    StandardCommunity,
)
from ingot.lab.cluster import wait_for_async as wait_for
from ingot.lab.netns import run
from ingot.lab.router import fib_next_hops, same_bird_sessions
from ingot.lab.topology import NODES, Lab
from speaker.bgp.exabgp import ExabgpDriver
from speaker.bgp.metrics import BgpMetrics

ROUTER_ASN = 64501
NODE_ASN = 64500
ROUTER4 = "198.51.100.1"
ROUTER6 = "2001:db8:100::1"
MD5 = "lab-md5-secret"
IP = ipaddress.ip_address


# ---------------------------------------------------------------------------- routers


class Router:
    """A BGP daemon in the router namespace; subclasses know its config and CLI."""

    name = ""

    def __init__(self, ns: str, run_dir: Path) -> None:
        self.ns = ns
        self.run_dir = run_dir
        self.pids: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *, passwords: dict[str, str]) -> None:
        raise NotImplementedError

    def next_hops(self, prefix: str) -> list[str]:
        raise NotImplementedError

    def route_text(self, prefix: str) -> str:
        raise NotImplementedError

    def session_ids(self) -> dict[str, str]:
        """An identity per established session that changes whenever the session is reset."""
        raise NotImplementedError

    def same_sessions(self, before: dict[str, str], after: dict[str, str]) -> bool:
        """True when no session was reset between two :meth:`session_ids` readings."""
        return before == after

    def stop(self) -> None:
        for pid in self.pids:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                continue
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def _pid_from(self, pidfile: Path, *, timeout_s: float = 5.0) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if pidfile.exists() and pidfile.read_text().strip():
                pid = int(pidfile.read_text().strip())
                self.pids.append(pid)
                return pid
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: no pidfile {pidfile} after {timeout_s} s")


def _nodes4() -> list[str]:
    return [h.ipv4 for h in NODES]


def _nodes6() -> list[str]:
    return [h.ipv6 for h in NODES]


class Bird(Router):
    name = "bird"

    @property
    def ctl(self) -> str:
        return str(self.run_dir / "bird.ctl")

    def start(self, *, passwords: dict[str, str], node_asn: int = NODE_ASN) -> None:
        conf = self.write_conf(passwords=passwords, node_asn=node_asn)
        pidfile = self.run_dir / "bird.pid"
        run(["bird", "-c", str(conf), "-s", self.ctl, "-P", str(pidfile)], ns=self.ns)
        self._pid_from(pidfile)

    def reconfigure(self, *, passwords: dict[str, str]) -> None:
        self.write_conf(passwords=passwords)
        assert "Reconfigur" in self.birdc("configure")

    def write_conf(self, *, passwords: dict[str, str], node_asn: int = NODE_ASN) -> Path:
        lines = [
            f'log "{self.run_dir / "bird.log"}" all;',
            f"router id {ROUTER4};",
            "protocol device { scan time 10; }",
            "protocol kernel kernel4 { ipv4 { import none; export all; }; merge paths yes; }",
            "protocol kernel kernel6 { ipv6 { import none; export all; }; merge paths yes; }",
        ]
        for i, addr in enumerate(_nodes4() + _nodes6()):
            fam = "ipv6" if ":" in addr else "ipv4"
            local = ROUTER6 if ":" in addr else ROUTER4
            pw = f' password "{passwords[addr]}";' if addr in passwords else ""
            lines.append(
                f"protocol bgp n{i} {{ local {local} as {ROUTER_ASN}; neighbor {addr} as "
                f"{node_asn};{pw} hold time 9; connect retry time 1; error wait time 1, 5; "
                f"{fam} {{ import all; export none; }}; }}"
            )
        conf = self.run_dir / "bird.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def birdc(self, *args: str) -> str:
        return run(["birdc", "-s", self.ctl, *args], ns=self.ns, check=False).stdout

    def next_hops(self, prefix: str) -> list[str]:
        return fib_next_hops(self.ns, prefix)

    def route_text(self, prefix: str) -> str:
        return self.birdc("show", "route", prefix, "all")

    def session_ids(self) -> dict[str, str]:
        out = {}
        for line in self.birdc("show", "protocols").splitlines():
            words = line.split()
            if len(words) >= 6 and words[1] == "BGP" and words[5] == "Established":
                out[words[0]] = words[4]  # "since" time of the last state change
        return out

    def same_sessions(self, before: dict[str, str], after: dict[str, str]) -> bool:
        return same_bird_sessions(before, after)


class Frr(Router):
    name = "frr"

    def start(self, *, passwords: dict[str, str]) -> None:
        shutil.chown(self.run_dir, "frr", "frr")
        zconf = self.run_dir / "zebra.conf"
        zconf.write_text(f"hostname router\nlog file {self.run_dir / 'zebra.log'}\n")
        lines = [
            "frr defaults traditional",
            "hostname router",
            f"log file {self.run_dir / 'bgpd.log'}",
            f"router bgp {ROUTER_ASN}",
            f" bgp router-id {ROUTER4}",
            " no bgp ebgp-requires-policy",
            " no bgp default ipv4-unicast",
        ]
        for addr in _nodes4() + _nodes6():
            lines += [f" neighbor {addr} remote-as {NODE_ASN}", f" neighbor {addr} timers 3 9"]
            lines.append(f" neighbor {addr} timers connect 1")
            if addr in passwords:
                lines.append(f" neighbor {addr} password {passwords[addr]}")
        for fam, addrs in (("ipv4", _nodes4()), ("ipv6", _nodes6())):
            lines += [f" address-family {fam} unicast", "  maximum-paths 8"]
            lines += [f"  neighbor {a} activate" for a in addrs]
            lines.append(" exit-address-family")
        bconf = self.run_dir / "bgpd.conf"
        bconf.write_text("\n".join(lines) + "\n")
        for f in (zconf, bconf):
            shutil.chown(f, "frr", "frr")
        common = ["-z", str(self.run_dir / "zserv.api"), "--vty_socket", str(self.run_dir)]
        for daemon, conf in (("zebra", zconf), ("bgpd", bconf)):
            pidfile = self.run_dir / f"{daemon}.pid"
            run(
                [f"/usr/lib/frr/{daemon}", "-d", "-f", str(conf), "-i", str(pidfile), "-P", "0"]
                + common,
                ns=self.ns,
            )
            self._pid_from(pidfile)

    def vtysh(self, *cmds: str) -> str:
        args = ["vtysh", "--vty_socket", str(self.run_dir)]
        for c in cmds:
            args += ["-c", c]
        return run(args, ns=self.ns, check=False).stdout

    def next_hops(self, prefix: str) -> list[str]:
        return fib_next_hops(self.ns, prefix)

    def route_text(self, prefix: str) -> str:
        fam = "ipv6" if ":" in prefix else "ip"
        return self.vtysh(f"show {fam} bgp {prefix} json")

    def session_ids(self) -> dict[str, str]:
        try:
            data = json.loads(self.vtysh("show bgp neighbors json") or "{}")
        except json.JSONDecodeError:
            return {}
        return {
            addr: str(n.get("connectionsEstablished"))
            for addr, n in data.items()
            if n.get("bgpState") == "Established"
        }


class GoBgp(Router):
    name = "gobgp"

    def start(self, *, passwords: dict[str, str]) -> None:
        lines = [
            "[global.config]",
            f"  as = {ROUTER_ASN}",
            f'  router-id = "{ROUTER4}"',
            f'  local-address-list = ["{ROUTER4}", "{ROUTER6}"]',
            "[global.use-multiple-paths.config]",
            "  enabled = true",
        ]
        for addr in _nodes4() + _nodes6():
            fam = "ipv6-unicast" if ":" in addr else "ipv4-unicast"
            lines += [
                "[[neighbors]]",
                "  [neighbors.config]",
                f'    neighbor-address = "{addr}"',
                f"    peer-as = {NODE_ASN}",
            ]
            if addr in passwords:
                lines.append(f'    auth-password = "{passwords[addr]}"')
            lines += [
                "  [neighbors.timers.config]",
                "    hold-time = 9",
                "    keepalive-interval = 3",
                "    connect-retry = 1",
                "  [[neighbors.afi-safis]]",
                "    [neighbors.afi-safis.config]",
                f'      afi-safi-name = "{fam}"',
            ]
        conf = self.run_dir / "gobgpd.toml"
        conf.write_text("\n".join(lines) + "\n")
        log = open(self.run_dir / "gobgpd.log", "wb")  # noqa: SIM115 (closed with the process)
        self.procs.append(
            subprocess.Popen(
                ["ip", "netns", "exec", self.ns, "gobgpd", "-f", str(conf), "-p", "-l", "info"]
                + ["--api-hosts", "127.0.0.1:50051", "--pprof-disable"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()

    def gobgp(self, *args: str) -> str:
        return run(["gobgp", "-u", "127.0.0.1", *args], ns=self.ns, check=False).stdout

    def _paths(self, prefix: str) -> list[dict[str, Any]]:
        fam = "ipv6" if ":" in prefix else "ipv4"
        try:
            data = json.loads(self.gobgp("global", "rib", "-a", fam, prefix, "-j") or "{}")
        except json.JSONDecodeError:
            return []
        paths = data.get(prefix, []) if isinstance(data, dict) else []
        return [p for p in paths if isinstance(p, dict)]

    def next_hops(self, prefix: str) -> list[str]:
        hops = []
        for path in self._paths(prefix):
            for attr in path.get("attrs", []):
                if "nexthop" in attr:
                    hops.append(attr["nexthop"])
        return sorted(hops)

    def route_text(self, prefix: str) -> str:
        fam = "ipv6" if ":" in prefix else "ipv4"
        return self.gobgp("global", "rib", "-a", fam, prefix)

    def session_ids(self) -> dict[str, str]:
        try:
            data = json.loads(self.gobgp("neighbor", "-j") or "[]")
        except json.JSONDecodeError:
            return {}
        out = {}
        for n in data:
            state = n.get("state", {})
            if state.get("session_state") in (6, "established", "ESTABLISHED"):
                uptime = n.get("timers", {}).get("state", {}).get("uptime", {})
                out[state.get("neighbor_address", "?")] = json.dumps(uptime, sort_keys=True)
        return out


ROUTERS: dict[str, type[Router]] = {"bird": Bird, "frr": Frr, "gobgp": GoBgp}


# ---------------------------------------------------------------------------- speakers


PEER4 = BgpPeerSpec("router-v4", NODE_ASN, ROUTER_ASN, IP(ROUTER4), password=MD5, hold_time_s=9)
PEER6 = BgpPeerSpec("router-v6", NODE_ASN, ROUTER_ASN, IP(ROUTER6), hold_time_s=9)
ADV = BgpAdvertisementSpec(
    "bgp",
    pools=frozenset({"bgp"}),
    communities=frozenset({StandardCommunity(64500, 100), LargeCommunity(64500, 1, 2)}),
)
WEB = ServiceInfo("demo/web", (IP("203.0.113.10"), IP("2001:db8:10::10")), "bgp")
API = ServiceInfo("demo/api", (IP("203.0.113.11"),), "bgp")
NODE_INFO = {
    h.role: NodeInfo(h.role, {"kubernetes.io/hostname": h.role}, addresses=(IP(h.ipv4),))
    for h in NODES
}


class Cluster:
    """Three nodes' BGP components driven from one plan function, like three speakers."""

    def __init__(
        self, lab: Lab, run_dir: Path, process_options: dict[str, float] | None = None
    ) -> None:
        self.drivers = {
            h.role: ExabgpDriver(
                runtime_dir=run_dir / h.role,
                metrics=BgpMetrics(),
                node_name=h.role,
                node_addresses=[IP(h.ipv4), IP(h.ipv6)],
                command_prefix=["ip", "netns", "exec", lab.ns(h.role)],
                process_options=process_options,
            )
            for h in NODES
        }
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self, peers: list[BgpPeerSpec]) -> None:
        for d in self.drivers.values():
            self.tasks.append(asyncio.create_task(d.run()))
        await asyncio.sleep(0)
        for d in self.drivers.values():
            assert d.set_peers(peers) == {}

    def apply(self, services: list[ServiceInfo], endpoints: dict[str, tuple[EndpointInfo, ...]]):
        for name, d in self.drivers.items():
            p = bgp.plan_advertisements(
                peers=[PEER4, PEER6],
                advertisements=[ADV],
                services=services,
                endpoints=endpoints,
                nodes=NODE_INFO,
                node_name=name,
            )
            d.set_routes(p.routes)

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def stable_sessions(router: Router) -> dict[str, str]:
    """Six established sessions whose identities stay the same over 0.5 s.

    BIRD's "since" time moves once more right after Established (the channel finishes its
    initial feed), so a snapshot taken in that instant is not yet the session's identity.
    """
    previous: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ids = await asyncio.to_thread(router.session_ids)
        if len(ids) == 6 and ids == previous:
            return ids
        previous = ids
        await asyncio.sleep(0.5)
    pytest.fail(f"sessions never settled: {previous!r}")


@pytest.fixture
def run_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="ingot-bgp-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


EPS_C = {"demo/web": (EndpointInfo("node3"),), "demo/api": (EndpointInfo("node1"),)}
ALL4 = sorted(h.ipv4 for h in NODES)
ALL6 = sorted(h.ipv6 for h in NODES)


@pytest.mark.parametrize("router_kind", sorted(ROUTERS))
async def test_bgp_against_router(router_kind: str, run_dir: Path) -> None:
    with Lab() as lab:
        lab.build()
        rdir = run_dir / "router"
        rdir.mkdir()
        router = ROUTERS[router_kind](lab.ns("router"), rdir)
        cluster = Cluster(lab, run_dir)
        try:
            router.start(passwords={a: MD5 for a in _nodes4()})
            await cluster.start([PEER4, PEER6])
            cluster.apply([WEB], EPS_C)

            # ECMP over all three nodes for the /32 and the /128 (MD5 sessions: C23 step 1)
            await wait_for(
                lambda: router.next_hops("203.0.113.10/32") == ALL4, timeout_s=30, what="v4 ECMP"
            )
            await wait_for(
                lambda: router.next_hops("2001:db8:10::10/128") == ALL6,
                timeout_s=30,
                what="v6 ECMP",
            )
            text = router.route_text("203.0.113.10/32")
            assert re.search(r"64500[:,]\s?100", text), text
            assert re.search(r"64500[:,]\s?1[:,]\s?2", text), text
            for d in cluster.drivers.values():
                assert all(p.session_up for p in d.processes.values())

            # adding a Service resets no session (the router's session identity is unchanged)
            sessions = await stable_sessions(router)
            cluster.apply([WEB, API], EPS_C)
            await wait_for(
                lambda: router.next_hops("203.0.113.11/32") == ALL4,
                timeout_s=10,
                what="second service",
            )

            # Local policy: only the endpoint's node is a next hop (C29)
            cluster.apply([replace(WEB, external_traffic_policy="Local"), API], EPS_C)
            await wait_for(
                lambda: router.next_hops("203.0.113.10/32") == ["198.51.100.13"],
                timeout_s=10,
                what="Local next hop node3 only",
            )

            # no serving endpoint: withdrawn everywhere (C27); the other Service stays
            cluster.apply([WEB, API], {"demo/api": EPS_C["demo/api"]})
            await wait_for(
                lambda: (
                    router.next_hops("203.0.113.10/32") == []
                    and router.next_hops("2001:db8:10::10/128") == []
                ),
                timeout_s=10,
                what="withdrawal",
            )
            assert router.next_hops("203.0.113.11/32") == ALL4
            assert router.same_sessions(sessions, router.session_ids())
        finally:
            await cluster.stop()
            router.stop()


async def test_md5_mismatch_keeps_session_down_c23(run_dir: Path) -> None:
    """C23 steps 2-3: a wrong key never falls back to an unauthenticated session; fixing the
    key on the router brings the sessions back without restarting the speakers."""
    with Lab() as lab:
        lab.build()
        rdir = run_dir / "router"
        rdir.mkdir()
        router = Bird(lab.ns("router"), rdir)
        cluster = Cluster(lab, run_dir, {"backoff_initial_s": 1.0, "backoff_max_s": 2.0})
        try:
            router.start(passwords={a: "another-secret" for a in _nodes4()})
            await cluster.start([PEER4])
            cluster.apply([WEB], EPS_C)
            await asyncio.sleep(4)
            assert router.next_hops("203.0.113.10/32") == []
            procs = [p for d in cluster.drivers.values() for p in d.processes.values()]
            assert not any(p.session_up for p in procs)
            nstat = run(["nstat", "-az", "TcpExtTCPMD5Failure"], ns=lab.ns("router"), check=False)
            assert re.search(r"TcpExtTCPMD5Failure\s+[1-9]", nstat.stdout), nstat.stdout
            m = cluster.drivers["node1"].metrics.registry
            assert m.get_sample_value("metallb_bgp_session_up", {"peer": ROUTER4}) == 0

            router.reconfigure(passwords={a: MD5 for a in _nodes4()})
            await wait_for(
                lambda: router.next_hops("203.0.113.10/32") == ALL4, timeout_s=20, what="fixed"
            )
            assert m.get_sample_value("metallb_bgp_session_up", {"peer": ROUTER4}) == 1
        finally:
            await cluster.stop()
            router.stop()


async def test_wrong_asn_backs_off_c24(run_dir: Path) -> None:
    """C24: the router refuses our AS; attempts are paced (5 s, 10 s, ...), then fixing myASN
    on the BGPPeer brings the session up at once."""
    with Lab() as lab:
        lab.build()
        rdir = run_dir / "router"
        rdir.mkdir()
        router = Bird(lab.ns("router"), rdir)
        cluster = Cluster(lab, run_dir)
        try:
            router.start(passwords={a: MD5 for a in _nodes4()}, node_asn=NODE_ASN)
            wrong = replace(PEER4, my_asn=64513)
            await cluster.start([wrong])
            cluster.apply([WEB], EPS_C)
            await asyncio.sleep(8)
            proc = cluster.drivers["node1"].processes["router-v4"]
            # attempts at ~0 s and ~5.5 s only (not dozens per second)
            assert 1 <= proc.starts <= 2, proc.starts
            assert not proc.session_up
            assert proc.last_down_reason, "the refusal reason is kept for status"
            log = (rdir / "bird.log").read_text()
            refusals = len(re.findall(r"n0: Error: Bad peer AS", log))
            assert 1 <= refusals <= 2, log[-2000:]

            for d in cluster.drivers.values():
                assert d.set_peers([PEER4]) == {}
            await wait_for(
                # BIRD itself refuses connections during its "error wait" (1-5 s) after the
                # refusals, so allow a couple of our retry steps (5 s, 10 s)
                lambda: router.next_hops("203.0.113.10/32") == ALL4,
                timeout_s=30,
                what="fixed",
            )
        finally:
            await cluster.stop()
            router.stop()


async def test_exabgp_killed_is_restarted_and_reannounces(run_dir: Path) -> None:
    """ExaBGP dies (SIGKILL): the supervisor restarts it and every route comes back; the
    speaker (this event loop) is unaffected."""
    with Lab() as lab:
        lab.build()
        rdir = run_dir / "router"
        rdir.mkdir()
        router = Bird(lab.ns("router"), rdir)
        cluster = Cluster(lab, run_dir, {"backoff_initial_s": 1.0, "backoff_max_s": 2.0})
        try:
            router.start(passwords={a: MD5 for a in _nodes4()})
            await cluster.start([PEER4])
            cluster.apply([WEB, API], EPS_C)
            for prefix in ("203.0.113.10/32", "203.0.113.11/32"):
                await wait_for(
                    lambda p=prefix: router.next_hops(p) == ALL4, timeout_s=30, what=prefix
                )
            proc = cluster.drivers["node1"].processes["router-v4"]
            assert proc.pid is not None
            os.kill(proc.pid, 9)
            await wait_for(
                lambda: router.next_hops("203.0.113.10/32") == ALL4[1:],
                timeout_s=10,
                what="node1 gone after the kill",
            )
            await wait_for(lambda: proc.starts == 2, timeout_s=10, what="restart")
            for prefix in ("203.0.113.10/32", "203.0.113.11/32"):
                await wait_for(
                    lambda p=prefix: router.next_hops(p) == ALL4, timeout_s=15, what="re-announce"
                )
            m = cluster.drivers["node1"].metrics.registry
            assert m.get_sample_value("ingot_bgp_exabgp_restarts_total", {"peer": ROUTER4}) == 1
        finally:
            await cluster.stop()
            router.stop()
