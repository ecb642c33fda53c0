"""ingot.kube.Informer against the embedded API server through the official client.

Proves: initial sync, resume after dropped watches (no relist, nothing replayed), relist after
forced compaction (410, both as an ERROR event and as HTTP 410) with DELETED for objects
deleted during the gap, convergence under injected 429/500 on list and watch, and custom
(metallb.io) objects handled like built-in ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ingot.kube import informer, source

SVC = source.SERVICE
FAST = informer.Backoff(initial_s=0.05, max_s=0.5, jitter=0.1)


def eventually(pred: Callable[[], object], *, timeout_s: float = 20.0) -> None:
    """Poll until ``pred()`` is truthy (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    assert pred(), "condition not reached"


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []

    def add(self, obj: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(("add", source.object_key(obj)))

    def update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(("update", source.object_key(new)))

    def delete(self, obj: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(("delete", source.object_key(obj)))

    def snapshot(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.calls)

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()


def svc(name: str, ns: str = "demo") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
    }


@pytest.fixture
def kube(kube_client: Any) -> source.KubeSource:
    ks = source.KubeSource(kube_client)
    ks.create(source.NAMESPACE, {"metadata": {"name": "demo"}})
    return ks


@pytest.fixture
def running() -> Iterator[list[informer.Informer]]:
    infs: list[informer.Informer] = []
    yield infs
    for inf in infs:
        inf.stop()


def start(
    kube: source.KubeSource, running: list[informer.Informer], kind: source.Kind = SVC, **kw: Any
) -> tuple[informer.Informer, Recorder]:
    inf = informer.Informer(kube, kind, backoff=FAST, **kw)
    rec = Recorder()
    inf.add_handler(on_add=rec.add, on_update=rec.update, on_delete=rec.delete)
    running.append(inf)
    inf.start()
    assert inf.wait_for_sync(20)
    return inf, rec


def server_keys(kube: source.KubeSource, kind: source.Kind = SVC) -> list[str]:
    return sorted(source.object_key(o) for o in kube.list(kind).items)


def test_sync_and_live_events(kube, running) -> None:
    kube.create(SVC, svc("a"))
    inf, rec = start(kube, running)
    assert rec.snapshot() == [("add", "demo/a")]
    kube.create(SVC, svc("b"))
    kube.patch(SVC, "a", {"metadata": {"labels": {"tier": "web"}}}, namespace="demo")
    kube.delete(SVC, "b", namespace="demo")
    eventually(lambda: len(rec.snapshot()) == 4)
    assert rec.snapshot() == [
        ("add", "demo/a"),
        ("add", "demo/b"),
        ("update", "demo/a"),
        ("delete", "demo/b"),
    ]
    assert inf.get("demo/a")["metadata"]["labels"] == {"tier": "web"}


def test_resumes_after_dropped_watches(apiserver, kube, running) -> None:
    kube.create(SVC, svc("a"))
    inf, rec = start(kube, running)
    for i in range(3):
        watches = inf.watch_count
        eventually(lambda: apiserver.faults.drop_watches() > 0)
        eventually(lambda w=watches: inf.watch_count > w)
        kube.create(SVC, svc(f"after-drop-{i}"))
    eventually(lambda: len(inf.keys()) == 4)
    assert inf.list_count == 1  # resumed from the last resourceVersion every time
    adds = [k for c, k in rec.snapshot() if c == "add"]
    assert sorted(adds) == ["demo/a", "demo/after-drop-0", "demo/after-drop-1", "demo/after-drop-2"]
    assert len(adds) == len(set(adds))  # nothing replayed


@pytest.mark.parametrize(
    "as_http_error",
    [pytest.param(False, id="410-as-error-event"), pytest.param(True, id="410-as-http-status")],
)
def test_relist_after_compaction_emits_deleted_for_gap(
    apiserver, kube, running, as_http_error: bool
) -> None:
    apiserver.expired_as_http_error = as_http_error
    for name in ("keep", "change", "gone-1", "gone-2"):
        kube.create(SVC, svc(name))
    inf, rec = start(kube, running)
    rec.clear()
    # Open a gap: the watch drops and every re-watch fails until we say so.
    apiserver.faults.inject(status=500, count=10_000, verbs=["watch"], resources=["services"])
    apiserver.faults.drop_watches()  # (if the first watch was not open yet, it fails anyway)
    eventually(lambda: inf.last_error is not None and inf.last_error.status == 500)
    kube.delete(SVC, "gone-1", namespace="demo")
    kube.delete(SVC, "gone-2", namespace="demo")
    kube.patch(SVC, "change", {"metadata": {"labels": {"v": "2"}}}, namespace="demo")
    kube.create(SVC, svc("new"))
    apiserver.faults.compact()
    apiserver.faults.clear()
    eventually(lambda: inf.list_count == 2)
    eventually(lambda: sorted(inf.keys()) == server_keys(kube))
    calls = rec.snapshot()
    assert sorted(calls) == [
        ("add", "demo/new"),
        ("delete", "demo/gone-1"),
        ("delete", "demo/gone-2"),
        ("update", "demo/change"),
    ]
    # The informer keeps working after the relist.
    kube.create(SVC, svc("later"))
    eventually(lambda: inf.get("demo/later") is not None)


@pytest.mark.parametrize(
    ("status", "verbs"),
    [
        pytest.param(409, ["list"], id="409-on-list"),
        pytest.param(500, ["list"], id="500-on-list"),
        pytest.param(429, ["list"], id="429-on-list"),
        pytest.param(503, ["watch"], id="503-on-watch"),
        pytest.param(429, ["watch"], id="429-on-watch"),
    ],
)
def test_converges_under_injected_errors(apiserver, kube, running, status, verbs) -> None:
    kube.create(SVC, svc("a"))
    apiserver.faults.inject(status=status, count=3, verbs=verbs, resources=["services"])
    inf, rec = start(kube, running)
    kube.create(SVC, svc("b"))
    eventually(lambda: sorted(inf.keys()) == ["demo/a", "demo/b"])
    assert apiserver.faults.pending() == 0
    assert inf.last_error is not None
    assert inf.last_error.status == status


def test_custom_objects_and_cluster_scoped_nodes(apiserver, kube, running) -> None:
    crds = [
        r
        for r in kube.list(
            source.Kind(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                namespaced=False,
            )
        ).items
    ]
    if not any(c["metadata"]["name"] == "ipaddresspools.metallb.io" for c in crds):
        pytest.fail("metallb.io CRDs are not loaded by the apiserver fixture")
    kube.create(source.NAMESPACE, {"metadata": {"name": "metallb-system"}})
    pool = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "p1", "namespace": "metallb-system"},
        "spec": {"addresses": ["198.51.100.0/28"]},
    }
    kube.create(source.IP_ADDRESS_POOL, pool)
    kube.create(source.NODE, {"metadata": {"name": "node-a", "labels": {"zone": "a"}}})
    pools, prec = start(kube, running, kind=source.IP_ADDRESS_POOL)
    nodes, _ = start(kube, running, kind=source.NODE, label_selector="zone=a")
    assert pools.keys() == ["metallb-system/p1"]
    assert nodes.keys() == ["node-a"]
    kube.patch(
        source.IP_ADDRESS_POOL,
        "p1",
        {"spec": {"addresses": ["198.51.100.0/27"]}},
        namespace="metallb-system",
    )
    eventually(lambda: pools.get("metallb-system/p1")["spec"]["addresses"] == ["198.51.100.0/27"])
    eventually(lambda: apiserver.faults.drop_watches() > 0)
    apiserver.faults.compact()
    kube.delete(source.IP_ADDRESS_POOL, "p1", namespace="metallb-system")
    eventually(lambda: pools.keys() == [])
    assert ("delete", "metallb-system/p1") in prec.snapshot()


