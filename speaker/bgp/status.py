"""BGP status in the API: ``ServiceBGPStatus`` objects, events and the Announced condition.

Written by :class:`BgpStatusWriter` from the component's plans (the decisions are pure:
``ingot.api.bgp.service_condition``); only transitions cause writes:

* one ``ServiceBGPStatus`` (``metallb.io/v1beta1``) per (Service, node) while this node hands
  the Service's prefixes to peers: ``status.node``, ``serviceName``, ``serviceNamespace`` and
  ``peers`` (BGPPeer names: intent, as MetalLB); labels ``metallb.io/node``,
  ``metallb.io/service-name``, ``metallb.io/service-namespace``; deleted when the node stops;
* a ``nodeAssigned`` Event on the Service when this node starts announcing it;
* the Service condition ``ingot.io/Announced``, written only by the Service's reporter node so
  that speakers never fight over it, and only for Services no L2Advertisement applies to
  (``ingot.api.l2.announced_condition_owner``: otherwise the L2 component writes it); sent
  alone as a strategic merge patch (``speaker.conditions``), so other conditions stay.

API failures are retried after 1 s; they never affect announcing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import structlog

from ingot import errors
from ingot.api import bgp, l2
from ingot.clock import Clock, RealClock
from ingot.kube import source as src
from speaker import conditions

log = structlog.get_logger("speaker.bgp")

SERVICE_BGP_STATUS = src.SERVICE_BGP_STATUS
CONDITION = conditions.ANNOUNCED
COMPONENT = conditions.COMPONENT


def status_name(service_key: str, node: str) -> str:
    """Deterministic ServiceBGPStatus name for (Service, node) (``bgp-`` + readable + hash)."""
    ns, _, name = service_key.partition("/")
    digest = hashlib.sha256(f"{service_key}#{node}".encode()).hexdigest()[:8]
    base = re.sub(r"[^a-z0-9-]", "-", f"bgp-{ns}-{name}-{node}".lower())[:200].strip("-")
    return f"{base}-{digest}"


class BgpStatusWriter:
    """Keeps this node's BGP status objects, events and conditions in line with its plans."""

    def __init__(
        self, *, source: src.Source, node: str, namespace: str, clock: Clock | None = None
    ) -> None:
        self.source = source
        self.node = node
        self.namespace = namespace
        self.clock: Clock = clock or RealClock()
        self._peers: dict[str, tuple[str, ...]] = {}  # desired: service -> peers
        self._written: dict[str, tuple[str, ...]] = {}  # ServiceBGPStatus we know exist
        self._conditions: dict[str, bgp.ServiceCondition] = {}
        self._announced = conditions.ConditionWriter(source=source, clock=self.clock)
        self._events_sent: set[str] = set()
        self._services: dict[str, Mapping[str, Any]] = {}
        self._inputs: tuple[Any, Any, Any, Any] | None = None
        self._wake = asyncio.Event()

    def update(
        self,
        *,
        plan: bgp.BgpPlan,
        config: Any,
        raw_services: tuple[Mapping[str, Any], ...],
        raw_slices_by_service: Mapping[str, Any],
        raw_nodes: Mapping[str, Any],
    ) -> None:
        """Take this node's plan and the inputs of the cluster-wide plan; wakes ``run()``.

        The cluster-wide plan (for the condition's reporter) is computed in ``run()`` in a
        worker thread, so a large cluster never stalls the event loop (BFD timers run there).
        """
        self._services = {
            f"{(s.get('metadata') or {}).get('namespace', '')}/"
            f"{(s.get('metadata') or {}).get('name', '')}": s
            for s in raw_services
        }
        self._peers = {k: tuple(sorted(v)) for k, v in plan.peers_by_service.items()}
        self._inputs = (config, raw_services, raw_slices_by_service, raw_nodes)
        self._wake.set()

    async def _compute_conditions(self) -> None:
        if self._inputs is None:
            return
        config, raw_services, raw_slices, raw_nodes = self._inputs
        self._inputs = None
        plans = await asyncio.to_thread(
            bgp.cluster_plans,
            config,
            raw_services=raw_services,
            raw_slices_by_service=raw_slices,
            raw_nodes=raw_nodes,
        )
        conds: dict[str, bgp.ServiceCondition] = {}
        for key, svc in self._services.items():
            cond = bgp.service_condition(key, plans)
            if cond is None or cond.reporter != self.node:
                continue
            labels = (svc.get("metadata") or {}).get("labels") or {}
            owner = l2.announced_condition_owner(
                config, pool=l2.service_pool(config, svc), service_labels=labels
            )
            if owner == "bgp":  # else the L2 component writes it (L2 advertisement applies)
                conds[key] = cond
        self._conditions = conds

    async def run(self) -> None:
        """Adopt existing objects of this node, then write on every change until cancelled."""
        with contextlib.suppress(errors.KubeError):
            found = await asyncio.to_thread(
                self.source.list,
                SERVICE_BGP_STATUS,
                namespace=self.namespace,
                label_selector=f"metallb.io/node={self.node}",
            )
            for obj in found.items:
                st = obj.get("status") or {}
                key = f"{st.get('serviceNamespace', '')}/{st.get('serviceName', '')}"
                self._written[key] = tuple(st.get("peers") or ())
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.sync()
            except errors.KubeError as exc:
                log.warning("bgp status write failed; retrying", error=str(exc))
                await self.clock.sleep(1.0)
                self._wake.set()

    async def sync(self) -> None:
        """One pass: status objects, events, conditions (each only on change)."""
        await self._compute_conditions()
        for key in sorted(set(self._written) - set(self._peers)):
            with contextlib.suppress(errors.NotFound):
                await asyncio.to_thread(
                    self.source.delete,
                    SERVICE_BGP_STATUS,
                    status_name(key, self.node),
                    namespace=self.namespace,
                )
            self._written.pop(key, None)
            self._events_sent.discard(key)
        for key, peers in sorted(self._peers.items()):
            if self._written.get(key) != peers:
                await self._ensure(key, peers)
            svc = self._services.get(key)
            if svc is not None and key not in self._events_sent:
                await self._event(
                    svc, "nodeAssigned", f'announcing from node "{self.node}" with protocol "bgp"'
                )
                self._events_sent.add(key)
        for key, cond in sorted(self._conditions.items()):
            svc = self._services.get(key)
            if svc is not None:
                await self._condition(svc, cond)

    async def _ensure(self, key: str, peers: tuple[str, ...]) -> None:
        svc_ns, _, svc_name = key.partition("/")
        name = status_name(key, self.node)
        body: dict[str, Any] = {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "ServiceBGPStatus",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {
                    "metallb.io/node": self.node,
                    "metallb.io/service-name": svc_name,
                    "metallb.io/service-namespace": svc_ns,
                },
            },
            "spec": {},
            "status": {
                "node": self.node,
                "serviceName": svc_name,
                "serviceNamespace": svc_ns,
                "peers": list(peers),
            },
        }
        try:
            created = await asyncio.to_thread(
                self.source.create, SERVICE_BGP_STATUS, body, namespace=self.namespace
            )
        except errors.Conflict:
            created = await asyncio.to_thread(
                self.source.get, SERVICE_BGP_STATUS, name, namespace=self.namespace
            )
        body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
        await asyncio.to_thread(
            self.source.replace_status, SERVICE_BGP_STATUS, body, namespace=self.namespace
        )
        self._written[key] = peers

    async def _event(self, svc: Mapping[str, Any], reason: str, message: str) -> None:
        meta = svc.get("metadata") or {}
        body = conditions.service_event(
            svc, reason=reason, message=message, etype="Normal", node=self.node, clock=self.clock
        )
        await asyncio.to_thread(
            self.source.create, src.EVENT, body, namespace=meta.get("namespace")
        )

    async def _condition(self, svc: Mapping[str, Any], cond: bgp.ServiceCondition) -> None:
        await self._announced.set(svc, status=cond.status, reason=cond.reason, message=cond.message)
