"""What the compiler resolves into Config: pools, selectors, advertisements, peers, secrets."""

from __future__ import annotations

import base64
import ipaddress
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingot.api import bgppeer, status
from ingot.api.communityvalue import CommunityValue, parse_community_value
from ingot.api.compile import ClusterResources, compile_config
from ingot.api.config import Config
from ingot.api.durations import parse_duration_s
from ingot.errors import ConfigError

NS = "metallb-system"
SECRET = "s3cr3t-md5-key"


def obj(kind: str, name: str, spec: dict[str, Any] | None = None, **md: Any) -> dict[str, Any]:
    version = "v1beta2" if kind == "BGPPeer" else "v1beta1"
    out: dict[str, Any] = {
        "apiVersion": f"metallb.io/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS, **md},
    }
    if spec is not None:
        out["spec"] = spec
    return out


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def basic_auth(name: str, password: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "type": "kubernetes.io/basic-auth",
        "data": {"password": base64.b64encode(password.encode()).decode()},
    }


FULL = [
    obj("IPAddressPool", "a", {"addresses": ["198.51.100.0/28"]}, labels={"tier": "gold"}),
    obj(
        "IPAddressPool",
        "b",
        {
            "addresses": ["198.51.100.16-198.51.100.31", "2001:db8::/120"],
            "autoAssign": False,
            "serviceAllocation": {
                "priority": 5,
                "namespaces": ["web"],
                "namespaceSelectors": [{"matchLabels": {"team": "blue"}}],
                "serviceSelectors": [{"matchExpressions": [{"key": "app", "operator": "Exists"}]}],
            },
        },
        labels={"tier": "silver"},
    ),
    obj("IPAddressPool", "c", {"addresses": ["203.0.113.0/24"], "avoidBuggyIPs": True}),
    obj("L2Advertisement", "all"),
    obj(
        "L2Advertisement",
        "gold",
        {
            "ipAddressPoolSelectors": [{"matchLabels": {"tier": "gold"}}],
            "nodeSelectors": [{"matchLabels": {"l2": "yes"}}],
            "interfaces": ["eth0"],
            "preferredNodeSelectors": [{"weight": 50, "preference": {"matchLabels": {"z": "1"}}}],
        },
    ),
    obj(
        "BGPAdvertisement",
        "c-agg",
        {
            "ipAddressPools": ["c"],
            "aggregationLength": 24,
            "localPref": 100,
            "communities": ["no-advertise", "64500:1", "large:64500:1:2"],
            "peers": ["r1"],
        },
    ),
    obj(
        "Community", "aliases", {"communities": [{"name": "no-advertise", "value": "65535:65282"}]}
    ),
    obj("BFDProfile", "fast", {"receiveInterval": 100, "detectMultiplier": 5}),
    obj(
        "BGPPeer",
        "r1",
        {
            "myASN": 64512,
            "peerASN": 64500,
            "peerAddress": "198.51.100.1",
            "holdTime": "9s",
            "bfdProfile": "fast",
            "passwordSecret": {"name": "r1-auth"},
            "nodeSelectors": [{"matchLabels": {"bgp": "yes"}}],
        },
    ),
    {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPPeer",
        "metadata": {"name": "legacy", "namespace": NS},
        "spec": {"myASN": 64512, "peerASN": 64512, "peerAddress": "2001:db8::1", "peerPort": 0},
    },
    basic_auth("r1-auth", SECRET),
    namespace("web"),
    namespace("blue-1", team="blue"),
    namespace("red-1", team="red"),
    node("n1", l2="yes", bgp="yes"),
    node("n2"),
]


def compiled(objects: list[dict[str, Any]] = FULL) -> Config:
    result = compile_config(ClusterResources.from_objects(objects), namespace=NS)
    assert result.errors == (), result.summary()
    assert result.config is not None
    return result.config


def test_pools_resolved() -> None:
    cfg = compiled()
    assert list(cfg.pools) == ["a", "b", "c"]
    b = cfg.pools["b"]
    assert not b.auto_assign
    assert b.families == {4, 6}
    assert b.capacity(4) == 16
    assert b.capacity(6) == 256
    assert b.allocation is not None
    assert b.allocation.priority == 5
    assert b.allocation.namespaces == {"web", "blue-1"}  # listed + matched by selector
    assert b.admission(
        namespace="red-1", namespace_labels={"team": "red"}, service_labels={"app": "x"}
    )
    assert b.admission(namespace="web", namespace_labels={}, service_labels={"app": "x"}) is None
    assert cfg.pools["c"].avoid_buggy_ips
    assert cfg.pools["c"].capacity() == 254
    assert cfg.pools["a"].allocation is None


