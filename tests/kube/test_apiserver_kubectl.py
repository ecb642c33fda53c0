"""ingot.apiserver: the machine's kubectl applies, gets and deletes against it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import client

from ingot.apiserver.server import APIServer

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata: {name: metallb-system}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  type: LoadBalancer
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: metallb-system}
data: {mode: l2}
"""

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
"""


def _kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def kubeconfig(apiserver: APIServer, tmp_path: Path) -> Path:
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig")


def test_kubectl_apply_get_delete(apiserver: APIServer, kubeconfig: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    out = _kubectl(kubeconfig, "apply", "-f", str(manifest)).stdout
    assert "service/web created" in out
    assert "namespace/metallb-system created" in out
    again = _kubectl(kubeconfig, "apply", "-f", str(manifest)).stdout
    assert "service/web unchanged" in again
    table = _kubectl(kubeconfig, "get", "svc", "web").stdout
    assert "LoadBalancer" in table
    assert "<pending>" in table
    obj = json.loads(_kubectl(kubeconfig, "get", "svc", "web", "-o", "json").stdout)
    assert obj["spec"]["ports"][0]["protocol"] == "TCP"
    # a changed manifest is applied as a patch
    manifest.write_text(MANIFEST.replace("mode: l2", "mode: bgp"))
    assert (
        "configmap/settings configured" in _kubectl(kubeconfig, "apply", "-f", str(manifest)).stdout
    )
    got = json.loads(
        _kubectl(kubeconfig, "get", "cm", "settings", "-n", "metallb-system", "-o", "json").stdout
    )
    assert got["data"] == {"mode": "bgp"}
    assert ("patch", "", "configmaps", "", "metallb-system") in apiserver.audit
    _kubectl(kubeconfig, "delete", "-f", str(manifest))
    missing = _kubectl(kubeconfig, "get", "svc", "web", check=False)
    assert missing.returncode != 0
    assert "NotFound" in missing.stderr


def test_kubectl_with_a_crd(kubeconfig: Path, tmp_path: Path) -> None:
    crd = tmp_path / "crd.yaml"
    crd.write_text(CRD)
    _kubectl(kubeconfig, "apply", "-f", str(crd))
    widget = tmp_path / "w.yaml"
    widget.write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n"
    )
    _kubectl(kubeconfig, "apply", "-f", str(widget))
    assert "size\t<integer>" in _kubectl(kubeconfig, "explain", "widget.spec").stdout
    table = _kubectl(kubeconfig, "get", "wd").stdout
    assert "SIZE" in table
    assert "w1" in table
    widget.write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2}\nspec: {size: 0}\n"
    )
    bad = _kubectl(kubeconfig, "apply", "-f", str(widget), check=False)
    assert bad.returncode != 0
    assert "spec.size" in bad.stderr
    widget.write_text(
        "apiVersion: example.com/v1\nkind: Widget\n"
        "metadata: {name: w3}\nspec: {size: 1, colour: red}\n"
    )
    strict = _kubectl(kubeconfig, "apply", "-f", str(widget), check=False)
    assert strict.returncode != 0
    assert 'unknown field "spec.colour"' in strict.stderr
    _kubectl(kubeconfig, "delete", "widget", "w1")
    assert "No resources found" in _kubectl(kubeconfig, "get", "widgets").stderr


def test_kubectl_rejects_unknown_fields_of_builtins(kubeconfig: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
        "spec: {type: LoadBalancer, loadBalancerIPs: [198.51.100.1], ports: [{port: 80}]}\n"
    )
    out = _kubectl(kubeconfig, "apply", "-f", str(manifest), check=False)
    assert out.returncode != 0
    assert 'unknown field "spec.loadBalancerIPs"' in out.stderr


def test_kubectl_get_watch_prints_table_rows(apiserver: APIServer, kubeconfig: Path) -> None:
    api = apiserver.api_client()
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_service(
        "default",
        {"metadata": {"name": "a"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
    )
    proc = subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "svc", "-w", "--request-timeout=20s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "EXTERNAL-IP" in proc.stdout.readline()
        assert "<pending>" in proc.stdout.readline()
        deadline = time.monotonic() + 30
        while ("watch", "", "services", "", "default") not in apiserver.audit:
            assert time.monotonic() < deadline, "kubectl never started watching"
            time.sleep(0.05)
        v1.patch_namespaced_service_status(
            "a", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.5"}]}}}
        )
        assert "198.51.100.5" in proc.stdout.readline()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
        api.close()
