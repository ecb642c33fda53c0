"""``ingot status`` / ``explain`` against ingot.apiserver with a live controller and speakers.

The controller is the real threaded one (``controller.testing.KubeHarness``, as in
``test_controller_*.py``); three L2 speakers run in this test's loop with in-memory wires (as
in ``test_speaker_l2_election.py``). The CLI is run as a user would (``--server URL``) and what
it prints is compared with the actual state: IPs and conditions written by the controller, the
node whose announcer really owns the IP, the Lease states after a speaker is killed and fenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from typing import Any

import pytest

from controller.testing import KubeHarness, l2, pool, service
from ingot.cli.main import main
from ingot.clock import RealClock
from ingot.kube import source as src
from ingot.kube.source import KubeSource
from ingot.lab.cluster import until as wait_until
from speaker.app import SpeakerApp
from speaker.l2.announcer import GarpSchedule
from speaker.l2.component import L2Component, L2Options
from speaker.l2.fencing import Timings
from speaker.l2.interfaces import IFF_BROADCAST, IFF_UP, LinkInfo
from speaker.l2.wire import FakeSegment

NS = "metallb-system"
NODES = ("n1", "n2", "n3")
FAST = Timings(
    heartbeat_interval_s=0.05,
    suspect_after_s=0.2,
    lease_duration_s=2.0,
    renew_interval_s=0.4,
    api_grace_s=1.5,
    hold_down_s=30.0,
    handover_delay_s=0.1,
    startup_grace_s=0.3,
)


def start_speaker(
    apiserver: Any, node: str, idx: int, segment: FakeSegment
) -> tuple[L2Component, asyncio.Task[None]]:
    source = KubeSource(apiserver.api_client(), request_timeout_s=2.0)
    links = [LinkInfo("eth0", 2, bytes((2, 0, 0, 0, 0, idx)), IFF_UP | IFF_BROADCAST, True)]
    comp = L2Component(
        options=L2Options(
            node=node,
            namespace=NS,
            timings=FAST,
            schedule=GarpSchedule(burst_count=1, burst_interval_s=0.1, refresh_interval_s=0),
            heartbeat_key=b"test-key",
        ),
        wire=segment.connect(node),
        clock=RealClock(),
        source=source,
        link_scanner=lambda: list(links),
    )
    app = SpeakerApp(components=[comp], source=source, namespace=NS)
    return comp, asyncio.get_running_loop().create_task(app.run())


async def cli(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, Any]:
    argv = [*args, "--server", url, "-n", NS, "-o", "json"]
    rc = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    # the speakers' structlog lines share stdout: take the one JSON document (printed at once)
    start = 0 if out.startswith("{") else out.index("\n{\n") + 1
    report, _end = json.JSONDecoder().raw_decode(out, start)
    return rc, report


def node(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {}}}


def slice_for(name: str, on: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-1",
            "namespace": "demo",
            "labels": {"kubernetes.io/service-name": name},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.5"], "nodeName": on, "conditions": {"ready": True}}],
    }


async def test_status_and_explain_match_the_live_system(apiserver, kube_client, capsys) -> None:
    h = KubeHarness(kube_client, audit=lambda: list(apiserver.audit))
    tasks: dict[str, asyncio.Task[None]] = {}
    comps: dict[str, L2Component] = {}
    segment = FakeSegment()
    try:
        h.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
        h.apply(*(node(n) for n in NODES))
        h.apply(
            pool("p", "198.51.100.210-198.51.100.220", serviceAllocation={"namespaces": ["demo"]}),
            pool("dark", "203.0.113.0/30", autoAssign=False),
            l2(ipAddressPools=["p"]),
        )
        h.apply(
            service("web"),
            service("dark", annotations={"metallb.io/address-pool": "dark"}),
            service("outsider", ns="other"),
        )
        for name in ("web", "dark"):
            h.fs.create(src.ENDPOINT_SLICE, slice_for(name, "n1"), namespace="demo")
        web_ip = h.ips("web")[0]
        assert h.ips("dark") == ["203.0.113.0"]
        assert h.ips("outsider", ns="other") == []

        for i, n in enumerate(NODES, 1):
            comps[n], tasks[n] = start_speaker(apiserver, n, i, segment)

        def owners() -> list[str]:
            ip = ipaddress.ip_address(web_ip)
            return [n for n, c in comps.items() if not tasks[n].done() and ip in c.announcer.owned]

        assert await wait_until(lambda: len(owners()) == 1, 15.0)
        owner = owners()[0]

        # status: what the controller wrote and what the speakers do
        rc, st = await cli(capsys, apiserver.url, "status")
        assert rc == 1  # outsider Pending, dark unannounced
        svcs = {s["service"]: s for s in st["services"]}
        assert svcs["demo/web"]["ips"] == [web_ip]
        assert svcs["demo/web"]["l2_owner"] == [owner]
        assert svcs["demo/dark"]["ips"] == ["203.0.113.0"]
        assert svcs["demo/dark"]["state"].startswith("Unannounced")
        assert svcs["other/outsider"]["state"].startswith("Pending")
        assert {s["node"]: s["lease"] for s in st["speakers"]} == dict.fromkeys(NODES, "live")
        assert {s["name"]: s["result"] for s in st["configuration"]["states"]} == {
            "controller": "Valid"
        }
        usage = {p["name"]: p["families"][0]["used"] for p in st["pools"]}
        assert usage == {"p": 1, "dark": 1}

        # explain: the owner the speakers elected, and the controller's own Pending message
        rc, ex = await cli(capsys, apiserver.url, "explain", "service", "demo/web")
        assert rc == 0, ex["problems"]
        entry = ex["announcement"]["l2"][0]
        assert entry["owner"] == owner
        assert [c["node"] for c in entry["candidates"] if c["eligible"]][0] == owner
        rc, ex = await cli(capsys, apiserver.url, "explain", "service", "other/outsider")
        assert rc == 1
        cond = await asyncio.to_thread(h.condition, "outsider", "other")
        assert ex["allocation"]["decision"]["message"] == cond["message"]
        assert {p["pool"]: p["cause"] for p in ex["allocation"]["pools"]} == {
            "p": "namespace",
            "dark": "auto-assign-off",
        }
        rc, ex = await cli(capsys, apiserver.url, "explain", "service", "demo/dark")
        assert rc == 1
        assert "pool dark is not selected by any" in ex["announcement"]["summary"]
        assert all(
            ipaddress.ip_address("203.0.113.0") not in c.announcer.owned for c in comps.values()
        )

        # the owner dies without a word: its Lease expires, a peer fences it, another node owns
        segment.wires.pop(owner).handlers.clear()  # no more frames in or out
        tasks[owner].cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await tasks[owner]
        assert await wait_until(lambda: len(owners()) == 1 and owners()[0] != owner, 20.0)
        new_owner = owners()[0]

        async def fenced() -> bool:
            _rc, s = await cli(capsys, apiserver.url, "status")
            return {x["node"]: x["lease"] for x in s["speakers"]}[owner] == "fenced"

        for _ in range(50):
            if await fenced():
                break
            await asyncio.sleep(0.1)
        assert await fenced()
        for _ in range(50):  # the new owner writes its ServiceL2Status soon after taking over
            rc, ex = await cli(capsys, apiserver.url, "explain", "service", "demo/web")
            entry = ex["announcement"]["l2"][0]
            if new_owner in entry["reported"]:
                break
            await asyncio.sleep(0.1)
        assert rc == 0, ex["problems"]
        assert entry["owner"] == new_owner
        reasons = {c["node"]: c["reason"] for c in entry["candidates"]}
        assert "fenced" in reasons[owner]
        assert new_owner in entry["reported"]
        # the dead node could not remove its ServiceL2Status: shown, marked stale, not a problem
        assert set(entry["reported_stale"]) <= {owner}
    finally:
        for t in tasks.values():
            t.cancel()
        for t in tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await asyncio.to_thread(h.stop)


def test_kubeconfig_and_snapshot_dump_agree_with_live(
    apiserver, kube_client, capsys, tmp_path
) -> None:
    h = KubeHarness(kube_client, audit=lambda: list(apiserver.audit))
    try:
        h.apply(node("n1"))
        h.apply(pool("p", "198.51.100.10/31"), l2())
        h.apply(service("a"), service("b"), service("c"))  # two addresses, three Services
        kubeconfig = apiserver.write_kubeconfig(tmp_path / "kubeconfig")
        live = ["--kubeconfig", str(kubeconfig), "-n", NS, "-o", "json"]
        assert main(["explain", "service", "demo/c", *live]) == 1
        from_live = json.loads(capsys.readouterr().out)
        assert from_live["allocation"]["decision"]["result"] == "Pending"
        assert from_live["allocation"]["decision"]["message"] == h.condition("c")["message"]
        assert main(["status", *live]) == 1
        st = json.loads(capsys.readouterr().out)
        assert {s["service"]: s["ips"] for s in st["services"]} == {
            "demo/a": h.ips("a"),
            "demo/b": h.ips("b"),
            "demo/c": [],
        }

        assert main(["snapshot", "--kubeconfig", str(kubeconfig), "-n", NS]) == 0
        dump = tmp_path / "snap.yaml"
        dump.write_text(capsys.readouterr().out)
        offline = ["--snapshot", str(dump), "-n", NS, "-o", "json"]
        assert main(["explain", "service", "demo/c", *offline]) == 1
        assert json.loads(capsys.readouterr().out) == from_live
    finally:
        h.stop()


def test_unreachable_cluster_is_exit_2(capsys, tmp_path) -> None:
    assert main(["status", "--kubeconfig", str(tmp_path / "missing")]) == 2
    assert "kubeconfig" in capsys.readouterr().err
