"""Reconciler scenarios (cases from shared/cases/cases.md) through the synchronous harness.

Case addresses in 192.0.2.0/24 are moved to 198.51.100.0/24 (team network rule).
"""

from __future__ import annotations

import pytest

from controller import reconciler as rec
from controller import status as st
from controller.testing import APP_NS, NS, Harness, l2, pool, service
from ingot.kube import source as src

A = "metallb.io/"


def namespace(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def test_no_pools_says_so(h: Harness) -> None:
    h.apply(service("web"))
    assert h.ips("web") == []
    assert h.condition("web")["reason"] == "NoPools"
    assert h.events_for("web") == [("AllocationFailed", "no IPAddressPool is configured")]


def test_no_valid_config_leaves_services_untouched() -> None:
    h = Harness(start=False)
    h.apply(pool("bad", "nope"))
    h.apply(service("web"))
    h.start()
    assert h.condition("web") is None
    assert h.service_writes() == 0


def _writes_for(h: Harness, action) -> int:
    before = h.service_writes()
    action()
    return h.service_writes() - before


def test_exactly_one_write_per_real_change_none_on_resync(h: Harness) -> None:
    """Issue 4: ingress, condition and pool annotation go in one ``/status`` write."""
    h.apply(pool("a", "198.51.100.20/32"), pool("b", "198.51.100.30/32", autoAssign=False), l2())
    to_b = {A + "address-pool": "b"}
    steps = [
        ("assign", lambda: h.apply(service("web")), "web", ["198.51.100.20"], "a"),
        ("pending", lambda: h.apply(service("late")), "late", [], None),
        ("freed-ip-to-waiting", lambda: h.delete("Service", "web"), "late",
         ["198.51.100.20"], "a"),
        ("move", lambda: h.edit_service(
            "late", lambda s: s["metadata"].setdefault("annotations", {}).update(to_b)
        ), "late", ["198.51.100.30"], "b"),
        ("clear", lambda: h.edit_service("late", lambda s: s["spec"].update(type="ClusterIP")),
         "late", [], None),
    ]  # fmt: skip
    for what, action, name, ips, pool_name in steps:
        assert _writes_for(h, action) == 1, what
        assert h.ips(name) == ips, what
        assert h.pool_of(name) == pool_name, what
        assert h.resync() == 0, what
    assert h.condition("late") is None


def test_c01_freed_ip_goes_to_waiting_service(h: Harness) -> None:
    h.apply(pool("small", "198.51.100.240-198.51.100.241"), l2())
    h.apply(service("svc-1"))
    h.apply(service("svc-2"))
    h.apply(service("svc-3"), service("svc-4"))
    assert h.ips("svc-1") == ["198.51.100.240"]
    assert h.ips("svc-2") == ["198.51.100.241"]
    for n in ("svc-3", "svc-4"):
        assert h.ips(n) == []
        assert [r for r, _ in h.events_for(n)] == ["AllocationFailed"]
        assert "no available IPs" in h.events_for(n)[0][1]
        assert h.condition(n)["status"] == "False"
    h.delete("Service", "svc-1")
    assert h.ips("svc-3") == ["198.51.100.240"]  # FIFO by key order: svc-3 first
    assert h.ips("svc-4") == []
    h.edit_service("svc-2", lambda s: s["spec"].update(type="ClusterIP"))
    svc2 = h.svc("svc-2")
    assert svc2["status"].get("loadBalancer") == {}
    assert A + "ip-allocated-from-pool" not in (svc2["metadata"].get("annotations") or {})
    assert h.ips("svc-4") == ["198.51.100.241"]
    assert "ClearAssignment" in [r for r, _ in h.events_for("svc-2")]
    assert not st.duplicates(h.all_ips())
    assert h.resync() == 0


def test_c03_priority_only_pools(h: Harness) -> None:
    h.apply(
        pool("gold", "198.51.100.240-198.51.100.241", serviceAllocation={"priority": 10}),
        pool("silver", "198.51.100.250-198.51.100.251", serviceAllocation={"priority": 50}),
        l2(),
    )
    for i in range(1, 6):
        h.apply(service(f"vnc-{i}", etp="Local", selector={"app": f"vnc-{i}"}))
    assert [h.ips(f"vnc-{i}") for i in range(1, 6)] == [
        ["198.51.100.240"],
        ["198.51.100.241"],
        ["198.51.100.250"],
        ["198.51.100.251"],
        [],
    ]
    assert [h.pool_of(f"vnc-{i}") for i in range(1, 5)] == ["gold", "gold", "silver", "silver"]
    assert h.events_for("vnc-5")[0][0] == "AllocationFailed"


def test_c04_cidr_buggy_autoassign(h: Harness) -> None:
    h.apply(
        pool("pool-cidr", "198.51.100.0/30", autoAssign=False),
        pool("pool-buggy", "198.51.100.252/30", avoidBuggyIPs=True, autoAssign=False),
        l2(),
    )
    for i in range(1, 6):
        h.apply(service(f"a{i}", annotations={A + "address-pool": "pool-cidr"}))
    for i in range(1, 5):
        h.apply(service(f"b{i}", annotations={A + "address-pool": "pool-buggy"}))
    h.apply(service("c1", annotations={A + "loadBalancerIPs": "198.51.100.255"}))
    h.apply(service("d1"))
    assert [h.ips(f"a{i}") for i in range(1, 6)] == [
        ["198.51.100.0"], ["198.51.100.1"], ["198.51.100.2"], ["198.51.100.3"], []
    ]  # fmt: skip
    assert [h.ips(f"b{i}") for i in range(1, 5)] == [
        ["198.51.100.252"], ["198.51.100.253"], ["198.51.100.254"], []
    ]  # fmt: skip
    assert h.ips("c1") == []
    assert h.ips("d1") == []
    assert h.events_for("d1")[0][0] == "AllocationFailed"
    usage = h.rec.pool_usage()
    assert (usage["pool-cidr"].total, usage["pool-buggy"].total) == (4, 3)
    h.apply(pool("pool-cidr", "198.51.100.0/30", autoAssign=True))
    assert h.ips("a1") == ["198.51.100.0"]
    assert h.ips("d1") == []
    h.delete("Service", "a2")
    assert h.ips("a5") == ["198.51.100.1"]  # a5 < d1 in key order; never b4 or c1
    assert h.ips("b4") == []
    assert h.ips("c1") == []


def test_c05_single_address_entries(h: Harness) -> None:
    h.apply(pool("singles", "198.51.100.220/32", "198.51.100.221/32", "2001:db8:1::220/128"), l2())
    for n in ("v4-a", "v4-b", "v4-c"):
        h.apply(service(n))
    h.apply(service("v6-a", families=("IPv6",)))
    assert h.ips("v4-a") == ["198.51.100.220"]
    assert h.ips("v4-b") == ["198.51.100.221"]
    assert h.ips("v4-c") == []
    assert h.ips("v6-a") == ["2001:db8:1::220"]
    u = h.rec.pool_usage()["singles"]
    assert (u.total, u.total_v4, u.total_v6) == (3, 2, 1)
    h.delete("Service", "v4-a")
    assert h.ips("v4-c") == ["198.51.100.220"]


def test_c06_local_cannot_join_cluster_group(h: Harness) -> None:
    share = {A + "allow-shared-ip": "global"}
    h.apply(pool("one", "198.51.100.230/32"), l2())
    h.apply(service("web", annotations=share))
    h.apply(
        service("dns-tcp", annotations=share, etp="Local", selector={"app": "dns"},
                ports=[(53, "TCP")]),
        service("dns-udp", annotations=share, etp="Local", selector={"app": "dns"},
                ports=[(53, "UDP")]),
    )  # fmt: skip
    assert h.ips("web") == ["198.51.100.230"]
    for n in ("dns-tcp", "dns-udp"):
        assert h.ips(n) == []
        reason, msg = h.events_for(n)[0]
        assert reason == "AllocationFailed"
        assert "demo/web" in msg
    h.delete("Service", "web")
    assert h.ips("dns-tcp") == ["198.51.100.230"]
    assert h.ips("dns-udp") == ["198.51.100.230"]
    h.apply(service("web", annotations=share))
    assert h.ips("web") == []
    assert h.ips("dns-tcp") == ["198.51.100.230"]


def test_c07_misspelt_key_then_pod_sets(h: Harness) -> None:
    h.apply(pool("main", "198.51.100.231-198.51.100.232"), l2())
    bad = {A + "allow-shared": "k1", A + "loadBalancerIPs": "198.51.100.231"}
    h.apply(service("svc-a", annotations=bad, etp="Local", selector={"app": "nginx"}))
    h.apply(
        service("svc-b", annotations=bad, etp="Local", selector={"app": "nginx2"},
                ports=[(83, "TCP")])
    )  # fmt: skip
    assert h.ips("svc-a") == ["198.51.100.231"]
    assert h.ips("svc-b") == []
    msg = h.events_for("svc-b")[-1][1]
    assert "demo/svc-a" in msg
    good = {A + "allow-shared-ip": "k1", A + "loadBalancerIPs": "198.51.100.231"}
    h.apply(service("svc-a", annotations=good, etp="Local", selector={"app": "nginx"}))
    h.apply(
        service("svc-b", annotations=good, etp="Local", selector={"app": "nginx2"},
                ports=[(83, "TCP")])
    )  # fmt: skip
    assert h.ips("svc-a") == ["198.51.100.231"]
    assert h.ips("svc-b") == []
    assert h.events_for("svc-b")[-1][1] != msg  # the reason changed, and says so
    h.edit_service("svc-b", lambda s: s["spec"].update(selector={"app": "nginx"}))
    assert h.ips("svc-b") == ["198.51.100.231"]


def test_c10_invalid_pool_reported_not_used(h: Harness) -> None:
    h.apply(pool("picked", "198.51.100.29,198.51.100.34"), l2())
    h.apply(service("s1"))
    assert h.ips("s1") == []  # no valid config yet: untouched
    state = h.fs.get(rec.CONFIGURATION_STATE, "controller", namespace=NS)
    assert state["status"]["result"] == "Invalid"
    assert (
        "IPAddressPool metallb-system/picked spec.addresses[0]" in state["status"]["errorSummary"]
    )
    assert any(k == "IPAddressPool" and r == "InvalidConfiguration" for k, _, r, _ in h.events)
    h.apply(pool("picked", "198.51.100.29/32", "198.51.100.34-198.51.100.34"))
    h.apply(service("s2"), service("s3"))
    assert h.ips("s1") == ["198.51.100.29"]
    assert h.ips("s2") == ["198.51.100.34"]
    assert h.ips("s3") == []
    state = h.fs.get(rec.CONFIGURATION_STATE, "controller", namespace=NS)
    assert state["status"]["result"] == "Valid"


def test_invalid_config_keeps_last_valid_one(h: Harness) -> None:
    h.apply(pool("p", "198.51.100.10/31"), l2())
    h.apply(service("a"))
    h.apply(pool("p", "not-an-ip"))
    assert h.ips("a") == ["198.51.100.10"]
    assert h.rec.config is not None
    fams = {
        f.name: f.samples[0].value
        for f in __import__("prometheus_client.parser").parser.text_string_to_metric_families(
            h.metrics.exposition().decode()
        )
        if f.name.startswith("metallb_k8s_client_config")
    }
    assert fams == {
        "metallb_k8s_client_config_loaded_bool": 1.0,
        "metallb_k8s_client_config_stale_bool": 1.0,
    }
    h.apply(service("b"))
    assert h.ips("b") == ["198.51.100.11"]  # last valid config still allocates
    h.apply(pool("p", "198.51.100.10/31"))
    state = h.fs.get(rec.CONFIGURATION_STATE, "controller", namespace=NS)
    assert state["status"]["result"] == "Valid"


def test_c12_family_mismatch(h: Harness) -> None:
    share = {A + "allow-shared-ip": "pihole"}
    h.apply(pool("home", "198.51.100.101/32", "2001:db8:1::101/128"), l2())
    h.apply(
        service("dns-tcp", annotations=share, lb_ip="198.51.100.101", etp="Local",
                selector={"app": "pihole"}, families=("IPv6",), ports=[(53, "TCP")]),
        service("dns-tcp-v6", annotations=share, lb_ip="2001:db8:1::101", etp="Local",
                selector={"app": "pihole"}, families=("IPv6",), ports=[(53, "TCP")]),
    )  # fmt: skip
    assert h.ips("dns-tcp-v6") == ["2001:db8:1::101"]
    assert h.ips("dns-tcp") == []
    assert "family" in h.events_for("dns-tcp")[0][1].lower()
    h.delete("Service", "dns-tcp")
    h.apply(
        service("dns-tcp", annotations=share, lb_ip="198.51.100.101", etp="Local",
                selector={"app": "pihole"}, ports=[(53, "TCP")])
    )  # fmt: skip
    assert h.ips("dns-tcp") == ["198.51.100.101"]


def test_c13_prefer_dual_single_cluster_ip(h: Harness) -> None:
    h.apply(pool("mixed", "198.51.100.16-198.51.100.19", "2001:db8:10::10-2001:db8:10::13"), l2())
    h.apply(service("svc-a", policy="PreferDualStack"))
    h.apply(service("svc-b", policy="PreferDualStack"))
    assert h.ips("svc-a") == ["198.51.100.16"]
    assert h.ips("svc-b") == ["198.51.100.17"]
    writes = h.service_writes()
    events = len(h.events_for("svc-b"))
    h.delete("Service", "svc-a")
    h.start()  # restart
    assert h.ips("svc-b") == ["198.51.100.17"]
    assert h.service_writes() == writes
    assert len(h.events_for("svc-b")) == events


def test_c30_pool_shrink_reassigns(h: Harness) -> None:
    h.apply(pool("main", "198.51.100.240-198.51.100.243"), l2())
    h.apply(service("svc-a"))
    h.apply(service("svc-b"))
    writes_b = len(h.events_for("svc-b"))
    h.apply(pool("main", "198.51.100.241-198.51.100.244"))
    assert h.ips("svc-b") == ["198.51.100.241"]
    assert h.ips("svc-a") == ["198.51.100.242"]
    assert len(h.events_for("svc-b")) == writes_b
    reason, msg = h.events_for("svc-a")[-1]
    assert reason == "IPAllocated"
    assert "198.51.100.240" in msg
    assert "198.51.100.242" in msg
    h.apply(pool("main", "198.51.100.241/32"))
    assert h.ips("svc-b") == ["198.51.100.241"]
    assert h.ips("svc-a") == []
    assert h.events_for("svc-a")[-1][0] == "AllocationFailed"


def test_c31_address_pool_annotation_change(h: Harness) -> None:
    z1 = {A + "address-pool": "zone1"}
    h.apply(
        pool("zone1", "198.51.100.240-198.51.100.242", autoAssign=False),
        pool("zone2", "198.51.100.70-198.51.100.75", autoAssign=False),
        l2(),
    )
    for n in ("app", "f1", "f2", "waiting"):
        h.apply(service(n, annotations=z1))
    assert [h.ips(n) for n in ("app", "f1", "f2", "waiting")] == [
        ["198.51.100.240"], ["198.51.100.241"], ["198.51.100.242"], []
    ]  # fmt: skip
    h.edit_service(
        "app", lambda s: s["metadata"]["annotations"].update({A + "address-pool": "zone2"})
    )
    assert h.ips("app") == ["198.51.100.70"]
    assert h.pool_of("app") == "zone2"
    assert h.ips("waiting") == ["198.51.100.240"]
    h.edit_service("app", lambda s: s["metadata"]["annotations"].pop(A + "address-pool"))
    assert h.ips("app") == ["198.51.100.70"]


@pytest.mark.parametrize("restarts", [pytest.param(10, id="ten-restarts")])
def test_c33_restart_never_steals(h: Harness, restarts: int) -> None:
    h.apply(pool("tight", "198.51.100.240-198.51.100.241"), l2())
    h.apply(service("svc-a"))
    h.apply(service("svc-b"))
    h.apply(service("svc-c"), service("svc-d"))
    before = h.all_ips()
    writes = h.service_writes()
    for _ in range(restarts):
        h.start()
        assert h.all_ips() == before
    assert h.service_writes() == writes
    assert [r for r, _ in h.events_for("svc-a")] == ["IPAllocated"]
    h.delete("Service", "svc-a")
    got = [n for n in ("svc-c", "svc-d") if h.ips(n) == ["198.51.100.240"]]
    assert len(got) == 1


def test_c35_shared_ip_survives_restart(h: Harness) -> None:
    share = {A + "allow-shared-ip": "default"}
    h.apply(pool("p", "198.51.100.240-198.51.100.244"), l2())
    h.apply(service("x1"))
    h.apply(service("nginx-80", annotations=share, selector={"app": "nginx"}))
    h.apply(
        service("nginx-8080", annotations=share, selector={"app": "nginx"}, ports=[(8080, "TCP")])
    )
    h.apply(service("x2"))
    expect = {
        "demo/x1": ["198.51.100.240"],
        "demo/nginx-80": ["198.51.100.241"],
        "demo/nginx-8080": ["198.51.100.241"],
        "demo/x2": ["198.51.100.242"],
    }
    assert h.all_ips() == expect
    writes = h.service_writes()
    h.start()
    h.start()
    assert h.all_ips() == expect
    h.delete("Service", "x1", ns=APP_NS)
    h.start()
    del expect["demo/x1"]
    assert h.all_ips() == expect
    assert h.service_writes() == writes


def test_lb_class_filter() -> None:
    h = Harness(lb_class="ingot")
    h.apply(pool("p", "198.51.100.10/31"), l2())
    h.apply(service("mine", lb_class="ingot"), service("theirs", lb_class="other"), service("none"))
    assert h.ips("mine") == ["198.51.100.10"]
    assert h.svc("theirs").get("status") in (None, {}, {"loadBalancer": {}})
    assert h.svc("none").get("status") in (None, {}, {"loadBalancer": {}})
    assert "conditions" not in (h.svc("none").get("status") or {})


def test_pool_status_counters_and_manual_edit_reverted(h: Harness) -> None:
    h.apply(pool("p", "198.51.100.10/31", "2001:db8::/64"), l2())
    h.apply(service("a"), service("b", families=("IPv6",)))
    status = h.fs.get(src.IP_ADDRESS_POOL, "p", namespace=NS)["status"]
    assert status == {
        "assignedIPv4": 1,
        "assignedIPv6": 1,
        "availableIPv4": 1,
        "availableIPv6": 2**63 - 1,
    }
    h.fs.replace_status(
        src.IP_ADDRESS_POOL,
        {**h.fs.get(src.IP_ADDRESS_POOL, "p", namespace=NS), "status": {"assignedIPv4": 99}},
        namespace=NS,
    )
    h._add("\x00pools")
    h.settle()
    assert h.fs.get(src.IP_ADDRESS_POOL, "p", namespace=NS)["status"] == status


def test_conflict_on_write_is_retried_without_double_allocation(h: Harness) -> None:
    from ingot import errors

    h.apply(pool("p", "198.51.100.10/31"), l2())
    h.fs.fail_next(errors.Conflict("stale"), verbs=("replace_status",), kinds=(src.SERVICE,))
    with pytest.raises(errors.Conflict):
        h.apply(service("a"))
    h._add("demo/a")
    h.settle()
    assert h.ips("a") == ["198.51.100.10"]


# -- MetalLB e2e "IP assignment" table (reference §7), run in both tiers ----------------------


def test_e2e_preserve_ips_across_restart(h: Harness) -> None:
    h.apply(pool("p", "198.51.100.10-198.51.100.20"), l2())
    for i in range(4):
        h.apply(service(f"s{i}"))
    before = h.all_ips()
    h.start()
    assert h.all_ips() == before


def test_e2e_removes_all_pools(h: Harness) -> None:
    h.apply(pool("p", "198.51.100.10/31"), l2())
    h.apply(service("a"))
    assert h.ips("a") == ["198.51.100.10"]
    h.delete("IPAddressPool", "p", ns=NS)
    assert h.ips("a") == []
    assert st.POOL_ANNOTATION not in (h.svc("a")["metadata"].get("annotations") or {})
    assert h.condition("a")["reason"] == "NoPools"


def test_e2e_reallocates_after_deleting_a_pool(h: Harness) -> None:
    h.apply(pool("first", "198.51.100.10/32"), pool("second", "198.51.100.20/32"), l2())
    h.apply(service("a"))
    held = h.ips("a")
    other = "second" if h.pool_of("a") == "first" else "first"
    h.delete("IPAddressPool", h.pool_of("a"), ns=NS)
    assert h.ips("a") != held
    assert h.pool_of("a") == other


def test_e2e_service_allocation_namespace_and_labels(h: Harness) -> None:
    h.apply(
        namespace("team-a", team="a"),
        namespace("team-b"),
    )
    h.apply(
        pool("by-ns", "198.51.100.10/32", serviceAllocation={"namespaces": ["team-b"]}),
        pool("by-ns-label", "198.51.100.20/32",
             serviceAllocation={"namespaceSelectors": [{"matchLabels": {"team": "a"}}]}),
        pool("by-svc-label", "198.51.100.30/32",
             serviceAllocation={"serviceSelectors": [{"matchLabels": {"tier": "gold"}}]}),
        pool("generic", "198.51.100.40/32"),
        l2(),
    )  # fmt: skip
    h.apply(service("b", ns="team-b"))
    h.apply(service("a", ns="team-a"))
    h.apply(service("g", labels={"tier": "gold"}))
    h.apply(service("plain"))
    assert h.pool_of("b", ns="team-b") == "by-ns"
    assert h.pool_of("a", ns="team-a") == "by-ns-label"
    assert h.pool_of("g") == "by-svc-label"
    assert h.pool_of("plain") == "generic"


def test_e2e_namespace_relabel_reconsiders_pending(h: Harness) -> None:
    h.apply(namespace("team-c"))
    h.apply(
        pool("labelled", "198.51.100.20/32",
             serviceAllocation={"namespaceSelectors": [{"matchLabels": {"team": "c"}}]}),
        l2(),
    )  # fmt: skip
    h.apply(service("c", ns="team-c"))
    assert h.ips("c", ns="team-c") == []
    h.apply(namespace("team-c", team="c"))
    assert h.ips("c", ns="team-c") == ["198.51.100.20"]


def test_e2e_prefer_dual_stack_prefers_dual_pool(h: Harness) -> None:
    h.apply(
        pool("v4only", "198.51.100.10/32"),
        pool("dual", "198.51.100.20/32", "2001:db8:20::/126"),
        l2(),
    )
    h.apply(service("d", families=("IPv4", "IPv6"), policy="PreferDualStack"))
    assert h.pool_of("d") == "dual"
    assert sorted(h.ips("d")) == ["198.51.100.20", "2001:db8:20::"]


def test_e2e_prefer_dual_gets_missing_family_when_pool_becomes_dual(h: Harness) -> None:
    h.apply(pool("p", "198.51.100.10/32"), l2())
    h.apply(service("d", families=("IPv4", "IPv6"), policy="PreferDualStack"))
    assert h.ips("d") == ["198.51.100.10"]
    h.apply(pool("p", "198.51.100.10/32", "2001:db8:30::/126"))
    assert h.ips("d") == ["198.51.100.10", "2001:db8:30::"]


def test_e2e_require_dual_stack_pending_without_dual_pool(h: Harness) -> None:
    h.apply(pool("p", "198.51.100.10/32"), l2())
    h.apply(service("r", families=("IPv4", "IPv6"), policy="RequireDualStack"))
    assert h.ips("r") == []
    assert h.events_for("r")[-1][0] == "AllocationFailed"


def test_e2e_pool_status_dual_stack_lifecycle(h: Harness) -> None:
    def status() -> dict:
        return h.fs.get(src.IP_ADDRESS_POOL, "p", namespace=NS).get("status") or {}

    h.apply(pool("p", "198.51.100.10/31", "2001:db8:40::/127"), l2())
    assert status() == {
        "assignedIPv4": 0,
        "assignedIPv6": 0,
        "availableIPv4": 2,
        "availableIPv6": 2,
    }
    h.apply(service("d", families=("IPv4", "IPv6"), policy="RequireDualStack"))
    assert status() == {
        "assignedIPv4": 1,
        "assignedIPv6": 1,
        "availableIPv4": 1,
        "availableIPv6": 1,
    }
    h.apply(pool("p", "198.51.100.10/30", "2001:db8:40::/127"))
    assert status()["availableIPv4"] == 3
    h.delete("Service", "d")
    assert status() == {
        "assignedIPv4": 0,
        "assignedIPv6": 0,
        "availableIPv4": 4,
        "availableIPv6": 2,
    }


def test_c39_pool_metrics_with_deletion_and_sharing(h: Harness) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def gauge(name: str) -> float | None:
        for fam in text_string_to_metric_families(h.metrics.exposition().decode()):
            for s in fam.samples:
                if s.name == name and s.labels.get("pool") == "default":
                    return s.value
        return None

    share = {A + "allow-shared-ip": "s"}
    h.apply(pool("default", "198.51.100.0/29", avoidBuggyIPs=True), l2())
    h._add("\x00pools")
    h.settle()
    assert gauge("metallb_allocator_addresses_total") == 7
    assert gauge("metallb_allocator_addresses_in_use_total") == 0
    h.apply(service("test-1", ports=[(5001, "TCP")]), service("test-2", ports=[(5001, "TCP")]))
    assert gauge("metallb_allocator_addresses_in_use_total") == 2
    h.delete("Service", "test-1")
    h.delete("Service", "test-2")
    assert gauge("metallb_allocator_addresses_in_use_total") == 0
    h.apply(
        service("shared-1", annotations=share, lb_ip="198.51.100.5", ports=[(5001, "TCP")]),
        service("shared-2", annotations=share, lb_ip="198.51.100.5", ports=[(5002, "TCP")]),
    )
    assert h.ips("shared-1") == h.ips("shared-2") == ["198.51.100.5"]
    assert gauge("metallb_allocator_addresses_in_use_total") == 1
    assert gauge("metallb_allocator_services_allocated_total") == 2


def test_configuration_state_self_heals(h: Harness) -> None:
    h.apply(pool("p", "198.51.100.10/31"), l2())
    assert (
        h.fs.get(rec.CONFIGURATION_STATE, "controller", namespace=NS)["status"]["result"] == "Valid"
    )
    h.fs.delete(rec.CONFIGURATION_STATE, "controller", namespace=NS)
    h.rec.republish = True  # what the ConfigurationState informer's delete handler does
    h._add("\x00config")
    h.settle()
    state = h.fs.get(rec.CONFIGURATION_STATE, "controller", namespace=NS)
    assert state["status"]["result"] == "Valid"
    assert state["metadata"]["labels"] == {"metallb.io/component-type": "controller"}


def test_invalid_service_is_pending_with_field_path(h: Harness) -> None:
    h.apply(pool("p", "198.51.100.10/31"), l2())
    h.apply(
        service("both", lb_ip="198.51.100.10", annotations={A + "loadBalancerIPs": "198.51.100.11"})
    )
    assert h.ips("both") == []
    cond = h.condition("both")
    assert (cond["status"], cond["reason"]) == ("False", "InvalidService")
    assert "Service demo/both" in cond["message"]
    assert h.events_for("both")[0][0] == "AllocationFailed"


def test_type_change_back_and_forth(h: Harness) -> None:
    h.apply(pool("p", "198.51.100.10/31"), l2())
    h.apply(service("a"))
    h.edit_service("a", lambda s: s["spec"].update(type="ClusterIP"))
    assert h.ips("a") == []
    assert h.condition("a") is None
    h.edit_service("a", lambda s: s["spec"].update(type="LoadBalancer"))
    assert h.ips("a") == ["198.51.100.10"]


def test_e2e_prefer_dual_does_not_jump_to_new_dual_pool(h: Harness) -> None:
    h.apply(pool("v4only", "198.51.100.10/32"), l2())
    h.apply(service("d", families=("IPv4", "IPv6"), policy="PreferDualStack"))
    assert h.ips("d") == ["198.51.100.10"]
    writes = h.service_writes()
    h.apply(pool("dual", "198.51.100.20/32", "2001:db8:50::/126"))
    assert h.ips("d") == ["198.51.100.10"]
    assert h.pool_of("d") == "v4only"
    assert h.service_writes() == writes


def test_e2e_prefer_dual_primary_family_from_ip_families(h: Harness) -> None:
    h.apply(pool("v6only", "2001:db8:60::/126"), pool("v4only", "198.51.100.10/32"), l2())
    h.apply(service("d", families=("IPv6", "IPv4"), policy="PreferDualStack"))
    assert h.ips("d") == ["2001:db8:60::"]


def test_c36_aggregation_config_invalid_in_either_order(h: Harness) -> None:
    agg = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": {"name": "agg", "namespace": NS},
        "spec": {"ipAddressPools": ["lb"], "aggregationLength": 24},
    }
    h.apply(agg)
    h.apply(pool("lb", "203.0.113.1-203.0.113.126", "203.0.113.129-203.0.113.254"))
    state = h.fs.get(rec.CONFIGURATION_STATE, "controller", namespace=NS)["status"]
    assert state["result"] == "Invalid"
    assert "aggregationLength" in state["errorSummary"]
    h.apply(pool("lb", "203.0.113.0/24", avoidBuggyIPs=True))
    state = h.fs.get(rec.CONFIGURATION_STATE, "controller", namespace=NS)["status"]
    assert state["result"] == "Valid"
    h.apply(service("one"))
    assert h.ips("one") == ["203.0.113.1"]


