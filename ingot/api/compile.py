"""The config compiler: metallb.io objects + Namespaces + Nodes + Secrets -> Config or errors. PURE.

``compile_config(resources)`` is the single place where configuration is judged. The controller
and the speaker call it on every change, the admission webhook calls it with the incoming object
substituted (:meth:`ClusterResources.with_object`), and ``ingot validate`` calls it on files. It
never raises on bad input: it returns a :class:`CompileResult` with either a :class:`Config` or
every error it found, each a :class:`FieldError` naming the object and the field path. An invalid
configuration is rejected as a whole (MetalLB ``config.For``), so a half-applied config can never
move a Service.

Rules (MetalLB's webhooks, reference section 4, plus what MetalLB only finds at runtime):

* per object (:mod:`ingot.api.validation`): schema types and ranges, address syntax, duplicates,
  selectors, community syntax, BGPPeer rules and fields ExaBGP cannot honour, BFD echo mode;
* across objects (here): address overlap between and within pools; duplicate community aliases;
  unknown pool names in advertisements; aggregation length more general than a selected pool's
  address blocks (in either order of creation, case C36); conflicting localPref; and the
  references MetalLB only resolves at runtime: a missing BFDProfile, a missing, wrongly typed or
  keyless password Secret, an unknown community alias.

Objects outside the configuration namespace are ignored with a warning (MetalLB only watches its
own namespace).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from ingot.api import (
    bfdprofile,
    bgpadvertisement,
    bgppeer,
    community,
    config,
    ipaddresspool,
    l2advertisement,
    validation,
)
from ingot.api.common import unknown_fields
from ingot.api.communityvalue import CommunityValue, looks_like_alias, parse_community_value
from ingot.api.config import Config
from ingot.api.fielderror import FieldError, from_validation_error
from ingot.errors import ConfigError
from ipam import pool as ipam_pool
from ipam import ranges, selectors

RawObject = Mapping[str, Any]
M = TypeVar("M", bound=BaseModel)

BASIC_AUTH = "kubernetes.io/basic-auth"
DEFAULT_NAMESPACE = "metallb-system"

#: ``kind`` -> ClusterResources attribute holding objects of that kind.
KIND_FIELDS: Mapping[str, str] = {
    "IPAddressPool": "ip_address_pools",
    "L2Advertisement": "l2_advertisements",
    "BGPAdvertisement": "bgp_advertisements",
    "BGPPeer": "bgp_peers",
    "BFDProfile": "bfd_profiles",
    "Community": "communities",
    "Namespace": "namespaces",
    "Node": "nodes",
    "Secret": "secrets",
}


def _meta(raw: Any) -> tuple[str, str]:
    """``(namespace, name)`` of a raw object; empty strings when the shape is wrong."""
    md = raw.get("metadata") if isinstance(raw, Mapping) else None
    if not isinstance(md, Mapping):
        return "", ""
    return str(md.get("namespace") or ""), str(md.get("name") or "")


def _labels(raw: Any) -> dict[str, str]:
    """``metadata.labels`` as str -> str; anything malformed is dropped."""
    md = raw.get("metadata") if isinstance(raw, Mapping) else None
    labels = md.get("labels") if isinstance(md, Mapping) else None
    if not isinstance(labels, Mapping):
        return {}
    return {str(k): v for k, v in labels.items() if isinstance(v, str)}


@dataclass(frozen=True)
class ClusterResources:
    """A snapshot of every input of the compiler, as raw Kubernetes dicts (JSON-serialisable).

    Attributes hold the objects of one kind each; order does not matter (the compiler sorts).
    BGPPeers may be ``v1beta1`` or ``v1beta2``. Secrets are only read for BGPPeer passwords;
    :meth:`to_json` redacts their data by default so a dump can go into a bug report.
    """

    ip_address_pools: tuple[RawObject, ...] = ()
    l2_advertisements: tuple[RawObject, ...] = ()
    bgp_advertisements: tuple[RawObject, ...] = ()
    bgp_peers: tuple[RawObject, ...] = ()
    bfd_profiles: tuple[RawObject, ...] = ()
    communities: tuple[RawObject, ...] = ()
    namespaces: tuple[RawObject, ...] = ()
    nodes: tuple[RawObject, ...] = ()
    secrets: tuple[RawObject, ...] = ()

    @classmethod
    def from_objects(cls, objects: Iterable[RawObject]) -> ClusterResources:
        """Sort a mixed list of objects (e.g. a YAML stream) by kind; other kinds are ignored.

        ``kind: List`` and ``<Kind>List`` objects (``kubectl get -o yaml``) are unpacked.
        """
        buckets: dict[str, list[RawObject]] = {f: [] for f in KIND_FIELDS.values()}
        pending = list(objects)[::-1]  # a stack: pop() from the end keeps document order
        while pending:
            obj = pending.pop()
            if not isinstance(obj, Mapping) or not obj:
                continue
            kind = str(obj.get("kind", ""))
            items = obj.get("items")
            if kind.endswith("List") and isinstance(items, list):
                item_kind = kind[: -len("List")]
                pending.extend(
                    {**i, "kind": i.get("kind") or item_kind} if isinstance(i, Mapping) else i
                    for i in reversed(items)
                )
                continue
            attr = KIND_FIELDS.get(kind)
            if attr is not None:
                buckets[attr].append(obj)
        return cls(**{k: tuple(v) for k, v in buckets.items()})

    def objects(self) -> tuple[RawObject, ...]:
        """Every object, in attribute order."""
        return tuple(o for f in fields(self) for o in getattr(self, f.name))

    def with_object(self, raw: RawObject) -> ClusterResources:
        """A copy where ``raw`` replaces the object of the same kind/namespace/name (or is added).

        This is how the admission webhook judges an incoming object against the others.
        """
        attr = KIND_FIELDS.get(str(raw.get("kind", "")))
        if attr is None:
            raise ValueError(f"kind {raw.get('kind')!r} is not an input of the compiler")
        key = _meta(raw)
        kept = tuple(o for o in getattr(self, attr) if _meta(o) != key)
        return _replace(self, attr, (*kept, raw))

    def without_object(self, kind: str, namespace: str, name: str) -> ClusterResources:
        """A copy without the object ``kind namespace/name`` (a DELETE)."""
        attr = KIND_FIELDS[kind]
        kept = tuple(o for o in getattr(self, attr) if _meta(o) != (namespace, name))
        return _replace(self, attr, kept)

    def to_json(self, *, redact_secrets: bool = True) -> str:
        """Serialise to JSON; Secret ``data``/``stringData`` values become ``"<redacted>"``."""
        out: dict[str, list[Any]] = {}
        for f in fields(self):
            items = [dict(o) for o in getattr(self, f.name)]
            if f.name == "secrets" and redact_secrets:
                for item in items:
                    for key in ("data", "stringData"):
                        if isinstance(item.get(key), Mapping):
                            item[key] = {k: "<redacted>" for k in item[key]}
            out[f.name] = items
        return json.dumps(out, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> ClusterResources:
        """Inverse of :meth:`to_json` (redacted secrets stay redacted)."""
        data = json.loads(text)
        return cls(**{f.name: tuple(data.get(f.name, ())) for f in fields(cls)})


def _replace(res: ClusterResources, attr: str, value: tuple[RawObject, ...]) -> ClusterResources:
    kwargs = {f.name: getattr(res, f.name) for f in fields(res)}
    kwargs[attr] = value
    return ClusterResources(**kwargs)


@dataclass(frozen=True)
class CompileResult:
    """The outcome of :func:`compile_config`.

    Attributes:
        config: the compiled configuration, or ``None`` when there is any error.
        errors: every problem found, sorted by object and path.
        warnings: things that do not invalidate the configuration but deserve a look
            (e.g. a pool no advertisement covers, a deprecated field, an ignored object).
    """

    config: Config | None
    errors: tuple[FieldError, ...] = ()
    warnings: tuple[FieldError, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the configuration is valid."""
        return self.config is not None

    def errors_for(self, kind: str, namespace: str, name: str) -> tuple[FieldError, ...]:
        """The errors that concern one object (what a webhook reports for it)."""
        return tuple(
            e for e in self.errors if (e.kind, e.namespace, e.name) == (kind, namespace, name)
        )

    def summary(self) -> str:
        """All errors, one per line (ConfigurationState ``errorSummary``)."""
        return "\n".join(str(e) for e in self.errors)

    def raise_for_errors(self) -> Config:
        """Return the Config, or raise :class:`ingot.errors.ConfigError` listing every error."""
        if self.config is None:
            raise ConfigError(self.summary())
        return self.config


