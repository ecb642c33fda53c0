"""The lab router: BIRD 2 in the ``router`` namespace, peering with every node over BGP.

BIRD accepts any speaker on the LAN (``neighbor range``, passive), imports every route and
installs ECMP multipath routes into the router's kernel FIB (``merge paths``), so the client's
traffic to a routed VIP is spread over the nodes that advertise it. Facts: netlab-facts §5.2.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ingot.lab.netns import run

ROUTER_ASN = 64501
NODE_ASN = 64500

BIRD_CONF = """\
log "{log}" all;
router id {router_id};
protocol device {{ scan time 10; }}
protocol kernel kernel4 {{ ipv4 {{ import none; export all; }}; merge paths yes; }}
protocol kernel kernel6 {{ ipv6 {{ import none; export all; }}; merge paths yes; }}
protocol bgp nodes {{
  local {router_id} as {router_asn};
  neighbor range {lan} as {node_asn};
  dynamic name "node";
  hold time 9;
  connect retry time 2;
  error wait time 1, 10;
  ipv4 {{ import all; export none; }};
  ipv6 {{ import all; export none; }};
}}
"""


@dataclass
class Bird:
    """A BIRD 2 daemon in namespace ``ns``; files live in ``run_dir``."""

    ns: str
    run_dir: Path
    router_id: str
    lan: str = "198.51.100.0/24"

    @property
    def ctl(self) -> Path:
        """The control socket path for ``birdc -s``."""
        return self.run_dir / "bird.ctl"

    def start(self, *, timeout_s: float = 5.0) -> int:
        """Write the config, start BIRD (it daemonizes) and return its PID (from its pidfile).

        Raises ``RuntimeError`` if BIRD does not come up within ``timeout_s`` seconds.
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        conf = self.run_dir / "bird.conf"
        conf.write_text(
            BIRD_CONF.format(
                log=self.run_dir / "bird.log",
                router_id=self.router_id,
                router_asn=ROUTER_ASN,
                node_asn=NODE_ASN,
                lan=self.lan,
            )
        )
        pidfile = self.run_dir / "bird.pid"
        run(["bird", "-c", str(conf), "-s", str(self.ctl), "-P", str(pidfile)], ns=self.ns)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if pidfile.exists() and pidfile.read_text().strip():
                return int(pidfile.read_text().strip())
            time.sleep(0.05)
        raise RuntimeError(f"BIRD did not start in {timeout_s} s; see {self.run_dir / 'bird.log'}")

    def birdc(self, *args: str) -> str:
        """Run ``birdc`` against this BIRD and return its output."""
        return run(["birdc", "-s", str(self.ctl), *args], ns=self.ns).stdout


def fib_next_hops(ns: str, prefix: str) -> list[str]:
    """Next hops of ``prefix`` in the kernel FIB of namespace ``ns`` (ECMP gives several).

    Parses ``ip route show`` output: ``via X`` on the route line or on ``nexthop`` lines.
    """
    fam = "-6" if ":" in prefix else "-4"
    try:
        out = run(["ip", fam, "route", "show", prefix], ns=ns).stdout
    except subprocess.CalledProcessError:
        return []
    hops = []
    for word_list in (line.split() for line in out.splitlines()):
        if "via" in word_list:
            hops.append(word_list[word_list.index("via") + 1])
    return sorted(hops)


def bird_since_s(text: str) -> float:
    """Seconds of day of a ``birdc show protocols`` "since" time (``HH:MM:SS.mmm``)."""
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def same_bird_sessions(
    before: dict[str, str], after: dict[str, str], *, tolerance_s: float = 0.1
) -> bool:
    """True when no BGP session was reset between two ``name -> since`` readings of BIRD.

    BIRD prints "since" as wall time derived from its monotonic clock on every call, so the
    same state change may read a millisecond apart; a reset moves it by far more (a new
    connection and OPEN exchange after the earlier reading).
    """
    return before.keys() == after.keys() and all(
        abs(bird_since_s(after[k]) - bird_since_s(before[k])) < tolerance_s for k in before
    )
