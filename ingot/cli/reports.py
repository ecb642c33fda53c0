"""Report data for ``ingot status``, ``ingot explain service`` and ``ingot plan`` (pure).

Each ``*_report`` function takes an :class:`ingot.cli.analysis.Analysis` (or two) and returns
JSON-ready data with a ``problems`` list; the commands exit 1 when it is not empty. Each
``render_*`` function turns that data into the human-readable text (tables and sentences).
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from ingot.api import l2 as place
from ingot.api import services as svc_api
from ingot.cli import analysis as an
from ipam import decisions
from ipam.request import ServiceRequest

EXHAUSTION_WARN_PCT = 90.0
"""A pool family at or above this usage is flagged (``ingot status``)."""


# ------------------------------------------------------------------------------ helpers


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A left-aligned text table, two spaces between columns."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def _config_section(a: an.Analysis) -> dict[str, Any]:
    states = []
    for raw in sorted(a.snapshot.configuration_states, key=an.object_key):
        st = raw.get("status") or {}
        states.append(
            {
                "name": str((raw.get("metadata") or {}).get("name", "")),
                "result": str(st.get("result") or "Unknown"),
                "errors": str(st.get("errorSummary") or ""),
            }
        )
    config = a.config
    return {
        "valid": config is not None,
        "empty": config is not None
        and not config.pools
        and not config.l2_advertisements
        and not config.bgp_advertisements
        and not config.bgp_peers,
        "errors": [str(e) for e in a.compiled.errors],
        "warnings": [str(w) for w in a.compiled.warnings],
        "states": states,
    }


def _config_problems(cfg: Mapping[str, Any]) -> list[str]:
    out = []
    if cfg.get("empty"):
        out.append(
            "no configuration found: no IPAddressPool, advertisement or BGPPeer in this "
            "namespace (is -n/--namespace ingot's namespace?)"
        )
    if not cfg["valid"]:
        out.append(
            f"configuration is INVALID ({len(cfg['errors'])} errors): the components keep the "
            "last valid configuration"
        )
    for s in cfg["states"]:
        if s["result"] == "Invalid":
            out.append(f"ConfigurationState {s['name']} reports Invalid: {s['errors']}")
    return out


def _condition(raw: Mapping[str, Any], ctype: str) -> dict[str, str] | None:
    for c in an.conditions(raw):
        if c["type"] == ctype:
            return c
    return None


def _request_dict(req: ServiceRequest) -> dict[str, Any]:
    return {
        "families": [f"IPv{f}" for f in req.families],
        "ip_family_policy": req.family_policy,
        "requested_ips": [str(ip) for ip in req.requested_ips],
        "address_pool": req.pool,
        "sharing_key": req.sharing_key,
        "external_traffic_policy": req.traffic_policy,
        "ports": [f"{p.protocol}/{p.port}" for p in sorted(req.ports)],
        "labels": dict(req.labels),
    }


def _decision_dict(dec: decisions.Decision) -> dict[str, Any]:
    if isinstance(dec, decisions.Assigned):
        return {
            "result": "Assigned",
            "ips": [str(ip) for ip in dec.ips],
            "pool": dec.pool,
            "kept": dec.kept,
        }
    return {"result": "Pending", "reason": dec.reason.code, "message": dec.reason.message}


def _l2_entry(a: an.Analysis, key: str, ip: str) -> dict[str, Any]:
    p = a.placements.get(ip)
    reporters = sorted(
        str((s.get("status") or {}).get("node", ""))
        for s in a.snapshot.l2_statuses
        if f"{(s.get('status') or {}).get('serviceNamespace', '')}/"
        f"{(s.get('status') or {}).get('serviceName', '')}" == key
    )
    stale = [
        n
        for n in reporters
        if a.speakers.get(n) is None or a.speakers[n].state != place.MemberState.LIVE.value
    ]
    if p is None:
        return {
            "ip": ip,
            "owner": None,
            "reason": "not placed",
            "candidates": [],
            "reported": reporters,
            "reported_stale": stale,
        }
    rows = []
    for rank, node in enumerate(p.candidates, start=1):
        v = p.verdicts[node]
        rows.append({"node": node, "rank": rank, "eligible": True, "reason": "eligible", **_v(v)})
    for node in sorted(n for n, v in p.verdicts.items() if not v.eligible):
        v = p.verdicts[node]
        why = v.reason.value + (f" (Service {v.service})" if v.service and v.service != key else "")
        rows.append({"node": node, "rank": None, "eligible": False, "reason": why, **_v(v)})
    return {
        "ip": ip,
        "owner": p.owner,
        "reason": None if p.reason is None else p.reason.value,
        "services": list(p.services),
        "candidates": rows,
        "reported": reporters,
        "reported_stale": stale,
    }


def _v(v: place.Verdict) -> dict[str, Any]:
    return {
        "score": v.score,
        "interfaces": None if v.interfaces is None else sorted(v.interfaces),
    }


def _announcement(a: an.Analysis, key: str) -> dict[str, Any]:
    """How a Service's IPs are announced (L2 owner / BGP routes) and plainly why not."""
    raw = a.lb_services[key]
    cfg = a.config
    ips = [str(ip) for ip in svc_api.status_ips(raw)]
    out: dict[str, Any] = {"modes": [], "announced": False, "summary": "", "l2": [], "bgp": {}}
    if cfg is None or not ips:
        out["summary"] = "nothing to announce: the Service has no IP"
        return out
    pool = an.service_pool(a, key)
    labels = {str(k): str(v) for k, v in ((raw.get("metadata") or {}).get("labels") or {}).items()}
    modes = an.announcing_modes(cfg, pool, labels)
    out["modes"] = modes
    out["pool"] = pool
    if pool is None or pool not in cfg.pools:
        out["summary"] = (
            f"NOTHING ANSWERS for {', '.join(ips)}: the IP is in no configured IPAddressPool"
        )
        return out
    if not modes:
        has_any = cfg.l2_advertisements_for_pool(pool) or cfg.bgp_advertisements_for_pool(pool)
        if has_any:
            out["summary"] = (
                f"NOTHING ANSWERS for {', '.join(ips)}: the advertisements of pool {pool} have "
                "serviceSelectors that do not match this Service's labels"
            )
        else:
            out["summary"] = (
                f"NOTHING ANSWERS for {', '.join(ips)}: pool {pool} is not selected by any "
                "L2Advertisement or BGPAdvertisement. Allocation does not need one, announcing "
                f"does: create an L2Advertisement (or BGPAdvertisement) with ipAddressPools: "
                f"[{pool}] in namespace {a.snapshot.namespace}"
            )
        return out
    said: list[str] = []
    if "L2" in modes:
        for ip in ips:
            canon = place.canonical_ip(ip)
            entry = _l2_entry(a, key, canon)
            out["l2"].append(entry)
            if entry["owner"] is not None:
                out["announced"] = True
                said.append(f"{canon} answered by node {entry['owner']} (L2)")
            else:
                why = entry["reason"]
                blocked = [f"{c['node']}: {c['reason']}" for c in entry["candidates"]]
                if blocked and why == place.IPReason.NO_ELIGIBLE_NODE.value:
                    why += " (" + "; ".join(blocked) + ")"
                said.append(f"{canon} NOT announced in L2: {why}")
    if "BGP" in modes:
        routes = an.bgp_routes_for(a, key)
        out["bgp"] = routes
        hops = sorted(n for n, r in routes.items() if r["routes"])
        if hops:
            out["announced"] = True
            said.append(f"advertised over BGP by {', '.join(hops)}")
        else:
            why = sorted({r["reason"] for r in routes.values() if r["reason"]})
            said.append("NOT advertised over BGP by any node: " + ("; ".join(why) or "no nodes"))
    out["summary"] = "; ".join(said)
    return out


