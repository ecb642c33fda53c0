"""Edge paths of the CLI: snapshot edits, Services ingot does not serve, invalid configuration."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from ingot.cli import manifests
from ingot.cli.main import main
from ingot.cli.snapshot import Snapshot, parse_time

SNAPSHOTS = Path(__file__).parent / "testdata" / "snapshots"
NOW = "2026-01-01T00:00:10Z"


def load(*names: str) -> Snapshot:
    loaded, problems = manifests.load([str(SNAPSHOTS / f"{n}.yaml") for n in names])
    assert not problems
    return Snapshot.from_objects(
        [i.obj for i in loaded], namespace="metallb-system", now_s=parse_time(NOW) or 0.0
    )


def test_with_changes_keeps_a_services_status_and_deletes_cluster_scoped() -> None:
    snap = load("base", "plan")
    manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s1", "namespace": "demo"},
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.1.1"], "ports": [{"port": 81}]},
    }
    changed = snap.with_changes([manifest], [("Node", "", "node-c")])
    s1 = next(s for s in changed.services if s["metadata"]["name"] == "s1")
    assert s1["status"]["loadBalancer"]["ingress"] == [{"ip": "198.51.100.10"}]
    assert s1["spec"]["ports"] == [{"port": 81}]
    assert sorted(n["metadata"]["name"] for n in changed.resources.nodes) == ["node-a", "node-b"]
    assert len(changed.services) == len(snap.services)
    assert snap.resources.nodes != changed.resources.nodes  # the original is untouched


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    rc = main([*args, "--now", NOW, "-o", "json"])
    return rc, json.loads(capsys.readouterr().out)


def test_plan_service_pool_annotation_change_moves_it(capsys, tmp_path) -> None:
    """C31: changing a running Service's address-pool annotation re-allocates it."""
    f = tmp_path / "s1.yaml"
    f.write_text(
        textwrap.dedent(
            """
            apiVersion: v1
            kind: Service
            metadata:
              name: s1
              namespace: demo
              annotations: {metallb.io/address-pool: b}
            spec:
              type: LoadBalancer
              clusterIPs: [10.96.1.1]
              selector: {app: web}
              ports: [{port: 80, protocol: TCP}]
            """
        )
    )
    rc, r = run(
        capsys,
        "plan",
        "-f",
        str(f),
        "--snapshot",
        str(SNAPSHOTS / "base.yaml"),
        "--snapshot",
        str(SNAPSHOTS / "plan.yaml"),
    )
    assert rc == 1
    assert [(c["service"], c["before"]["pool"], c["after"]) for c in r["services"]] == [
        ("demo/s1", "a", {"ips": ["203.0.113.10"], "pool": "b"})
    ]


def test_explain_a_service_ingot_does_not_serve(capsys, tmp_path) -> None:
    f = tmp_path / "svc.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: internal, namespace: demo}\n"
        "spec: {type: ClusterIP, clusterIPs: [10.96.9.9]}\n"
    )
    rc, r = run(capsys, "explain", "service", "demo/internal", "--snapshot", str(f))
    assert rc == 1
    assert any("does not serve this Service: type ClusterIP" in p for p in r["problems"])


def test_explain_with_invalid_configuration(capsys, tmp_path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        textwrap.dedent(
            """
            apiVersion: metallb.io/v1beta1
            kind: IPAddressPool
            metadata: {name: broken, namespace: metallb-system}
            spec: {addresses: ["198.51.100.9-198.51.100.1"]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: demo}
            spec: {type: LoadBalancer, clusterIPs: [10.96.9.1], ports: [{port: 80}]}
            """
        )
    )
    rc, r = run(capsys, "explain", "service", "demo/web", "--snapshot", str(f))
    assert rc == 1
    assert not r["configuration"]["valid"]
    assert any("spec.addresses[0]" in e for e in r["configuration"]["errors"])
    assert r["allocation"]["result"] == "Unknown"
    main(["explain", "service", "demo/web", "--snapshot", str(f), "--now", NOW])
    assert "Configuration: INVALID" in capsys.readouterr().out


