"""Case C38 for the speaker: a real L2 speaker's API calls, all allowed by the chart's RBAC.

MetalLB #2036: the shipped manifests left the speaker crash-looping on a permission it lacked.
Here one L2 speaker (``SpeakerApp`` + ``L2Component``; frames on an in-memory ``FakeWire``, no
network) runs against ``ingot.apiserver`` until it owns the Service's IP and has written its
ServiceL2Status, event and Service condition. Every call through its ``Source`` seam is
recorded and must be allowed for the speaker's ServiceAccount by the rendered Roles and
ClusterRoles (the server's audit log cannot tell the test's own requests apart).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingot.kube import source as src

REPO = Path(__file__).resolve().parents[2]
NS = "ingot-system"
SA = "ingot-speaker"
VIP = "198.51.100.210"
NODE = "n1"


@pytest.fixture
def apiserver() -> Iterator[Any]:
    from ingot.apiserver.server import APIServer

    srv = APIServer(host="127.0.0.1", port=0)
    srv.start()
    try:
        srv.load_manifests(REPO / "charts" / "ingot" / "crds")
        yield srv
    finally:
        srv.stop()


def _seed(admin: Any) -> None:
    for ns in (NS, "demo"):
        admin.create(
            src.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        )
    admin.create(
        src.IP_ADDRESS_POOL,
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "p", "namespace": NS},
            "spec": {"addresses": ["198.51.100.210-198.51.100.220"]},
        },
        namespace=NS,
    )
    admin.create(
        src.L2_ADVERTISEMENT,
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": "l2", "namespace": NS},
            "spec": {"ipAddressPools": ["p"]},
        },
        namespace=NS,
    )
    admin.create(
        src.NODE,
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": NODE, "labels": {"kubernetes.io/os": "linux"}},
        },
    )
    svc = admin.create(
        src.SERVICE,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": "web"},
                "ports": [{"port": 80, "protocol": "TCP"}],
            },
        },
        namespace="demo",
    )
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": VIP}]}}
    admin.replace_status(src.SERVICE, svc, namespace="demo")
    admin.create(
        src.ENDPOINT_SLICE,
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "web-1",
                "namespace": "demo",
                "labels": {"kubernetes.io/service-name": "web"},
            },
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.0.0.1"], "nodeName": NODE, "conditions": {"ready": True}}
            ],
        },
        namespace="demo",
    )


async def _until(pred: Any, timeout_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.02)
    return bool(pred())


async def test_c38_speaker_calls_are_all_granted(
    apiserver: Any, render: Any, recording_source: Any
) -> None:
    from ingot.clock import RealClock
    from speaker.app import SpeakerApp
    from speaker.l2.announcer import GarpSchedule
    from speaker.l2.component import SERVICE_L2_STATUS, L2Component, L2Options
    from speaker.l2.fencing import Timings
    from speaker.l2.interfaces import IFF_BROADCAST, IFF_UP, LinkInfo
    from speaker.l2.wire import FakeWire

    admin = src.KubeSource(apiserver.api_client())
    _seed(admin)
    recording = recording_source(src.KubeSource(apiserver.api_client(), request_timeout_s=2.0))
    link = LinkInfo("eth0", 2, bytes((2, 0, 0, 0, 0, 1)), IFF_UP | IFF_BROADCAST, True)
    comp = L2Component(
        options=L2Options(
            node=NODE,
            namespace=NS,
            timings=Timings(
                heartbeat_interval_s=0.05,
                suspect_after_s=0.2,
                lease_duration_s=3.0,
                renew_interval_s=0.5,
                api_grace_s=2.0,
                hold_down_s=1.0,
                handover_delay_s=0.1,
                startup_grace_s=0.3,
            ),
            schedule=GarpSchedule(burst_count=1, burst_interval_s=0.1, refresh_interval_s=0),
            exclude=(),
            heartbeat_key=b"test-key",
        ),
        wire=FakeWire(),
        clock=RealClock(),
        source=recording,
        link_scanner=lambda: [link],
    )
    app = SpeakerApp(components=[comp], source=recording, namespace=NS)
    # The speaker runs on its own loop in a daemon thread: this test is about the calls it makes,
    # and a slow shutdown of the speaker must not hold the test's loop (seen twice under load).
    started = threading.Event()
    box: dict[str, Any] = {}

    def run_speaker() -> None:
        loop = asyncio.new_event_loop()
        box["loop"] = loop
        box["task"] = loop.create_task(app.run())
        started.set()
        try:
            with contextlib.suppress(BaseException):
                loop.run_until_complete(box["task"])
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.wait_for(loop.shutdown_default_executor(), 5))
        finally:
            loop.close()

    runner = threading.Thread(target=run_speaker, name="c38-speaker", daemon=True)
    runner.start()
    assert started.wait(10)
    try:
        vip = ipaddress.ip_address(VIP)
        assert await _until(lambda: vip in comp.announcer.owned, 20), "speaker never owned the IP"
        assert await _until(
            lambda: any(
                (o.get("status") or {}).get("node") == NODE
                for o in admin.list(SERVICE_L2_STATUS, namespace=NS).items
            ),
            10,
        ), "no ServiceL2Status written"
        assert await _until(
            lambda: any(
                c.get("type") == "ingot.io/Announced"
                for c in (admin.get(src.SERVICE, "web", namespace="demo").get("status") or {}).get(
                    "conditions"
                )
                or []
            ),
            10,
        ), "no Announced condition"
    finally:
        box["loop"].call_soon_threadsafe(box["task"].cancel)
        await asyncio.to_thread(runner.join, 15)

    objs = render()
    used = sorted(recording.calls, key=str)
    assert ("create", "coordination.k8s.io", "leases", NS) in used
    denied = [
        call
        for call in used
        if not objs.allowed(SA, call[0], call[1], call[2], namespace=call[3], any_name=True)
    ]
    assert not denied, f"forbidden with the chart's RBAC: {denied}"
