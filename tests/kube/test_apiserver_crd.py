"""ingot.apiserver: CRD registration, discovery, schema defaulting/pruning/validation, CR status."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, watch
from kubernetes.client import ApiException

from ingot.apiserver.server import APIServer

CRDS_DIR = Path(__file__).resolve().parents[2] / "charts" / "ingot" / "crds"

GROUP = "example.com"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["addresses"],
            "properties": {
                "addresses": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "mode": {"type": "string", "enum": ["L2", "BGP"], "default": "L2"},
                "auto": {"type": "boolean", "default": True},
                "port": {"x-kubernetes-int-or-string": True},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "tags": {
                    "type": "array",
                    "items": {"type": "string"},
                    "x-kubernetes-list-type": "set",
                },
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


def _crd(
    *,
    versions: tuple[str, ...] = ("v1",),
    scope: str = "Namespaced",
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"pools.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": scope,
            "names": {"plural": "pools", "singular": "pool", "kind": "Pool", "shortNames": ["pl"]},
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": i == 0,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": copy.deepcopy(schema or SCHEMA)},
                }
                for i, v in enumerate(versions)
            ],
        },
    }


def _pool(name: str = "p", version: str = "v1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{version}",
        "kind": "Pool",
        "metadata": {"name": name},
        "spec": {"addresses": ["198.51.100.0/24"], **spec},
    }


@pytest.fixture
def co(kube_client: client.ApiClient) -> client.CustomObjectsApi:
    crd = client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(
        _crd(versions=("v1", "v1beta1"))
    )
    assert {c.type for c in crd.status.conditions} == {"Established", "NamesAccepted"}
    return client.CustomObjectsApi(kube_client)


def test_crd_registers_discovery(
    kube_client: client.ApiClient, co: client.CustomObjectsApi
) -> None:
    groups = client.ApisApi(kube_client).get_api_versions()
    group = next(g for g in groups.groups if g.name == GROUP)
    assert [v.version for v in group.versions] == ["v1", "v1beta1"]
    resources = co.get_api_resources(GROUP, "v1")
    by_name = {r.name: r for r in resources.resources}
    assert by_name["pools"].kind == "Pool"
    assert by_name["pools"].namespaced
    assert by_name["pools"].short_names == ["pl"]
    assert "pools/status" in by_name


def test_defaulting_and_pruning(co: client.CustomObjectsApi) -> None:
    got = co.create_namespaced_custom_object(
        GROUP, "v1", "default", "pools", _pool(unknown=1, extra={"free": {"form": 1}})
    )
    assert got["spec"]["mode"] == "L2"
    assert got["spec"]["auto"] is True
    assert "unknown" not in got["spec"]
    assert got["spec"]["extra"] == {"free": {"form": 1}}
    assert got["metadata"]["generation"] == 1
    assert (
        co.get_namespaced_custom_object(GROUP, "v1", "default", "pools", "p")["spec"] == got["spec"]
    )


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        pytest.param({"addresses": []}, ["spec.addresses"], id="min-items"),
        pytest.param({"addresses": ["a"], "mode": "L3"}, ["spec.mode"], id="enum"),
        pytest.param({"addresses": ["a"], "auto": "yes"}, ["spec.auto"], id="type"),
        pytest.param({"addresses": ["a"], "port": 1.5}, ["spec.port"], id="int-or-string"),
        pytest.param(
            {"addresses": ["a"], "tags": ["x", "x"]}, ["spec.tags[1]"], id="list-set-duplicate"
        ),
        pytest.param(
            {"addresses": [1, "b", 3]}, ["spec.addresses[0]", "spec.addresses[2]"], id="item-types"
        ),
        pytest.param({}, ["spec.addresses"], id="required"),
    ],
)
def test_validation_is_422_with_field_paths(
    apiserver: APIServer, co: client.CustomObjectsApi, spec: dict[str, Any], fields: list[str]
) -> None:
    body = _pool()
    body["spec"] = spec
    before = apiserver.backend.store.rv
    with pytest.raises(ApiException) as err:
        co.create_namespaced_custom_object(GROUP, "v1", "default", "pools", body)
    status = json.loads(err.value.body)
    assert err.value.status == 422
    assert status["reason"] == "Invalid"
    assert sorted(c["field"] for c in status["details"]["causes"]) == fields
    assert apiserver.backend.store.rv == before


def test_status_subresource_for_custom_resources(co: client.CustomObjectsApi) -> None:
    created = co.create_namespaced_custom_object(
        GROUP, "v1", "default", "pools", {**_pool(), "status": {"phase": "x"}}
    )
    assert "status" not in created
    st = co.patch_namespaced_custom_object_status(
        GROUP,
        "v1",
        "default",
        "pools",
        "p",
        {
            "status": {"phase": "Ready"},
            "spec": {"mode": "BGP"},
            "metadata": {"labels": {"x": "y"}, "annotations": {"a": "b"}},
        },
    )
    assert st["status"] == {"phase": "Ready"}
    assert st["spec"]["mode"] == "L2"
    # the custom resource status strategy keeps everything but .status, metadata included
    assert "labels" not in st["metadata"]
    assert "annotations" not in st["metadata"]
    main = co.patch_namespaced_custom_object(
        GROUP, "v1", "default", "pools", "p", {"spec": {"mode": "BGP"}, "status": {"phase": "Gone"}}
    )
    assert main["status"] == {"phase": "Ready"}
    assert main["spec"]["mode"] == "BGP"
    assert main["metadata"]["generation"] == 2
    assert st["metadata"]["generation"] == 1


def test_put_needs_resource_version_for_custom_resources(co: client.CustomObjectsApi) -> None:
    created = co.create_namespaced_custom_object(GROUP, "v1", "default", "pools", _pool())
    body = _pool(mode="BGP")
    with pytest.raises(ApiException) as err:
        co.replace_namespaced_custom_object(GROUP, "v1", "default", "pools", "p", body)
    assert err.value.status == 422
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    assert (
        co.replace_namespaced_custom_object(GROUP, "v1", "default", "pools", "p", body)["spec"][
            "mode"
        ]
        == "BGP"
    )
    with pytest.raises(ApiException) as err:
        co.replace_namespaced_custom_object(GROUP, "v1", "default", "pools", "p", body)
    assert err.value.status == 409


def test_served_versions_share_storage(co: client.CustomObjectsApi) -> None:
    co.create_namespaced_custom_object(
        GROUP, "v1beta1", "default", "pools", _pool(version="v1beta1")
    )
    got = co.get_namespaced_custom_object(GROUP, "v1", "default", "pools", "p")
    assert got["apiVersion"] == f"{GROUP}/v1"
    listed = co.list_namespaced_custom_object(GROUP, "v1beta1", "default", "pools")
    assert [i["apiVersion"] for i in listed["items"]] == [f"{GROUP}/v1beta1"]


def test_watch_custom_resources(co: client.CustomObjectsApi) -> None:
    rv = co.list_namespaced_custom_object(GROUP, "v1", "default", "pools")["metadata"][
        "resourceVersion"
    ]
    co.create_namespaced_custom_object(GROUP, "v1", "default", "pools", _pool())
    co.delete_namespaced_custom_object(GROUP, "v1", "default", "pools", "p")
    w = watch.Watch()
    events = [
        (e["type"], e["object"]["metadata"]["name"])
        for e in w.stream(
            co.list_namespaced_custom_object,
            GROUP,
            "v1",
            "default",
            "pools",
            resource_version=rv,
            timeout_seconds=1,
        )
    ]
    assert events == [("ADDED", "p"), ("DELETED", "p")]


def test_deleting_the_crd_removes_its_objects(
    kube_client: client.ApiClient, co: client.CustomObjectsApi
) -> None:
    co.create_namespaced_custom_object(GROUP, "v1", "default", "pools", _pool())
    client.ApiextensionsV1Api(kube_client).delete_custom_resource_definition(f"pools.{GROUP}")
    with pytest.raises(ApiException) as err:
        co.list_namespaced_custom_object(GROUP, "v1", "default", "pools")
    assert err.value.status == 404


def test_cluster_scoped_custom_resources(kube_client: client.ApiClient) -> None:
    client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(_crd(scope="Cluster"))
    co = client.CustomObjectsApi(kube_client)
    got = co.create_cluster_custom_object(GROUP, "v1", "pools", _pool())
    assert "namespace" not in got["metadata"]
    assert [
        i["metadata"]["name"] for i in co.list_cluster_custom_object(GROUP, "v1", "pools")["items"]
    ] == ["p"]


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        pytest.param(
            {"type": "object", "properties": {"spec": {"properties": {}}}},
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].type",
            id="untyped-node",
        ),
        pytest.param(
            {"type": "object", "properties": {"spec": {"$ref": "#/x"}}},
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].$ref",
            id="ref",
        ),
        pytest.param(
            {"type": "object", "properties": {"a": {"type": "array"}}},
            "spec.versions[0].schema.openAPIV3Schema.properties[a].items",
            id="array-without-items",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {"a": {"type": "string", "anyOf": [{"type": "string"}]}},
            },
            "spec.versions[0].schema.openAPIV3Schema.properties[a].anyOf[0].type",
            id="type-under-anyof",
        ),
    ],
)
def test_non_structural_crd_is_rejected(
    kube_client: client.ApiClient, schema: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiException) as err:
        client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(
            _crd(schema=schema)
        )
    status = json.loads(err.value.body)
    assert err.value.status == 422
    assert field in [c["field"] for c in status["details"]["causes"]]


def test_crd_name_must_match(kube_client: client.ApiClient) -> None:
    body = _crd()
    body["metadata"]["name"] = "wrong.example.com"
    with pytest.raises(ApiException) as err:
        client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(body)
    assert err.value.status == 422
    assert json.loads(err.value.body)["details"]["causes"][0]["field"] == "metadata.name"


def test_fixture_loads_the_chart_crds(apiserver: APIServer, kube_client: client.ApiClient) -> None:
    expected = set()
    for path in CRDS_DIR.glob("*.yaml") if CRDS_DIR.is_dir() else []:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                expected.add(doc["metadata"]["name"])
    listed = client.ApiextensionsV1Api(kube_client).list_custom_resource_definition()
    assert {c.metadata.name for c in listed.items} == expected
    if "ipaddresspools.metallb.io" in expected:
        co = client.CustomObjectsApi(kube_client)
        pool = {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "a"},
            "spec": {"addresses": ["198.51.100.0/28"]},
        }
        got = co.create_namespaced_custom_object(
            "metallb.io", "v1beta1", "default", "ipaddresspools", pool
        )
        assert got["spec"]["addresses"] == ["198.51.100.0/28"]


def test_custom_resource_selectors(kube_client: client.ApiClient) -> None:
    crd = _crd()
    crd["spec"]["versions"][0]["selectableFields"] = [{"jsonPath": ".spec.mode"}]
    client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(crd)
    co = client.CustomObjectsApi(kube_client)
    for name, mode, tier in (("a", "L2", "x"), ("b", "BGP", "y")):
        body = _pool(name, mode=mode)
        body["metadata"]["labels"] = {"tier": tier}
        co.create_namespaced_custom_object(GROUP, "v1", "default", "pools", body)
    by_field = co.list_namespaced_custom_object(
        GROUP, "v1", "default", "pools", field_selector="spec.mode=BGP"
    )
    assert [i["metadata"]["name"] for i in by_field["items"]] == ["b"]
    by_label = co.list_namespaced_custom_object(
        GROUP, "v1", "default", "pools", label_selector="tier notin (y)"
    )
    assert [i["metadata"]["name"] for i in by_label["items"]] == ["a"]
    with pytest.raises(ApiException) as err:
        co.list_namespaced_custom_object(
            GROUP, "v1", "default", "pools", field_selector="spec.auto=true"
        )
    assert err.value.status == 400