# ------------------------------------------------------------------------------- compile


@dataclass
class _Parsed:
    """One object that passed schema validation, with its reporter and parsed parts."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    model: Any
    rep: validation.Reporter
    parts: Any = None


@dataclass
class _State:
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)
    reporters: list[validation.Reporter] = field(default_factory=list)


def _parse_kind(
    state: _State,
    raws: Sequence[RawObject],
    *,
    kind: str,
    model: type[M],
    namespace: str | None,
) -> tuple[list[_Parsed], set[str]]:
    """Validate every object of one kind against its model.

    Returns:
        The objects that passed (sorted by name) and the names of every object of this kind in
        scope, valid or not (so that references to an invalid object are not reported twice).
    """
    parsed: list[_Parsed] = []
    names: set[str] = set()
    for raw in sorted(raws, key=_meta):
        ns, name = _meta(raw)
        if namespace is not None and ns != namespace:
            state.warnings.append(
                FieldError(
                    kind,
                    ns,
                    name,
                    "metadata.namespace",
                    f"ignored: configuration objects must be in namespace {namespace!r}",
                )
            )
            continue
        names.add(name)
        rep = validation.Reporter(kind, ns, name)
        state.reporters.append(rep)
        if not isinstance(raw, Mapping):
            rep.error("", f"not a JSON object (got {type(raw).__name__})")
            continue
        if not isinstance(raw.get("metadata"), Mapping):
            rep.error("metadata", "required object is missing")
            continue
        if not name:
            rep.error("metadata.name", "required field is missing")
            continue
        if kind == "BGPPeer":
            raw = bgppeer.convert_v1beta1_to_v1beta2(raw)
        try:
            obj = model.model_validate(raw)
        except ValidationError as exc:
            rep.errors.extend(from_validation_error(exc, kind=kind, namespace=ns, name=name))
            continue
        for extra in unknown_fields(obj):
            if extra.split(".", 1)[0].split("[", 1)[0] not in {"metadata", "status"}:
                rep.warn(extra, "unknown field, ignored (the API server would prune it)")
        parsed.append(_Parsed(name, ns, _labels(raw), obj, rep))
    return parsed, names


def _labels_by_name(raws: Sequence[RawObject]) -> dict[str, Mapping[str, str]]:
    out: dict[str, Mapping[str, str]] = {}
    for raw in raws:
        _, name = _meta(raw)
        if name:
            out[name] = _labels(raw)
    return out


class _Matcher:
    """Names whose labels any selector matches, memoised per selector tuple (one compile).

    Advertisements and peers usually repeat a handful of node selectors; the cache turns
    ads x nodes selector evaluations into distinct-selectors x nodes.
    """

    def __init__(self, labels_by_name: Mapping[str, Mapping[str, str]]) -> None:
        self._labels = labels_by_name
        self._cache: dict[tuple[selectors.LabelSelector, ...], frozenset[str]] = {}

    def __call__(self, sels: tuple[selectors.LabelSelector, ...]) -> frozenset[str]:
        """The names selected; an empty tuple selects every name."""
        hit = self._cache.get(sels)
        if hit is None:
            hit = frozenset(
                n
                for n, labels in self._labels.items()
                if not sels or selectors.matches_any(sels, labels)
            )
            self._cache[sels] = hit
        return hit


def compile_config(
    resources: ClusterResources,
    *,
    namespace: str | None = None,
    strict_references: bool = True,
) -> CompileResult:
    """Compile a snapshot of the cluster's configuration objects into a :class:`Config`.

    Args:
        resources: the metallb.io objects plus Namespaces, Nodes and Secrets.
        namespace: the namespace configuration objects must live in (ingot's namespace);
            objects elsewhere are ignored with a warning. ``None`` accepts every namespace.
        strict_references: when True (the default, used by controller and speaker) a missing
            BFDProfile, password Secret or community alias is an error. The admission webhook
            may pass False so that objects can be applied in any order: such references then
            come back as warnings, as MetalLB's webhook strips them before validating.

    Returns:
        ``CompileResult(config=Config, errors=())`` or ``CompileResult(config=None, errors=...)``.
        Errors and warnings are sorted by kind, namespace, name, path.
    """
    st = _State()
    pools_p, pool_names = _parse_kind(
        st,
        resources.ip_address_pools,
        kind="IPAddressPool",
        model=ipaddresspool.IPAddressPool,
        namespace=namespace,
    )
    l2_p, _ = _parse_kind(
        st,
        resources.l2_advertisements,
        kind="L2Advertisement",
        model=l2advertisement.L2Advertisement,
        namespace=namespace,
    )
    bgpadv_p, _ = _parse_kind(
        st,
        resources.bgp_advertisements,
        kind="BGPAdvertisement",
        model=bgpadvertisement.BGPAdvertisement,
        namespace=namespace,
    )
    peers_p, peer_names = _parse_kind(
        st, resources.bgp_peers, kind="BGPPeer", model=bgppeer.BGPPeer, namespace=namespace
    )
    bfd_p, bfd_names = _parse_kind(
        st,
        resources.bfd_profiles,
        kind="BFDProfile",
        model=bfdprofile.BFDProfile,
        namespace=namespace,
    )
    comm_p, _ = _parse_kind(
        st,
        resources.communities,
        kind="Community",
        model=community.Community,
        namespace=namespace,
    )
    ns_labels = _labels_by_name(resources.namespaces)
    node_labels = _labels_by_name(resources.nodes)
    nodes_matching = _Matcher(node_labels)
    namespaces_matching = _Matcher(ns_labels)

    def ref_problem(rep: validation.Reporter, path: str, message: str) -> None:
        if strict_references:
            rep.error(path, message)
        else:
            rep.warn(path, message)

    # --- pools
    for p in pools_p:
        p.parts = validation.check_ip_address_pool(p.rep, p.model)
    _check_overlaps(pools_p)
    pools: dict[str, ipam_pool.Pool] = {}
    for p in pools_p:
        parts: validation.PoolParts = p.parts
        if p.rep.errors or any(r is None for r in parts.ranges):
            continue
        spec: ipaddresspool.IPAddressPoolSpec = p.model.spec
        alloc = None
        if spec.service_allocation is not None:
            listed = frozenset(spec.service_allocation.namespaces)
            matched = (
                namespaces_matching(parts.namespace_selectors)
                if parts.namespace_selectors
                else frozenset()
            )
            alloc = ipam_pool.ServiceAllocation(
                priority=spec.service_allocation.priority,
                namespaces=listed | matched,
                namespace_selectors=parts.namespace_selectors,
                service_selectors=parts.service_selectors,
            )
        pools[p.name] = ipam_pool.Pool(
            name=p.name,
            ranges=tuple(r for r in parts.ranges if r is not None),
            auto_assign=spec.auto_assign,
            avoid_buggy_ips=spec.avoid_buggy_ips,
            allocation=alloc,
        )
    pool_labels = {p.name: p.labels for p in pools_p}
    pools_matching = _Matcher(pool_labels)
    pool_ranges = {p.name: p.parts.ranges for p in pools_p}
    pool_entries = {p.name: p.model.spec.addresses for p in pools_p}

    def resolve_pools(
        rep: validation.Reporter,
        names: Sequence[str],
        sels: tuple[selectors.LabelSelector, ...],
        raw_selectors: int,
    ) -> frozenset[str]:
        for i, n in enumerate(names):
            if n not in pool_names:
                rep.warn(
                    f"spec.ipAddressPools[{i}]",
                    f"IPAddressPool {n!r} does not exist: nothing is announced for it",
                )
        if not names and not raw_selectors:
            return frozenset(pool_labels)
        chosen = set(n for n in names if n in pool_labels)
        if sels:
            matched = pools_matching(sels)
            if not matched:
                rep.warn("spec.ipAddressPoolSelectors", "no IPAddressPool matches these selectors")
            chosen |= matched
        return frozenset(chosen)

    # --- communities
    aliases: dict[str, CommunityValue] = {}
    alias_owner: dict[str, str] = {}
    for c in comm_p:
        validation.check_community(c.rep, c.model)
        for i, alias in enumerate(c.model.spec.communities):
            if alias.name in alias_owner and alias_owner[alias.name] != c.name:
                c.rep.error(
                    f"spec.communities[{i}].name",
                    f"alias {alias.name!r} is already defined by Community "
                    f"{alias_owner[alias.name]!r}",
                )
                continue
            alias_owner.setdefault(alias.name, c.name)
            try:
                aliases[alias.name] = parse_community_value(alias.value)
            except ValueError:
                pass  # reported by check_community

    # --- BFD profiles
    bfds: dict[str, config.BFDProfile] = {}
    for b in bfd_p:
        validation.check_bfd_profile(b.rep, b.model)
        s: bfdprofile.BFDProfileSpec = b.model.spec
        defaults = config.BFDProfile(name=b.name)
        bfds[b.name] = config.BFDProfile(
            name=b.name,
            receive_interval_ms=s.receive_interval or defaults.receive_interval_ms,
            transmit_interval_ms=s.transmit_interval or defaults.transmit_interval_ms,
            detect_multiplier=s.detect_multiplier or defaults.detect_multiplier,
            echo_interval_ms=s.echo_interval or defaults.echo_interval_ms,
            passive_mode=bool(s.passive_mode),
            minimum_ttl=s.minimum_ttl or defaults.minimum_ttl,
        )

    # --- peers
    secrets = {_meta(raw): raw for raw in resources.secrets if isinstance(raw, Mapping)}
    peers: dict[str, config.BGPPeer] = {}
    for pr in peers_p:
        pp = validation.check_bgp_peer(pr.rep, pr.model)
        ps: bgppeer.BGPPeerSpec = pr.model.spec
        bfd = None
        if ps.bfd_profile:
            bfd = bfds.get(ps.bfd_profile)
            if bfd is None and ps.bfd_profile not in bfd_names:
                ref_problem(
                    pr.rep, "spec.bfdProfile", f"BFDProfile {ps.bfd_profile!r} does not exist"
                )
        password: SecretStr | None = ps.password
        source = "spec.password" if password is not None else ""
        if ps.password_secret is not None and ps.password is None:
            password, source = _secret_password(pr, ps.password_secret, secrets, ref_problem)
        if pr.rep.errors or pp.peer_address is None or ps.peer_asn is None:
            continue
        peers[pr.name] = config.BGPPeer(
            name=pr.name,
            my_asn=ps.my_asn,
            peer_asn=ps.peer_asn,
            peer_address=pp.peer_address,
            source_address=pp.source_address,
            peer_port=ps.peer_port,
            hold_time_s=pp.hold_time_s,
            keepalive_time_s=pp.keepalive_time_s,
            router_id=pp.router_id,
            ebgp_multihop=bool(ps.ebgp_multi_hop),
            password=password,
            password_source=source,
            node_selectors=pp.node_selectors,
            dual_stack_address_family=ps.dual_stack_address_family,
            bfd_profile=ps.bfd_profile or None,
            bfd=bfd,
            nodes=nodes_matching(pp.node_selectors),
        )
    _check_duplicate_peers(peers_p, peers)

    # --- L2 advertisements
    l2_ads: list[config.L2Advertisement] = []
    for a in l2_p:
        l2parts = validation.check_l2_advertisement(a.rep, a.model)
        lspec: l2advertisement.L2AdvertisementSpec = a.model.spec
        chosen = resolve_pools(
            a.rep,
            lspec.ip_address_pools,
            l2parts.pool_selectors,
            len(lspec.ip_address_pool_selectors),
        )
        l2_ads.append(
            config.L2Advertisement(
                name=a.name,
                pools=chosen,
                node_selectors=l2parts.node_selectors,
                service_selectors=l2parts.service_selectors,
                interfaces=tuple(lspec.interfaces),
                preferences=tuple(config.Preference(w, s) for w, s in l2parts.preferences),
                nodes=nodes_matching(l2parts.node_selectors),
            )
        )

    # --- BGP advertisements
    bgp_ads: list[config.BGPAdvertisement] = []
    for a in bgpadv_p:
        bparts = validation.check_bgp_advertisement(a.rep, a.model)
        bspec: bgpadvertisement.BGPAdvertisementSpec = a.model.spec
        chosen = resolve_pools(
            a.rep,
            bspec.ip_address_pools,
            bparts.pool_selectors,
            len(bspec.ip_address_pool_selectors),
        )
        values: set[CommunityValue] = set()
        for i, text in enumerate(bspec.communities):
            if looks_like_alias(text):
                if text in aliases:
                    values.add(aliases[text])
                elif text not in alias_owner:
                    ref_problem(
                        a.rep,
                        f"spec.communities[{i}]",
                        f"community alias {text!r} is not defined by any Community object",
                    )
            else:
                try:
                    values.add(parse_community_value(text))
                except ValueError:
                    pass  # reported by check_bgp_advertisement
        for i, peer_name in enumerate(bspec.peers):
            if peer_name not in peer_names:
                a.rep.warn(
                    f"spec.peers[{i}]",
                    f"BGPPeer {peer_name!r} does not exist: nothing is advertised to it",
                )
        for pool_name in sorted(chosen):
            _check_aggregation(
                a.rep,
                bspec,
                pool_name,
                pool_ranges.get(pool_name, ()),
                pool_entries.get(pool_name, []),
            )
        bgp_ads.append(
            config.BGPAdvertisement(
                name=a.name,
                pools=chosen,
                aggregation_length=bspec.aggregation_length,
                aggregation_length_v6=bspec.aggregation_length_v6,
                local_pref=bspec.local_pref or None,
                communities=frozenset(values),
                peers=tuple(bspec.peers),
                node_selectors=bparts.node_selectors,
                service_selectors=bparts.service_selectors,
                nodes=nodes_matching(bparts.node_selectors),
            )
        )
    _check_local_pref(
        bgpadv_p,
        bgp_ads,
        {name: p.families for name, p in pools.items()},
        nodes_known=bool(node_labels),
    )

    cfg = config.Config(
        namespace=namespace if namespace is not None else "",
        pools=pools,
        l2_advertisements=tuple(l2_ads),
        bgp_advertisements=tuple(bgp_ads),
        bgp_peers=peers,
        bfd_profiles=bfds,
        communities=aliases,
    )
    unannounced = cfg.unannounced_pools()
    for p in pools_p:
        if p.name in unannounced:
            p.rep.warn(
                "",
                "no L2Advertisement or BGPAdvertisement selects this pool: its addresses are "
                "assigned but not announced",
            )
    errors = sorted(e for r in st.reporters for e in r.errors)
    warnings = sorted(st.warnings + [w for r in st.reporters for w in r.warnings])
    if errors:
        return CompileResult(None, tuple(errors), tuple(warnings))
    return CompileResult(cfg, (), tuple(warnings))


def referrers(
    resources: ClusterResources, *, kind: str, namespace: str, name: str
) -> tuple[FieldError, ...]:
    """The objects that reference ``kind namespace/name``, one FieldError per reference.

    MetalLB's BFDProfile webhook refuses to DELETE a profile any BGPPeer uses; the admission
    webhook can refuse a deletion when this is non-empty. Covered references: BGPPeer
    ``spec.bfdProfile`` -> BFDProfile, BGPPeer ``spec.passwordSecret`` -> Secret, and
    BGPAdvertisement ``spec.communities`` -> the aliases a Community object defines.

    Args:
        resources: the current objects.
        kind: kind of the referenced object (``BFDProfile``, ``Secret``, ``Community``).
        namespace: its namespace.
        name: its name.

    Returns:
        Errors located on the referencing objects, sorted.
    """
    found: list[FieldError] = []

    def spec_of(raw: Any) -> Mapping[str, Any]:
        spec = raw.get("spec") if isinstance(raw, Mapping) else None
        return spec if isinstance(spec, Mapping) else {}

    if kind in {"BFDProfile", "Secret"}:
        for raw in resources.bgp_peers:
            ns, peer = _meta(raw)
            spec = spec_of(raw)
            if kind == "BFDProfile" and ns == namespace and spec.get("bfdProfile") == name:
                found.append(
                    FieldError("BGPPeer", ns, peer, "spec.bfdProfile", f"uses BFDProfile {name!r}")
                )
            ref = spec.get("passwordSecret")
            if kind == "Secret" and isinstance(ref, Mapping) and ref.get("name") == name:
                if (ref.get("namespace") or ns) == namespace:
                    found.append(
                        FieldError(
                            "BGPPeer", ns, peer, "spec.passwordSecret", f"uses Secret {name!r}"
                        )
                    )
    if kind == "Community":
        aliases: set[str] = set()
        for raw in resources.communities:
            if _meta(raw) == (namespace, name):
                for alias in spec_of(raw).get("communities") or []:
                    if isinstance(alias, Mapping) and isinstance(alias.get("name"), str):
                        aliases.add(alias["name"])
        for raw in resources.bgp_advertisements:
            ns, adv = _meta(raw)
            values = spec_of(raw).get("communities") or []
            for i, text in enumerate(values if isinstance(values, list) else []):
                if text in aliases:
                    found.append(
                        FieldError(
                            "BGPAdvertisement",
                            ns,
                            adv,
                            f"spec.communities[{i}]",
                            f"uses alias {text!r} of Community {name!r}",
                        )
                    )
    return tuple(sorted(found))


# ------------------------------------------------------------------------------- cross checks


def _check_overlaps(pools_p: Sequence[_Parsed]) -> None:
    """No address may belong to two pools (MetalLB ``poolsFor``); reported on both pools."""
    entries: list[tuple[int, int, int, _Parsed, int]] = []
    for p in pools_p:
        for i, r in enumerate(p.parts.ranges):
            if r is not None:
                entries.append((r.family, int(r.first), int(r.last), p, i))
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    reach: tuple[int, int, int, _Parsed, int] | None = None
    for e in entries:
        if reach is not None and reach[0] == e[0] and e[1] <= reach[2] and reach[3] is not e[3]:
            for a, b in ((e, reach), (reach, e)):
                a[3].rep.error(
                    f"spec.addresses[{a[4]}]",
                    f"{a[3].model.spec.addresses[a[4]]!r} overlaps "
                    f"{b[3].model.spec.addresses[b[4]]!r} "
                    f"of IPAddressPool {b[3].name!r}",
                )
        if reach is None or reach[0] != e[0] or e[2] > reach[2]:
            reach = e


def _secret_password(
    pr: _Parsed,
    ref: bgppeer.SecretReference,
    secrets: Mapping[tuple[str, str], RawObject],
    ref_problem: Any,
) -> tuple[SecretStr | None, str]:
    """Resolve ``passwordSecret`` (MetalLB ``passwordFromSecretForPeer``).

    The Secret must have type basic-auth and key ``password`` in ``data`` (base64) or
    ``stringData``.
    """
    ns = ref.namespace or pr.namespace
    where = f"Secret {ns}/{ref.name}"
    if not ref.name:
        pr.rep.error("spec.passwordSecret.name", "required field is missing")
        return None, ""
    raw = secrets.get((ns, ref.name))
    if raw is None:
        ref_problem(pr.rep, "spec.passwordSecret", f"{where} does not exist")
        return None, ""
    typ = str(raw.get("type") or "Opaque")
    if typ != BASIC_AUTH:
        pr.rep.error(
            "spec.passwordSecret", f"{where} has type {typ!r}; it must be of type {BASIC_AUTH!r}"
        )
        return None, ""
    data = raw.get("data")
    data = data if isinstance(data, Mapping) else {}
    string_data = raw.get("stringData")
    string_data = string_data if isinstance(string_data, Mapping) else {}
    if "password" in string_data:
        data = {"password": base64.b64encode(str(string_data["password"]).encode()).decode()}
    if "password" not in data:
        pr.rep.error("spec.passwordSecret", f"{where} has no key 'password'")
        return None, ""
    try:
        value = base64.b64decode(str(data["password"]), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        pr.rep.error("spec.passwordSecret", f"{where} key 'password' is not valid base64 UTF-8")
        return None, ""
    if validation.has_line_break(value):
        pr.rep.error("spec.passwordSecret", f"{where} key 'password' contains a line break")
        return None, ""
    return SecretStr(value), where


def _nodes_overlap(
    a: tuple[selectors.LabelSelector, ...],
    an: frozenset[str],
    b: tuple[selectors.LabelSelector, ...],
    bn: frozenset[str],
) -> bool:
    """Two node selections may share a node: either selects all, or the known nodes intersect."""
    return not a or not b or bool(an & bn) or a == b


def _check_duplicate_peers(peers_p: Sequence[_Parsed], peers: Mapping[str, config.BGPPeer]) -> None:
    """Two BGPPeers to the same address and port on a common node would be one ExaBGP neighbor."""
    by_name = {p.name: p for p in peers_p}
    done = sorted(peers.values(), key=lambda p: p.name)
    for i, a in enumerate(done):
        for b in done[:i]:
            if (a.peer_address, a.peer_port) == (b.peer_address, b.peer_port) and _nodes_overlap(
                a.node_selectors, a.nodes, b.node_selectors, b.nodes
            ):
                by_name[a.name].rep.error(
                    "spec.peerAddress",
                    f"BGPPeer {b.name!r} already peers with {a.peer_address} port {a.peer_port} "
                    "on the same nodes",
                )


def _check_aggregation(
    rep: validation.Reporter,
    spec: bgpadvertisement.BGPAdvertisementSpec,
    pool_name: str,
    pool_ranges: Sequence[ranges.AddressRange | None],
    entries: Sequence[str],
) -> None:
    """Check aggregation lengths against a selected pool (MetalLB ``validateBGPAdvPerPool``).

    For each address entry, the aggregation length of its family must be at least the prefix
    length of the widest CIDR the entry splits into; otherwise even that piece is more specific
    than the aggregate, which would then cover addresses outside the pool (case C36). This is
    exactly MetalLB's rule (``lowestMask``), so every configuration MetalLB accepts is accepted.
    """
    for i, r in enumerate(pool_ranges):
        if r is None:
            continue
        agg, field_name = (
            (spec.aggregation_length, "aggregationLength")
            if r.family == 4
            else (spec.aggregation_length_v6, "aggregationLengthV6")
        )
        if agg >= r.first.max_prefixlen:
            continue
        widest = r.widest_prefix_len()
        if widest > agg:
            shape = "is the CIDR" if len(r.cidrs()) == 1 else "splits into CIDRs whose widest is"
            rep.error(
                f"spec.{field_name}",
                f"{field_name} {agg} is incompatible with IPAddressPool {pool_name!r} "
                f"spec.addresses[{i}] {entries[i]!r}: the entry {shape} /{widest}, more "
                f"specific than the /{agg} aggregate, which would cover addresses outside the "
                f"pool; use {field_name} >= {widest}, or write the pool as one CIDR (with "
                "avoidBuggyIPs to skip .0/.255)",
            )


def _aggregation_differs(
    a: config.BGPAdvertisement, b: config.BGPAdvertisement, families: frozenset[int]
) -> bool:
    """MetalLB ``isAggrLengthDifferent``: the two ads announce different prefixes for the pool."""
    v4 = a.aggregation_length != b.aggregation_length
    v6 = a.aggregation_length_v6 != b.aggregation_length_v6
    if families == {4}:
        return v4
    if families == {6}:
        return v6
    return v4 and v6


def _check_local_pref(
    ads_p: Sequence[_Parsed],
    ads: Sequence[config.BGPAdvertisement],
    families_by_pool: Mapping[str, frozenset[int]],
    *,
    nodes_known: bool,
) -> None:
    """Check that advertisements of one pool to the same peers and nodes agree on localPref.

    MetalLB ``BGPAdvertisementsHaveCompatibleLocalPref``; ads with serviceSelectors are checked
    per Service by the BGP planner instead.
    """
    by_name = {p.name: p for p in ads_p}
    ordered = sorted(ads, key=lambda a: a.name)
    for i, a in enumerate(ordered):
        for b in ordered[:i]:
            if a.service_selectors or b.service_selectors:
                continue
            if (a.local_pref or 0) == (b.local_pref or 0):
                continue
            common = sorted(
                p
                for p in a.pools & b.pools
                if not _aggregation_differs(a, b, families_by_pool.get(p, frozenset()))
            )
            if not common:
                continue
            if a.peers and b.peers and not set(a.peers) & set(b.peers):
                continue
            if nodes_known:
                if not a.nodes & b.nodes:  # MetalLB: the resolved node sets must intersect
                    continue
            elif not _nodes_overlap(a.node_selectors, a.nodes, b.node_selectors, b.nodes):
                continue  # offline (no Nodes given): judge by the selectors
            by_name[a.name].rep.error(
                "spec.localPref",
                f"localPref {a.local_pref or 0} conflicts with BGPAdvertisement {b.name!r} "
                f"(localPref {b.local_pref or 0}) for IPAddressPool {common[0]!r} on the same "
                "peers and nodes",
            )


__all__ = [
    "ClusterResources",
    "CompileResult",
    "FieldError",
    "compile_config",
    "referrers",
]
