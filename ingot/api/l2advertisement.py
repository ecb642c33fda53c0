"""L2Advertisement (``metallb.io/v1beta1``): which pools are announced by ARP/NDP, from where.

Source: MetalLB ``api/v1beta1/l2advertisement_types.go``, ``internal/config/config.go``.
"""

from __future__ import annotations

from pydantic import Field

from ingot.api.common import LabelSelectorSpec, TypedObject, WireModel


class PreferredNodeSelector(WireModel):
    """A weighted soft preference for the node that announces (MetalLB main branch)."""

    weight: int = Field(ge=1, le=100)
    """Score added to nodes matching ``preference`` (1..100)."""
    preference: LabelSelectorSpec
    """Nodes matching this selector get ``weight`` added to their score."""


class L2AdvertisementSpec(WireModel):
    """Desired state of an L2Advertisement. An empty spec announces every pool from every node."""

    ip_address_pools: list[str] = Field(default_factory=list)
    """Pools announced by this advertisement, by name (no duplicates)."""
    ip_address_pool_selectors: list[LabelSelectorSpec] = Field(default_factory=list)
    """Pools whose labels match any selector. Neither list nor selectors = all pools."""
    node_selectors: list[LabelSelectorSpec] = Field(default_factory=list)
    """Only nodes matching any selector may announce; empty = all nodes."""
    interfaces: list[str] = Field(default_factory=list)
    """Announce only on these interfaces; empty = every eligible interface."""
    service_selectors: list[LabelSelectorSpec] = Field(default_factory=list)
    """The advertisement applies only to Services whose labels match any selector."""
    preferred_node_selectors: list[PreferredNodeSelector] = Field(default_factory=list)
    """Soft preferences: the eligible node with the highest summed weight announces."""


class L2Advertisement(TypedObject):
    """Announces the IPs of the selected pools in layer 2 mode (ARP for IPv4, NDP for IPv6)."""

    spec: L2AdvertisementSpec = Field(default_factory=L2AdvertisementSpec)
    """Desired state."""
