"""ingot.api.services: raw Service dicts -> ServiceRequest or field errors (table-driven)."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingot.api import services
from ipam.request import Port, ServiceRequest


def svc(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "LoadBalancer",
        "clusterIPs": ["10.96.0.1"],
        "selector": {"app": "web", "tier": "fe"},
        "ports": [{"port": 80, "protocol": "TCP"}],
    }
    base.update(spec)
    return {
        "metadata": {
            "name": "web",
            "namespace": "demo",
            "labels": {"team": "a"},
            "annotations": annotations or {},
        },
        "spec": base,
    }


def ips(*texts: str) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_address(t) for t in texts)


@pytest.mark.parametrize(
    ("raw", "field", "expected"),
    [
        pytest.param(svc(), "key", "demo/web", id="key"),
        pytest.param(svc(), "labels", {"team": "a"}, id="labels"),
        pytest.param(svc(), "families", (4,), id="family-from-cluster-ip"),
        pytest.param(
            svc(clusterIPs=["fd00::1", "10.96.0.1"], ipFamilyPolicy="PreferDualStack"),
            "families",
            (6, 4),
            id="dual-v6-primary",
        ),
        pytest.param(
            svc(
                clusterIPs=["10.96.0.1"],
                ipFamilyPolicy="PreferDualStack",
                ipFamilies=["IPv4", "IPv6"],
            ),
            "families",
            (4,),
            id="c13-prefer-one-cluster-ip",
        ),
        pytest.param(
            svc(clusterIPs=None, clusterIP="fd00::5"), "families", (6,), id="legacy-cluster-ip"
        ),
        pytest.param(
            svc(clusterIPs=None, ipFamilies=["IPv6"]),
            "families",
            (6,),
            id="no-cluster-ip-yet-ip-families",
        ),
        pytest.param(
            svc(clusterIPs=None, ipFamilyPolicy="RequireDualStack"),
            "families",
            (4, 6),
            id="no-cluster-ip-require-dual",
        ),
        pytest.param(svc(), "family_policy", "SingleStack", id="policy-default"),
        pytest.param(
            svc({"metallb.io/loadBalancerIPs": "192.0.2.1, 2001:db8::1"}),
            "requested_ips",
            ips("192.0.2.1", "2001:db8::1"),
            id="annotation-ips",
        ),
        pytest.param(
            svc(loadBalancerIP="192.0.2.9"),
            "requested_ips",
            ips("192.0.2.9"),
            id="spec-load-balancer-ip",
        ),
        pytest.param(
            svc({"metallb.universe.tf/loadBalancerIPs": "192.0.2.3"}),
            "requested_ips",
            ips("192.0.2.3"),
            id="legacy-annotation-ips",
        ),
        pytest.param(
            svc({"metallb.io/address-pool": "gold", "metallb.universe.tf/address-pool": "silver"}),
            "pool",
            "gold",
            id="stable-prefix-wins",
        ),
        pytest.param(
            svc({"metallb.universe.tf/address-pool": "silver"}), "pool", "silver", id="legacy-pool"
        ),
        pytest.param(
            svc({"metallb.io/allow-shared-ip": "k"}), "sharing_key", "k", id="sharing-key"
        ),
        pytest.param(
            svc({"metallb.io/allow-shared-ip": ""}), "sharing_key", None, id="empty-sharing-key"
        ),
        pytest.param(
            svc({"metallb.io/allow-shared": "k"}),
            "sharing_key",
            None,
            id="c07-misspelt-key-ignored",
        ),
        pytest.param(svc(), "traffic_policy", "Cluster", id="etp-default"),
        pytest.param(svc(externalTrafficPolicy="Local"), "traffic_policy", "Local", id="etp-local"),
        pytest.param(svc(), "backend_key", "app=web,tier=fe", id="backend-key-sorted"),
        pytest.param(
            svc(ports=[{"port": 53, "protocol": "UDP"}, {"port": 53}]),
            "ports",
            frozenset({Port("UDP", 53), Port("TCP", 53)}),
            id="ports-default-tcp",
        ),
    ],
)
def test_service_request_fields(raw: dict[str, Any], field: str, expected: Any) -> None:
    before = copy.deepcopy(raw)
    req = services.service_request(raw, namespace_labels={"env": "prod"})
    assert isinstance(req, ServiceRequest), req
    assert getattr(req, field) == expected
    assert req.namespace_labels == {"env": "prod"}
    assert raw == before


@pytest.mark.parametrize(
    ("raw", "path", "fragment"),
    [
        pytest.param(
            svc({"metallb.io/loadBalancerIPs": "192.0.2.1"}, loadBalancerIP="192.0.2.1"),
            "spec.loadBalancerIP",
            "together with annotation",
            id="both-ip-requests",
        ),
        pytest.param(
            svc({"metallb.io/loadBalancerIPs": "192.0.2.1,bogus"}),
            "metadata.annotations[metallb.io/loadBalancerIPs]",
            "invalid IP address",
            id="bad-annotation-ip",
        ),
        pytest.param(
            svc({"metallb.io/loadBalancerIPs": "192.0.2.1,192.0.2.2"}),
            "metadata.annotations[metallb.io/loadBalancerIPs]",
            "one IP per family",
            id="two-of-one-family",
        ),
        pytest.param(
            svc({"metallb.io/loadBalancerIPs": "192.0.2.1,2001:db8::1,192.0.2.3"}),
            "metadata.annotations[metallb.io/loadBalancerIPs]",
            "at most two",
            id="three-ips",
        ),
        pytest.param(
            svc(loadBalancerIP="300.1.1.1"),
            "spec.loadBalancerIP",
            "invalid IP address",
            id="bad-spec-ip",
        ),
        pytest.param(
            svc({"metallb.io/address-pool": " "}),
            "metadata.annotations[metallb.io/address-pool]",
            "empty pool name",
            id="empty-pool",
        ),
        pytest.param(
            svc(ipFamilyPolicy="DualStack"), "spec.ipFamilyPolicy", "not one of", id="bad-policy"
        ),
        pytest.param(
            svc(clusterIPs=None, ipFamilies=["IPv5"]),
            "spec.ipFamilies[0]",
            "not IPv4 or IPv6",
            id="bad-family",
        ),
        pytest.param(
            svc(clusterIPs=["10.0.0.300"]), "spec.clusterIPs[0]", "invalid IP", id="bad-cluster-ip"
        ),
        pytest.param(svc(ports=[{"port": 0}]), "spec.ports[0].port", "1..65535", id="port-zero"),
        pytest.param(
            svc(ports=[{"port": "80"}]), "spec.ports[0].port", "1..65535", id="port-string"
        ),
        pytest.param(
            svc(ports=[{"port": 80, "protocol": "ICMP"}]),
            "spec.ports[0].protocol",
            "TCP, UDP, SCTP",
            id="bad-protocol",
        ),
        pytest.param(
            svc(externalTrafficPolicy="Global"),
            "spec.externalTrafficPolicy",
            "Cluster or Local",
            id="bad-etp",
        ),
    ],
)
def test_service_request_errors(raw: dict[str, Any], path: str, fragment: str) -> None:
    errors = services.service_request(raw, namespace_labels={})
    assert isinstance(errors, list)
    assert [e.path for e in errors] == [path]
    assert fragment in errors[0].message
    assert str(errors[0]).startswith(f"Service demo/web {path}: ")


def test_missing_name_and_namespace() -> None:
    errors = services.service_request({"spec": {}}, namespace_labels={})
    assert isinstance(errors, list)
    assert [e.path for e in errors] == ["metadata.name", "metadata.namespace"]


@pytest.mark.parametrize(
    ("spec", "lb_class", "wanted"),
    [
        pytest.param({"type": "LoadBalancer"}, None, True, id="lb-no-class"),
        pytest.param({"type": "ClusterIP"}, None, False, id="cluster-ip"),
        pytest.param(
            {"type": "LoadBalancer", "loadBalancerClass": "x"}, None, False, id="foreign-class"
        ),
        pytest.param({"type": "LoadBalancer", "loadBalancerClass": "x"}, "x", True, id="our-class"),
        pytest.param({"type": "LoadBalancer"}, "x", False, id="class-flag-set-no-class"),
    ],
)
def test_wants_allocation(spec: dict[str, Any], lb_class: str | None, wanted: bool) -> None:
    assert services.wants_allocation({"spec": spec}, lb_class=lb_class) is wanted


def test_status_ips_and_ingress() -> None:
    raw = {
        "status": {
            "loadBalancer": {
                "ingress": [
                    {"ip": "192.0.2.1"},
                    {"hostname": "x"},
                    {"ip": "bad"},
                    {"ip": "2001:db8::1"},
                ]
            }
        }
    }
    got = services.status_ips(raw)
    assert got == ips("192.0.2.1", "2001:db8::1")
    assert services.ingress(got) == [{"ip": "192.0.2.1"}, {"ip": "2001:db8::1"}]
    assert services.status_ips({}) == ()


def test_deprecated_annotations_listed() -> None:
    raw = svc(
        {
            "metallb.universe.tf/allow-shared-ip": "k",
            "metallb.io/address-pool": "p",
            "metallb.universe.tf/address-pool": "p",
        }
    )
    assert services.deprecated_annotations(raw) == (
        "metallb.universe.tf/address-pool",
        "metallb.universe.tf/allow-shared-ip",
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        "type",
        "clusterIP",
        "clusterIPs",
        "ipFamilies",
        "ipFamilyPolicy",
        "loadBalancerIP",
        "ports",
        "externalTrafficPolicy",
        "selector",
        "loadBalancerClass",
    ]
)
ANNOTATIONS = st.sampled_from(
    [
        "metallb.io/loadBalancerIPs",
        "metallb.io/address-pool",
        "metallb.io/allow-shared-ip",
        "metallb.universe.tf/loadBalancerIPs",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    spec=st.dictionaries(FIELDS, JSON, max_size=6),
    annotations=st.dictionaries(ANNOTATIONS, st.text(max_size=30), max_size=3),
    status=JSON,
    meta_extra=st.dictionaries(st.sampled_from(["labels", "name"]), JSON, max_size=2),
)
def test_never_crashes_on_junk(
    spec: dict[str, Any], annotations: dict[str, str], status: Any, meta_extra: dict[str, Any]
) -> None:
    raw = {
        "metadata": {"name": "x", "namespace": "demo", "annotations": annotations, **meta_extra},
        "spec": spec,
        "status": status,
    }
    got = services.service_request(raw, namespace_labels={})
    if isinstance(got, list):
        assert got
        assert all(str(e).startswith("Service demo/") for e in got)
    else:
        assert isinstance(got, ServiceRequest)
    services.wants_allocation(raw)
    services.status_ips(raw)
    services.deprecated_annotations(raw)
