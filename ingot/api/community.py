"""Community (``metallb.io/v1beta1``): names for BGP community values.

Source: MetalLB ``api/v1beta1/community_types.go``, ``internal/bgp/community/community.go``.
"""

from __future__ import annotations

from pydantic import Field

from ingot.api.common import TypedObject, WireModel


class CommunityAlias(WireModel):
    """One alias: a name usable in ``BGPAdvertisement.spec.communities``."""

    name: str
    """Alias name; unique across all Community objects."""
    value: str
    """``A:B`` (two 16-bit numbers) or ``large:G:L1:L2`` (three 32-bit numbers)."""


class CommunitySpec(WireModel):
    """Desired state of a Community object."""

    communities: list[CommunityAlias] = Field(default_factory=list)
    """The aliases this object defines."""


class Community(TypedObject):
    """A set of named BGP community values."""

    spec: CommunitySpec = Field(default_factory=CommunitySpec)
    """Desired state."""
