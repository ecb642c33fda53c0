"""``ingot plan``: the moves a proposed change causes, computed without writing anything."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ingot.cli.main import main

SNAPSHOTS = Path(__file__).parent / "testdata" / "snapshots"
NOW = "2026-01-01T00:00:10Z"

SHRINK = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec: {addresses: ["198.51.100.10-198.51.100.11"]}
"""
L2_ZONE3 = """
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec: {nodeSelectors: [{matchLabels: {zone: z3}}]}
"""
L2_NOWHERE = """
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec: {nodeSelectors: [{matchLabels: {zone: mars}}]}
"""
NODE_B_EXCLUDED = """
apiVersion: v1
kind: Node
metadata:
  name: node-b
  labels: {zone: z2, node.kubernetes.io/exclude-from-external-load-balancers: ""}
"""
BGP_NODE_A_ONLY = """
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec:
  communities: ["64500:100"]
  localPref: 200
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node-a}}]
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {kubernetes.io/hostname: node-a}}
status: {addresses: [{type: InternalIP, address: 198.51.100.11}]}
"""
BROKEN = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec: {addresses: ["198.51.100.300/32"]}
"""


def plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str, manifest: str, *extra: str
) -> tuple[int, dict[str, Any]]:
    args = ["plan", "--snapshot", str(SNAPSHOTS / "base.yaml"), "--snapshot"]
    args += [str(SNAPSHOTS / f"{case}.yaml"), "--now", NOW, "-o", "json", *extra]
    if manifest:
        f = tmp_path / "proposal.yaml"
        f.write_text(textwrap.dedent(manifest))
        args += ["-f", str(f)]
    rc = main(args)
    return rc, json.loads(capsys.readouterr().out)


def changes(r: dict[str, Any]) -> dict[str, tuple[str, list[str], list[str]]]:
    return {
        c["service"]: (c["change"], c["before"]["ips"], c["after"]["ips"]) for c in r["services"]
    }


def moves(r: dict[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    return {m["ip"]: (m["before"], m["after"]) for m in r["l2_moves"]}


def test_pool_shrink_moves_the_service_outside_the_new_range(capsys, tmp_path) -> None:
    rc, r = plan(capsys, tmp_path, "plan", SHRINK)
    assert rc == 1
    assert changes(r) == {"demo/s2": ("changes IP", ["198.51.100.12"], ["198.51.100.11"])}
    m = moves(r)
    assert m["198.51.100.12"][1] is None
    assert m["198.51.100.11"][0] is None
    assert m["198.51.100.11"][1] is not None
    assert "198.51.100.10" not in m  # s1 is untouched
    assert any("demo/s2 would move" in p for p in r["problems"])


def test_pool_deletion_reallocates_or_strands(capsys, tmp_path) -> None:
    rc, r = plan(capsys, tmp_path, "plan", "", "--delete", "ipaddresspool/b")
    assert rc == 1
    c = changes(r)
    assert c["demo/s3"] == ("changes IP", ["203.0.113.8"], ["198.51.100.11"])
    assert c["demo/s4"] == ("loses its IP", ["203.0.113.9"], [])
    lost = next(x for x in r["services"] if x["service"] == "demo/s4")
    assert "unknown pool 'b'" in lost["reason"]
    assert set(c) == {"demo/s3", "demo/s4"}


def test_node_selector_change_moves_every_owner_to_the_selected_node(capsys, tmp_path) -> None:
    rc, r = plan(capsys, tmp_path, "plan", L2_ZONE3)
    assert rc == 0, r["problems"]
    assert r["services"] == []
    assert all(after == "node-c" for _before, after in moves(r).values())
    assert set(moves(r)) == {
        ip for ip in ("198.51.100.10", "198.51.100.12", "203.0.113.8", "203.0.113.9")
    } - {ip for ip, (before, _a) in moves(r).items() if before == "node-c"}


def test_node_selector_matching_nothing_leaves_ips_unanswered(capsys, tmp_path) -> None:
    rc, r = plan(capsys, tmp_path, "plan", L2_NOWHERE)
    assert rc == 1
    assert {after for _b, after in moves(r).values()} == {None}
    assert len(moves(r)) == 4
    assert all("no longer be answered" in p for p in r["problems"])


def test_node_label_change_moves_owner_off_the_node(capsys, tmp_path) -> None:
    rc, r = plan(capsys, tmp_path, "plan", NODE_B_EXCLUDED)
    assert rc == 0
    m = moves(r)
    assert m["198.51.100.12"][0] == "node-b"
    assert m["198.51.100.12"][1] not in (None, "node-b")


def test_bgp_node_selector_change_withdraws_routes(capsys, tmp_path) -> None:
    rc, r = plan(capsys, tmp_path, "c27", BGP_NODE_A_ONLY)
    assert rc == 0, r["problems"]
    removed = r["routes_removed"]
    assert removed
    assert all(x.startswith(("node-b ->", "node-c ->")) for x in removed)
    assert "node-b -> router-a: 203.0.113.33/32 next-hop self communities 64500:100" in removed
    assert r["routes_added"] == []


def test_invalid_proposal_changes_nothing(capsys, tmp_path) -> None:
    rc, r = plan(capsys, tmp_path, "plan", BROKEN)
    assert rc == 1
    assert not r["configuration"]["valid"]
    assert any("spec.addresses[0]" in e for e in r["configuration"]["errors"])
    assert r["services"] == []
    assert r["l2_moves"] == []


def test_plan_text(capsys, tmp_path) -> None:
    f = tmp_path / "shrink.yaml"
    f.write_text(textwrap.dedent(SHRINK))
    rc = main(
        ["plan", "-f", str(f), "--snapshot", str(SNAPSHOTS / "base.yaml"), "--snapshot"]
        + [str(SNAPSHOTS / "plan.yaml"), "--now", NOW]
    )
    out = capsys.readouterr().out
    assert rc == 1
    assert "demo/s2  changes IP  198.51.100.12" in out
    assert "198.51.100.12: node-b -> nobody (IP released)" in out


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="nothing-to-plan"),
        pytest.param(["--delete", "gadget/x"], id="bad-delete-kind"),
    ],
)
def test_plan_usage_errors(capsys, args) -> None:
    rc = main(["plan", "--snapshot", str(SNAPSHOTS / "plan.yaml"), *args])
    assert rc == 2
    assert capsys.readouterr().err