# ------------------------------------------------------------------------------ explain

KNOWN_ANNOTATIONS = (
    "loadBalancerIPs",
    "address-pool",
    "allow-shared-ip",
    "ip-allocated-from-pool",
)


def unknown_annotations(raw: Mapping[str, Any]) -> list[str]:
    """``metallb.io/*`` / ``metallb.universe.tf/*`` annotations ingot ignores, with a hint.

    A misspelt key is silently ignored by MetalLB and by ingot (case C07: ``allow-shared``
    instead of ``allow-shared-ip``); naming it is the cheapest possible fix.
    """
    out = []
    annotations = (raw.get("metadata") or {}).get("annotations") or {}
    for key in sorted(annotations):
        for prefix in (svc_api.STABLE_PREFIX, svc_api.LEGACY_PREFIX):
            if key.startswith(prefix):
                name = key[len(prefix) :]
                if name not in KNOWN_ANNOTATIONS:
                    close = difflib.get_close_matches(name, KNOWN_ANNOTATIONS, n=1, cutoff=0.6)
                    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
                    out.append(f"{key} is not an annotation ingot reads: ignored{hint}")
    return out


def explain_report(a: an.Analysis, key: str) -> dict[str, Any]:
    """The full decision for Service ``key`` (``namespace/name``), JSON-ready.

    Keys: ``service``, ``found``, ``configuration``, ``request``, ``status`` (what the Service
    holds now), ``allocation`` (the controller's decision, per-pool verdicts, why that IP),
    ``announcement`` (L2 candidates in rank order / BGP routes per node and peer),
    ``conditions``, ``problems``.
    """
    cfg_section = _config_section(a)
    report: dict[str, Any] = {
        "service": key,
        "found": False,
        "configuration": cfg_section,
        "problems": [],
    }
    raw = next((s for s in a.snapshot.services if an.object_key(s) == key), None)
    if raw is None:
        report["problems"].append(f"Service {key} not found")
        return report
    report["found"] = True
    spec = raw.get("spec") or {}
    report["conditions"] = an.conditions(raw)
    if key not in a.lb_services:
        report["problems"].append(
            f"ingot does not serve this Service: type {spec.get('type', 'ClusterIP')}"
            + (
                f", loadBalancerClass {spec.get('loadBalancerClass')}"
                if spec.get("loadBalancerClass")
                else ""
            )
        )
        return report
    report["problems"] += _config_problems(cfg_section)
    ips = [str(ip) for ip in svc_api.status_ips(raw)]
    report["status"] = {
        "ips": ips,
        "pool": ((raw.get("metadata") or {}).get("annotations") or {}).get(
            svc_api.ALLOCATED_FROM_POOL
        ),
    }
    report["ignored_annotations"] = unknown_annotations(raw)
    req = a.requests[key]
    if not isinstance(req, ServiceRequest):
        report["request"] = None
        report["allocation"] = {"result": "Invalid", "errors": [str(e) for e in req]}
        report["problems"] += [f"invalid Service: {e}" for e in req]
        return report
    report["request"] = _request_dict(req)
    cfg = a.config
    if cfg is None:
        report["allocation"] = {"result": "Unknown", "note": "configuration invalid"}
        return report
    dec = a.decisions[key]
    alloc: dict[str, Any] = {
        "decision": _decision_dict(dec),
        "restore_refused": a.restore_conflicts.get(key),
        "pools": [vars(v) for v in an.pool_verdicts(a.allocator, cfg, req, dec)],
        "why": [],
    }
    if isinstance(dec, decisions.Assigned):
        alloc["why"] = an.why_ip(a, key, req, dec)
        if sorted(str(ip) for ip in dec.ips) != sorted(ips):
            report["problems"].append(
                f"the controller would change the IPs from {ips or 'none'} to "
                f"{[str(ip) for ip in dec.ips]} on its next reconcile"
            )
    else:
        report["problems"].append(f"Pending: {dec.reason.message}")
        report["problems"] += report["ignored_annotations"]
    if not cfg.pools:
        report["problems"].append("no IPAddressPool is configured")
    report["allocation"] = alloc
    ann = _announcement(a, key)
    report["announcement"] = ann
    if ips and not ann["announced"]:
        report["problems"].append(ann["summary"])
    for entry in ann["l2"]:
        want = [entry["owner"]] if entry["owner"] else []
        live = [n for n in entry["reported"] if n not in entry["reported_stale"]]
        if live and live != want:
            report["problems"].append(
                f"{entry['ip']}: speakers report announcing from {', '.join(live)}"
                f" but placement says {entry['owner'] or 'nobody'} (in flux, or a stale status)"
            )
    return report


