"""EventRecorder against the embedded API server: no flood, and ``kubectl describe`` shows it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ingot.kube import events, source

SVC = source.SERVICE


@pytest.fixture
def kube(kube_client: Any) -> source.KubeSource:
    ks = source.KubeSource(kube_client)
    ks.create(source.NAMESPACE, {"metadata": {"name": "demo"}})
    return ks


def make_svc(kube: source.KubeSource, name: str = "web") -> dict[str, Any]:
    return kube.create(
        SVC,
        {
            "metadata": {"name": name, "namespace": "demo"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
        },
    )


def core_events(kube: source.KubeSource) -> list[dict[str, Any]]:
    return kube.list(source.EVENT, namespace="demo").items


def test_repeated_reconciles_do_not_flood(kube) -> None:
    svc = make_svc(kube)
    rec = events.EventRecorder(kube, component="ingot-controller", host="node-a")
    for _ in range(300):  # 300 reconciles confirming the same allocation
        rec.normal(svc, "IPAllocated", "Assigned IP [198.51.100.7]")
    evs = core_events(kube)
    assert len(evs) == 1
    assert rec.writes == 1
    assert evs[0]["count"] == 1
    # A real change is written at once; flipping back re-uses the first Event.
    assert rec.warning(svc, "AllocationFailed", "no available IPs in pool tight")
    assert rec.normal(svc, "IPAllocated", "Assigned IP [198.51.100.7]")
    evs = sorted(core_events(kube), key=lambda e: e["reason"])
    assert [(e["reason"], e["type"], e["count"]) for e in evs] == [
        ("AllocationFailed", "Warning", 1),
        ("IPAllocated", "Normal", 301),  # count = occurrences, written when news
    ]
    assert rec.writes == 3


def test_events_show_in_kubectl_describe(apiserver, kube, tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is part of the dev image (python-k8s-stack.md); it is missing")
    svc = make_svc(kube)
    rec = events.EventRecorder(kube, component="ingot-controller")
    rec.normal(svc, "IPAllocated", "Assigned IP [198.51.100.7]")
    rec.warning(make_svc(kube, "other"), "AllocationFailed", "not for web")
    cfg = apiserver.write_kubeconfig(tmp_path / "kubeconfig", namespace="demo")
    out = subprocess.run(
        [kubectl, "--kubeconfig", str(cfg), "describe", "service", "web", "-n", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Events:" in text
    assert "IPAllocated" in text
    assert "Assigned IP [198.51.100.7]" in text
    assert "ingot-controller" in text
    assert "not for web" not in text
