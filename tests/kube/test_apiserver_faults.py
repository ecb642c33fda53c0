"""ingot.apiserver: test controls (injected failures, latency, dropped watches), audit."""

from __future__ import annotations

import json
import threading

import pytest
from kubernetes import client, watch
from kubernetes.client import ApiException

from ingot.apiserver.server import APIServer


def _svc(name: str = "web") -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        pytest.param(409, "Conflict", id="conflict"),
        pytest.param(429, "TooManyRequests", id="throttled"),
        pytest.param(500, "InternalError", id="internal"),
        pytest.param(503, "ServiceUnavailable", id="unavailable"),
    ],
)
def test_inject_fails_next_matching_requests(
    apiserver: APIServer, kube_client: client.ApiClient, status: int, reason: str
) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespaced_service("default", _svc())
    apiserver.faults.inject(
        status=status, count=2, verbs=["patch"], resources=["services/status"], retry_after_s=3
    )
    v1.patch_namespaced_service(
        "web", "default", {"metadata": {"labels": {"a": "b"}}}
    )  # not matched
    body = {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}}
    for _ in range(2):
        with pytest.raises(ApiException) as err:
            v1.patch_namespaced_service_status("web", "default", body)
        assert err.value.status == status
        assert json.loads(err.value.body)["reason"] == reason
        if status == 429:
            assert err.value.headers["Retry-After"] == "3"
            assert json.loads(err.value.body)["details"]["retryAfterSeconds"] == 3
    assert v1.read_namespaced_service("web", "default").status.load_balancer.ingress is None
    assert apiserver.faults.pending() == 0
    got = v1.patch_namespaced_service_status("web", "default", body)
    assert got.status.load_balancer.ingress[0].ip == "198.51.100.1"


def test_inject_by_resource_matches_subresources_and_groups(
    apiserver: APIServer, kube_client: client.ApiClient
) -> None:
    coord = client.CoordinationV1Api(kube_client)
    apiserver.faults.inject(status=500, count=1, resources=["leases.coordination.k8s.io"])
    with pytest.raises(ApiException):
        coord.list_namespaced_lease("default")
    assert coord.list_namespaced_lease("default").items == []


def test_latency_delays_without_failing(
    apiserver: APIServer, kube_client: client.ApiClient
) -> None:
    v1 = client.CoreV1Api(kube_client)
    apiserver.faults.latency(0.2, 1, verbs=["list"])
    done = threading.Event()
    result: list[int] = []

    def call() -> None:
        result.append(len(v1.list_namespace().items))
        done.set()

    t = threading.Thread(target=call)
    t.start()
    # the delayed request does not block others (the server keeps serving)
    assert v1.read_namespace("default").metadata.name == "default"
    t.join(timeout=10)
    assert done.is_set()
    assert result == [4]


def test_drop_watches_then_resume_sees_missed_events(
    apiserver: APIServer, kube_client: client.ApiClient
) -> None:
    v1 = client.CoreV1Api(kube_client)
    rv = v1.list_namespaced_service("default").metadata.resource_version
    v1.create_namespaced_service("default", _svc("a"))
    w = watch.Watch()
    seen = []
    for ev in w.stream(
        v1.list_namespaced_service, "default", resource_version=rv, timeout_seconds=10
    ):
        seen.append((ev["type"], ev["object"].metadata.name))
        assert apiserver.faults.drop_watches() == 1
        v1.create_namespaced_service("default", _svc("b"))  # happens while disconnected
    assert seen == [("ADDED", "a")]  # the stream ended early, without waiting for the timeout
    w2 = watch.Watch()
    missed = [
        (e["type"], e["object"].metadata.name)
        for e in w2.stream(
            v1.list_namespaced_service,
            "default",
            resource_version=w.resource_version,
            timeout_seconds=1,
        )
    ]
    assert missed == [("ADDED", "b")]


def test_audit_records_resource_requests(
    apiserver: APIServer, kube_client: client.ApiClient
) -> None:
    v1 = client.CoreV1Api(kube_client)
    apiserver.audit.clear()
    v1.create_namespaced_service("default", _svc())
    v1.patch_namespaced_service_status("web", "default", {"status": {}})
    v1.list_service_for_all_namespaces()
    client.CoordinationV1Api(kube_client).list_namespaced_lease("kube-system")
    client.CustomObjectsApi(kube_client).get_api_resources(
        "coordination.k8s.io", "v1"
    )  # discovery: not audited
    assert apiserver.audit == [
        ("create", "", "services", "", "default"),
        ("patch", "", "services", "status", "default"),
        ("list", "", "services", "", ""),
        ("list", "coordination.k8s.io", "leases", "", "kube-system"),
    ]


def test_drop_events_loses_live_events_only(
    apiserver: APIServer, kube_client: client.ApiClient
) -> None:
    v1 = client.CoreV1Api(kube_client)
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    resp = v1.list_namespaced_config_map(
        "default", watch=True, resource_version=rv, timeout_seconds=1, _preload_content=False
    )
    apiserver.faults.drop_events(count=1, resources=["configmaps"])
    v1.create_namespaced_service("default", _svc("s"))  # other resource: not dropped, not seen here
    v1.create_namespaced_config_map("default", {"metadata": {"name": "lost"}})
    v1.create_namespaced_config_map("default", {"metadata": {"name": "seen"}})
    names = [
        json.loads(line)["object"]["metadata"]["name"] for line in resp.read().splitlines() if line
    ]
    resp.release_conn()
    assert names == ["seen"]
    w = watch.Watch()
    replay = [
        e["object"].metadata.name
        for e in w.stream(
            v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
        )
    ]
    assert replay == ["lost", "seen"]


def test_changes_lists_committed_writes(
    apiserver: APIServer, kube_client: client.ApiClient
) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespaced_service("default", _svc())
    body = {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}}
    v1.patch_namespaced_service_status("web", "default", body)
    v1.patch_namespaced_service_status("web", "default", body)  # no-op: not a change
    v1.delete_namespaced_service("web", "default")
    got = [(c.type, c.namespace, c.name) for c in apiserver.changes("services")]
    assert got == [
        ("ADDED", "default", "web"),
        ("MODIFIED", "default", "web"),
        ("DELETED", "default", "web"),
    ]
    revisions = [c.resource_version for c in apiserver.changes()]
    assert revisions == sorted(revisions)
