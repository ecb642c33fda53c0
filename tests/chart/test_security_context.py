"""Pod and container security of the rendered workloads, for every variant that changes them.

Controller: non-root, read-only root filesystem, every capability dropped, no privilege
escalation, seccomp RuntimeDefault. Speaker: host network, every capability dropped except
NET_RAW (ARP/NDP raw sockets) and NET_ADMIN, read-only root filesystem, no privilege escalation.
"""

from __future__ import annotations

from typing import Any

import pytest

VARIANTS = [
    pytest.param({}, id="default"),
    pytest.param({"webhook": {"certManager": {"enabled": True}}}, id="cert-manager"),
    pytest.param({"controller": {"replicas": 2, "flags": {"leaderElect": True}}}, id="ha"),
    pytest.param({"loadBalancerClass": "ingot.io/x"}, id="lb-class"),
    pytest.param(
        {
            "controller": {
                "podSecurityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 4242,
                    "seccompProfile": {"type": "RuntimeDefault"},
                }
            }
        },
        id="custom-uid",
    ),
]


def _pod(objs: Any, kind: str) -> dict[str, Any]:
    return objs.one(kind)["spec"]["template"]["spec"]


@pytest.mark.parametrize("values", VARIANTS)
def test_controller_is_locked_down(render: Any, values: dict[str, Any]) -> None:
    pod = _pod(render(values), "Deployment")
    assert not pod.get("hostNetwork", False)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"] + pod.get("initContainers", []):
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True, container["name"]
        assert sc["readOnlyRootFilesystem"] is True, container["name"]
        assert sc["allowPrivilegeEscalation"] is False, container["name"]
        assert sc["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert "privileged" not in sc, container["name"]
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, container["name"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in mounts, "read-only root needs a writable /tmp"


@pytest.mark.parametrize("values", VARIANTS)
def test_speaker_gets_only_net_raw_and_net_admin(render: Any, values: dict[str, Any]) -> None:
    pod = _pod(render(values), "DaemonSet")
    assert pod["hostNetwork"] is True
    assert not pod.get("hostPID", False)
    assert not pod.get("hostIPC", False)
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sorted(sc["capabilities"]["add"]) == ["NET_ADMIN", "NET_RAW"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert "privileged" not in sc
    assert not any("hostPath" in v for v in pod["volumes"]), "no host paths"


@pytest.mark.parametrize("kind", ["Deployment", "DaemonSet"])
def test_probes_hit_the_health_endpoints(render: Any, kind: str) -> None:
    (container,) = _pod(render(), kind)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert f"--metrics-port={ports['metrics']}" in container["args"]


def test_values_cannot_weaken_the_container_context(chart: Any) -> None:
    # The container securityContext is fixed in the templates: no value reaches it.
    values = chart.values
    for component in ("controller", "speaker"):
        assert "securityContext" not in values[component]
        assert "containerSecurityContext" not in values[component]
    assert "podSecurityContext" not in values["speaker"]