def test_advertisements_resolved() -> None:
    cfg = compiled()
    all_ad, gold = cfg.l2_advertisements
    assert all_ad.pools == {"a", "b", "c"}
    assert gold.pools == {"a"}
    assert gold.nodes == {"n1"}
    assert gold.interfaces == ("eth0",)
    assert gold.preferences[0].weight == 50
    assert gold.preferences[0].selector.matches({"z": "1"})
    assert [a.name for a in cfg.l2_advertisements_for_pool("a")] == ["all", "gold"]
    (bgp,) = cfg.bgp_advertisements
    assert bgp.pools == {"c"}
    assert bgp.aggregation_length == 24
    assert bgp.local_pref == 100
    assert bgp.communities == {
        CommunityValue(False, (65535, 65282)),
        CommunityValue(False, (64500, 1)),
        CommunityValue(True, (64500, 1, 2)),
    }
    assert bgp.selects_peer("r1")
    assert not bgp.selects_peer("legacy")
    assert cfg.unannounced_pools() == frozenset()


def test_peers_resolved() -> None:
    cfg = compiled()
    r1 = cfg.bgp_peers["r1"]
    assert r1.peer_address == ipaddress.ip_address("198.51.100.1")
    assert r1.hold_time_s == 9
    assert r1.keepalive_time_s is None
    assert r1.bfd is not None
    assert (r1.bfd.receive_interval_ms, r1.bfd.transmit_interval_ms) == (100, 300)
    assert r1.bfd.detect_multiplier == 5
    assert r1.password is not None
    assert r1.password.get_secret_value() == SECRET
    assert r1.password_source == f"Secret {NS}/r1-auth"
    assert r1.nodes == {"n1"}
    assert not r1.is_ibgp
    legacy = cfg.bgp_peers["legacy"]  # converted from v1beta1; peerPort 0 -> 179
    assert legacy.peer_port == 179
    assert legacy.is_ibgp
    assert legacy.nodes == {"n1", "n2"}


def test_password_never_in_repr_or_str() -> None:
    cfg = compiled()
    for text in (repr(cfg), str(cfg), repr(cfg.bgp_peers["r1"])):
        assert SECRET not in text
    inline = [
        obj(
            "BGPPeer",
            "p",
            {"myASN": 1, "peerASN": 2, "peerAddress": "198.51.100.9", "password": SECRET},
        )
    ]
    assert SECRET not in repr(compiled(inline))
    model = bgppeer.BGPPeer.model_validate(inline[0])
    assert SECRET not in repr(model)
    assert SECRET not in str(model.model_dump())


def test_password_not_echoed_in_errors() -> None:
    bad = [
        obj("BGPPeer", "p", {"myASN": 1, "peerASN": 2, "peerAddress": "x", "password": 12345678})
    ]
    result = compile_config(ClusterResources.from_objects(bad), namespace=NS)
    assert result.config is None
    assert "12345678" not in result.summary()
    assert any(e.path == "spec.password" for e in result.errors)


def test_raise_for_errors() -> None:
    bad = compile_config(
        ClusterResources.from_objects([obj("IPAddressPool", "p", {"addresses": ["x"]})])
    )
    with pytest.raises(ConfigError, match=r"IPAddressPool metallb-system/p spec.addresses\[0\]"):
        bad.raise_for_errors()
    assert compile_config(ClusterResources()).raise_for_errors() == Config(namespace="")


def test_unknown_field_is_a_warning() -> None:
    pool = obj("IPAddressPool", "p", {"addresses": ["198.51.100.0/24"], "avoidBuggyIps": True})
    result = compile_config(
        ClusterResources.from_objects([pool, obj("L2Advertisement", "l")]), namespace=NS
    )
    assert result.ok
    assert [(w.path, "unknown field" in w.message) for w in result.warnings] == [
        ("spec.avoidBuggyIps", True)
    ]


def test_resources_json_round_trip_redacts_secrets() -> None:
    res = ClusterResources.from_objects(FULL)
    text = res.to_json()
    assert SECRET not in text
    assert base64.b64encode(SECRET.encode()).decode() not in text
    back = ClusterResources.from_json(text)
    assert len(back.objects()) == len(res.objects())
    assert json.loads(res.to_json(redact_secrets=False))["secrets"][0]["data"]["password"]
    # the redacted dump still compiles except for the secret it cannot read
    result = compile_config(back, namespace=NS)
    assert [e.path for e in result.errors] == ["spec.passwordSecret"]


def test_with_and_without_object() -> None:
    res = ClusterResources.from_objects(FULL)
    changed = res.with_object(obj("IPAddressPool", "a", {"addresses": ["198.51.100.0/29"]}))
    assert compiled(list(changed.objects())).pools["a"].capacity() == 8
    assert len(changed.ip_address_pools) == len(res.ip_address_pools)
    gone = res.without_object("BFDProfile", NS, "fast")
    errors = compile_config(gone, namespace=NS).errors
    assert [(e.name, e.path) for e in errors] == [("r1", "spec.bfdProfile")]
    with pytest.raises(ValueError, match="not an input"):
        res.with_object({"kind": "Service", "metadata": {"name": "x"}})


