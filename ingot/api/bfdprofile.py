"""BFDProfile (``metallb.io/v1beta1``): BFD timers for the BGP sessions that reference it.

MetalLB supports BFD only with FRR; ingot runs its own BFD beside ExaBGP (RFC 5880/5881).
Source: MetalLB ``api/v1beta1/bfdprofile_types.go``.
"""

from __future__ import annotations

from pydantic import Field

from ingot.api.common import TypedObject, WireModel


class BFDProfileSpec(WireModel):
    """Desired state of a BFDProfile. Unset fields take FRR's defaults (see the Config)."""

    receive_interval: int | None = Field(default=None, ge=10, le=60000)
    """Minimum interval (ms) at which this system can receive control packets; default 300."""
    transmit_interval: int | None = Field(default=None, ge=10, le=60000)
    """Minimum interval (ms) at which this system wants to send control packets; default 300."""
    detect_multiplier: int | None = Field(default=None, ge=2, le=255)
    """Packets that may be lost before the session is declared down; default 3."""
    echo_interval: int | None = Field(default=None, ge=10, le=60000)
    """Echo packet interval (ms); default 50. Only meaningful with echo mode."""
    echo_mode: bool | None = None
    """Echo mode. Not implemented by ingot: ``true`` is rejected."""
    passive_mode: bool | None = None
    """Wait for the peer's control packets instead of sending first."""
    minimum_ttl: int | None = Field(default=None, ge=1, le=254)
    """Minimum incoming TTL for multi-hop sessions; default 254."""


class BFDProfile(TypedObject):
    """Bidirectional Forwarding Detection settings shared by BGPPeers."""

    spec: BFDProfileSpec = Field(default_factory=BFDProfileSpec)
    """Desired state."""