def test_e2e_reconsider_when_holder_sharing_changes(h: Harness) -> None:
    h.apply(pool("p", "198.51.100.10/32"), l2())
    h.apply(service("holder", annotations={A + "allow-shared-ip": "k1"}))
    h.apply(service("waiter", annotations={A + "allow-shared-ip": "k2"}, ports=[(443, "TCP")]))
    assert h.ips("waiter") == []
    h.edit_service(
        "holder", lambda s: s["metadata"]["annotations"].update({A + "allow-shared-ip": "k2"})
    )
    assert h.ips("holder") == ["198.51.100.10"]
    assert h.ips("waiter") == ["198.51.100.10"]


def test_pending_reason_says_the_configuration_is_invalid(h: Harness) -> None:
    """A Pending Service whose fix waits on an invalid config is told so (not just "no pool")."""
    h.apply(service("web"))
    assert h.events_for("web") == [("AllocationFailed", "no IPAddressPool is configured")]
    h.apply(pool("bad", "198.51.100.300/32"))
    cond = h.condition("web")
    assert cond["reason"] == "NoPools"
    assert "the current configuration is invalid" in cond["message"]
    assert "IPAddressPool" in cond["message"]
    assert "/bad" in cond["message"]
    h.delete("IPAddressPool", "bad", ns=NS)
    assert h.condition("web")["message"] == "no IPAddressPool is configured"


