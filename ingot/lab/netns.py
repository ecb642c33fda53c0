"""Network-namespace building blocks for the lab and the netlab tests (root only).

Everything made here is recorded in a :class:`Topology` and removed by :meth:`Topology.close`,
also when a test fails (use it as a context manager). Lab links join namespaces only to each
other, never to the host's interfaces. Addresses must come from 198.51.100.0/24,
203.0.113.0/24 or 2001:db8::/32 (checked by :func:`check_lab_address`); 192.0.2.0/24 is this
machine's own network and is refused.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any

LAB_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


#: Namespaces this process created and has not deleted yet (tests check it for leaks).
CREATED: set[str] = set()


def check_lab_address(addr: str) -> None:
    """Raise ``ValueError`` unless ``addr`` (``"ip"`` or ``"ip/len"``) lies in a lab network."""
    ip = ipaddress.ip_interface(addr).ip
    if not any(ip in net for net in LAB_NETWORKS):
        raise ValueError(f"{addr} is outside the lab networks {[str(n) for n in LAB_NETWORKS]}")


def run(
    cmd: Sequence[str], *, ns: str | None = None, check: bool = True, timeout_s: float = 20.0
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (inside namespace ``ns`` when given) and return its completed process.

    Raises ``subprocess.CalledProcessError`` when ``check`` and the command fails, and
    ``subprocess.TimeoutExpired`` after ``timeout_s`` seconds.
    """
    full = ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)
    res = subprocess.run(full, capture_output=True, text=True, timeout=timeout_s, check=False)
    if check and res.returncode != 0:
        raise subprocess.CalledProcessError(res.returncode, full, res.stdout, res.stderr)
    return res


@dataclass
class Topology:
    """The namespaces, links and processes one lab or test made; ``close()`` removes them all.

    ``prefix`` makes names unique per run (``<prefix>-<role>``), so parallel or leftover runs
    never collide.
    """

    prefix: str = field(default_factory=lambda: "ingt" + secrets.token_hex(2))
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ns(self, role: str) -> str:
        """The namespace name of ``role`` in this topology."""
        return f"{self.prefix}-{role}"

    def add_namespace(self, role: str, *, ipv6_keep_addr_on_down: bool = True) -> str:
        """Create namespace ``<prefix>-<role>`` with ``lo`` up; return its name."""
        name = self.ns(role)
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        CREATED.add(name)
        run(["ip", "link", "set", "lo", "up"], ns=name)
        if ipv6_keep_addr_on_down:  # netlab pitfall P9: IPv6 addresses flushed on link down
            for key in ("all", "default"):
                run(["sysctl", "-qw", f"net.ipv6.conf.{key}.keep_addr_on_down=1"], ns=name)
        return name

    def add_bridge(self, role: str, bridge: str = "br0") -> str:
        """Create a namespace holding a Linux bridge ``bridge`` (up); return the namespace."""
        name = self.add_namespace(role)
        run(["ip", "link", "add", bridge, "type", "bridge"], ns=name)
        run(["ip", "link", "set", bridge, "type", "bridge", "stp_state", "0"], ns=name)
        run(["ip", "link", "set", bridge, "up"], ns=name)
        return name

    def connect(
        self,
        ns: str,
        bridge_ns: str,
        *,
        ifname: str = "eth0",
        addresses: Sequence[str] = (),
        bridge: str = "br0",
        mac: str | None = None,
    ) -> str:
        """Join ``ns`` to ``bridge`` in ``bridge_ns`` with a veth pair; return the bridge port name.

        ``addresses`` (``ip/len``) go on ``ifname`` in ``ns``; each is checked to be a lab address.
        """
        for a in addresses:
            check_lab_address(a)
        port = f"p{len(os.listdir('/proc/self/fd'))}{secrets.token_hex(3)}"[:15]
        tmp = f"t{secrets.token_hex(5)}"
        run(["ip", "link", "add", port, "netns", bridge_ns, "type", "veth", "peer", "name", tmp])
        run(["ip", "link", "set", tmp, "netns", ns])
        run(["ip", "link", "set", tmp, "name", ifname], ns=ns)
        if mac:
            run(["ip", "link", "set", ifname, "address", mac], ns=ns)
        for a in addresses:
            run(["ip", "addr", "add", a, "dev", ifname, *(["nodad"] if ":" in a else [])], ns=ns)
        run(["ip", "link", "set", ifname, "up"], ns=ns)
        run(["ip", "link", "set", port, "master", bridge], ns=bridge_ns)
        run(["ip", "link", "set", port, "up"], ns=bridge_ns)
        return port

    def spawn(
        self,
        cmd: Sequence[str],
        *,
        ns: str | None,
        stdout: int | IO[Any] | None = subprocess.DEVNULL,
        stderr: int | IO[Any] | None = subprocess.DEVNULL,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``cmd`` in ``ns`` (directly, so the PID is the program's own; pitfall P15).

        The process is recorded and killed by ``close()``.
        """
        full = ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)
        proc = subprocess.Popen(full, stdout=stdout, stderr=stderr, env=env)
        self.processes.append(proc)
        return proc

    def close(self, *, grace_s: float = 2.0) -> None:
        """Stop every recorded process (TERM, then KILL after ``grace_s``), delete namespaces."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.processes.clear()
        for name in reversed(self.namespaces):
            # Processes that a namespace still holds were started by this lab (e.g. daemons that
            # forked); kill them by PID before deleting the namespace.
            pids = run(["ip", "netns", "pids", name], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    continue
            run(["ip", "netns", "del", name], check=False)
            CREATED.discard(name)
        self.namespaces.clear()

    def __enter__(self) -> Topology:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
