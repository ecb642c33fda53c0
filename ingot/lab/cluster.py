"""Cluster objects for labs, benches and tests: LoadBalancer Services with endpoints, waits.

What kube-controller-manager and the ingot controller would do in a real cluster, written
straight through a ``Source`` (``ingot.apiserver`` or ``FakeSource``): a LoadBalancer Service
whose ``status.loadBalancer.ingress`` already carries its IP, plus one EndpointSlice with a
ready endpoint on each given node. And bounded polling (``wait_for``, ``wait_for_async``):
every wait has a timeout and names what it waited for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ingot.kube import source as src

T = TypeVar("T")


def add_lb_service(
    admin: src.Source,
    *,
    name: str,
    ip: str,
    endpoint_nodes: Iterable[str],
    namespace: str = "demo",
    family: str = "IPv4",
    app: str = "web",
    external_traffic_policy: str | None = None,
) -> dict[str, Any]:
    """Create a LoadBalancer Service with ingress ``ip`` and a ready endpoint per node.

    Args:
        admin: Where to write (needs create on services, services/status, endpointslices).
        name: Service name; the EndpointSlice is ``<name>-1``.
        ip: The ingress IP written to ``status.loadBalancer.ingress``.
        endpoint_nodes: Nodes hosting a ready endpoint (``10.0.0.<i>``), in order.
        namespace: Namespace of both objects (must exist).
        family: EndpointSlice ``addressType`` (``IPv4`` or ``IPv6``).
        app: ``spec.selector.app`` of the Service.
        external_traffic_policy: ``spec.externalTrafficPolicy`` when given.

    Returns:
        The Service as stored after the status write.
    """
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "selector": {"app": app},
        "ports": [{"port": 80, "protocol": "TCP"}],
    }
    if external_traffic_policy is not None:
        spec["externalTrafficPolicy"] = external_traffic_policy
    svc = admin.create(
        src.SERVICE,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        },
        namespace=namespace,
    )
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": ip}]}}
    stored = admin.replace_status(src.SERVICE, svc, namespace=namespace)
    admin.create(
        src.ENDPOINT_SLICE,
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-1",
                "namespace": namespace,
                "labels": {"kubernetes.io/service-name": name},
            },
            "addressType": family,
            "endpoints": [
                {"addresses": [f"10.0.0.{i}"], "nodeName": n, "conditions": {"ready": True}}
                for i, n in enumerate(endpoint_nodes, 1)
            ],
        },
        namespace=namespace,
    )
    return dict(stored)


def wait_for(
    what: str, probe: Callable[[], T | None], *, timeout_s: float, interval_s: float = 0.1
) -> T:
    """Call ``probe`` until it returns something truthy; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


async def wait_for_async(
    probe: Callable[[], T | None], *, timeout_s: float, what: str, interval_s: float = 0.1
) -> T:
    """:func:`wait_for` inside a running event loop.

    ``probe`` runs in a worker thread (it may block: router CLIs, API calls). Raises
    ``TimeoutError`` naming ``what`` and the last value.
    """
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(probe)
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}; last {last!r}")


async def until(pred: Callable[[], object], timeout_s: float, *, interval_s: float = 0.01) -> bool:
    """Whether ``pred()`` (cheap, non-blocking: called on the loop) turns truthy in time.

    For ``assert await until(...)`` in tests of in-process components; checks once more at the
    deadline.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if pred():
            return True
        await asyncio.sleep(interval_s)
    return bool(pred())
