"""The generated CRDs: up to date, structural, MetalLB's field names, and usable for validation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from ingot.api import crdgen

ROOT = Path(__file__).parents[3]
CRD_DIR = ROOT / "charts" / "ingot" / "crds"
CASES = Path(__file__).parent / "testdata" / "cases"


def test_committed_crds_match_generator() -> None:
    """Regenerate with ``python -m ingot.api.crdgen`` when this fails."""
    for name, text in crdgen.render_all().items():
        path = CRD_DIR / name
        assert path.exists(), f"{path} missing: run python -m ingot.api.crdgen"
        assert path.read_text() == text, f"{path} is stale: run python -m ingot.api.crdgen"


# ----------------------------------------------------------------- structural schema rules


def structural_violations(node: Any, path: str = "$") -> Iterator[str]:
    """Kubernetes structural-schema rules (python-k8s-stack.md section 3)."""
    if not isinstance(node, dict):
        yield f"{path}: not an object"
        return
    for bad in ("$ref", "const", "title", "$defs", "definitions"):
        if bad in node:
            yield f"{path}: {bad} not allowed"
    if node.get("additionalProperties") is False:
        yield f"{path}: additionalProperties: false not allowed"
    typeless_ok = node.get("x-kubernetes-int-or-string") or node.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if "type" not in node and not typeless_ok:
        yield f"{path}: type missing"
    if node.get("type") not in (None, "object", "array", "string", "integer", "number", "boolean"):
        yield f"{path}: unknown type {node.get('type')!r}"
    if "properties" in node and "additionalProperties" in node:
        yield f"{path}: properties and additionalProperties together"
    if node.get("type") == "array" and "items" not in node:
        yield f"{path}: array without items"
    for comb in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(node.get(comb, [])):
            for key in ("type", "default", "nullable", "additionalProperties"):
                if key in sub:
                    yield f"{path}.{comb}[{i}]: {key} not allowed under {comb}"
    for key, sub in (node.get("properties") or {}).items():
        yield from structural_violations(sub, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        yield from structural_violations(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from structural_violations(node["additionalProperties"], f"{path}{{}}")


def all_versions() -> list[Any]:
    out = []
    for kind in crdgen.KINDS:
        doc = crdgen.crd(kind)
        for v in doc["spec"]["versions"]:
            out.append(pytest.param(v, id=f"{kind.kind}-{v['name']}"))
    return out


@pytest.mark.parametrize("version", all_versions())
def test_structural(version: dict[str, Any]) -> None:
    schema = version["schema"]["openAPIV3Schema"]
    assert list(structural_violations(schema)) == []
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize(
    ("schema", "violation"),
    [
        pytest.param(
            {"type": "object", "properties": {"a": {"$ref": "#/x"}}}, "$.a: $ref", id="ref"
        ),
        pytest.param(
            {"type": "object", "properties": {"a": {}}}, "$.a: type missing", id="untyped"
        ),
        pytest.param({"type": "array"}, "$: array without items", id="array-items"),
        pytest.param({"type": "string", "const": "x"}, "$: const", id="const"),
        pytest.param(
            {"anyOf": [{"type": "string"}, {"type": "null"}]}, "anyOf[0]: type", id="anyof-null"
        ),
        pytest.param(
            {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
            "properties and additionalProperties",
            id="props-and-additional",
        ),
    ],
)
def test_structural_checker_catches(schema: dict[str, Any], violation: str) -> None:
    """The checker itself fails on each rule (so the test above can fail)."""
    assert any(violation in v for v in structural_violations(schema))


def test_served_and_storage_versions_like_metallb() -> None:
    by_kind = {k.kind: crdgen.crd(k) for k in crdgen.KINDS}
    peers = by_kind["BGPPeer"]["spec"]["versions"]
    assert [(v["name"], v["served"], v["storage"]) for v in peers] == [
        ("v1beta1", True, False),
        ("v1beta2", True, True),
    ]
    assert peers[0]["deprecated"] is True
    for kind, doc in by_kind.items():
        assert doc["metadata"]["name"] == f"{doc['spec']['names']['plural']}.metallb.io"
        assert sum(v["storage"] for v in doc["spec"]["versions"]) == 1, kind
    cols = [
        c["name"]
        for c in by_kind["IPAddressPool"]["spec"]["versions"][0]["additionalPrinterColumns"]
    ]
    assert cols == ["Auto Assign", "Avoid Buggy IPs", "Addresses"]


# ------------------------------------------------------------------ MetalLB's field names

METALLB_FIELDS = {
    ("IPAddressPool", "v1beta1", "spec"): {
        "addresses",
        "autoAssign",
        "avoidBuggyIPs",
        "serviceAllocation",
    },
    ("IPAddressPool", "v1beta1", "status"): {
        "assignedIPv4",
        "assignedIPv6",
        "availableIPv4",
        "availableIPv6",
    },
    ("L2Advertisement", "v1beta1", "spec"): {
        "interfaces",
        "ipAddressPoolSelectors",
        "ipAddressPools",
        "nodeSelectors",
        "serviceSelectors",
        "preferredNodeSelectors",
    },
    ("BGPAdvertisement", "v1beta1", "spec"): {
        "aggregationLength",
        "aggregationLengthV6",
        "communities",
        "ipAddressPoolSelectors",
        "ipAddressPools",
        "localPref",
        "nodeSelectors",
        "peers",
        "serviceSelectors",
    },
    ("BGPPeer", "v1beta2", "spec"): {
        "bfdProfile",
        "connectTime",
        "disableMP",
        "dualStackAddressFamily",
        "dynamicASN",
        "ebgpMultiHop",
        "enableGracefulRestart",
        "holdTime",
        "interface",
        "keepaliveTime",
        "localASN",
        "myASN",
        "nodeSelectors",
        "password",
        "passwordSecret",
        "peerASN",
        "peerAddress",
        "peerPort",
        "routerID",
        "sourceAddress",
        "vrf",
    },
    ("BGPPeer", "v1beta1", "spec"): {
        "bfdProfile",
        "ebgpMultiHop",
        "holdTime",
        "keepaliveTime",
        "myASN",
        "nodeSelectors",
        "password",
        "peerASN",
        "peerAddress",
        "peerPort",
        "routerID",
        "sourceAddress",
    },
    ("BFDProfile", "v1beta1", "spec"): {
        "detectMultiplier",
        "echoInterval",
        "echoMode",
        "minimumTtl",
        "passiveMode",
        "receiveInterval",
        "transmitInterval",
    },
    ("Community", "v1beta1", "spec"): {"communities"},
    ("ServiceL2Status", "v1beta1", "status"): {
        "interfaces",
        "node",
        "serviceName",
        "serviceNamespace",
    },
    ("ServiceBGPStatus", "v1beta1", "status"): {"node", "peers", "serviceName", "serviceNamespace"},
    ("ConfigurationState", "v1beta1", "status"): {"result", "errorSummary", "conditions"},
}


@pytest.mark.parametrize("key", sorted(METALLB_FIELDS), ids=lambda k: "-".join(k))
def test_field_names_are_metallbs(key: tuple[str, str, str]) -> None:
    kind_name, version, part = key
    kind = next(k for k in crdgen.KINDS if k.kind == kind_name)
    doc = crdgen.crd(kind)
    v = next(v for v in doc["spec"]["versions"] if v["name"] == version)
    props = v["schema"]["openAPIV3Schema"]["properties"][part]["properties"]
    assert set(props) == METALLB_FIELDS[key]


# -------------------------------------------------------------- sample CRs against schema


def schema_for(obj: dict[str, Any]) -> dict[str, Any]:
    group_version = obj["apiVersion"]
    for kind in crdgen.KINDS:
        if kind.kind == obj["kind"]:
            for v in crdgen.crd(kind)["spec"]["versions"]:
                if f"metallb.io/{v['name']}" == group_version:
                    return dict(v["schema"]["openAPIV3Schema"])
    raise KeyError(f"{group_version} {obj['kind']}")


def samples() -> list[Any]:
    out = []
    files = sorted(CASES.glob("*.yaml")) + sorted((ROOT / "examples").glob("*.yaml"))
    for path in files:
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc and str(doc.get("apiVersion", "")).startswith("metallb.io/"):
                out.append(pytest.param(doc, id=f"{path.name}-{i}-{doc['kind']}"))
    return out


@pytest.mark.parametrize("obj", samples())
def test_sample_validates(obj: dict[str, Any]) -> None:
    errors = [e.message for e in OAS30Validator(schema_for(obj)).iter_errors(obj)]
    assert errors == []


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        pytest.param(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "p"},
                "spec": {"addresses": []},
            },
            "should be non-empty",
            id="pool-empty-addresses",
        ),
        pytest.param(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "p"},
                "spec": {"addresses": ["a"], "autoAssign": "yes"},
            },
            "is not of type 'boolean'",
            id="pool-autoassign-string",
        ),
        pytest.param(
            {
                "apiVersion": "metallb.io/v1beta2",
                "kind": "BGPPeer",
                "metadata": {"name": "r"},
                "spec": {"myASN": 1, "peerPort": 70000},
            },
            "maximum",
            id="peer-port-range",
        ),
        pytest.param(
            {
                "apiVersion": "metallb.io/v1beta2",
                "kind": "BGPPeer",
                "metadata": {"name": "r"},
                "spec": {"peerASN": 1},
            },
            "'myASN' is a required property",
            id="peer-missing-myasn",
        ),
        pytest.param(
            {
                "apiVersion": "metallb.io/v1beta2",
                "kind": "BGPPeer",
                "metadata": {"name": "r"},
                "spec": {"myASN": 1, "dynamicASN": "sideways"},
            },
            "is not one of",
            id="peer-dynamic-asn-enum",
        ),
        pytest.param(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "L2Advertisement",
                "metadata": {"name": "l"},
                "spec": {"preferredNodeSelectors": [{"weight": 0, "preference": {}}]},
            },
            "minimum",
            id="l2-weight-range",
        ),
        pytest.param(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "BFDProfile",
                "metadata": {"name": "b"},
                "spec": {"detectMultiplier": 1},
            },
            "minimum",
            id="bfd-multiplier-range",
        ),
    ],
)
def test_bad_sample_is_refused_by_schema(obj: dict[str, Any], fragment: str) -> None:
    errors = [e.message for e in OAS30Validator(schema_for(obj)).iter_errors(obj)]
    assert any(fragment in e for e in errors), errors