def render_explain(r: Mapping[str, Any]) -> str:
    """Human text of :func:`explain_report`."""
    lines = [f"Service {r['service']}"]
    if not r["found"] or "status" not in r:
        lines += [f"  {p}" for p in r["problems"]]
        return "\n".join(lines)
    cfg = r["configuration"]
    if not cfg["valid"]:
        lines.append("Configuration: INVALID (the components keep the last valid one)")
        lines += [f"  {e}" for e in cfg["errors"]]
    st = r["status"]
    lines.append(
        f"Status: {', '.join(st['ips']) or 'Pending (no IP)'}"
        + (f" from pool {st['pool']}" if st["pool"] else "")
    )
    for c in r.get("conditions", []):
        lines.append(f"  condition {c['type']}={c['status']} {c['reason']}: {c['message']}")
    for note in r.get("ignored_annotations", []):
        lines.append(f"  note: {note}")
    req = r.get("request")
    if req is None:
        lines.append("Request: INVALID")
        lines += [f"  {e}" for e in r["allocation"]["errors"]]
        return "\n".join(lines)
    lines.append(
        "Request: families {fam} ({pol}), traffic policy {etp}, ports {ports}".format(
            fam="/".join(req["families"]),
            pol=req["ip_family_policy"],
            etp=req["external_traffic_policy"],
            ports=", ".join(req["ports"]) or "none",
        )
    )
    if req["requested_ips"]:
        lines.append(f"  requested IPs: {', '.join(req['requested_ips'])}")
    if req["address_pool"]:
        lines.append(f"  address-pool: {req['address_pool']}")
    if req["sharing_key"]:
        lines.append(f"  allow-shared-ip: {req['sharing_key']}")
    alloc = r["allocation"]
    if "decision" not in alloc:
        lines.append("Allocation: unknown (configuration invalid)")
        return "\n".join(lines)
    d = alloc["decision"]
    lines.append("")
    if d["result"] == "Assigned":
        lines.append(f"Allocation: {', '.join(d['ips'])} from pool {d['pool']}")
        lines += [f"  why: {w}" for w in alloc["why"]]
    else:
        lines.append(f"Allocation: PENDING ({d['reason']}): {d['message']}")
    if alloc["restore_refused"]:
        lines.append(f"  its current IPs were refused: {alloc['restore_refused']}")
    lines.append("Pools considered (allocation order):")
    rows = [[p["pool"], p["verdict"], p["cause"], p["detail"]] for p in alloc["pools"]]
    if rows:
        lines += [
            "  " + ln for ln in table(["POOL", "VERDICT", "CAUSE", "DETAIL"], rows).split("\n")
        ]
    else:
        lines.append("  (no IPAddressPool configured)")
    ann = r.get("announcement") or {}
    lines.append("")
    lines.append(f"Announcement: {ann.get('summary', '')}")
    for entry in ann.get("l2", []):
        lines.append(
            f"L2 {entry['ip']}: owner {entry['owner'] or 'NONE'}"
            + (f" ({entry['reason']})" if entry["reason"] else "")
        )
        if entry["reported"]:
            stale = set(entry["reported_stale"])
            who = ", ".join(
                n + (" (stale: its speaker is not live)" if n in stale else "")
                for n in entry["reported"]
            )
            lines.append(f"  speakers report announcing from: {who}")
        cands = entry["candidates"]
        # preferredNodeSelectors scores and interface restrictions only when they matter
        scored = any(c["score"] for c in cands)
        ifaces = any(c["interfaces"] is not None for c in cands)
        headers = ["RANK", "NODE", "ELIGIBLE"] + ["SCORE"] * scored + ["INTERFACES"] * ifaces
        rows = []
        for c in cands:
            row = [c["rank"] or "-", c["node"], "yes" if c["eligible"] else "no"]
            row += [c["score"]] * scored
            row += [",".join(c["interfaces"] or []) or "-"] * ifaces
            rows.append([*row, c["reason"]])
        if rows:
            lines += ["  " + ln for ln in table([*headers, "REASON"], rows).split("\n")]
    if ann.get("bgp"):
        lines.append("BGP routes per node:")
        for node, info in ann["bgp"].items():
            if info["routes"]:
                lines += [f"  {an.route_text(node, rt)}" for rt in info["routes"]]
            else:
                lines.append(f"  {node}: none ({info['reason'] or 'no route'})")
    if r["problems"]:
        lines.append("")
        lines.append("Problems:")
        lines += [f"  - {p}" for p in r["problems"]]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ status


