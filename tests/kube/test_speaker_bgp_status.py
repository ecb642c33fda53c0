"""Three BGP speakers (SpeakerApp + BgpComponent, FakeDriver) against ingot.apiserver.

The real informers, compiler and planner run; only ExaBGP is replaced by ``FakeDriver`` (the
netlab tier covers ExaBGP against real routers). Checks the route sets per node (Cluster,
Local, no endpoints: C27/C29) and the API side: ServiceBGPStatus per (Service, node) with the
peers, the ``nodeAssigned`` event, and the ``ingot.io/Announced`` condition written by one node.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from ingot.kube import source as src
from ingot.kube.source import KubeSource
from speaker.app import SpeakerApp
from speaker.bgp.component import BgpComponent
from speaker.bgp.driver import FakeDriver
from speaker.bgp.status import CONDITION, SERVICE_BGP_STATUS, BgpStatusWriter

NS = "ingot-system"
VIP = "203.0.113.64"
NODES = ("n1", "n2", "n3")


def seed(admin: src.Source) -> None:
    for ns in (NS, "demo"):
        admin.create(
            src.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        )
    objs = [
        (
            src.BGP_PEER,
            {
                "apiVersion": "metallb.io/v1beta2",
                "kind": "BGPPeer",
                "metadata": {"name": "router-a", "namespace": NS},
                "spec": {"myASN": 64512, "peerASN": 64500, "peerAddress": "198.51.100.1"},
            },
        ),
        (
            src.IP_ADDRESS_POOL,
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "bgp", "namespace": NS},
                "spec": {"addresses": ["203.0.113.64/28"]},
            },
        ),
        (
            src.BGP_ADVERTISEMENT,
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "BGPAdvertisement",
                "metadata": {"name": "bgp", "namespace": NS},
                "spec": {"communities": ["64512:7"]},
            },
        ),
    ]
    for kind, body in objs:
        admin.create(kind, body, namespace=NS)
    for i, n in enumerate(NODES, 11):
        admin.create(
            src.NODE,
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": n, "labels": {"kubernetes.io/hostname": n}},
                "status": {"addresses": [{"type": "InternalIP", "address": f"198.51.100.{i}"}]},
            },
        )
    svc = admin.create(
        src.SERVICE,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "frontend", "namespace": "demo"},
            "spec": {
                "type": "LoadBalancer",
                "externalTrafficPolicy": "Cluster",
                "selector": {"app": "frontend"},
                "ports": [{"port": 80, "protocol": "TCP"}],
            },
        },
        namespace="demo",
    )
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": VIP}]}}  # as the controller would
    admin.replace_status(src.SERVICE, svc, namespace="demo")
    set_endpoints(admin, ("n3",), create=True)


def set_endpoints(admin: src.Source, nodes: tuple[str, ...], *, create: bool = False) -> None:
    body: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "frontend-1",
            "namespace": "demo",
            "labels": {"kubernetes.io/service-name": "frontend"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [f"10.0.0.{i}"], "nodeName": n, "conditions": {"ready": True}}
            for i, n in enumerate(nodes, 1)
        ],
    }
    if create:
        admin.create(src.ENDPOINT_SLICE, body, namespace="demo")
        return
    cur = admin.get(src.ENDPOINT_SLICE, "frontend-1", namespace="demo")
    body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
    admin.replace(src.ENDPOINT_SLICE, body, namespace="demo")


def set_policy(admin: src.Source, policy: str) -> None:
    svc = admin.get(src.SERVICE, "frontend", namespace="demo")
    svc["spec"]["externalTrafficPolicy"] = policy
    admin.replace(src.SERVICE, svc, namespace="demo")


async def wait_until(pred, timeout_s: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await asyncio.to_thread(pred):
            return True
        await asyncio.sleep(0.05)
    return bool(await asyncio.to_thread(pred))


@pytest.fixture
async def speakers(apiserver):
    admin = KubeSource(apiserver.api_client())
    seed(admin)
    drivers: dict[str, FakeDriver] = {}
    tasks = []
    for n in NODES:
        source = KubeSource(apiserver.api_client(), request_timeout_s=2.0)
        drivers[n] = FakeDriver()
        comp = BgpComponent(
            node=n,
            driver=drivers[n],
            status=BgpStatusWriter(source=source, node=n, namespace=NS),
        )
        app = SpeakerApp(components=[comp], source=source, namespace=NS)
        tasks.append(asyncio.get_running_loop().create_task(app.run()))
    try:
        yield admin, drivers
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


def announcing(drivers: dict[str, FakeDriver]) -> set[str]:
    return {n for n, d in drivers.items() if any(str(r.prefix) == f"{VIP}/32" for r in d.routes)}


def statuses(admin: src.Source) -> dict[str, list[str]]:
    return {
        o["status"]["node"]: o["status"].get("peers", [])
        for o in admin.list(SERVICE_BGP_STATUS, namespace=NS).items
        if o.get("status", {}).get("serviceName") == "frontend"
    }


def condition(admin: src.Source) -> dict[str, Any] | None:
    svc = admin.get(src.SERVICE, "frontend", namespace="demo")
    return next(
        (c for c in (svc.get("status") or {}).get("conditions") or [] if c["type"] == CONDITION),
        None,
    )


async def test_bgp_speakers_routes_status_events_condition(speakers):
    admin, drivers = speakers
    # C29 step 1 / C27 step 1: Cluster -> every node, communities from the advertisement
    assert await wait_until(lambda: announcing(drivers) == set(NODES)), announcing(drivers)
    (route,) = drivers["n1"].routes
    assert route.peer == "router-a"
    assert [str(c) for c in route.communities] == ["64512:7"]
    assert await wait_until(lambda: statuses(admin) == {n: ["router-a"] for n in NODES})
    assert await wait_until(
        lambda: (c := condition(admin)) is not None and c["status"] == "True"
    ), condition(admin)
    cond = condition(admin)
    assert cond is not None
    assert "n1, n2, n3" in cond["message"]
    events = admin.list(src.EVENT, namespace="demo").items
    assigned = sorted(e["source"]["host"] for e in events if e["reason"] == "nodeAssigned")
    assert assigned == list(NODES)

    # C29 step 2: Local with the pod on n3 -> only n3
    set_policy(admin, "Local")
    assert await wait_until(lambda: announcing(drivers) == {"n3"}), announcing(drivers)
    assert await wait_until(lambda: statuses(admin) == {"n3": ["router-a"]}), statuses(admin)

    # C29 step 4: pods on n1 and n2
    set_endpoints(admin, ("n1", "n2"))
    assert await wait_until(lambda: announcing(drivers) == {"n1", "n2"}), announcing(drivers)

    # C27 step 2: no endpoints -> withdrawn everywhere, condition False with the reason
    set_endpoints(admin, ())
    assert await wait_until(lambda: announcing(drivers) == set()), announcing(drivers)
    assert await wait_until(lambda: statuses(admin) == {}), statuses(admin)
    assert await wait_until(
        lambda: (c := condition(admin)) is not None and c["status"] == "False"
    ), condition(admin)
    cond = condition(admin)
    assert cond is not None
    assert cond["reason"] == "NoEndpoints"
    # events only on transitions: n1 and n2 started announcing twice, n3 once
    events = admin.list(src.EVENT, namespace="demo").items
    hosts = sorted(e["source"]["host"] for e in events if e["reason"] == "nodeAssigned")
    assert hosts == ["n1", "n1", "n2", "n2", "n3"]
