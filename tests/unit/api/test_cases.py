"""Each configuration case of shared/cases/cases.md compiles to the expected outcome.

Inputs are the cases' YAML (``testdata/cases/*.yaml``; Services and other kinds are ignored by
the compiler). Every row states the outcome: valid with facts about the Config, or the errors
expected (kind, name, field path, message fragments).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingot.api.compile import ClusterResources, CompileResult, compile_config
from ingot.api.config import Config

CASES = Path(__file__).parent / "testdata" / "cases"
EXAMPLES = Path(__file__).parents[3] / "examples"
NS = "metallb-system"


def load(name: str) -> ClusterResources:
    docs = [d for d in yaml.safe_load_all((CASES / name).read_text()) if d]
    return ClusterResources.from_objects(docs)


def c03(cfg: Config, res: CompileResult) -> None:
    gold, silver = cfg.pools["gold"], cfg.pools["silver"]
    assert gold.allocation is not None
    assert gold.allocation.priority == 10
    assert silver.allocation is not None
    assert silver.allocation.priority == 50
    # priority only: no namespace or service restriction -> admits every Service (issue 2656)
    for p in (gold, silver):
        assert p.admission(namespace="demo", namespace_labels={}, service_labels={}) is None
    assert cfg.l2_advertisements[0].pools == {"gold", "silver"}


def c04(cfg: Config, res: CompileResult) -> None:
    assert not cfg.pools["pool-cidr"].auto_assign
    assert cfg.pools["pool-cidr"].capacity() == 4
    assert cfg.pools["pool-buggy"].capacity() == 3
    assert not cfg.pools["pool-buggy"].contains(ipaddress.ip_address("192.0.2.255"))
    # no advertisement in this case: both pools are reported as unannounced (warning, C14)
    assert {w.name for w in res.warnings} == {"pool-cidr", "pool-buggy"}


def c05(cfg: Config, res: CompileResult) -> None:
    p = cfg.pools["singles"]
    assert (p.capacity(), p.capacity(4), p.capacity(6)) == (3, 2, 1)


def c10_3(cfg: Config, res: CompileResult) -> None:
    assert cfg.pools["picked"].capacity() == 2


def c12(cfg: Config, res: CompileResult) -> None:
    assert cfg.pools["home"].families == {4, 6}


def c14_1(cfg: Config, res: CompileResult) -> None:
    assert cfg.unannounced_pools() == {"primary"}
    (w,) = res.warnings
    assert (w.kind, w.name) == ("IPAddressPool", "primary")
    assert "not announced" in w.message


def c14_2(cfg: Config, res: CompileResult) -> None:
    assert cfg.unannounced_pools() == frozenset()
    assert res.warnings == ()
    assert cfg.l2_advertisements_for_pool("primary")[0].name == "l2adv"


def c17(cfg: Config, res: CompileResult) -> None:
    ad = cfg.l2_advertisements[0]
    assert ad.nodes == {"node-a", "node-b"}
    assert not ad.selects_node({"role/ml": "true"})
    qa = cfg.pools["qa"]
    assert qa.admission(namespace="qa", namespace_labels={}, service_labels={}) is None
    assert qa.admission(namespace="other", namespace_labels={}, service_labels={}) is not None


def c23(cfg: Config, res: CompileResult) -> None:
    peer = cfg.bgp_peers["router-a"]
    assert peer.password is not None
    assert peer.password.get_secret_value() == "example-md5-secret"
    assert peer.password_source == "Secret metallb-system/router-a-auth"
    assert "example-md5-secret" not in repr(cfg)
    assert "example-md5-secret" not in str(peer)


def c24(cfg: Config, res: CompileResult) -> None:
    assert cfg.bgp_peers["router-a"].my_asn == 64513


def c26(cfg: Config, res: CompileResult) -> None:
    (ad,) = cfg.bgp_advertisements
    assert ad.selects_peer("router-a")
    assert ad.selects_peer("router-b")
    assert res.warnings == ()


def c30(expected_size: int) -> Callable[[Config, CompileResult], None]:
    def check(cfg: Config, res: CompileResult) -> None:
        assert cfg.pools["main"].capacity() == expected_size

    return check


def c36_b(cfg: Config, res: CompileResult) -> None:
    (ad,) = cfg.bgp_advertisements
    assert ad.aggregation_length == 24
    assert not cfg.pools["lb"].contains(ipaddress.ip_address("203.0.113.0"))


def c36_32(cfg: Config, res: CompileResult) -> None:
    assert cfg.bgp_advertisements[0].aggregation_length == 32


VALID = [
    pytest.param("C03.yaml", c03, id="C03-priority-only-pools"),
    pytest.param("C04.yaml", c04, id="C04-cidr-buggy-autoassign"),
    pytest.param("C05.yaml", c05, id="C05-single-address-entries"),
    pytest.param("C10-input3.yaml", c10_3, id="C10-correct-form"),
    pytest.param("C12.yaml", c12, id="C12-dual-stack-pool"),
    pytest.param("C14-step1.yaml", c14_1, id="C14-no-advertisement-warns"),
    pytest.param("C14-step2.yaml", c14_2, id="C14-advertisement-added"),
    pytest.param("C17.yaml", c17, id="C17-node-selector"),
    pytest.param("C23-step1.yaml", c23, id="C23-password-secret"),
    pytest.param("C24.yaml", c24, id="C24-wrong-asn-is-valid-config"),
    pytest.param("C26.yaml", c26, id="C26-all-peers-listed"),
    pytest.param("C30-step1.yaml", c30(4), id="C30-pool-before-edit"),
    pytest.param("C30-step2.yaml", c30(4), id="C30-pool-moved"),
    pytest.param("C30-step3.yaml", c30(1), id="C30-pool-shrunk"),
    pytest.param("C36-B.yaml", c36_b, id="C36-cidr-with-avoid-buggy-aggregates"),
    pytest.param("C36-A-32.yaml", c36_32, id="C36-range-pool-with-32"),
]


@pytest.mark.parametrize(("name", "check"), VALID)
def test_valid_case(name: str, check: Callable[[Config, CompileResult], None]) -> None:
    result = compile_config(load(name), namespace=NS)
    assert result.errors == (), result.summary()
    assert result.config is not None
    check(result.config, result)


C36_FRAGMENTS = ("'lb'", "'203.0.113.1-203.0.113.126'", "/27", "/24")

INVALID: list[Any] = [
    pytest.param(
        "C10-input1.yaml",
        [("IPAddressPool", "picked", "spec.addresses[0]", ("192.0.2.29,192.0.2.34", "one CIDR"))],
        id="C10-comma-separated",
    ),
    pytest.param(
        "C10-input2.yaml",
        [("IPAddressPool", "bare", "spec.addresses[0]", ("invalid CIDR", "192.0.2.29/32"))],
        id="C10-bare-address",
    ),
    pytest.param(
        "C10-reversed.yaml",
        [("IPAddressPool", "picked", "spec.addresses[0]", ("start 192.0.2.34 is after end",))],
        id="C10-reversed-range",
    ),
    pytest.param(
        "C23-step4-both.yaml",
        [("BGPPeer", "router-a", "spec.password", ("mutually exclusive",))],
        id="C23-both-password-forms",
    ),
    pytest.param(
        "C23-step4-opaque.yaml",
        [("BGPPeer", "router-a", "spec.passwordSecret", ("kubernetes.io/basic-auth",))],
        id="C23-opaque-secret",
    ),
    pytest.param(
        "C36-A.yaml",
        [("BGPAdvertisement", "agg", "spec.aggregationLength", C36_FRAGMENTS)],
        id="C36-range-pool-with-24",
    ),
    pytest.param(
        "C36-A-reversed.yaml",
        [("BGPAdvertisement", "agg", "spec.aggregationLength", C36_FRAGMENTS)],
        id="C36-order-independent",
    ),
]


@pytest.mark.parametrize(("name", "expected"), INVALID)
def test_invalid_case(name: str, expected: list[tuple[str, str, str, tuple[str, ...]]]) -> None:
    result = compile_config(load(name), namespace=NS)
    assert result.config is None
    for kind, obj_name, path, fragments in expected:
        found = [e for e in result.errors if (e.kind, e.name, e.path) == (kind, obj_name, path)]
        assert found, result.summary()
        assert any(all(f in e.message for f in fragments) for e in found), result.summary()
    assert "example-md5-secret" not in result.summary()


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_compile(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    result = compile_config(ClusterResources.from_objects(docs))
    assert result.errors == (), result.summary()
