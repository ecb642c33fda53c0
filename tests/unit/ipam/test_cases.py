"""Cases of shared/cases/cases.md at the allocator level (C01, C03-C07, C10, C12, C13, C30,
C31, C33, C35, C36, C39): each test follows the case's actions and asserts its expected outcome."""

from __future__ import annotations

import copy
import ipaddress
import itertools

import pytest

from ingot.api import services
from ipam import allocator, decisions, pool, ranges
from ipam.request import Port, ServiceKey, ServiceRequest

TCP80 = Port("TCP", 80)


def P(name: str, *entries: str, **kw: object) -> pool.Pool:  # noqa: N802
    return pool.Pool(name, tuple(ranges.parse_address_entry(e) for e in entries), **kw)  # type: ignore[arg-type]


def R(name: str, **kw: object) -> ServiceRequest:  # noqa: N802
    kw.setdefault("ports", frozenset({TCP80}))
    return ServiceRequest(ServiceKey(f"demo/{name}"), **kw)  # type: ignore[arg-type]


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def ips_of(d: decisions.Decision) -> tuple[str, ...]:
    assert isinstance(d, decisions.Assigned), d
    return tuple(str(x) for x in d.ips)


def new(*pools: pool.Pool) -> allocator.Allocator:
    a = allocator.Allocator()
    assert a.set_pools(pools) == frozenset()
    return a


def no_ip_twice(a: allocator.Allocator) -> None:
    seen: dict[object, list[str]] = {}
    for key, asg in a.snapshot().items():
        for x in asg.ips:
            seen.setdefault(x, []).append(key)
    for x, keys in seen.items():
        if len(keys) > 1:
            reqs = [a.snapshot()[ServiceKey(k)].request for k in keys]
            for r1, r2 in itertools.combinations(reqs, 2):
                assert r1.sharing_key is not None, x
                assert r1.sharing_key == r2.sharing_key, x


def test_c01_freed_address_goes_to_waiting_service() -> None:
    a = new(P("small", "192.0.2.240-192.0.2.241"))
    assert ips_of(a.assign(R("svc-1"))) == ("192.0.2.240",)
    assert ips_of(a.assign(R("svc-2"))) == ("192.0.2.241",)
    for name in ("svc-3", "svc-4"):
        d = a.assign(R(name))
        assert isinstance(d, decisions.Pending)
        assert isinstance(d.reason, decisions.NoAddressAvailable)
        assert d.reason.verdicts[0].cause == "exhausted"
        assert "no available IPs" in d.message
    assert a.release(ServiceKey("demo/svc-1")) == (ip("192.0.2.240"),)
    # the controller re-queues pending Services in creation order
    assert ips_of(a.assign(R("svc-3"))) == ("192.0.2.240",)
    assert isinstance(a.assign(R("svc-4")), decisions.Pending)
    # svc-2 becomes ClusterIP: released, its IP goes to the remaining waiting service
    assert a.release(ServiceKey("demo/svc-2")) == (ip("192.0.2.241"),)
    assert a.assignment(ServiceKey("demo/svc-2")) is None
    assert ips_of(a.assign(R("svc-4"))) == ("192.0.2.241",)
    no_ip_twice(a)


@pytest.mark.parametrize("reverse", [False, True], ids=["gold-first", "silver-first"])
def test_c03_priority_only_pools_admit_everyone(reverse: bool) -> None:
    prio = [
        P("gold", "192.0.2.240-192.0.2.241", allocation=pool.ServiceAllocation(priority=10)),
        P("silver", "192.0.2.250-192.0.2.251", allocation=pool.ServiceAllocation(priority=50)),
    ]
    a = new(*(reversed(prio) if reverse else prio))
    got = []
    for i in range(1, 6):
        got.append(
            a.assign(
                R(
                    f"vnc-{i}",
                    traffic_policy="Local",
                    backend_key=f"app=vnc-{i}",
                    ports=frozenset({Port("TCP", 5900)}),
                )
            )
        )
    assert [ips_of(d) for d in got[:4]] == [
        ("192.0.2.240",),
        ("192.0.2.241",),
        ("192.0.2.250",),
        ("192.0.2.251",),
    ]
    assert [d.pool for d in got[:4]] == ["gold", "gold", "silver", "silver"]  # type: ignore[union-attr]
    assert isinstance(got[4], decisions.Pending)


