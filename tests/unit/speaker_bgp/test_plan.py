"""Table-driven tests of the pure BGP advertisement planner (ingot.api.bgp)."""

from __future__ import annotations

import copy
import ipaddress
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pytest

from ingot.api import bgp
from ingot.api.bgp import (
    BgpAdvertisementSpec,
    BgpPeerSpec,
    EndpointInfo,
    LargeCommunity,
    NodeInfo,
    ServiceInfo,
    StandardCommunity,
)


@dataclass(frozen=True)
class Labels:
    """A matchLabels-only selector for tests (LabelSelector semantics for this subset)."""

    match: Mapping[str, str] = field(default_factory=dict)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match.items())


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


NODES = {
    "node-a": NodeInfo(
        "node-a", {"zone": "a"}, addresses=(ip("198.51.100.11"), ip("2001:db8::11"))
    ),
    "node-b": NodeInfo(
        "node-b", {"zone": "b"}, addresses=(ip("198.51.100.12"), ip("2001:db8::12"))
    ),
    "node-c": NodeInfo(
        "node-c", {"zone": "c"}, addresses=(ip("198.51.100.13"), ip("2001:db8::13"))
    ),
}
ROUTER_A = BgpPeerSpec("router-a", 64512, 64500, ip("198.51.100.1"))
ROUTER_B = BgpPeerSpec("router-b", 64512, 64500, ip("198.51.100.2"))
ROUTER_6 = BgpPeerSpec("router-6", 64512, 64500, ip("2001:db8::1"))
IBGP = BgpPeerSpec("ibgp", 64512, 64512, ip("198.51.100.3"))
ADV = BgpAdvertisementSpec("bgp", pools=frozenset({"bgp"}))
WEB = ServiceInfo("demo/web", (ip("203.0.113.16"),), "bgp")
SERVING_C = (EndpointInfo("node-c"),)


def plan(
    *,
    peers=(ROUTER_A,),
    advs=(ADV,),
    services=(WEB,),
    endpoints=None,
    nodes=NODES,
    node="node-a",
):
    eps = {"demo/web": SERVING_C} if endpoints is None else endpoints
    return bgp.plan_advertisements(
        peers=peers,
        advertisements=advs,
        services=services,
        endpoints=eps,
        nodes=nodes,
        node_name=node,
    )


def prefixes(p: bgp.BgpPlan) -> set[tuple[str, str]]:
    return {(str(r.prefix), r.peer) for r in p.routes}


# ------------------------------------------------------------------ traffic policy (C27, C29)


@pytest.mark.parametrize(
    ("policy", "endpoints", "node", "announced", "reason"),
    [
        pytest.param("Cluster", SERVING_C, "node-a", True, None, id="c29-cluster-any-node"),
        pytest.param("Cluster", SERVING_C, "node-c", True, None, id="cluster-endpoint-node"),
        pytest.param("Local", SERVING_C, "node-c", True, None, id="c29-local-endpoint-node"),
        pytest.param("Local", SERVING_C, "node-a", False, "noLocalEndpoints", id="c29-local-other"),
        pytest.param("Cluster", (), "node-a", False, "noEndpoints", id="c27-cluster-no-endpoints"),
        pytest.param("Local", (), "node-c", False, "noEndpoints", id="c27-local-no-endpoints"),
        pytest.param(
            "Cluster",
            (EndpointInfo("node-c", ready=False),),
            "node-a",
            False,
            "noEndpoints",
            id="c27-not-ready",
        ),
        pytest.param(
            "Cluster",
            (EndpointInfo("node-c", ready=False, serving=True),),
            "node-a",
            True,
            None,
            id="serving-while-terminating",
        ),
        pytest.param(
            "Local",
            (EndpointInfo("node-a", ready=True, serving=False), EndpointInfo("node-c")),
            "node-a",
            False,
            "noLocalEndpoints",
            id="local-endpoint-not-serving",
        ),
        pytest.param(
            "Cluster",
            (EndpointInfo("node-c", has_addresses=False),),
            "node-a",
            False,
            "noEndpoints",
            id="endpoint-without-addresses",
        ),
    ],
)
def test_traffic_policy(policy, endpoints, node, announced, reason):
    svc = replace(WEB, external_traffic_policy=policy)
    p = plan(services=(svc,), endpoints={"demo/web": endpoints}, node=node)
    assert bool(p.routes) is announced
    assert p.not_announced.get("demo/web") == reason


