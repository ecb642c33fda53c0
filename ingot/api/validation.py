"""Per-object validation rules: what MetalLB's webhooks reject about a single object.

Each ``check_*`` function takes a parsed wire model and a :class:`Reporter` bound to the object,
and reports problems with their field paths. Rules that need other objects (overlaps, references,
aggregation versus pools, localPref conflicts) are in :mod:`ingot.api.compile`.

Sources: MetalLB ``internal/config/config.go`` (``For`` and its helpers),
``internal/config/validation.go`` (native-mode rules, which are close to what ExaBGP can do) and
the CRD/CEL rules in ``config/crd/bases``. Where ingot differs it says so in the message and in
``docs/configuration.md``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ingot.api import (
    bfdprofile,
    bgpadvertisement,
    bgppeer,
    community,
    ipaddresspool,
    l2advertisement,
)
from ingot.api.common import LabelSelectorSpec
from ingot.api.communityvalue import looks_like_alias, parse_community_value
from ingot.api.durations import parse_duration_s
from ingot.api.fielderror import FieldError
from ipam import ranges, selectors

EXABGP_UNSUPPORTED = (
    "is not supported by ingot's BGP mode (ExaBGP); it is an FRR-only field in MetalLB. Remove it"
)
MAX_HOLD_TIME_S = 65535


@dataclass
class Reporter:
    """Collects errors and warnings about one object."""

    kind: str
    namespace: str
    name: str
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        """Report a problem that makes the configuration invalid."""
        self.errors.append(FieldError(self.kind, self.namespace, self.name, path, message))

    def warn(self, path: str, message: str) -> None:
        """Report something suspicious that does not invalidate the configuration."""
        self.warnings.append(FieldError(self.kind, self.namespace, self.name, path, message))


# ------------------------------------------------------------------------------ helpers


def check_no_duplicates(rep: Reporter, path: str, items: Sequence[str]) -> None:
    """Report every repeated entry of a list (MetalLB ``validateDuplicate``)."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item in seen:
            rep.error(f"{path}[{i}]", f"duplicate entry {item!r}")
        seen.add(item)


def selector_raw(spec: LabelSelectorSpec) -> dict[str, object]:
    """The wire dict of a selector without unknown fields (those only produce warnings)."""
    return {
        "matchLabels": dict(spec.match_labels),
        "matchExpressions": [
            {"key": e.key, "operator": e.operator, "values": list(e.values)}
            for e in spec.match_expressions
        ],
    }


def parse_selectors(
    rep: Reporter, path: str, raw: Sequence[LabelSelectorSpec]
) -> tuple[selectors.LabelSelector, ...]:
    """Parse label selectors, reporting invalid and duplicate ones (MetalLB ``validateDuplicate``).

    Returns:
        The valid selectors, in order (invalid ones are left out; an error is reported).
    """
    out: list[selectors.LabelSelector] = []
    for i, spec in enumerate(raw):
        try:
            sel = selectors.LabelSelector.from_raw(selector_raw(spec))
        except ValueError as exc:
            rep.error(f"{path}[{i}]", f"invalid label selector: {exc}")
            continue
        if sel in out:
            rep.error(f"{path}[{i}]", f"duplicate selector {str(sel) or '{}'!r}")
            continue
        out.append(sel)
    return tuple(out)


def parse_ip(rep: Reporter, path: str, text: str | None, *, what: str) -> ranges.IPAddress | None:
    """Parse an IP address field, reporting a clear error; ``None`` when unset or invalid."""
    if text is None or text == "":
        return None
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        rep.error(path, f"invalid {what} {text!r}: expected an IPv4 or IPv6 address")
        return None


# ------------------------------------------------------------------------------ kinds


@dataclass(frozen=True)
class PoolParts:
    """What :func:`check_ip_address_pool` extracts for the compiler."""

    ranges: tuple[ranges.AddressRange | None, ...]
    namespace_selectors: tuple[selectors.LabelSelector, ...]
    service_selectors: tuple[selectors.LabelSelector, ...]