def test_c04_network_address_buggy_ips_and_autoassign_off() -> None:
    cidr = P("pool-cidr", "192.0.2.0/30", auto_assign=False)
    buggy = P("pool-buggy", "192.0.2.252/30", avoid_buggy_ips=True, auto_assign=False)
    a = new(cidr, buggy)
    a_ips = [a.assign(R(f"a{i}", pool="pool-cidr")) for i in range(1, 6)]
    assert [ips_of(d) for d in a_ips[:4]] == [(f"192.0.2.{i}",) for i in range(4)]
    assert isinstance(a_ips[4], decisions.Pending)
    assert isinstance(a_ips[4].reason, decisions.NoAddressAvailable)
    assert a_ips[4].reason.pool == "pool-cidr"
    b_ips = [a.assign(R(f"b{i}", pool="pool-buggy")) for i in range(1, 5)]
    assert [ips_of(d) for d in b_ips[:3]] == [("192.0.2.252",), ("192.0.2.253",), ("192.0.2.254",)]
    assert isinstance(b_ips[3], decisions.Pending)
    c1 = a.assign(R("c1", requested_ips=(ip("192.0.2.255"),)))
    assert isinstance(c1, decisions.Pending)
    assert isinstance(c1.reason, decisions.RequestedIPNotInPool)
    assert "avoidBuggyIPs of pool pool-buggy" in c1.message
    d1 = a.assign(R("d1"))
    assert isinstance(d1, decisions.Pending)
    assert isinstance(d1.reason, decisions.NoAddressAvailable)
    assert {(v.pool, v.cause) for v in d1.reason.verdicts} == {
        ("pool-cidr", "auto-assign-off"),
        ("pool-buggy", "auto-assign-off"),
    }
    assert a.usage("pool-cidr").capacity_v4 == 4
    assert a.usage("pool-buggy").capacity_v4 == 3
    # toggling autoAssign never moves a holder
    before = a.snapshot()
    cidr_on = P("pool-cidr", "192.0.2.0/30", auto_assign=True)
    assert a.set_pools([cidr_on, buggy]) == frozenset()
    assert a.snapshot() == before
    assert isinstance(a.assign(R("d1")), decisions.Pending)
    a.release(ServiceKey("demo/a2"))
    assert isinstance(a.assign(R("b4", pool="pool-buggy")), decisions.Pending)
    assert isinstance(a.assign(R("c1", requested_ips=(ip("192.0.2.255"),))), decisions.Pending)
    assert ips_of(a.assign(R("d1"))) == ("192.0.2.1",)


def test_c05_single_address_entries() -> None:
    a = new(P("singles", "192.0.2.220/32", "192.0.2.221/32", "2001:db8:1::220/128"))
    assert ips_of(a.assign(R("v4-a", families=(4,)))) == ("192.0.2.220",)
    assert ips_of(a.assign(R("v4-b", families=(4,)))) == ("192.0.2.221",)
    assert isinstance(a.assign(R("v4-c", families=(4,))), decisions.Pending)
    assert ips_of(a.assign(R("v6-a", families=(6,)))) == ("2001:db8:1::220",)
    u = a.usage("singles")
    assert (u.capacity_v4, u.capacity_v6) == (2, 1)
    a.release(ServiceKey("demo/v4-a"))
    assert ips_of(a.assign(R("v4-c", families=(4,)))) == ("192.0.2.220",)


def test_c06_local_cannot_join_cluster_sharing_group() -> None:
    a = new(P("one", "192.0.2.230/32"))
    web = R("web", sharing_key="global")

    def dns(name: str, proto: str) -> ServiceRequest:
        return R(
            name,
            sharing_key="global",
            traffic_policy="Local",
            backend_key="app=dns",
            ports=frozenset({Port(proto, 53)}),
        )

    assert ips_of(a.assign(web)) == ("192.0.2.230",)
    for d in (a.assign(dns("dns-tcp", "TCP")), a.assign(dns("dns-udp", "UDP"))):
        assert isinstance(d, decisions.Pending)
        assert "backend differs" in d.message
        assert "demo/web" in d.message
    assert ips_of(a.assign(web)) == ("192.0.2.230",)  # web keeps .230 throughout
    a.release(ServiceKey("demo/web"))
    assert ips_of(a.assign(dns("dns-tcp", "TCP"))) == ("192.0.2.230",)
    assert ips_of(a.assign(dns("dns-udp", "UDP"))) == ("192.0.2.230",)
    d = a.assign(web)
    assert isinstance(d, decisions.Pending)
    assert "backend differs" in d.message
    assert a.holders(ip("192.0.2.230")) == ("demo/dns-tcp", "demo/dns-udp")