def test_c29_local_next_hops_across_nodes():
    """C29 step 4: Local with pods on node-a and node-b -> exactly those two announce."""
    svc = replace(WEB, external_traffic_policy="Local")
    eps = {"demo/web": (EndpointInfo("node-a"), EndpointInfo("node-b"))}
    announcing = {n for n in NODES if plan(services=(svc,), endpoints=eps, node=n).routes}
    assert announcing == {"node-a", "node-b"}


# ------------------------------------------------------------------ node eligibility


@pytest.mark.parametrize(
    ("node_info", "reason"),
    [
        pytest.param(
            replace(NODES["node-a"], network_unavailable=True),
            "nodeNetworkUnavailable",
            id="network-unavailable",
        ),
        pytest.param(
            replace(NODES["node-a"], labels={bgp.EXCLUDE_LB_LABEL: ""}),
            "nodeLabeledExcludeBalancers",
            id="exclude-label",
        ),
    ],
)
def test_node_not_eligible(node_info, reason):
    p = plan(nodes={**NODES, "node-a": node_info})
    assert p.routes == frozenset()
    assert p.not_announced == {"demo/web": reason}


def test_unknown_node_announces_nothing():
    p = plan(node="node-x")
    assert p.routes == frozenset()
    assert p.not_announced == {"demo/web": "nodeNotFound"}


# ------------------------------------------------------------------ peers restriction (C26)


@pytest.mark.parametrize(
    ("adv_peers", "expected"),
    [
        pytest.param((), {"router-a", "router-b"}, id="c26-empty-means-all"),
        pytest.param(("router-a", "router-b"), {"router-a", "router-b"}, id="c26-both-listed"),
        pytest.param(("router-a",), {"router-a"}, id="c26-one-listed"),
        pytest.param(("router-z",), set(), id="unknown-name-matches-nothing"),
    ],
)
def test_peers_restriction(adv_peers, expected):
    p = plan(peers=(ROUTER_A, ROUTER_B), advs=(replace(ADV, peers=adv_peers),))
    assert {r.peer for r in p.routes} == expected
    assert {str(r.prefix) for r in p.routes} <= {"203.0.113.16/32"}
    if not expected:
        assert p.not_announced == {"demo/web": "noPeers"}
    else:
        assert p.peers_by_service == {"demo/web": frozenset(expected)}


def test_peer_node_selectors_limit_sessions():
    only_b = replace(ROUTER_B, node_selectors=(Labels({"zone": "b"}),))
    assert {r.peer for r in plan(peers=(ROUTER_A, only_b)).routes} == {"router-a"}
    assert {r.peer for r in plan(peers=(ROUTER_A, only_b), node="node-b").routes} == {
        "router-a",
        "router-b",
    }


# ------------------------------------------------------------------ selectors and pools


@pytest.mark.parametrize(
    ("adv", "svc", "announced"),
    [
        pytest.param(ADV, WEB, True, id="pool-matches"),
        pytest.param(replace(ADV, pools=frozenset({"other"})), WEB, False, id="other-pool"),
        pytest.param(ADV, replace(WEB, pool=None), False, id="service-pool-unknown"),
        pytest.param(
            replace(ADV, node_selectors=(Labels({"zone": "b"}),)), WEB, False, id="node-sel-miss"
        ),
        pytest.param(
            replace(ADV, node_selectors=(Labels({"zone": "z"}), Labels({"zone": "a"}))),
            WEB,
            True,
            id="node-sel-any-of",
        ),
        pytest.param(
            replace(ADV, service_selectors=(Labels({"app": "web"}),)),
            replace(WEB, labels={"app": "web"}),
            True,
            id="svc-sel-match",
        ),
        pytest.param(
            replace(ADV, service_selectors=(Labels({"app": "web"}),)),
            replace(WEB, labels={"app": "db"}),
            False,
            id="svc-sel-miss",
        ),
    ],
)
def test_advertisement_selection(adv, svc, announced):
    p = plan(advs=(adv,), services=(svc,))
    assert bool(p.routes) is announced
    if not announced:
        assert p.not_announced == {"demo/web": "noMatchingAdvertisement"}


# ------------------------------------------------------------------ aggregation, families


