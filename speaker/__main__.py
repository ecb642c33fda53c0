"""``ingot-speaker`` / ``python -m speaker``: one per node; announces IPs by L2 and BGP.

L2 mode answers ARP/NDP for the IPs this node owns; BGP mode runs one ExaBGP process per
BGPPeer that selects this node (with BFD beside it when the peer references a BFDProfile).

Every timing of the L2 election is a flag (defaults and reasons in ``speaker.l2.fencing.Timings``
and ``docs/l2.md``). ``--static-announce IP`` runs without a cluster and announces the given IPs
(lab and debugging).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import structlog

from ingot.clock import RealClock

log = structlog.get_logger("ingot.speaker")
#: MetalLB's --log-level values, as ingot-controller accepts them.
_LOG_LEVELS = {
    "all": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "none": logging.CRITICAL + 10,
}


def build_parser() -> argparse.ArgumentParser:
    from speaker.l2.announcer import GarpSchedule
    from speaker.l2.fencing import Timings

    t, g = Timings(), GarpSchedule()
    p = argparse.ArgumentParser(
        prog="ingot-speaker", description="ingot speaker (L2: ARP/NDP; BGP: ExaBGP + BFD)"
    )
    p.add_argument("--node-name", required=True, help="this node's name (Node object)")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig path (default: in-cluster)")
    p.add_argument(
        "--namespace",
        default="metallb-system",
        help="ingot's namespace, where its metallb.io objects live (as the controller)",
    )
    p.add_argument("--request-timeout", type=float, default=3.0, help="API request timeout, s")
    p.add_argument(
        "--static-announce",
        action="append",
        default=[],
        metavar="IP",
        help="no cluster: announce this IP (repeatable; lab/debug)",
    )
    p.add_argument(
        "--exclude-interface",
        action="append",
        default=None,
        metavar="REGEX",
        help="interfaces never announced on (repeatable; default MetalLB's list)",
    )
    p.add_argument("--heartbeat-key-file", default=None, help="file holding the heartbeat HMAC key")
    p.add_argument("--ignore-exclude-lb", action="store_true", help="ignore the exclude label")
    p.add_argument("--lb-class", default=None, help="handle only Services of this class")
    p.add_argument("--no-status", action="store_true", help="write no ServiceL2Status/events")
    p.add_argument("--metrics-port", type=int, default=7472, help="Prometheus port (0: off)")
    p.add_argument("--metrics-host", default="0.0.0.0", help="Prometheus bind address")
    p.add_argument(
        "--log-level",
        default="info",
        choices=sorted(_LOG_LEVELS),
        help="as ingot-controller's (MetalLB's values)",
    )
    p.add_argument(
        "--bgp-runtime-dir",
        default=None,
        help="where ExaBGP configs and sockets live (default /run/ingot-speaker/<node>/bgp)",
    )
    p.add_argument("--no-bgp", action="store_true", help="run no BGP (L2 mode only)")
    for name, default, help_ in (
        ("heartbeat-interval", t.heartbeat_interval_s, "data-plane heartbeat period"),
        ("suspect-after", t.suspect_after_s, "silence before a peer is fenced"),
        ("lease-duration", t.lease_duration_s, "node Lease duration"),
        ("renew-interval", t.renew_interval_s, "node Lease renewal period"),
        ("api-grace", t.api_grace_s, "without API contact this long the API is unreachable"),
        ("hold-down", t.hold_down_s, "health required before a fenced node rejoins"),
        ("handover-delay", t.handover_delay_s, "wait before taking an IP from a live owner"),
        ("startup-grace", t.startup_grace_s, "announce nothing this long after joining"),
        ("garp-burst-interval", g.burst_interval_s, "spacing of the GARP/NA burst"),
        ("garp-refresh-interval", g.refresh_interval_s, "GARP/NA refresh period (0: off)"),
    ):
        p.add_argument(
            f"--{name}", type=float, default=default, help=f"{help_}, s (default {default})"
        )
    p.add_argument("--garp-burst-count", type=int, default=g.burst_count, help="GARP/NA burst size")
    return p


def _api_client(kubeconfig: str | None) -> Any:
    from kubernetes import client, config

    if kubeconfig:
        return config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    config.load_incluster_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


def _heartbeat_key(path: str | None, namespace: str) -> bytes:
    if path:
        return Path(path).read_bytes().strip()
    log.warning("no --heartbeat-key-file: heartbeats use a well-known key (not authenticated)")
    return hashlib.sha256(f"ingot-insecure-default/{namespace}".encode()).digest()


def build(args: argparse.Namespace) -> Any:
    """Build the app from parsed arguments (nothing starts)."""
    from prometheus_client import CollectorRegistry

    from speaker.app import SpeakerApp
    from speaker.l2.announcer import GarpSchedule
    from speaker.l2.component import L2Component, L2Options, parse_static
    from speaker.l2.fencing import Timings
    from speaker.l2.interfaces import DEFAULT_EXCLUDE
    from speaker.l2.metrics import L2Metrics
    from speaker.l2.wire import RawWire

    timings = Timings(
        heartbeat_interval_s=args.heartbeat_interval,
        suspect_after_s=args.suspect_after,
        lease_duration_s=args.lease_duration,
        renew_interval_s=args.renew_interval,
        api_grace_s=args.api_grace,
        hold_down_s=args.hold_down,
        handover_delay_s=args.handover_delay,
        startup_grace_s=args.startup_grace,
    )
    problems = timings.check()
    if problems:
        raise SystemExit("ingot-speaker: bad timings: " + "; ".join(problems))
    static = parse_static(args.static_announce)
    source = None
    if not static:
        from ingot.kube.source import KubeSource

        source = KubeSource(_api_client(args.kubeconfig), request_timeout_s=args.request_timeout)
    registry = CollectorRegistry()
    options = L2Options(
        node=args.node_name,
        namespace=args.namespace,
        timings=timings,
        schedule=GarpSchedule(
            burst_count=args.garp_burst_count,
            burst_interval_s=args.garp_burst_interval,
            refresh_interval_s=args.garp_refresh_interval,
        ),
        exclude=tuple(
            args.exclude_interface if args.exclude_interface is not None else DEFAULT_EXCLUDE
        ),
        heartbeat_key=_heartbeat_key(args.heartbeat_key_file, args.namespace),
        ignore_exclude_lb=args.ignore_exclude_lb,
        load_balancer_class=args.lb_class,
        static_ips=static,
        write_status=not args.no_status,
        heartbeat_thread=True,
    )
    l2 = L2Component(
        options=options,
        wire=RawWire(),
        clock=RealClock(),
        source=source,
        metrics=L2Metrics(registry),
    )
    components: list[Any] = [l2]
    if source is not None and not args.no_bgp:
        components.append(_bgp_component(args, source=source, registry=registry))
    app = SpeakerApp(components=components, source=source, namespace=args.namespace)
    return app, registry


def _bgp_component(args: argparse.Namespace, *, source: Any, registry: Any) -> Any:
    """The BGP component: ExaBGP per peer, BFD beside it, ServiceBGPStatus writer."""
    from speaker.bgp.bfd import BfdService
    from speaker.bgp.component import BgpComponent
    from speaker.bgp.exabgp import ExabgpDriver
    from speaker.bgp.metrics import BfdMetrics, BgpMetrics
    from speaker.bgp.status import BgpStatusWriter

    runtime_dir = Path(args.bgp_runtime_dir or f"/run/ingot-speaker/{args.node_name}/bgp")
    driver = ExabgpDriver(
        runtime_dir=runtime_dir, metrics=BgpMetrics(registry), node_name=args.node_name
    )
    bfd = BfdService(
        metrics=BfdMetrics(registry),
        on_down=lambda peer: driver.reset_peer(peer, "BFD session down"),
    )
    status = (
        None
        if args.no_status
        else BgpStatusWriter(source=source, node=args.node_name, namespace=args.namespace)
    )
    return BgpComponent(node=args.node_name, driver=driver, bfd=bfd, status=status)


async def _serve(app: Any) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await app.run()
    except asyncio.CancelledError:
        log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = _LOG_LEVELS[args.log_level]
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(min(level, logging.CRITICAL)),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"]),
        ],
    )
    app, registry = build(args)
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=args.metrics_host, registry=registry)
    log.info("starting", node=args.node_name, static=bool(args.static_announce))
    asyncio.run(_serve(app))
    return 0


if __name__ == "__main__":
    sys.exit(main())