def check_ip_address_pool(rep: Reporter, obj: ipaddresspool.IPAddressPool) -> PoolParts:
    """Check an IPAddressPool on its own.

    Entries must parse (CIDR or start-end) and not overlap inside the pool; no duplicate
    namespaces; selectors valid and distinct.

    Returns:
        Parsed entries (``None`` at the index of an invalid one) and selectors.
    """
    parsed: list[ranges.AddressRange | None] = []
    for i, text in enumerate(obj.spec.addresses):
        try:
            parsed.append(ranges.parse_address_entry(text))
        except ValueError as exc:
            rep.error(f"spec.addresses[{i}]", str(exc))
            parsed.append(None)
    for i, a in enumerate(parsed):
        for j in range(i):
            b = parsed[j]
            if a is not None and b is not None and a.overlaps(b):
                rep.error(
                    f"spec.addresses[{i}]",
                    f"{obj.spec.addresses[i]!r} overlaps spec.addresses[{j}] "
                    f"{obj.spec.addresses[j]!r} of the same pool",
                )
    ns_sels: tuple[selectors.LabelSelector, ...] = ()
    svc_sels: tuple[selectors.LabelSelector, ...] = ()
    alloc = obj.spec.service_allocation
    if alloc is not None:
        check_no_duplicates(rep, "spec.serviceAllocation.namespaces", alloc.namespaces)
        ns_sels = parse_selectors(
            rep, "spec.serviceAllocation.namespaceSelectors", alloc.namespace_selectors
        )
        svc_sels = parse_selectors(
            rep, "spec.serviceAllocation.serviceSelectors", alloc.service_selectors
        )
    return PoolParts(tuple(parsed), ns_sels, svc_sels)


@dataclass(frozen=True)
class L2Parts:
    """What :func:`check_l2_advertisement` extracts for the compiler."""

    pool_selectors: tuple[selectors.LabelSelector, ...]
    node_selectors: tuple[selectors.LabelSelector, ...]
    service_selectors: tuple[selectors.LabelSelector, ...]
    preferences: tuple[tuple[int, selectors.LabelSelector], ...]


def check_l2_advertisement(rep: Reporter, obj: l2advertisement.L2Advertisement) -> L2Parts:
    """L2Advertisement rules: no duplicate pools, valid and distinct selectors."""
    spec = obj.spec
    check_no_duplicates(rep, "spec.ipAddressPools", spec.ip_address_pools)
    seen_ifaces: set[str] = set()
    for i, iface in enumerate(spec.interfaces):
        if iface in seen_ifaces:
            rep.warn(f"spec.interfaces[{i}]", f"interface {iface!r} listed twice")
        seen_ifaces.add(iface)
    prefs: list[tuple[int, selectors.LabelSelector]] = []
    for i, pref in enumerate(spec.preferred_node_selectors):
        try:
            sel = selectors.LabelSelector.from_raw(selector_raw(pref.preference))
        except ValueError as exc:
            rep.error(f"spec.preferredNodeSelectors[{i}].preference", f"invalid selector: {exc}")
            continue
        prefs.append((pref.weight, sel))
    return L2Parts(
        parse_selectors(rep, "spec.ipAddressPoolSelectors", spec.ip_address_pool_selectors),
        parse_selectors(rep, "spec.nodeSelectors", spec.node_selectors),
        parse_selectors(rep, "spec.serviceSelectors", spec.service_selectors),
        tuple(prefs),
    )


@dataclass(frozen=True)
class BGPAdvParts:
    """What :func:`check_bgp_advertisement` extracts for the compiler."""

    pool_selectors: tuple[selectors.LabelSelector, ...]
    node_selectors: tuple[selectors.LabelSelector, ...]
    service_selectors: tuple[selectors.LabelSelector, ...]


