"""Pools: the allocator's view of one ``IPAddressPool`` (MetalLB ``metallb.io/v1beta1``).

``ingot.api`` compiles the CR into a :class:`Pool`; the allocator only reads it. Fields map to
the CR as: ``name`` = metadata.name, ``ranges`` = spec.addresses (in order), ``auto_assign`` =
spec.autoAssign (default true), ``avoid_buggy_ips`` = spec.avoidBuggyIPs (default false),
``allocation`` = spec.serviceAllocation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ipam import selectors
from ipam.ranges import AddressRange, IPAddress, is_buggy


@dataclass(frozen=True)
class ServiceAllocation:
    """``spec.serviceAllocation``: restrict and prioritise a pool.

    Attributes:
        priority: lower positive value is tried first; ``None`` or 0 is tried after every
            prioritised pool (MetalLB ``sortPools``).
        namespaces: Services in these namespaces are admitted.
        namespace_selectors: Services whose namespace labels match any selector are admitted.
        service_selectors: Service labels must match any selector (OR).

    A namespace restriction (``namespaces`` or ``namespace_selectors`` non-empty) and the
    service selectors are combined with AND. A block with neither (priority only) admits every
    Service (MetalLB fix for issue #2656, case C03). A pool with this block is never part of the
    generic fallback set.
    """

    priority: int | None = None
    namespaces: frozenset[str] = frozenset()
    namespace_selectors: tuple[selectors.LabelSelector, ...] = ()
    service_selectors: tuple[selectors.LabelSelector, ...] = ()

    def admission(
        self,
        *,
        namespace: str,
        namespace_labels: Mapping[str, str],
        service_labels: Mapping[str, str],
    ) -> str | None:
        """Return ``None`` if a Service is admitted, else a short reason naming the rule.

        Source: MetalLB ``allocator.go`` ``isPoolCompatibleWithService``.
        """
        if self.namespaces or self.namespace_selectors:
            if namespace not in self.namespaces and not selectors.matches_any(
                self.namespace_selectors, namespace_labels
            ):
                return (
                    f"namespace {namespace!r} is not in serviceAllocation.namespaces and its "
                    "labels match no serviceAllocation.namespaceSelectors"
                )
        if self.service_selectors and not selectors.matches_any(
            self.service_selectors, service_labels
        ):
            return "service labels match no serviceAllocation.serviceSelectors"
        return None


@dataclass(frozen=True)
class Pool:
    """One address pool.

    Attributes:
        name: pool name (``IPAddressPool`` metadata.name).
        ranges: address entries in ``spec.addresses`` order; IPv4 and IPv6 may be mixed.
        auto_assign: whether automatic allocation may pick this pool.
        avoid_buggy_ips: exclude IPv4 .0/.255 addresses, also for explicit requests.
        allocation: ``spec.serviceAllocation`` or ``None``.
    """

    name: str
    ranges: tuple[AddressRange, ...]
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    allocation: ServiceAllocation | None = None

    @property
    def families(self) -> frozenset[int]:
        """Address families present (subset of {4, 6})."""
        return frozenset(r.family for r in self.ranges)

    def capacity(self, family: int | None = None) -> int:
        """Exact number of allocatable addresses, optionally of one family (4 or 6)."""
        return sum(
            r.usable_size(avoid_buggy_ips=self.avoid_buggy_ips)
            for r in self.ranges
            if family is None or r.family == family
        )

    def contains(self, ip: IPAddress) -> bool:
        """Return whether ``ip`` is allocatable from this pool (buggy IPs excluded if set)."""
        if self.avoid_buggy_ips and is_buggy(ip):
            return False
        return any(r.contains(ip) for r in self.ranges)

    def admission(
        self,
        *,
        namespace: str,
        namespace_labels: Mapping[str, str],
        service_labels: Mapping[str, str],
    ) -> str | None:
        """Return ``None`` if ``serviceAllocation`` admits the Service, else the reason."""
        if self.allocation is None:
            return None
        return self.allocation.admission(
            namespace=namespace, namespace_labels=namespace_labels, service_labels=service_labels
        )
