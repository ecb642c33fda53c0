"""The speaker's BGP component: cluster snapshot -> plan -> BGP driver.

Plugs into ``speaker.app.SpeakerApp`` like the L2 component (``name``, ``update(state)``,
``run()``). On every snapshot it calls the pure planner (``ingot.api.bgp.plan_from_config``)
and hands the driver this node's sessions and the full route set; the driver sends only the
difference. Nothing is planned before every informer has synced and a valid configuration
has been compiled (so a speaker start never withdraws routes it merely has not read yet).

Wiring (in ``speaker/__main__.py``, owned by the speaker app)::

    from speaker.bgp.component import BgpComponent
    from speaker.bgp.exabgp import ExabgpDriver
    from speaker.bgp.bfd import BfdService
    from speaker.bgp.metrics import BfdMetrics, BgpMetrics

    driver = ExabgpDriver(runtime_dir=Path("/run/ingot-bgp"), metrics=BgpMetrics(registry),
                          node_name=args.node_name)
    bfd = BfdService(metrics=BfdMetrics(registry),
                     on_down=lambda peer: driver.reset_peer(peer, "BFD session down"))
    status = BgpStatusWriter(source=source, node=args.node_name, namespace=args.namespace)
    bgp = BgpComponent(node=args.node_name, driver=driver, bfd=bfd, status=status)
    app = SpeakerApp(components=[l2, bgp], source=source, namespace=args.namespace)
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from ingot.api import bgp
from speaker.bgp.bfd import BfdPeer, BfdService, BfdTimers
from speaker.bgp.driver import BgpDriver
from speaker.bgp.status import BgpStatusWriter

log = structlog.get_logger("speaker.bgp")


class BgpComponent:
    """Announce this node's routes over BGP (see the module docstring)."""

    name = "bgp"

    def __init__(
        self,
        *,
        node: str,
        driver: BgpDriver,
        bfd: BfdService | None = None,
        status: BgpStatusWriter | None = None,
    ) -> None:
        self.node = node
        self.driver = driver
        self.bfd = bfd
        self.status = status
        self.plan: bgp.BgpPlan | None = None
        self.peer_errors: dict[str, str] = {}
        self._state: Any = None
        self._changed = asyncio.Event()

    def update(self, state: Any) -> None:
        """Take a new ``speaker.app.ClusterState`` (cheap; ``run()`` does the work)."""
        self._state = state
        self._changed.set()

    async def run(self) -> None:
        """Run the driver (if it has a ``run()``) and re-plan on every snapshot."""
        runner = getattr(self.driver, "run", None)
        async with asyncio.TaskGroup() as tg:
            if runner is not None:
                tg.create_task(runner(), name="bgp-driver")
            if self.bfd is not None:
                tg.create_task(self.bfd.run(), name="bfd")
            if self.status is not None:
                tg.create_task(self.status.run(), name="bgp-status")
            tg.create_task(self._loop(), name="bgp-plan")

    async def _loop(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                self.reconcile()
            except Exception:  # a bad object must not stop BGP for the others
                log.exception("bgp reconcile failed")

    def reconcile(self) -> None:
        """Plan from the latest snapshot and hand the result to the driver."""
        state = self._state
        if state is None or not state.synced or state.config is None:
            return
        raw_node = state.nodes.get(self.node)
        if raw_node is not None and hasattr(self.driver, "node_addresses"):
            self.driver.node_addresses = bgp.node_from_raw(raw_node).addresses
        peers, plan = bgp.plan_from_config(
            state.config,
            raw_services=state.services,
            raw_slices_by_service=state.slices_by_service,
            raw_nodes=state.nodes,
            node_name=self.node,
        )
        errors = dict(self.driver.set_peers(peers))
        if errors != self.peer_errors:
            for name, message in sorted(errors.items()):
                log.error("BGPPeer cannot be used", peer=name, error=message)
        self.peer_errors = errors
        self.driver.set_routes(plan.routes)
        if self.bfd is not None:
            self.bfd.set_peers(bfd_peers(state.config, peers))
        if self.status is not None:
            self.status.update(
                plan=plan,
                config=state.config,
                raw_services=tuple(state.services),
                raw_slices_by_service=state.slices_by_service,
                raw_nodes=state.nodes,
            )
        if self.plan is None or self.plan.not_announced != plan.not_announced:
            for key, reason in plan.not_announced.items():
                log.debug("not announced over BGP", service=key, reason=reason)
        self.plan = plan


def bfd_peers(config: Any, peers: tuple[bgp.BgpPeerSpec, ...]) -> list[BfdPeer]:
    """BFD sessions for this node's BGPPeers that reference a BFDProfile.

    The compiler resolves the profile into ``BGPPeer.bfd``; intervals are converted to µs.
    """
    out = []
    for peer in peers:
        compiled = config.bgp_peers.get(peer.name)
        profile = getattr(compiled, "bfd", None)
        if profile is None:
            continue
        out.append(
            BfdPeer(
                name=peer.name,
                peer_address=peer.peer_address,
                timers=BfdTimers.from_profile(profile),
                local_address=peer.source_address,
            )
        )
    return out
