"""``ingot lab demo``: the whole system on real network stacks, measured from the outside.

Steps (each printed as it happens, everything measured, nothing assumed):

1. Build the lab network (:mod:`ingot.lab.topology`), start BIRD in the router namespace.
2. Start the embedded API server in the ``cp`` namespace with ingot's CRDs, register the three
   Nodes and, standing in for kube-controller-manager, one EndpointSlice per demo Service whose
   endpoints are the nodes' backends.
3. Start the controller (``cp``) and one speaker per node (each with its ExaBGP), and a backend
   HTTP server per node answering with the node's name.
4. Apply every manifest in ``examples/``; wait until each Service has its IPs.
5. For each Service: its IPs, mode, L2 owner (ServiceL2Status) or BGP next hops (the router's
   FIB); for each L2 VIP the client's neighbour entry (MAC -> node); an HTTP GET from the client
   to each VIP and the node that answered.
6. Kill -9 the L2 owner's speaker while the client requests the VIP every 20 ms; report the
   measured outage and the new owner.

With ``-o json`` the report is one JSON document on stdout (the netlab test asserts on it).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingot.lab import probes
from ingot.lab.cluster import wait_for
from ingot.lab.netns import Topology, run
from ingot.lab.nsenter import netns
from ingot.lab.router import Bird, fib_next_hops
from ingot.lab.topology import NODES, Lab

REPO = Path(__file__).resolve().parents[2]
API_PORT = 6443
NAMESPACE = "ingot-system"
#: The client requests the VIP every PROBE_INTERVAL_MS and gives up on one after
#: PROBE_TIMEOUT_MS: the measured outage is exact to about their sum (a failed request costs
#: its timeout).
PROBE_INTERVAL_MS = 10
PROBE_TIMEOUT_MS = 50


@dataclass
class Report:
    """What the demo measured; ``to_json()`` is the machine-readable output."""

    services: list[dict[str, Any]] = field(default_factory=list)
    failover: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        """True when every Service was reachable and the failover completed."""
        return (
            not self.errors
            and all(s.get("reachable") for s in self.services)
            and bool(self.failover.get("completed"))
        )

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON data."""
        return {
            "ok": self.ok,
            "services": self.services,
            "failover": self.failover,
            "errors": self.errors,
        }


