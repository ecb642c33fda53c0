"""KubeSource over HTTP, and the same contract checked against FakeSource (the fake is faithful).

Every scenario runs twice: against the embedded API server through the official client, and
against ``FakeSource``. Both must give the same results and raise the same ``ingot.errors``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ingot import errors
from ingot.kube import source

SVC = source.SERVICE


@pytest.fixture(params=["kube", "fake"])
def src(request: pytest.FixtureRequest) -> Iterator[source.Source]:
    if request.param == "fake":
        yield source.FakeSource()
        return
    client = request.getfixturevalue("kube_client")
    ks = source.KubeSource(client)
    ks.create(source.NAMESPACE, {"metadata": {"name": "demo"}})
    ks.create(source.NAMESPACE, {"metadata": {"name": "metallb-system"}})
    yield ks


def svc(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "demo", "labels": {"app": name}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
    }


def test_crud_round_trip(src: source.Source) -> None:
    created = src.create(SVC, svc("web"))
    assert created["metadata"]["resourceVersion"]
    assert created["metadata"]["uid"]
    got = src.get(SVC, "web", namespace="demo")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    listed = src.list(SVC, namespace="demo")
    assert [o["metadata"]["name"] for o in listed.items] == ["web"]
    assert listed.items[0]["kind"] == "Service"
    assert int(listed.resource_version) >= int(created["metadata"]["resourceVersion"])
    patched = src.patch(SVC, "web", {"metadata": {"labels": {"tier": "front"}}}, namespace="demo")
    assert patched["metadata"]["labels"] == {"app": "web", "tier": "front"}
    src.delete(SVC, "web", namespace="demo")
    with pytest.raises(errors.NotFound):
        src.get(SVC, "web", namespace="demo")


def test_errors_map_to_ingot(src: source.Source) -> None:
    created = src.create(SVC, svc("web"))
    with pytest.raises(errors.Conflict) as exc:
        src.create(SVC, svc("web"))
    assert exc.value.status == 409
    assert exc.value.reason == "AlreadyExists"
    src.patch(SVC, "web", {"metadata": {"labels": {"x": "1"}}}, namespace="demo")
    with pytest.raises(errors.Conflict):
        src.replace(SVC, created)  # stale resourceVersion
    with pytest.raises(errors.Conflict):
        src.patch(
            SVC,
            "web",
            {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}},
            namespace="demo",
        )
    with pytest.raises(errors.Conflict):
        src.delete(
            SVC, "web", namespace="demo", resource_version=created["metadata"]["resourceVersion"]
        )
    with pytest.raises(errors.NotFound):
        src.patch(SVC, "missing", {"metadata": {"labels": {"a": "b"}}}, namespace="demo")


def test_status_subresource(src: source.Source) -> None:
    src.create(SVC, svc("web"))
    ingress = {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}
    out = src.patch_status(
        SVC, "web", {"status": ingress, "spec": {"type": "NodePort"}}, namespace="demo"
    )
    assert out["status"] == ingress
    assert out["spec"]["type"] == "LoadBalancer"  # /status changes only .status
    out = src.patch(SVC, "web", {"status": {"loadBalancer": {}}}, namespace="demo")
    assert out["status"] == ingress  # the main resource ignores .status
    current = src.get(SVC, "web", namespace="demo")
    current["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.8"}]}}
    assert src.replace_status(SVC, current)["status"] == current["status"]


def test_noop_write_keeps_resource_version(src: source.Source) -> None:
    created = src.create(SVC, svc("web"))
    again = src.patch(SVC, "web", {"metadata": {"labels": {"app": "web"}}}, namespace="demo")
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_label_selector(src: source.Source) -> None:
    for n in ("a", "b"):
        src.create(SVC, svc(n))
    assert [o["metadata"]["name"] for o in src.list(SVC, label_selector="app=b").items] == ["b"]
    names = sorted(o["metadata"]["name"] for o in src.list(SVC, label_selector="app!=b").items)
    assert names == ["a"]


def test_cluster_scoped_and_custom_kinds(src: source.Source) -> None:
    node = src.create(source.NODE, {"metadata": {"name": "node-a"}})
    assert source.object_key(node) == "node-a"
    pool = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "p", "namespace": "metallb-system"},
        "spec": {"addresses": ["198.51.100.0/28"]},
    }
    out = src.create(source.IP_ADDRESS_POOL, pool)
    assert out["spec"]["addresses"] == ["198.51.100.0/28"]
    listed = src.list(source.IP_ADDRESS_POOL).items
    assert [source.object_key(o) for o in listed] == ["metallb-system/p"]


def test_watch_resume_and_expiry(src: source.Source, request: pytest.FixtureRequest) -> None:
    rv0 = src.list(SVC).resource_version
    src.create(SVC, svc("a"))
    src.delete(SVC, "a", namespace="demo")
    stream = src.watch(SVC, resource_version=rv0, timeout_s=5)
    seen = []
    for ev in stream:
        seen.append((ev.type, ev.object["metadata"].get("name")))
        if len(seen) == 2:
            break
    stream.close()
    assert seen == [("ADDED", "a"), ("DELETED", "a")]
    if isinstance(src, source.FakeSource):
        src.compact()
    else:
        request.getfixturevalue("apiserver").faults.compact()
    with pytest.raises(errors.Expired):
        for _ in src.watch(SVC, resource_version=rv0, timeout_s=5):
            pass


def test_json_and_strategic_patches_over_http(kube_client: Any) -> None:
    ks = source.KubeSource(kube_client)
    ks.create(source.NAMESPACE, {"metadata": {"name": "demo"}})
    body = svc("web")
    body["spec"]["ports"][0]["name"] = "http"
    ks.create(SVC, body)
    out = ks.patch(
        SVC,
        "web",
        [{"op": "add", "path": "/metadata/annotations", "value": {"a": "1"}}],
        namespace="demo",
        patch_type="json",
    )
    assert out["metadata"]["annotations"] == {"a": "1"}
    out = ks.patch(
        SVC,
        "web",
        {"spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}},
        namespace="demo",
        patch_type="strategic",
    )
    assert sorted(p["port"] for p in out["spec"]["ports"]) == [80, 443]  # merged on port
    with pytest.raises(ValueError, match="list of operations"):
        ks.patch(SVC, "web", {"op": "add"}, namespace="demo", patch_type="json")


def test_unreachable_server_is_unavailable() -> None:
    import kubernetes.client

    cfg = kubernetes.client.Configuration()
    cfg.host = "http://127.0.0.1:9"  # discard port: connection refused
    ks = source.KubeSource(kubernetes.client.ApiClient(cfg), request_timeout_s=2.0)
    with pytest.raises(errors.Unavailable) as exc:
        ks.list(SVC)
    assert exc.value.status == 0


def _collect(stream: source.WatchStream, n: int) -> list[tuple[str, str]]:
    out = []
    for ev in stream:
        if ev.type == "BOOKMARK":
            continue
        out.append((ev.type, ev.object["metadata"]["name"]))
        if len(out) == n:
            break
    stream.close()
    return out


def test_watch_selector_transitions(src: source.Source) -> None:
    rv0 = src.list(SVC).resource_version
    src.create(SVC, svc("a"))  # labels app=a
    src.patch(SVC, "a", {"metadata": {"labels": {"app": "b"}}}, namespace="demo")  # enters
    src.patch(SVC, "a", {"metadata": {"labels": {"x": "1"}}}, namespace="demo")  # stays
    src.patch(SVC, "a", {"metadata": {"labels": {"app": "c"}}}, namespace="demo")  # leaves
    src.create(SVC, svc("b"))  # app=b from the start
    stream = src.watch(SVC, resource_version=rv0, label_selector="app=b", timeout_s=5)
    assert _collect(stream, 4) == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),
        ("ADDED", "b"),
    ]


def test_watch_field_selector_and_initial_state(src: source.Source) -> None:
    src.create(source.NODE, {"metadata": {"name": "node-a"}})
    src.create(source.NODE, {"metadata": {"name": "node-b"}})
    stream = src.watch(
        source.NODE, resource_version="0", field_selector="metadata.name=node-b", timeout_s=5
    )
    assert _collect(stream, 1) == [("ADDED", "node-b")]
