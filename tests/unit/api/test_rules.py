"""Every rejection rule of MetalLB's webhooks (reference section 4), plus ingot's own, as a table.

Each row: objects added to a valid baseline, and the error expected (kind, name, field path,
message fragment). A second table lists inputs that must stay valid (the boundary cases).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ingot.api.compile import ClusterResources, compile_config

NS = "metallb-system"


def obj(kind: str, name: str, spec: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    version = "v1beta2" if kind == "BGPPeer" else "v1beta1"
    out: dict[str, Any] = {
        "apiVersion": f"metallb.io/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS, **extra.pop("metadata", {})},
    }
    if spec is not None:
        out["spec"] = spec
    out.update(extra)
    return out


def pool(name: str, *addresses: str, **spec: Any) -> dict[str, Any]:
    return obj("IPAddressPool", name, {"addresses": list(addresses), **spec})


def peer(name: str = "r", **spec: Any) -> dict[str, Any]:
    base = {"myASN": 64512, "peerASN": 64500, "peerAddress": "198.51.100.1"}
    base.update(spec)
    return obj("BGPPeer", name, {k: v for k, v in base.items() if v is not None})


def secret(name: str, typ: str = "kubernetes.io/basic-auth", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "type": typ,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


BASE = [pool("base", "203.0.113.0/28"), obj("L2Advertisement", "l2")]


def compile_with(*objects: dict[str, Any], strict: bool = True):  # type: ignore[no-untyped-def]
    res = ClusterResources.from_objects([*BASE, *objects])
    return compile_config(res, namespace=NS, strict_references=strict)


REJECTED = [
    # --- IPAddressPool (MetalLB ipaddresspoolvalidationwebhook)
    pytest.param(
        [pool("p")],
        ("IPAddressPool", "p", "spec.addresses", "at least 1"),
        id="pool-empty-addresses",
    ),
    pytest.param(
        [obj("IPAddressPool", "p", {})],
        ("IPAddressPool", "p", "spec.addresses", "required"),
        id="pool-missing-addresses",
    ),
    pytest.param(
        [pool("p", "198.51.100.0/33")],
        ("IPAddressPool", "p", "spec.addresses[0]", "invalid CIDR"),
        id="pool-invalid-cidr",
    ),
    pytest.param(
        [pool("p", "198.51.100.300/32")],
        ("IPAddressPool", "p", "spec.addresses[0]", "invalid CIDR"),
        id="pool-invalid-cidr-octet",
    ),
    pytest.param(
        [pool("p", "198.51.100.9-198.51.100.1")],
        ("IPAddressPool", "p", "spec.addresses[0]", "after end"),
        id="pool-range-reversed",
    ),
    pytest.param(
        [pool("p", "198.51.100.x-198.51.100.9")],
        ("IPAddressPool", "p", "spec.addresses[0]", "bad start"),
        id="pool-range-bad-start",
    ),
    pytest.param(
        [pool("p", "198.51.100.1-2001:db8::1")],
        ("IPAddressPool", "p", "spec.addresses[0]", "different families"),
        id="pool-range-mixed-family",
    ),
    pytest.param(
        [pool("p", "198.51.100.29")],
        ("IPAddressPool", "p", "spec.addresses[0]", "198.51.100.29/32"),
        id="pool-bare-address",
    ),
    pytest.param(
        [pool("p", "198.51.100.29,198.51.100.34")],
        ("IPAddressPool", "p", "spec.addresses[0]", "one CIDR or range per list entry"),
        id="pool-comma-list",
    ),
    pytest.param(
        [pool("p", "203.0.113.8/29")],
        ("IPAddressPool", "p", "spec.addresses[0]", "of IPAddressPool 'base'"),
        id="pool-overlaps-other-pool",
    ),
    pytest.param(
        [pool("p", "203.0.113.8/29")],
        ("IPAddressPool", "base", "spec.addresses[0]", "of IPAddressPool 'p'"),
        id="pool-overlap-reported-on-both",
    ),
    pytest.param(
        [pool("p", "198.51.100.0/24", "198.51.100.10-198.51.100.20")],
        ("IPAddressPool", "p", "spec.addresses[1]", "same pool"),
        id="pool-overlaps-itself",
    ),
    pytest.param(
        [pool("p", "198.51.100.0/24", "198.51.100.0/24")],
        ("IPAddressPool", "p", "spec.addresses[1]", "same pool"),
        id="pool-duplicate-entry",
    ),
    pytest.param(
        [pool("p", "2001:db8::/64", "2001:db8::1-2001:db8::5")],
        ("IPAddressPool", "p", "spec.addresses[1]", "same pool"),
        id="pool-overlaps-itself-v6",
    ),
    pytest.param(
        [pool("p", "198.51.100.0/24", serviceAllocation={"namespaces": ["a", "a"]})],
        ("IPAddressPool", "p", "spec.serviceAllocation.namespaces[1]", "duplicate"),
        id="pool-duplicate-namespaces",
    ),
    pytest.param(
        [
            pool(
                "p",
                "198.51.100.0/24",
                serviceAllocation={
                    "namespaceSelectors": [{"matchLabels": {"a": "b"}}, {"matchLabels": {"a": "b"}}]
                },
            )
        ],
        (
            "IPAddressPool",
            "p",
            "spec.serviceAllocation.namespaceSelectors[1]",
            "duplicate selector",
        ),
        id="pool-duplicate-namespace-selector",
    ),
    pytest.param(
        [
            pool(
                "p",
                "198.51.100.0/24",
                serviceAllocation={
                    "serviceSelectors": [
                        {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}
                    ]
                },
            )
        ],
        (
            "IPAddressPool",
            "p",
            "spec.serviceAllocation.serviceSelectors[0]",
            "needs at least one value",
        ),
        id="pool-invalid-service-selector",
    ),
    pytest.param(
        [
            pool(
                "p",
                "198.51.100.0/24",
                serviceAllocation={
                    "serviceSelectors": [
                        {"matchExpressions": [{"key": "a", "operator": "In", "values": ["x", "x"]}]}
                    ]
                },
            )
        ],
        ("IPAddressPool", "p", "spec.serviceAllocation.serviceSelectors[0]", "duplicate value"),
        id="pool-selector-duplicate-values",
    ),
    pytest.param(
        [
            pool(
                "p",
                "198.51.100.0/24",
                serviceAllocation={
                    "serviceSelectors": [
                        {
                            "matchExpressions": [
                                {"key": "a", "operator": "Exists"},
                                {"key": "a", "operator": "Exists"},
                            ]
                        }
                    ]
                },
            )
        ],
        (
            "IPAddressPool",
            "p",
            "spec.serviceAllocation.serviceSelectors[0]",
            "duplicate match expression",
        ),
        id="pool-selector-duplicate-expressions",
    ),
    pytest.param(
        [
            pool(
                "p",
                "198.51.100.0/24",
                serviceAllocation={
                    "serviceSelectors": [
                        {"matchExpressions": [{"key": "a", "operator": "Like", "values": ["x"]}]}
                    ]
                },
            )
        ],
        (
            "IPAddressPool",
            "p",
            "spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].operator",
            "Input should be",
        ),
        id="pool-selector-bad-operator",
    ),
    pytest.param(
        [pool("p", "198.51.100.0/24", autoAssign="yes")],
        ("IPAddressPool", "p", "spec.autoAssign", "valid boolean"),
        id="pool-autoassign-not-bool",
    ),
    # --- L2Advertisement
    pytest.param(
        [obj("L2Advertisement", "a", {"ipAddressPools": ["base", "base"]})],
        ("L2Advertisement", "a", "spec.ipAddressPools[1]", "duplicate"),
        id="l2-duplicate-pools",
    ),
    pytest.param(
        [
            obj(
                "L2Advertisement",
                "a",
                {"nodeSelectors": [{"matchLabels": {"x": "1"}}, {"matchLabels": {"x": "1"}}]},
            )
        ],
        ("L2Advertisement", "a", "spec.nodeSelectors[1]", "duplicate selector"),
        id="l2-duplicate-node-selectors",
    ),
    pytest.param(
        [
            obj(
                "L2Advertisement",
                "a",
                {
                    "ipAddressPoolSelectors": [
                        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["v"]}]}
                    ]
                },
            )
        ],
        ("L2Advertisement", "a", "spec.ipAddressPoolSelectors[0]", "takes no values"),
        id="l2-invalid-pool-selector",
    ),
    pytest.param(
        [obj("L2Advertisement", "a", {"serviceSelectors": [{}, {}]})],
        ("L2Advertisement", "a", "spec.serviceSelectors[1]", "duplicate selector"),
        id="l2-duplicate-service-selectors",
    ),
    pytest.param(
        [
            obj(
                "L2Advertisement",
                "a",
                {"preferredNodeSelectors": [{"weight": 0, "preference": {}}]},
            )
        ],
        (
            "L2Advertisement",
            "a",
            "spec.preferredNodeSelectors[0].weight",
            "greater than or equal to 1",
        ),
        id="l2-preferred-weight-zero",
    ),
    pytest.param(
        [
            obj(
                "L2Advertisement",
                "a",
                {"preferredNodeSelectors": [{"weight": 101, "preference": {}}]},
            )
        ],
        (
            "L2Advertisement",
            "a",
            "spec.preferredNodeSelectors[0].weight",
            "less than or equal to 100",
        ),
        id="l2-preferred-weight-101",
    ),
    pytest.param(
        [
            obj(
                "L2Advertisement",
                "a",
                {
                    "preferredNodeSelectors": [
                        {
                            "weight": 5,
                            "preference": {"matchExpressions": [{"key": "k", "operator": "NotIn"}]},
                        }
                    ]
                },
            )
        ],
        (
            "L2Advertisement",
            "a",
            "spec.preferredNodeSelectors[0].preference",
            "needs at least one value",
        ),
        id="l2-preferred-invalid-selector",
    ),
    # --- BGPAdvertisement
    pytest.param(
        [obj("BGPAdvertisement", "b", {"ipAddressPools": ["base", "base"]})],
        ("BGPAdvertisement", "b", "spec.ipAddressPools[1]", "duplicate"),
        id="bgpadv-duplicate-pools",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"communities": ["1:1", "1:1"]})],
        ("BGPAdvertisement", "b", "spec.communities[1]", "duplicate"),
        id="bgpadv-duplicate-communities",
    ),
    pytest.param(
        [peer(), obj("BGPAdvertisement", "b", {"peers": ["r", "r"]})],
        ("BGPAdvertisement", "b", "spec.peers[1]", "duplicate"),
        id="bgpadv-duplicate-peers",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"aggregationLength": 33})],
        ("BGPAdvertisement", "b", "spec.aggregationLength", "less than or equal to 32"),
        id="bgpadv-aggregation-33",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"aggregationLength": 0})],
        ("BGPAdvertisement", "b", "spec.aggregationLength", "greater than or equal to 1"),
        id="bgpadv-aggregation-0",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"aggregationLengthV6": 129})],
        ("BGPAdvertisement", "b", "spec.aggregationLengthV6", "less than or equal to 128"),
        id="bgpadv-aggregation-v6-129",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"aggregationLength": 24})],
        ("BGPAdvertisement", "b", "spec.aggregationLength", "IPAddressPool 'base'"),
        id="bgpadv-aggregation-shorter-than-pool",
    ),
    pytest.param(
        [
            pool("v6", "2001:db8::/120"),
            obj("BGPAdvertisement", "b", {"ipAddressPools": ["v6"], "aggregationLengthV6": 64}),
        ],
        ("BGPAdvertisement", "b", "spec.aggregationLengthV6", "IPAddressPool 'v6'"),
        id="bgpadv-aggregation-v6-shorter-than-pool",
    ),
    pytest.param(
        [
            obj(
                "BGPAdvertisement",
                "b",
                {"aggregationLength": 30, "serviceSelectors": [{"matchLabels": {"a": "b"}}]},
            )
        ],
        ("BGPAdvertisement", "b", "spec.serviceSelectors", "cannot be combined"),
        id="bgpadv-service-selectors-with-aggregation",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"communities": ["1:70000"]})],
        ("BGPAdvertisement", "b", "spec.communities[0]", "exceeds 65535"),
        id="bgpadv-community-over-16-bit",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"communities": ["1:2:3"]})],
        ("BGPAdvertisement", "b", "spec.communities[0]", "expected A:B"),
        id="bgpadv-community-three-parts",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"communities": ["large:1:2"]})],
        ("BGPAdvertisement", "b", "spec.communities[0]", "three 32-bit"),
        id="bgpadv-large-community-two-parts",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"communities": ["large:1:2:4294967296"]})],
        ("BGPAdvertisement", "b", "spec.communities[0]", "exceeds 4294967295"),
        id="bgpadv-large-community-over-32-bit",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"communities": ["LARGE:1:2:3"]})],
        ("BGPAdvertisement", "b", "spec.communities[0]", "lowercase"),
        id="bgpadv-large-marker-wrong",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"communities": ["a:b"]})],
        ("BGPAdvertisement", "b", "spec.communities[0]", "not a non-negative integer"),
        id="bgpadv-community-not-numbers",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"communities": ["no-export-alias"]})],
        ("BGPAdvertisement", "b", "spec.communities[0]", "not defined by any Community"),
        id="bgpadv-unknown-community-alias",
    ),
    pytest.param(
        [
            obj("BGPAdvertisement", "b", {"localPref": 100}),
            obj("BGPAdvertisement", "c", {"localPref": 200}),
        ],
        ("BGPAdvertisement", "c", "spec.localPref", "conflicts with BGPAdvertisement 'b'"),
        id="bgpadv-localpref-conflict",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"localPref": -1})],
        ("BGPAdvertisement", "b", "spec.localPref", "greater than or equal to 0"),
        id="bgpadv-localpref-negative",
    ),
    pytest.param(
        [
            obj(
                "BGPAdvertisement",
                "b",
                {"nodeSelectors": [{"matchLabels": {"a": "b"}}, {"matchLabels": {"a": "b"}}]},
            )
        ],
        ("BGPAdvertisement", "b", "spec.nodeSelectors[1]", "duplicate selector"),
        id="bgpadv-duplicate-node-selectors",
    ),
    pytest.param(
        [
            pool("r", "198.51.100.1-198.51.100.126"),
            obj("BGPAdvertisement", "b", {"ipAddressPools": ["r"], "aggregationLength": 26}),
        ],
        ("BGPAdvertisement", "b", "spec.aggregationLength", "widest is /27"),
        id="bgpadv-aggregation-wider-than-range-pieces",
    ),
    pytest.param(
        [
            pool("ds", "198.51.100.0/24", "2001:db8::/64"),
            obj("BGPAdvertisement", "b", {"ipAddressPools": ["ds"], "localPref": 1}),
            obj(
                "BGPAdvertisement",
                "c",
                {"ipAddressPools": ["ds"], "localPref": 2, "aggregationLength": 30},
            ),
        ],
        ("BGPAdvertisement", "c", "spec.localPref", "'ds'"),
        id="bgpadv-localpref-conflict-dual-stack-pool-one-family-differs",
    ),
    pytest.param(
        [
            obj(
                "BGPAdvertisement",
                "b",
                {"localPref": 1, "nodeSelectors": [{"matchLabels": {"r": "1"}}]},
            ),
            obj(
                "BGPAdvertisement",
                "c",
                {"localPref": 2, "nodeSelectors": [{"matchLabels": {"z": "1"}}]},
            ),
            {"kind": "Node", "metadata": {"name": "n1", "labels": {"r": "1", "z": "1"}}},
        ],
        ("BGPAdvertisement", "c", "spec.localPref", "conflicts"),
        id="bgpadv-localpref-conflict-on-shared-node",
    ),
    # --- BGPPeer
    pytest.param(
        [peer(myASN=0)], ("BGPPeer", "r", "spec.myASN", "must not be 0"), id="peer-myasn-zero"
    ),
    pytest.param(
        [peer(myASN=2**32)],
        ("BGPPeer", "r", "spec.myASN", "less than or equal to 4294967295"),
        id="peer-myasn-too-big",
    ),
    pytest.param(
        [peer(peerASN=None)], ("BGPPeer", "r", "spec.peerASN", "required"), id="peer-no-asn"
    ),
    pytest.param(
        [peer(dynamicASN="external")],
        ("BGPPeer", "r", "spec.dynamicASN", "ExaBGP"),
        id="peer-dynamic-asn-unsupported",
    ),
    pytest.param(
        [peer(dynamicASN="external")],
        ("BGPPeer", "r", "spec.peerASN", "mutually exclusive"),
        id="peer-both-asn-forms",
    ),
    pytest.param(
        [peer(peerASN=None, dynamicASN="sideways")],
        ("BGPPeer", "r", "spec.dynamicASN", "Input should be"),
        id="peer-dynamic-asn-invalid",
    ),
    pytest.param(
        [peer(peerASN=64512, ebgpMultiHop=True)],
        ("BGPPeer", "r", "spec.ebgpMultiHop", "iBGP"),
        id="peer-multihop-on-ibgp",
    ),
    pytest.param(
        [peer(peerAddress=None)],
        ("BGPPeer", "r", "spec.peerAddress", "required"),
        id="peer-no-address",
    ),
    pytest.param(
        [peer(interface="eth0")],
        ("BGPPeer", "r", "spec.interface", "ExaBGP"),
        id="peer-interface-unsupported",
    ),
    pytest.param(
        [peer(interface="eth0")],
        ("BGPPeer", "r", "spec.peerAddress", "mutually exclusive"),
        id="peer-address-and-interface",
    ),
    pytest.param(
        [peer(peerAddress="198.51.100.300")],
        ("BGPPeer", "r", "spec.peerAddress", "invalid peer address"),
        id="peer-bad-address",
    ),
    pytest.param(
        [peer(sourceAddress="nope")],
        ("BGPPeer", "r", "spec.sourceAddress", "invalid source address"),
        id="peer-bad-source",
    ),
    pytest.param(
        [peer(sourceAddress="2001:db8::1")],
        ("BGPPeer", "r", "spec.sourceAddress", "different families"),
        id="peer-source-family-mismatch",
    ),
    pytest.param(
        [peer(routerID="2001:db8::1")],
        ("BGPPeer", "r", "spec.routerID", "IPv4"),
        id="peer-bad-router-id",
    ),
    pytest.param(
        [peer(holdTime="2s")],
        ("BGPPeer", "r", "spec.holdTime", "at least 3s"),
        id="peer-hold-below-3s",
    ),
    pytest.param(
        [peer(holdTime="ninety")],
        ("BGPPeer", "r", "spec.holdTime", "invalid duration"),
        id="peer-hold-unparsable",
    ),
    pytest.param(
        [peer(holdTime="3500ms")],
        ("BGPPeer", "r", "spec.holdTime", "whole number of seconds"),
        id="peer-hold-fractional",
    ),
    pytest.param(
        [peer(holdTime="30s", keepaliveTime="40s")],
        ("BGPPeer", "r", "spec.keepaliveTime", "greater than holdTime"),
        id="peer-keepalive-above-hold",
    ),
    pytest.param(
        [peer(peerPort=0)],
        ("BGPPeer", "r", "spec.peerPort", "greater than or equal to 1"),
        id="peer-port-zero",
    ),
    pytest.param(
        [peer(peerPort=16385)],
        ("BGPPeer", "r", "spec.peerPort", "less than or equal to 16384"),
        id="peer-port-too-big",
    ),
    pytest.param(
        [peer(password="x", passwordSecret={"name": "s"}), secret("s", password="y")],
        ("BGPPeer", "r", "spec.password", "mutually exclusive"),
        id="peer-both-password-forms",
    ),
    pytest.param(
        [peer(nodeSelectors=[{"matchLabels": {"a": "b"}}, {"matchLabels": {"a": "b"}}])],
        ("BGPPeer", "r", "spec.nodeSelectors[1]", "duplicate selector"),
        id="peer-duplicate-node-selectors",
    ),
    pytest.param(
        [peer(vrf="red")],
        ("BGPPeer", "r", "spec.vrf", "not supported by ingot's BGP mode (ExaBGP)"),
        id="peer-vrf-unsupported",
    ),
    pytest.param(
        [peer(localASN=65000)],
        ("BGPPeer", "r", "spec.localASN", "not supported by ingot's BGP mode (ExaBGP)"),
        id="peer-local-asn-unsupported",
    ),
    pytest.param(
        [peer(connectTime="10s")],
        ("BGPPeer", "r", "spec.connectTime", "not supported by ingot's BGP mode (ExaBGP)"),
        id="peer-connect-time-unsupported",
    ),
    pytest.param(
        [peer(enableGracefulRestart=True)],
        (
            "BGPPeer",
            "r",
            "spec.enableGracefulRestart",
            "not supported by ingot's BGP mode (ExaBGP)",
        ),
        id="peer-graceful-restart-unsupported",
    ),
    pytest.param(
        [peer(), peer("r2")],
        ("BGPPeer", "r2", "spec.peerAddress", "already peers with 198.51.100.1"),
        id="peer-duplicate-address",
    ),
    pytest.param(
        [peer(peerASN=0)], ("BGPPeer", "r", "spec.peerASN", "must not be 0"), id="peer-asn-zero"
    ),
    pytest.param(
        [peer(password="a\nb")],
        ("BGPPeer", "r", "spec.password", "line break"),
        id="peer-password-line-break",
    ),
    pytest.param(
        [peer(passwordSecret={"name": "s"}), secret("s", password="a\rb")],
        ("BGPPeer", "r", "spec.passwordSecret", "line break"),
        id="peer-secret-password-line-break",
    ),
    # --- runtime-only in MetalLB, compile-time in ingot
    pytest.param(
        [peer(bfdProfile="fast")],
        ("BGPPeer", "r", "spec.bfdProfile", "BFDProfile 'fast' does not exist"),
        id="peer-missing-bfd-profile",
    ),
    pytest.param(
        [peer(passwordSecret={"name": "s"})],
        ("BGPPeer", "r", "spec.passwordSecret", "does not exist"),
        id="peer-missing-secret",
    ),
    pytest.param(
        [peer(passwordSecret={"name": "s"}), secret("s", typ="Opaque", password="p")],
        ("BGPPeer", "r", "spec.passwordSecret", "must be of type 'kubernetes.io/basic-auth'"),
        id="peer-secret-wrong-type",
    ),
    pytest.param(
        [peer(passwordSecret={"name": "s"}), secret("s", username="u")],
        ("BGPPeer", "r", "spec.passwordSecret", "no key 'password'"),
        id="peer-secret-no-password-key",
    ),
    # --- BFDProfile
    pytest.param(
        [obj("BFDProfile", "f", {"receiveInterval": 9})],
        ("BFDProfile", "f", "spec.receiveInterval", "greater than or equal to 10"),
        id="bfd-receive-below-10",
    ),
    pytest.param(
        [obj("BFDProfile", "f", {"transmitInterval": 60001})],
        ("BFDProfile", "f", "spec.transmitInterval", "less than or equal to 60000"),
        id="bfd-transmit-above-60000",
    ),
    pytest.param(
        [obj("BFDProfile", "f", {"detectMultiplier": 1})],
        ("BFDProfile", "f", "spec.detectMultiplier", "greater than or equal to 2"),
        id="bfd-multiplier-1",
    ),
    pytest.param(
        [obj("BFDProfile", "f", {"detectMultiplier": 256})],
        ("BFDProfile", "f", "spec.detectMultiplier", "less than or equal to 255"),
        id="bfd-multiplier-256",
    ),
    pytest.param(
        [obj("BFDProfile", "f", {"minimumTtl": 255})],
        ("BFDProfile", "f", "spec.minimumTtl", "less than or equal to 254"),
        id="bfd-min-ttl-255",
    ),
    pytest.param(
        [obj("BFDProfile", "f", {"echoInterval": 5})],
        ("BFDProfile", "f", "spec.echoInterval", "greater than or equal to 10"),
        id="bfd-echo-interval-5",
    ),
    pytest.param(
        [obj("BFDProfile", "f", {"echoMode": True})],
        ("BFDProfile", "f", "spec.echoMode", "not implemented"),
        id="bfd-echo-mode-unsupported",
    ),
    # --- Community
    pytest.param(
        [obj("Community", "c", {"communities": [{"name": "a", "value": "1:99999"}]})],
        ("Community", "c", "spec.communities[0].value", "exceeds 65535"),
        id="community-invalid-value",
    ),
    pytest.param(
        [
            obj(
                "Community",
                "c",
                {"communities": [{"name": "a", "value": "1:1"}, {"name": "a", "value": "1:2"}]},
            )
        ],
        ("Community", "c", "spec.communities[1].name", "duplicate alias"),
        id="community-duplicate-in-object",
    ),
    pytest.param(
        [
            obj("Community", "c", {"communities": [{"name": "a", "value": "1:1"}]}),
            obj("Community", "d", {"communities": [{"name": "a", "value": "1:2"}]}),
        ],
        ("Community", "d", "spec.communities[0].name", "already defined by Community 'c'"),
        id="community-duplicate-across-objects",
    ),
    pytest.param(
        [obj("Community", "c", {"communities": [{"name": "a:b", "value": "1:1"}]})],
        ("Community", "c", "spec.communities[0].name", "contain no ':'"),
        id="community-alias-with-colon",
    ),
    # --- objects in general
    pytest.param(
        [obj("L2Advertisement", "", {})],
        ("L2Advertisement", "", "metadata.name", "required"),
        id="object-without-name",
    ),
]


@pytest.mark.parametrize(("objects", "expected"), REJECTED)
def test_rejected(objects: list[dict[str, Any]], expected: tuple[str, str, str, str]) -> None:
    result = compile_with(*objects)
    assert result.config is None
    kind, name, path, fragment = expected
    found = [e for e in result.errors if (e.kind, e.name, e.path) == (kind, name, path)]
    assert found, f"no error at {kind} {name} {path}; got:\n{result.summary()}"
    assert any(fragment in e.message for e in found), "\n".join(str(e) for e in found)
    # str() names the object and the path, as the contract says
    assert str(found[0]).startswith(f"{kind} {NS}/{name} {path}: ") or not name


ACCEPTED = [
    pytest.param(
        [pool("p", "198.51.100.29/32", "198.51.100.34-198.51.100.34")],
        id="single-addresses-as-cidr-and-range",
    ),
    pytest.param([pool("p", " 198.51.100.1-198.51.100.9 ")], id="range-with-outer-whitespace"),
    pytest.param([pool("p", "198.51.100.0/24", "2001:db8::/64")], id="dual-stack-pool"),
    pytest.param(
        [pool("p", "198.51.100.0/25"), pool("q", "198.51.100.128/25")], id="adjacent-pools"
    ),
    pytest.param(
        [pool("p", "198.51.100.0/24", serviceAllocation={"priority": 10})],
        id="priority-only-allocation",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"aggregationLength": 28})],
        id="aggregation-equal-to-pool-prefix",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"aggregationLength": 32})], id="aggregation-32-always-fine"
    ),
    pytest.param(
        [
            pool("r", "198.51.100.1-198.51.100.126"),
            obj("BGPAdvertisement", "b", {"ipAddressPools": ["r"], "aggregationLength": 27}),
        ],
        id="aggregation-equal-to-widest-range-piece-like-metallb",
    ),
    pytest.param(
        [
            obj(
                "BGPAdvertisement",
                "b",
                {"localPref": 1, "nodeSelectors": [{"matchLabels": {"r": "1"}}]},
            ),
            obj(
                "BGPAdvertisement",
                "c",
                {"localPref": 2, "nodeSelectors": [{"matchLabels": {"r": "2"}}]},
            ),
            {"kind": "Node", "metadata": {"name": "n1", "labels": {"r": "1"}}},
            {"kind": "Node", "metadata": {"name": "n2", "labels": {"r": "2"}}},
        ],
        id="localpref-differs-on-disjoint-nodes",
    ),
    pytest.param(
        [
            obj("BGPAdvertisement", "b", {"localPref": 100}),
            obj("BGPAdvertisement", "c", {"localPref": 100}),
        ],
        id="same-localpref",
    ),
    pytest.param(
        [
            obj("BGPAdvertisement", "b", {"localPref": 100}),
            obj("BGPAdvertisement", "c", {"localPref": 200, "aggregationLength": 30}),
        ],
        id="localpref-differs-with-other-aggregation",
    ),
    pytest.param(
        [
            peer(),
            peer("r2", peerAddress="198.51.100.2"),
            obj("BGPAdvertisement", "b", {"localPref": 100, "peers": ["r"]}),
            obj("BGPAdvertisement", "c", {"localPref": 200, "peers": ["r2"]}),
        ],
        id="localpref-differs-on-disjoint-peers",
    ),
    pytest.param(
        [obj("BGPAdvertisement", "b", {"communities": ["65535:65535", "large:4294967295:0:1"]})],
        id="community-boundaries",
    ),
    pytest.param(
        [
            obj("Community", "c", {"communities": [{"name": "noexp", "value": "65535:65281"}]}),
            obj("BGPAdvertisement", "b", {"communities": ["noexp"]}),
        ],
        id="community-alias",
    ),
    pytest.param([peer(holdTime="0s")], id="hold-time-zero"),
    pytest.param([peer(holdTime="3s")], id="hold-time-3s"),
    pytest.param([peer(holdTime="1m30s", keepaliveTime="30s")], id="hold-and-keepalive"),
    pytest.param([peer(keepaliveTime="10s")], id="keepalive-only"),
    pytest.param([peer(enableGracefulRestart=False, vrf="")], id="frr-fields-at-their-zero-value"),
    pytest.param([peer(disableMP=True)], id="disable-mp-only-warns"),
    pytest.param([peer(), peer("r2", peerPort=1179)], id="same-address-other-port"),
    pytest.param(
        [
            peer(nodeSelectors=[{"matchLabels": {"rack": "1"}}]),
            peer("r2", nodeSelectors=[{"matchLabels": {"rack": "2"}}]),
            {"kind": "Node", "metadata": {"name": "n1", "labels": {"rack": "1"}}},
            {"kind": "Node", "metadata": {"name": "n2", "labels": {"rack": "2"}}},
        ],
        id="same-address-disjoint-nodes",
    ),
    pytest.param(
        [
            peer(bfdProfile="fast"),
            obj(
                "BFDProfile",
                "fast",
                {"receiveInterval": 100, "transmitInterval": 100, "echoMode": False},
            ),
        ],
        id="bfd-profile-present",
    ),
    pytest.param(
        [peer(passwordSecret={"name": "s"}), secret("s", password="p")], id="password-secret"
    ),
    pytest.param(
        [
            obj(
                "IPAddressPool",
                "other",
                {"addresses": ["203.0.113.0/28"]},
                metadata={"namespace": "elsewhere"},
            )
        ],
        id="object-in-other-namespace-ignored",
    ),
]


@pytest.mark.parametrize("objects", ACCEPTED)
def test_accepted(objects: list[dict[str, Any]]) -> None:
    result = compile_with(*objects)
    assert result.errors == (), result.summary()
    assert result.config is not None


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        pytest.param(
            [obj("L2Advertisement", "a", {"ipAddressPools": ["nope"]})],
            ("L2Advertisement", "a", "spec.ipAddressPools[0]", "does not exist"),
            id="l2-unknown-pool-like-metallb",
        ),
        pytest.param(
            [obj("BGPAdvertisement", "b", {"ipAddressPools": ["nope"]})],
            ("BGPAdvertisement", "b", "spec.ipAddressPools[0]", "does not exist"),
            id="bgpadv-unknown-pool-like-metallb",
        ),
        pytest.param(
            [obj("BGPAdvertisement", "b", {"peers": ["ghost"]})],
            ("BGPAdvertisement", "b", "spec.peers[0]", "nothing is advertised to it"),
            id="bgpadv-unknown-peer",
        ),
        pytest.param(
            [obj("L2Advertisement", "a", {"interfaces": ["eth0", "eth0"]})],
            ("L2Advertisement", "a", "spec.interfaces[1]", "twice"),
            id="l2-duplicate-interface",
        ),
        pytest.param(
            [peer(disableMP=True)],
            ("BGPPeer", "r", "spec.disableMP", "deprecated"),
            id="peer-disable-mp-deprecated",
        ),
        pytest.param(
            [obj("IPAddressPool", "p", {"addresses": ["198.51.100.0/24"], "autoassign": False})],
            ("IPAddressPool", "p", "spec.autoassign", "unknown field"),
            id="unknown-field",
        ),
        pytest.param(
            [
                obj(
                    "IPAddressPool",
                    "other",
                    {"addresses": ["203.0.113.0/28"]},
                    metadata={"namespace": "elsewhere"},
                )
            ],
            ("IPAddressPool", "other", "metadata.namespace", "must be in namespace"),
            id="object-in-other-namespace-ignored",
        ),
    ],
)
def test_warning_only(objects: list[dict[str, Any]], expected: tuple[str, str, str, str]) -> None:
    """MetalLB accepts these (silently); ingot accepts them too but says why it looks wrong."""
    result = compile_with(*objects)
    assert result.errors == (), result.summary()
    kind, name, path, fragment = expected
    assert any(
        (w.kind, w.name, w.path) == (kind, name, path) and fragment in w.message
        for w in result.warnings
    ), result.warnings


@pytest.mark.parametrize(
    "objects",
    [
        pytest.param([peer(bfdProfile="fast")], id="missing-bfd-profile"),
        pytest.param([peer(passwordSecret={"name": "s"})], id="missing-secret"),
        pytest.param(
            [obj("BGPAdvertisement", "b", {"communities": ["later"]})], id="unknown-alias"
        ),
    ],
)
def test_lenient_references_become_warnings(objects: list[dict[str, Any]]) -> None:
    """The webhook may accept objects in any order: dangling references are only warnings."""
    assert compile_with(*objects).config is None
    lenient = compile_with(*objects, strict=False)
    assert lenient.errors == ()
    assert lenient.warnings


def test_errors_are_sorted_and_deterministic() -> None:
    objects = [
        pool("p", "bad"),
        peer(myASN=0),
        obj("L2Advertisement", "a", {"ipAddressPools": ["x"]}),
    ]
    a = compile_with(*objects)
    b = compile_with(*reversed(objects))
    assert a.errors == b.errors
    assert list(a.errors) == sorted(a.errors)
