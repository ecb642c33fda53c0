"""values.schema.json rejects bad values with a message naming the key (Helm SDK validation).

Each bad value is checked twice: ``Chart.validate_schema`` (what ``helm install`` runs before
rendering) must raise ``HelmValuesError`` mentioning the offending path, and ``helm lint``
with the same values must report an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

CHART_DIR = Path(__file__).resolve().parents[2] / "charts" / "ingot"

BAD_VALUES = [
    pytest.param({"controller": {"replicas": 0}}, "/controller/replicas", id="zero-replicas"),
    pytest.param(
        {"controller": {"replicas": 2}}, "/controller/flags/leaderElect", id="ha-without-election"
    ),
    pytest.param({"controller": {"replicas": "2"}}, "/controller/replicas", id="replicas-string"),
    pytest.param(
        {"controller": {"flags": {"metricsPort": 70000}}},
        "/controller/flags/metricsPort",
        id="port-too-high",
    ),
    pytest.param(
        {"controller": {"flags": {"webhookPort": 0}}},
        "/controller/flags/webhookPort",
        id="port-zero",
    ),
    pytest.param(
        {"speaker": {"flags": {"metricsPort": "7472"}}},
        "/speaker/flags/metricsPort",
        id="port-string",
    ),
    pytest.param(
        {"controller": {"flags": {"logLevel": "verbose"}}},
        "/controller/flags/logLevel",
        id="unknown-log-level",
    ),
    pytest.param(
        {"controller": {"flags": {"leaderElection": True}}},
        "/controller/flags",
        id="typo-in-flag-name",
    ),
    pytest.param({"controler": {}}, "controler", id="typo-top-level-key"),
    pytest.param({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", id="bad-pull-policy"),
    pytest.param({"image": {"repository": ""}}, "/image/repository", id="empty-repository"),
    pytest.param({"image": {"tag": "v1 beta"}}, "/image/tag", id="tag-with-space"),
    pytest.param(
        {"loadBalancerClass": "bare metal"}, "/loadBalancerClass", id="lb-class-with-space"
    ),
    pytest.param(
        {"loadBalancerClass": "ingot"}, "/loadBalancerClass", id="lb-class-without-prefix"
    ),
    pytest.param(
        {"webhook": {"failurePolicy": "fail"}}, "/webhook/failurePolicy", id="failure-policy-case"
    ),
    pytest.param(
        {"webhook": {"timeoutSeconds": 31}}, "/webhook/timeoutSeconds", id="webhook-timeout-max"
    ),
    pytest.param({"webhook": {"path": "validate"}}, "/webhook/path", id="relative-webhook-path"),
    pytest.param(
        {"webhook": {"certManager": {"enabled": True, "issuerRef": {"name": "ca"}}}},
        "/webhook/certManager/issuerRef",
        id="issuer-ref-without-kind",
    ),
    pytest.param(
        {"controller": {"nodeSelector": {"disk": True}}},
        "/controller/nodeSelector/disk",
        id="node-selector-bool",
    ),
    pytest.param(
        {"speaker": {"tolerations": [{"key": "a", "operator": "Maybe"}]}},
        "/speaker/tolerations/0/operator",
        id="toleration-operator",
    ),
    pytest.param(
        {"speaker": {"tolerations": {"key": "a"}}},
        "/speaker/tolerations",
        id="tolerations-not-a-list",
    ),
    pytest.param(
        {"controller": {"resources": {"limits": {"memory": "lots"}}}},
        "/controller/resources/limits/memory",
        id="bad-quantity",
    ),
    pytest.param(
        {"controller": {"resources": {"limit": {"memory": "1Gi"}}}},
        "/controller/resources",
        id="resources-typo",
    ),
    pytest.param(
        {"controller": {"priorityClassName": 5}},
        "/controller/priorityClassName",
        id="priority-class-int",
    ),
    pytest.param(
        {"controller": {"podSecurityContext": {"runAsNonRoot": False}}},
        "/controller/podSecurityContext/runAsNonRoot",
        id="controller-as-root",
    ),
    pytest.param(
        {"controller": {"podSecurityContext": {"runAsUser": 0}}},
        "/controller/podSecurityContext/runAsUser",
        id="controller-uid-0",
    ),
    pytest.param(
        {"speaker": {"terminationGracePeriodSeconds": -1}},
        "/speaker/terminationGracePeriodSeconds",
        id="negative-grace",
    ),
    pytest.param(
        {"metrics": {"serviceMonitor": {"interval": "30 seconds"}}},
        "/metrics/serviceMonitor/interval",
        id="bad-duration",
    ),
    pytest.param(
        {"metrics": {"prometheusRule": {"poolUsageThresholds": [{"percent": 120}]}}},
        "/metrics/prometheusRule/poolUsageThresholds/0",
        id="threshold-over-100",
    ),
    pytest.param(
        {"metrics": {"prometheusRule": {"excludePools": ["Bad Pool"]}}},
        "/metrics/prometheusRule/excludePools/0",
        id="exclude-pool-not-a-name",
    ),
    pytest.param(
        {"networkPolicy": {"apiServer": {"ports": []}}},
        "/networkPolicy/apiServer/ports",
        id="no-api-server-port",
    ),
    pytest.param(
        {"networkPolicy": {"apiServer": {"cidrs": ["10.0.0.1"]}}},
        "/networkPolicy/apiServer/cidrs/0",
        id="cidr-without-prefix",
    ),
    pytest.param(
        {"controller": {"extraArgs": ["-v"]}}, "/controller/extraArgs/0", id="short-extra-arg"
    ),
    pytest.param({"rbac": {"create": "yes"}}, "/rbac/create", id="rbac-create-string"),
    pytest.param({"imagePullSecrets": ["regcred"]}, "/imagePullSecrets/0", id="pull-secret-string"),
    pytest.param({"nameOverride": "Ingot_LB"}, "/nameOverride", id="name-override-invalid"),
]

GOOD_VALUES = [
    pytest.param({}, id="defaults"),
    pytest.param({"controller": {"replicas": 3, "flags": {"leaderElect": True}}}, id="ha"),
    pytest.param({"loadBalancerClass": "ingot.io/bare-metal"}, id="lb-class"),
    pytest.param({"image": {"tag": "0.1.0@sha256:" + "a" * 64}}, id="digest-tag"),
    pytest.param({"controller": {"resources": {"limits": {"cpu": 1, "memory": "1.5Gi"}}}}, id="q"),
]


@pytest.fixture(scope="module")
def chart() -> Any:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.mark.parametrize(("values", "path"), BAD_VALUES)
def test_schema_rejects(chart: Any, values: dict[str, Any], path: str) -> None:
    with pytest.raises(helm.HelmValuesError) as info:
        chart.validate_schema(values)
    assert path in str(info.value), str(info.value)
    report = helm.lint(CHART_DIR, values)
    assert report["errors"] or any(m["severity"] == 3 for m in report["messages"]), report


@pytest.mark.parametrize("values", GOOD_VALUES)
def test_schema_accepts(chart: Any, values: dict[str, Any]) -> None:
    chart.validate_schema(values)


def test_default_values_satisfy_the_schema(chart: Any) -> None:
    chart.validate_schema(chart.values)
