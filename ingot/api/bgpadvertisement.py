"""BGPAdvertisement (``metallb.io/v1beta1``): how the IPs of pools are advertised over BGP.

Source: MetalLB ``api/v1beta1/bgpadvertisement_types.go``, ``internal/config/config.go``.
"""

from __future__ import annotations

from pydantic import Field

from ingot.api.common import LabelSelectorSpec, TypedObject, WireModel

UINT32_MAX = 2**32 - 1


class BGPAdvertisementSpec(WireModel):
    """Desired state of a BGPAdvertisement. An empty spec advertises every pool to every peer."""

    aggregation_length: int = Field(default=32, ge=1, le=32)
    """Prefix length of the IPv4 route (``IP/len``, IP masked); 32 = one route per address.

    Must not be shorter than the widest CIDR any address entry of a selected pool splits into.
    """
    aggregation_length_v6: int = Field(default=128, ge=0, le=128, alias="aggregationLengthV6")
    """Prefix length of the IPv6 route; 128 = one route per address."""
    local_pref: int = Field(default=0, ge=0, le=UINT32_MAX)
    """BGP LOCAL_PREF attribute; sent only to iBGP peers (RFC 4271 section 5.1.5)."""
    communities: list[str] = Field(default_factory=list)
    """Communities: ``A:B`` (two 16-bit numbers), ``large:G:L1:L2`` or a Community alias name."""
    ip_address_pools: list[str] = Field(default_factory=list)
    """Pools advertised by this advertisement, by name (no duplicates)."""
    ip_address_pool_selectors: list[LabelSelectorSpec] = Field(default_factory=list)
    """Pools whose labels match any selector. Neither list nor selectors = all pools."""
    node_selectors: list[LabelSelectorSpec] = Field(default_factory=list)
    """Only matching nodes advertise (are next hops); empty = all nodes."""
    peers: list[str] = Field(default_factory=list)
    """BGPPeer names to advertise to; empty = all peers."""
    service_selectors: list[LabelSelectorSpec] = Field(default_factory=list)
    """Only Services whose labels match any selector; needs default aggregation lengths."""


class BGPAdvertisement(TypedObject):
    """Advertises the IPs of the selected pools to BGP peers."""

    spec: BGPAdvertisementSpec = Field(default_factory=BGPAdvertisementSpec)
    """Desired state."""