def test_no_pool_yet_keeps_the_ips_services_show() -> None:
    """Installed before its pools (or pointed at the wrong namespace), the controller must not
    clear every Service's IP (MetalLB does); once the pool exists, the same IPs are restored."""
    h = Harness()
    h.apply(pool("main", "198.51.100.240-198.51.100.243"), l2())
    h.apply(service("svc-a"))
    h.apply(service("svc-b"))
    assert h.ips("svc-b") == ["198.51.100.241"]
    # Reinstall while the controller is down; the pools are applied after it starts.
    h.fs.delete(src.IP_ADDRESS_POOL, "main", namespace=NS)
    h.fs.delete(src.L2_ADVERTISEMENT, "l2", namespace=NS)
    h.start()  # restart with no pool at all
    writes = h.service_writes()
    assert h.ips("svc-a") == ["198.51.100.240"]
    assert h.ips("svc-b") == ["198.51.100.241"]
    h.apply(service("svc-new"))
    assert h.condition("svc-new")["reason"] == "NoPools"
    h.apply(pool("main", "198.51.100.240-198.51.100.243"))
    assert h.ips("svc-a") == ["198.51.100.240"]
    assert h.ips("svc-b") == ["198.51.100.241"]
    assert h.ips("svc-new") == ["198.51.100.242"]
    assert h.service_writes() - writes == 2  # svc-new: Pending, then its IP; a and b untouched
