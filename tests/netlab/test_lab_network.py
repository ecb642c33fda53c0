"""The lab network itself: hosts reach each other, backends answer, BIRD runs, nothing leaks."""

import sys
import tempfile
from pathlib import Path

from ingot.lab.probes import http_get, neighbour_mac
from ingot.lab.router import Bird
from ingot.lab.topology import NODES, Lab


def test_lab_network_backends_and_router() -> None:
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        lab.build()
        for h in NODES:
            lab.topo.spawn(
                [sys.executable, "-m", "ingot.lab.backend", "--node", h.role, "--port", "80"],
                ns=lab.ns(h.role),
            )
        bird = Bird(ns=lab.ns("router"), run_dir=Path(tmp), router_id=lab.host("router").ipv4)
        bird.start()
        assert "nodes" in bird.birdc("show", "protocols")
        client = lab.ns("client")
        answers = {}
        for h in NODES:
            for ip in (h.ipv4, h.ipv6):
                for _ in range(50):  # the backend needs a moment to bind
                    answers[ip] = http_get(client, ip, timeout_s=1.0)
                    if answers[ip]:
                        break
        assert answers == {ip: h.role for h in NODES for ip in (h.ipv4, h.ipv6)}
        assert neighbour_mac(client, lab.host("node2").ipv4) == lab.host("node2").mac
        # No node answers ARP for a VIP by itself (arp_ignore=1 with the AnyIP route on lo).
        assert http_get(client, "198.51.100.200", timeout_s=1.0) is None
        assert neighbour_mac(client, "198.51.100.200") is None