def test_explain_invalid_service_names_the_field(capsys, tmp_path) -> None:
    f = tmp_path / "svc.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo, annotations: "
        "{metallb.io/loadBalancerIPs: not-an-ip}}\n"
        "spec: {type: LoadBalancer, clusterIPs: [10.96.9.2], ports: [{port: 80}]}\n"
    )
    rc, r = run(capsys, "explain", "service", "demo/web", "--snapshot", str(f))
    assert rc == 1
    assert r["allocation"]["result"] == "Invalid"
    assert any("metallb.io/loadBalancerIPs" in e for e in r["allocation"]["errors"])


@pytest.mark.parametrize(
    ("used", "warning"),
    [
        pytest.param(8, "", id="80pct-quiet"),
        pytest.param(9, ">= 90% used", id="90pct-warns"),
        pytest.param(10, "EXHAUSTED", id="full"),
    ],
)
def test_pool_exhaustion_warning(capsys, tmp_path, used, warning) -> None:
    docs = [
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
        "metadata: {name: ten, namespace: metallb-system}\n"
        'spec: {addresses: ["198.51.100.0/29", "198.51.100.8/31"]}\n'
    ]
    for i in range(used):
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: demo}}\n"
            f"spec: {{type: LoadBalancer, clusterIPs: [10.96.8.{i + 1}], ports: [{{port: 80}}]}}\n"
            f"status: {{loadBalancer: {{ingress: [{{ip: 198.51.100.{i}}}]}}}}\n"
        )
    f = tmp_path / "s.yaml"
    f.write_text("---\n".join(docs))
    _rc, r = run(capsys, "status", "--snapshot", str(f))
    fam = r["pools"][0]["families"][0]
    assert (fam["size"], fam["used"], fam["warning"]) == (10, used, warning)


AGGREGATION = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: agg, namespace: metallb-system}
spec: {addresses: ["203.0.113.64/28", "203.0.113.96/28"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: agg28, namespace: metallb-system}
spec: {ipAddressPools: [agg], aggregationLength: 28, communities: ["64500:2"], localPref: 200}
"""


def test_explain_focus_plans_the_same_routes_as_a_full_plan(tmp_path) -> None:
    from ingot.cli import analysis

    docs = [AGGREGATION]
    for i, (ip, app) in enumerate(
        [("203.0.113.64", "a"), ("203.0.113.65", "b"), ("203.0.113.96", "b"), ("203.0.113.97", "a")]
    ):
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: demo, labels: "
            f"{{app: {app}}}}}\nspec: {{type: LoadBalancer, clusterIPs: [10.96.7.{i + 1}], "
            f"selector: {{app: {app}}}, ports: [{{port: 80}}]}}\n"
            f"status: {{loadBalancer: {{ingress: [{{ip: {ip}}}]}}}}\n---\n"
            f"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: s{i}, "
            f"namespace: demo, labels: {{kubernetes.io/service-name: s{i}}}}}\n"
            f"addressType: IPv4\nendpoints: [{{addresses: [10.0.7.1], nodeName: node-a}}]\n"
        )
    f = tmp_path / "agg.yaml"
    f.write_text("---\n".join(docs))
    loaded, _ = manifests.load([str(SNAPSHOTS / "base.yaml"), str(SNAPSHOTS / "c27.yaml"), str(f)])
    snap = Snapshot.from_objects(
        [i.obj for i in loaded], namespace="metallb-system", now_s=parse_time(NOW) or 0.0
    )
    full = analysis.analyse(snap)
    assert full.config is not None, full.compiled.errors
    for key in full.lb_services:
        focused = analysis.analyse(snap, focus=key)
        want = analysis.bgp_routes_for(full, key)
        assert analysis.bgp_routes_for(focused, key) == want, key
    # s0 and s1 share the aggregate 203.0.113.64/28: one route, listed for both
    for key, own in (("demo/s0", "203.0.113.64/32"), ("demo/s1", "203.0.113.65/32")):
        routes = analysis.bgp_routes_for(full, key)
        prefixes = {r["prefix"] for n in routes.values() for r in n["routes"]}
        assert prefixes == {"203.0.113.64/28", own}
