"""Helm lint and render of charts/ingot for the default values and variants; strict schemas.

Every rendered object of a built-in kind is validated with kubernetes-validate ``strict=True``
(unknown fields are errors) against the oldest Kubernetes the chart supports (Chart.yaml
``kubeVersion``) and the newest bundled schema set. Custom kinds have no bundled schema; each
is listed in ``SKIPPED_KINDS`` with the reason and checked structurally instead.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "charts" / "ingot"
TESTDATA = Path(__file__).parent / "testdata"
RELEASE = "ingot"
NAMESPACE = "ingot-system"
# INGOT_UPDATE_GOLDEN=1 rewrites the golden file instead of comparing against it.
UPDATE_GOLDEN = os.environ.get("INGOT_UPDATE_GOLDEN") == "1"

KUBE_VERSIONS = ("1.27", "1.37")

SKIPPED_KINDS = {
    "ServiceMonitor": "monitoring.coreos.com CRD (Prometheus Operator): no schema in "
    "kubernetes-validate; checked by test_monitoring_objects",
    "PodMonitor": "monitoring.coreos.com CRD (Prometheus Operator): no schema in "
    "kubernetes-validate; checked by test_monitoring_objects",
    "PrometheusRule": "monitoring.coreos.com CRD (Prometheus Operator): no schema in "
    "kubernetes-validate; checked by test_prometheus_rule_alerts",
    "Certificate": "cert-manager.io CRD: no schema in kubernetes-validate; checked by "
    "test_cert_manager_variant",
    "Issuer": "cert-manager.io CRD: no schema in kubernetes-validate; checked by "
    "test_cert_manager_variant",
}

VARIANTS = [
    pytest.param({}, id="default"),
    pytest.param({"webhook": {"certManager": {"enabled": True}}}, id="cert-manager"),
    pytest.param(
        {
            "webhook": {
                "certManager": {
                    "enabled": True,
                    "issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer"},
                }
            }
        },
        id="cert-manager-cluster-issuer",
    ),
    pytest.param(
        {
            "metrics": {
                "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
                "prometheusRule": {"enabled": True, "excludePools": ["lab", "test"]},
            }
        },
        id="monitoring",
    ),
    pytest.param(
        {"metrics": {"podMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}},
        id="pod-monitor",
    ),
    pytest.param(
        {
            "networkPolicy": {
                "enabled": True,
                "apiServer": {"ports": [6443], "cidrs": ["198.51.100.10/32", "2001:db8::10/128"]},
                "metricsFrom": [
                    {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}},
                ],
            }
        },
        id="network-policy",
    ),
    pytest.param({"loadBalancerClass": "ingot.io/bare-metal"}, id="lb-class"),
    pytest.param({"__namespace": "lb-prod", "__name": "edge"}, id="custom-namespace"),
    pytest.param(
        {"controller": {"replicas": 2, "flags": {"leaderElect": True}}}, id="ha-leader-elect"
    ),
    pytest.param({"webhook": {"enabled": False}}, id="webhook-off"),
    pytest.param(
        {
            "rbac": {"create": False},
            "controller": {"serviceAccount": {"create": False, "name": "lb-ctl"}},
            "speaker": {"serviceAccount": {"create": False, "name": "lb-spk"}},
        },
        id="bring-your-own-rbac",
    ),
    pytest.param(
        {
            "image": {"repository": "registry.example/ingot", "tag": "0.1.0-rc1"},
            "imagePullSecrets": [{"name": "regcred"}],
            "controller": {
                "nodeSelector": {"node-role.kubernetes.io/infra": ""},
                "tolerations": [
                    {"key": "infra", "operator": "Exists", "effect": "NoSchedule"},
                ],
                "priorityClassName": "system-cluster-critical",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "extraArgs": ["--kube-api-qps=50"],
            },
            "speaker": {
                "priorityClassName": "system-node-critical",
                "tolerations": [{"operator": "Exists"}],
                "nodeSelector": {"ingot.io/speaker": "true"},
            },
        },
        id="scheduling",
    ),
]


def _split(values: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    values = dict(values)
    namespace = values.pop("__namespace", NAMESPACE)
    name = values.pop("__name", RELEASE)
    return values, name, namespace


@pytest.mark.parametrize("values", VARIANTS)
def test_lint_is_clean(values: dict[str, Any]) -> None:
    values, _, namespace = _split(values)
    report = helm.lint(CHART_DIR, values, strict=True, namespace=namespace)
    assert report["errors"] == []
    assert report["messages"] == [], report["messages"]


@pytest.mark.parametrize("values", VARIANTS)
def test_every_object_validates_strictly(render: Any, values: dict[str, Any]) -> None:
    values, name, namespace = _split(values)
    objs = render(values, name=name, namespace=namespace)
    assert objs, "nothing rendered"
    for obj in objs:
        kind = obj["kind"]
        where = f"{kind} {obj['metadata'].get('name')}"
        if kind in SKIPPED_KINDS:
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                pytest.fail(f"{where} invalid for Kubernetes {version}: {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                pytest.fail(f"{where}: {exc.message}; add the kind to SKIPPED_KINDS with a reason")


@pytest.mark.parametrize("values", VARIANTS)
def test_names_namespaces_and_labels(render: Any, values: dict[str, Any]) -> None:
    values, name, namespace = _split(values)
    objs = render(values, name=name, namespace=namespace)
    seen: set[tuple[str, str]] = set()
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration"}
    for obj in objs:
        meta = obj["metadata"]
        key = (obj["kind"], meta["name"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)
        assert meta["name"].startswith(name), f"{key} not prefixed with the release name"
        if obj["kind"] in cluster_scoped:
            assert "namespace" not in meta, key
        else:
            assert meta.get("namespace") == namespace, key
        assert meta["labels"]["app.kubernetes.io/instance"] == name, key
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm", key


def _args(objs: Any, kind: str) -> list[str]:
    workload = objs.one(kind)
    return workload["spec"]["template"]["spec"]["containers"][0]["args"]


def test_default_args_and_env(render: Any) -> None:
    objs = render()
    ctl = _args(objs, "Deployment")
    spk = _args(objs, "DaemonSet")
    assert "--namespace=$(NAMESPACE)" in ctl
    assert "--metrics-port=7472" in ctl
    assert "--webhook-port=9443" in ctl
    assert not any(a.startswith(("--lb-class", "--leader-elect")) for a in ctl + spk)
    assert spk[0] == "--node-name=$(NODE_NAME)"
    assert "--heartbeat-key-file=/etc/ingot/heartbeat/key" in spk
    assert "--namespace=$(NAMESPACE)" in spk
    env = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in objs.one("DaemonSet")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["NODE_NAME"] == "spec.nodeName"
    assert env["NAMESPACE"] == "metadata.namespace"
    ds_pod = objs.one("DaemonSet")["spec"]["template"]["spec"]
    assert ds_pod["hostNetwork"] is True
    assert ds_pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert objs.one("Deployment")["spec"]["strategy"]["type"] == "Recreate"


def test_lb_class_reaches_both_components(render: Any) -> None:
    objs = render({"loadBalancerClass": "ingot.io/bare-metal"})
    for kind in ("Deployment", "DaemonSet"):
        assert "--lb-class=ingot.io/bare-metal" in _args(objs, kind), kind


def test_leader_election_adds_flag_and_one_named_lease(render: Any) -> None:
    objs = render({"controller": {"replicas": 2, "flags": {"leaderElect": True}}})
    args = _args(objs, "Deployment")
    assert "--leader-elect" in args
    assert "--leader-election-lease-name=ingot-controller" in args
    assert objs.one("Deployment")["spec"]["replicas"] == 2
    role = objs.one("Role", "ingot-controller")
    lease_rules = [r for r in role["rules"] if "leases" in r["resources"]]
    assert {tuple(r["verbs"]) for r in lease_rules} == {("create",), ("get", "update")}
    named = [r for r in lease_rules if "resourceNames" in r]
    assert named[0]["resourceNames"] == ["ingot-controller"]


def test_no_leases_for_a_single_controller(render: Any) -> None:
    role = render().one("Role", "ingot-controller")
    assert not [r for r in role["rules"] if "leases" in r["resources"]]


def test_webhook_configuration(render: Any) -> None:
    objs = render()
    vwc = objs.one("ValidatingWebhookConfiguration", "ingot-webhook")
    (hook,) = vwc["webhooks"]
    assert hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["timeoutSeconds"] <= 10
    assert hook["clientConfig"]["service"] == {
        "name": "ingot-webhook",
        "namespace": NAMESPACE,
        "path": "/validate",
        "port": 443,
    }
    kinds = {res for rule in hook["rules"] for res in rule["resources"]}
    assert kinds == {
        "ipaddresspools",
        "l2advertisements",
        "bgpadvertisements",
        "bgppeers",
        "bfdprofiles",
        "communities",
    }
    assert all(rule["apiGroups"] == ["metallb.io"] for rule in hook["rules"])
    svc = objs.one("Service", "ingot-webhook")
    assert svc["spec"]["ports"][0]["targetPort"] == "webhook"
    assert "cert-manager.io/inject-ca-from" not in vwc["metadata"].get("annotations", {})
    assert not objs.find("Certificate")
    assert not objs.find("Issuer")


def test_webhook_off_removes_service_config_and_rbac(render: Any) -> None:
    objs = render({"webhook": {"enabled": False}})
    assert not objs.find("ValidatingWebhookConfiguration")
    assert not objs.find("Service", "ingot-webhook")
    assert not objs.find("ClusterRole", "ingot-controller-webhook")
    assert "--webhook-port=0" in _args(objs, "Deployment")


@pytest.mark.parametrize(
    ("issuer_ref", "want_issuer", "want_ref"),
    [
        pytest.param(
            {},
            True,
            {"name": "ingot-selfsigned", "kind": "Issuer", "group": "cert-manager.io"},
            id="self-signed",
        ),
        pytest.param(
            {"name": "corp-ca", "kind": "ClusterIssuer"},
            False,
            {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
            id="cluster-issuer",
        ),
    ],
)
def test_cert_manager_variant(
    render: Any, issuer_ref: dict[str, str], want_issuer: bool, want_ref: dict[str, str]
) -> None:
    objs = render({"webhook": {"certManager": {"enabled": True, "issuerRef": issuer_ref}}})
    cert = objs.one("Certificate", "ingot-webhook")
    assert cert["apiVersion"] == "cert-manager.io/v1"
    assert cert["spec"]["secretName"] == "ingot-webhook-cert"
    assert cert["spec"]["issuerRef"] == want_ref
    assert cert["spec"]["usages"] == ["server auth"]
    assert "ingot-webhook.ingot-system.svc" in cert["spec"]["dnsNames"]
    assert bool(objs.find("Issuer")) is want_issuer
    if want_issuer:
        assert objs.one("Issuer")["spec"] == {"selfSigned": {}}
    vwc = objs.one("ValidatingWebhookConfiguration")
    assert vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        "ingot-system/ingot-webhook"
    )
    # cert-manager injects caBundle: the controller gets no right to patch the webhook
    # configuration nor to write Secrets, and mounts the issued Secret instead.
    assert not objs.find("ClusterRole", "ingot-controller-webhook")
    role = objs.one("Role", "ingot-controller")
    secret_verbs = {v for r in role["rules"] if "secrets" in r["resources"] for v in r["verbs"]}
    assert secret_verbs == {"list", "watch"}
    pod = objs.one("Deployment")["spec"]["template"]["spec"]
    assert {"name": "webhook-cert", "secret": {"secretName": "ingot-webhook-cert"}} in pod[
        "volumes"
    ]
    assert "--webhook-cert-dir=/etc/ingot/webhook-cert" in pod["containers"][0]["args"]


def test_monitoring_objects(render: Any) -> None:
    objs = render({"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}})
    monitors = objs.find("ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {"ingot-controller", "ingot-speaker"}
    services = {s["metadata"]["name"]: s for s in objs.find("Service")}
    for mon in monitors:
        assert mon["apiVersion"] == "monitoring.coreos.com/v1"
        assert mon["metadata"]["labels"]["release"] == "prom"
        (endpoint,) = mon["spec"]["endpoints"]
        assert endpoint["port"] == "metrics"
        selected = [
            s
            for s in services.values()
            if mon["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
            and any(p["name"] == "metrics" for p in s["spec"]["ports"])
        ]
        assert len(selected) == 1, mon["metadata"]["name"]
    assert services["ingot-speaker-metrics"]["spec"]["clusterIP"] == "None"

    pod_objs = render({"metrics": {"podMonitor": {"enabled": True}}})
    (pm,) = pod_objs.find("PodMonitor")
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert not pod_objs.find("ServiceMonitor")


def test_monitors_are_off_by_default(render: Any) -> None:
    assert not {"ServiceMonitor", "PodMonitor", "PrometheusRule", "NetworkPolicy"} & (
        render().kinds()
    )


def test_prometheus_rule_alerts(render: Any) -> None:
    objs = render({"metrics": {"prometheusRule": {"enabled": True, "excludePools": ["lab"]}}})
    rule = objs.one("PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "IngotAddressPoolUsage75Percent",
        "IngotAddressPoolUsage85Percent",
        "IngotAddressPoolUsage95Percent",
        "IngotAddressPoolExhausted",
        "IngotBGPSessionDown",
        "IngotConfigInvalid",
        "IngotConfigNotLoaded",
    }
    severities = {
        name: alerts[name]["labels"]["severity"]
        for name in ("IngotAddressPoolUsage75Percent", "IngotAddressPoolUsage95Percent")
    }
    assert severities == {
        "IngotAddressPoolUsage75Percent": "info",
        "IngotAddressPoolUsage95Percent": "critical",
    }
    usage = alerts["IngotAddressPoolUsage85Percent"]["expr"]
    assert 'metallb_allocator_addresses_in_use_total{pool!~"lab"}' in usage
    assert 'metallb_allocator_addresses_total{pool!~"lab"}' in usage
    assert usage.rstrip().endswith("> 85")
    assert ">=" in alerts["IngotAddressPoolExhausted"]["expr"]
    assert "metallb_bgp_session_up" in alerts["IngotBGPSessionDown"]["expr"]
    assert "metallb_k8s_client_config_stale_bool" in alerts["IngotConfigInvalid"]["expr"]
    for name, alert in alerts.items():
        assert alert["annotations"]["summary"], name
        assert alert["labels"]["severity"] in {"info", "warning", "critical"}, name
        # Prometheus template syntax survives Helm rendering.
        assert "{{ $labels." in alert["annotations"]["summary"] or "Config" in name, name


def test_network_policy(render: Any) -> None:
    objs = render(
        {
            "networkPolicy": {
                "enabled": True,
                "apiServer": {"ports": [6443], "cidrs": ["198.51.100.10/32"]},
            }
        }
    )
    (np,) = objs.find("NetworkPolicy")
    spec = np["spec"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "controller"
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    ingress_ports = sorted(p["port"] for rule in spec["ingress"] for p in rule["ports"])
    assert ingress_ports == [7472, 9443]
    api_rule = spec["egress"][0]
    assert api_rule["ports"] == [{"port": 6443, "protocol": "TCP"}]
    assert api_rule["to"] == [{"ipBlock": {"cidr": "198.51.100.10/32"}}]
    assert {p["port"] for p in spec["egress"][1]["ports"]} == {53}


def test_scheduling_values_reach_the_pods(render: Any) -> None:
    objs = render(
        {
            "controller": {
                "nodeSelector": {"node-role.kubernetes.io/infra": ""},
                "priorityClassName": "system-cluster-critical",
                "tolerations": [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}],
                "resources": {"limits": {"memory": "1Gi"}},
            },
            "speaker": {
                "priorityClassName": "system-node-critical",
                "tolerations": [{"key": "edge", "operator": "Exists"}],
                "tolerateControlPlane": False,
            },
        }
    )
    ctl = objs.one("Deployment")["spec"]["template"]["spec"]
    assert ctl["nodeSelector"] == {
        "kubernetes.io/os": "linux",
        "node-role.kubernetes.io/infra": "",
    }
    assert ctl["priorityClassName"] == "system-cluster-critical"
    assert ctl["tolerations"] == [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}]
    assert ctl["containers"][0]["resources"]["limits"]["memory"] == "1Gi"
    spk = objs.one("DaemonSet")["spec"]["template"]["spec"]
    assert spk["priorityClassName"] == "system-node-critical"
    assert spk["tolerations"] == [{"key": "edge", "operator": "Exists"}]


def test_speaker_tolerates_control_plane_by_default(render: Any) -> None:
    tolerations = render().one("DaemonSet")["spec"]["template"]["spec"]["tolerations"]
    keys = {(t["key"], t["operator"], t["effect"]) for t in tolerations}
    assert ("node-role.kubernetes.io/control-plane", "Exists", "NoSchedule") in keys
    assert ("node-role.kubernetes.io/master", "Exists", "NoSchedule") in keys


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {"metrics": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}},
            "scraped twice",
            id="both-monitors",
        ),
        pytest.param(
            {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}},
            "needs metrics.service.enabled",
            id="service-monitor-without-service",
        ),
        pytest.param(
            {"controller": {"flags": {"webhookPort": 7472}}},
            "must differ",
            id="same-ports",
        ),
    ],
)
def test_template_guards_fail_render(
    render_texts: Any, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError) as info:
        render_texts(values)
    assert message in str(info.value)


RANDOM_KEY = re.compile(r"^(  key: )\S+$", re.M)


def test_golden_default_render(render_texts: Any) -> None:
    texts = render_texts()
    # The heartbeat key is random on every install: compare everything else.
    key = "ingot/templates/heartbeat-secret.yaml"
    texts[key] = RANDOM_KEY.sub(r"\1<random>", texts[key])
    docs = [
        f"# Source: {path}\n{texts[path].strip()}\n"
        for path in sorted(texts)
        if path.endswith(".yaml") and texts[path].strip()
    ]
    got = "---\n".join(docs)
    golden = TESTDATA / "default-render.yaml"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(got)
    assert golden.exists(), "no golden file: run with INGOT_UPDATE_GOLDEN=1"
    want = golden.read_text()
    assert got == want, "default render changed: review, then rerun with INGOT_UPDATE_GOLDEN=1"
    # The golden file is itself valid YAML made of the rendered objects.
    assert len([d for d in yaml.safe_load_all(want) if d]) == len(
        [d for d in yaml.safe_load_all(got) if d]
    )


def test_chart_metadata(chart: Any) -> None:
    meta = chart.metadata
    assert meta["name"] == "ingot"
    assert meta["apiVersion"] == "v2"
    assert meta["kubeVersion"].startswith(">=1.27")
    assert chart.values["image"]["tag"] == ""
    assert (CHART_DIR / "values.schema.json").exists()


def test_heartbeat_secret(render: Any, render_texts: Any) -> None:
    objs = render()
    secret = objs.one("Secret", "ingot-heartbeat")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    key = base64.b64decode(secret["data"]["key"])
    assert len(key) == 48
    again = yaml.safe_load(render_texts()["ingot/templates/heartbeat-secret.yaml"])
    assert again["data"]["key"] != secret["data"]["key"], "random per install"
    pod = objs.one("DaemonSet")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "heartbeat")
    assert volume["secret"]["secretName"] == "ingot-heartbeat"
    mounts = pod["containers"][0]["volumeMounts"]
    assert {"name": "heartbeat", "mountPath": "/etc/ingot/heartbeat", "readOnly": True} in mounts

    own = render({"speaker": {"heartbeat": {"existingSecret": "my-key"}}})
    assert not own.find("Secret")
    pod = own.one("DaemonSet")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "heartbeat")
    assert volume["secret"]["secretName"] == "my-key"


def _crd_versions() -> dict[str, set[str]]:
    """metallb.io plural -> served versions, from charts/ingot/crds (engineer A's files)."""
    out: dict[str, set[str]] = {}
    for path in sorted((CHART_DIR / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "CustomResourceDefinition":
                spec = doc["spec"]
                served = {v["name"] for v in spec["versions"] if v.get("served")}
                out[spec["names"]["plural"]] = served
    return out


def test_webhook_and_rbac_name_existing_crds(render: Any) -> None:
    crds = _crd_versions()
    assert crds, "charts/ingot/crds is empty"
    objs = render({"controller": {"replicas": 2, "flags": {"leaderElect": True}}})
    (hook,) = objs.one("ValidatingWebhookConfiguration")["webhooks"]
    for rule in hook["rules"]:
        for resource in rule["resources"]:
            assert resource in crds, f"webhook rule for unknown kind {resource}"
            assert crds[resource] & set(rule["apiVersions"]), resource
    assert crds["bgppeers"] >= {"v1beta1", "v1beta2"}, (
        "BGPPeer v1beta2 is MetalLB's storage version"
    )
    for role in objs:
        if not role["kind"].endswith("Role"):
            continue
        for rule in role["rules"]:
            if rule["apiGroups"] == ["metallb.io"]:
                for resource in rule["resources"]:
                    assert resource.split("/")[0] in crds, f"{role['metadata']['name']}: {resource}"
