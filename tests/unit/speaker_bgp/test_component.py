"""The BGP component end to end over recorded objects: YAML -> compile -> plan -> FakeDriver.

Inputs are the cases' YAML (shared/cases/cases.md C23, C26, C27, C29), compiled by
``ingot.api.compile``; Services carry the IP the controller would have assigned.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from ingot.api.compile import ClusterResources, compile_config
from speaker.bgp import config_render
from speaker.bgp.component import BgpComponent
from speaker.bgp.driver import FakeDriver

NS = "metallb-system"


@dataclass(frozen=True)
class State:
    """Stand-in for speaker.app.ClusterState (same attribute names)."""

    config: Any
    services: tuple[dict[str, Any], ...]
    slices_by_service: dict[str, tuple[dict[str, Any], ...]]
    nodes: dict[str, dict[str, Any]]
    synced: bool = True
    config_errors: tuple[str, ...] = field(default=())


def node(name: str, ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
    }


NODES = [
    node("node-a", "198.51.100.11"),
    node("node-b", "198.51.100.12"),
    node("node-c", "198.51.100.13"),
]


def service(name: str, ip: str, etp: str = "Cluster") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "demo", "name": name},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": etp},
        "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
    }


def slices(*nodes: str) -> tuple[dict[str, Any], ...]:
    return (
        {
            "endpoints": [
                {"addresses": [f"10.0.0.{i}"], "nodeName": n, "conditions": {"ready": True}}
                for i, n in enumerate(nodes)
            ]
        },
    )


def compiled(text: str) -> Any:
    objs = [o for o in yaml.safe_load_all(text) if o]
    res = ClusterResources.from_objects([*objs, *NODES])
    result = compile_config(res, namespace=NS)
    assert result.config is not None, [str(e) for e in result.errors]
    return result.config


def routes_on(cfg: Any, svcs, eps, node_name: str) -> set[tuple[str, str]]:
    fake = FakeDriver()
    comp = BgpComponent(node=node_name, driver=fake)
    comp.update(State(cfg, tuple(svcs), eps, {n["metadata"]["name"]: n for n in NODES}))
    comp.reconcile()
    return {(str(r.prefix), r.peer) for r in fake.routes}


C26 = """
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-a, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 198.51.100.1}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-b, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 198.51.100.2}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec:
  addresses: ["203.0.113.16/28"]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: both, namespace: metallb-system}
spec:
  ipAddressPools: [bgp]
  PEERS
"""


@pytest.mark.parametrize(
    ("peers_line", "expected_peers"),
    [
        pytest.param("peers: [router-a, router-b]", {"router-a", "router-b"}, id="c26-step1-both"),
        pytest.param("peers: [router-a]", {"router-a"}, id="c26-step2-one"),
        pytest.param("", {"router-a", "router-b"}, id="c26-step3-none"),
    ],
)
def test_c26_peers(peers_line, expected_peers):
    cfg = compiled(C26.replace("PEERS", peers_line))
    svcs = [service("web", "203.0.113.16")]
    eps = {"demo/web": slices("node-c")}
    for n in ("node-a", "node-b", "node-c"):
        assert routes_on(cfg, svcs, eps, n) == {("203.0.113.16/32", p) for p in expected_peers}


ONE_PEER = """
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-a, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 198.51.100.1}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec:
  addresses: ["203.0.113.32/27", "203.0.113.64/28"]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
"""


@pytest.mark.parametrize(
    ("etp", "endpoint_nodes", "announcing"),
    [
        pytest.param("Cluster", ("node-c",), {"node-a", "node-b", "node-c"}, id="c29-step1"),
        pytest.param("Local", ("node-c",), {"node-c"}, id="c29-step2"),
        pytest.param("Local", ("node-a",), {"node-a"}, id="c29-step3"),
        pytest.param("Local", ("node-a", "node-b"), {"node-a", "node-b"}, id="c29-step4"),
        pytest.param("Cluster", (), set(), id="c27-step2-scaled-to-zero"),
        pytest.param("Cluster", ("node-b",), {"node-a", "node-b", "node-c"}, id="c27-step3"),
    ],
)
def test_c27_c29_next_hops(etp, endpoint_nodes, announcing):
    cfg = compiled(ONE_PEER)
    svcs = [service("frontend", "203.0.113.64", etp)]
    eps = {"demo/frontend": slices(*endpoint_nodes)} if endpoint_nodes else {}
    got = {n for n in ("node-a", "node-b", "node-c") if routes_on(cfg, svcs, eps, n)}
    assert got == announcing


C23 = """
apiVersion: v1
kind: Secret
metadata: {name: router-a-auth, namespace: metallb-system}
type: kubernetes.io/basic-auth
stringData: {password: example-md5-secret}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-a, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64500
  peerAddress: 198.51.100.1
  passwordSecret: {name: router-a-auth, namespace: metallb-system}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec:
  addresses: ["203.0.113.0/28"]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
"""


def test_c23_password_secret_reaches_exabgp_config():
    cfg = compiled(C23)
    fake = FakeDriver()
    comp = BgpComponent(node="node-a", driver=fake)
    comp.update(State(cfg, (), {}, {n["metadata"]["name"]: n for n in NODES}))
    comp.reconcile()
    peer = fake.peers["router-a"]
    assert "example-md5-secret" not in repr(peer)
    text = config_render.render_exabgp_config(
        peer,
        helper_argv=["/bin/true"],
        default_router_id=ipaddress.IPv4Address("198.51.100.11"),
    )
    assert 'md5-password "example-md5-secret";' in text


def test_nothing_before_sync_or_config():
    cfg = compiled(ONE_PEER)
    fake = FakeDriver()
    comp = BgpComponent(node="node-a", driver=fake)
    svcs = (service("frontend", "203.0.113.64"),)
    nodes = {n["metadata"]["name"]: n for n in NODES}
    comp.update(State(cfg, svcs, {"demo/frontend": slices("node-a")}, nodes, synced=False))
    comp.reconcile()
    comp.update(State(None, svcs, {"demo/frontend": slices("node-a")}, nodes))
    comp.reconcile()
    assert fake.history == []
    assert fake.peer_history == []


BFD_YAML = """
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 300, transmitInterval: 200, detectMultiplier: 4, passiveMode: true}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-a, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 198.51.100.1, bfdProfile: fast}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-b, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64500, peerAddress: 198.51.100.2}
"""


def test_bfd_profile_becomes_bfd_session():
    from speaker.bgp.bfd import BfdTimers
    from speaker.bgp.component import bfd_peers

    cfg = compiled(BFD_YAML)
    from ingot.api.bgp import peer_from_config

    peers = tuple(peer_from_config(p) for p in cfg.bgp_peers.values())
    (only,) = bfd_peers(cfg, peers)
    assert only.name == "router-a"
    assert str(only.peer_address) == "198.51.100.1"
    assert only.timers == BfdTimers(200_000, 300_000, 4, passive=True)
