"""ingot.apiserver: ValidatingWebhookConfigurations called over HTTPS (opt-in call_webhooks)."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from kubernetes import client
from kubernetes.client import ApiException

from ingot.apiserver import tls
from ingot.apiserver.server import APIServer


class FakeWebhook:
    """An HTTPS AdmissionReview v1 endpoint: denies objects labelled deny=yes, warns otherwise."""

    def __init__(self, directory: Path) -> None:
        self.files = tls.generate(directory, host="hook.default.svc")
        self.reviews: list[dict[str, Any]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.reviews.append(body["request"])
        obj = body["request"]["object"] or body["request"]["oldObject"]
        denied = (obj["metadata"].get("labels") or {}).get("deny") == "yes"
        response: dict[str, Any] = {"uid": body["request"]["uid"], "allowed": not denied}
        if denied:
            response["status"] = {
                "code": 403,
                "reason": "Forbidden",
                "message": "deny=yes is refused",
            }
        else:
            response["warnings"] = ["looked at it"]
        return web.json_response(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        )

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_post("/validate", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.files.cert, self.files.key)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def start(self) -> None:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def ca_bundle(self) -> str:
        return base64.b64encode(self.files.ca.read_bytes()).decode()


@pytest.fixture
def hook(tmp_path: Path) -> Iterator[FakeWebhook]:
    wh = FakeWebhook(tmp_path)
    wh.start()
    try:
        yield wh
    finally:
        wh.stop()


def _config(
    hook: FakeWebhook, *, name: str = "cm.example.com", policy: str = "Fail", service: str = "hook"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": name,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": policy,
                "clientConfig": {
                    "service": {
                        "namespace": "default",
                        "name": service,
                        "path": "/validate",
                        "port": 443,
                    },
                    "caBundle": hook.ca_bundle(),
                },
                "rules": [
                    {
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["configmaps"],
                    }
                ],
            }
        ],
    }


def _setup(
    apiserver_factory: Callable[..., APIServer], hook: FakeWebhook, **config: Any
) -> tuple[APIServer, client.ApiClient]:
    srv = apiserver_factory(call_webhooks=True)
    srv.webhook_services[("default", "hook")] = f"127.0.0.1:{hook.port}"
    api = srv.api_client()
    client.AdmissionregistrationV1Api(api).create_validating_webhook_configuration(
        _config(hook, **config)
    )
    return srv, api


def test_webhook_allows_denies_and_sees_the_object(
    apiserver_factory: Callable[..., APIServer], hook: FakeWebhook
) -> None:
    srv, api = _setup(apiserver_factory, hook)
    with api:
        v1 = client.CoreV1Api(api)
        created = v1.create_namespaced_config_map(
            "default", {"metadata": {"name": "ok"}, "data": {"a": "b"}}
        )
        assert created.metadata.name == "ok"
        before = srv.backend.store.rv
        with pytest.raises(ApiException) as err:
            v1.create_namespaced_config_map(
                "default", {"metadata": {"name": "bad", "labels": {"deny": "yes"}}}
            )
        status = json.loads(err.value.body)
        assert err.value.status == 403
        assert (
            status["message"]
            == 'admission webhook "cm.example.com" denied the request: deny=yes is refused'
        )
        assert srv.backend.store.rv == before
        with pytest.raises(ApiException) as err:
            v1.patch_namespaced_config_map(
                "ok", "default", {"metadata": {"labels": {"deny": "yes"}}}
            )
        assert err.value.status == 403
        v1.delete_namespaced_config_map("ok", "default")
        client.CoordinationV1Api(api).create_namespaced_lease(
            "default", {"metadata": {"name": "l"}, "spec": {}}
        )
    ops = [(r["operation"], r["name"], r["namespace"]) for r in hook.reviews]
    assert ops == [
        ("CREATE", "ok", "default"),
        ("CREATE", "bad", "default"),
        ("UPDATE", "ok", "default"),
        ("DELETE", "ok", "default"),
    ]
    assert hook.reviews[0]["object"]["data"] == {"a": "b"}
    assert hook.reviews[2]["oldObject"]["metadata"]["name"] == "ok"
    assert hook.reviews[3]["object"] is None


@pytest.mark.parametrize(
    ("policy", "code"),
    [pytest.param("Fail", 500, id="fail"), pytest.param("Ignore", 201, id="ignore")],
)
def test_unreachable_webhook_follows_failure_policy(
    apiserver_factory: Callable[..., APIServer], hook: FakeWebhook, policy: str, code: int
) -> None:
    _, api = _setup(apiserver_factory, hook, policy=policy, service="unmapped")
    with api:
        v1 = client.CoreV1Api(api)
        if code == 201:
            assert (
                v1.create_namespaced_config_map(
                    "default", {"metadata": {"name": "c"}}
                ).metadata.name
                == "c"
            )
        else:
            with pytest.raises(ApiException) as err:
                v1.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
            assert err.value.status == code
            assert (
                'failed calling webhook "cm.example.com"' in json.loads(err.value.body)["message"]
            )
