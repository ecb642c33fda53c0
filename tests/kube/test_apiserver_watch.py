"""ingot.apiserver: list and watch semantics through the official client's Watch."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client import ApiException

from ingot.apiserver.server import APIServer


def _cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


def _events(v1: client.CoreV1Api, **kwargs: Any) -> list[tuple[str, str]]:
    w = watch.Watch()
    out = []
    for ev in w.stream(v1.list_namespaced_config_map, "default", timeout_seconds=1, **kwargs):
        name = ev["raw_object"].get("metadata", {}).get("name", "")
        out.append((ev["type"], name))
    return out


def test_watch_without_version_sends_current_state_then_ends(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespaced_config_map("default", _cm("a"))
    v1.create_namespaced_config_map("default", _cm("b"))
    assert _events(v1) == [("ADDED", "a"), ("ADDED", "b")]


def test_watch_resumes_from_resource_version(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespaced_config_map("default", _cm("a"))
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    v1.create_namespaced_config_map("default", _cm("b"))
    v1.patch_namespaced_config_map("a", "default", {"data": {"k": "2"}})
    v1.delete_namespaced_config_map("b", "default")
    assert _events(v1, resource_version=rv) == [
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
    ]


def test_deleted_event_carries_new_resource_version(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    cm = v1.create_namespaced_config_map("default", _cm("a"))
    v1.delete_namespaced_config_map("a", "default")
    w = watch.Watch()
    events = list(
        w.stream(
            v1.list_namespaced_config_map,
            "default",
            resource_version=cm.metadata.resource_version,
            timeout_seconds=1,
        )
    )
    assert [e["type"] for e in events] == ["DELETED"]
    assert int(events[0]["object"].metadata.resource_version) > int(cm.metadata.resource_version)


def test_compaction_expires_old_versions(
    apiserver: APIServer, kube_client: client.ApiClient
) -> None:
    v1 = client.CoreV1Api(kube_client)
    rv = v1.create_namespaced_config_map("default", _cm("a")).metadata.resource_version
    apiserver.faults.compact()
    with pytest.raises(ApiException) as err:
        _events(v1, resource_version=rv)
    assert err.value.status == 410
    # a relist gives a version that can be watched again
    fresh = v1.list_namespaced_config_map("default").metadata.resource_version
    assert _events(v1, resource_version=fresh) == []


def test_history_window_is_bounded(apiserver_factory: Callable[..., APIServer]) -> None:
    srv = apiserver_factory(history_size=3)
    with srv.api_client() as api:
        v1 = client.CoreV1Api(api)
        rv = v1.create_namespaced_config_map("default", _cm("a")).metadata.resource_version
        for i in range(4):
            v1.create_namespaced_config_map("default", _cm(f"n{i}"))
        with pytest.raises(ApiException) as err:
            _events(v1, resource_version=rv)
    assert err.value.status == 410


def test_expired_as_http_410(apiserver_factory: Callable[..., APIServer]) -> None:
    srv = apiserver_factory(expired_as_http_error=True)
    with srv.api_client() as api:
        v1 = client.CoreV1Api(api)
        rv = v1.create_namespaced_config_map("default", _cm("a")).metadata.resource_version
        srv.faults.compact()
        with pytest.raises(ApiException) as err:
            v1.list_namespaced_config_map(
                "default", watch=True, resource_version=rv, _preload_content=False
            )
    assert err.value.status == 410


def test_bookmarks_advance_resource_version(apiserver_factory: Callable[..., APIServer]) -> None:
    srv = apiserver_factory(bookmark_interval_s=0.2)
    with srv.api_client() as api:
        v1 = client.CoreV1Api(api)
        rv = v1.list_namespaced_config_map("default").metadata.resource_version
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "other"}})
        w = watch.Watch()
        types = [
            e["type"]
            for e in w.stream(
                v1.list_namespaced_config_map,
                "default",
                resource_version=rv,
                allow_watch_bookmarks=True,
                timeout_seconds=1,
            )
        ]
    assert types
    assert set(types) == {"BOOKMARK"}
    assert int(w.resource_version) > int(rv)


def test_label_selector_transitions(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    v1.create_namespaced_config_map("default", _cm("a", app="web"))
    v1.create_namespaced_config_map("default", _cm("b", app="db"))
    v1.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"app": "db"}}})
    v1.patch_namespaced_config_map("b", "default", {"metadata": {"labels": {"app": "web"}}})
    v1.patch_namespaced_config_map("b", "default", {"data": {"k": "3"}})
    v1.delete_namespaced_config_map("b", "default")
    assert _events(v1, resource_version=rv, label_selector="app=web") == [
        ("ADDED", "a"),
        ("DELETED", "a"),
        ("ADDED", "b"),
        ("MODIFIED", "b"),
        ("DELETED", "b"),
    ]


def test_noop_write_emits_no_event(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    cm = v1.create_namespaced_config_map("default", _cm("a"))
    v1.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    v1.replace_namespaced_config_map("a", "default", cm)
    assert _events(v1, resource_version=cm.metadata.resource_version) == []


def test_drop_watches_ends_streams(apiserver: APIServer, kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    resp = v1.list_namespaced_config_map("default", watch=True, _preload_content=False)
    try:
        assert apiserver.faults.drop_watches() == 1
        assert resp.read() == b""  # clean end of stream
    finally:
        resp.release_conn()


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("app=web", ["a"], id="equals"),
        pytest.param("app==web", ["a"], id="double-equals"),
        pytest.param("app!=web", ["b", "c"], id="not-equals"),
        pytest.param("app in (web,db)", ["a", "b"], id="in"),
        pytest.param("app notin (web)", ["b", "c"], id="notin"),
        pytest.param("app", ["a", "b"], id="exists"),
        pytest.param("!app", ["c"], id="not-exists"),
        pytest.param("app,tier=front", ["a"], id="and"),
    ],
)
def test_list_label_selectors(
    kube_client: client.ApiClient, selector: str, expected: list[str]
) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespaced_config_map("default", _cm("a", app="web", tier="front"))
    v1.create_namespaced_config_map("default", _cm("b", app="db"))
    v1.create_namespaced_config_map("default", _cm("c"))
    got = v1.list_namespaced_config_map("default", label_selector=selector)
    assert [i.metadata.name for i in got.items] == expected


def test_field_selectors(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespace({"metadata": {"name": "other"}})
    v1.create_namespaced_service(
        "default",
        {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
    )
    v1.create_namespaced_service(
        "other", {"metadata": {"name": "cip"}, "spec": {"ports": [{"port": 80}]}}
    )
    names = lambda lst: [(s.metadata.namespace, s.metadata.name) for s in lst.items]  # noqa: E731
    assert names(v1.list_service_for_all_namespaces(field_selector="spec.type=LoadBalancer")) == [
        ("default", "lb")
    ]
    assert names(
        v1.list_service_for_all_namespaces(field_selector="metadata.namespace!=default")
    ) == [("other", "cip")]
    assert names(
        v1.list_service_for_all_namespaces(
            field_selector="metadata.name=cip,metadata.namespace=other"
        )
    ) == [("other", "cip")]
    v1.create_node({"metadata": {"name": "n1"}})
    assert [n.metadata.name for n in v1.list_node(field_selector="metadata.name=n1").items] == [
        "n1"
    ]


def test_list_limit_and_continue(apiserver: APIServer, kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    for i in range(5):
        v1.create_namespaced_config_map("default", _cm(f"cm{i}"))
    page1 = v1.list_namespaced_config_map("default", limit=2)
    assert [i.metadata.name for i in page1.items] == ["cm0", "cm1"]
    assert page1.metadata.remaining_item_count == 3
    page2 = v1.list_namespaced_config_map("default", limit=2, _continue=page1.metadata._continue)
    assert [i.metadata.name for i in page2.items] == ["cm2", "cm3"]
    assert page2.metadata.resource_version == page1.metadata.resource_version
    page3 = v1.list_namespaced_config_map("default", limit=2, _continue=page2.metadata._continue)
    assert [i.metadata.name for i in page3.items] == ["cm4"]
    assert not page3.metadata._continue
    apiserver.faults.compact()
    with pytest.raises(ApiException) as err:
        v1.list_namespaced_config_map("default", limit=2, _continue=page1.metadata._continue)
    assert err.value.status == 410


def test_send_initial_events_ends_with_marked_bookmark(apiserver: APIServer) -> None:
    api = apiserver.api_client()
    try:
        v1 = client.CoreV1Api(api)
        v1.create_namespaced_config_map("default", _cm("a"))
        resp = v1.list_namespaced_config_map(
            "default",
            watch=True,
            send_initial_events=True,
            resource_version_match="NotOlderThan",
            allow_watch_bookmarks=True,
            timeout_seconds=1,
            _preload_content=False,
        )
        lines = [json.loads(line) for line in resp.read().splitlines() if line]
        resp.release_conn()
    finally:
        api.close()
    assert lines[0]["type"] == "ADDED"
    assert lines[1]["type"] == "BOOKMARK"
    assert lines[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_list_resource_version_semantics(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    assert (
        v1.list_namespaced_config_map("default", resource_version="0").metadata.resource_version
        == rv
    )
    with pytest.raises(ApiException) as err:
        v1.list_namespaced_config_map("default", resource_version=str(int(rv) + 100))
    assert err.value.status == 504


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("n>2", ["c"], id="greater"),
        pytest.param("n<3", ["a", "b"], id="less"),
    ],
)
def test_numeric_label_selectors(
    kube_client: client.ApiClient, selector: str, expected: list[str]
) -> None:
    v1 = client.CoreV1Api(kube_client)
    for name, n in (("a", "1"), ("b", "2"), ("c", "3")):
        v1.create_namespaced_config_map("default", _cm(name, n=n))
    got = v1.list_namespaced_config_map("default", label_selector=selector)
    assert [i.metadata.name for i in got.items] == expected


def test_continued_pages_are_a_consistent_snapshot(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    for name in ("b", "c", "d", "e"):
        v1.create_namespaced_config_map("default", _cm(name))
    page1 = v1.list_namespaced_config_map("default", limit=2)
    assert [i.metadata.name for i in page1.items] == ["b", "c"]
    v1.delete_namespaced_config_map("d", "default")
    v1.create_namespaced_config_map("default", _cm("f"))
    v1.patch_namespaced_config_map("e", "default", {"data": {"k": "changed"}})
    page2 = v1.list_namespaced_config_map("default", limit=5, _continue=page1.metadata._continue)
    assert [(i.metadata.name, i.data["k"]) for i in page2.items] == [("d", "v"), ("e", "v")]
    assert page2.metadata.resource_version == page1.metadata.resource_version


def test_exact_list_of_a_past_version(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespaced_config_map("default", _cm("a"))
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    v1.create_namespaced_config_map("default", _cm("b"))
    past = v1.list_namespaced_config_map(
        "default", resource_version=rv, resource_version_match="Exact"
    )
    assert [i.metadata.name for i in past.items] == ["a"]
    assert past.metadata.resource_version == rv