def check_bgp_advertisement(rep: Reporter, obj: bgpadvertisement.BGPAdvertisement) -> BGPAdvParts:
    """Check a BGPAdvertisement on its own.

    Duplicates, selectors, community syntax, and no serviceSelectors together with non-default
    aggregation lengths (MetalLB CEL rule).
    """
    spec = obj.spec
    check_no_duplicates(rep, "spec.ipAddressPools", spec.ip_address_pools)
    check_no_duplicates(rep, "spec.communities", spec.communities)
    check_no_duplicates(rep, "spec.peers", spec.peers)
    for i, text in enumerate(spec.communities):
        if looks_like_alias(text):
            continue  # resolved against Community objects by the compiler
        try:
            parse_community_value(text)
        except ValueError as exc:
            rep.error(f"spec.communities[{i}]", str(exc))
    svc = parse_selectors(rep, "spec.serviceSelectors", spec.service_selectors)
    if spec.service_selectors and (
        spec.aggregation_length != 32 or spec.aggregation_length_v6 != 128
    ):
        rep.error(
            "spec.serviceSelectors",
            "serviceSelectors cannot be combined with aggregationLength other than 32 or "
            "aggregationLengthV6 other than 128 (an aggregate would cover other Services)",
        )
    return BGPAdvParts(
        parse_selectors(rep, "spec.ipAddressPoolSelectors", spec.ip_address_pool_selectors),
        parse_selectors(rep, "spec.nodeSelectors", spec.node_selectors),
        svc,
    )


@dataclass(frozen=True)
class PeerParts:
    """What :func:`check_bgp_peer` extracts for the compiler (``None`` where invalid)."""

    peer_address: ranges.IPAddress | None
    source_address: ranges.IPAddress | None
    router_id: ipaddress.IPv4Address | None
    hold_time_s: float | None
    keepalive_time_s: float | None
    node_selectors: tuple[selectors.LabelSelector, ...]


