"""Golden-file tests of the ExaBGP configuration renderer (speaker.bgp.config_render)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ingot.api.bgp import BgpPeerSpec
from speaker.bgp import config_render
from speaker.bgp.config_render import RenderError, render_exabgp_config

TESTDATA = Path(__file__).parent / "testdata"
HELPER = ["/usr/bin/python3", "/opt/ingot/helper.py", "/run/ingot/router-a.sock"]
NODE_ID = ipaddress.IPv4Address("198.51.100.11")


def ip(text: str):
    return ipaddress.ip_address(text)


BASE = BgpPeerSpec("router-a", 64512, 64500, ip("198.51.100.1"))
CASES = {
    "minimal": BASE,
    "full-v4": replace(
        BASE,
        source_address=ip("198.51.100.11"),
        peer_port=1179,
        hold_time_s=9,
        keepalive_time_s=3,
        router_id=ipaddress.IPv4Address("10.255.0.1"),
        ebgp_multihop=True,
        password="example-md5-secret",
    ),
    "ibgp-4byte-asn": replace(BASE, my_asn=4200000000, peer_asn=4200000000),
    "dual-stack-over-v4": replace(BASE, dual_stack_address_family=True),
    "v6-session": replace(
        BASE, name="router-6", peer_address=ip("2001:db8::1"), source_address=ip("2001:db8::11")
    ),
    "keepalive-only": replace(BASE, keepalive_time_s=10),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case):
    text = render_exabgp_config(CASES[case], helper_argv=HELPER, default_router_id=NODE_ID)
    golden = TESTDATA / f"exabgp-{case}.conf"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("case", sorted(CASES))
def test_exabgp_accepts_golden(case, tmp_path):
    """ExaBGP 5 itself validates every golden file (``exabgp validate``)."""
    exabgp = Path(sys.executable).with_name("exabgp")
    assert exabgp.exists() or shutil.which("exabgp")
    conf = tmp_path / "c.conf"
    conf.write_text((TESTDATA / f"exabgp-{case}.conf").read_text())
    res = subprocess.run(
        [str(exabgp), "validate", str(conf)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_md5_password_rendered_c23():
    """C23: the password of a passwordSecret reaches the generated configuration."""
    text = render_exabgp_config(
        replace(BASE, password="example-md5-secret"), helper_argv=HELPER, default_router_id=NODE_ID
    )
    assert '    md5-password "example-md5-secret";\n' in text


@pytest.mark.parametrize(
    ("peer", "field"),
    [
        pytest.param(replace(BASE, hold_time_s=2), "spec.holdTime", id="hold-below-3"),
        pytest.param(replace(BASE, hold_time_s=70000), "spec.holdTime", id="hold-too-big"),
        pytest.param(
            replace(BASE, hold_time_s=9, keepalive_time_s=10), "spec.keepaliveTime", id="ka>hold"
        ),
        pytest.param(replace(BASE, password='a"b'), "spec.password", id="password-quote"),
        pytest.param(replace(BASE, password="x" * 81), "spec.password", id="password-too-long"),
        pytest.param(
            replace(BASE, peer_asn=64512, ebgp_multihop=True), "spec.ebgpMultiHop", id="ibgp-mh"
        ),
        pytest.param(
            replace(BASE, source_address=ip("2001:db8::11")), "spec.sourceAddress", id="src-family"
        ),
    ],
)
def test_rejects(peer, field):
    with pytest.raises(RenderError, match=f"BGPPeer router-a {field}"):
        render_exabgp_config(peer, helper_argv=HELPER, default_router_id=NODE_ID)


def test_password_not_in_error_messages():
    with pytest.raises(RenderError) as exc:
        render_exabgp_config(
            replace(BASE, password='se"cret'), helper_argv=HELPER, default_router_id=NODE_ID
        )
    assert "se" not in str(exc.value).split("spec.password")[1].split(":")[0]
    assert 'se"cret' not in str(exc.value)


def test_router_id_fallbacks():
    v6 = replace(BASE, peer_address=ip("2001:db8::1"))
    with pytest.raises(RenderError, match="spec.routerID"):
        render_exabgp_config(v6, helper_argv=HELPER)
    assert config_render.default_router_id("n", [ip("2001:db8::1"), ip("198.51.100.9")]) == ip(
        "198.51.100.9"
    )
    crc = config_render.default_router_id("node-a", [ip("2001:db8::1")])
    assert crc == config_render.default_router_id("node-a", [])
    assert crc != config_render.default_router_id("node-b", [])


def test_keepalive_warning():
    hold, warning = config_render.check_timers(replace(BASE, hold_time_s=90, keepalive_time_s=10))
    assert hold == 90
    assert warning is not None
    assert "30" in warning
    assert config_render.check_timers(replace(BASE, hold_time_s=9, keepalive_time_s=3)) == (9, None)
