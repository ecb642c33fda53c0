"""``ingot-controller`` / ``python -m controller``: assign IPs to LoadBalancer Services.

Flags (names as the Helm chart passes them, ``charts/ingot/templates/_helpers.tpl``):
``--kubeconfig`` (default: in-cluster config, then ``~/.kube/config``), ``--namespace``
(env ``INGOT_NAMESPACE`` / ``METALLB_NAMESPACE``), ``--lb-class``, ``--leader-elect``,
``--leader-election-lease-name``, ``--metrics-port`` (``/metrics``, ``/healthz``, ``/readyz``;
0 disables), ``--webhook-port`` (HTTPS; 0 disables), ``--webhook-service-name``,
``--webhook-config-name``, ``--webhook-secret-name`` (self-managed certificates) or
``--webhook-cert-dir`` (mounted ``tls.crt``/``tls.key``, e.g. cert-manager), ``--log-level``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from controller import certs, logs, webhook
from controller.controller import Controller
from controller.events import EventWriter
from controller.metrics import ControllerMetrics, make_http_app

log = logging.getLogger("controller")

CERT_CHECK_INTERVAL_S = 3600.0
"""How often the webhook certificate is checked for rotation / re-read from disk."""
CERT_RETRY_S = 10.0
"""Retry delay after a failed certificate setup (RBAC missing, API unreachable)."""


def build_parser() -> argparse.ArgumentParser:
    env_ns = os.environ.get("INGOT_NAMESPACE") or os.environ.get("METALLB_NAMESPACE")
    p = argparse.ArgumentParser(
        prog="ingot-controller",
        description="ingot controller: assigns IPs from IPAddressPools to LoadBalancer Services",
    )
    p.add_argument("--kubeconfig", default=None, help="kubeconfig path (default: in-cluster)")
    p.add_argument("--namespace", default=env_ns or "metallb-system")
    p.add_argument("--lb-class", default="", help="serve only Services of this class")
    p.add_argument("--leader-elect", action="store_true", help="run one active replica")
    p.add_argument("--leader-election-lease-name", default="ingot-controller")
    p.add_argument("--leader-lease-duration-s", type=float, default=15.0)
    p.add_argument("--metrics-port", type=int, default=7472)
    p.add_argument("--metrics-host", default="0.0.0.0")
    p.add_argument("--webhook-port", type=int, default=9443)
    p.add_argument("--webhook-service-name", default="ingot-webhook-service")
    p.add_argument("--webhook-config-name", default="ingot-validating-webhook-configuration")
    p.add_argument("--webhook-secret-name", default="ingot-webhook-cert")
    p.add_argument("--webhook-cert-dir", default=None)
    p.add_argument("--log-level", default="info", choices=sorted(logs.LEVELS))
    return p


def _api_client(kubeconfig: str | None) -> Any:
    from kubernetes import client, config

    cfg = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)  # type: ignore[no-untyped-call]
    else:
        try:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    # One long-lived watch per informer (11) plus writers: urllib3's default pool of 4 would
    # keep discarding connections.
    cfg.connection_pool_maxsize = 32
    return client.ApiClient(cfg)


def _core(source: Any) -> tuple[Any, Any, Any, Any]:
    from ingot.api import compile as api_compile
    from ingot.api import services
    from ipam.allocator import Allocator

    return Allocator, api_compile.compile_config, api_compile.ClusterResources, services


async def _serve(app: web.Application, *, host: str, port: int, ssl_context: Any = None) -> Any:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    return runner


async def run(args: argparse.Namespace) -> int:
    """Start everything; return when SIGTERM/SIGINT arrives."""
    from ingot.kube.source import KubeSource

    api_client = _api_client(args.kubeconfig)
    source = KubeSource(api_client)
    allocator_cls, compile_fn, resources_cls, services = _core(source)
    metrics = ControllerMetrics()
    from ingot.kube.events import EventRecorder

    instance = os.environ.get("POD_NAME", socket.gethostname())
    events = EventWriter(
        source,
        instance=instance,
        recorder=EventRecorder(source, component="ingot-controller", host=instance),
    )
    ctrl = Controller(
        source=source,
        namespace=args.namespace,
        lb_class=args.lb_class,
        metrics=metrics,
        events=events,
        allocator_factory=allocator_cls,
        compile_fn=functools.partial(compile_fn, namespace=args.namespace),
        resources_fn=resources_cls,
        request_fn=services.service_request,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    runners: list[Any] = []
    tasks: list[asyncio.Task[Any]] = []
    tls: webhook.TLSConfig | None = None
    leader: Any = None
    lost = False
    try:
        if args.metrics_port:
            app = make_http_app(metrics, ready=ctrl.ready)
            runners.append(await _serve(app, host=args.metrics_host, port=args.metrics_port))
        if args.webhook_port:
            tls = webhook.TLSConfig()
            hook = webhook.make_app(
                resources=ctrl.cluster_resources,
                compile_fn=functools.partial(
                    compile_fn, namespace=args.namespace, strict_references=False
                ),
                namespace=args.namespace,
                delete_compile_fn=functools.partial(compile_fn, namespace=args.namespace),
            )
            # Certificates first, then the HTTPS listener; a failure (RBAC, API down) is
            # retried in the background and never stops IP allocation.
            tasks.append(asyncio.create_task(_webhook_loop(args, api_client, tls, hook, runners)))
        events.start()
        if args.leader_elect:
            # Metrics and webhook serve at once; informers and allocation wait for the Lease
            # (a standby is not ready, so the webhook Service routes to the leader).
            from ingot.kube.lease import LeaderElector

            def on_stopped() -> None:
                nonlocal lost
                if stop.is_set():
                    return  # our own release at shutdown
                lost = True  # like client-go: stop, let the pod restart as a follower
                loop.call_soon_threadsafe(stop.set)

            leader = LeaderElector(
                source,
                namespace=args.namespace,
                name=args.leader_election_lease_name,
                identity=os.environ.get("POD_NAME", socket.gethostname()),
                lease_duration_s=args.leader_lease_duration_s,
                renew_interval_s=args.leader_lease_duration_s / 3,
                retry_interval_s=min(2.0, args.leader_lease_duration_s / 3),
                on_stopped_leading=on_stopped,
            )
            leader.start()
            while not stop.is_set() and not leader.is_leader():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
        if not stop.is_set():
            ctrl.start()
            log.info("controller started", extra={"namespace": args.namespace})
        await stop.wait()
    finally:
        log.info("shutting down")
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await asyncio.to_thread(ctrl.stop)
        if leader is not None:
            await asyncio.to_thread(leader.stop)
        events.stop()
        for r in runners:
            await r.cleanup()
        if tls is not None:
            tls.close()
    if lost:
        log.error("leader lease lost; exiting")
        return 1
    return 0


async def _load_certs(args: argparse.Namespace, api_client: Any, tls: webhook.TLSConfig) -> None:
    if args.webhook_cert_dir:
        d = Path(args.webhook_cert_dir)
        bundle = certs.CertBundle(
            ca_cert_pem=b"",
            ca_key_pem=b"",
            cert_pem=(d / "tls.crt").read_bytes(),
            key_pem=(d / "tls.key").read_bytes(),
        )
        tls.load(bundle)
        return
    from kubernetes import client

    rotator = certs.CertRotator(
        core_v1=client.CoreV1Api(api_client),
        admission_v1=client.AdmissionregistrationV1Api(api_client),
        namespace=args.namespace,
        secret_name=args.webhook_secret_name,
        service_name=args.webhook_service_name,
        webhook_config_name=args.webhook_config_name,
    )
    bundle = await asyncio.to_thread(rotator.ensure, dt.datetime.now(dt.UTC))
    tls.load(bundle)


async def _webhook_loop(
    args: argparse.Namespace,
    api_client: Any,
    tls: webhook.TLSConfig,
    app: web.Application,
    runners: list[Any],
) -> None:
    """Load (or rotate) the certificate; serve the webhook once it is there; repeat hourly."""
    serving = False
    while True:
        try:
            await _load_certs(args, api_client, tls)
            if not serving:
                runners.append(
                    await _serve(
                        app, host="0.0.0.0", port=args.webhook_port, ssl_context=tls.context
                    )
                )
                serving = True
                log.info("webhook serving", extra={"port": args.webhook_port})
            delay = CERT_CHECK_INTERVAL_S
        except Exception:
            log.exception("webhook certificate setup failed; retrying")
            delay = CERT_RETRY_S
        await asyncio.sleep(delay)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(level=args.log_level, component="controller")
    from kubernetes.config import ConfigException

    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
    except (ConfigException, OSError) as exc:
        # No in-cluster config and no usable kubeconfig, or a port already in use.
        log.error("cannot start: %s", exc)
        print(f"ingot-controller: cannot start: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
