"""L2 announcing with real Linux clients (root, network namespaces): ARP/NDP, GARP, ownership moves.

Topology: one bridge, three node namespaces and a client on 198.51.100.0/24 + 2001:db8:1::/64.
Every node carries the VIPs on ``lo`` with ``arp_ignore=1``/``arp_announce=2`` (netlab-facts
§3.2 (a), kube-proxy IPVS strictARP), so the kernel answers ICMP for the VIP while only the
speaker answers ARP/NDP.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingot.lab.netns import Topology, run

NODES = {"n1": 11, "n2": 12, "n3": 13}
VIP4 = "198.51.100.200"
VIP6 = "2001:db8:1::200"


def mac(host: int) -> str:
    return f"02:00:00:00:00:{host:02x}"


def build(topo: Topology) -> dict[str, str]:
    br = topo.add_bridge("br")
    names = {}
    for role, host in {**NODES, "client": 100}.items():
        ns = topo.add_namespace(role)
        names[role] = ns
        topo.connect(
            ns,
            br,
            addresses=[f"198.51.100.{host}/24", f"2001:db8:1::{host}/64"],
            mac=mac(host),
        )
        run(["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"], ns=ns)
        if role in NODES:
            run(["ip", "addr", "add", f"{VIP4}/32", "dev", "lo"], ns=ns)
            run(["ip", "-6", "addr", "add", f"{VIP6}/128", "dev", "lo"], ns=ns)
            for key in ("all", "eth0"):
                run(["sysctl", "-qw", f"net.ipv4.conf.{key}.arp_ignore=1"], ns=ns)
                run(["sysctl", "-qw", f"net.ipv4.conf.{key}.arp_announce=2"], ns=ns)
    return names


@pytest.fixture
def lab() -> Iterator[tuple[Topology, dict[str, str], Path]]:
    with tempfile.TemporaryDirectory(prefix="ingot-l2-") as tmp, Topology() as topo:
        yield topo, build(topo), Path(tmp)


def start_static(topo: Topology, ns: str, logdir: Path, name: str) -> subprocess.Popen[bytes]:
    with open(logdir / f"{name}.log", "ab") as log:  # the child keeps its own descriptor
        return topo.spawn(
            [
                sys.executable,
                "-m",
                "speaker",
                "--node-name",
                name,
                "--static-announce",
                VIP4,
                "--static-announce",
                VIP6,
                "--metrics-port",
                "0",
                "--log-level",
                "debug",
            ],
            ns=ns,
            stdout=log.fileno(),
            stderr=log.fileno(),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def neigh_mac(ns: str, ip: str) -> str | None:
    out = run(["ip", "neigh", "show", ip], ns=ns, check=False).stdout
    m = re.search(r"lladdr ([0-9a-f:]{17})", out)
    return m.group(1) if m else None


def ping_ok(ns: str, ip: str, *, count: int = 1, timeout_s: float = 1.0) -> bool:
    res = run(
        ["ping", "-c", str(count), "-i", "0.2", "-W", str(timeout_s), ip],
        ns=ns,
        check=False,
        timeout_s=10 + count,
    )
    return res.returncode == 0


def wait_for(pred, *, timeout_s: float, step_s: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step_s)
    return pred()


def logs(logdir: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(logdir.glob("*.log")))


def test_static_speaker_answers_and_move_switches_client(lab):
    topo, ns, logdir = lab
    client = ns["client"]
    s1 = start_static(topo, ns["n1"], logdir, "n1")
    # the speaker takes ~1 s to import; the client's first ARP/NS must then be answered by n1
    assert wait_for(lambda: ping_ok(client, VIP4), timeout_s=15), logs(logdir)
    assert wait_for(lambda: ping_ok(client, VIP6), timeout_s=5), logs(logdir)
    assert neigh_mac(client, VIP4) == mac(11)
    assert neigh_mac(client, VIP6) == mac(11)
    assert run(["arping", "-c", "2", "-w", "3", "-I", "eth0", VIP4], ns=client).returncode == 0

    # move: n1 dies hard, n2 starts announcing -> its GARP/NA switches the client's entries
    s1.send_signal(signal.SIGKILL)
    s1.wait(timeout=5)
    start_static(topo, ns["n2"], logdir, "n2")
    assert wait_for(lambda: neigh_mac(client, VIP4) == mac(12), timeout_s=15), logs(logdir)
    assert wait_for(lambda: neigh_mac(client, VIP6) == mac(12), timeout_s=5), logs(logdir)
    assert ping_ok(client, VIP4, count=3)
    assert ping_ok(client, VIP6, count=3)


def test_speaker_ignores_other_ips_and_stops_on_sigterm(lab):
    topo, ns, logdir = lab
    client = ns["client"]
    s3 = start_static(topo, ns["n3"], logdir, "n3")
    assert wait_for(lambda: ping_ok(client, VIP4), timeout_s=15), logs(logdir)
    assert neigh_mac(client, VIP4) == mac(13)
    # an IP nobody announces stays unresolved (the kernel does not answer: arp_ignore=1)
    res = run(
        ["arping", "-c", "1", "-w", "1", "-I", "eth0", "198.51.100.201"], ns=client, check=False
    )
    assert res.returncode != 0
    s3.send_signal(signal.SIGTERM)
    assert s3.wait(timeout=10) == 0
    run(["ip", "neigh", "flush", "dev", "eth0"], ns=client)
    res = run(["arping", "-c", "1", "-w", "1", "-I", "eth0", VIP4], ns=client, check=False)
    assert res.returncode != 0, "a stopped speaker must not be answered for"
