"""``ingot status`` on recorded snapshots: pools, Services, speakers, configuration state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingot.cli.main import main

SNAPSHOTS = Path(__file__).parent / "testdata" / "snapshots"
NOW = "2026-01-01T00:00:10Z"


def status(capsys: pytest.CaptureFixture[str], *files: str, fmt: str = "json") -> tuple[int, Any]:
    args = ["status", "--now", NOW, "-o", fmt]
    for f in ("base", *files):
        args += ["--snapshot", str(SNAPSHOTS / f"{f}.yaml")]
    rc = main(args)
    out = capsys.readouterr().out
    return rc, json.loads(out) if fmt == "json" else out


def test_pools_usage_and_exhaustion(capsys) -> None:
    rc, r = status(capsys, "sharing")
    assert rc == 1  # three Pending Services
    pools = {p["name"]: p for p in r["pools"]}
    one = pools["one"]["families"][0]
    assert (one["size"], one["used"], one["free"], one["warning"]) == (1, 1, 0, "EXHAUSTED")
    main_ = pools["main"]["families"][0]
    assert (main_["size"], main_["used"], main_["percent_used"]) == (2, 1, 50.0)
    pending = {s["service"] for s in r["services"] if s["state"].startswith("Pending")}
    assert pending == {"demo/dns-tcp", "demo/svc-b", "demo/web2"}


def test_services_modes_owners_and_next_hops(capsys) -> None:
    rc, r = status(capsys, "c27")
    assert rc == 1  # nginx has no endpoint: unannounced
    svcs = {s["service"]: s for s in r["services"]}
    assert svcs["demo/nginx-up"]["mode"] == ["BGP"]
    assert svcs["demo/nginx-up"]["bgp_nodes"] == ["node-a", "node-b", "node-c"]
    assert svcs["demo/nginx"]["state"].startswith("Unannounced")
    speakers = {s["node"]: s for s in r["speakers"]}
    sessions = {b["peer"]: b for b in speakers["node-a"]["bgp_sessions"]}
    assert set(sessions) == {"router-a", "router-b"}
    assert sessions["router-a"]["routes"] == 1


def test_unannounced_pool_is_a_problem(capsys) -> None:
    rc, r = status(capsys, "c14")
    assert rc == 1
    assert any("pool primary is not selected" in p for p in r["problems"])
    assert r["pools"][0]["announced_by"] == []


def test_speakers_lease_states(capsys) -> None:
    rc, r = status(capsys, "fenced")
    assert rc == 0, r["problems"]
    speakers = {s["node"]: (s["lease"], s["fenced"], s["l2_ips"]) for s in r["speakers"]}
    assert speakers == {
        "node-a": ("fenced", True, []),
        "node-b": ("live", False, ["198.51.100.40"]),
        "node-c": ("absent", False, []),
    }


def test_invalid_configuration_and_configuration_state(capsys, tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: broken, namespace: metallb-system}
spec: {addresses: ["198.51.100.7"]}
---
apiVersion: metallb.io/v1beta1
kind: ConfigurationState
metadata: {name: controller, namespace: metallb-system}
status:
  result: Invalid
  errorSummary: "IPAddressPool metallb-system/broken spec.addresses[0]: bad"
"""
    )
    rc = main(["status", "--snapshot", str(bad), "--now", NOW, "-o", "json"])
    r = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert not r["configuration"]["valid"]
    assert r["configuration"]["states"][0]["result"] == "Invalid"
    assert any("INVALID" in p for p in r["problems"])
    assert any("ConfigurationState controller reports Invalid" in p for p in r["problems"])


def test_text_output_has_every_section(capsys) -> None:
    rc, out = status(capsys, "fenced", fmt="text")
    assert rc == 0
    for head in ("CONFIGURATION", "POOLS", "SERVICES", "SPEAKERS"):
        assert head in out
    assert "demo/web  198.51.100.40  p     L2    node-b           -           Announced" in out


def test_text_shows_service_conditions(capsys) -> None:
    rc, out = status(capsys, "c15", fmt="text")
    assert rc == 1
    assert "IPAllocated=True,Announced=False(NoEligibleNode)" in out


def test_wrong_namespace_says_no_configuration_found(capsys) -> None:
    rc = main(["status", "--now", NOW, "-n", "nowhere", "--snapshot", str(SNAPSHOTS / "base.yaml")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "CONFIGURATION (namespace nowhere): EMPTY" in out
    assert "is -n/--namespace ingot's namespace?" in out


def test_now_without_snapshot_is_a_usage_error(capsys) -> None:
    rc = main(["status", "--now", NOW, "--server", "http://127.0.0.1:9"])
    assert rc == 2
    assert "--now applies only to --snapshot" in capsys.readouterr().err
