"""Elected L2 failover with real kernels: 3 speakers + ingot.apiserver, kill -9 and link down.

Topology (all inside namespaces this test creates):

* data segment ``br`` (198.51.100.0/24, 2001:db8:1::/64): n1..n3 ``eth0`` and the client;
* management segment ``mgmt`` (203.0.113.0/24): n1..n3 ``eth1`` and the ``api`` namespace,
  where an ``ingot.apiserver`` runs inside this test process (a worker thread that entered the
  ``api`` network namespace with setns(2), so its sockets live there).

Speakers exclude ``eth1`` (``--exclude-interface``), so heartbeats and ARP/NDP use the data
segment only. A tcpdump on the bridge records every ARP reply / NA for the VIPs; the test checks
that no two MACs answered within the same window (beyond the 50 ms handover allowance, I-1).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ingot.api import l2 as place
from ingot.lab.l2lab import L2Lab, mac
from ingot.lab.netns import Topology, run
from ingot.lab.sniff import answer_frames, double_answer_overlap_s

REPO = Path(__file__).resolve().parents[2]
NODES = {"n1": 11, "n2": 12, "n3": 13}
VIP4 = "198.51.100.200"
VIP6 = "2001:db8:1::200"
NS = "ingot-system"


def objects() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in (NS, "demo")
    ]
    out.append(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "p", "namespace": NS},
            "spec": {"addresses": [f"{VIP4}/32", f"{VIP6}/128"]},
        }
    )
    out.append(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": "l2", "namespace": NS},
        }
    )
    out += [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}} for n in NODES]
    return out


def seed(admin: Any) -> None:
    from ingot.kube import source as src
    from ingot.lab.cluster import add_lb_service

    kinds = {
        "Namespace": src.NAMESPACE,
        "IPAddressPool": src.IP_ADDRESS_POOL,
        "L2Advertisement": src.L2_ADVERTISEMENT,
        "Node": src.NODE,
    }
    for obj in objects():
        admin.create(kinds[obj["kind"]], obj, namespace=obj["metadata"].get("namespace"))
    for name, ip, fam in (("web4", VIP4, "IPv4"), ("web6", VIP6, "IPv6")):
        add_lb_service(admin, name=name, ip=ip, family=fam, endpoint_nodes=NODES)


def ranked(ip: str) -> list[str]:
    return list(
        place.place_ip(
            ip=ip,
            services=[place.ServiceView("demo/web", pool="p")],
            advertisements=[place.L2Ad("l2", frozenset({"p"}))],
            nodes={n: place.NodeView(n) for n in NODES},
            members={n: place.Member() for n in NODES},
        ).candidates
    )


@pytest.fixture
def lab() -> Iterator[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="ingot-l2f-") as tmp, Topology() as topo:
        lab = L2Lab(topo, Path(tmp), nodes=NODES, vip4=VIP4, vip6=VIP6, namespace=NS, seed=seed)
        try:
            yield {
                "topo": topo,
                "ns": lab.ns,
                "tmp": Path(tmp),
                "kubeconfig": lab.kubeconfig,
                "key": lab.key,
                "api": lab.api,
                "admin": lab.admin,
                "lab": lab,
            }
        finally:
            lab.close()  # speakers first (they talk to the server), then the server


def start_speaker(lab: dict[str, Any], node: str) -> subprocess.Popen[bytes]:
    return lab["lab"].start_speaker(node, hold_down_s=3)


def start_sniffer(lab: dict[str, Any]) -> tuple[subprocess.Popen[bytes], Path]:
    pcap = lab["tmp"] / "bridge.pcap"
    proc = lab["topo"].spawn(
        ["tcpdump", "-i", "br0", "-U", "-w", str(pcap), "arp or icmp6"],
        ns=lab["ns"]["br"],
    )
    return proc, pcap


def answers(pcap: Path) -> dict[str, list[tuple[float, str]]]:
    """(time, source MAC) of every ARP reply/GARP and NA for each VIP in the capture."""
    frames = answer_frames(pcap, ipv4=VIP4, ipv6=VIP6)
    return {ip: [(t, m) for t, m, _ in fr] for ip, fr in frames.items()}


def neigh_mac(ns: str, ip: str) -> str | None:
    out = run(["ip", "neigh", "show", ip], ns=ns, check=False).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def ping_ok(ns: str, ip: str) -> bool:
    return run(["ping", "-c", "1", "-W", "1", ip], ns=ns, check=False).returncode == 0


def wait_for(pred: Callable[[], bool], *, timeout_s: float, step_s: float = 0.02) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if pred():
            return time.monotonic() - start
        time.sleep(step_s)
    return None


def logs(lab: dict[str, Any]) -> str:
    return "\n".join(
        f"--- {p.name}\n{p.read_text()[-2500:]}" for p in sorted(lab["tmp"].glob("*.log"))
    )


def test_kill_and_link_down_move_the_vips_with_one_owner_at_a_time(lab):
    client = lab["ns"]["client"]
    sniffer, pcap = start_sniffer(lab)
    procs = {n: start_speaker(lab, n) for n in NODES}
    order4, order6 = ranked(VIP4), ranked(VIP6)

    assert wait_for(lambda: ping_ok(client, VIP4), timeout_s=30) is not None, logs(lab)
    assert wait_for(lambda: ping_ok(client, VIP6), timeout_s=10) is not None, logs(lab)
    assert neigh_mac(client, VIP4) == mac(NODES[order4[0]])
    assert neigh_mac(client, VIP6) == mac(NODES[order6[0]])
    time.sleep(2.0)  # every speaker past its startup grace (they start ~1 s apart on 2 cores)

    # 1. kill -9 the speaker owning VIP4: the next node takes it, the client follows
    victim = order4[0]
    procs[victim].send_signal(signal.SIGKILL)
    procs[victim].wait(timeout=5)
    successor = order4[1]
    took = wait_for(lambda: neigh_mac(client, VIP4) == mac(NODES[successor]), timeout_s=10)
    assert took is not None, logs(lab)
    assert wait_for(lambda: ping_ok(client, VIP4), timeout_s=5) is not None
    lease = lab["api"](
        lab["admin"].get,
        __import__("ingot.kube.source", fromlist=["LEASE"]).LEASE,
        f"ingot-speaker-{victim}",
        namespace=NS,
    )
    assert lease["spec"]["holderIdentity"] == ""

    # 2. link down on the current owner of VIP6 (among the live ones)
    live6 = [n for n in order6 if n != victim]
    owner6, next6 = live6[0], live6[1]
    assert wait_for(lambda: neigh_mac(client, VIP6) == mac(NODES[owner6]), timeout_s=10)
    run(["ip", "link", "set", "eth0", "down"], ns=lab["ns"][owner6])
    took6 = wait_for(lambda: neigh_mac(client, VIP6) == mac(NODES[next6]), timeout_s=10)
    assert took6 is not None, logs(lab)
    assert wait_for(lambda: ping_ok(client, VIP6), timeout_s=5) is not None

    # 3. the link comes back: after the hold-down the node rejoins; then the owner of VIP6
    #    loses *carrier* (its switch port goes down, its own interface stays admin up)
    run(["ip", "link", "set", "eth0", "up"], ns=lab["ns"][owner6])
    back = wait_for(lambda: neigh_mac(client, VIP6) == mac(NODES[owner6]), timeout_s=15)
    assert back is not None, logs(lab)
    assert wait_for(lambda: ping_ok(client, VIP6), timeout_s=5) is not None
    run(["ip", "link", "set", lab["ns"][f"port-{owner6}"], "down"], ns=lab["ns"]["br"])
    took_c = wait_for(lambda: neigh_mac(client, VIP6) == mac(NODES[next6]), timeout_s=10)
    assert took_c is not None, logs(lab)
    assert wait_for(lambda: ping_ok(client, VIP6), timeout_s=5) is not None

    time.sleep(0.5)
    sniffer.send_signal(signal.SIGTERM)
    sniffer.wait(timeout=5)
    seen = answers(pcap)
    assert seen[VIP4]
    assert seen[VIP6]
    assert double_answer_overlap_s(seen[VIP4]) <= 0.05, seen[VIP4]
    assert double_answer_overlap_s(seen[VIP6]) <= 0.05, seen[VIP6]
    print(
        f"kill -9 -> client switched after {took:.3f} s; link down -> {took6:.3f} s;"
        f" carrier loss -> {took_c:.3f} s"
    )
    if os.environ.get("L2_DEBUG"):
        print(logs(lab))