def _pct(used: int, cap: int) -> float:
    return round(100.0 * used / cap, 1) if cap else 0.0


def status_report(a: an.Analysis) -> dict[str, Any]:
    """Pools, Services, speakers and configuration state, JSON-ready (``ingot status``)."""
    cfg_section = _config_section(a)
    problems = _config_problems(cfg_section)
    pools = []
    cfg = a.config
    if cfg is not None:
        usage = a.allocator.usages()
        unannounced = cfg.unannounced_pools()
        for name in sorted(cfg.pools):
            u = usage[name]
            fams = []
            for fam, cap, used in (
                (4, u.capacity_v4, u.in_use_v4),
                (6, u.capacity_v6, u.in_use_v6),
            ):
                if cap == 0:
                    continue
                pct = _pct(used, cap)
                warn = ""
                if used >= cap:
                    warn = "EXHAUSTED"
                elif pct >= EXHAUSTION_WARN_PCT:
                    warn = f">= {EXHAUSTION_WARN_PCT:g}% used"
                fams.append(
                    {
                        "family": f"IPv{fam}",
                        "size": cap,
                        "used": used,
                        "free": cap - used,
                        "percent_used": pct,
                        "warning": warn,
                    }
                )
            pools.append(
                {
                    "name": name,
                    "families": fams,
                    "services": u.services,
                    "announced_by": (
                        (["L2"] if cfg.l2_advertisements_for_pool(name) else [])
                        + (["BGP"] if cfg.bgp_advertisements_for_pool(name) else [])
                    ),
                }
            )
            if name in unannounced and u.services:
                problems.append(
                    f"pool {name} is not selected by any L2Advertisement or BGPAdvertisement: "
                    f"its {u.services} Service(s) have IPs nobody announces"
                )
    services = []
    for key, raw in a.lb_services.items():
        ips = [str(ip) for ip in svc_api.status_ips(raw)]
        req = a.requests[key]
        row: dict[str, Any] = {
            "service": key,
            "ips": ips,
            "pool": an.service_pool(a, key) if ips else None,
            "mode": [],
            "l2_owner": [],
            "bgp_nodes": [],
            "state": "",
            "conditions": an.conditions(raw),
        }
        if not isinstance(req, ServiceRequest):
            row["state"] = "Invalid: " + "; ".join(str(e) for e in req)
            problems.append(f"Service {key} is invalid")
        elif not ips:
            dec = a.decisions.get(key)
            if isinstance(dec, decisions.Pending):
                row["state"] = f"Pending: {dec.reason.message}"
            else:
                cond = _condition(raw, an.ALLOCATED_CONDITION)
                row["state"] = "Pending" + (f": {cond['message']}" if cond else "")
            problems.append(f"Service {key} is Pending")
        else:
            ann = _announcement(a, key)
            row["mode"] = ann["modes"]
            row["l2_owner"] = [e["owner"] for e in ann["l2"] if e["owner"]]
            row["bgp_nodes"] = sorted(n for n, r in ann["bgp"].items() if r["routes"])
            row["state"] = "Announced" if ann["announced"] else f"Unannounced: {ann['summary']}"
            if not ann["announced"]:
                problems.append(f"Service {key}: {ann['summary']}")
        services.append(row)
    speakers = []
    owned: dict[str, list[str]] = {}
    for ip, p in a.placements.items():
        if p.owner is not None:
            owned.setdefault(p.owner, []).append(ip)
    nodes = sorted(set(a.nodes()) | set(a.speakers))
    for node in nodes:
        sp = a.speakers.get(node)
        peers, plan = a.bgp.get(node, ((), None))
        speakers.append(
            {
                "node": node,
                "lease": sp.state if sp else "none",
                "fenced": bool(sp and sp.state == "fenced"),
                "renew_age_s": sp.renew_age_s if sp else None,
                "transitions": sp.transitions if sp else 0,
                "l2_ips": sorted(owned.get(node, [])),
                "bgp_sessions": [
                    {
                        "peer": p.name,
                        "address": str(p.peer_address),
                        "bfd_profile": p.bfd_profile,
                        "state": "unknown (not in the API: see metallb_bgp_session_up)",
                        "routes": len(plan.routes_for(p.name)) if plan is not None else 0,
                    }
                    for p in peers
                ],
            }
        )
    return {
        "namespace": a.snapshot.namespace,
        "configuration": cfg_section,
        "pools": pools,
        "services": services,
        "speakers": speakers,
        "notes": list(a.snapshot.notes),
        "problems": problems,
    }


