"""Random operation sequences through the synchronous harness: invariants after every step.

* no IP is held by two Services unless both carry the sharing key (and distinct ports);
* the API (status) and the allocator agree on every Service's IPs;
* a resync writes nothing, a restart changes nothing;
* a Service that is not a LoadBalancer holds nothing.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from controller import status as st
from controller.testing import APP_NS, Harness, l2, pool, service
from ingot.kube import source as src

A = "metallb.io/"
NAMES = [f"s{i}" for i in range(8)]

op = hs.one_of(
    hs.tuples(hs.just("create"), hs.sampled_from(NAMES), hs.booleans()),
    hs.tuples(hs.just("delete"), hs.sampled_from(NAMES), hs.just(False)),
    hs.tuples(hs.just("flip-type"), hs.sampled_from(NAMES), hs.just(False)),
    hs.tuples(hs.just("toggle-share"), hs.sampled_from(NAMES), hs.just(False)),
    hs.tuples(hs.just("pool"), hs.sampled_from(["small", "big", "moved"]), hs.just(False)),
    hs.tuples(hs.just("restart"), hs.just(""), hs.just(False)),
)

POOLS = {
    "small": ("198.51.100.10-198.51.100.12",),
    "big": ("198.51.100.10-198.51.100.17",),
    "moved": ("198.51.100.14-198.51.100.16",),
}


def _exists(h: Harness, name: str) -> bool:
    return any(s["metadata"]["name"] == name for s in h.fs.objects(src.SERVICE))


def _check(h: Harness) -> None:
    services = {s["metadata"]["name"]: s for s in h.fs.objects(src.SERVICE)}
    holders: dict[str, list[str]] = {}
    for name, s in services.items():
        ips = list(st.current_ips(s))
        assert list(h.rec.holds(f"{APP_NS}/{name}")) == ips, name
        if s["spec"]["type"] != "LoadBalancer":
            assert ips == [], name
        for ip in ips:
            holders.setdefault(ip, []).append(name)
    for ip, names in holders.items():
        if len(names) > 1:
            for n in names:
                ann = services[n]["metadata"].get("annotations") or {}
                assert ann.get(A + "allow-shared-ip") == "k", (ip, names)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=hs.lists(op, min_size=1, max_size=25))
def test_random_operations_keep_invariants(ops) -> None:
    h = Harness()
    h.apply(pool("p", *POOLS["small"]), l2())
    for kind, name, flag in ops:
        if kind == "create" and not _exists(h, name):
            ann = {A + "allow-shared-ip": "k"} if flag else None
            port = 1000 + NAMES.index(name)
            h.apply(service(name, annotations=ann, ports=[(port, "TCP")]))
        elif kind == "delete" and _exists(h, name):
            h.delete("Service", name)
        elif kind == "flip-type" and _exists(h, name):
            h.edit_service(
                name,
                lambda s: s["spec"].update(
                    type="ClusterIP" if s["spec"]["type"] == "LoadBalancer" else "LoadBalancer"
                ),
            )
        elif kind == "toggle-share" and _exists(h, name):

            def toggle(s):
                ann = s["metadata"].setdefault("annotations", {})
                if ann.pop(A + "allow-shared-ip", None) is None:
                    ann[A + "allow-shared-ip"] = "k"

            h.edit_service(name, toggle)
        elif kind == "pool":
            h.apply(pool("p", *POOLS[name]))
        elif kind == "restart":
            before = h.all_ips()
            writes = h.service_writes()
            h.start()
            assert h.all_ips() == before
            assert h.service_writes() == writes
        _check(h)
        assert h.resync() == 0
