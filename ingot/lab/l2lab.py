"""The L2 failover lab: one segment of speaker nodes and a client, plus ``ingot.apiserver``.

Shared by ``bench/l2_failover.py`` and ``tests/netlab/test_l2_failover.py``:

* ``build`` wires the namespaces (inside a caller's ``Topology``): bridge ``br`` joins every
  node and the client on 198.51.100.0/24 and 2001:db8:1::/64 (MAC ``02:00:00:00:00:<host>``);
  bridge ``mgmt`` joins the nodes' ``eth1`` and the ``api`` namespace on 203.0.113.0/24. Each
  node holds the VIPs on ``lo`` and answers ARP only for its own addresses (``arp_ignore=1``,
  ``arp_announce=2``), so only the speaker answers for a VIP.
* :class:`L2Lab` runs ``ingot.apiserver`` inside ``api`` (203.0.113.1:6443, chart CRDs
  loaded), writes a kubeconfig and a heartbeat key, and spawns real ``python -m speaker``
  processes in the node namespaces. ``close()`` kills them by PID, then stops the server.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ingot.lab.netns import Topology, run
from ingot.lab.nsenter import CLONE_NEWNET

REPO = Path(__file__).resolve().parents[2]
API_HOST = "203.0.113.1"
API_PORT = 6443


def mac(host: int) -> str:
    """The lab MAC of host number ``host`` (the last octet of its addresses)."""
    return f"02:00:00:00:00:{host:02x}"


def build(
    topo: Topology, *, nodes: Mapping[str, int], vip4: str, vip6: str, client_host: int = 100
) -> dict[str, str]:
    """Create the lab (see module docstring); returns namespace and link names by role.

    Keys: ``br`` (bridge namespace), ``api``, each node, ``client``, and ``port-<role>``
    (the bridge-side end of that role's link, for "switch port down").
    """
    br = topo.add_bridge("br")
    mgmt = topo.add_bridge("mgmt")
    names = {"br": br, "api": topo.add_namespace("api")}
    topo.connect(names["api"], mgmt, addresses=[f"{API_HOST}/24"])
    for role, host in {**nodes, "client": client_host}.items():
        ns = topo.add_namespace(role)
        names[role] = ns
        names[f"port-{role}"] = topo.connect(
            ns, br, addresses=[f"198.51.100.{host}/24", f"2001:db8:1::{host}/64"], mac=mac(host)
        )
        run(["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"], ns=ns)
        if role in nodes:
            topo.connect(ns, mgmt, ifname="eth1", addresses=[f"203.0.113.{host}/24"])
            run(["ip", "addr", "add", f"{vip4}/32", "dev", "lo"], ns=ns)
            run(["ip", "-6", "addr", "add", f"{vip6}/128", "dev", "lo"], ns=ns)
            for key in ("all", "eth0"):
                run(["sysctl", "-qw", f"net.ipv4.conf.{key}.arp_ignore=1"], ns=ns)
                run(["sysctl", "-qw", f"net.ipv4.conf.{key}.arp_announce=2"], ns=ns)
    return names


def _enter(name: str) -> None:
    """Move the calling (worker) thread into namespace ``name`` for the rest of its life."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns failed")
    finally:
        os.close(fd)


class NetnsThread:
    """Runs callables in one worker thread that lives in network namespace ``name``."""

    def __init__(self, name: str) -> None:
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, initializer=_enter, initargs=(name,)
        )

    def __call__(self, fn: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        """``fn(*a, **kw)`` in the namespace; waits at most 60 s for the result."""
        return self.pool.submit(fn, *a, **kw).result(timeout=60)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class L2Lab:
    """The lab with an API server and real speaker processes (see module docstring).

    Args:
        topo: An open ``Topology`` (the caller closes it, which removes every namespace).
        tmp: Directory for the kubeconfig, the heartbeat key and the speakers' logs.
        nodes: Node name -> host number.
        vip4, vip6: The VIPs every node holds on ``lo``.
        namespace: The speakers' namespace (``--namespace``).
        seed: Called as ``seed(admin)`` inside the ``api`` namespace to create the objects.
    """

    def __init__(
        self,
        topo: Topology,
        tmp: Path,
        *,
        nodes: Mapping[str, int],
        vip4: str,
        vip6: str,
        namespace: str,
        seed: Callable[[Any], None],
    ) -> None:
        from ingot.apiserver.server import APIServer
        from ingot.kube.source import KubeSource

        self.topo, self.tmp, self.namespace = topo, tmp, namespace
        self.ns = build(topo, nodes=nodes, vip4=vip4, vip6=vip6)
        self.api = NetnsThread(self.ns["api"])
        self.srv = APIServer(host=API_HOST, port=API_PORT)
        self.speakers: dict[str, subprocess.Popen[bytes]] = {}
        self._client: Any = None
        try:
            self.api(self.srv.start)
            for path in sorted((REPO / "charts" / "ingot" / "crds").glob("*.yaml")):
                self.api(self.srv.load_manifests, path)
            self.kubeconfig = tmp / "kubeconfig"
            self.api(self.srv.write_kubeconfig, self.kubeconfig)
            self._client = self.api(self.srv.api_client)
            self.admin = KubeSource(self._client)
            self.api(seed, self.admin)
            self.key = tmp / "hb.key"
            self.key.write_bytes(os.urandom(32).hex().encode())
        except BaseException:
            self.close()
            raise

    def start_speaker(self, node: str, *, hold_down_s: float) -> subprocess.Popen[bytes]:
        """Spawn ``python -m speaker`` for ``node`` in its namespace (log: ``<tmp>/<node>.log``)."""
        with open(self.tmp / f"{node}.log", "ab") as log:
            proc = self.topo.spawn(
                [
                    sys.executable,
                    "-m",
                    "speaker",
                    "--node-name",
                    node,
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--namespace",
                    self.namespace,
                    "--exclude-interface",
                    "^lo$",
                    "--exclude-interface",
                    "^eth1$",
                    "--heartbeat-key-file",
                    str(self.key),
                    "--metrics-port",
                    "0",
                    "--hold-down",
                    str(hold_down_s),
                ],
                ns=self.ns[node],
                stdout=log.fileno(),
                stderr=log.fileno(),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.speakers[node] = proc
        return proc

    def close(self) -> None:
        """Kill the processes this lab's topology spawned (speakers first), stop the server."""
        for proc in self.topo.processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        try:
            if self._client is not None:
                self.api(self._client.close)
            self.api(self.srv.stop)
        finally:
            self.api.close()
