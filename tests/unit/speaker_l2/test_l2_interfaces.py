"""Interface selection (speaker.l2.interfaces): MetalLB's exclusion list and link state rules."""

from __future__ import annotations

import pytest

from speaker.l2.interfaces import (
    DEFAULT_EXCLUDE,
    IFF_BROADCAST,
    IFF_NOARP,
    IFF_UP,
    LinkInfo,
    compile_exclude,
    usable,
    why_unusable,
)

EX = compile_exclude(DEFAULT_EXCLUDE)
MAC = b"\x02\x00\x00\x00\x00\x11"
OK = IFF_UP | IFF_BROADCAST


@pytest.mark.parametrize(
    ("link", "why"),
    [
        pytest.param(LinkInfo("eth0", 2, MAC, OK, True), None, id="usable"),
        pytest.param(LinkInfo("bond0.100", 2, MAC, OK, True), None, id="vlan"),
        pytest.param(LinkInfo("lo", 1, b"\x00" * 6, IFF_UP, True), "excluded by regex", id="lo"),
        pytest.param(LinkInfo("lo0", 1, MAC, OK, True), None, id="lo0-not-excluded"),
        pytest.param(LinkInfo("veth12ab", 5, MAC, OK, True), "excluded by regex", id="veth"),
        pytest.param(LinkInfo("cali123", 5, MAC, OK, True), "excluded by regex", id="calico"),
        pytest.param(LinkInfo("docker0", 5, MAC, OK, True), "excluded by regex", id="docker"),
        pytest.param(LinkInfo("kube-ipvs0", 5, MAC, OK, True), "excluded by regex", id="ipvs"),
        pytest.param(LinkInfo("eth0", 2, MAC, IFF_BROADCAST, False), "admin down", id="admin-down"),
        pytest.param(LinkInfo("eth0", 2, MAC, OK, False), "no carrier", id="no-carrier"),
        pytest.param(LinkInfo("eth0", 2, MAC, OK, True, master=7), "enslaved", id="enslaved"),
        pytest.param(LinkInfo("eth0", 2, MAC, OK | IFF_NOARP, True), "NOARP", id="noarp"),
        pytest.param(LinkInfo("wg0", 2, b"", IFF_UP, True), "not broadcast Ethernet", id="p2p"),
    ],
)
def test_why_unusable(link, why):
    assert why_unusable(link, EX) == why


def test_usable_by_name():
    links = [LinkInfo("eth0", 2, MAC, OK, True), LinkInfo("lo", 1, b"", IFF_UP, True)]
    assert list(usable(links, EX)) == ["eth0"]


def test_bad_regex_named():
    with pytest.raises(ValueError, match="bad interface exclusion regex"):
        compile_exclude(["("])
