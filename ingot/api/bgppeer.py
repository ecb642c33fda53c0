"""BGPPeer (``metallb.io/v1beta2`` storage, ``v1beta1`` served): the routers speakers peer with.

``v1beta1`` is deprecated; objects written in it are converted to ``v1beta2`` before use
(:func:`convert_v1beta1_to_v1beta2`), exactly as MetalLB's conversion webhook does
(``api/v1beta1/bgppeer_conversion.go``). The reverse conversion drops fields v1beta1 lacks.

ingot drives ExaBGP, which has no equivalent of MetalLB's FRR-only fields (``vrf``,
``interface``, ``dynamicASN``, ``localASN``, ``connectTime``, ``enableGracefulRestart``); the
models accept them so that existing manifests load, and the compiler rejects them with a message
(:mod:`ingot.api.validation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, SecretStr

from ingot.api.common import GROUP, LabelSelectorSpec, TypedObject, WireModel

UINT32_MAX = 2**32 - 1
V1BETA1 = f"{GROUP}/v1beta1"
V1BETA2 = f"{GROUP}/v1beta2"


class SecretReference(WireModel):
    """A reference to a Secret by name and namespace."""

    name: str = ""
    """Secret name."""
    namespace: str = ""
    """Secret namespace; empty means the ingot namespace."""


class BGPPeerSpec(WireModel):
    """Desired state of a BGPPeer (``v1beta2``)."""

    my_asn: int = Field(ge=0, le=UINT32_MAX, alias="myASN")
    """AS number of the local end of the session; must not be 0."""
    peer_asn: int | None = Field(default=None, ge=0, le=UINT32_MAX, alias="peerASN")
    """AS number expected from the remote end (required by ingot; dynamicASN is FRR-only)."""
    dynamic_asn: Literal["internal", "external"] | None = Field(default=None, alias="dynamicASN")
    """FRR-only in MetalLB; not supported by ingot's BGP mode (ExaBGP)."""
    local_asn: int | None = Field(default=None, ge=1, le=UINT32_MAX, alias="localASN")
    """FRR-only local-as override; not supported by ingot's BGP mode (ExaBGP)."""
    peer_address: str | None = None
    """IPv4 or IPv6 address to dial."""
    interface: str | None = None
    """FRR-only BGP unnumbered; not supported by ingot's BGP mode (ExaBGP)."""
    source_address: str | None = None
    """Local address of the session; used only if present on a local interface."""
    peer_port: int = Field(default=179, ge=1, le=16384)
    """TCP port to dial."""
    hold_time: str | None = None
    """BGP hold time as a duration (``90s``): 0 or at least 3 s (RFC 4271 section 4.2)."""
    keepalive_time: str | None = None
    """BGP keepalive time as a duration; must not exceed the hold time. Default: hold/3."""
    connect_time: str | None = None
    """FRR-only connect retry time; not supported by ingot's BGP mode (ExaBGP)."""
    router_id: str | None = Field(default=None, alias="routerID")
    """BGP router ID (an IPv4 address) to send in OPEN."""
    node_selectors: list[LabelSelectorSpec] = Field(default_factory=list)
    """Sessions run only on nodes matching any selector; empty = every node."""
    password: SecretStr | None = None
    """TCP-MD5 password (RFC 2385), in plain text; exclusive with ``passwordSecret``."""
    password_secret: SecretReference | None = None
    """Secret of type ``kubernetes.io/basic-auth`` with the TCP-MD5 password in key ``password``."""
    bfd_profile: str | None = None
    """Name of a BFDProfile; ingot runs BFD for the session with those timers."""
    enable_graceful_restart: bool | None = None
    """FRR-only graceful restart; not supported by ingot's BGP mode (ExaBGP)."""
    ebgp_multi_hop: bool | None = None
    """The eBGP peer is more than one hop away; rejected for iBGP (myASN == peerASN)."""
    vrf: str | None = None
    """FRR-only VRF; not supported by ingot's BGP mode (ExaBGP)."""
    disable_mp: bool = Field(default=False, alias="disableMP")
    """Deprecated in MetalLB, no effect (a warning is reported)."""
    dual_stack_address_family: bool = False
    """Also exchange the other address family over this session (MP-BGP, RFC 4760)."""


