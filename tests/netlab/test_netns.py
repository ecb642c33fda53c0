"""The lab building blocks: two namespaces on one bridge reach each other, and close() cleans up."""

import subprocess

import pytest

from ingot.lab.netns import Topology, check_lab_address, run


def test_two_hosts_on_a_bridge_ping_and_cleanup() -> None:
    with Topology() as topo:
        br = topo.add_bridge("br")
        a, b = topo.add_namespace("a"), topo.add_namespace("b")
        topo.connect(a, br, addresses=["198.51.100.1/24", "2001:db8:1::1/64"])
        topo.connect(b, br, addresses=["198.51.100.2/24", "2001:db8:1::2/64"])
        assert run(["ping", "-c1", "-W2", "198.51.100.2"], ns=a).returncode == 0
        assert run(["ping", "-c1", "-W2", "2001:db8:1::2"], ns=a, check=False).returncode == 0
        sleeper = topo.spawn(["sleep", "30"], ns=b)
        names = [a, b, br]
    assert sleeper.poll() is not None
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names)


@pytest.mark.parametrize(
    ("addr", "ok"),
    [
        pytest.param("198.51.100.7/24", True, id="v4-lab"),
        pytest.param("2001:db8::1/64", True, id="v6-lab"),
        pytest.param("192.0.2.5/24", False, id="host-network-refused"),
        pytest.param("10.0.0.1/8", False, id="private-refused"),
    ],
)
def test_lab_addresses_are_checked(addr: str, ok: bool) -> None:
    if ok:
        check_lab_address(addr)
    else:
        with pytest.raises(ValueError):
            check_lab_address(addr)