def test_c07_sharing_needs_key_then_same_pods() -> None:
    a = new(P("main", "192.0.2.231-192.0.2.232"))
    raw = {
        "metadata": {
            "name": "svc-a",
            "namespace": "demo",
            "annotations": {
                "metallb.io/allow-shared": "k1",
                "metallb.io/loadBalancerIPs": "192.0.2.231",
            },
        },
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": "Local",
            "selector": {"app": "nginx"},
            "ports": [{"port": 80, "protocol": "TCP"}],
        },
    }
    svc_a = services.service_request(raw, namespace_labels={})
    assert isinstance(svc_a, ServiceRequest)
    assert svc_a.sharing_key is None  # misspelt key is not a sharing key
    want = (ip("192.0.2.231"),)

    def svc_b(key: str | None, selector: str) -> ServiceRequest:
        return R(
            "svc-b",
            requested_ips=want,
            sharing_key=key,
            traffic_policy="Local",
            backend_key=selector,
            ports=frozenset({Port("TCP", 83)}),
        )

    assert ips_of(a.assign(svc_a)) == ("192.0.2.231",)
    d = a.assign(svc_b(None, "app=nginx2"))
    assert isinstance(d, decisions.Pending)
    assert isinstance(d.reason, decisions.SharingConflict)
    assert (d.reason.holder, d.reason.cause) == ("demo/svc-a", "no-sharing-key")
    # step 2: the key is fixed on both
    fixed_a = ServiceRequest(
        svc_a.key,
        requested_ips=want,
        sharing_key="k1",
        traffic_policy="Local",
        backend_key="app=nginx",
        ports=frozenset({TCP80}),
    )
    assert a.assign(fixed_a) == decisions.Assigned(want, "main", kept=True)
    d = a.assign(svc_b("k1", "app=nginx2"))
    assert isinstance(d, decisions.Pending)
    assert isinstance(d.reason, decisions.SharingConflict)
    assert d.reason.cause == "backend-differs"
    # step 3: same pods
    assert ips_of(a.assign(svc_b("k1", "app=nginx"))) == ("192.0.2.231",)
    assert a.holders(want[0]) == ("demo/svc-a", "demo/svc-b")


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        pytest.param("192.0.2.29,192.0.2.34", "one CIDR or range per list entry", id="comma-list"),
        pytest.param("192.0.2.29", "192.0.2.29/32", id="bare-address"),
        pytest.param("192.0.2.34-192.0.2.29", "is after end", id="reversed-range"),
    ],
)
def test_c10_invalid_entries_refused(entry: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace(".", r"\.")) as exc:
        ranges.parse_address_entry(entry)
    assert entry.split(",")[0] in str(exc.value)


def test_c10_correct_form() -> None:
    a = new(P("picked", "192.0.2.29/32", "192.0.2.34-192.0.2.34"))
    assert a.usage("picked").capacity_v4 == 2
    assert ips_of(a.assign(R("s1"))) == ("192.0.2.29",)
    assert ips_of(a.assign(R("s2"))) == ("192.0.2.34",)
    assert isinstance(a.assign(R("s3")), decisions.Pending)


def test_c12_requested_ipv4_on_ipv6_service() -> None:
    a = new(P("home", "192.0.2.101/32", "2001:db8:1::101/128"))
    raw = {
        "metadata": {
            "name": "dns-tcp",
            "namespace": "demo",
            "annotations": {"metallb.io/allow-shared-ip": "pihole"},
        },
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerIP": "192.0.2.101",
            "clusterIP": "fd00::10",
            "externalTrafficPolicy": "Local",
            "selector": {"app": "pihole"},
            "ports": [{"name": "dns", "port": 53, "protocol": "TCP"}],
        },
    }
    dns_tcp = services.service_request(raw, namespace_labels={})
    assert isinstance(dns_tcp, ServiceRequest)
    assert dns_tcp.families == (6,)
    v6 = R(
        "dns-tcp-v6",
        families=(6,),
        requested_ips=(ip("2001:db8:1::101"),),
        sharing_key="pihole",
        traffic_policy="Local",
        backend_key="app=pihole",
        ports=frozenset({Port("TCP", 53)}),
    )
    d = a.assign(dns_tcp)
    assert isinstance(d, decisions.Pending)
    assert isinstance(d.reason, decisions.FamilyMismatch)
    assert "IPv6" in d.message
    assert ips_of(a.assign(v6)) == ("2001:db8:1::101",)
    assert a.assignment(dns_tcp.key) is None
    # step 2: re-created as SingleStack IPv4
    raw["spec"]["clusterIP"] = "10.96.0.10"  # type: ignore[index]
    raw["spec"]["ipFamilies"] = ["IPv4"]  # type: ignore[index]
    again = services.service_request(raw, namespace_labels={})
    assert isinstance(again, ServiceRequest)
    assert ips_of(a.assign(again)) == ("192.0.2.101",)
    assert ips_of(a.assign(v6)) == ("2001:db8:1::101",)


