"""``ingot validate``: examples pass; broken manifests fail with the object, field path and file."""

import json
import textwrap
from pathlib import Path

import pytest

from ingot.cli.main import main

REPO = Path(__file__).resolve().parents[3]

POOL = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool-a, namespace: metallb-system}
spec:
  addresses: [%s]
"""


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    rc = main(["validate", *args, "-o", "json"])
    return rc, json.loads(capsys.readouterr().out)


def test_examples_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    rc, report = run_json(capsys, "-f", str(REPO / "examples"))
    assert rc == 0, report["errors"]
    assert report["objects"] >= 8


@pytest.mark.parametrize(
    ("manifest", "object_ref", "path", "words"),
    [
        pytest.param(
            POOL % '"198.51.100.0/24", "198.51.100.300/32"',
            "IPAddressPool metallb-system/pool-a",
            "spec.addresses[1]",
            "198.51.100.300",
            id="bad-cidr",
        ),
        pytest.param(
            POOL % '"198.51.100.0/24"'
            + """---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool-b, namespace: metallb-system}
spec:
  addresses: ["198.51.100.128/25"]
""",
            "IPAddressPool metallb-system/pool-",
            "spec.addresses",
            "overlap",
            id="pools-overlap",
        ),
        pytest.param(
            """
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: p, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64501, peerAddress: 198.51.100.1, vrf: red}
""",
            "BGPPeer metallb-system/p",
            "spec.vrf",
            "ExaBGP",
            id="frr-only-field-rejected",
        ),
        pytest.param(
            """
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
  annotations: {metallb.io/loadBalancerIPs: "not-an-ip"}
spec: {type: LoadBalancer, ports: [{port: 80}]}
""",
            "Service demo/web",
            "metadata.annotations",
            "not-an-ip",
            id="service-bad-requested-ip",
        ),
    ],
)
def test_broken_manifest_names_object_path_and_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    manifest: str,
    object_ref: str,
    path: str,
    words: str,
) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text(textwrap.dedent(manifest))
    rc, report = run_json(capsys, "-f", str(tmp_path))
    assert rc == 1
    hits = [
        e
        for e in report["errors"]
        if e["object"].startswith(object_ref)
        and e["path"].startswith(path)
        and words.lower() in e["message"].lower()
    ]
    assert hits, report["errors"]
    assert all(e["file"] == str(f) for e in hits)


def test_unparseable_yaml_is_an_error_with_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("kind: [unclosed\n")
    rc, report = run_json(capsys, "-f", str(f))
    assert rc == 1
    assert report["errors"][0]["file"] == str(f)


def test_missing_path_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-f", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_text_output_names_file_object_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "pool.yaml"
    f.write_text(textwrap.dedent(POOL % '"198.51.100.300/32"'))
    assert main(["validate", "-f", str(f)]) == 1
    out = capsys.readouterr().out
    assert f"error: {f}: IPAddressPool metallb-system/pool-a spec.addresses[0]:" in out
    assert "INVALID" in out


def test_list_items_keep_their_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "dump.yaml"
    f.write_text(
        textwrap.dedent(
            """
            apiVersion: v1
            kind: List
            items:
            - apiVersion: metallb.io/v1beta1
              kind: IPAddressPool
              metadata: {name: p, namespace: metallb-system}
              spec: {addresses: ["198.51.100.300/32"]}
            """
        )
    )
    rc, report = run_json(capsys, "-f", str(f))
    assert rc == 1
    assert [(e["file"], e["path"]) for e in report["errors"]] == [(str(f), "spec.addresses[0]")]