def render_status(r: Mapping[str, Any]) -> str:
    """Human text of :func:`status_report`."""
    out: list[str] = []
    cfg = r["configuration"]
    verdict = "INVALID" if not cfg["valid"] else "EMPTY" if cfg.get("empty") else "valid"
    out.append(f"CONFIGURATION (namespace {r['namespace']}): {verdict}")
    if cfg.get("empty"):
        out.append(
            f"  no IPAddressPool, advertisement or BGPPeer in namespace {r['namespace']}: "
            "is -n/--namespace ingot's namespace?"
        )
    out += [f"  error: {e}" for e in cfg["errors"]]
    out += [f"  warning: {w}" for w in cfg["warnings"]]
    if cfg["states"]:
        out += [
            "  " + ln
            for ln in table(
                ["STATE", "RESULT", "ERRORS"],
                [[s["name"], s["result"], s["errors"].replace("\n", "; ")] for s in cfg["states"]],
            ).split("\n")
        ]
    out.append("")
    out.append("POOLS")
    rows = []
    for p in r["pools"]:
        for f in p["families"] or [
            {"family": "-", "size": 0, "used": 0, "free": 0, "percent_used": 0.0, "warning": ""}
        ]:
            rows.append([
                p["name"], f["family"], f["size"], f["used"], f["free"],
                f"{f['percent_used']}%", ",".join(p["announced_by"]) or "NONE", f["warning"],
            ])  # fmt: skip
    out.append(
        table(["POOL", "FAMILY", "SIZE", "USED", "FREE", "USED%", "ADVERTISED", "WARN"], rows)
    )
    out.append("")
    out.append("SERVICES")
    rows = []
    for s in r["services"]:
        nodes = s["l2_owner"] or s["bgp_nodes"]
        where = ",".join(dict.fromkeys(nodes))  # a dual-stack Service's IPs often share one
        conds = ",".join(
            f"{c['type'].removeprefix('ingot.io/')}={c['status']}"
            + (f"({c['reason']})" if c["status"] != "True" and c["reason"] else "")
            for c in s["conditions"]
        )
        rows.append([
            s["service"], ",".join(s["ips"]) or "-", s["pool"] or "-",
            ",".join(s["mode"]) or "-", where or "-", conds or "-", s["state"],
        ])  # fmt: skip
    out.append(
        table(["SERVICE", "IP", "POOL", "MODE", "OWNER/NEXT-HOPS", "CONDITIONS", "STATE"], rows)
    )
    out.append("")
    out.append("SPEAKERS")
    rows = []
    for s in r["speakers"]:
        sessions = "; ".join(
            f"{b['peer']}({b['address']}{', bfd ' + b['bfd_profile'] if b['bfd_profile'] else ''})"
            f" {b['routes']} routes"
            for b in s["bgp_sessions"]
        )
        age = "-" if s["renew_age_s"] is None else f"{s['renew_age_s']:g}s"
        rows.append([
            s["node"], s["lease"], "yes" if s["fenced"] else "no", age,
            ",".join(s["l2_ips"]) or "-", sessions or "-",
        ])  # fmt: skip
    out.append(
        table(["NODE", "LEASE", "FENCED", "RENEWED", "L2 IPS", "BGP SESSIONS (PLANNED)"], rows)
    )
    for n in r["notes"]:
        out.append(f"note: {n}")
    if r["problems"]:
        out.append("")
        out.append("PROBLEMS")
        out += [f"  - {p}" for p in r["problems"]]
    return "\n".join(out)