def test_c13_prefer_dual_stack_with_one_cluster_ip_stays_single() -> None:
    mixed = P("mixed", "192.0.2.16-192.0.2.19", "2001:db8:10::10-2001:db8:10::13")
    a = new(mixed)
    svc_a = R("svc-a", family_policy="PreferDualStack", families=(4,))
    svc_b = R("svc-b", family_policy="PreferDualStack", families=(4,))
    assert ips_of(a.assign(svc_a)) == ("192.0.2.16",)
    assert ips_of(a.assign(svc_b)) == ("192.0.2.17",)
    a.release(svc_a.key)
    assert a.assign(svc_b) == decisions.Assigned((ip("192.0.2.17"),), "mixed", kept=True)
    restarted = new(mixed)
    assert restarted.restore(a.snapshot().values()) == []
    assert restarted.assign(svc_b) == decisions.Assigned((ip("192.0.2.17"),), "mixed", kept=True)


def test_c30_pool_edit_reassigns_only_addresses_left_outside() -> None:
    a = new(P("main", "192.0.2.240-192.0.2.243"))
    svc_a, svc_b = R("svc-a"), R("svc-b")
    assert ips_of(a.assign(svc_a)) == ("192.0.2.240",)
    assert ips_of(a.assign(svc_b)) == ("192.0.2.241",)
    assert a.set_pools([P("main", "192.0.2.241-192.0.2.244")]) == {svc_a.key}
    assert a.assign(svc_b) == decisions.Assigned((ip("192.0.2.241"),), "main", kept=True)
    assert ips_of(a.assign(svc_a)) == ("192.0.2.242",)
    assert a.set_pools([P("main", "192.0.2.241/32")]) == {svc_a.key}
    assert a.assign(svc_b) == decisions.Assigned((ip("192.0.2.241"),), "main", kept=True)
    assert isinstance(a.assign(svc_a), decisions.Pending)
    assert a.holders(ip("192.0.2.242")) == ()


def test_c31_changing_address_pool_annotation() -> None:
    a = new(
        P("zone1", "192.0.2.240-192.0.2.242", auto_assign=False),
        P("zone2", "192.0.2.70-192.0.2.75", auto_assign=False),
    )
    got = [a.assign(R(n, pool="zone1")) for n in ("app", "f1", "f2", "waiting")]
    assert [ips_of(d) for d in got[:3]] == [("192.0.2.240",), ("192.0.2.241",), ("192.0.2.242",)]
    assert isinstance(got[3], decisions.Pending)
    assert ips_of(a.assign(R("app", pool="zone2"))) == ("192.0.2.70",)
    assert ips_of(a.assign(R("waiting", pool="zone1"))) == ("192.0.2.240",)
    assert a.assign(R("app")) == decisions.Assigned((ip("192.0.2.70"),), "zone2", kept=True)


def test_c33_restart_never_lets_waiting_services_steal() -> None:
    tight = P("tight", "192.0.2.240-192.0.2.241")
    a = new(tight)
    reqs = {n: R(n) for n in ("svc-a", "svc-b", "svc-c", "svc-d")}
    for r in reqs.values():
        a.assign(r)
    snap = a.snapshot()
    assert {k: ips_of(decisions.Assigned(v.ips, v.pool)) for k, v in snap.items()} == {
        "demo/svc-a": ("192.0.2.240",),
        "demo/svc-b": ("192.0.2.241",),
    }
    for perm in itertools.permutations(snap.values()):
        b = new(tight)
        assert b.restore(perm) == []  # claimed first ...
        for r in reqs.values():  # ... then everyone is processed, in any order
            b.assign(r)
        assert b.snapshot() == snap
        assert b.assign(reqs["svc-a"]).kept  # type: ignore[union-attr]
    b.release(ServiceKey("demo/svc-a"))
    assert ips_of(b.assign(reqs["svc-c"])) == ("192.0.2.240",)
    assert isinstance(b.assign(reqs["svc-d"]), decisions.Pending)


