"""ingot.apiserver: create/get/update/patch/delete semantics through the official client."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client import ApiException

from ingot.apiserver.server import APIServer


def _svc(name: str = "web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80}], **spec},
    }
    return body


def _raw(
    srv: APIServer,
    method: str,
    path: str,
    body: bytes | None = None,
    ctype: str = "application/json",
) -> tuple[int, dict[str, Any], dict[str, str]]:
    req = urllib.request.Request(srv.url + path, data=body, method=method)
    req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read()), dict(err.headers)


def _status(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


def test_create_sets_metadata_and_returns_201(apiserver: APIServer) -> None:
    code, obj, _ = _raw(
        apiserver, "POST", "/api/v1/namespaces/default/services", json.dumps(_svc()).encode()
    )
    assert code == 201
    meta = obj["metadata"]
    assert meta["name"] == "web"
    assert meta["namespace"] == "default"
    assert meta["uid"]
    assert meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    assert meta["generation"] == 1
    assert obj["spec"]["clusterIP"]
    assert obj["spec"]["ipFamilies"] == ["IPv4"]
    assert obj["spec"]["ports"][0]["protocol"] == "TCP"
    assert obj["spec"]["ports"][0]["nodePort"] >= 30000


def test_generate_name_and_global_resource_version(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    a = v1.create_namespaced_config_map("default", {"metadata": {"generateName": "cm-"}})
    b = v1.create_namespaced_service(
        "default", {"metadata": {"generateName": "svc-"}, "spec": {"ports": [{"port": 1}]}}
    )
    c = client.CoordinationV1Api(kube_client).create_namespaced_lease(
        "default", {"metadata": {"generateName": "l-"}, "spec": {}}
    )
    assert a.metadata.name.startswith("cm-")
    assert len(a.metadata.name) == len("cm-") + 5
    assert b.metadata.name.startswith("svc-")
    rvs = [int(o.metadata.resource_version) for o in (a, b, c)]
    assert rvs == sorted(rvs)
    assert len(set(rvs)) == 3


def test_duplicate_create_is_already_exists(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespaced_service("default", _svc())
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_service("default", _svc())
    assert err.value.status == 409
    status = _status(err.value)
    assert status["kind"] == "Status"
    assert status["reason"] == "AlreadyExists"
    assert status["details"] == {"name": "web", "kind": "services"}


def test_create_in_missing_namespace_is_not_found(kube_client: client.ApiClient) -> None:
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(kube_client).create_namespaced_service("nope", _svc())
    assert err.value.status == 404
    assert _status(err.value)["details"]["kind"] == "namespaces"


def test_stale_put_and_stale_patch_conflict(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    first = v1.create_namespaced_service("default", _svc())
    stale_rv = first.metadata.resource_version
    first.metadata.labels = {"app": "web", "v": "2"}
    second = v1.replace_namespaced_service("web", "default", first)
    assert int(second.metadata.resource_version) > int(stale_rv)
    first.metadata.labels = {"app": "web", "v": "3"}
    with pytest.raises(ApiException) as err:
        v1.replace_namespaced_service("web", "default", first)  # carries stale_rv
    assert err.value.status == 409
    assert _status(err.value)["reason"] == "Conflict"
    with pytest.raises(ApiException) as err:
        v1.patch_namespaced_service(
            "web",
            "default",
            {"metadata": {"resourceVersion": stale_rv, "labels": {"v": "4"}}},
            _content_type="application/merge-patch+json",
        )
    assert err.value.status == 409
    # patch with the current resourceVersion and without one both succeed
    ok = v1.patch_namespaced_service(
        "web",
        "default",
        {"metadata": {"resourceVersion": second.metadata.resource_version, "labels": {"v": "5"}}},
        _content_type="application/merge-patch+json",
    )
    assert ok.metadata.labels["v"] == "5"
    # unconditional PUT (no resourceVersion) is allowed for built-ins
    body = _svc()
    body["metadata"]["labels"]["v"] = "6"
    assert v1.replace_namespaced_service("web", "default", body).metadata.labels["v"] == "6"


def test_status_subresource_separates_spec_and_status(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    created = v1.create_namespaced_service(
        "default", {**_svc(), "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}}
    )
    assert not (created.status.load_balancer and created.status.load_balancer.ingress)
    st = v1.patch_namespaced_service_status(
        "web",
        "default",
        {
            "spec": {"type": "NodePort"},
            "metadata": {"labels": {"x": "y"}},
            "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}},
        },
        _content_type="application/merge-patch+json",
    )
    assert st.status.load_balancer.ingress[0].ip == "198.51.100.7"
    assert st.spec.type == "LoadBalancer"
    assert st.metadata.labels["x"] == "y"  # the Service status strategy resets only spec
    assert st.metadata.generation == 1
    main = v1.patch_namespaced_service(
        "web",
        "default",
        {"spec": {"externalTrafficPolicy": "Local"}, "status": {"loadBalancer": {"ingress": []}}},
        _content_type="application/merge-patch+json",
    )
    assert main.status.load_balancer.ingress[0].ip == "198.51.100.7"
    assert main.spec.external_traffic_policy == "Local"
    assert main.metadata.generation == 2
    # replace_*_status with a stale resourceVersion conflicts too
    st.status.load_balancer.ingress[0].ip = "198.51.100.8"
    with pytest.raises(ApiException) as err:
        v1.replace_namespaced_service_status("web", "default", st)
    assert err.value.status == 409


def test_service_status_put_keeps_metadata_changes_but_not_system_fields(
    kube_client: client.ApiClient,
) -> None:
    """One PUT to services/status carries status and annotation (as MetalLB's UpdateStatus)."""
    v1 = client.CoreV1Api(kube_client)
    created = v1.create_namespaced_service("default", _svc())
    events = []
    w = watch.Watch()
    body = kube_client.sanitize_for_serialization(created)
    body["metadata"]["annotations"] = {"metallb.io/ip-allocated-from-pool": "pool-a"}
    body["metadata"]["labels"]["team"] = "blue"
    body["metadata"]["finalizers"] = ["example.com/keep"]
    body["metadata"]["creationTimestamp"] = "2001-01-01T00:00:00Z"
    body["metadata"]["generation"] = 7
    body["metadata"]["deletionTimestamp"] = "2001-01-01T00:00:00Z"
    body["spec"]["type"] = "NodePort"
    body["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}
    got = v1.replace_namespaced_service_status("web", "default", body)
    for ev in w.stream(
        v1.list_namespaced_service,
        "default",
        resource_version=created.metadata.resource_version,
        timeout_seconds=1,
    ):
        events.append((ev["type"], ev["object"].metadata.resource_version))
        w.stop()
    assert got.metadata.annotations == {"metallb.io/ip-allocated-from-pool": "pool-a"}
    assert got.metadata.labels == {"app": "web", "team": "blue"}
    assert got.metadata.finalizers == ["example.com/keep"]
    assert got.status.load_balancer.ingress[0].ip == "198.51.100.7"
    assert got.spec.type == "LoadBalancer"
    assert got.metadata.uid == created.metadata.uid
    assert got.metadata.creation_timestamp == created.metadata.creation_timestamp
    assert got.metadata.generation == 1
    assert got.metadata.deletion_timestamp is None
    assert events == [("MODIFIED", got.metadata.resource_version)]  # one write, one event
    assert v1.read_namespaced_service("web", "default").metadata.annotations == {
        "metallb.io/ip-allocated-from-pool": "pool-a"
    }


def test_service_status_put_rejects_a_foreign_uid(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    created = v1.create_namespaced_service("default", _svc())
    body = kube_client.sanitize_for_serialization(created)
    body["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    body["metadata"]["annotations"] = {"a": "b"}
    with pytest.raises(ApiException) as err:
        v1.replace_namespaced_service_status("web", "default", body)
    assert err.value.status == 409
    assert v1.read_namespaced_service("web", "default").metadata.annotations is None


@pytest.mark.parametrize(
    ("patch", "annotations"),
    [
        pytest.param(
            {"metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": "p"}}},
            {"old": "x", "metallb.io/ip-allocated-from-pool": "p"},
            id="add",
        ),
        pytest.param(
            {"metadata": {"annotations": {"old": None}}},
            {},
            id="remove",
        ),
    ],
)
def test_service_status_merge_patch_keeps_annotations(
    kube_client: client.ApiClient, patch: dict[str, Any], annotations: dict[str, str]
) -> None:
    v1 = client.CoreV1Api(kube_client)
    created = v1.create_namespaced_service(
        "default", {**_svc(), "metadata": {"name": "web", "annotations": {"old": "x"}}}
    )
    body = {
        **patch,
        "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.9"}]}},
    }
    body["metadata"] = {**body["metadata"], "resourceVersion": created.metadata.resource_version}
    got = v1.patch_namespaced_service_status(
        "web", "default", body, _content_type="application/merge-patch+json"
    )
    assert (got.metadata.annotations or {}) == annotations
    assert got.status.load_balancer.ingress[0].ip == "198.51.100.9"