# ------------------------------------------------------------------------------ plan


def _ip_order(text: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(text)
    return ip.version, int(ip)


def _owners(a: an.Analysis) -> dict[str, str | None]:
    return {ip: p.owner for ip, p in a.placements.items()}


def _routes(a: an.Analysis) -> set[str]:
    out = set()
    for node, (_peers, plan) in a.bgp.items():
        for r in plan.routes:
            out.add(an.route_text(node, an.route_dict(r)))
    return out


def plan_report(before: an.Analysis, after: an.Analysis) -> dict[str, Any]:
    """What changes between ``before`` and ``after`` (``after`` from ``simulate_config_change``).

    Keys: ``configuration`` (of the proposal), ``services`` (each Service whose IPs or pool
    change: before/after and the reason when it loses its IP), ``l2_moves`` (IPs whose owner
    changes), ``routes_added`` / ``routes_removed`` (``node -> peer: prefix ...``), ``problems``
    (invalid proposal, lost or changed IPs, IPs left unannounced).
    """
    cfg_section = _config_section(after)
    problems: list[str] = []
    if not cfg_section["valid"]:
        problems.append(
            "the proposed configuration is INVALID: the components would reject it and keep the "
            "current one"
        )
        # the components would keep the current configuration: nothing else changes
        return {
            "configuration": cfg_section,
            "services": [],
            "l2_moves": [],
            "routes_added": [],
            "routes_removed": [],
            "problems": problems,
        }
    changes = []
    keys = sorted(set(before.lb_services) | set(after.lb_services))
    for key in keys:
        b = before.lb_services.get(key)
        f = after.lb_services.get(key)
        b_ips = [str(ip) for ip in svc_api.status_ips(b)] if b else []
        f_ips = [str(ip) for ip in svc_api.status_ips(f)] if f else []
        b_pool = an.service_pool(before, key) if b_ips else None
        f_pool = an.service_pool(after, key) if f_ips else None
        if b_ips == f_ips and b_pool == f_pool:
            continue
        if b_ips and not f_ips:
            change = "loses its IP"
            dec = after.decisions.get(key)
            reason = dec.reason.message if isinstance(dec, decisions.Pending) else ""
            problems.append(
                f"{key} would lose {', '.join(b_ips)}" + (f": {reason}" if reason else "")
            )
        elif not b_ips and f_ips:
            change, reason = "gets an IP", ""
        elif b_ips != f_ips:
            change, reason = "changes IP", ""
            problems.append(f"{key} would move from {', '.join(b_ips)} to {', '.join(f_ips)}")
        else:
            change, reason = "pool re-attributed", ""
        changes.append(
            {
                "service": key,
                "change": change,
                "before": {"ips": b_ips, "pool": b_pool},
                "after": {"ips": f_ips, "pool": f_pool},
                "reason": reason,
            }
        )
    bo, ao = _owners(before), _owners(after)
    moves = []
    for ip in sorted(set(bo) | set(ao), key=_ip_order):
        if bo.get(ip) != ao.get(ip):
            p = after.placements.get(ip)
            why = p.reason.value if p is not None and p.reason is not None else ""
            if p is None:
                why = "IP released"
            moves.append({"ip": ip, "before": bo.get(ip), "after": ao.get(ip), "reason": why})
            if bo.get(ip) and not ao.get(ip) and p is not None:
                problems.append(f"{ip} would no longer be answered in L2: {why or 'IP released'}")
    rb, ra = _routes(before), _routes(after)
    return {
        "configuration": cfg_section,
        "services": changes,
        "l2_moves": moves,
        "routes_added": sorted(ra - rb),
        "routes_removed": sorted(rb - ra),
        "problems": problems,
    }


def render_plan(r: Mapping[str, Any]) -> str:
    """Human text of :func:`plan_report`."""
    out: list[str] = []
    cfg = r["configuration"]
    out.append(f"Proposed configuration: {'valid' if cfg['valid'] else 'INVALID'}")
    out += [f"  error: {e}" for e in cfg["errors"]]
    out.append("")
    if r["services"]:
        out.append("Services:")
        rows = [
            [
                c["service"],
                c["change"],
                ",".join(c["before"]["ips"]) or "-",
                c["before"]["pool"] or "-",
                ",".join(c["after"]["ips"]) or "-",
                c["after"]["pool"] or "-",
                c["reason"],
            ]
            for c in r["services"]
        ]
        out += [
            "  " + ln
            for ln in table(
                ["SERVICE", "CHANGE", "IP NOW", "POOL NOW", "IP AFTER", "POOL AFTER", "REASON"],
                rows,
            ).split("\n")
        ]
    else:
        out.append("Services: no change")
    if r["l2_moves"]:
        out.append("L2 owners:")
        out += [
            f"  {m['ip']}: {m['before'] or 'nobody'} -> {m['after'] or 'nobody'}"
            + (f" ({m['reason']})" if m["reason"] else "")
            for m in r["l2_moves"]
        ]
    else:
        out.append("L2 owners: no change")
    if r["routes_added"] or r["routes_removed"]:
        out.append("BGP routes:")
        out += [f"  + {x}" for x in r["routes_added"]]
        out += [f"  - {x}" for x in r["routes_removed"]]
    else:
        out.append("BGP routes: no change")
    if r["problems"]:
        out.append("")
        out.append("Problems:")
        out += [f"  - {p}" for p in r["problems"]]
    return "\n".join(out)


def explain_ip_report(a: an.Analysis, ip: str) -> dict[str, Any]:
    """Who holds ``ip`` and, for each holder, :func:`explain_report` (``explain ip``).

    When no Service holds it, says which pool contains it (or none): nothing can answer for an
    IP no Service holds.
    """
    addr = ipaddress.ip_address(ip)
    holders = [k for k, raw in a.lb_services.items() if addr in svc_api.status_ips(raw)]
    cfg = a.config
    pool = cfg.pool_of(addr) if cfg is not None else None
    out: dict[str, Any] = {
        "ip": str(addr),
        "pool": pool.name if pool is not None else None,
        "services": [explain_report(a, k) for k in holders],
        "problems": [],
    }
    if not holders:
        where = (
            f"it is a free address of pool {pool.name}"
            if pool is not None
            else "it is in no IPAddressPool"
        )
        out["problems"].append(f"no LoadBalancer Service holds {addr}: {where}; nothing answers")
    for r in out["services"]:
        out["problems"] += [f"{r['service']}: {p}" for p in r["problems"]]
    return out


def render_explain_ip(r: Mapping[str, Any]) -> str:
    """Human text of :func:`explain_ip_report`."""
    head = f"IP {r['ip']}" + (f" (pool {r['pool']})" if r["pool"] else " (no pool)")
    if not r["services"]:
        return "\n".join([head, *(f"  {p}" for p in r["problems"])])
    held = ", ".join(x["service"] for x in r["services"])
    parts = [f"{head}: held by {held}"]
    parts += [render_explain(x) for x in r["services"]]
    return "\n\n".join(parts)
