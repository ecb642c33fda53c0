"""Pure L2 placement (ingot.api.l2): eligibility, ranking, reasons, cases C14/C15/C17/C21."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingot.api import l2
from ingot.api.l2 import (
    EXCLUDE_LB_LABEL,
    IPReason,
    L2Ad,
    Member,
    MemberState,
    NodeReason,
    NodeView,
    Preference,
    ServiceView,
)


@dataclass(frozen=True)
class Sel:
    """matchLabels-only selector (stands in for ipam.selectors.LabelSelector)."""

    labels: Mapping[str, str] = field(default_factory=dict)

    def matches(self, labels: Mapping[str, str], /) -> bool:
        return all(labels.get(k) == v for k, v in self.labels.items())


NODES = ("node-a", "node-b", "node-c")
IP4 = "198.51.100.210"
IP6 = "2001:db8:10::10"


def hashed_order(ip: str, nodes=NODES) -> list[str]:
    return sorted(nodes, key=lambda n: hashlib.sha256(f"{n}#{ip}".encode()).digest())


def views(labels: Mapping[str, Mapping[str, str]] | None = None, **flags) -> dict:
    labels = labels or {}
    return {
        n: NodeView(n, labels.get(n, {}), network_unavailable=n in flags.get("nu", ()))
        for n in NODES
    }


def live(*names: str, **states: MemberState) -> dict[str, Member]:
    out = {n: Member() for n in (names or NODES)}
    for n, s in states.items():
        out[n.replace("_", "-")] = Member(s)
    return out


def svc(**kw) -> ServiceView:
    kw.setdefault("key", "demo/web")
    kw.setdefault("pool", "p")
    return ServiceView(**kw)


AD = L2Ad("metallb-system/l2", frozenset({"p"}))


def place(services, ads=(AD,), nodes=None, members=None, ip=IP4, **kw):
    return l2.place_ip(
        ip=ip,
        services=services,
        advertisements=list(ads),
        nodes=nodes or views(),
        members=members if members is not None else live(),
        **kw,
    )


def test_rank_is_metallb_hash_order():
    for ip in (IP4, IP6, "203.0.113.7"):
        assert place([svc()], ip=ip).candidates == tuple(hashed_order(ip))


def test_ipv6_is_hashed_in_canonical_form():
    long = "2001:0db8:0010:0000:0000:0000:0000:0010"
    assert place([svc()], ip=long).ip == IP6
    assert place([svc()], ip=long).candidates == tuple(hashed_order(IP6))


@pytest.mark.parametrize(
    ("services", "ads", "reason"),
    [
        pytest.param([], (AD,), IPReason.NO_SERVICE, id="no-service"),
        pytest.param([svc(pool=None)], (AD,), IPReason.NO_POOL, id="no-pool"),
        pytest.param([svc()], (), IPReason.NO_ADVERTISEMENT, id="C14-no-l2advertisement"),
        pytest.param(
            [svc()],
            (L2Ad("x/other", frozenset({"q"})),),
            IPReason.NO_ADVERTISEMENT,
            id="ad-for-other-pool",
        ),
        pytest.param(
            [svc(labels={"app": "x"})],
            (L2Ad("x/l2", frozenset({"p"}), service_selectors=(Sel({"app": "web"}),)),),
            IPReason.SERVICE_SELECTORS,
            id="service-selector-mismatch",
        ),
        pytest.param(
            [svc(labels={"app": "web"}, shared=True)],
            (L2Ad("x/l2", frozenset({"p"}), service_selectors=(Sel({"app": "web"}),)),),
            IPReason.SHARED_WITH_SERVICE_SELECTOR,
            id="shared-ip-with-service-selector",
        ),
        pytest.param(
            [svc(has_serving_endpoint=False)], (AD,), IPReason.NO_SERVING_ENDPOINT, id="no-endpoint"
        ),
    ],
)
def test_ip_not_announced_reasons(services, ads, reason):
    p = place(services, ads)
    assert p.owner is None
    assert p.reason is reason
    assert all(not v.eligible for v in p.verdicts.values())


@pytest.mark.parametrize(
    ("nodes", "members", "service", "ads", "expect"),
    [
        pytest.param(
            views({"node-a": {EXCLUDE_LB_LABEL: ""}}),
            live(),
            svc(),
            (AD,),
            {"node-a": NodeReason.EXCLUDED_BY_LABEL},
            id="C15-exclude-label",
        ),
        pytest.param(
            views(nu=("node-b",)),
            live(),
            svc(),
            (AD,),
            {"node-b": NodeReason.NETWORK_UNAVAILABLE},
            id="network-unavailable",
        ),
        pytest.param(
            views(),
            live("node-a", "node-b"),
            svc(),
            (AD,),
            {"node-c": NodeReason.NOT_MEMBER},
            id="no-speaker",
        ),
        pytest.param(
            views(),
            live(node_c=MemberState.FENCED, node_b=MemberState.HELD_DOWN),
            svc(),
            (AD,),
            {"node-c": NodeReason.FENCED, "node-b": NodeReason.HELD_DOWN},
            id="fenced-and-held-down",
        ),
        pytest.param(
            views(),
            live(),
            svc(etp_local=True, serving_nodes=frozenset({"node-b"})),
            (AD,),
            {"node-a": NodeReason.NO_LOCAL_ENDPOINT, "node-c": NodeReason.NO_LOCAL_ENDPOINT},
            id="etp-local",
        ),
        pytest.param(
            views({"node-a": {"role/infra": "true"}, "node-b": {"role/infra": "true"}}),
            live(),
            svc(),
            (L2Ad("x/l2", frozenset({"p"}), node_selectors=(Sel({"role/infra": "true"}),)),),
            {"node-c": NodeReason.NOT_SELECTED},
            id="C17-node-selector",
        ),
        pytest.param(
            views(),
            {
                "node-a": Member(up_interfaces=frozenset({"eth1"})),
                "node-b": Member(up_interfaces=frozenset({"eth0"})),
                "node-c": Member(up_interfaces=frozenset()),
            },
            svc(),
            (L2Ad("x/l2", frozenset({"p"}), interfaces=("eth0",)),),
            {"node-a": NodeReason.NO_INTERFACE, "node-c": NodeReason.NO_INTERFACE},
            id="interface-missing-or-link-down",
        ),
        pytest.param(
            {n: v for n, v in views().items() if n != "node-a"},
            live(),
            svc(),
            (AD,),
            {"node-a": NodeReason.UNKNOWN_NODE},
            id="member-without-node-object",
        ),
    ],
)
def test_node_verdicts(nodes, members, service, ads, expect):
    p = place([service], ads, nodes=nodes, members=members)
    for node in NODES:
        want = expect.get(node, NodeReason.ELIGIBLE)
        assert p.verdicts[node].reason is want, node
    eligible = [n for n in NODES if n not in expect]
    assert p.candidates == tuple(hashed_order(IP4, eligible))
    assert p.reason is (None if eligible else IPReason.NO_ELIGIBLE_NODE)


def test_c15_exclude_label_ignored_by_flag():
    nodes = views({"node-a": {EXCLUDE_LB_LABEL: ""}})
    p = place([svc()], nodes=nodes, ignore_exclude_lb=True)
    assert p.verdicts["node-a"].eligible


def test_c15_steps():
    # two-node cluster, pod on node-a, node-a excluded
    nodes = {n: v for n, v in views({"node-a": {EXCLUDE_LB_LABEL: ""}}).items() if n != "node-c"}
    members = live("node-a", "node-b")
    s = svc(serving_nodes=frozenset({"node-a"}))
    assert place([s], nodes=nodes, members=members).owner == "node-b"
    local = svc(etp_local=True, serving_nodes=frozenset({"node-a"}))
    p = place([local], nodes=nodes, members=members)
    assert p.owner is None
    assert p.reason is IPReason.NO_ELIGIBLE_NODE
    assert p.verdicts["node-b"].reason is NodeReason.NO_LOCAL_ENDPOINT
    assert place([local], nodes=nodes, members=members, ignore_exclude_lb=True).owner == "node-a"


def test_c17_selector_steps():
    ad = L2Ad("x/qa-l2", frozenset({"qa"}), node_selectors=(Sel({"role/infra": "true"}),))
    labels = {"node-a": {"role/infra": "true"}, "node-b": {"role/infra": "true"}}
    s = svc(key="qa/gateway", pool="qa", shared=True, serving_nodes=frozenset({"node-c"}))
    first = place([s], (ad,), nodes=views(labels))
    assert first.owner in {"node-a", "node-b"}
    labels.pop(first.owner)
    second = place([s], (ad,), nodes=views(labels))
    assert second.owner is not None
    assert second.owner != first.owner
    assert second.owner != "node-c"
    third = place([s], (ad,), nodes=views({}))
    assert third.owner is None
    assert third.reason is IPReason.NO_ELIGIBLE_NODE


def test_preference_scores_sum_across_ads_and_beat_hash():
    loser = hashed_order(IP4)[-1]
    prefer = Preference(50, Sel({"fast": "yes"}))
    ads = (
        L2Ad("x/a", frozenset({"p"}), preferences=(prefer,)),
        L2Ad("x/b", frozenset({"p"}), preferences=(Preference(10, Sel({"fast": "yes"})),)),
    )
    p = place([svc()], ads, nodes=views({loser: {"fast": "yes"}}))
    assert p.owner == loser
    assert p.verdicts[loser].score == 60


def test_preference_only_counts_where_node_selectors_admit():
    target = hashed_order(IP4)[-1]
    ads = (
        L2Ad(
            "x/a",
            frozenset({"p"}),
            node_selectors=(Sel({"zone": "1"}),),
            preferences=(Preference(100, Sel({})),),
        ),
        AD,
    )
    p = place([svc()], ads, nodes=views({target: {"zone": "1"}}))
    assert p.owner == target
    assert {v.score for n, v in p.verdicts.items() if n != target} == {0}


def test_interfaces_union_and_all():
    a = L2Ad("x/a", frozenset({"p"}), interfaces=("eth0",))
    b = L2Ad("x/b", frozenset({"p"}), interfaces=("eth1",))
    p = place([svc()], (a, b))
    assert {v.interfaces for v in p.verdicts.values()} == {frozenset({"eth0", "eth1"})}
    p = place([svc()], (a, AD))
    assert {v.interfaces for v in p.verdicts.values()} == {None}


def test_shared_ip_has_one_owner_from_intersection():
    # two Services share the IP; ETP Local one has endpoints on node-a and node-b only
    s1 = svc(key="demo/tcp")
    s2 = svc(key="demo/udp", etp_local=True, serving_nodes=frozenset({"node-a", "node-b"}))
    p = place([s1, s2])
    assert set(p.candidates) == {"node-a", "node-b"}
    assert p.services == ("demo/tcp", "demo/udp")
    assert p.verdicts["node-c"].service == "demo/udp"


def test_shared_ip_sibling_without_endpoints_is_ignored():
    p = place([svc(key="demo/a"), svc(key="demo/b", has_serving_endpoint=False)])
    assert p.owner is not None
    assert p.services == ("demo/a",)


def test_removing_a_non_owner_moves_nothing_and_adding_moves_only_to_new_node():
    base = place([svc()], members=live("node-a", "node-b", "node-c"))
    owner = base.owner
    for other in NODES:
        if other == owner:
            continue
        members = {n: Member() for n in NODES if n != other}
        assert place([svc()], members=members).owner == owner
    two = place([svc()], members=live("node-a", "node-b"))
    assert base.owner in {two.owner, "node-c"}


def test_place_all_and_owned_by():
    placements = l2.place_all(
        services_by_ip={IP4: [svc()], IP6: [svc(key="demo/v6")]},
        advertisements=[AD],
        nodes=views(),
        members=live(),
    )
    assert set(placements) == {IP4, IP6}
    owned = {ip for n in NODES for ip in l2.owned_by(placements, n)}
    assert owned == {IP4, IP6}


def test_invalid_ip_raises():
    with pytest.raises(ValueError):
        place([svc()], ip="not-an-ip")


# --- properties -----------------------------------------------------------------------------

node_names = st.lists(
    st.text("abcdefghij-", min_size=1, max_size=6), min_size=1, max_size=6, unique=True
)
ips = st.one_of(
    st.integers(0, 255).map(lambda i: f"198.51.100.{i}"),
    st.integers(0, 0xFFFF).map(lambda i: f"2001:db8::{i:x}"),
)


@settings(max_examples=150, deadline=None)
@given(names=node_names, ip=ips, seed=st.integers(0, 10_000), data=st.data())
def test_property_order_independent_and_deterministic(names, ip, seed, data):
    labels = {n: {"z": data.draw(st.sampled_from(["1", "2"]))} for n in names}
    states = {n: data.draw(st.sampled_from(list(MemberState))) for n in names}
    ads = [
        L2Ad("x/a", frozenset({"p"}), preferences=(Preference(30, Sel({"z": "1"})),)),
        L2Ad("x/b", frozenset({"p"}), node_selectors=(Sel({"z": "2"}),)),
    ]
    services = [svc(key=f"demo/s{i}") for i in range(3)]
    nodes = {n: NodeView(n, labels[n]) for n in names}
    members = {n: Member(states[n]) for n in names}
    first = place(services, ads, nodes=nodes, members=members, ip=ip)

    rnd = random.Random(seed)
    names2 = list(names)
    rnd.shuffle(names2)
    rnd.shuffle(ads)
    rnd.shuffle(services)
    nodes2 = {n: nodes[n] for n in names2}
    members2 = {n: members[n] for n in names2}
    second = place(services, ads, nodes=nodes2, members=members2, ip=ip)
    assert first == second
    live_names = {n for n in names if states[n] is MemberState.LIVE}
    assert set(first.candidates) == live_names
    # score then hash order
    keys = [(-first.verdicts[n].score, l2.rank_key(n, first.ip)) for n in first.candidates]
    assert keys == sorted(keys)


@settings(max_examples=100, deadline=None)
@given(names=node_names, ip=ips)
def test_property_owner_stable_when_non_owner_leaves(names, ip):
    nodes = {n: NodeView(n) for n in names}
    full = place([svc()], nodes=nodes, members={n: Member() for n in names}, ip=ip)
    for gone in names:
        if gone == full.owner:
            continue
        members = {n: Member() for n in names if n != gone}
        assert place([svc()], nodes=nodes, members=members, ip=ip).owner == full.owner


# --- raw objects -> views ----------------------------------------------------------------


def raw_svc(name="web", *, ips=("198.51.100.210",), etp="Cluster", ann=None, labels=None, cls=None):
    spec = {"type": "LoadBalancer", "externalTrafficPolicy": etp}
    if cls:
        spec["loadBalancerClass"] = cls
    return {
        "metadata": {
            "name": name,
            "namespace": "demo",
            "annotations": ann or {},
            "labels": labels or {},
        },
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}},
    }


def raw_slice(*eps):
    return {"endpoints": [{"nodeName": n, "conditions": c} for n, c in eps]}


def test_service_views_by_ip_from_raw():
    services = [
        raw_svc("a", ips=("198.51.100.210", "2001:0db8::1"), etp="Local", labels={"x": "1"}),
        raw_svc("b", ann={"metallb.universe.tf/allow-shared-ip": "k", l2.POOL_ANNOTATION: "q"}),
        raw_svc("classed", cls="other"),
        raw_svc("pending", ips=()),
        {"metadata": {"name": "cip", "namespace": "demo"}, "spec": {"type": "ClusterIP"}},
    ]
    slices = {
        "demo/a": [
            raw_slice(
                ("node-a", {"ready": True}),
                ("node-b", {"ready": False, "serving": True}),
                ("node-c", {"ready": False}),
            )
        ],
        "demo/b": [raw_slice(("node-a", {"ready": False, "serving": False}))],
    }
    got = l2.service_views_by_ip(
        services=services, slices_by_service=slices, pool_of=lambda ip: "p"
    )
    assert sorted(got) == ["198.51.100.210", "2001:db8::1"]
    a = next(v for v in got["198.51.100.210"] if v.key == "demo/a")
    assert a.etp_local
    assert a.serving_nodes == {"node-a", "node-b"}
    assert a.pool == "p"
    assert a.labels == {"x": "1"}
    b = next(v for v in got["198.51.100.210"] if v.key == "demo/b")
    assert b.shared
    assert b.pool == "q"
    assert not b.has_serving_endpoint


def test_endpoint_without_conditions_serves():
    assert l2.serving_endpoints([raw_slice(("n", {}))]) == (True, frozenset({"n"}))


def test_node_view_from_raw():
    raw = {
        "metadata": {"name": "node-a", "labels": {EXCLUDE_LB_LABEL: ""}},
        "status": {"conditions": [{"type": "NetworkUnavailable", "status": "True"}]},
    }
    v = l2.node_view(raw)
    assert v.name == "node-a"
    assert v.network_unavailable
    assert EXCLUDE_LB_LABEL in v.labels