@pytest.mark.parametrize(
    ("adv", "ips", "peers", "expected"),
    [
        pytest.param(ADV, ("203.0.113.16",), (ROUTER_A,), {"203.0.113.16/32"}, id="v4-host"),
        pytest.param(
            replace(ADV, aggregation_length=28),
            ("203.0.113.17", "203.0.113.30"),
            (ROUTER_A,),
            {"203.0.113.16/28"},
            id="v4-aggregated-dedup",
        ),
        pytest.param(
            replace(ADV, aggregation_length_v6=64),
            ("2001:db8:10::5",),
            (ROUTER_6,),
            {"2001:db8:10::/64"},
            id="v6-aggregated",
        ),
        pytest.param(ADV, ("2001:db8:10::5",), (ROUTER_6,), {"2001:db8:10::5/128"}, id="v6-host"),
        pytest.param(ADV, ("2001:db8:10::5",), (ROUTER_A,), set(), id="v6-not-over-v4-session"),
        pytest.param(
            ADV,
            ("203.0.113.16", "2001:db8:10::5"),
            (ROUTER_A, ROUTER_6),
            {"203.0.113.16/32", "2001:db8:10::5/128"},
            id="dual-stack-two-sessions",
        ),
    ],
)
def test_prefixes(adv, ips, peers, expected):
    svcs = tuple(ServiceInfo(f"demo/s{i}", (ip(a),), "bgp") for i, a in enumerate(ips))
    eps = {s.key: SERVING_C for s in svcs}
    p = plan(advs=(adv,), services=svcs, endpoints=eps, peers=peers)
    assert {str(r.prefix) for r in p.routes} == expected
    assert all(r.next_hop == "self" for r in p.routes)


def test_dual_stack_address_family_uses_node_address_as_next_hop():
    mp = replace(ROUTER_A, dual_stack_address_family=True)
    svc = ServiceInfo("demo/web", (ip("203.0.113.16"), ip("2001:db8:10::5")), "bgp")
    p = plan(peers=(mp,), services=(svc,))
    hops = {str(r.prefix): r.next_hop for r in p.routes}
    assert hops == {"203.0.113.16/32": "self", "2001:db8:10::5/128": "2001:db8::11"}


# ------------------------------------------------------------------ communities, localPref


def test_communities_union_for_same_prefix():
    a1 = replace(
        ADV,
        name="a1",
        communities=frozenset({StandardCommunity(64512, 1), LargeCommunity(64512, 1, 2)}),
    )
    a2 = replace(ADV, name="a2", communities=frozenset({StandardCommunity(64512, 2)}))
    (route,) = plan(advs=(a1, a2)).routes
    assert [str(c) for c in route.communities] == ["64512:1", "64512:2"]
    assert [str(c) for c in route.large_communities] == ["64512:1:2"]


def test_distinct_prefixes_keep_distinct_communities():
    a1 = replace(ADV, name="a1", communities=frozenset({StandardCommunity(1, 1)}))
    a2 = replace(
        ADV, name="a2", aggregation_length=24, communities=frozenset({StandardCommunity(2, 2)})
    )
    by_prefix = {str(r.prefix): r.communities for r in plan(advs=(a1, a2)).routes}
    assert by_prefix == {
        "203.0.113.16/32": (StandardCommunity(1, 1),),
        "203.0.113.0/24": (StandardCommunity(2, 2),),
    }


@pytest.mark.parametrize(
    ("peer", "local_pref", "expected"),
    [
        pytest.param(IBGP, 200, 200, id="ibgp-gets-localpref"),
        pytest.param(ROUTER_A, 200, None, id="ebgp-never-localpref"),
        pytest.param(IBGP, None, None, id="unset"),
        pytest.param(IBGP, 0, None, id="zero-is-unset"),
    ],
)
def test_local_pref_only_ibgp(peer, local_pref, expected):
    (route,) = plan(peers=(peer,), advs=(replace(ADV, local_pref=local_pref),)).routes
    assert route.local_pref == expected


def test_conflicting_local_pref_not_announced():
    a1 = replace(ADV, name="a1", local_pref=100)
    a2 = replace(ADV, name="a2", local_pref=200)
    p = plan(peers=(IBGP,), advs=(a1, a2))
    assert p.routes == frozenset()
    assert p.not_announced == {"demo/web": "conflictingAdvertisements"}
    # over eBGP localPref is not sent, so there is nothing to conflict about
    assert plan(peers=(ROUTER_A,), advs=(a1, a2)).routes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("64512:100", StandardCommunity(64512, 100), id="standard"),
        pytest.param("large:64512:1:2", LargeCommunity(64512, 1, 2), id="large"),
        pytest.param(
            "large:4294967295:0:1", LargeCommunity(4294967295, 0, 1), id="large-32bit-max"
        ),
    ],
)
def test_parse_community(text, expected):
    assert bgp.parse_community(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("65536:1", id="standard-too-big"),
        pytest.param("1:2:3", id="three-parts"),
        pytest.param("large:1:2", id="large-too-short"),
        pytest.param("no-export", id="name"),
        pytest.param("a:b", id="not-numbers"),
    ],
)
def test_parse_community_rejects(text):
    with pytest.raises(ValueError, match=text):
        bgp.parse_community(text)