class Demo:
    """One run of the demo; ``run()`` does everything and always cleans up."""

    def __init__(self, *, examples: Path, out: Callable[[str], None], keep: bool = False) -> None:
        self.examples = examples
        self.out = out
        self.keep = keep
        self.lab = Lab()
        self.run_dir = Path(tempfile.mkdtemp(prefix="ingot-lab-"))
        self.report = Report()
        self.speakers: dict[str, subprocess.Popen[bytes]] = {}
        self._api: Any = None

    # -- plumbing -------------------------------------------------------------------------
    def log_path(self, name: str) -> Path:
        """Where a lab process writes its output."""
        return self.run_dir / f"{name}.log"

    def spawn(self, name: str, role: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        """Start ``cmd`` in the namespace of ``role`` with its output in ``<run_dir>/name.log``."""
        log = self.log_path(name).open("ab")
        return self.lab.topo.spawn(cmd, ns=self.lab.ns(role), stdout=log, stderr=log)

    @contextmanager
    def in_cp(self) -> Iterator[None]:
        """This thread inside the control-plane namespace (where the API server listens)."""
        with netns(self.lab.ns("cp")):
            yield

    def api(self) -> Any:
        """A ``kubernetes`` ApiClient for the lab API server (created inside ``cp``)."""
        if self._api is None:
            from kubernetes import config

            with self.in_cp():
                self._api = config.new_client_from_config(str(self.kubeconfig))  # type: ignore[no-untyped-call]
        return self._api

    @property
    def kubeconfig(self) -> Path:
        """The kubeconfig every lab process uses."""
        return self.run_dir / "kubeconfig"

    # -- steps ------------------------------------------------------------------------------
    def start_network(self) -> None:
        """Step 1: namespaces, links, BIRD."""
        t0 = time.monotonic()
        self.lab.build()
        bird = Bird(
            ns=self.lab.ns("router"),
            run_dir=self.run_dir / "bird",
            router_id=self.lab.host("router").ipv4,
        )
        bird.start()
        self.bird = bird
        self.out(
            f"lab network up in {time.monotonic() - t0:.2f} s (namespaces {self.lab.topo.prefix}-*)"
        )

    def start_apiserver(self) -> None:
        """Step 2a: the embedded API server in ``cp`` with ingot's CRDs."""
        host = self.lab.host("cp").ipv4
        self.spawn(
            "apiserver",
            "cp",
            [
                sys.executable,
                "-m",
                "ingot.apiserver",
                "--host",
                host,
                "--port",
                str(API_PORT),
                "--manifests",
                str(REPO / "charts" / "ingot" / "crds"),
            ],
        )
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {"name": "lab", "cluster": {"server": f"http://{host}:{API_PORT}"}}
                    ],
                    "users": [{"name": "lab", "user": {"token": "lab"}}],
                    "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab"}}],
                    "current-context": "lab",
                }
            )
        )

        def ready() -> bool:
            return (
                probes.http_get(
                    self.lab.ns("cp"), host, port=API_PORT, path="/version", timeout_s=1.0
                )
                is not None
            )

        wait_for("the API server", ready, timeout_s=30)
        self.out(f"API server (ingot.apiserver) listening on http://{host}:{API_PORT}")

    def seed_cluster(self) -> None:
        """Step 2b: Namespaces and Nodes, as a real cluster would have them."""
        from kubernetes import client

        with self.in_cp():
            core: Any = client.CoreV1Api(self.api())
            for ns in (NAMESPACE,):
                core.create_namespace({"metadata": {"name": ns}})
            for h in NODES:
                core.create_node(
                    {
                        "metadata": {
                            "name": h.role,
                            "labels": {"kubernetes.io/hostname": h.role},
                        },
                        "status": {
                            "addresses": [
                                {"type": "InternalIP", "address": h.ipv4},
                                {"type": "InternalIP", "address": h.ipv6},
                                {"type": "Hostname", "address": h.role},
                            ],
                            "conditions": [{"type": "Ready", "status": "True"}],
                        },
                    }
                )

    def start_components(self) -> None:
        """Step 3: controller, speakers and backends."""
        self.spawn(
            "controller",
            "cp",
            [
                sys.executable,
                "-m",
                "controller",
                "--kubeconfig",
                str(self.kubeconfig),
                "--namespace",
                NAMESPACE,
            ],
        )
        for h in NODES:
            self.spawn(
                f"backend-{h.role}",
                h.role,
                [sys.executable, "-m", "ingot.lab.backend", "--node", h.role, "--port", "80"],
            )
            self.speakers[h.role] = self.spawn(
                f"speaker-{h.role}",
                h.role,
                [
                    sys.executable,
                    "-m",
                    "speaker",
                    "--node-name",
                    h.role,
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--namespace",
                    NAMESPACE,
                    "--bgp-runtime-dir",
                    str(self.run_dir / f"bgp-{h.role}"),
                    "--metrics-port",
                    "0",
                ],
            )
        self.out("controller, 3 speakers and 3 backends started")

    def apply_examples(self) -> list[dict[str, Any]]:
        """Step 4: every manifest in ``examples/``; returns the Services among them."""
        from kubernetes.dynamic import DynamicClient

        docs = []
        for path in sorted(self.examples.glob("*.yaml")):
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
        # Namespaces first, then configuration, then Services (as `kubectl apply` users do).
        order = {"Namespace": 0, "Service": 2}
        docs.sort(key=lambda d: order.get(d["kind"], 1))
        with self.in_cp():
            dyn = DynamicClient(self.api())  # type: ignore[no-untyped-call]
            for doc in docs:
                res = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
                ns = doc["metadata"].get("namespace")
                res.create(body=doc, namespace=ns) if ns else res.create(body=doc)
                self.out(f"applied {doc['kind']} {ns + '/' if ns else ''}{doc['metadata']['name']}")
        services = [d for d in docs if d["kind"] == "Service"]
        self.create_endpoint_slices(services)
        return services

    def create_endpoint_slices(self, services: list[dict[str, Any]]) -> None:
        """Stand in for kube-controller-manager: one slice per family with every node's backend."""
        from kubernetes import client

        with self.in_cp():
            disc: Any = client.DiscoveryV1Api(self.api())
            for svc in services:
                meta = svc["metadata"]
                for family, attr in (("IPv4", "ipv4"), ("IPv6", "ipv6")):
                    disc.create_namespaced_endpoint_slice(
                        meta["namespace"],
                        {
                            "metadata": {
                                "name": f"{meta['name']}-{family.lower()}",
                                "labels": {"kubernetes.io/service-name": meta["name"]},
                            },
                            "addressType": family,
                            "endpoints": [
                                {
                                    "addresses": [getattr(h, attr)],
                                    "nodeName": h.role,
                                    "conditions": {"ready": True, "serving": True},
                                }
                                for h in NODES
                            ],
                            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
                        },
                    )

    def service_ips(self, namespace: str, name: str) -> list[str]:
        """The IPs in the Service's ``status.loadBalancer.ingress``."""
        from kubernetes import client

        with self.in_cp():
            svc: Any = client.CoreV1Api(self.api()).read_namespaced_service_status(name, namespace)
        ingress = (svc.status.load_balancer.ingress or []) if svc.status.load_balancer else []
        return [i.ip for i in ingress if i.ip]

    def _ips_when(self, namespace: str, name: str, want: int) -> list[str] | None:
        ips = self.service_ips(namespace, name)
        return ips if len(ips) >= want else None

    def l2_owner(self, namespace: str, name: str) -> str | None:
        """The node named by the speaker's ServiceL2Status for the Service, if any."""
        from kubernetes import client

        with self.in_cp():
            objs: Any = client.CustomObjectsApi(self.api()).list_namespaced_custom_object(
                "metallb.io", "v1beta1", NAMESPACE, "servicel2statuses"
            )
        for obj in objs.get("items", []):
            st = obj.get("status", {})
            if st.get("serviceName") == name and st.get("serviceNamespace") == namespace:
                node = st.get("node")
                return str(node) if node else None
        return None

    def inspect(self, services: list[dict[str, Any]]) -> None:
        """Step 5: what a user would check, for each Service."""
        client_ns = self.lab.ns("client")
        macs = {h.mac: h.role for h in NODES}
        for svc in services:
            meta = svc["metadata"]
            ns, name = meta["namespace"], meta["name"]
            want = len(svc["spec"].get("ipFamilies", ["IPv4"]))
            try:
                ips = wait_for(
                    f"{ns}/{name} to get {want} IP(s)",
                    functools.partial(self._ips_when, ns, name, want),
                    timeout_s=30,
                )
            except TimeoutError as exc:
                self.report.errors.append(str(exc))
                self.report.services.append(
                    {"service": f"{ns}/{name}", "ips": [], "reachable": False}
                )
                continue
            routed = all(
                ipaddress.ip_address(ip) in ipaddress.ip_network("203.0.113.0/24") for ip in ips
            )
            entry: dict[str, Any] = {
                "service": f"{ns}/{name}",
                "ips": ips,
                "mode": "bgp" if routed else "l2",
            }
            answers: dict[str, str | None] = {}
            for ip in ips:
                try:
                    answers[ip] = wait_for(
                        f"an HTTP answer from {ip}",
                        functools.partial(probes.http_get, client_ns, ip, timeout_s=1.0),
                        timeout_s=20,
                        interval_s=0.2,
                    )
                except TimeoutError:
                    answers[ip] = None
            entry["http"] = answers
            if routed:
                router_ns = self.lab.ns("router")
                by_ip = {h.ipv4: h.role for h in NODES}
                entry["next_hops"] = {
                    ip: [by_ip.get(hop, hop) for hop in fib_next_hops(router_ns, ip)] for ip in ips
                }
            else:
                entry["owner"] = self.l2_owner(ns, name)
                entry["neighbour"] = {
                    ip: {
                        "mac": (mac := probes.neighbour_mac(client_ns, ip)),
                        "node": macs.get(mac or ""),
                    }
                    for ip in ips
                }
            entry["reachable"] = all(answers.values())
            self.report.services.append(entry)
            self.out(self.describe(entry))

    @staticmethod
    def describe(entry: dict[str, Any]) -> str:
        """One human-readable paragraph for a Service entry."""
        lines = [f"{entry['service']}: {', '.join(entry['ips'])} ({entry['mode']})"]
        if entry["mode"] == "l2":
            lines.append(f"  L2 owner (ServiceL2Status): {entry.get('owner')}")
            for ip, n in entry["neighbour"].items():
                lines.append(f"  client neighbour {ip} -> {n['mac']} ({n['node']})")
        else:
            for ip, hops in entry["next_hops"].items():
                lines.append(f"  router FIB {ip} -> next hops {', '.join(hops) or 'none'}")
        for ip, node in entry["http"].items():
            lines.append(f"  HTTP GET http://{ip}/ from the client -> answered by {node}")
        return "\n".join(lines)

    def failover(self) -> None:
        """Step 6: kill -9 the L2 owner's speaker under client load; measure the outage."""
        l2 = [s for s in self.report.services if s.get("mode") == "l2" and s.get("reachable")]
        if not l2:
            self.report.errors.append("no reachable L2 Service to fail over")
            return
        svc = l2[0]
        ip = next(i for i in svc["ips"] if ":" not in i)
        victim = svc["http"][ip]
        watch_s = 8.0
        watcher = self.lab.topo.spawn(
            [
                sys.executable,
                "-m",
                "ingot.lab.probes",
                "watch",
                "--url",
                probes.url_for(ip),
                "--interval-ms",
                str(PROBE_INTERVAL_MS),
                "--timeout-ms",
                str(PROBE_TIMEOUT_MS),
                "--duration-s",
                str(watch_s),
            ],
            ns=self.lab.ns("client"),
            stdout=subprocess.PIPE,
        )
        time.sleep(2.0)
        failure_at = time.time()
        # The node dies: its speaker is killed hard and its link goes down at the same moment.
        os.kill(self.speakers[victim].pid, signal.SIGKILL)
        run(["ip", "link", "set", "eth0", "down"], ns=self.lab.ns(victim))
        self.out(f"failover: {victim} (owner of {ip}) dies: kill -9 of its speaker, link down")
        out, _ = watcher.communicate(timeout=watch_s + 10)
        records = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        result = probes.outage(records, failure_at=failure_at)
        result.update(
            ip=ip,
            killed=victim,
            completed=bool(result["node_after"]) and result["node_after"] != victim,
            resolution_s=(PROBE_INTERVAL_MS + PROBE_TIMEOUT_MS) / 1000,
        )
        self.report.failover = result
        self.out(
            f"failover: traffic to {ip} moved {result['node_before']} -> {result['node_after']}; "
            f"outage {result['outage_s']} s (to within {result['resolution_s']} s), "
            f"{result['failed_requests']} failed requests"
        )

    def record_state(self, kind: str) -> None:
        """Note this lab in :data:`STATE_DIR` so ``ingot lab down`` can always remove it."""
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(
            json.dumps(
                {
                    "kind": kind,
                    "prefix": self.lab.topo.prefix,
                    "run_dir": str(self.run_dir),
                    "kubeconfig": str(self.kubeconfig),
                    "pid": os.getpid(),
                }
            )
        )

    @property
    def state_file(self) -> Path:
        """This lab's record in :data:`STATE_DIR`."""
        return STATE_DIR / f"{self.lab.topo.prefix}.json"

    def close(self) -> None:
        """Remove everything the lab made; further SIGINT/SIGTERM are ignored meanwhile."""
        with _signals_ignored():
            remove_lab(self.lab.topo.prefix, self.lab.topo)
            if self.report.ok:
                shutil.rmtree(self.run_dir, ignore_errors=True)

    def run(self, *, failover: bool = True, kind: str = "demo") -> Report:
        """Run every step; always remove what it made (unless ``keep``), also when interrupted.

        SIGINT and SIGTERM interrupt the run once; cleanup then runs with both ignored, so a
        second signal cannot leave namespaces or daemons behind.
        """
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.record_state(kind)
            self.start_network()
            self.start_apiserver()
            self.seed_cluster()
            self.start_components()
            services = self.apply_examples()
            self.inspect(services)
            if failover:
                self.failover()
        except (TimeoutError, subprocess.CalledProcessError, OSError, RuntimeError) as exc:
            self.report.errors.append(f"{type(exc).__name__}: {exc}")
            self.out(f"demo failed: {exc} (logs in {self.run_dir})")
        except KeyboardInterrupt:
            self.report.errors.append("interrupted")
            self.report.interrupted = True
            self.out("interrupted: removing the lab")
        finally:
            if not self.keep or self.report.interrupted:
                self.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.report


