"""The speaker's ``ingot.io/Announced`` condition: one condition, strategic merge by ``type``.

Through the official client against ingot.apiserver: a strategic patch carrying one condition
keeps the others (ServiceStatus.conditions is a list-map keyed by ``type``), and the speaker's
``ConditionWriter`` leaves the controller's ``ingot.io/IPAllocated`` alone even when its cached
copy of the Service is stale.
"""

from __future__ import annotations

import kubernetes

from ingot.clock import FakeClock
from ingot.kube import source as src
from ingot.kube.source import KubeSource
from speaker.conditions import ANNOUNCED, ConditionWriter, find


def _cond(ctype: str, status: str, reason: str) -> dict:
    return {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": reason,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def _service(ks: KubeSource) -> dict:
    ks.create(
        src.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}
    )
    ks.create(
        src.SERVICE,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        },
        namespace="demo",
    )
    return ks.patch_status(
        src.SERVICE,
        "web",
        {"status": {"conditions": [_cond("ingot.io/IPAllocated", "True", "Assigned")]}},
        namespace="demo",
    )


def _types(svc: dict) -> dict[str, str]:
    return {c["type"]: c["reason"] for c in svc["status"]["conditions"]}


def test_strategic_patch_of_one_condition_keeps_the_others(kube_client):
    ks = KubeSource(kube_client)
    _service(ks)
    core = kubernetes.client.CoreV1Api(kube_client)
    # the official client sends a dict body to services/status as a strategic merge patch
    core.patch_namespaced_service_status(
        "web", "demo", {"status": {"conditions": [_cond(ANNOUNCED, "True", "Announced")]}}
    )
    got = ks.get(src.SERVICE, "web", namespace="demo")
    assert _types(got) == {"ingot.io/IPAllocated": "Assigned", ANNOUNCED: "Announced"}
    core.patch_namespaced_service_status(
        "web", "demo", {"status": {"conditions": [_cond(ANNOUNCED, "False", "NoEligibleNode")]}}
    )
    got = ks.get(src.SERVICE, "web", namespace="demo")
    assert _types(got) == {"ingot.io/IPAllocated": "Assigned", ANNOUNCED: "NoEligibleNode"}


async def test_condition_writer_keeps_ip_allocated_from_a_stale_copy(kube_client):
    ks = KubeSource(kube_client)
    stale = _service(ks)
    # the controller rewrites its condition after our copy was taken
    ks.patch_status(
        src.SERVICE,
        "web",
        {"status": {"conditions": [_cond("ingot.io/IPAllocated", "False", "Exhausted")]}},
        namespace="demo",
        patch_type="strategic",
    )
    writer = ConditionWriter(source=ks, clock=FakeClock())
    await writer.set(stale, status="True", reason="Announced", message="from n1")
    got = ks.get(src.SERVICE, "web", namespace="demo")
    assert _types(got) == {"ingot.io/IPAllocated": "Exhausted", ANNOUNCED: "Announced"}
    rv = got["metadata"]["resourceVersion"]
    await writer.set(got, status="True", reason="Announced", message="from n1")  # no change
    assert ks.get(src.SERVICE, "web", namespace="demo")["metadata"]["resourceVersion"] == rv


async def test_condition_writer_corrects_a_condition_another_node_wrote_since(kube_client):
    ks = KubeSource(kube_client)
    svc = _service(ks)
    a = ConditionWriter(source=ks, clock=FakeClock())
    b = ConditionWriter(source=ks, clock=FakeClock())
    await a.set(svc, status="True", reason="Announced", message="from n1")
    await a.set(svc, status="True", reason="Announced", message="from n1")  # same copy: no write
    got = ks.get(src.SERVICE, "web", namespace="demo")
    await b.set(got, status="True", reason="Announced", message="from n2")  # n2 took over
    got = ks.get(src.SERVICE, "web", namespace="demo")
    assert find(got, ANNOUNCED)["message"] == "from n2"
    # n1 takes the Service back: its last write was "from n1", but the copy says otherwise
    await a.set(got, status="True", reason="Announced", message="from n1")
    got = ks.get(src.SERVICE, "web", namespace="demo")
    assert find(got, ANNOUNCED)["message"] == "from n1"
    assert _types(got) == {"ingot.io/IPAllocated": "Assigned", ANNOUNCED: "Announced"}