def test_indexers_over_live_data(kube, running) -> None:
    kube.create(source.NAMESPACE, {"metadata": {"name": "other"}})
    kube.create(SVC, svc("a"))
    kube.create(SVC, svc("b", "other"))
    inf, _ = start(
        kube,
        running,
        indexers={"ns": informer.index_by_namespace, "ip": informer.index_by_ingress_ip},
    )
    kube.patch_status(
        SVC,
        "a",
        {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}},
        namespace="demo",
    )
    eventually(lambda: [o["metadata"]["name"] for o in inf.by_index("ip", "198.51.100.7")] == ["a"])
    assert [o["metadata"]["name"] for o in inf.by_index("ns", "other")] == ["b"]


def test_stop_is_clean(apiserver, kube) -> None:
    inf = informer.Informer(kube, SVC, backoff=FAST)
    inf.start()
    assert inf.wait_for_sync(20)
    eventually(lambda: inf.watch_count >= 1)
    inf.stop(timeout_s=10)
    assert all(not t.is_alive() for t in inf._threads)


def test_selector_transitions_reach_handlers(kube, running) -> None:
    """An object that leaves the label selector is deleted from the cache, and vice versa."""
    kube.create(
        SVC,
        {**svc("a"), "metadata": {"name": "a", "namespace": "demo", "labels": {"ingot": "yes"}}},
    )
    inf, rec = start(kube, running, label_selector="ingot=yes")
    assert inf.keys() == ["demo/a"]
    kube.patch(SVC, "a", {"metadata": {"labels": {"ingot": "no"}}}, namespace="demo")
    eventually(lambda: inf.keys() == [])
    kube.patch(SVC, "a", {"metadata": {"labels": {"ingot": "yes"}}}, namespace="demo")
    eventually(lambda: inf.keys() == ["demo/a"])
    assert rec.snapshot() == [("add", "demo/a"), ("delete", "demo/a"), ("add", "demo/a")]


def test_own_node_by_field_selector(kube, running) -> None:
    for n in ("node-a", "node-b"):
        kube.create(source.NODE, {"metadata": {"name": n}})
    inf, rec = start(kube, running, kind=source.NODE, field_selector="metadata.name=node-b")
    assert inf.keys() == ["node-b"]
    kube.patch(source.NODE, "node-a", {"metadata": {"labels": {"x": "1"}}})
    kube.patch(source.NODE, "node-b", {"metadata": {"labels": {"x": "1"}}})
    eventually(lambda: inf.get("node-b")["metadata"].get("labels") == {"x": "1"})
    assert [k for _, k in rec.snapshot()] == ["node-b", "node-b"]


def test_over_https_and_clean_stop() -> None:
    """TLS (as in-cluster): watch works, and stop() unblocks a reader inside an SSL read."""
    from ingot.apiserver.server import APIServer

    srv = APIServer(tls=True)
    srv.start()
    client = srv.api_client()
    inf = None
    try:
        kube = source.KubeSource(client)
        kube.create(source.NAMESPACE, {"metadata": {"name": "demo"}})
        inf = informer.Informer(kube, SVC, backoff=FAST)
        inf.start()
        assert inf.wait_for_sync(20)
        kube.create(SVC, svc("tls"))
        eventually(lambda: inf.get("demo/tls") is not None)
        inf.stop(timeout_s=10)
        assert all(not t.is_alive() for t in inf._threads)
    finally:
        if inf is not None:
            inf.stop()
        client.close()
        srv.stop()
