"""The compiler never crashes: any JSON-shaped input gives a CompileResult, never an exception.

A crashing compiler would stop the controller and every speaker; bad input must come back as
FieldErrors (the brief: "never crash a component").
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingot.api.compile import KIND_FIELDS, ClusterResources, compile_config

SECRET = "hunter2-md5"

json_leaf = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=12)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

SPEC_KEYS = [
    "addresses",
    "autoAssign",
    "avoidBuggyIPs",
    "serviceAllocation",
    "ipAddressPools",
    "ipAddressPoolSelectors",
    "nodeSelectors",
    "serviceSelectors",
    "interfaces",
    "aggregationLength",
    "communities",
    "peers",
    "localPref",
    "myASN",
    "peerASN",
    "peerAddress",
    "holdTime",
    "keepaliveTime",
    "password",
    "passwordSecret",
    "bfdProfile",
    "receiveInterval",
    "echoMode",
]


@st.composite
def raw_object(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(sorted(KIND_FIELDS)))
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(json_value)  # not even an object
    metadata: Any = {"name": draw(st.text(max_size=6)), "namespace": "metallb-system"}
    if shape == 1:
        metadata = draw(json_value)
    elif shape == 2:
        metadata["labels"] = draw(json_value)
    spec: Any = {
        k: draw(json_value) for k in draw(st.lists(st.sampled_from(SPEC_KEYS), max_size=5))
    }
    if shape == 3:
        spec = draw(json_value)
    if kind == "BGPPeer" and shape == 4:
        spec = {"myASN": 1, "peerASN": 2, "peerAddress": "198.51.100.1", "password": SECRET}
    out = {
        "apiVersion": draw(st.sampled_from(["metallb.io/v1beta1", "metallb.io/v1beta2", "v1"])),
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
    }
    if kind == "Secret":
        out["type"] = draw(st.sampled_from(["kubernetes.io/basic-auth", "Opaque", 3]))
        out["data"] = draw(st.one_of(json_value, st.just({"password": "aHVudGVyMi1tZDU="})))
        out["stringData"] = draw(st.one_of(st.none(), st.just({"password": SECRET}), json_value))
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(raw_object(), max_size=8))
def test_compile_never_raises(objects: list[Any]) -> None:
    by_kind: dict[str, list[Any]] = {f: [] for f in KIND_FIELDS.values()}
    for o in objects:
        kind = o.get("kind") if isinstance(o, dict) else None
        by_kind[KIND_FIELDS.get(str(kind), "ip_address_pools")].append(o)
    res = ClusterResources(**{k: tuple(v) for k, v in by_kind.items()})
    for strict in (True, False):
        result = compile_config(res, namespace="metallb-system", strict_references=strict)
        assert (result.config is None) == bool(result.errors)
        text = result.summary() + "\n".join(str(w) for w in result.warnings)
        assert SECRET not in text
        if result.config is not None:
            assert SECRET not in repr(result.config)
