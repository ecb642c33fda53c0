"""Render the ExaBGP 5.0 configuration of one BGP session (one BGPPeer on this node).

ingot runs one ExaBGP process per BGPPeer selecting this node (see ``docs/bgp.md`` for why),
so each rendered file holds exactly one ``neighbor`` block and one ``process`` block: the API
helper (``speaker/bgp/helper.py``) that relays the speaker's route commands.

Field mapping (MetalLB BGPPeer ``spec`` -> ExaBGP 5.0 neighbor keyword):

=========================  =====================================================
myASN / peerASN            ``local-as`` / ``peer-as`` (4-byte ASN, RFC 6793)
peerAddress / peerPort     ``peer-address`` (block name) / ``connect``
sourceAddress              ``local-address`` (``auto``: the kernel picks)
holdTime                   ``hold-time`` (RFC 4271 §4.2: 0 or >= 3 s; default 90 s as
                           MetalLB native, not ExaBGP's 180 s); ExaBGP sends
                           KEEPALIVE every hold/3, so keepaliveTime must be hold/3
routerID                   ``router-id`` (default: this node's IPv4 address)
ebgpMultiHop               ``outgoing-ttl 255`` (eBGP only)
password/passwordSecret    ``md5-password`` (TCP-MD5, RFC 2385)
dualStackAddressFamily     ``family { ipv4 unicast; ipv6 unicast; }`` (MP-BGP, RFC 4760);
                           otherwise only the session's own family
=========================  =====================================================
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Sequence

from ingot.api.bgp import BgpPeerSpec

_FORBIDDEN_PASSWORD_CHARS = frozenset('"\\\n\r;{}')
MAX_MD5_PASSWORD_LENGTH = 80  # TCP_MD5SIG_MAXKEYLEN (linux/tcp.h)
#: Hold time when the BGPPeer sets none: MetalLB native's 90 s (ExaBGP's own default is 180 s).
DEFAULT_HOLD_TIME_S = 90


class RenderError(ValueError):
    """The BGPPeer cannot be expressed as an ExaBGP configuration; the message names the field."""


def check_timers(peer: BgpPeerSpec) -> tuple[int, str | None]:
    """Validate hold/keepalive times for ExaBGP; return ``(hold_s, warning)``.

    RFC 4271 §4.2: the hold time is 0 or at least 3 s. ExaBGP derives the keepalive interval as
    hold/3 (RFC 4271 §10 suggestion), so an explicit ``keepaliveTime`` other than hold/3 cannot
    be honoured exactly; MetalLB's own rule (keepalive <= hold) is enforced and a different
    ratio yields a warning. If only keepaliveTime is set, hold = 3 x keepalive (MetalLB).

    Raises:
        RenderError: hold time between 0 and 3 s, above 65535 s, or keepalive > hold.
    """
    hold = peer.hold_time_s
    keep = peer.keepalive_time_s
    if hold is None and keep is not None:
        hold = 3 * keep
    if hold is None:
        hold = DEFAULT_HOLD_TIME_S
    if hold != int(hold):
        raise RenderError(f"BGPPeer {peer.name} spec.holdTime: must be whole seconds, got {hold}")
    if hold != 0 and hold < 3 or hold > 65535:
        raise RenderError(f"BGPPeer {peer.name} spec.holdTime: must be 0 or 3..65535 s, got {hold}")
    warning = None
    if keep is not None:
        if keep > hold:
            raise RenderError(
                f"BGPPeer {peer.name} spec.keepaliveTime: {keep} s exceeds holdTime {hold} s"
            )
        if abs(keep - hold / 3) > 0.5:
            warning = (
                f"BGPPeer {peer.name} spec.keepaliveTime: ExaBGP sends keepalives every "
                f"holdTime/3 = {hold / 3:g} s, not {keep:g} s"
            )
    return int(hold), warning


def render_exabgp_config(
    peer: BgpPeerSpec,
    *,
    helper_argv: Sequence[str],
    default_router_id: ipaddress.IPv4Address | None = None,
    process_name: str = "ingot",
) -> str:
    """Return the ExaBGP 5.0 configuration text for ``peer`` with its API ``process`` block.

    Args:
        peer: the BGPPeer (password already resolved from its Secret).
        helper_argv: the command ExaBGP runs as the API process (the helper relay).
        default_router_id: router ID when ``spec.routerID`` is unset (this node's IPv4).
        process_name: name of the ``process`` block.

    Raises:
        RenderError: a field ExaBGP cannot express (timers, password characters/length).
    """
    hold_s, _ = check_timers(peer)
    if peer.password is not None:
        if not peer.password or set(peer.password) & _FORBIDDEN_PASSWORD_CHARS:
            raise RenderError(
                f"BGPPeer {peer.name} spec.password: must be non-empty and must not contain "
                'quotes, backslashes, newlines, ";" or braces'
            )
        if len(peer.password.encode()) > MAX_MD5_PASSWORD_LENGTH:
            raise RenderError(
                f"BGPPeer {peer.name} spec.password: longer than {MAX_MD5_PASSWORD_LENGTH} bytes"
            )
    if peer.ebgp_multihop and peer.is_ibgp:
        raise RenderError(f"BGPPeer {peer.name} spec.ebgpMultiHop: not allowed when myASN==peerASN")
    if peer.source_address is not None and peer.source_address.version != peer.family:
        raise RenderError(
            f"BGPPeer {peer.name} spec.sourceAddress: {peer.source_address} is not of the "
            f"family of peerAddress {peer.peer_address}"
        )
    run = " ".join(_quote_arg(a) for a in helper_argv)
    router_id = peer.router_id or default_router_id
    if router_id is None and isinstance(peer.source_address, ipaddress.IPv4Address):
        router_id = peer.source_address
    if router_id is None:
        raise RenderError(
            f"BGPPeer {peer.name} spec.routerID: required (no IPv4 address known for this node)"
        )
    lines = [
        f"# generated by ingot for BGPPeer {peer.name}; do not edit",
        f"process {process_name} {{",
        f"    run {run};",
        "    encoder text;",
        "}",
        "",
        f"neighbor {peer.peer_address} {{",
        f'    description "{peer.name}";',
    ]
    lines.append(f"    router-id {router_id};")
    lines.append(f"    local-address {peer.source_address or 'auto'};")
    lines.append(f"    local-as {peer.my_asn};")
    lines.append(f"    peer-as {peer.peer_asn};")
    if peer.peer_port != 179:
        lines.append(f"    connect {peer.peer_port};")
    lines.append(f"    hold-time {hold_s};")
    if peer.ebgp_multihop:
        lines.append("    outgoing-ttl 255;")
    if peer.password is not None:
        lines.append(f'    md5-password "{peer.password}";')
    lines.append("    adj-rib-out true;")
    lines.append("    family {")
    families = {4, 6} if peer.dual_stack_address_family else {peer.family}
    for fam in sorted(families):
        lines.append(f"        ipv{fam} unicast;")
    lines.append("    }")
    lines.append("    api {")
    lines.append(f"        processes [ {process_name} ];")
    lines.append("        neighbor-changes;")
    lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def default_router_id(
    node_name: str, addresses: Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address]
) -> ipaddress.IPv4Address:
    """Router ID when ``spec.routerID`` is unset.

    The node's first IPv4 address, else the CRC32 of the node name (MetalLB native
    ``getRouterID``); RFC 6286 only needs it unique within the AS.
    """
    for addr in addresses:
        if isinstance(addr, ipaddress.IPv4Address):
            return addr
    return ipaddress.IPv4Address(zlib.crc32(node_name.encode()))


def _quote_arg(arg: str) -> str:
    if not arg or any(c.isspace() or c in ';{}"' for c in arg):
        raise RenderError(f"helper argument {arg!r} cannot appear in an ExaBGP run line")
    return arg
