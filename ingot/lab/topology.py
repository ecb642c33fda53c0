"""The lab network: one LAN (a bridge) joining a control plane, three nodes, a client, a router.

::

    cp      198.51.100.2     2001:db8:100::2     embedded API server + controller
    node1   198.51.100.11    2001:db8:100::11    speaker (+ ExaBGP) + backend "pod"
    node2   198.51.100.12    2001:db8:100::12
    node3   198.51.100.13    2001:db8:100::13
    client  198.51.100.100   2001:db8:100::100   the user's machine on the nodes' LAN
    router  198.51.100.1     2001:db8:100::1     BIRD 2, peers with the nodes over BGP

The L2 pool (examples/l2-pool.yaml) lies on this LAN; the routed pool 203.0.113.0/24 is reached
by the client through the router. Every node accepts traffic for both pools (an "AnyIP" local
route on ``lo``, with ``arp_ignore=1``/``arp_announce=2`` so the kernel never answers ARP for
them; kube-proxy plays this role on a real node): which node gets the traffic is decided only by
who answers ARP/NDP (L2) or which next hops the router has (BGP).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingot.lab.netns import Topology, run

LAN4_PREFIX = 24
LAN6_PREFIX = 64
#: What every node accepts locally (kube-proxy stand-in): the L2 pool's block and the routed pool.
VIP_BLOCKS = ("198.51.100.192/27", "203.0.113.0/24", "2001:db8:100::200/120")
ROUTED_V4 = "203.0.113.0/24"


@dataclass(frozen=True)
class Host:
    """One lab host: its role (namespace suffix), addresses on the LAN and MAC."""

    role: str
    ipv4: str
    ipv6: str
    mac: str


HOSTS = (
    Host("cp", "198.51.100.2", "2001:db8:100::2", "02:00:00:00:00:02"),
    Host("node1", "198.51.100.11", "2001:db8:100::11", "02:00:00:00:00:11"),
    Host("node2", "198.51.100.12", "2001:db8:100::12", "02:00:00:00:00:12"),
    Host("node3", "198.51.100.13", "2001:db8:100::13", "02:00:00:00:00:13"),
    Host("client", "198.51.100.100", "2001:db8:100::100", "02:00:00:00:01:00"),
    Host("router", "198.51.100.1", "2001:db8:100::1", "02:00:00:00:00:01"),
)
NODES = tuple(h for h in HOSTS if h.role.startswith("node"))


@dataclass
class Lab:
    """A built lab network; ``topo`` owns every namespace and process (``topo.close()``)."""

    topo: Topology = field(default_factory=Topology)

    def ns(self, role: str) -> str:
        """The namespace name of ``role`` (``cp``, ``node1`` ... ``client``, ``router``)."""
        return self.topo.ns(role)

    def host(self, role: str) -> Host:
        """The :class:`Host` of ``role``."""
        return next(h for h in HOSTS if h.role == role)

    def build(self) -> None:
        """Create the namespaces and links of the module docstring (about 0.3 s).

        Raises ``subprocess.CalledProcessError`` if a command fails; the caller must
        ``topo.close()`` (use the lab as a context manager).
        """
        br = self.topo.add_bridge("lan")
        run(["ip", "link", "set", "br0", "type", "bridge", "forward_delay", "0"], ns=br)
        run(["ip", "link", "set", "br0", "type", "bridge", "mcast_snooping", "0"], ns=br)
        for h in HOSTS:
            ns = self.topo.add_namespace(h.role)
            run(["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"], ns=ns)
            self.topo.connect(
                ns,
                br,
                addresses=[f"{h.ipv4}/{LAN4_PREFIX}", f"{h.ipv6}/{LAN6_PREFIX}"],
                mac=h.mac,
            )
        for h in NODES:
            ns = self.ns(h.role)
            for key in ("all", "eth0"):
                run(["sysctl", "-qw", f"net.ipv4.conf.{key}.arp_ignore=1"], ns=ns)
                run(["sysctl", "-qw", f"net.ipv4.conf.{key}.arp_announce=2"], ns=ns)
            for block in VIP_BLOCKS:
                fam = "-6" if ":" in block else "-4"
                run(["ip", fam, "route", "add", "local", block, "dev", "lo"], ns=ns)
        router = self.ns("router")
        run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], ns=router)
        run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], ns=router)
        client = self.ns("client")
        run(["ip", "route", "add", ROUTED_V4, "via", self.host("router").ipv4], ns=client)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.topo.close()
