"""``python -m controller`` as a process against ingot.apiserver: flags, metrics, health,
readiness, the webhook with self-managed certificates, leader election, clean SIGTERM."""

from __future__ import annotations

import base64
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from controller.testing import APP_NS, NS, l2, pool, service
from ingot.kube import source as src


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, *, context: ssl.SSLContext | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _wait(pred, *, timeout_s: float = 60.0, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Proc:
    def __init__(self, kubeconfig: Path, tmp: Path, *extra: str, webhook: bool = False):
        self.metrics_port = _free_port()
        self.webhook_port = _free_port() if webhook else 0
        self.log = tmp / f"controller-{self.metrics_port}.log"
        cmd = [
            sys.executable, "-m", "controller", "--kubeconfig", str(kubeconfig),
            "--namespace", NS, "--metrics-port", str(self.metrics_port),
            "--metrics-host", "127.0.0.1", "--webhook-port", str(self.webhook_port),
            "--webhook-service-name", "ingot-webhook", "--log-level", "info", *extra,
        ]  # fmt: skip
        with self.log.open("w") as err:
            self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.metrics_port}{path}"

    def ready(self) -> bool:
        try:
            return _get(self.url("/readyz"))[0] == 200
        except OSError:
            return False

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                return self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                return -9
        return int(self.p.returncode)


@pytest.fixture
def setup(apiserver, kube_client, tmp_path) -> tuple[src.KubeSource, Path]:
    kubeconfig = tmp_path / "kubeconfig"
    apiserver.write_kubeconfig(kubeconfig)
    ks = src.KubeSource(kube_client)
    for n in (NS, APP_NS):
        ks.create(src.NAMESPACE, {"metadata": {"name": n}})
    return ks, kubeconfig


def _ips(ks: src.KubeSource, name: str) -> list[str]:
    svc = ks.get(src.SERVICE, name, namespace=APP_NS)
    return [
        i["ip"] for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress", [])
    ]


def _mk_service(ks: src.KubeSource, name: str) -> None:
    body = service(name)
    body["spec"].pop("clusterIP")
    body["spec"].pop("clusterIPs")
    ks.create(src.SERVICE, body, namespace=APP_NS)


def test_process_assigns_serves_metrics_and_stops_cleanly(setup, tmp_path) -> None:
    ks, kubeconfig = setup
    ks.create(src.IP_ADDRESS_POOL, pool("p", "198.51.100.10/31"), namespace=NS)
    ks.create(src.L2_ADVERTISEMENT, l2(), namespace=NS)
    _mk_service(ks, "web")
    proc = Proc(kubeconfig, tmp_path)
    try:
        _wait(proc.ready, what="readyz")
        assert _get(proc.url("/healthz"))[0] == 200
        _wait(lambda: _ips(ks, "web") == ["198.51.100.10"], what="ingress")
        _wait(
            lambda: (
                'metallb_allocator_addresses_in_use_total{pool="p"} 1.0'
                in _get(proc.url("/metrics"))[1]
            ),
            what="pool metrics",
        )
        text = _get(proc.url("/metrics"))[1]
        assert "metallb_k8s_client_config_loaded_bool 1.0" in text
        assert "ingot_controller_reconcile_duration_seconds_count" in text
    finally:
        rc = proc.stop()
    assert rc == 0
    lines = [json.loads(x) for x in proc.log.read_text().splitlines() if x.startswith("{")]
    assert any(x.get("service") == "demo/web" and x.get("ip") == "198.51.100.10" for x in lines)


VWC = src.Kind(
    "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
    "ValidatingWebhookConfiguration", namespaced=False,
)  # fmt: skip


def test_webhook_self_managed_certs_and_review(setup, tmp_path) -> None:
    ks, kubeconfig = setup
    hook = {
        "name": "ipaddresspoolvalidationwebhook.metallb.io",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "clientConfig": {
            "service": {"name": "ingot-webhook", "namespace": NS, "path": "/validate"}
        },
    }
    ks.create(
        VWC,
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "ingot-vwc"},
            "webhooks": [hook],
        },
    )
    proc = Proc(
        kubeconfig, tmp_path, "--webhook-secret-name", "ingot-webhook-cert",
        "--webhook-config-name", "ingot-vwc", webhook=True,
    )  # fmt: skip
    try:
        _wait(proc.ready, what="readyz")
        _wait(
            lambda: ks.get(VWC, "ingot-vwc")["webhooks"][0]["clientConfig"].get("caBundle"),
            what="caBundle patched",
        )
        secret = ks.get(src.SECRET, "ingot-webhook-cert", namespace=NS)
        ca = base64.b64decode(secret["data"]["ca.crt"]).decode()
        vwc = ks.get(VWC, "ingot-vwc")
        assert vwc["webhooks"][0]["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]

        def listening() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", proc.webhook_port)) == 0

        _wait(listening, what="webhook listening")
        ctx = ssl.create_default_context(cadata=ca)
        ctx.check_hostname = False  # we dial 127.0.0.1; the chain is still verified by the CA
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": "metallb.io", "version": "v1beta1", "kind": "IPAddressPool"},
                "operation": "CREATE",
                "name": "picked",
                "namespace": NS,
                "object": pool("picked", "198.51.100.29,198.51.100.34"),
            },
        }
        req = urllib.request.Request(
            f"https://127.0.0.1:{proc.webhook_port}/validate-metallb-io-v1beta1-ipaddresspool",
            data=json.dumps(review).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            resp = json.loads(r.read())["response"]
        assert resp["uid"] == "u-1"
        assert resp["allowed"] is False
        assert "spec.addresses[0]" in resp["status"]["message"]
    finally:
        assert proc.stop() == 0


def test_leader_election_one_active_replica(setup, tmp_path) -> None:
    ks, kubeconfig = setup
    ks.create(src.IP_ADDRESS_POOL, pool("p", "198.51.100.10-198.51.100.20"), namespace=NS)
    flags = ("--leader-elect", "--leader-lease-duration-s", "3")
    a = Proc(kubeconfig, tmp_path, *flags)
    b = None
    try:
        _wait(a.ready, what="first replica ready")
        b = Proc(kubeconfig, tmp_path, *flags)
        _mk_service(ks, "one")
        _wait(lambda: _ips(ks, "one") == ["198.51.100.10"], what="first assignment")
        time.sleep(1.0)
        assert not b.ready()  # the standby does not reconcile
        assert a.stop() == 0  # releases the Lease
        _wait(b.ready, what="standby takes over")
        _mk_service(ks, "two")
        _wait(lambda: _ips(ks, "two") == ["198.51.100.11"], what="assignment by the new leader")
        assert _ips(ks, "one") == ["198.51.100.10"]
    finally:
        a.stop()
        if b is not None:
            b.stop()


def test_no_cluster_config_is_a_clear_error(tmp_path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "controller", "--kubeconfig", str(tmp_path / "missing"),
         "--metrics-port", "0", "--webhook-port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 2
    assert "ingot-controller: cannot start:" in r.stderr
