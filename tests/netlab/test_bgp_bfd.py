"""BFD beside ExaBGP against BIRD's BFD and FRR's bfdd (netlab tier, issue 7).

node1 runs ExaBGP + ingot's BFD (``speaker.bgp.bfd.BfdService``, sockets opened inside node1's
namespace) with a 300 ms x 3 profile; node2 runs ExaBGP without BFD. Both announce the same /32,
so the router has two ECMP next hops. Taking node1's link down must remove node1's next hop
from the router's kernel FIB through BFD (detection 0.9 s), well before the 9 s hold time; the
link coming back brings BFD and the next hop back. Timing figures are in ``bench/bfd.py``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ingot.api.bgp import BgpPeerSpec, Route
from ingot.lab.netns import run
from ingot.lab.nsenter import netns
from ingot.lab.router import fib_next_hops
from ingot.lab.topology import Lab
from speaker.bgp.bfd import BfdPeer, BfdService, BfdTimers
from speaker.bgp.exabgp import ExabgpDriver
from speaker.bgp.metrics import BfdMetrics, BgpMetrics

ROUTER_ASN, NODE_ASN = 64501, 64500
ROUTER4 = "198.51.100.1"
NODE1, NODE2 = "198.51.100.11", "198.51.100.12"
VIP = "203.0.113.10/32"
IP = ipaddress.ip_address


def bird_conf(run_dir: Path) -> str:
    return f"""
log "{run_dir / "bird.log"}" all;
router id {ROUTER4};
protocol device {{ scan time 10; }}
protocol kernel kernel4 {{ ipv4 {{ import none; export all; }}; merge paths yes; }}
protocol bfd {{ interface "eth0" {{ min rx interval 300 ms; min tx interval 300 ms;
  multiplier 3; }}; }}
protocol bgp n1 {{ local {ROUTER4} as {ROUTER_ASN}; neighbor {NODE1} as {NODE_ASN}; bfd on;
  hold time 9; connect retry time 1; error wait time 1, 5; ipv4 {{ import all; export none; }}; }}
protocol bgp n2 {{ local {ROUTER4} as {ROUTER_ASN}; neighbor {NODE2} as {NODE_ASN};
  hold time 9; connect retry time 1; error wait time 1, 5; ipv4 {{ import all; export none; }}; }}
"""


def frr_bgpd_conf(run_dir: Path) -> str:
    lines = [
        "frr defaults traditional",
        "hostname router",
        f"log file {run_dir / 'bgpd.log'}",
        f"router bgp {ROUTER_ASN}",
        f" bgp router-id {ROUTER4}",
        " no bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
    ]
    for addr in (NODE1, NODE2):
        lines += [
            f" neighbor {addr} remote-as {NODE_ASN}",
            f" neighbor {addr} timers 3 9",
            f" neighbor {addr} timers connect 1",
        ]
    lines.append(f" neighbor {NODE1} bfd profile fast")
    lines += [" address-family ipv4 unicast", "  maximum-paths 8"]
    lines += [f"  neighbor {a} activate" for a in (NODE1, NODE2)]
    lines += [" exit-address-family"]
    return "\n".join(lines) + "\n"


def frr_bfdd_conf(run_dir: Path) -> str:
    """bfdd's own file holds the profile (per-daemon configs: bgpd ignores ``bfd`` nodes)."""
    return (
        f"hostname router\nlog file {run_dir / 'bfdd.log'}\n"
        "bfd\n profile fast\n  receive-interval 300\n  transmit-interval 300\n"
        "  detect-multiplier 3\n"
    )


class Router:
    def __init__(self, kind: str, ns: str, run_dir: Path) -> None:
        self.kind, self.ns, self.run_dir = kind, ns, run_dir
        self.pids: list[int] = []

    def _pid(self, pidfile: Path) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if pidfile.exists() and pidfile.read_text().strip():
                self.pids.append(int(pidfile.read_text().strip()))
                return
            time.sleep(0.05)
        raise RuntimeError(f"no pidfile {pidfile}")

    def start(self) -> None:
        d = self.run_dir
        if self.kind == "bird":
            (d / "bird.conf").write_text(bird_conf(d))
            pidfile = d / "bird.pid"
            run(
                ["bird", "-c", str(d / "bird.conf"), "-s", str(d / "bird.ctl"), "-P", str(pidfile)],
                ns=self.ns,
            )
            self._pid(pidfile)
            return
        shutil.chown(d, "frr", "frr")
        confs = {
            "zebra": f"hostname router\nlog file {d / 'zebra.log'}\n",
            "bgpd": frr_bgpd_conf(d),
            "bfdd": frr_bfdd_conf(d),
        }
        for daemon, text in confs.items():
            conf = d / f"{daemon}.conf"
            conf.write_text(text)
            shutil.chown(conf, "frr", "frr")
            extra = ["--bfdctl", str(d / "bfdd.sock")] if daemon == "bfdd" else []
            pidfile = d / f"{daemon}.pid"
            run(
                [f"/usr/lib/frr/{daemon}", "-d", "-f", str(conf), "-i", str(pidfile), "-P", "0"]
                + ["-z", str(d / "zserv.api"), "--vty_socket", str(d), *extra],
                ns=self.ns,
            )
            self._pid(pidfile)

    def bfd_up(self) -> bool:
        if self.kind == "bird":
            out = run(
                ["birdc", "-s", str(self.run_dir / "bird.ctl"), "show", "bfd", "sessions"],
                ns=self.ns,
                check=False,
            ).stdout
            return any(NODE1 in line and " Up " in line for line in out.splitlines())
        out = run(
            ["vtysh", "--vty_socket", str(self.run_dir), "-c", "show bfd peers brief"],
            ns=self.ns,
            check=False,
        ).stdout
        return any(NODE1 in line and "up" in line.lower().split() for line in out.splitlines())

    def stop(self) -> None:
        import os

        for pid in self.pids:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                continue