class BGPPeer(TypedObject):
    """A BGP router the speakers open sessions to."""

    api_version: str = V1BETA2
    """API version (``metallb.io/v1beta2``; ``v1beta1`` is converted first)."""
    spec: BGPPeerSpec
    """Desired state."""


class BGPPeerSpecV1beta1(WireModel):
    """Desired state of a BGPPeer in the deprecated ``v1beta1`` version."""

    my_asn: int = Field(ge=0, le=UINT32_MAX, alias="myASN")
    """AS number of the local end of the session."""
    peer_asn: int = Field(ge=0, le=UINT32_MAX, alias="peerASN")
    """AS number expected from the remote end."""
    peer_address: str
    """Address to dial."""
    source_address: str | None = None
    """Source address of the session."""
    peer_port: int | None = Field(default=None, ge=0, le=16384)
    """TCP port to dial (0 or unset = 179)."""
    hold_time: str | None = None
    """BGP hold time as a duration."""
    keepalive_time: str | None = None
    """BGP keepalive time as a duration."""
    router_id: str | None = Field(default=None, alias="routerID")
    """BGP router ID."""
    node_selectors: list[LabelSelectorSpec] = Field(default_factory=list)
    """Only connect to this peer on nodes that match one of these selectors."""
    password: SecretStr | None = None
    """TCP-MD5 password."""
    bfd_profile: str | None = None
    """Name of a BFDProfile."""
    ebgp_multi_hop: bool | None = None
    """The eBGP peer is multi-hop away."""


class BGPPeerV1beta1(TypedObject):
    """A BGP router, deprecated ``v1beta1`` shape."""

    api_version: str = V1BETA1
    """API version (``metallb.io/v1beta1``)."""
    spec: BGPPeerSpecV1beta1
    """Desired state."""


_V1BETA1_FIELDS = (
    "myASN",
    "peerASN",
    "peerAddress",
    "sourceAddress",
    "peerPort",
    "holdTime",
    "keepaliveTime",
    "routerID",
    "nodeSelectors",
    "password",
    "bfdProfile",
    "ebgpMultiHop",
)


def convert_v1beta1_to_v1beta2(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a raw ``v1beta1`` BGPPeer dict to ``v1beta2`` (a new dict; input untouched).

    Every v1beta1 field exists in v1beta2 with the same meaning; ``peerPort`` 0 or absent becomes
    179 (the v1beta2 default). Objects already in v1beta2 are returned as a copy. Unknown fields are
    carried over (the API server prunes them anyway).

    Args:
        raw: the object as read from the API (``apiVersion``, ``kind``, ``metadata``, ``spec``).

    Returns:
        The same object with ``apiVersion: metallb.io/v1beta2``.
    """
    out = dict(raw)
    spec = raw.get("spec")
    if isinstance(spec, Mapping):
        spec = dict(spec)
        if raw.get("apiVersion", V1BETA1) == V1BETA1 and not spec.get("peerPort"):
            spec["peerPort"] = 179
        out["spec"] = spec
    out["apiVersion"] = V1BETA2
    return out


def convert_v1beta2_to_v1beta1(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a raw ``v1beta2`` BGPPeer dict to ``v1beta1`` (lossy, as MetalLB's webhook).

    Fields v1beta1 does not have (``dynamicASN``, ``passwordSecret``, ``vrf``...) are dropped.

    Args:
        raw: a ``v1beta2`` object.

    Returns:
        A new dict with ``apiVersion: metallb.io/v1beta1`` and only v1beta1 spec fields.
    """
    out = dict(raw)
    spec = raw.get("spec")
    if isinstance(spec, Mapping):
        out["spec"] = {k: v for k, v in spec.items() if k in _V1BETA1_FIELDS}
    out["apiVersion"] = V1BETA1
    return out