def test_c33_restore_reports_two_services_on_one_ip() -> None:
    tight = P("tight", "192.0.2.240-192.0.2.241")
    dup = [
        allocator.Assignment(R("svc-a"), (ip("192.0.2.240"),), "tight"),
        allocator.Assignment(R("svc-c"), (ip("192.0.2.240"),), "tight"),
    ]
    for perm in (dup, dup[::-1]):
        b = new(tight)
        conflicts = b.restore(perm)
        assert [c.key for c in conflicts] == ["demo/svc-c"]
        assert isinstance(conflicts[0].reason, decisions.SharingConflict)
        assert conflicts[0].reason.holder == "demo/svc-a"
        assert b.holders(ip("192.0.2.240")) == ("demo/svc-a",)
    # with creation timestamps as rank, the older Service keeps the IP, in any input order
    rank = {
        ServiceKey("demo/svc-a"): "2026-01-02T00:00:00Z",
        ServiceKey("demo/svc-c"): "2026-01-01T00:00:00Z",
    }
    for perm in (dup, dup[::-1]):
        b = new(tight)
        assert [c.key for c in b.restore(perm, rank=rank)] == ["demo/svc-a"]
        assert b.holders(ip("192.0.2.240")) == ("demo/svc-c",)


def test_c35_shared_address_survives_restarts() -> None:
    p = P("p", "192.0.2.240-192.0.2.244")
    a = new(p)
    x1, x2 = R("x1"), R("x2")
    n80 = R("nginx-80", sharing_key="default")
    n8080 = R("nginx-8080", sharing_key="default", ports=frozenset({Port("TCP", 8080)}))
    assert ips_of(a.assign(x1)) == ("192.0.2.240",)
    assert ips_of(a.assign(n80)) == ("192.0.2.241",)
    assert ips_of(a.assign(n8080)) == ("192.0.2.241",)
    assert ips_of(a.assign(x2)) == ("192.0.2.242",)
    snap = a.snapshot()
    b = new(p)
    assert b.restore(reversed(list(snap.values()))) == []
    for r in (x2, n8080, n80, x1):
        assert b.assign(r).kept  # type: ignore[union-attr]
    assert b.snapshot() == snap
    b.release(x1.key)
    c = new(p)
    assert c.restore(b.snapshot().values()) == []
    for r in (n80, n8080, x2):
        assert c.assign(r).kept  # type: ignore[union-attr]
    assert c.holders(ip("192.0.2.240")) == ()


def test_c36_avoid_buggy_cidr_pool_skips_network_address() -> None:
    assert ranges.parse_address_entry("203.0.113.1-203.0.113.126").widest_prefix_len() == 27
    a = new(P("lb", "203.0.113.0/24", avoid_buggy_ips=True))
    assert ips_of(a.assign(R("svc"))) == ("203.0.113.1",)
    assert a.usage("lb").capacity_v4 == 254


def test_c39_usage_counts() -> None:
    a = new(P("default", "192.0.2.0/29", avoid_buggy_ips=True))
    u = a.usage("default")
    assert (u.capacity_v4, u.in_use_v4, u.services) == (7, 0, 0)
    for n in ("test-1", "test-2"):
        a.assign(R(n, ports=frozenset({Port("TCP", 5001)})))
    assert a.usage("default").in_use_v4 == 2
    for n in ("test-1", "test-2"):
        a.release(ServiceKey(f"demo/{n}"))
    assert a.usage("default").in_use_v4 == 0
    for n, port in (("shared-1", 5001), ("shared-2", 5002)):
        d = a.assign(
            R(
                n,
                sharing_key="s",
                requested_ips=(ip("192.0.2.5"),),
                ports=frozenset({Port("TCP", port)}),
            )
        )
        assert ips_of(d) == ("192.0.2.5",)
    u = a.usage("default")
    assert (u.in_use_v4, u.services, u.available_v4) == (1, 2, 6)


def test_inputs_are_not_mutated() -> None:
    pools = [P("main", "192.0.2.240-192.0.2.243")]
    before = copy.deepcopy(pools)
    req = R("svc", sharing_key="k", labels={"a": "b"})
    req_before = copy.deepcopy(req)
    a = new(*pools)
    a.assign(req)
    a.set_pools(pools)
    assert pools == before
    assert req == req_before