async def wait_for(check: Callable[[], Any], *, timeout_s: float, what: str) -> float:
    """Poll ``check`` in a thread until truthy; return the seconds it took."""
    t0 = time.monotonic()
    last: Any = None
    while time.monotonic() - t0 < timeout_s:
        last = await asyncio.to_thread(check)
        if last:
            return time.monotonic() - t0
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}; last {last!r}")


@pytest.fixture
def run_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="ingot-bfd-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("router_kind", ["bird", "frr"])
async def test_bfd_down_removes_next_hop_before_hold_time(router_kind: str, run_dir: Path) -> None:
    with Lab() as lab:
        lab.build()
        rdir = run_dir / "router"
        rdir.mkdir()
        router = Router(router_kind, lab.ns("router"), rdir)
        peer = BgpPeerSpec("router", NODE_ASN, ROUTER_ASN, IP(ROUTER4), hold_time_s=9)
        route = Route(ipaddress.ip_network(VIP), "router", "self")
        drivers = {
            n: ExabgpDriver(
                runtime_dir=run_dir / n,
                metrics=BgpMetrics(),
                node_name=n,
                node_addresses=[IP(addr)],
                command_prefix=["ip", "netns", "exec", lab.ns(n)],
            )
            for n, addr in (("node1", NODE1), ("node2", NODE2))
        }
        metrics = BfdMetrics()
        bfd = BfdService(
            metrics=metrics, on_down=lambda name: drivers["node1"].reset_peer(name, "BFD down")
        )
        bfd_peer = BfdPeer("router", IP(ROUTER4), BfdTimers(300_000, 300_000, 3))
        with netns(lab.ns("node1")):
            bfd.open_sockets()
            tx = bfd.make_tx_sockets([bfd_peer])
        tasks = []
        try:
            router.start()
            tasks = [asyncio.create_task(d.run()) for d in drivers.values()]
            tasks.append(asyncio.create_task(bfd.run()))
            await asyncio.sleep(0)
            bfd.set_peers([bfd_peer], tx_sockets=tx)
            for d in drivers.values():
                assert d.set_peers([peer]) == {}
                d.set_routes(frozenset({route}))
            rns = lab.ns("router")
            await wait_for(
                lambda: fib_next_hops(rns, VIP) == [NODE1, NODE2], timeout_s=30, what="ECMP"
            )
            await wait_for(router.bfd_up, timeout_s=15, what="BFD Up at the router")
            labels = {"peer": ROUTER4}
            await wait_for(
                lambda: metrics.registry.get_sample_value("metallb_bfd_session_up", labels) == 1,
                timeout_s=5,
                what="our BFD session Up",
            )

            await wait_for(
                lambda: (
                    all(p.session_up for d in drivers.values() for p in d.processes.values())
                    and fib_next_hops(rns, VIP) == [NODE1, NODE2]
                    and router.bfd_up()
                ),
                timeout_s=20,
                what="BGP and BFD settled",
            )
            downs = (
                metrics.registry.get_sample_value("metallb_bfd_session_down_events_total", labels)
                or 0
            )
            run(["ip", "link", "set", "eth0", "down"], ns=lab.ns("node1"))
            # BFD (0.9 s detection) must beat the 9 s hold timer by far
            await wait_for(
                lambda: fib_next_hops(rns, VIP) == [NODE2], timeout_s=5, what="BFD withdrawal"
            )
            await wait_for(
                lambda: metrics.registry.get_sample_value("metallb_bfd_session_up", labels) == 0,
                timeout_s=5,
                what="our side Down",
            )
            assert (
                metrics.registry.get_sample_value("metallb_bfd_session_down_events_total", labels)
                == downs + 1
            )

            run(["ip", "link", "set", "eth0", "up"], ns=lab.ns("node1"))
            await wait_for(router.bfd_up, timeout_s=20, what="BFD Up again")
            await wait_for(
                lambda: fib_next_hops(rns, VIP) == [NODE1, NODE2], timeout_s=20, what="ECMP again"
            )
            assert (
                metrics.registry.get_sample_value("metallb_bfd_control_packet_input_total", labels)
                > 3
            )
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            router.stop()


