"""``ingot explain service`` on recorded snapshots: the right reason for each case.

Snapshots live in ``testdata/snapshots/`` (``base.yaml`` = namespaces + live speaker Leases,
plus one file per case); the text output of every case is compared with
``testdata/explain/<id>.golden`` (``INGOT_UPDATE_GOLDEN=1`` rewrites them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ingot.cli import analysis
from ingot.cli.main import main

TESTDATA = Path(__file__).parent / "testdata"
SNAPSHOTS = TESTDATA / "snapshots"
NOW = "2026-01-01T00:00:10Z"
UPDATE_GOLDEN = os.environ.get("INGOT_UPDATE_GOLDEN") == "1"


def explain(
    capsys: pytest.CaptureFixture[str], case: str, service: str, *fmt: str
) -> tuple[int, str]:
    rc = main(
        [
            "explain",
            "service",
            service,
            "--snapshot",
            str(SNAPSHOTS / "base.yaml"),
            "--snapshot",
            str(SNAPSHOTS / f"{case}.yaml"),
            "--now",
            NOW,
            *fmt,
        ]
    )
    return rc, capsys.readouterr().out


def pools(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {p["pool"]: (p["verdict"], p["cause"]) for p in report["allocation"]["pools"]}


def l2_nodes(report: dict[str, Any]) -> dict[str, str]:
    entry = report["announcement"]["l2"][0]
    return {c["node"]: c["reason"] for c in entry["candidates"]}


CASES = [
    pytest.param(
        "c14",
        "demo/web",
        1,
        lambda r: (
            r["allocation"]["decision"]["ips"] == ["198.51.100.210"]
            and r["announcement"]["modes"] == []
            and "pool primary is not selected by any L2Advertisement or BGPAdvertisement"
            in r["announcement"]["summary"]
        ),
        id="c14-no-advertisement",
    ),
    pytest.param(
        "c15",
        "demo/ing",
        0,
        lambda r: (
            r["announcement"]["l2"][0]["owner"] == "node-b"
            and "exclude-from-external-load-balancers" in l2_nodes(r)["node-a"]
        ),
        id="c15-excluded-node-never-owner",
    ),
    pytest.param(
        "c15",
        "demo/ing-local",
        1,
        lambda r: (
            r["announcement"]["l2"][0]["owner"] is None
            and "exclude-from-external-load-balancers" in l2_nodes(r)["node-a"]
            and "no serving endpoint on the node" in l2_nodes(r)["node-b"]
        ),
        id="c15-local-no-eligible-node",
    ),
    pytest.param(
        "c17",
        "qa/gateway",
        0,
        lambda r: (
            r["announcement"]["l2"][0]["owner"] in ("node-a", "node-b")
            and "nodeSelectors" in l2_nodes(r)["node-c"]
        ),
        id="c17-node-selector",
    ),
    pytest.param(
        "c17",
        "other/gateway",
        1,
        lambda r: (
            r["allocation"]["decision"]["result"] == "Pending"
            and pools(r) == {"qa": ("rejected", "namespace")}
        ),
        id="c17-namespace-not-admitted",
    ),
    pytest.param(
        "c27",
        "demo/nginx",
        1,
        lambda r: (
            all(
                not n["routes"] and n["reason"].startswith("noEndpoints")
                for n in r["announcement"]["bgp"].values()
            )
            and len(r["announcement"]["bgp"]) == 3
        ),
        id="c27-no-endpoints-withdrawn",
    ),
    pytest.param(
        "c27",
        "demo/nginx-up",
        0,
        lambda r: (
            {
                (node, rt["peer"], rt["prefix"], tuple(rt["communities"]), rt["local_pref"])
                for node, n in r["announcement"]["bgp"].items()
                for rt in n["routes"]
            }
            == {
                (node, peer, "203.0.113.33/32", ("64500:100",), pref)
                for node in ("node-a", "node-b", "node-c")
                for peer, pref in (("router-a", None), ("router-b", 200))
            }
        ),
        id="c27-serving-routes-communities-localpref",
    ),
    pytest.param(
        "sharing",
        "demo/dns-tcp",
        1,
        lambda r: (
            pools(r) == {"one": ("rejected", "sharing"), "main": ("rejected", "auto-assign-off")}
            and "demo/web" in r["allocation"]["decision"]["message"]
            and "backend differs" in r["allocation"]["decision"]["message"]
        ),
        id="c06-local-cannot-join-cluster-holder",
    ),
    pytest.param(
        "sharing",
        "demo/web2",
        1,
        lambda r: (
            "port(s) TCP/80 already used by demo/web" in r["allocation"]["decision"]["message"]
        ),
        id="sharing-port-overlap",
    ),
    pytest.param(
        "sharing",
        "demo/svc-b",
        1,
        lambda r: (
            r["allocation"]["decision"]["reason"] == "SharingConflict"
            and "demo/svc-a" in r["allocation"]["decision"]["message"]
            and "no metallb.io/allow-shared-ip key" in r["allocation"]["decision"]["message"]
            and pools(r)["one"] == ("rejected", "requested-ip-outside")
            and any("allow-shared-ip?" in n for n in r["ignored_annotations"])
        ),
        id="c07-misspelt-key",
    ),
    pytest.param(
        "sharing",
        "demo/web-udp",
        0,
        lambda r: (
            r["allocation"]["decision"]["ips"] == ["198.51.100.230"]
            and any("shared with demo/web" in w for w in r["allocation"]["why"])
            and r["announcement"]["l2"][0]["services"] == ["demo/web"]
        ),
        id="sharing-compatible-holder",
    ),
    pytest.param(
        "dualstack",
        "demo/dns-tcp",
        1,
        lambda r: (
            r["allocation"]["decision"]["reason"] == "FamilyMismatch"
            and r["request"]["families"] == ["IPv6"]
            and pools(r)["home"] == ("rejected", "family")
        ),
        id="c12-requested-ipv4-on-ipv6-service",
    ),
    pytest.param(
        "dualstack",
        "demo/svc-a",
        0,
        lambda r: (
            r["allocation"]["decision"]["ips"] == ["203.0.113.0"]
            and r["request"]["families"] == ["IPv4"]
            and pools(r)["mixed"] == ("eligible", "")
        ),
        id="c13-prefer-dual-single-cluster-ip",
    ),
    pytest.param(
        "dualstack",
        "demo/v6-only",
        1,
        lambda r: (
            pools(r)["v4only"] == ("rejected", "family")
            and pools(r)["mixed"] == ("rejected", "other-pool-requested")
        ),
        id="pool-without-the-family",
    ),
    pytest.param(
        "preferred",
        "demo/s1",
        0,
        lambda r: (
            [(c["rank"], c["score"]) for c in r["announcement"]["l2"][0]["candidates"]]
            == [(1, 50), (2, 0), (3, 0)]
            and r["announcement"]["l2"][0]["owner"] == "node-c"
            and all(c["interfaces"] == ["eth0"] for c in r["announcement"]["l2"][0]["candidates"])
        ),
        id="preferred-node-selectors-rank-first",
    ),
    pytest.param(
        "fenced",
        "demo/web",
        0,
        lambda r: (
            r["announcement"]["l2"][0]["owner"] == "node-b"
            and r["announcement"]["l2"][0]["reported"] == ["node-b"]
            and "fenced" in l2_nodes(r)["node-a"]
            and "no live speaker" in l2_nodes(r)["node-c"]
        ),
        id="fenced-and-expired-speakers",
    ),
]


@pytest.mark.parametrize(("case", "service", "rc", "check"), CASES)
def test_explain_names_the_reason(capsys, case, service, rc, check) -> None:
    got_rc, out = explain(capsys, case, service, "-o", "json")
    report = json.loads(out)
    assert got_rc == rc, report["problems"]
    assert check(report), json.dumps(report, indent=1)


@pytest.mark.parametrize(("case", "service", "rc", "check"), CASES)
def test_explain_text_golden(capsys, request, case, service, rc, check) -> None:
    got_rc, out = explain(capsys, case, service)
    assert got_rc == rc
    golden = TESTDATA / "explain" / f"{request.node.callspec.id}.golden"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out)
    assert golden.exists(), "no golden file: run with INGOT_UPDATE_GOLDEN=1"
    assert out == golden.read_text()


def test_yaml_output_parses(capsys) -> None:
    import yaml

    rc, out = explain(capsys, "c14", "demo/web", "-o", "yaml")
    assert rc == 1
    assert yaml.safe_load(out)["service"] == "demo/web"


@pytest.mark.parametrize(
    ("service", "rc", "words"),
    [
        pytest.param("demo/nope", 1, "not found", id="unknown-service"),
        pytest.param("a/b/c", 2, "expected NAMESPACE/NAME", id="bad-name"),
    ],
)
def test_explain_unknown_and_usage(capsys, service, rc, words) -> None:
    got = main(
        ["explain", "service", service, "--snapshot", str(SNAPSHOTS / "c14.yaml"), "--now", NOW]
    )
    captured = capsys.readouterr()
    assert got == rc
    assert words in captured.out + captured.err


def test_missing_snapshot_is_usage_error(capsys, tmp_path) -> None:
    rc = main(["status", "--snapshot", str(tmp_path / "none.yaml")])
    assert rc == 2
    assert "no such file" in capsys.readouterr().err


def test_lease_prefix_is_the_speakers() -> None:
    from speaker.l2 import component

    assert analysis.LEASE_PREFIX == component.LEASE_PREFIX
    assert analysis.ANNOUNCED_CONDITION == component.CONDITION


def test_pool_verdicts_do_not_change_the_allocator() -> None:
    from ingot.cli import manifests
    from ingot.cli.main import main as _  # noqa: F401  (import check)
    from ingot.cli.snapshot import Snapshot, parse_time

    loaded, _p = manifests.load([str(SNAPSHOTS / "base.yaml"), str(SNAPSHOTS / "sharing.yaml")])
    snap = Snapshot.from_objects(
        [i.obj for i in loaded], namespace="metallb-system", now_s=parse_time(NOW) or 0
    )
    a = analysis.analyse(snap)
    before = a.allocator.snapshot()
    assert a.config is not None
    for key, req in a.requests.items():
        analysis.pool_verdicts(a.allocator, a.config, req, a.decisions[key])  # type: ignore[arg-type]
    assert a.allocator.snapshot() == before


def test_snapshot_dump_round_trips(capsys, tmp_path) -> None:
    args = [
        "--snapshot",
        str(SNAPSHOTS / "base.yaml"),
        "--snapshot",
        str(SNAPSHOTS / "fenced.yaml"),
    ]
    assert main(["snapshot", *args, "--now", NOW]) == 0
    dump = tmp_path / "dump.yaml"
    dump.write_text(capsys.readouterr().out)
    # the recorded instant travels with the dump: no --now needed to judge Lease expiry
    rc = main(["explain", "service", "demo/web", "--snapshot", str(dump)])
    assert rc == 0
    golden = TESTDATA / "explain" / "fenced-and-expired-speakers.golden"
    assert capsys.readouterr().out == golden.read_text()


def test_snapshot_redacts_secrets(capsys, tmp_path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: bgp-pass, namespace: metallb-system}\n"
        "data: {password: c2VjcmV0LXZhbHVl}\nstringData: {other: plain-secret}\n"
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: applied\n"
        "  namespace: metallb-system\n  annotations:\n"
        '    kubectl.kubernetes.io/last-applied-configuration: \'{"data": '
        '{"password": "YXBwbGllZC1zZWNyZXQ="}}\'\n'
        "data: {password: YXBwbGllZC1zZWNyZXQ=}\n"
        "---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\n"
        "metadata: {name: r, namespace: metallb-system}\n"
        "spec: {myASN: 64512, peerASN: 64500, peerAddress: 198.51.100.1, password: inline-pw}\n"
    )
    assert main(["snapshot", "--snapshot", str(secret), "--now", NOW]) == 0
    out = capsys.readouterr().out
    assert "c2VjcmV0LXZhbHVl" not in out
    assert "plain-secret" not in out
    assert "YXBwbGllZC1zZWNyZXQ" not in out
    assert "inline-pw" not in out
    assert "password" in out


def test_assignment_outside_the_pool_is_reported(capsys, tmp_path) -> None:
    """C30: a pool edited so that a held IP falls outside it; the controller will move it."""
    f = tmp_path / "c30.yaml"
    f.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
        "metadata: {name: p, namespace: metallb-system}\n"
        'spec: {addresses: ["198.51.100.10-198.51.100.13"]}\n---\n'
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\n"
        "spec: {type: LoadBalancer, clusterIPs: [10.96.3.1], ports: [{port: 80}]}\n"
        "status: {loadBalancer: {ingress: [{ip: 198.51.100.15}]}}\n"
    )
    rc = main(["explain", "service", "demo/web", "--snapshot", str(f), "--now", NOW, "-o", "json"])
    r = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert "198.51.100.15 is not allowed in config" in r["allocation"]["restore_refused"]
    assert r["allocation"]["decision"]["ips"] == ["198.51.100.10"]
    assert any("would change the IPs" in p for p in r["problems"])


@pytest.mark.parametrize(
    ("ip", "rc", "holders", "words"),
    [
        pytest.param(
            "198.51.100.230", 0, ["demo/web", "demo/web-udp"], "", id="shared-ip-two-holders"
        ),
        pytest.param("198.51.100.232", 1, [], "free address of pool main", id="free-ip"),
        pytest.param("203.0.113.200", 1, [], "in no IPAddressPool", id="ip-outside-pools"),
    ],
)
def test_explain_ip(capsys, ip, rc, holders, words) -> None:
    args = ["explain", "ip", ip, "--snapshot", str(SNAPSHOTS / "base.yaml")]
    args += ["--snapshot", str(SNAPSHOTS / "sharing.yaml"), "--now", NOW, "-o", "json"]
    assert main(args) == rc
    r = json.loads(capsys.readouterr().out)
    assert [s["service"] for s in r["services"]] == holders
    assert all(words in p for p in r["problems"])


def test_explain_ip_usage_error(capsys) -> None:
    assert main(["explain", "ip", "1.2.3", "--snapshot", str(SNAPSHOTS / "c14.yaml")]) == 2
    assert "not an IP address" in capsys.readouterr().err


def test_ignore_exclude_lb_flag_matches_the_speakers_option(capsys) -> None:
    """C15 step 4: with --ignore-exclude-lb the excluded node hosting the pod announces."""
    rc, out = explain(capsys, "c15", "demo/ing-local", "--ignore-exclude-lb", "-o", "json")
    r = json.loads(out)
    assert rc == 0, r["problems"]
    assert r["announcement"]["l2"][0]["owner"] == "node-a"


def test_lb_class_flag(capsys, tmp_path) -> None:
    f = tmp_path / "svc.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\n"
        "spec: {type: LoadBalancer, loadBalancerClass: ingot, clusterIPs: [10.96.9.3],"
        " ports: [{port: 80}]}\n"
    )
    base = ["explain", "service", "demo/web", "--snapshot", str(f), "--now", NOW, "-o", "json"]
    assert main(base) == 1
    assert any(
        "loadBalancerClass ingot" in p for p in json.loads(capsys.readouterr().out)["problems"]
    )
    main([*base, "--lb-class", "ingot"])
    assert json.loads(capsys.readouterr().out)["request"] is not None
