"""Who writes ``ingot.io/Announced`` for a Service: the L2 or the BGP component (one writer)."""

from __future__ import annotations

import pytest

from ingot.api import l2
from ingot.api.compile import ClusterResources, compile_config

NS = "ingot-system"


def _obj(kind: str, name: str, spec: dict) -> dict:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def _config(l2_ads: list[dict], bgp_ads: list[dict]):
    res = ClusterResources(
        ip_address_pools=(
            _obj("IPAddressPool", "a", {"addresses": ["203.0.113.0/28"]}),
            _obj("IPAddressPool", "b", {"addresses": ["203.0.113.16/28"]}),
        ),
        l2_advertisements=tuple(
            _obj("L2Advertisement", f"l2-{i}", s) for i, s in enumerate(l2_ads)
        ),
        bgp_advertisements=tuple(
            _obj("BGPAdvertisement", f"bgp-{i}", s) for i, s in enumerate(bgp_ads)
        ),
    )
    result = compile_config(res, namespace=NS)
    assert result.config is not None, result.errors
    return result.config


ONLY_WEB = {"ipAddressPools": ["a"], "serviceSelectors": [{"matchLabels": {"app": "web"}}]}


@pytest.mark.parametrize(
    ("l2_ads", "bgp_ads", "pool", "labels", "owner"),
    [
        pytest.param([{"ipAddressPools": ["a"]}], [], "a", {}, "l2", id="l2-only"),
        pytest.param([], [{"ipAddressPools": ["a"]}], "a", {}, "bgp", id="bgp-only"),
        pytest.param(
            [{"ipAddressPools": ["a"]}], [{"ipAddressPools": ["a"]}], "a", {}, "l2", id="both-l2"
        ),
        pytest.param([], [], "a", {}, "l2", id="C14-no-advertisement-l2-explains"),
        pytest.param([{"ipAddressPools": ["b"]}], [], "a", {}, "l2", id="other-pool-l2-explains"),
        pytest.param(
            [{"ipAddressPools": ["a"]}], [{"ipAddressPools": ["a"]}], None, {}, "l2", id="no-pool"
        ),
        pytest.param(
            [ONLY_WEB],
            [{"ipAddressPools": ["a"]}],
            "a",
            {"app": "db"},
            "bgp",
            id="l2-selector-miss",
        ),
        pytest.param(
            [ONLY_WEB], [{"ipAddressPools": ["a"]}], "a", {"app": "web"}, "l2", id="l2-selector-hit"
        ),
    ],
)
def test_announced_condition_owner(l2_ads, bgp_ads, pool, labels, owner):
    cfg = _config(l2_ads, bgp_ads)
    assert l2.announced_condition_owner(cfg, pool=pool, service_labels=labels) == owner
