"""IPAddressPool (``metallb.io/v1beta1``): the addresses the controller may hand to Services.

Source: MetalLB ``api/v1beta1/ipaddresspool_types.go``; semantics in ``docs/configuration.md``.
"""

from __future__ import annotations

from pydantic import Field

from ingot.api.common import LabelSelectorSpec, TypedObject, WireModel

INT64_MAX = 2**63 - 1


class ServiceAllocation(WireModel):
    """Restricts the pool to some namespaces/Services and orders it among pinned pools.

    The presence of this block removes the pool from the generic fallback set (MetalLB).
    A block with only ``priority`` matches every Service (MetalLB fix for issue 2656).
    """

    priority: int | None = None
    """Lower positive value = tried first among pinned pools; 0 or unset = tried last."""
    namespaces: list[str] = Field(default_factory=list)
    """Only Services in these namespaces may use the pool (no duplicates)."""
    namespace_selectors: list[LabelSelectorSpec] = Field(default_factory=list)
    """Namespaces whose labels match any selector are added to ``namespaces``."""
    service_selectors: list[LabelSelectorSpec] = Field(default_factory=list)
    """Only Services whose labels match any selector may use the pool."""


class IPAddressPoolSpec(WireModel):
    """Desired state of an IPAddressPool."""

    addresses: list[str] = Field(min_length=1)
    """Address entries: CIDRs (``198.51.100.0/24``, ``2001:db8::/120``) or ranges (``a-b``).

    IPv4 and IPv6 entries may be mixed in one pool. No entry may overlap another entry of any
    pool. A bare address without ``/32`` or ``/128`` is rejected (as MetalLB does).
    """
    auto_assign: bool = True
    """When false the pool is used only on explicit request (address-pool annotation or IP)."""
    avoid_buggy_ips: bool = Field(default=False, alias="avoidBuggyIPs")
    """Skip IPv4 addresses ending in ``.0`` and ``.255`` (also when requested explicitly)."""
    service_allocation: ServiceAllocation | None = None
    """Restrict or prioritise the pool for some namespaces and Services."""


class IPAddressPoolStatus(WireModel):
    """Observed usage of the pool, written by the controller (manual edits are reverted).

    Counts are capped at 2^63-1 (int64): an IPv6 /64 pool reports that value as available.
    The exact figures are in ``ingot status`` and the metrics.
    """

    assigned_ipv4: int = Field(default=0, ge=0, le=INT64_MAX, alias="assignedIPv4")
    """IPv4 addresses assigned to Services."""
    assigned_ipv6: int = Field(default=0, ge=0, le=INT64_MAX, alias="assignedIPv6")
    """IPv6 addresses assigned to Services."""
    available_ipv4: int = Field(default=0, ge=0, le=INT64_MAX, alias="availableIPv4")
    """IPv4 addresses still free."""
    available_ipv6: int = Field(default=0, ge=0, le=INT64_MAX, alias="availableIPv6")
    """IPv6 addresses still free."""


class IPAddressPool(TypedObject):
    """A set of addresses the controller assigns to LoadBalancer Services."""

    spec: IPAddressPoolSpec
    """Desired state."""
    status: IPAddressPoolStatus | None = None
    """Observed usage (written by the controller)."""