STATE_DIR = Path("/run/ingot-lab")


def _interrupt(signum: int, frame: object) -> None:
    """First SIGINT/SIGTERM: ignore any further ones, then interrupt the run."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


@contextmanager
def _signals_ignored() -> Iterator[None]:
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def remove_lab(prefix: str, topo: Topology | None = None) -> list[str]:
    """Stop every process of lab ``prefix`` and delete its namespaces; return their names.

    Namespaces are found by name (``<prefix>-*``), so a lab interrupted half-way is removed too.
    """
    topo = topo or Topology(prefix=prefix)
    listed = run(["ip", "netns", "list"], check=False).stdout.split("\n")
    names = [line.split()[0] for line in listed if line.startswith(f"{prefix}-")]
    topo.namespaces = list(dict.fromkeys([*topo.namespaces, *names]))
    removed = list(topo.namespaces)
    topo.close()
    (STATE_DIR / f"{prefix}.json").unlink(missing_ok=True)
    return removed


def _labs(kind: str | None = None) -> list[dict[str, Any]]:
    out = []
    for f in sorted(STATE_DIR.glob("*.json")) if STATE_DIR.is_dir() else []:
        try:
            state = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if kind is None or state.get("kind") == kind:
            out.append(state)
    return out


def up(*, output: str) -> int:
    """``ingot lab up``: build the lab, start everything, apply the examples and leave it running.

    Records the lab in :data:`STATE_DIR` so that ``ingot lab down`` can remove it. Returns 0
    when every Service is reachable, 1 otherwise (the lab is removed again on failure), 2 when
    a lab is already up, 130 when interrupted.
    """
    if _labs("up"):
        print(f"a lab is already up ({STATE_DIR}); run: ingot lab down", file=sys.stderr)
        return 2
    quiet = output == "json"
    demo = Demo(
        examples=REPO / "examples",
        out=(lambda s: print(s, file=sys.stderr)) if quiet else print,
        keep=True,
    )
    report = demo.run(failover=False, kind="up")
    if report.interrupted:
        return 130
    report.failover = {"completed": True, "skipped": "ingot lab up does no failover"}
    if not report.ok:
        demo.close()
    if quiet:
        print(json.dumps(report.to_json(), indent=2))
    elif report.ok:
        cp = demo.lab.ns("cp")
        kc = demo.kubeconfig
        print(
            f"lab is up. The API server is reachable only inside the lab, e.g.:\n"
            f"  ip netns exec {cp} kubectl --kubeconfig {kc} get svc -A\n"
            f"  ip netns exec {cp} {sys.executable} -m ingot.cli.main status "
            f"--kubeconfig {kc} -n {NAMESPACE}\n"
            f"  ip netns exec {cp} {sys.executable} -m ingot.cli.main explain service demo/web "
            f"--kubeconfig {kc} -n {NAMESPACE}\n"
            f"logs: {demo.run_dir}; remove it with: ingot lab down"
        )
    else:
        print("lab up FAILED: " + "; ".join(report.errors))
    return 0 if report.ok else 1


def down() -> int:
    """``ingot lab down``: remove every lab recorded in :data:`STATE_DIR` (up, or interrupted)."""
    labs = _labs()
    if not labs:
        print("no lab is up", file=sys.stderr)
        return 0
    for state in labs:
        pid = state.get("pid")
        if state.get("kind") != "up" and pid and Path(f"/proc/{pid}").exists():
            continue  # a demo still running removes its own lab
        removed = remove_lab(str(state["prefix"]))
        run_dir = str(state.get("run_dir", ""))
        if run_dir.startswith(tempfile.gettempdir() + "/ingot-lab-"):
            shutil.rmtree(run_dir, ignore_errors=True)
        print(f"lab {state['prefix']} removed ({len(removed)} namespaces)")
    return 0


def main(*, output: str, keep: bool = False) -> int:
    """Run the demo; print as it goes (text) or one JSON document (``output == "json"``).

    Returns 0 when every Service was reachable and the failover completed, 1 otherwise, 130
    when interrupted (the lab is removed in every case unless ``keep``).
    """
    if os.geteuid() != 0:
        print(
            "ingot lab demo needs root (it builds network namespaces): sudo ./run demo",
            file=sys.stderr,
        )
        return 2
    quiet = output == "json"
    demo = Demo(
        examples=REPO / "examples",
        out=(lambda s: print(s, file=sys.stderr)) if quiet else print,
        keep=keep,
    )
    report = demo.run()
    if quiet:
        print(json.dumps(report.to_json(), indent=2))
    elif report.interrupted:
        print("demo interrupted; the lab was removed")
    else:
        print("demo " + ("succeeded" if report.ok else "FAILED: " + "; ".join(report.errors)))
    if report.interrupted:
        return 130
    return 0 if report.ok else 1