def _whole_seconds(rep: Reporter, path: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = parse_duration_s(text)
    except ValueError as exc:
        rep.error(path, str(exc))
        return None
    if value < 0:
        rep.error(path, f"{text!r} is negative")
        return None
    if value != int(value):
        rep.error(path, f"{text!r} is not a whole number of seconds (BGP timers are in seconds)")
        return None
    if value > MAX_HOLD_TIME_S:
        rep.error(path, f"{text!r} exceeds {MAX_HOLD_TIME_S} s (RFC 4271 section 4.2)")
        return None
    return value


def check_bgp_peer(rep: Reporter, obj: bgppeer.BGPPeer) -> PeerParts:
    """BGPPeer rules (MetalLB ``peerFromCR`` and the native-mode rules of ``validation.go``).

    Rejects: myASN 0; missing peerASN; both password forms; eBGP multi-hop on iBGP; missing or
    unparsable peerAddress; bad sourceAddress/routerID; hold time below 3 s (not 0), keepalive above
    hold; and every FRR-only field ExaBGP cannot honour (vrf, interface, dynamicASN, localASN,
    connectTime, enableGracefulRestart) with a message saying so. ``disableMP`` gives a warning.
    """
    s = obj.spec
    if s.my_asn == 0:
        rep.error("spec.myASN", "myASN must not be 0")
    if s.dynamic_asn is not None:
        rep.error("spec.dynamicASN", f"dynamicASN {EXABGP_UNSUPPORTED} and set peerASN")
        if s.peer_asn is not None:
            rep.error("spec.peerASN", "peerASN and dynamicASN are mutually exclusive")
    elif not s.peer_asn:
        rep.error("spec.peerASN", "peerASN is required and must not be 0")
    if s.local_asn is not None:
        rep.error("spec.localASN", f"localASN {EXABGP_UNSUPPORTED}")
    if s.vrf:
        rep.error("spec.vrf", f"vrf {EXABGP_UNSUPPORTED}")
    if s.connect_time is not None:
        rep.error("spec.connectTime", f"connectTime {EXABGP_UNSUPPORTED}")
    if s.enable_graceful_restart:
        rep.error("spec.enableGracefulRestart", f"enableGracefulRestart {EXABGP_UNSUPPORTED}")
    if s.ebgp_multi_hop and s.peer_asn is not None and s.peer_asn == s.my_asn:
        rep.error(
            "spec.ebgpMultiHop", "ebgpMultiHop cannot be set for an iBGP peer (myASN == peerASN)"
        )
    peer_ip = None
    if s.interface:
        rep.error("spec.interface", f"interface (BGP unnumbered) {EXABGP_UNSUPPORTED}")
        if s.peer_address:
            rep.error("spec.peerAddress", "peerAddress and interface are mutually exclusive")
    elif not s.peer_address:
        rep.error("spec.peerAddress", "peerAddress is required")
    else:
        peer_ip = parse_ip(rep, "spec.peerAddress", s.peer_address, what="peer address")
    source_ip = parse_ip(rep, "spec.sourceAddress", s.source_address, what="source address")
    if source_ip is not None and peer_ip is not None and source_ip.version != peer_ip.version:
        rep.error(
            "spec.sourceAddress",
            f"sourceAddress {source_ip} and peerAddress {peer_ip} are of different families",
        )
    router_id: ipaddress.IPv4Address | None = None
    if s.router_id:
        try:
            router_id = ipaddress.IPv4Address(s.router_id.strip())
        except ValueError:
            rep.error(
                "spec.routerID", f"invalid routerID {s.router_id!r}: expected an IPv4 address"
            )
    hold = _whole_seconds(rep, "spec.holdTime", s.hold_time)
    keepalive = _whole_seconds(rep, "spec.keepaliveTime", s.keepalive_time)
    if hold is not None and 0 < hold < 3:
        rep.error("spec.holdTime", f"hold time {s.hold_time!r} must be 0 or at least 3s (RFC 4271)")
    if hold is None and keepalive is not None and s.hold_time is None:
        hold = 3 * keepalive  # MetalLB parseTimers: hold = 3 x keepalive when only keepalive
    if hold is not None and keepalive is not None and keepalive > hold:
        rep.error(
            "spec.keepaliveTime",
            f"keepaliveTime {s.keepalive_time!r} is greater than holdTime {s.hold_time!r}",
        )
    if s.password is not None and has_line_break(s.password.get_secret_value()):
        rep.error("spec.password", "the password contains a line break (CR or LF)")
    if s.password is not None and s.password_secret is not None:
        rep.error("spec.password", "password and passwordSecret are mutually exclusive; set one")
    if s.disable_mp:
        rep.warn("spec.disableMP", "disableMP is deprecated and has no effect")
    return PeerParts(
        peer_ip,
        source_ip,
        router_id,
        hold,
        keepalive,
        parse_selectors(rep, "spec.nodeSelectors", s.node_selectors),
    )


def has_line_break(text: str) -> bool:
    """MetalLB refuses passwords with CR or LF: they would break the rendered router config."""
    return "\n" in text or "\r" in text


def check_bfd_profile(rep: Reporter, obj: bfdprofile.BFDProfile) -> None:
    """BFDProfile rules beyond the CRD ranges: echo mode is not implemented by ingot."""
    if obj.spec.echo_mode:
        rep.error(
            "spec.echoMode",
            "echo mode is not implemented by ingot's BFD (RFC 5880 section 6.4); "
            "set echoMode to false or remove it",
        )


def check_community(rep: Reporter, obj: community.Community) -> None:
    """Community rules: valid values, alias names without ``:``, no duplicate alias."""
    seen: set[str] = set()
    for i, alias in enumerate(obj.spec.communities):
        if not alias.name or not looks_like_alias(alias.name):
            rep.error(
                f"spec.communities[{i}].name",
                f"alias name {alias.name!r} must be non-empty and contain no ':'",
            )
        if alias.name in seen:
            rep.error(f"spec.communities[{i}].name", f"duplicate alias {alias.name!r}")
        seen.add(alias.name)
        try:
            parse_community_value(alias.value)
        except ValueError as exc:
            rep.error(f"spec.communities[{i}].value", str(exc))


def first_errors(reporters: Iterable[Reporter]) -> list[FieldError]:
    """All errors of the reporters, in order."""
    return [e for r in reporters for e in r.errors]