ROUTER6, NODE1_6, NODE2_6 = "2001:db8:100::1", "2001:db8:100::11", "2001:db8:100::12"
VIP6 = "2001:db8:10::10/128"


def bird_conf6(run_dir: Path) -> str:
    return f"""
log "{run_dir / "bird.log"}" all;
router id {ROUTER4};
protocol device {{ scan time 10; }}
protocol kernel kernel6 {{ ipv6 {{ import none; export all; }}; merge paths yes; }}
protocol bfd {{ interface "eth0" {{ min rx interval 300 ms; min tx interval 300 ms;
  multiplier 3; }}; }}
protocol bgp n1 {{ local {ROUTER6} as {ROUTER_ASN}; neighbor {NODE1_6} as {NODE_ASN}; bfd on;
  hold time 9; connect retry time 1; error wait time 1, 5; ipv6 {{ import all; export none; }}; }}
protocol bgp n2 {{ local {ROUTER6} as {ROUTER_ASN}; neighbor {NODE2_6} as {NODE_ASN};
  hold time 9; connect retry time 1; error wait time 1, 5; ipv6 {{ import all; export none; }}; }}
"""


async def test_bfd_ipv6_against_bird(run_dir: Path) -> None:
    """The same over IPv6: hop limit 255, IPV6_PKTINFO demultiplexing, IPv6 BGP session."""
    with Lab() as lab:
        lab.build()
        rdir = run_dir / "router"
        rdir.mkdir()
        rns = lab.ns("router")
        (rdir / "bird.conf").write_text(bird_conf6(rdir))
        ctl = rdir / "bird.ctl"
        router = Router("bird", rns, rdir)
        run(["bird", "-c", str(rdir / "bird.conf"), "-s", str(ctl), "-P", str(rdir / "p")], ns=rns)
        router._pid(rdir / "p")
        peer = BgpPeerSpec("router", NODE_ASN, ROUTER_ASN, IP(ROUTER6), hold_time_s=9)
        route = Route(ipaddress.ip_network(VIP6), "router", "self")
        drivers = {
            n: ExabgpDriver(
                runtime_dir=run_dir / n,
                metrics=BgpMetrics(),
                node_name=n,
                node_addresses=[IP(addr)],
                command_prefix=["ip", "netns", "exec", lab.ns(n)],
            )
            for n, addr in (("node1", NODE1), ("node2", NODE2))
        }
        metrics = BfdMetrics()
        bfd = BfdService(
            metrics=metrics, on_down=lambda name: drivers["node1"].reset_peer(name, "BFD down")
        )
        bfd_peer = BfdPeer("router", IP(ROUTER6), BfdTimers(300_000, 300_000, 3))
        with netns(lab.ns("node1")):
            bfd.open_sockets()
            tx = bfd.make_tx_sockets([bfd_peer])
        tasks = [asyncio.create_task(d.run()) for d in drivers.values()]
        tasks.append(asyncio.create_task(bfd.run()))
        try:
            await asyncio.sleep(0)
            bfd.set_peers([bfd_peer], tx_sockets=tx)
            for d in drivers.values():
                assert d.set_peers([peer]) == {}
                d.set_routes(frozenset({route}))
            both = sorted([NODE1_6, NODE2_6])
            await wait_for(lambda: fib_next_hops(rns, VIP6) == both, timeout_s=30, what="v6 ECMP")

            def bird_bfd_up() -> bool:
                out = run(["birdc", "-s", str(ctl), "show", "bfd", "sessions"], ns=rns).stdout
                return any(NODE1_6 in line and " Up " in line for line in out.splitlines())

            await wait_for(bird_bfd_up, timeout_s=15, what="BFD Up over IPv6")
            labels = {"peer": ROUTER6}
            assert metrics.registry.get_sample_value("metallb_bfd_session_up", labels) == 1
            await asyncio.sleep(1.0)  # Poll sequence to 300 ms done
            run(["ip", "link", "set", "eth0", "down"], ns=lab.ns("node1"))
            await wait_for(
                lambda: fib_next_hops(rns, VIP6) == [NODE2_6], timeout_s=5, what="BFD withdrawal"
            )
            assert not metrics.registry.get_sample_value(
                "ingot_bfd_dropped_packets_total", {"reason": "bad_ttl"}
            )
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            router.stop()
