"""ingot.apiserver: HTTPS, manifests loading and the standalone ``python -m ingot.apiserver``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from ingot.apiserver.server import APIServer, ManifestError

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer, default: 1}}}
          status: {type: object, properties: {ok: {type: boolean}}}
"""

OBJECTS = """\
apiVersion: example.com/v1
kind: Gadget
metadata: {name: g1, namespace: lab}
spec: {}
status: {ok: true}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c1, namespace: lab}}
---
apiVersion: v1
kind: Namespace
metadata: {name: lab}
"""


def _manifest_dir(tmp_path: Path) -> Path:
    d = tmp_path / "manifests"
    d.mkdir(parents=True)
    (d / "a-objects.yaml").write_text(OBJECTS)  # sorts before the CRD: order must not matter
    (d / "z-crd.yaml").write_text(CRD)
    return d


def test_https_with_generated_ca(tmp_path: Path) -> None:
    srv = APIServer(tls=True)
    url = srv.start()
    try:
        assert url.startswith("https://127.0.0.1:")
        api = srv.api_client()
        assert client.CoreV1Api(api).read_namespace("default").metadata.name == "default"
        api.close()
        kubeconfig = srv.write_kubeconfig(tmp_path / "kc")
        out = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "get", "ns", "default", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.stdout.strip() == "namespace/default", out.stderr
        assert srv.ca_path is not None
        ca_dir = srv.ca_path.parent
    finally:
        srv.stop()
    assert not ca_dir.exists()


def test_load_manifests_orders_crds_and_namespaces_first(
    apiserver: APIServer, kube_client: client.ApiClient, tmp_path: Path
) -> None:
    loaded = apiserver.load_manifests(_manifest_dir(tmp_path))
    assert [o["kind"] for o in loaded] == [
        "CustomResourceDefinition",
        "Namespace",
        "Gadget",
        "ConfigMap",
    ]
    gadget = client.CustomObjectsApi(kube_client).get_namespaced_custom_object(
        "example.com", "v1", "lab", "gadgets", "g1"
    )
    assert gadget["spec"] == {"size": 1}
    assert gadget["status"] == {"ok": True}
    # loading again updates in place (no AlreadyExists)
    again = apiserver.load_manifests(_manifest_dir(tmp_path / "again"))
    assert [o["metadata"]["resourceVersion"] for o in again] == [
        o["metadata"]["resourceVersion"] for o in loaded
    ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        pytest.param(
            "apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n",
            'no matches for kind "Widget"',
            id="unknown-kind",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
            "spec: {type: Bogus, ports: [{port: 1}]}\n",
            "spec.type",
            id="invalid",
        ),
        pytest.param("a: [\n", "cannot read YAML", id="bad-yaml"),
    ],
)
def test_bad_manifest_names_file_and_field(
    apiserver: APIServer, tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    before = apiserver.backend.store.rv
    with pytest.raises(ManifestError) as err:
        apiserver.load_manifests(path)
    assert str(path) in str(err.value)
    assert needle in str(err.value)
    assert apiserver.backend.store.rv == before


def test_python_m_serves_until_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingot.apiserver",
            "--port",
            "0",
            "--manifests",
            str(_manifest_dir(tmp_path)),
            "--kubeconfig",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "not for production" in line
        url = line.rsplit(" ", 1)[-1].strip()
        with urllib.request.urlopen(
            f"{url}/apis/example.com/v1/namespaces/lab/gadgets/g1", timeout=10
        ) as resp:
            assert json.loads(resp.read())["spec"] == {"size": 1}
        assert kubeconfig.exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def test_python_m_fails_on_bad_manifest(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n")
    out = subprocess.run(
        [sys.executable, "-m", "ingot.apiserver", "--port", "0", "--manifests", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert "bad.yaml" in out.stderr


def test_yaml_timestamps_become_strings(
    apiserver: APIServer, kube_client: client.ApiClient, tmp_path: Path
) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: when}\ndata: {}\nbinaryData: {}\n---\n"
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDR: 10.0.0.0/24}\n"
        "status: {conditions: [{type: Ready, status: 'True',\n"
        "  lastHeartbeatTime: 2026-11-29T23:00:00Z}]}\n"
    )
    apiserver.load_manifests(path)
    node = client.CoreV1Api(kube_client).read_node("n1", _preload_content=False)
    assert (
        json.loads(node.data)["status"]["conditions"][0]["lastHeartbeatTime"]
        == "2026-11-29T23:00:00Z"
    )


def test_nan_in_json_body_is_bad_request(apiserver: APIServer) -> None:
    req = urllib.request.Request(
        f"{apiserver.url}/api/v1/namespaces/default/configmaps",
        data=b'{"metadata": {"name": "x"}, "data": {"a": NaN}}',
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    with err.value:
        assert err.value.code == 400


@pytest.mark.parametrize("tls", [pytest.param(False, id="http"), pytest.param(True, id="https")])
def test_kubeconfig_and_dynamic_client(tmp_path: Path, tls: bool) -> None:
    from kubernetes import config, dynamic

    srv = APIServer(tls=tls)
    srv.start()
    try:
        srv.load_manifests(_manifest_dir(tmp_path))
        kubeconfig = srv.write_kubeconfig(tmp_path / "kc")
        api = config.new_client_from_config(config_file=str(kubeconfig))
        try:
            dc = dynamic.DynamicClient(api)
            gadgets = dc.resources.get(api_version="example.com/v1", kind="Gadget")
            assert [g.metadata.name for g in gadgets.get(namespace="lab").items] == ["g1"]
            services = dc.resources.get(api_version="v1", kind="Service")
            assert services.get().items == []
        finally:
            api.close()
    finally:
        srv.stop()


def test_main_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from ingot.apiserver.__main__ import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    assert "cannot listen" in capsys.readouterr().err