# ------------------------------------------------------------------ order, purity, raw inputs


def test_order_independent_and_inputs_untouched():
    svcs = (WEB, ServiceInfo("demo/db", (ip("203.0.113.17"),), "bgp"))
    eps = {"demo/web": SERVING_C, "demo/db": ()}
    advs = (
        replace(ADV, name="x", communities=frozenset({StandardCommunity(1, 1)})),
        replace(ADV, name="y", peers=("router-b",)),
    )
    frozen = copy.deepcopy((svcs, eps, advs))
    results = {
        plan(peers=pp, advs=aa, services=ss, endpoints=eps).routes
        for pp in itertools.permutations((ROUTER_A, ROUTER_B))
        for aa in itertools.permutations(advs)
        for ss in itertools.permutations(svcs)
    }
    assert len(results) == 1
    assert (svcs, eps, advs) == frozen


def test_password_not_in_repr():
    assert "s3cret" not in repr(replace(ROUTER_A, password="s3cret"))


def test_raw_parsers():
    svc = bgp.service_from_raw(
        {
            "metadata": {
                "namespace": "demo",
                "name": "web",
                "labels": {"app": "web"},
                "annotations": {bgp.POOL_ANNOTATION: "bgp"},
            },
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.16"}, {"ip": "junk"}]}},
        }
    )
    assert svc == ServiceInfo("demo/web", (ip("203.0.113.16"),), "bgp", {"app": "web"}, "Local")
    eps = bgp.endpoints_from_raw(
        [
            {
                "endpoints": [
                    {
                        "addresses": ["10.0.0.1"],
                        "nodeName": "node-c",
                        "conditions": {"ready": True},
                    },
                    {
                        "addresses": ["10.0.0.2"],
                        "nodeName": "node-a",
                        "conditions": {"ready": False},
                    },
                ]
            }
        ]
    )
    assert [(e.node, e.is_serving) for e in eps] == [("node-c", True), ("node-a", False)]
    node = bgp.node_from_raw(
        {
            "metadata": {"name": "node-a", "labels": {"zone": "a"}},
            "status": {
                "conditions": [{"type": "NetworkUnavailable", "status": "True"}],
                "addresses": [
                    {"type": "InternalIP", "address": "198.51.100.11"},
                    {"type": "Hostname", "address": "node-a"},
                ],
            },
        }
    )
    assert node == NodeInfo("node-a", {"zone": "a"}, True, (ip("198.51.100.11"),))


# ------------------------------------------------------------------ Announced condition


def _plans(policy: str, endpoint_nodes: tuple[str, ...], advs=(ADV,)) -> dict[str, bgp.BgpPlan]:
    svc = replace(WEB, external_traffic_policy=policy)
    eps = {"demo/web": tuple(EndpointInfo(n) for n in endpoint_nodes)}
    return {n: plan(services=(svc,), endpoints=eps, node=n, advs=advs) for n in NODES}


@pytest.mark.parametrize(
    ("policy", "eps", "advs", "expected"),
    [
        pytest.param("Cluster", ("node-c",), (ADV,), ("node-a", "True", "Announced"), id="all"),
        pytest.param("Local", ("node-c",), (ADV,), ("node-c", "True", "Announced"), id="local"),
        pytest.param("Cluster", (), (ADV,), ("node-a", "False", "NoEndpoints"), id="no-endpoints"),
        pytest.param(
            "Cluster", ("node-c",), (replace(ADV, pools=frozenset({"l2"})),), None, id="not-bgp"
        ),
    ],
)
def test_service_condition(policy, eps, advs, expected):
    cond = bgp.service_condition("demo/web", _plans(policy, eps, advs))
    if expected is None:
        assert cond is None
    else:
        assert cond is not None
        assert (cond.reporter, cond.status, cond.reason) == expected
