"""ingot.apiserver: merge, JSON and strategic-merge patches through the official client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from ingot.apiserver import patching

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def _svc() -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
        },
    }


@pytest.fixture
def v1(kube_client: client.ApiClient) -> client.CoreV1Api:
    api = client.CoreV1Api(kube_client)
    api.create_namespaced_service("default", _svc())
    return api


def test_merge_patch_null_deletes(v1: client.CoreV1Api) -> None:
    got = v1.patch_namespaced_service(
        "web", "default", {"metadata": {"labels": {"tier": None, "new": "x"}}}, _content_type=MERGE
    )
    assert got.metadata.labels == {"app": "web", "new": "x"}
    replaced = v1.patch_namespaced_service(
        "web", "default", {"spec": {"ports": [{"name": "dns", "port": 53}]}}, _content_type=MERGE
    )
    assert [p.port for p in replaced.spec.ports] == [53]  # merge patch replaces lists


def test_json_patch_ops_and_failed_test(v1: client.CoreV1Api) -> None:
    got = v1.patch_namespaced_service(
        "web",
        "default",
        [
            {"op": "test", "path": "/spec/ports/0/port", "value": 80},
            {"op": "replace", "path": "/spec/ports/0/port", "value": 8080},
            {"op": "add", "path": "/metadata/labels/x~1y", "value": "z"},
            {"op": "remove", "path": "/metadata/labels/tier"},
        ],
        _content_type=JSON_PATCH,
    )
    assert got.spec.ports[0].port == 8080
    assert got.metadata.labels == {"app": "web", "x/y": "z"}
    with pytest.raises(ApiException) as err:
        v1.patch_namespaced_service(
            "web",
            "default",
            [
                {"op": "test", "path": "/spec/ports/0/port", "value": 80},
                {"op": "remove", "path": "/spec"},
            ],
            _content_type=JSON_PATCH,
        )
    assert err.value.status == 422
    assert v1.read_namespaced_service("web", "default").spec.ports[0].port == 8080


def test_json_patch_resource_version_precondition(v1: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        v1.patch_namespaced_service(
            "web",
            "default",
            [{"op": "replace", "path": "/metadata/resourceVersion", "value": "1"}],
            _content_type=JSON_PATCH,
        )
    assert err.value.status == 409


def test_strategic_merge_ports_by_port(v1: client.CoreV1Api) -> None:
    got = v1.patch_namespaced_service(
        "web",
        "default",
        {"spec": {"ports": [{"port": 443, "name": "tls"}, {"port": 8443, "name": "alt"}]}},
        _content_type=STRATEGIC,
    )
    assert [(p.port, p.name) for p in got.spec.ports] == [(80, "http"), (443, "tls"), (8443, "alt")]
    dropped = v1.patch_namespaced_service(
        "web",
        "default",
        {"spec": {"ports": [{"port": 80, "$patch": "delete"}]}},
        _content_type=STRATEGIC,
    )
    assert [p.port for p in dropped.spec.ports] == [443, 8443]


def test_strategic_merge_default_for_dict_bodies(v1: client.CoreV1Api) -> None:
    # the client turns a dict body into a strategic merge patch by default
    got = v1.patch_namespaced_service(
        "web", "default", {"spec": {"ports": [{"port": 9000, "name": "x"}]}}
    )
    assert [p.port for p in got.spec.ports] == [80, 443, 9000]


def test_strategic_merge_ingress_is_atomic(v1: client.CoreV1Api) -> None:
    v1.patch_namespaced_service_status(
        "web",
        "default",
        {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}, {"ip": "2001:db8::1"}]}}},
        _content_type=STRATEGIC,
    )
    got = v1.patch_namespaced_service_status(
        "web",
        "default",
        {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.2"}]}}},
        _content_type=STRATEGIC,
    )
    assert [i.ip for i in got.status.load_balancer.ingress] == ["198.51.100.2"]


def test_strategic_merge_conditions_by_type(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_node(
        {
            "metadata": {"name": "n1"},
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "DiskPressure", "status": "False"},
                ]
            },
        }
    )
    got = v1.patch_node_status(
        "n1", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    )
    assert [(c.type, c.status) for c in got.status.conditions] == [
        ("Ready", "False"),
        ("DiskPressure", "False"),
    ]


def test_strategic_merge_on_custom_resource_is_415(kube_client: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(kube_client)
    ext.create_custom_resource_definition(
        {
            "metadata": {"name": "things.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "things", "kind": "Thing"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
    )
    co = client.CustomObjectsApi(kube_client)
    co.create_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "things",
        {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}},
    )
    with pytest.raises(ApiException) as err:
        co.patch_namespaced_custom_object(
            "example.com",
            "v1",
            "default",
            "things",
            "t",
            {"spec": {"a": 1}},
            _content_type=STRATEGIC,
        )
    assert err.value.status == 415
    assert json.loads(err.value.body)["reason"] == "UnsupportedMediaType"
    got = co.patch_namespaced_custom_object(
        "example.com", "v1", "default", "things", "t", {"spec": {"a": 1}}
    )
    assert got["spec"] == {"a": 1}


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param(
            {"metadata": {"finalizers": ["a"]}},
            {"metadata": {"finalizers": ["b"]}},
            {"metadata": {"finalizers": ["a", "b"]}},
            id="finalizers-union",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a", "b"]}},
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
            {"metadata": {"finalizers": ["b"]}},
            id="delete-from-primitive-list",
        ),
        pytest.param(
            {"spec": {"selector": {"a": "1", "b": "2"}}},
            {"spec": {"selector": {"$patch": "replace", "c": "3"}}},
            {"spec": {"selector": {"c": "3"}}},
            id="map-replace",
        ),
        pytest.param(
            {"spec": {"ports": [{"port": 1}, {"port": 2}]}},
            {
                "spec": {
                    "$setElementOrder/ports": [{"port": 2}, {"port": 1}],
                    "ports": [{"port": 1, "name": "a"}],
                }
            },
            {"spec": {"ports": [{"port": 2}, {"port": 1, "name": "a"}]}},
            id="set-element-order",
        ),
        pytest.param(
            {"spec": {"ipFamilies": ["IPv4"]}},
            {"spec": {"ipFamilies": ["IPv6"]}},
            {"spec": {"ipFamilies": ["IPv6"]}},
            id="plain-list-replaced",
        ),
        pytest.param(
            {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}},
            {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}},
            {
                "metadata": {
                    "ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]
                }
            },
            id="owner-references-by-uid",
        ),
    ],
)
def test_strategic_merge_table(
    target: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    before = json.dumps(target)
    assert patching.strategic_merge_patch(target, patch) == expected
    assert json.dumps(target) == before  # inputs are not mutated
