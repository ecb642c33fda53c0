"""The speaker process: informers -> one cluster snapshot -> every announcing component.

Structure (kept deliberately small so the BGP side can plug in the same way):

* :class:`ClusterState` is an immutable snapshot of what components need: the compiled
  ``Config`` (or ``None`` while the metallb.io objects are invalid or not loaded yet — the last
  valid one stays in force), the LoadBalancer Services, EndpointSlices by Service, and Nodes.
* A :class:`Component` has ``name``, ``async run()`` (its own work until cancelled) and
  ``update(state)`` (called in the event loop on every change of the snapshot; must be cheap and
  never block: store the state, wake ``run()``).
* :class:`SpeakerApp` starts the informers (threads of ``ingot.kube``), debounces their change
  notifications into the asyncio loop (``change_debounce_s``), rebuilds the snapshot and calls
  ``update`` on every component; it runs all components in one ``asyncio.TaskGroup``. Without a
  ``source`` (static lab mode) it only runs the components.

To add a component (e.g. ``speaker/bgp``): build it in ``speaker/__main__.py`` and append it to
``components``; read what you need from ``ClusterState``; do API writes with
``asyncio.to_thread`` so the loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from ingot.api.compile import ClusterResources, compile_config
from ingot.api.config import Config
from ingot.kube import source as src
from ingot.kube.informer import Informer

log = structlog.get_logger("ingot.speaker")

RawObject = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class ClusterState:
    """What the components see; replaced as a whole on every change.

    Attributes:
        config: The last valid compiled configuration (``None`` until one compiled).
        config_errors: Errors of the latest compile (empty when it was valid).
        services: Raw Services of type LoadBalancer.
        slices_by_service: Raw EndpointSlices by Service key ``namespace/name``.
        nodes: Raw Nodes by name.
        synced: Every informer has listed once (components wait for this before acting).
    """

    config: Config | None = None
    config_errors: tuple[str, ...] = ()
    services: tuple[RawObject, ...] = ()
    slices_by_service: Mapping[str, tuple[RawObject, ...]] = field(default_factory=dict)
    nodes: Mapping[str, RawObject] = field(default_factory=dict)
    synced: bool = False


class Component(Protocol):
    """A part of the speaker (L2, BGP)."""

    name: str

    async def run(self) -> None:
        """Do the component's work until cancelled; clean up on cancellation."""
        ...

    def update(self, state: ClusterState) -> None:
        """Take a new snapshot (called in the event loop; must not block)."""
        ...


CONFIG_KINDS = src.METALLB_KINDS


async def stop_informers(informers: Iterable[Informer], *, timeout_s: float = 2.0) -> None:
    """Stop informers concurrently in worker threads, never blocking the loop > ``timeout_s``."""
    jobs = [asyncio.to_thread(inf.stop, timeout_s=timeout_s / 2) for inf in informers]
    if jobs:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), timeout_s)


class SpeakerApp:
    """Feeds components with cluster snapshots and runs them.

    Args:
        components: The components, each with ``run()`` and ``update()``.
        source: The Kubernetes seam; ``None`` = no cluster (static mode).
        namespace: ingot's namespace (metallb.io objects, Secrets, Leases).
        change_debounce_s: Coalesce informer notifications within this many seconds.
    """

    def __init__(
        self,
        *,
        components: Sequence[Component],
        source: src.Source | None,
        namespace: str,
        change_debounce_s: float = 0.01,
    ) -> None:
        self.components = list(components)
        self._source = source
        self._namespace = namespace
        self._debounce_s = change_debounce_s
        self.informers: dict[str, Informer] = {}
        self._config: Config | None = None
        self.state = ClusterState()

    def _make_informers(self, source: src.Source) -> None:
        self.informers["services"] = Informer(source, src.SERVICE)
        self.informers["endpointslices"] = Informer(source, src.ENDPOINT_SLICE)
        self.informers["nodes"] = Informer(source, src.NODE)
        self.informers["secrets"] = Informer(source, src.SECRET, namespace=self._namespace)
        for kind in CONFIG_KINDS:
            self.informers[kind.plural] = Informer(source, kind, namespace=self._namespace)

    def snapshot(self) -> ClusterState:
        """Build a :class:`ClusterState` from the informer caches (compiles the config)."""
        inf = self.informers

        def items(name: str) -> tuple[RawObject, ...]:
            return tuple(inf[name].list()) if name in inf else ()

        nodes = items("nodes")
        res = ClusterResources(
            ip_address_pools=items("ipaddresspools"),
            l2_advertisements=items("l2advertisements"),
            bgp_advertisements=items("bgpadvertisements"),
            bgp_peers=items("bgppeers"),
            bfd_profiles=items("bfdprofiles"),
            communities=items("communities"),
            nodes=nodes,
            secrets=items("secrets"),
        )
        result = compile_config(res, namespace=self._namespace)
        errors = tuple(str(e) for e in result.errors)
        if result.config is not None:
            self._config = result.config
        elif errors:
            log.warning("invalid configuration, keeping the last valid one", errors=errors[:5])
        slices: dict[str, list[RawObject]] = {}
        for sl in items("endpointslices"):
            meta = sl.get("metadata") or {}
            svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if svc:
                slices.setdefault(f"{meta.get('namespace', '')}/{svc}", []).append(sl)
        services = tuple(
            s for s in items("services") if (s.get("spec") or {}).get("type") == "LoadBalancer"
        )
        return ClusterState(
            config=self._config,
            config_errors=errors,
            services=services,
            slices_by_service={k: tuple(v) for k, v in slices.items()},
            nodes={(n.get("metadata") or {}).get("name", ""): n for n in nodes},
            synced=all(i.has_synced() for i in inf.values()),
        )

    def _publish(self) -> None:
        self.state = self.snapshot()
        for comp in self.components:
            try:
                comp.update(self.state)
            except Exception:  # a component's bug must not stop the others
                log.exception("component update failed", component=comp.name)

    async def _feed(self, changed: asyncio.Event) -> None:
        while True:
            await changed.wait()
            await asyncio.sleep(self._debounce_s)
            changed.clear()
            self._publish()

    async def run(self) -> None:
        """Start informers (when there is a source) and run every component until cancelled."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def notify(*_: object) -> None:
            loop.call_soon_threadsafe(changed.set)

        if self._source is not None:
            self._make_informers(self._source)
            for inf in self.informers.values():
                inf.add_handler(on_add=notify, on_update=notify, on_delete=notify)
                inf.start()
        try:
            async with asyncio.TaskGroup() as tg:
                if self._source is not None:
                    tg.create_task(self._feed(changed), name="feed")
                    tg.create_task(self._sync_watch(changed), name="sync")
                for comp in self.components:
                    tg.create_task(comp.run(), name=comp.name)
        finally:
            await stop_informers(self.informers.values())

    async def _sync_watch(self, changed: asyncio.Event) -> None:
        # publish once more when every informer has synced (handlers may have fired earlier)
        for _ in range(100_000):
            if all(i.has_synced() for i in self.informers.values()):
                changed.set()
                return
            await asyncio.sleep(0.05)
