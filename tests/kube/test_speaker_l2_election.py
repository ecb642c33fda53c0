"""Several L2 speakers (one asyncio loop, distinct node names) against ingot.apiserver.

Frames travel over an in-memory segment (``speaker.l2.wire.FakeSegment``), so heartbeats really
flow between speakers and a "hard kill" is: cut the node off the segment, then stop its tasks
without any goodbye (its Lease stays held until someone fences it). A monitor samples every
speaker's announcer every 5 ms and records any instant with two owners of the IP (I-1).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import pytest

from ingot import errors
from ingot.api import l2 as place
from ingot.clock import RealClock
from ingot.kube import source as src
from ingot.kube.source import KubeSource
from ingot.lab.cluster import add_lb_service
from ingot.lab.cluster import until as wait_until
from speaker.app import SpeakerApp
from speaker.l2.announcer import GarpSchedule
from speaker.l2.component import SERVICE_L2_STATUS, L2Component, L2Options, lease_name
from speaker.l2.fencing import Timings
from speaker.l2.interfaces import IFF_BROADCAST, IFF_UP, LinkInfo
from speaker.l2.wire import BusWire, FakeSegment

NS = "ingot-system"
VIP = "198.51.100.210"
NODES = ("n1", "n2", "n3")
FAST = Timings(
    heartbeat_interval_s=0.05,
    suspect_after_s=0.2,
    lease_duration_s=3.0,
    renew_interval_s=0.5,
    api_grace_s=2.0,
    hold_down_s=1.0,
    handover_delay_s=0.1,
    startup_grace_s=0.3,
)


class Switchable:
    """A Source whose calls fail with Unavailable while ``down`` (an API outage for one node)."""

    def __init__(self, inner: src.Source) -> None:
        self.inner = inner
        self.down = False

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        attr = getattr(self.inner, name)

        def call(*a, **kw):  # type: ignore[no-untyped-def]
            if self.down:
                raise errors.Unavailable("API unreachable (test)")
            return attr(*a, **kw)

        return call


@dataclass
class Speaker:
    node: str
    comp: L2Component
    app: SpeakerApp
    source: Switchable
    wire: BusWire
    task: asyncio.Task[None] | None = None


@dataclass
class Cluster:
    apiserver: object
    segment: FakeSegment = field(default_factory=FakeSegment)
    speakers: dict[str, Speaker] = field(default_factory=dict)
    double_owner_samples: int = 0
    samples: int = 0

    def owners(self, ip: str = VIP) -> list[str]:
        import ipaddress

        addr = ipaddress.ip_address(ip)
        return sorted(
            n
            for n, s in self.speakers.items()
            if s.task is not None and not s.task.done() and addr in s.comp.announcer.owned
        )

    async def monitor(self) -> None:
        while True:
            self.samples += 1
            if len(self.owners()) > 1:
                self.double_owner_samples += 1
            await asyncio.sleep(0.005)


def mac(i: int) -> bytes:
    return bytes((2, 0, 0, 0, 0, i))


def start(cluster: Cluster, node: str, ifnames: tuple[str, ...] = ("eth0",)) -> Speaker:
    client = cluster.apiserver.api_client()  # type: ignore[attr-defined]
    source = Switchable(KubeSource(client, request_timeout_s=2.0))
    wire = BusWire(node=node, segment=cluster.segment)
    cluster.segment.wires[node] = wire
    idx = NODES.index(node) + 1 if node in NODES else 9
    links = [
        LinkInfo(name, 2 + k, mac(0x10 * (k + 1) + idx), IFF_UP | IFF_BROADCAST, True)
        for k, name in enumerate(ifnames)
    ]
    comp = L2Component(
        options=L2Options(
            node=node,
            namespace=NS,
            timings=FAST,
            schedule=GarpSchedule(burst_count=1, burst_interval_s=0.1, refresh_interval_s=0),
            exclude=(),
            heartbeat_key=b"test-key",
        ),
        wire=wire,
        clock=RealClock(),
        source=source,  # type: ignore[arg-type]
        link_scanner=lambda: list(links),
    )
    app = SpeakerApp(components=[comp], source=source, namespace=NS)  # type: ignore[arg-type]
    sp = Speaker(node, comp, app, source, wire)
    sp.task = asyncio.get_running_loop().create_task(app.run())
    cluster.speakers[node] = sp
    return sp


async def hard_kill(cluster: Cluster, node: str) -> None:
    sp = cluster.speakers[node]
    cluster.segment.wires.pop(node, None)  # no more frames in or out
    sp.wire.handlers.clear()
    assert sp.task is not None
    sp.task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(asyncio.shield(sp.task), 10)


def seed(source: src.Source, *, etp: str = "Cluster", endpoint_nodes=("n1",)) -> None:
    for ns in (NS, "demo"):
        source.create(
            src.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        )
    source.create(
        src.IP_ADDRESS_POOL,
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "p", "namespace": NS},
            "spec": {"addresses": ["198.51.100.210-198.51.100.220"]},
        },
        namespace=NS,
    )
    source.create(
        src.L2_ADVERTISEMENT,
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": "l2", "namespace": NS},
            "spec": {"ipAddressPools": ["p"]},
        },
        namespace=NS,
    )
    for n in NODES:
        source.create(
            src.NODE,
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n, "labels": {}}},
        )
    add_lb_service(
        source,
        name="web",
        ip=VIP,
        endpoint_nodes=endpoint_nodes,
        external_traffic_policy=etp,
    )


def expected_order(nodes=NODES) -> list[str]:
    return list(
        place.place_ip(
            ip=VIP,
            services=[place.ServiceView("demo/web", pool="p")],
            advertisements=[place.L2Ad("l2", frozenset({"p"}))],
            nodes={n: place.NodeView(n) for n in nodes},
            members={n: place.Member() for n in nodes},
        ).candidates
    )


@pytest.fixture
async def cluster(apiserver):
    c = Cluster(apiserver)
    admin = KubeSource(apiserver.api_client())
    seed(admin)
    mon = asyncio.get_running_loop().create_task(c.monitor())
    try:
        yield c, admin
    finally:
        mon.cancel()
        for node in list(c.speakers):
            await hard_kill(c, node)


def edit(admin, kind, name, mutate, *, namespace=None, attempts=10):
    """Read-modify-write as ``kubectl edit`` does: retry on 409 (the speakers write status)."""
    for _ in range(attempts):
        obj = admin.get(kind, name, namespace=namespace)
        mutate(obj)
        try:
            return admin.replace(kind, obj, namespace=namespace)
        except errors.Conflict:
            continue
    raise AssertionError(f"{kind.kind} {name}: still conflicting after {attempts} attempts")


async def test_one_owner_then_hard_kill_fences_and_moves(cluster):
    c, admin = cluster
    for n in NODES:
        start(c, n)
    order = expected_order()
    assert await wait_until(lambda: c.owners() == [order[0]], 20), c.owners()
    # status object, event and condition by the owner
    assert await wait_until(
        lambda: any(
            o.get("status", {}).get("node") == order[0]
            for o in admin.list(SERVICE_L2_STATUS, namespace=NS).items
        ),
        10,
    )

    def assigned_events() -> list[dict]:
        events = admin.list(src.EVENT, namespace="demo").items
        return [e for e in events if e["reason"] == "nodeAssigned"]

    assert await wait_until(lambda: assigned_events(), 5)
    assigned = assigned_events()
    # one event per owner change (speakers start one after the other), the last names the owner
    assert 1 <= len(assigned) <= len(NODES)
    assert sorted(assigned, key=lambda e: e["metadata"]["name"])[-1]["source"]["host"] == order[0]

    def announced() -> list[dict]:
        svc = admin.get(src.SERVICE, "web", namespace="demo")
        conds = svc["status"].get("conditions", [])
        return [x for x in conds if x["type"] == "ingot.io/Announced"]

    assert await wait_until(lambda: announced(), 5)
    assert announced()[0]["status"] == "True"

    await hard_kill(c, order[0])
    assert await wait_until(lambda: c.owners() == [order[1]], 5), c.owners()
    lease = admin.get(src.LEASE, lease_name(order[0]), namespace=NS)
    assert lease["spec"]["holderIdentity"] == ""
    assert lease["spec"]["leaseTransitions"] >= 1
    # the new owner wrote its status and removed the dead node's object
    assert await wait_until(
        lambda: (
            [
                o.get("status", {}).get("node")
                for o in admin.list(SERVICE_L2_STATUS, namespace=NS).items
            ]
            == [order[1]]
        ),
        10,
    ), admin.list(SERVICE_L2_STATUS, namespace=NS).items
    # the dead node comes back: it rejoins only after the hold-down, then takes its IP back
    start(c, order[0])
    await asyncio.sleep(FAST.hold_down_s * 0.5)
    assert c.owners() == [order[1]]
    assert await wait_until(lambda: c.owners() == [order[0]], 10), c.owners()
    assert c.double_owner_samples == 0
    assert c.samples > 100


async def test_exclude_label_and_endpoint_moves(cluster):
    c, admin = cluster
    for n in NODES:
        start(c, n)
    order = expected_order()
    assert await wait_until(lambda: c.owners() == [order[0]], 20)
    edit(
        admin,
        src.NODE,
        order[0],
        lambda node: node["metadata"]["labels"].__setitem__(place.EXCLUDE_LB_LABEL, ""),
    )
    assert await wait_until(lambda: c.owners() == [order[1]], 5), c.owners()
    # ETP Local with the only endpoint on the third-ranked node
    edit(
        admin,
        src.SERVICE,
        "web",
        lambda svc: svc["spec"].__setitem__("externalTrafficPolicy", "Local"),
        namespace="demo",
    )
    sl = admin.get(src.ENDPOINT_SLICE, "web-1", namespace="demo")
    sl["endpoints"] = [
        {"addresses": ["10.0.0.9"], "nodeName": order[2], "conditions": {"ready": True}}
    ]
    admin.replace(src.ENDPOINT_SLICE, sl, namespace="demo")
    assert await wait_until(lambda: c.owners() == [order[2]], 5), c.owners()
    # endpoint goes NotReady everywhere: nobody announces, a Warning explains why
    sl = admin.get(src.ENDPOINT_SLICE, "web-1", namespace="demo")
    sl["endpoints"][0]["conditions"] = {"ready": False}
    admin.replace(src.ENDPOINT_SLICE, sl, namespace="demo")
    assert await wait_until(lambda: c.owners() == [], 5), c.owners()
    assert await wait_until(
        lambda: any(
            e["reason"] == "announceFailed" for e in admin.list(src.EVENT, namespace="demo").items
        ),
        5,
    )
    assert c.double_owner_samples == 0


async def test_api_outage_keeps_owner_and_no_second_owner(cluster):
    """I-4: with the API unreachable for every speaker beyond the lease duration, the owner keeps
    announcing and nobody else starts."""
    c, _ = cluster
    for n in NODES:
        start(c, n)
    order = expected_order()
    assert await wait_until(lambda: c.owners() == [order[0]], 20)
    for sp in c.speakers.values():
        sp.source.down = True
    await asyncio.sleep(FAST.lease_duration_s * 1.5)
    assert c.owners() == [order[0]]
    for sp in c.speakers.values():
        sp.source.down = False
    await asyncio.sleep(FAST.renew_interval_s * 3)
    assert c.owners() == [order[0]]
    assert c.double_owner_samples == 0


async def test_c19_owner_isolated_from_api_and_peers_stops_and_recovers(cluster):
    """C19 (ETP Local, single endpoint): the owner loses API and segment; it stops (cannot prove
    ownership), nobody else may announce; when connectivity returns it announces again."""
    c, admin = cluster
    edit(
        admin,
        src.SERVICE,
        "web",
        lambda svc: svc["spec"].__setitem__("externalTrafficPolicy", "Local"),
        namespace="demo",
    )
    order = expected_order()
    sl = admin.get(src.ENDPOINT_SLICE, "web-1", namespace="demo")
    sl["endpoints"][0]["nodeName"] = order[0]
    admin.replace(src.ENDPOINT_SLICE, sl, namespace="demo")
    for n in NODES:
        start(c, n)
    assert await wait_until(lambda: c.owners() == [order[0]], 20)
    owner = c.speakers[order[0]]
    for _ in range(2):
        owner.source.down = True
        saved = c.segment.wires.pop(order[0])
        assert await wait_until(lambda: c.owners() == [], FAST.api_grace_s + 2), c.owners()
        owner.source.down = False
        c.segment.wires[order[0]] = saved
        assert await wait_until(lambda: c.owners() == [order[0]], 15), c.owners()
    assert c.double_owner_samples == 0


async def test_c40_only_node_leases_and_writes_independent_of_services(cluster):
    """C40: election objects exist per node, not per Service; ClusterIP Services cost nothing;
    the steady state writes only Lease renewals."""
    c, admin = cluster
    for i in range(30):
        admin.create(
            src.SERVICE,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"cip-{i:02d}", "namespace": "demo"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
            },
            namespace="demo",
        )
    for n in NODES:
        start(c, n)
    order = expected_order()
    assert await wait_until(lambda: c.owners() == [order[0]], 20)
    assert await wait_until(lambda: len(admin.list(SERVICE_L2_STATUS, namespace=NS).items) == 1, 10)
    await asyncio.sleep(1.0)  # status, event and condition written
    writes = {"create", "update", "patch", "delete"}
    start_n = len(c.apiserver.audit)  # type: ignore[attr-defined]
    await asyncio.sleep(2.0)
    window = [a for a in c.apiserver.audit[start_n:] if a.verb in writes]  # type: ignore[attr-defined]
    assert {a.resource for a in window} <= {"leases"}, window
    # 3 nodes renewing every 0.5 s for 2 s: about 12 writes, whatever the number of Services
    assert len(window) <= 3 * (2.0 / FAST.renew_interval_s + 2)
    leases = admin.list(src.LEASE, namespace=NS).items
    assert sorted(lv["metadata"]["name"] for lv in leases) == [lease_name(n) for n in NODES]


async def test_interface_missing_on_top_node_next_candidate_announces(cluster):
    """An ad naming eth1: the top-ranked node has no eth1, so the next node announces and the
    top node reports announceFailed."""
    c, admin = cluster
    ad = admin.get(src.L2_ADVERTISEMENT, "l2", namespace=NS)
    ad["spec"]["interfaces"] = ["eth1"]
    admin.replace(src.L2_ADVERTISEMENT, ad, namespace=NS)
    order = expected_order()
    for n in NODES:
        start(c, n, ("eth0",) if n == order[0] else ("eth0", "eth1"))
    assert await wait_until(lambda: c.owners() == [order[1]], 20), c.owners()
    owner = c.speakers[order[1]].comp.announcer
    assert owner.interfaces_for(__import__("ipaddress").ip_address(VIP)) == ["eth1"]

    def failed() -> list[dict]:
        events = admin.list(src.EVENT, namespace="demo").items
        return [e for e in events if e["reason"] == "announceFailed"]

    assert await wait_until(lambda: failed(), 5)
    assert failed()[0]["type"] == "Warning"
    assert failed()[0]["source"]["host"] == order[0]
    status = [
        o
        for o in admin.list(SERVICE_L2_STATUS, namespace=NS).items
        if o.get("status", {}).get("node") == order[1]
    ]
    assert await wait_until(
        lambda: any(
            o.get("status", {}).get("interfaces") == [{"name": "eth1"}]
            for o in admin.list(SERVICE_L2_STATUS, namespace=NS).items
        ),
        5,
    ), status
    assert c.double_owner_samples == 0


async def test_c14_pool_without_advertisement_is_explained_then_announced(cluster):
    c, admin = cluster
    admin.delete(src.L2_ADVERTISEMENT, "l2", namespace=NS)
    for n in NODES:
        start(c, n)

    def failed() -> list[dict]:
        events = admin.list(src.EVENT, namespace="demo").items
        return [e for e in events if e["reason"] == "announceFailed"]

    assert await wait_until(lambda: failed(), 20)
    assert "not selected by any L2Advertisement" in failed()[0]["message"]
    assert c.owners() == []
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
    assert await wait_until(lambda: c.owners() == [expected_order()[0]], 5), c.owners()
    assert c.double_owner_samples == 0


async def test_bgp_only_service_gets_no_l2_condition_or_event(cluster):
    """One writer of ``ingot.io/Announced`` per Service: a Service only a BGPAdvertisement
    applies to is BGP's; the L2 reporter neither sets the condition nor says "not announced"."""
    c, admin = cluster

    def only_zeta(ad: dict) -> None:
        ad["spec"]["serviceSelectors"] = [{"matchLabels": {"app": "zeta"}}]

    edit(admin, src.L2_ADVERTISEMENT, "l2", only_zeta, namespace=NS)
    admin.create(
        src.BGP_ADVERTISEMENT,
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": "bgp", "namespace": NS},
            "spec": {"ipAddressPools": ["p"]},
        },
        namespace=NS,
    )
    # the marker: an L2 Service with no serving endpoint, reported by the same node in the
    # same status pass as "web" (keys in order: demo/web < demo/zeta)
    add_lb_service(admin, name="zeta", ip="198.51.100.211", endpoint_nodes=())
    edit(
        admin,
        src.SERVICE,
        "zeta",
        lambda s: s["metadata"].setdefault("labels", {}).update(app="zeta"),
        namespace="demo",
    )
    for n in NODES:
        start(c, n)

    def announced(name: str) -> list[dict]:
        svc = admin.get(src.SERVICE, name, namespace="demo")
        conds = (svc.get("status") or {}).get("conditions") or []
        return [x for x in conds if x["type"] == "ingot.io/Announced"]

    assert await wait_until(lambda: announced("zeta"), 20)
    assert announced("zeta")[0]["reason"] == "NoServingEndpoint"
    assert announced("web") == []
    events = admin.list(src.EVENT, namespace="demo").items
    assert [e for e in events if e["involvedObject"]["name"] == "web"] == []
    assert c.owners() == []