def test_inputs_not_mutated() -> None:
    before = json.dumps(FULL, sort_keys=True)
    compiled()
    assert json.dumps(FULL, sort_keys=True) == before


@settings(max_examples=30, deadline=None)
@given(st.permutations(FULL))
def test_order_independent(objects: list[dict[str, Any]]) -> None:
    assert compiled(objects) == compiled()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("90s", 90.0, id="seconds"),
        pytest.param("1m30s", 90.0, id="minutes-seconds"),
        pytest.param("1.5h", 5400.0, id="fractional-hours"),
        pytest.param("300ms", 0.3, id="milliseconds"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("-2s", -2.0, id="negative"),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "90", "s", "1x", "1m 30s"], ids=repr)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration_s(text)


def test_community_text_round_trip() -> None:
    for text in ("0:0", "65535:65535", "large:1:2:3", "large:4294967295:0:4294967295"):
        assert str(parse_community_value(text)) == text
    assert parse_community_value("large:1:2:3").exabgp == "1:2:3"


def test_bgppeer_conversion_both_ways() -> None:
    v1 = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPPeer",
        "metadata": {"name": "x"},
        "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "198.51.100.1", "holdTime": "9s"},
    }
    v2 = bgppeer.convert_v1beta1_to_v1beta2(v1)
    assert v2["apiVersion"] == "metallb.io/v1beta2"
    assert v2["spec"]["peerPort"] == 179
    assert v1["apiVersion"] == "metallb.io/v1beta1"  # input untouched
    v2["spec"]["vrf"] = "red"
    back = bgppeer.convert_v1beta2_to_v1beta1(v2)
    assert back["apiVersion"] == "metallb.io/v1beta1"
    assert "vrf" not in back["spec"]
    assert back["spec"]["holdTime"] == "9s"
    bgppeer.BGPPeerV1beta1.model_validate(back)


def test_status_models_round_trip() -> None:
    raw = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {"generateName": "l2-", "namespace": NS, "labels": {status.NODE_LABEL: "n1"}},
        "status": {
            "node": "n1",
            "serviceName": "web",
            "serviceNamespace": "demo",
            "interfaces": [{"name": "eth0"}],
        },
    }
    model = status.ServiceL2Status.model_validate(raw)
    assert model.status.interfaces[0].name == "eth0"
    dumped = model.model_dump(by_alias=True, exclude_defaults=True)
    assert dumped["status"] == raw["status"]
    state = status.ConfigurationState.model_validate(
        {
            "metadata": {"name": "controller"},
            "status": {
                "result": "Invalid",
                "errorSummary": "x",
                "conditions": [
                    {
                        "type": "poolReconcilerValid",
                        "status": "False",
                        "reason": "ConfigurationError",
                    }
                ],
            },
        }
    )
    assert state.status.result == "Invalid"
    with pytest.raises(ValueError, match="result"):
        status.ConfigurationState.model_validate({"status": {"result": "Maybe"}})


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        pytest.param("BFDProfile", "fast", [("BGPPeer", "r1", "spec.bfdProfile")], id="bfd-in-use"),
        pytest.param("Secret", "r1-auth", [("BGPPeer", "r1", "spec.passwordSecret")], id="secret"),
        pytest.param(
            "Community",
            "aliases",
            [("BGPAdvertisement", "c-agg", "spec.communities[0]")],
            id="community-alias",
        ),
        pytest.param("BFDProfile", "unused", [], id="unused-profile"),
    ],
)
def test_referrers(kind: str, name: str, expected: list[tuple[str, str, str]]) -> None:
    """What a DELETE would break (MetalLB refuses deleting a BFDProfile in use)."""
    from ingot.api.compile import referrers

    found = referrers(ClusterResources.from_objects(FULL), kind=kind, namespace=NS, name=name)
    assert [(e.kind, e.name, e.path) for e in found] == expected


def test_from_objects_unpacks_lists() -> None:
    """``kubectl get ipaddresspools,nodes -o yaml`` output loads as it is."""
    listed = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [FULL[0], {"kind": "IPAddressPoolList", "items": [{**FULL[1], "kind": None}]}],
    }
    typed = {"apiVersion": "v1", "kind": "NodeList", "items": [{"metadata": {"name": "n9"}}]}
    res = ClusterResources.from_objects([listed, typed, None, {}])
    assert [o["metadata"]["name"] for o in res.ip_address_pools] == ["a", "b"]
    assert [o["metadata"]["name"] for o in res.nodes] == ["n9"]
