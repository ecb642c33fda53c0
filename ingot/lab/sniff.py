"""Who answered for an IP on the lab's segment: ARP/NDP answers from a capture, double answers.

Reads a ``tcpdump -w`` capture of the lab bridge (``arp or icmp6``) with scapy. Used by the L2
failover benchmark and the netlab failover test, so both judge "no double answers" alike.
"""

from __future__ import annotations

from pathlib import Path

Frame = tuple[float, str, str]
"""(capture time in seconds, source MAC, kind such as ``arp-op2-to-<mac>``)."""


def answer_frames(pcap: Path, *, ipv4: str, ipv6: str) -> dict[str, list[Frame]]:
    """Every answer for ``ipv4`` (ARP reply or gratuitous request) and ``ipv6`` (NA), in order.

    An ARP request *from* ``ipv4`` to another target is not an answer (it would be the kernel's
    own, ``arp_announce``), so it is skipped.
    """
    from scapy.layers.inet6 import ICMPv6ND_NA
    from scapy.layers.l2 import ARP, Ether
    from scapy.utils import rdpcap

    frames: dict[str, list[Frame]] = {ipv4: [], ipv6: []}
    for pkt in rdpcap(str(pcap)):
        if ARP in pkt and pkt[ARP].psrc == ipv4 and pkt[ARP].op in (1, 2):
            if pkt[ARP].op == 1 and pkt[ARP].pdst != ipv4:
                continue
            kind = f"arp-op{pkt[ARP].op}-to-{pkt[Ether].dst}"
            frames[ipv4].append((float(pkt.time), pkt[Ether].src, kind))
        elif ICMPv6ND_NA in pkt and pkt[ICMPv6ND_NA].tgt == ipv6:
            kind = f"na-S{pkt[ICMPv6ND_NA].S}-to-{pkt[Ether].dst}"
            frames[ipv6].append((float(pkt.time), pkt[Ether].src, kind))
    for fr in frames.values():
        fr.sort()
    return frames


def double_answer_overlap_s(frames: list[tuple[float, str]], *, window_s: float = 1.0) -> float:
    """Longest time two MACs answered for one IP at once (seconds).

    At each change of answering MAC (A -> B at ``t0``), a later frame from A (at ``ta``) counts
    as a double answer only if B answers again after it (within ``window_s``): A and B were then
    both active from ``t0`` to ``ta``. A clean handover back (A .. B .. A, B silent) is not one.
    """
    fr = sorted(frames)
    worst = 0.0
    for k in range(1, len(fr)):
        a, b = fr[k - 1][1], fr[k][1]
        if a == b:
            continue
        t0 = fr[k][0]
        for j in range(k + 1, len(fr)):
            tj, mj = fr[j]
            if tj - t0 > window_s:
                break
            if mj == a and any(m == b and 0 <= t - tj <= window_s for t, m in fr[j + 1 :]):
                worst = max(worst, tj - t0)
    return worst
