"""Membership, fencing and self-fencing of L2 speakers as pure functions (ARCHITECTURE.md §3).

Inputs are plain values recorded by the component: each speaker's node Lease as this speaker
last saw it (with the *local* monotonic time it saw the renewal, so clock skew between nodes
does not matter, as client-go's leader election does), and the data-plane heartbeats heard from
each peer. Nothing here reads a clock, a socket or the API; every function takes ``now_s``.

Rules (defaults in :class:`Timings`; each is a speaker flag):

* **Member** (``MemberState.LIVE``): its Lease is held by itself and was renewed within
  ``lease_duration_s`` in our view. An *expired* Lease still counts while its heartbeats are
  fresh (the node only lost the API: I-4), and nothing expires while our own view of the API is
  stale (``api_ok=False``: we cannot tell, so we keep the last answer — no mass withdrawal).
* **Fenced**: holder empty (and ``leaseTransitions`` > 0). **Absent**: no Lease, another holder,
  or expired with silent heartbeats.
* **Suspect -> fence**: a member we have heard on the data plane and that has been silent for
  ``suspect_after_s`` is fenced by one compare-and-swap on its Lease (:func:`fence_targets`).
  Expired-and-silent members are fenced too, so the state is explicit.
* **Self-fencing** (:func:`may_announce`): a speaker announces only while its own Lease is held
  and unfenced in its view and no authenticated peer reports it fenced with a current epoch,
  and — when it cannot reach the API — only while it still hears a majority of the cluster.
* **Rejoin** (:func:`rejoin_due`): a fenced or long-gone speaker re-acquires its Lease only
  after ``hold_down_s`` of continuous health (I-5), so a flapping node does not pull IPs back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ingot.api.l2 import Member, MemberState


@dataclass(frozen=True)
class Timings:
    """Every L2 timing, in seconds (documented in ``docs/l2.md``; each a speaker flag).

    Attributes:
        heartbeat_interval_s: Data-plane heartbeat period (default 0.1 s).
        suspect_after_s: Silence after which a heard peer is fenced (default 0.35 s = 3.5
            heartbeats: one or two lost frames never fence anyone). Detection plus the fencing
            write plus a watch event stays well inside the 1 s failover budget (I-2).
        lease_duration_s: ``spec.leaseDurationSeconds`` of node Leases (default 10 s).
        renew_interval_s: Lease renewal period (default 2 s: O(nodes) writes, I-3).
        api_grace_s: Without a successful API call for this long the API counts as unreachable
            (default 6 s = 3 renewals; below ``lease_duration_s`` so a partitioned node stops
            before its Lease could expire in anyone's view).
        hold_down_s: Health required before a fenced/returning node rejoins (default 10 s, I-5).
        handover_delay_s: A node gaining an IP from a *live* previous owner (planned move:
            labels, endpoints, a rejoining node) waits this long so the old owner, which sees
            the same change, has stopped first (default 0.2 s). Takeovers from a fenced or
            absent owner happen at once.
        heartbeat_max_age_s: Heartbeats whose timestamp differs from ours by more than this are
            ignored (replay window; default 5 s).
        startup_grace_s: A starting speaker announces nothing until this long after its Lease
            is held and the Lease informer has synced, so Leases created concurrently by other
            starting speakers (and their heartbeats) are known first (default 1 s).
    """

    heartbeat_interval_s: float = 0.1
    suspect_after_s: float = 0.35
    lease_duration_s: float = 10.0
    renew_interval_s: float = 2.0
    api_grace_s: float = 6.0
    hold_down_s: float = 10.0
    handover_delay_s: float = 0.2
    heartbeat_max_age_s: float = 5.0
    startup_grace_s: float = 1.0

    def check(self) -> list[str]:
        """Inconsistencies between the timings (empty when sound)."""
        errs = []
        if self.suspect_after_s < 2 * self.heartbeat_interval_s:
            errs.append("suspect_after_s must be at least 2 heartbeat intervals")
        if self.renew_interval_s >= self.lease_duration_s:
            errs.append("renew_interval_s must be below lease_duration_s")
        if self.api_grace_s >= self.lease_duration_s:
            errs.append("api_grace_s must be below lease_duration_s")
        if min(vars(self).values()) < 0:
            errs.append("timings must not be negative")
        return errs


@dataclass(frozen=True)
class LeaseView:
    """A node Lease as this speaker last saw it.

    Attributes:
        holder: ``spec.holderIdentity`` ("" when fenced).
        transitions: ``spec.leaseTransitions`` (the fencing epoch).
        resource_version: ``metadata.resourceVersion`` (for the CAS).
        seen_renew_s: Local monotonic time at which we saw ``renewTime`` change last.
    """

    holder: str
    transitions: int
    resource_version: str
    seen_renew_s: float


@dataclass(frozen=True)
class PeerHeartbeat:
    """What the last heartbeat from a peer said, and when we heard it (local monotonic s).

    Attributes:
        heard_s: When the last valid heartbeat arrived.
        up_interfaces: Interfaces the peer can announce on.
        epoch: The peer's own Lease transitions when it sent the heartbeat.
        fenced: Fenced Leases the peer knows of: node -> transitions at fencing.
    """

    heard_s: float
    up_interfaces: frozenset[str] = frozenset()
    epoch: int = 0
    fenced: Mapping[str, int] = field(default_factory=dict)


def _fresh(hb: PeerHeartbeat | None, now_s: float, t: Timings) -> bool:
    return hb is not None and now_s - hb.heard_s < t.suspect_after_s


def member_state(
    node: str,
    *,
    lease: LeaseView | None,
    heartbeat: PeerHeartbeat | None,
    now_s: float,
    api_ok: bool,
    timings: Timings,
) -> MemberState:
    """Membership of ``node`` from its Lease and heartbeats (see the module docstring)."""
    if lease is None:
        return MemberState.ABSENT
    if lease.holder == "":
        return MemberState.FENCED if lease.transitions > 0 else MemberState.ABSENT
    if lease.holder != node:
        return MemberState.ABSENT
    if not api_ok or now_s - lease.seen_renew_s <= timings.lease_duration_s:
        return MemberState.LIVE
    return MemberState.LIVE if _fresh(heartbeat, now_s, timings) else MemberState.ABSENT


def membership(
    *,
    leases: Mapping[str, LeaseView],
    heartbeats: Mapping[str, PeerHeartbeat],
    me: str,
    my_interfaces: frozenset[str] | None,
    now_s: float,
    api_ok: bool,
    timings: Timings,
) -> dict[str, Member]:
    """The membership table for placement: every node with a Lease (or heard), by name.

    Our own interfaces come from our scan; a peer's from its last heartbeat (``None`` = unknown
    when never heard, which counts as every interface).
    """
    out: dict[str, Member] = {}
    for node in sorted(set(leases) | set(heartbeats)):
        state = member_state(
            node,
            lease=leases.get(node),
            heartbeat=heartbeats.get(node),
            now_s=now_s,
            api_ok=api_ok,
            timings=timings,
        )
        hb = heartbeats.get(node)
        ifaces = my_interfaces if node == me else (hb.up_interfaces if hb else None)
        out[node] = Member(state, ifaces)
    return out


def fence_targets(
    *,
    leases: Mapping[str, LeaseView],
    heartbeats: Mapping[str, PeerHeartbeat],
    me: str,
    now_s: float,
    api_ok: bool,
    timings: Timings,
    links_up: bool = True,
) -> list[str]:
    """Peers to fence now (sorted).

    Those are live-held Leases whose holder went silent on the data plane, or whose Lease
    expired in our view with no fresh heartbeat. Nobody is fenced:

    * while ``api_ok`` is False (the write could not happen; failover waits, I-4);
    * when we have no usable link (``links_up`` False): *we* are the cut-off one;
    * when three or more speakers are live and we hear none of them: most likely we are the
      isolated one, and the others will fence us (a silent two-node partition can still fence
      both sides; each then rejoins after the hold-down).
    """
    if not api_ok or not links_up:
        return []
    live = [n for n, lv in leases.items() if lv.holder == n and n != me]
    heard = [n for n in live if _fresh(heartbeats.get(n), now_s, timings)]
    if len(live) >= 2 and not heard:
        return []
    out = []
    for node, lease in sorted(leases.items()):
        if node == me or lease.holder != node:
            continue
        hb = heartbeats.get(node)
        heard_then_silent = hb is not None and now_s - hb.heard_s >= timings.suspect_after_s
        expired = now_s - lease.seen_renew_s > timings.lease_duration_s and not _fresh(
            hb, now_s, timings
        )
        if heard_then_silent or expired:
            out.append(node)
    return out


class SelfReason(enum.Enum):
    """Why this speaker may or may not announce."""

    OK = "ok"
    NO_LEASE = "own Lease not held (joining or in hold-down)"
    FENCED = "own Lease fenced"
    FENCED_BY_PEER = "a peer reports our Lease fenced"
    ISOLATED = "API unreachable and no majority of peers heard"


def may_announce(
    *,
    me: str,
    lease: LeaseView | None,
    heartbeats: Mapping[str, PeerHeartbeat],
    cluster_size: int,
    now_s: float,
    api_ok: bool,
    timings: Timings,
) -> SelfReason:
    """Whether this speaker may announce at all (self-fencing).

    Args:
        me: Our node name.
        lease: Our own Lease as we last saw it.
        heartbeats: Heartbeats heard from peers.
        cluster_size: Live members including us (for the majority rule).
        now_s: Local monotonic time.
        api_ok: We reached the API within ``api_grace_s``.
        timings: The timings.
    """
    if lease is None or lease.holder != me:
        return (
            SelfReason.FENCED if lease is not None and lease.holder == "" else SelfReason.NO_LEASE
        )
    for hb in heartbeats.values():
        claimed = hb.fenced.get(me)
        if claimed is not None and claimed >= lease.transitions and _fresh(hb, now_s, timings):
            return SelfReason.FENCED_BY_PEER
    if not api_ok:
        heard = sum(1 for hb in heartbeats.values() if _fresh(hb, now_s, timings))
        if cluster_size > 1 and (1 + heard) * 2 <= cluster_size:
            return SelfReason.ISOLATED
    return SelfReason.OK


def rejoin_due(*, healthy_since_s: float | None, now_s: float, timings: Timings) -> bool:
    """Whether a speaker without its Lease may (re-)acquire it now (after the hold-down)."""
    return healthy_since_s is not None and now_s - healthy_since_s >= timings.hold_down_s


def fenced_lease(raw: Mapping[str, Any], *, holder: str) -> dict[str, Any]:
    """The Lease body of the fencing CAS: holder emptied, transitions + 1, same resourceVersion.

    Args:
        raw: The Lease as last read (``metadata.resourceVersion`` is kept: the write fails with
            409 if anyone changed it since, e.g. the holder renewed or another speaker fenced).
        holder: The holder we expect; raises ``ValueError`` if the Lease names someone else.
    """
    spec = dict(raw.get("spec") or {})
    if spec.get("holderIdentity") != holder:
        raise ValueError(f"lease holder is {spec.get('holderIdentity')!r}, not {holder!r}")
    spec["holderIdentity"] = ""
    spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
    out = dict(raw)
    out["spec"] = spec
    return out
