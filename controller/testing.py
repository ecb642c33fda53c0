"""Test support shipped with the controller: object builders and a synchronous harness.

The harness runs the controller's Reconciler over the in-memory ``FakeSource`` (which keeps
metadata sent with a Service ``/status`` write, as Kubernetes' Service status strategy).

No threads: ``settle()`` processes the queue the way the worker does (``controller.dispatch``),
delays collapse to immediate adds, and the caches are read straight from the FakeSource. The
real threaded controller against ``ingot.apiserver`` is exercised in ``tests/kube``.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from controller import controller as ctl
from controller import reconciler as rec
from controller import status as st
from controller.metrics import ControllerMetrics
from ingot import errors
from ingot.api import compile as api_compile
from ingot.api import services
from ingot.kube import source as src
from ipam.allocator import Allocator

NS = "metallb-system"
APP_NS = "demo"

KINDS = {
    k.kind: k
    for k in (
        src.SERVICE,
        src.NAMESPACE,
        src.NODE,
        src.SECRET,
        src.IP_ADDRESS_POOL,
        src.L2_ADVERTISEMENT,
        src.BGP_ADVERTISEMENT,
        src.BGP_PEER,
        src.BFD_PROFILE,
        src.COMMUNITY,
    )
}


class FakeLister:
    def __init__(self, fs: src.FakeSource, kind: src.Kind, namespace: str | None = None):
        self._fs, self._kind, self._ns = fs, kind, namespace

    def get(self, key: str) -> Any:
        ns, name = src.split_key(key)
        try:
            return self._fs.get(self._kind, name, namespace=ns)
        except errors.NotFound:
            return None

    def list(self) -> list[Any]:
        objs = self._fs.objects(self._kind)
        if self._ns is None:
            return objs
        return [o for o in objs if o["metadata"].get("namespace") == self._ns]


def pool(name: str, *addresses: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"addresses": list(addresses), **spec},
    }


def l2(name: str = "l2", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


_cluster_ip = iter(range(1, 60000))


def service(
    name: str,
    *,
    ns: str = APP_NS,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    etp: str = "Cluster",
    selector: dict[str, str] | None = None,
    ports: Iterable[tuple[int, str]] = ((80, "TCP"),),
    families: tuple[str, ...] = ("IPv4",),
    policy: str = "SingleStack",
    lb_ip: str | None = None,
    type_: str = "LoadBalancer",
    lb_class: str | None = None,
) -> dict[str, Any]:
    n = next(_cluster_ip)
    ips = [f"10.96.{n // 250}.{n % 250 + 1}" if f == "IPv4" else f"fd00::{n:x}" for f in families]
    spec: dict[str, Any] = {
        "type": type_,
        "selector": selector or {"app": "web"},
        "ports": [{"port": p, "protocol": proto} for p, proto in ports],
        "clusterIP": ips[0],
        "clusterIPs": ips,
        "ipFamilies": list(families),
        "ipFamilyPolicy": policy,
        "externalTrafficPolicy": etp,
    }
    if lb_ip:
        spec["loadBalancerIP"] = lb_ip
    if lb_class:
        spec["loadBalancerClass"] = lb_class
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if annotations:
        meta["annotations"] = dict(annotations)
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


class Harness:
    """FakeSource + Reconciler + a FIFO queue processed synchronously."""

    def __init__(self, *, lb_class: str = "", start: bool = True) -> None:
        self.fs: src.FakeSource = src.FakeSource()
        self.lb_class = lb_class
        self.events: list[tuple[str, str, str, str]] = []  # (kind, name, reason, message)
        for n in (NS, APP_NS):
            self.fs.create(src.NAMESPACE, {"metadata": {"name": n}})
        self.queue: deque[str] = deque()
        if start:
            self.start()

    def start(self) -> None:
        """(Re)start the controller: fresh allocator, initial load like the worker does."""
        fs = self.fs
        self.metrics = ControllerMetrics()
        self.rec = rec.Reconciler(
            source=fs,
            caches=rec.Caches(
                services=FakeLister(fs, src.SERVICE),
                namespaces=FakeLister(fs, src.NAMESPACE),
                nodes=FakeLister(fs, src.NODE),
                pools=FakeLister(fs, src.IP_ADDRESS_POOL, NS),
                l2_advertisements=FakeLister(fs, src.L2_ADVERTISEMENT, NS),
                bgp_advertisements=FakeLister(fs, src.BGP_ADVERTISEMENT, NS),
                bgp_peers=FakeLister(fs, src.BGP_PEER, NS),
                bfd_profiles=FakeLister(fs, src.BFD_PROFILE, NS),
                communities=FakeLister(fs, src.COMMUNITY, NS),
                secrets=FakeLister(fs, src.SECRET, NS),
            ),
            namespace=NS,
            lb_class=self.lb_class,
            allocator=Allocator(),
            compile_fn=functools.partial(api_compile.compile_config, namespace=NS),
            resources_fn=api_compile.ClusterResources,
            request_fn=services.service_request,
            metrics=self.metrics,
            events=self._event,
        )
        self.queue = deque([ctl.CONFIG_KEY])
        self.settle()

    def _event(self, obj: Any, spec: st.EventSpec) -> None:
        self.events.append(
            (obj.get("kind", "Service"), obj["metadata"]["name"], spec.reason, spec.message)
        )

    def _add(self, key: str) -> None:
        if key not in self.queue:
            self.queue.append(key)

    def settle(self, *, max_steps: int = 100_000) -> None:
        if not hasattr(self, "rec"):
            self.queue.clear()
            return
        for _ in range(max_steps):
            if not self.queue:
                return
            key = self.queue.popleft()
            ctl.dispatch(
                self.rec,
                key,
                add=self._add,
                add_after=lambda k, _d: self._add(k),
                metrics=self.metrics,
            )
        raise AssertionError("queue did not drain")

    # -- actions (each enqueues what the informer handlers would) ----------------------

    def apply(self, *objs: dict[str, Any], settle: bool = True) -> None:
        """Create or replace objects, queue what the informers would, process (if started)."""
        for obj in objs:
            kind = KINDS[obj["kind"]]
            ns = obj["metadata"].get("namespace")
            try:
                cur = self.fs.get(kind, obj["metadata"]["name"], namespace=ns)
            except errors.NotFound:
                self.fs.create(kind, obj, namespace=ns)
            else:
                new = dict(obj)
                new["metadata"] = {
                    **obj["metadata"],
                    "resourceVersion": src.resource_version_of(cur),
                }
                if "status" in cur:
                    new["status"] = cur["status"]
                self.fs.replace(kind, new, namespace=ns)
            self._enqueue_for(obj)
        if settle:
            self.settle()

    def delete(self, kind: str, name: str, *, ns: str | None = APP_NS) -> None:
        k = KINDS[kind]
        self.fs.delete(k, name, namespace=ns if k.namespaced else None)
        if kind == "Service":
            self._add(f"{ns}/{name}")
        else:
            self._add(ctl.CONFIG_KEY)
        self.settle()

    def edit_service(self, name: str, fn: Any, *, ns: str = APP_NS) -> None:
        cur = self.fs.get(src.SERVICE, name, namespace=ns)
        fn(cur)
        self.fs.replace(src.SERVICE, cur, namespace=ns)
        self._add(f"{ns}/{name}")
        self.settle()

    def _enqueue_for(self, obj: dict[str, Any]) -> None:
        if obj["kind"] == "Service":
            self._add(src.object_key(obj))
        else:
            self._add(ctl.CONFIG_KEY)

    def resync(self) -> int:
        """Re-queue every Service (informer resync); returns the status writes it caused."""
        before = self.service_writes()
        for s in self.fs.objects(src.SERVICE):
            self._add(src.object_key(s))
        self.settle()
        return self.service_writes() - before

    # -- observations ------------------------------------------------------------------

    def svc(self, name: str, ns: str = APP_NS) -> dict[str, Any]:
        return self.fs.get(src.SERVICE, name, namespace=ns)

    def ips(self, name: str, ns: str = APP_NS) -> list[str]:
        return list(st.current_ips(self.svc(name, ns)))

    def pool_of(self, name: str, ns: str = APP_NS) -> str | None:
        return st.current_pool(self.svc(name, ns))

    def condition(self, name: str, ns: str = APP_NS) -> Any:
        return st.current_condition(self.svc(name, ns))

    def service_writes(self) -> int:
        return sum(
            1
            for verb, plural, _ in self.fs.calls
            if plural == "services" and verb in {"replace_status", "patch", "patch_status"}
        )

    def events_for(self, name: str) -> list[tuple[str, str]]:
        return [(r, m) for _, n, r, m in self.events if n == name]

    def all_ips(self) -> dict[str, list[str]]:
        return {src.object_key(s): list(st.current_ips(s)) for s in self.fs.objects(src.SERVICE)}


class KubeHarness(Harness):
    """The same interface as ``Harness``, but the real threaded ``Controller`` over HTTP.

    Args:
        api_client: an official-client ``ApiClient`` (e.g. ``APIServer.api_client()``).
        audit: returns the API server's audit log of ``(verb, group, resource, subresource,
            namespace)`` (counts the controller's writes).
        lb_class, start: as ``Harness``.
        timeout_s: bound of every wait for convergence, seconds.
    """

    def __init__(
        self,
        api_client: Any,
        *,
        audit: Any,
        lb_class: str = "",
        start: bool = True,
        timeout_s: float = 60.0,
    ) -> None:
        self._api_client = api_client
        self._audit = audit
        self.timeout_s = timeout_s
        self.ctrl: Any = None
        self.fs = src.KubeSource(api_client)  # type: ignore[assignment]
        self.lb_class = lb_class
        self.events = []
        self.queue = deque()
        for n in (NS, APP_NS):
            self._ensure_namespace(n)
        if start:
            self.start()

    def _ensure_namespace(self, name: str) -> None:
        try:
            self.fs.create(src.NAMESPACE, {"metadata": {"name": name}})
        except errors.Conflict:
            pass

    def start(self) -> None:
        from controller.controller import Controller

        self.stop()
        self.metrics = ControllerMetrics()
        self.ctrl = Controller(
            source=self.fs,
            namespace=NS,
            lb_class=self.lb_class,
            metrics=self.metrics,
            events=self._event,
            allocator_factory=Allocator,
            compile_fn=functools.partial(api_compile.compile_config, namespace=NS),
            resources_fn=api_compile.ClusterResources,
            request_fn=services.service_request,
            resync_period_s=None,
            pools_debounce_s=0.02,
        )
        self.rec = self.ctrl.reconciler
        self.ctrl.start()
        if not self.ctrl.wait_ready(self.timeout_s):
            raise AssertionError("controller did not become ready")
        self.settle()

    def stop(self) -> None:
        if self.ctrl is not None:
            self.ctrl.stop()
            self.ctrl = None

    def _add(self, key: str) -> None:
        self.ctrl.queue.add(key)

    def settle(self, *, max_steps: int = 0) -> None:
        """Wait until the controller is idle for several consecutive polls (bounded)."""
        if self.ctrl is None:
            return
        deadline = time.monotonic() + self.timeout_s
        quiet = 0
        while time.monotonic() < deadline:
            quiet = quiet + 1 if self.ctrl.idle() else 0
            if quiet >= 5:
                return
            time.sleep(0.02)
        raise AssertionError("controller did not settle")

    def _wait_cache(self, informer: Any, key: str, rv: str | None) -> None:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            cur = informer.get(key)
            if (rv is None and cur is None) or (
                rv is not None and cur is not None and _rv_at_least(cur, rv)
            ):
                return
            time.sleep(0.01)
        raise AssertionError(f"informer never saw {key}@{rv}")

    def _informer_for(self, kind: src.Kind) -> Any:
        for i in self.ctrl.informers:
            if i.kind == kind:
                return i
        return None

    def apply(self, *objs: dict[str, Any], settle: bool = True) -> None:
        for obj in objs:
            kind = KINDS[obj["kind"]]
            ns = obj["metadata"].get("namespace")
            body = dict(obj)
            try:
                cur = self.fs.get(kind, obj["metadata"]["name"], namespace=ns)
            except errors.NotFound:
                if kind == src.SERVICE:
                    body["spec"] = _server_assigned_ips(body["spec"])
                result = self.fs.create(kind, body, namespace=ns)
            else:
                body["metadata"] = {
                    **obj["metadata"],
                    "resourceVersion": src.resource_version_of(cur),
                }
                if kind == src.SERVICE:
                    spec = dict(body["spec"])
                    for f in ("clusterIP", "clusterIPs", "ipFamilies"):
                        if f in cur["spec"]:
                            spec[f] = cur["spec"][f]
                    body["spec"] = spec
                result = self.fs.replace(kind, body, namespace=ns)
            if self.ctrl is not None:
                inf = self._informer_for(kind)
                if inf is not None:
                    self._wait_cache(inf, src.object_key(result), src.resource_version_of(result))
        if settle:
            self.settle()

    def delete(self, kind: str, name: str, *, ns: str | None = APP_NS) -> None:
        k = KINDS[kind]
        self.fs.delete(k, name, namespace=ns if k.namespaced else None)
        if self.ctrl is not None:
            key = f"{ns}/{name}" if k.namespaced and ns else name
            self._wait_cache(self._informer_for(k), key, None)
        self.settle()

    def edit_service(self, name: str, fn: Any, *, ns: str = APP_NS) -> None:
        cur = self.fs.get(src.SERVICE, name, namespace=ns)
        fn(cur)
        result = self.fs.replace(src.SERVICE, cur, namespace=ns)
        if self.ctrl is not None:
            self._wait_cache(
                self.ctrl.services, src.object_key(result), result["metadata"]["resourceVersion"]
            )
        self.settle()

    def resync(self) -> int:
        before = self.service_writes()
        for s in self.fs.list(src.SERVICE).items:
            self._add(src.object_key(s))
        self.settle()
        return self.service_writes() - before

    def service_writes(self) -> int:
        return sum(
            1
            for verb, group, resource, sub, _ in self._audit()
            if group == "" and resource == "services"
            and ((verb == "update" and sub == "status") or verb == "patch")
        )  # fmt: skip

    def all_ips(self) -> dict[str, list[str]]:
        return {src.object_key(s): list(st.current_ips(s)) for s in self.fs.list(src.SERVICE).items}


def _server_assigned_ips(spec: dict[str, Any]) -> dict[str, Any]:
    """Let the API server allocate ClusterIPs unless the test pinned a single-stack set."""
    out = dict(spec)
    if out.get("ipFamilyPolicy") in ("SingleStack", "RequireDualStack"):
        out.pop("clusterIP", None)
        out.pop("clusterIPs", None)
    return out


def _rv_at_least(obj: Any, rv: str) -> bool:
    have = src.resource_version_of(obj)
    if have.isdigit() and rv.isdigit():
        return int(have) >= int(rv)  # ingot.apiserver's versions are integers
    return have == rv