def test_node_status_patch_keeps_labels_and_spec(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_node({"metadata": {"name": "n1"}, "spec": {"unschedulable": False}})
    got = v1.patch_node_status(
        "n1",
        {
            "metadata": {"labels": {"zone": "a"}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
        _content_type="application/merge-patch+json",
    )
    assert got.metadata.labels == {"zone": "a"}
    assert not got.spec.unschedulable
    assert got.status.conditions[0].status == "True"


def test_pod_status_patch_keeps_labels_but_not_owner_references(
    kube_client: client.ApiClient,
) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "p"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
        },
    )
    owner = {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u-1"}
    got = v1.patch_namespaced_pod_status(
        "p",
        "default",
        {
            "metadata": {"labels": {"ready": "yes"}, "ownerReferences": [owner]},
            "status": {"phase": "Running"},
        },
        _content_type="application/merge-patch+json",
    )
    assert got.metadata.labels == {"ready": "yes"}
    assert got.metadata.owner_references is None  # podStatusStrategy resets them
    assert got.status.phase == "Running"


def test_invalid_ingress_ip_is_422_with_field_path(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespaced_service("default", _svc())
    with pytest.raises(ApiException) as err:
        v1.patch_namespaced_service_status(
            "web",
            "default",
            {"status": {"loadBalancer": {"ingress": [{"ip": "300.1.1.1"}]}}},
            _content_type="application/merge-patch+json",
        )
    status = _status(err.value)
    assert err.value.status == 422
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "status.loadBalancer.ingress[0].ip"
    assert v1.read_namespaced_service("web", "default").status.load_balancer.ingress is None


def test_noop_write_keeps_resource_version(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    created = v1.create_namespaced_service("default", _svc())
    same = v1.patch_namespaced_service(
        "web",
        "default",
        {"metadata": {"labels": {"app": "web"}}},
        _content_type="application/merge-patch+json",
    )
    assert same.metadata.resource_version == created.metadata.resource_version
    replaced = v1.replace_namespaced_service("web", "default", created)
    assert replaced.metadata.resource_version == created.metadata.resource_version
    listed = v1.list_namespaced_service("default")
    assert listed.metadata.resource_version == created.metadata.resource_version


def test_finalizers_delay_deletion(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespaced_config_map(
        "default", {"metadata": {"name": "cm", "finalizers": ["example.com/hold"]}}
    )
    v1.delete_namespaced_config_map("cm", "default")
    held = v1.read_namespaced_config_map("cm", "default")
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as err:
        v1.patch_namespaced_config_map(
            "cm",
            "default",
            {"metadata": {"finalizers": ["example.com/hold", "new/one"]}},
            _content_type="application/merge-patch+json",
        )
    assert err.value.status == 422
    v1.patch_namespaced_config_map(
        "cm",
        "default",
        {"metadata": {"finalizers": None}},
        _content_type="application/merge-patch+json",
    )
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_config_map("cm", "default")
    assert err.value.status == 404


def test_delete_preconditions_and_not_found(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    cm = v1.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    with pytest.raises(ApiException) as err:
        v1.delete_namespaced_config_map(
            "cm",
            "default",
            body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="other")),
        )
    assert err.value.status == 409
    v1.delete_namespaced_config_map(
        "cm",
        "default",
        body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=cm.metadata.uid)),
    )
    with pytest.raises(ApiException) as err:
        v1.delete_namespaced_config_map("cm", "default")
    assert err.value.status == 404
    assert _status(err.value)["reason"] == "NotFound"


def test_namespace_deletion_terminates_then_removes_contents(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespace({"metadata": {"name": "team"}})
    assert v1.read_namespace("team").metadata.labels["kubernetes.io/metadata.name"] == "team"
    v1.create_namespaced_config_map("team", {"metadata": {"name": "cm"}})
    rv = v1.list_namespace().metadata.resource_version
    gone = v1.delete_namespace("team")
    assert gone["status"]["phase"] == "Terminating"
    assert gone["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_config_map("team", {"metadata": {"name": "late"}})
    assert err.value.status == 403
    w = watch.Watch()
    events = []
    for ev in w.stream(v1.list_namespace, resource_version=rv, timeout_seconds=5):
        events.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED":
            w.stop()
    assert events == [("MODIFIED", "team"), ("DELETED", "team")]
    assert (
        v1.list_config_map_for_all_namespaces(field_selector="metadata.namespace=team").items == []
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "ctype", "code", "reason"),
    [
        pytest.param(
            "POST",
            "/api/v1/namespaces/default/services",
            b"{not json",
            "application/json",
            400,
            "BadRequest",
            id="malformed-json",
        ),
        pytest.param(
            "POST",
            "/api/v1/namespaces/default/services",
            b"[1]",
            "application/json",
            400,
            "BadRequest",
            id="not-an-object",
        ),
        pytest.param(
            "POST",
            "/api/v1/namespaces/default/services",
            json.dumps({"kind": "ConfigMap", "metadata": {"name": "x"}}).encode(),
            "application/json",
            400,
            "BadRequest",
            id="wrong-kind",
        ),
        pytest.param(
            "POST",
            "/api/v1/namespaces/default/services",
            json.dumps({"metadata": {"name": "x"}, "spec": True}).encode(),
            "application/json",
            400,
            "BadRequest",
            id="spec-not-an-object",
        ),
        pytest.param(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            json.dumps({"metadata": {"name": 5}}).encode(),
            "application/json",
            400,
            "BadRequest",
            id="name-not-a-string",
        ),
        pytest.param(
            "PATCH",
            "/api/v1/namespaces/default/services/web",
            json.dumps([{"op": "add", "path": "/spec/ports", "value": "80"}]).encode(),
            "application/json-patch+json",
            400,
            "BadRequest",
            id="patch-makes-wrong-type",
        ),
        pytest.param(
            "GET",
            "/api/v1/namespaces/default/widgets",
            None,
            "application/json",
            404,
            "NotFound",
            id="unknown-resource",
        ),
        pytest.param(
            "GET",
            "/apis/nope.example.com/v1/things",
            None,
            "application/json",
            404,
            "NotFound",
            id="unknown-group",
        ),
        pytest.param(
            "PUT",
            "/api/v1/namespaces/default/services",
            b"{}",
            "application/json",
            405,
            "MethodNotAllowed",
            id="put-collection",
        ),
        pytest.param(
            "PATCH",
            "/api/v1/namespaces/default/services/web",
            b"{}",
            "application/apply-patch+yaml",
            415,
            "UnsupportedMediaType",
            id="server-side-apply",
        ),
        pytest.param(
            "GET",
            "/api/v1/services?labelSelector=a%20in%20(b",
            None,
            "application/json",
            400,
            "BadRequest",
            id="bad-label-selector",
        ),
        pytest.param(
            "GET",
            "/api/v1/services?fieldSelector=spec.foo%3Dbar",
            None,
            "application/json",
            400,
            "BadRequest",
            id="unsupported-field-selector",
        ),
        pytest.param(
            "POST",
            "/api/v1/namespaces/default/services",
            json.dumps(_svc("Bad_Name")).encode(),
            "application/json",
            422,
            "Invalid",
            id="invalid-name",
        ),
        pytest.param(
            "POST",
            "/api/v1/namespaces/default/services",
            json.dumps({"metadata": {}, "spec": {"ports": [{"port": 1}]}}).encode(),
            "application/json",
            422,
            "Invalid",
            id="no-name",
        ),
    ],
)
def test_errors_are_status_objects(
    apiserver: APIServer,
    method: str,
    path: str,
    body: bytes | None,
    ctype: str,
    code: int,
    reason: str,
) -> None:
    created, _, _ = _raw(
        apiserver, "POST", "/api/v1/namespaces/default/services", json.dumps(_svc()).encode()
    )
    assert created == 201
    before = apiserver.backend.store.rv
    got, status, _ = _raw(apiserver, method, path, body, ctype)
    assert (got, status["kind"], status["reason"], status["code"]) == (code, "Status", reason, code)
    assert apiserver.backend.store.rv == before  # never a partial write


def test_start_stop_leaves_no_thread() -> None:
    before = {t.ident for t in threading.enumerate()}
    srv = APIServer()
    url = srv.start()
    assert url.startswith("http://127.0.0.1:")
    with srv.api_client() as api:
        assert client.CoreV1Api(api).read_namespace("default").metadata.name == "default"
    srv.stop()
    srv.stop()  # idempotent
    assert [t.name for t in threading.enumerate() if t.ident not in before] == []


def test_delete_collection_by_label(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    for name, app in (("a", "web"), ("b", "web"), ("c", "db")):
        v1.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "labels": {"app": app}}}
        )
    v1.delete_collection_namespaced_config_map("default", label_selector="app=web")
    assert [c.metadata.name for c in v1.list_namespaced_config_map("default").items] == ["c"]


def test_dry_run_writes_nothing(apiserver: APIServer, kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    before = apiserver.backend.store.rv
    got = v1.create_namespaced_service("default", _svc(), dry_run="All")
    assert got.metadata.name == "web"
    assert apiserver.backend.store.rv == before
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_service("web", "default")
    assert err.value.status == 404


def test_pods_are_stored_with_status(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "p"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
        },
    )
    v1.patch_namespaced_pod_status(
        "p", "default", {"status": {"phase": "Running", "podIP": "10.0.0.5"}}
    )
    got = v1.list_namespaced_pod("default", field_selector="spec.nodeName=n1,status.phase=Running")
    assert [p.status.pod_ip for p in got.items] == ["10.0.0.5"]
