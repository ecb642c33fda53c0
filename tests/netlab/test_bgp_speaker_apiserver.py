"""The whole BGP path with real routing: ingot.apiserver -> three speakers -> ExaBGP -> BIRD.

Three ``SpeakerApp``s (informers, compiler, planner, ``BgpComponent`` with the real
``ExabgpDriver`` and the status writer) run in this test's event loop against an embedded API
server; each node's ExaBGP runs inside that node's namespace and peers with BIRD in the router
namespace. The controller is played by the test (it writes the Service's ingress IP).
Creating the Service puts the /32 with three ECMP next hops in the router's FIB; a second
Service does not reset any session; deleting the first withdraws it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingot.apiserver.server import APIServer, read_manifests
from ingot.kube import source as src
from ingot.kube.source import KubeSource
from ingot.lab.cluster import add_lb_service
from ingot.lab.cluster import wait_for_async as wait_for
from ingot.lab.netns import run
from ingot.lab.router import fib_next_hops, same_bird_sessions
from ingot.lab.topology import NODES, Lab
from speaker.app import SpeakerApp
from speaker.bgp.component import BgpComponent
from speaker.bgp.exabgp import ExabgpDriver
from speaker.bgp.metrics import BgpMetrics
from speaker.bgp.status import SERVICE_BGP_STATUS, BgpStatusWriter

REPO = Path(__file__).resolve().parents[2]
NS = "ingot-system"
ROUTER_ASN, NODE_ASN = 64501, 64500
ROUTER4 = "198.51.100.1"
ALL4 = sorted(h.ipv4 for h in NODES)


def bird_conf(run_dir: Path) -> str:
    protos = "".join(
        f"protocol bgp {h.role} {{ local {ROUTER4} as {ROUTER_ASN}; neighbor {h.ipv4} as "
        f"{NODE_ASN}; hold time 9; connect retry time 1; error wait time 1, 5; "
        "ipv4 { import all; export none; }; }\n"
        for h in NODES
    )
    return (
        f'log "{run_dir / "bird.log"}" all;\nrouter id {ROUTER4};\n'
        "protocol device { scan time 10; }\n"
        "protocol kernel kernel4 { ipv4 { import none; export all; }; merge paths yes; }\n" + protos
    )


def seed(admin: src.Source) -> None:
    for ns in (NS, "demo"):
        admin.create(
            src.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        )
    admin.create(
        src.BGP_PEER,
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "router", "namespace": NS},
            "spec": {
                "myASN": NODE_ASN,
                "peerASN": ROUTER_ASN,
                "peerAddress": ROUTER4,
                "holdTime": "9s",
            },
        },
        namespace=NS,
    )
    admin.create(
        src.IP_ADDRESS_POOL,
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "bgp", "namespace": NS},
            "spec": {"addresses": ["203.0.113.0/24"]},
        },
        namespace=NS,
    )
    admin.create(
        src.BGP_ADVERTISEMENT,
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": "bgp", "namespace": NS},
        },
        namespace=NS,
    )
    for h in NODES:
        admin.create(
            src.NODE,
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": h.role, "labels": {"kubernetes.io/hostname": h.role}},
                "status": {"addresses": [{"type": "InternalIP", "address": h.ipv4}]},
            },
        )


def add_service(admin: src.Source, name: str, ip: str) -> None:
    add_lb_service(admin, name=name, ip=ip, app=name, endpoint_nodes=("node2",))


@pytest.fixture
def run_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="ingot-bgp-e2e-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def bird_sessions(ns: str, ctl: Path) -> dict[str, str]:
    out = run(["birdc", "-s", str(ctl), "show", "protocols"], ns=ns, check=False).stdout
    return {
        w[0]: w[4]
        for w in (line.split() for line in out.splitlines())
        if len(w) >= 6 and w[1] == "BGP" and w[5] == "Established"
    }


async def test_speakers_from_apiserver_to_bird(run_dir: Path) -> None:
    srv = APIServer(host="127.0.0.1", port=0)
    srv.start()
    tasks: list[asyncio.Task[None]] = []
    bird_pid: int | None = None
    try:
        srv.load_objects(read_manifests(REPO / "charts" / "ingot" / "crds"))
        admin = KubeSource(srv.api_client())
        seed(admin)
        with Lab() as lab:
            lab.build()
            rns = lab.ns("router")
            (run_dir / "bird.conf").write_text(bird_conf(run_dir))
            ctl = run_dir / "bird.ctl"
            run(
                [
                    "bird",
                    "-c",
                    str(run_dir / "bird.conf"),
                    "-s",
                    str(ctl),
                    "-P",
                    str(run_dir / "p"),
                ],
                ns=rns,
            )
            pidfile = run_dir / "p"
            pid_text = await wait_for(
                lambda: pidfile.exists() and pidfile.read_text().strip(),
                timeout_s=5,
                what="BIRD pidfile",
            )
            bird_pid = int(pid_text)
            for h in NODES:
                source = KubeSource(srv.api_client(), request_timeout_s=2.0)
                comp = BgpComponent(
                    node=h.role,
                    driver=ExabgpDriver(
                        runtime_dir=run_dir / h.role,
                        metrics=BgpMetrics(),
                        node_name=h.role,
                        command_prefix=["ip", "netns", "exec", lab.ns(h.role)],
                    ),
                    status=BgpStatusWriter(source=source, node=h.role, namespace=NS),
                )
                app = SpeakerApp(components=[comp], source=source, namespace=NS)
                tasks.append(asyncio.create_task(app.run()))
            try:
                await asyncio.to_thread(add_service, admin, "web", "203.0.113.20")
                await wait_for(
                    lambda: fib_next_hops(rns, "203.0.113.20/32") == ALL4,
                    timeout_s=30,
                    what="ECMP route of the Service",
                )
                await wait_for(
                    lambda: len(admin.list(SERVICE_BGP_STATUS, namespace=NS).items) == 3,
                    timeout_s=10,
                    what="three ServiceBGPStatus",
                )
                # BIRD's "since" moves once more just after Established: wait until it settles
                previous: dict[str, str] = {}
                for _ in range(60):
                    sessions = await asyncio.to_thread(bird_sessions, rns, ctl)
                    if len(sessions) == 3 and sessions == previous:
                        break
                    previous = sessions
                    await asyncio.sleep(0.5)
                assert len(sessions) == 3

                await asyncio.to_thread(add_service, admin, "api", "203.0.113.21")
                await wait_for(
                    lambda: fib_next_hops(rns, "203.0.113.21/32") == ALL4,
                    timeout_s=15,
                    what="second Service",
                )
                await asyncio.to_thread(admin.delete, src.SERVICE, "web", namespace="demo")
                await wait_for(
                    lambda: fib_next_hops(rns, "203.0.113.20/32") == [],
                    timeout_s=15,
                    what="withdrawal after delete",
                )
                assert fib_next_hops(rns, "203.0.113.21/32") == ALL4
                # no session was reset
                assert same_bird_sessions(sessions, bird_sessions(rns, ctl))
            finally:
                for t in tasks:
                    t.cancel()
                for t in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await t
                if bird_pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(bird_pid, 15)
    finally:
        srv.stop()
