"""The controller's single-writer core: configuration, restore, per-Service reconcile.

Everything here runs on the one allocation worker thread (the allocator is single-writer);
inputs come from informer caches (``Lister``), outputs go through the ``Source`` seam. Each
step follows ARCHITECTURE.md §2:

* ``reconcile_config`` compiles the metallb.io objects (A's ``compile_config``). An invalid
  config leaves the last valid one in force and is published (ConfigurationState
  ``controller``, ``metallb_k8s_client_config_stale_bool``, a Warning event on each offending
  object, only when its errors change). The first valid config also **restores** the
  allocator from every Service's ``status.loadBalancer.ingress`` (holders first, oldest
  first) before any Service is reconciled (case C33, MetalLB ``initialLoadPerformed``).
* ``reconcile_service`` reads the Service, asks the allocator, diffs, writes at most once
  and records an event only on a transition (``controller.status``). It reports what it freed
  so the caller re-queues every pending Service (case C01, MetalLB PR #1645).
* ``reconcile_pools`` keeps ``IPAddressPool.status`` and the pool metrics exact.

Services filtered out by ``loadBalancerClass`` are never written (MetalLB
``filterByLoadBalancerClass``); if one held an IP (class changed) the IP is released.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller import status as st
from controller.metrics import ControllerMetrics, PoolUsage
from ingot import errors
from ingot.kube import source as src

log = logging.getLogger(__name__)

RawObject = Mapping[str, Any]

CONFIGURATION_STATE = src.Kind(
    "metallb.io", "v1beta1", "configurationstates", "ConfigurationState", has_status=True
)
"""MetalLB 0.15.3 ``ConfigurationState`` (reference §1g); ingot writes ``controller``."""
CONFIG_STATE_NAME = "controller"
CONDITION_POOL_RECONCILER = "poolReconcilerValid"


class Lister(Protocol):
    """Read-only view of an informer cache (``ingot.kube.informer.Informer`` satisfies it)."""

    def get(self, key: str) -> Any: ...

    def list(self) -> list[Any]: ...


@dataclass
class Caches:
    """The informer caches the controller reads (Services all namespaces, CRs in its own)."""

    services: Lister
    namespaces: Lister
    nodes: Lister
    pools: Lister
    l2_advertisements: Lister
    bgp_advertisements: Lister
    bgp_peers: Lister
    bfd_profiles: Lister
    communities: Lister
    secrets: Lister


EventSink = Callable[[RawObject, st.EventSpec], None]
"""Records one event on the given object (``EventRecorder`` adapter)."""


@dataclass(frozen=True)
class ServiceResult:
    """What one Service reconcile did: ``freed`` IPs (re-queue pending), ``pools_changed``."""

    freed: bool = False
    pools_changed: bool = False
    wrote: bool = False


@dataclass(frozen=True)
class ConfigResult:
    """Outcome of a config reconcile: Service keys to (re)queue in order, in that order."""

    requeue: tuple[str, ...] = ()
    valid: bool = True
    changed: bool = False


@dataclass(frozen=True)
class _Claim:
    request: Any
    ips: tuple[Any, ...]


def _sharing_terms(request: Any) -> tuple[Any, ...]:
    """The parts of a request that decide IP sharing (``ipam.sharing``)."""
    return (
        request.sharing_key,
        request.traffic_policy,
        request.backend_key,
        frozenset(request.ports),
    )


def _parse_ips(texts: Iterable[str]) -> tuple[Any, ...]:
    out = []
    for t in texts:
        try:
            out.append(ipaddress.ip_address(t))
        except ValueError:
            return ()  # a malformed status is wiped and re-allocated
    return tuple(out)


def lb_class_matches(svc: RawObject, lb_class: str) -> bool:
    """MetalLB rule: flag empty -> only Services without a class; else only that class."""
    cls = (svc.get("spec") or {}).get("loadBalancerClass") or None
    return cls is None if not lb_class else cls == lb_class


def is_load_balancer(svc: RawObject) -> bool:
    """``spec.type == LoadBalancer``."""
    return (svc.get("spec") or {}).get("type") == "LoadBalancer"


def _created(obj: RawObject) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp") or "")


def _key(obj: RawObject) -> str:
    return src.object_key(obj)


def _now_iso(wall_s: float) -> str:
    return dt.datetime.fromtimestamp(wall_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _ConfigPublished:
    valid: bool | None = None
    summary: str = ""
    errors_by_object: dict[tuple[str, str, str], tuple[str, ...]] = field(default_factory=dict)


class Reconciler:
    """Owns the allocator and the last valid config; called only from the worker thread.

    Args:
        source: the API seam for writes (``replace_status``, ``create``...).
        caches: informer caches to read from.
        namespace: where the metallb.io objects and ConfigurationState live.
        lb_class: ``--lb-class`` ("" = Services without ``spec.loadBalancerClass``).
        allocator: ``ipam.allocator.Allocator``.
        compile_fn: ``ingot.api.compile.compile_config``.
        resources_fn: builds ``ClusterResources`` from raw object lists (keyword args named
            like its fields).
        request_fn: ``ingot.api.services.service_request``.
        metrics: Prometheus series.
        events: event sink.
        wall_s: wall clock, seconds since the epoch (condition timestamps).
        submit: runs a Service's status write elsewhere (``submit(key, write, takes, drops)``
            with the IPs the write adds to / removes from the Service's status; a writer pool
            keeping one write per Service in flight, and never writing an IP to one Service
            while another Service's write still has to remove it); None writes inline. The
            allocation decision is always made here, on the one worker thread.
    """

    def __init__(
        self,
        *,
        source: src.Source,
        caches: Caches,
        namespace: str,
        lb_class: str,
        allocator: Any,
        compile_fn: Callable[[Any], Any],
        resources_fn: Callable[..., Any],
        request_fn: Callable[..., Any],
        metrics: ControllerMetrics,
        events: EventSink,
        wall_s: Callable[[], float] = time.time,
        submit: Callable[[str, Callable[[], None], frozenset[str], frozenset[str]], None]
        | None = None,
    ) -> None:
        self._source = source
        self._caches = caches
        self._namespace = namespace
        self._lb_class = lb_class
        self.lb_class = lb_class
        self._alloc = allocator
        self._compile = compile_fn
        self._resources_fn = resources_fn
        self._request_fn = request_fn
        self._metrics = metrics
        self._events = events
        self._wall_s = wall_s
        self._submit = submit
        self.config: Any = None
        #: True once the allocator was restored from the Services' status (needs a pool)
        self._restored = False
        #: errors of the last compile when it failed (the last valid config is in force)
        self.config_errors: tuple[Any, ...] = ()
        self._pools_sig: object = None
        self.pending: set[str] = set()
        self._written: dict[str, tuple[frozenset[str], RawObject]] = {}
        self._echoes: dict[str, set[str]] = {}  # resourceVersions our own writes produced
        self._published = _ConfigPublished()
        self.republish = False
        """Set (from any thread) when ConfigurationState was deleted: write it again."""
        self._ns_labels: dict[str, dict[str, str]] = {}

    # -- inputs ------------------------------------------------------------------------

    def cluster_resources(self) -> Any:
        """The ``ClusterResources`` snapshot of the caches (also used by the webhook)."""
        c = self._caches
        return self._resources_fn(
            ip_address_pools=tuple(c.pools.list()),
            l2_advertisements=tuple(c.l2_advertisements.list()),
            bgp_advertisements=tuple(c.bgp_advertisements.list()),
            bgp_peers=tuple(c.bgp_peers.list()),
            bfd_profiles=tuple(c.bfd_profiles.list()),
            communities=tuple(c.communities.list()),
            namespaces=tuple(c.namespaces.list()),
            nodes=tuple(c.nodes.list()),
            secrets=tuple(c.secrets.list()),
        )

    def _namespace_labels(self, ns: str) -> dict[str, str]:
        obj = self._caches.namespaces.get(ns)
        if obj is None:
            return {}
        return dict((obj.get("metadata") or {}).get("labels") or {})

    def _current(self, key: str) -> RawObject | None:
        """The cached Service, or what we last wrote if the cache has not caught up yet."""
        obj: RawObject | None = self._caches.services.get(key)
        written = self._written.get(key)
        if written is not None:
            stale_rvs, result = written
            if obj is not None and src.resource_version_of(obj) in stale_rvs:
                return result
            self._written.pop(key, None)
        return obj

    def is_own_write(self, obj: RawObject) -> bool:
        """True when ``obj`` is a version our own last write(s) produced.

        Called from informer threads (after the cache holds ``obj``) to skip the echo of our
        own writes; the echo of the final write also drops the bookkeeping for the Service.
        A benign race: at worst one redundant reconcile, which writes nothing.
        """
        key = src.object_key(obj)
        rv = src.resource_version_of(obj)
        if rv not in self._echoes.get(key, ()):
            return False
        written = self._written.get(key)
        if written is not None and src.resource_version_of(written[1]) == rv:
            self._written.pop(key, None)  # the cache has caught up with our write
            self._echoes.pop(key, None)
        return True

    def shown_ips(self, key: str) -> tuple[str, ...]:
        """IPs the Service's status shows, counting our own writes the cache has not seen."""
        obj = self._current(key)
        return st.current_ips(obj) if obj is not None else ()

    def holds(self, key: str) -> tuple[str, ...]:
        """IPs the allocator holds for ``key`` (empty if none)."""
        a = self._alloc.assignment(key)
        return tuple(str(ip) for ip in a.ips) if a is not None else ()

    # -- configuration -----------------------------------------------------------------

    def reconcile_config(self) -> ConfigResult:
        """Compile the config; load it if valid (restoring on first load); publish the state."""
        resources = self.cluster_resources()
        result = self._compile(resources)
        errs = tuple(result.errors)
        self._publish_config(errs)
        stale_before = self.config_errors
        self.config_errors = errs if (errs or result.config is None) else ()
        # Pending Services say whether the configuration is invalid: re-tell them on a change.
        retell = tuple(sorted(self.pending)) if self.config_errors != stale_before else ()
        if errs or result.config is None:
            self._metrics.set_config_state(loaded=self.config is not None, stale=True)
            log.warning("configuration invalid, keeping the last valid one: %d error(s)", len(errs))
            return ConfigResult(valid=False, requeue=retell if self.config is not None else ())
        config = result.config
        pools = dict(config.pools)
        sig = tuple(sorted((name, pools[name]) for name in pools))
        first = not self._restored and bool(pools)
        ns_labels = {
            str((n.get("metadata") or {}).get("name")): dict(
                (n.get("metadata") or {}).get("labels") or {}
            )
            for n in self._caches.namespaces.list()
        }
        ns_changed = ns_labels != self._ns_labels
        self._ns_labels = ns_labels
        previous, old_sig = self.config, self._pools_sig
        self.config = config
        self._metrics.set_config_state(loaded=True, stale=False)
        if sig != self._pools_sig:
            try:
                affected: Iterable[str] = self._alloc.set_pools(tuple(pools.values()))
            except ValueError as exc:  # e.g. overlapping pools the compiler let through
                self.config = previous
                self._metrics.set_config_state(loaded=previous is not None, stale=True)
                log.error("allocator refused the pools, keeping the last valid ones: %s", exc)
                return ConfigResult(valid=False)
            self._pools_sig = sig
        else:
            affected = ()
        if first:
            self._restored = True
            return ConfigResult(requeue=self._restore(), changed=True)
        if not affected and sig == old_sig and not ns_changed:
            return ConfigResult(requeue=retell)
        # Pools or namespace labels changed: every LB Service may now fit differently.
        keys = [
            _key(s)
            for s in self._caches.services.list()
            if is_load_balancer(s) and lb_class_matches(s, self._lb_class)
        ]
        order = sorted(set(affected)) + sorted(self.pending) + sorted(keys)
        return ConfigResult(requeue=tuple(dict.fromkeys(order)), changed=True)

    def _restore(self) -> tuple[str, ...]:
        """Claim every Service's current ingress IPs (holders first), return the work order.

        Malformed or unclaimable IPs are not kept: those Services are reconciled afterwards
        and re-allocated (MetalLB PR #1778). When two Services claim one IP without compatible
        sharing, the older one (``creationTimestamp``, then key) keeps it, as the earlier
        holder does in MetalLB; the outcome does not depend on list order.
        """
        claims: list[_Claim] = []
        holders: list[RawObject] = []
        others: list[str] = []
        services = sorted(self._caches.services.list(), key=lambda s: (_created(s), _key(s)))
        for svc in services:
            if not (is_load_balancer(svc) and lb_class_matches(svc, self._lb_class)):
                continue
            ips = _parse_ips(st.current_ips(svc))
            req = self._request(svc)
            if ips and not isinstance(req, (list, tuple)):
                claims.append(_Claim(req, ips))
                holders.append(svc)
            else:
                others.append(_key(svc))
        rank = {
            c.request.key: _created(s) for c, s in zip(claims, holders, strict=True) if _created(s)
        }
        conflicts = self._alloc.restore(claims, rank=rank)
        for c in conflicts:
            log.warning("restore refused", extra={"service": str(c.key), "reason": c.message})
        log.info(
            "restored %d assignment(s), %d refused", len(claims) - len(conflicts), len(conflicts)
        )
        return tuple([str(c.request.key) for c in claims] + others)

    def _publish_config(self, errs: Sequence[Any]) -> None:
        valid = not errs
        summary = "\n".join(sorted(str(e) for e in errs))
        by_object: dict[tuple[str, str, str], tuple[str, ...]] = {}
        for e in errs:
            ref = (str(e.kind), str(e.namespace), str(e.name))
            by_object[ref] = (*by_object.get(ref, ()), str(e))
        if self.republish:
            self.republish = False
            self._published = _ConfigPublished(errors_by_object=self._published.errors_by_object)
        previous = self._published
        for ref, msgs in sorted(by_object.items()):
            if previous.errors_by_object.get(ref) == msgs:
                continue
            kind, ns, name = ref
            involved = {
                "apiVersion": "metallb.io/v1beta1",
                "kind": kind,
                "metadata": {"name": name, "namespace": ns or self._namespace},
            }
            self._events(involved, st.EventSpec("Warning", "InvalidConfiguration", "; ".join(msgs)))
        if previous.valid == valid and previous.summary == summary:
            self._published.errors_by_object = by_object
            return
        try:
            self._write_config_state(valid=valid, summary=summary)
        except errors.KubeError as exc:
            log.warning("could not write ConfigurationState: %s", exc)
            self._published.errors_by_object = by_object
            return  # retried on the next config reconcile
        self._published = _ConfigPublished(valid, summary, by_object)

    def _write_config_state(self, *, valid: bool, summary: str) -> None:
        now = _now_iso(self._wall_s())
        status = {
            "result": "Valid" if valid else "Invalid",
            "errorSummary": summary,
            "conditions": [
                {
                    "type": CONDITION_POOL_RECONCILER,
                    "status": "True" if valid else "False",
                    "reason": "Reconciled" if valid else "ConfigurationError",
                    "message": "" if valid else summary[:32768],
                    "lastTransitionTime": now,
                }
            ],
        }
        try:
            obj = dict(
                self._source.get(CONFIGURATION_STATE, CONFIG_STATE_NAME, namespace=self._namespace)
            )
        except errors.NotFound:
            obj = self._source.create(
                CONFIGURATION_STATE,
                {
                    "apiVersion": CONFIGURATION_STATE.api_version,
                    "kind": CONFIGURATION_STATE.kind,
                    "metadata": {
                        "name": CONFIG_STATE_NAME,
                        "namespace": self._namespace,
                        "labels": {"metallb.io/component-type": "controller"},
                    },
                },
                namespace=self._namespace,
            )
        obj["status"] = status
        self._source.replace_status(CONFIGURATION_STATE, obj, namespace=self._namespace)
        self._metrics.api_writes.labels("configurationstate").inc()

    # -- services ----------------------------------------------------------------------

    def _request(self, svc: RawObject) -> Any:
        ns = str((svc.get("metadata") or {}).get("namespace") or "")
        return self._request_fn(svc, namespace_labels=self._namespace_labels(ns))

    def _release(self, key: str) -> bool:
        return bool(self._alloc.release(key))

    def reconcile_service(self, key: str) -> ServiceResult:
        """Converge one Service (see module docstring). Raises ``KubeError`` on write failure."""
        svc = self._current(key)
        if svc is None or not lb_class_matches(svc, self._lb_class):
            self.pending.discard(key)
            if svc is None:
                self._written.pop(key, None)
                self._echoes.pop(key, None)
            freed = self._release(key)
            return ServiceResult(freed=freed, pools_changed=freed)
        if not is_load_balancer(svc):
            self.pending.discard(key)
            freed = self._release(key)
            wrote = self._apply(key, svc, st.Cleared("service is no longer of type LoadBalancer"))
            return ServiceResult(freed=freed, pools_changed=freed, wrote=wrote)
        if self.config is None:
            return ServiceResult()  # untouched until a valid config is loaded (MetalLB)
        if not self._restored and st.current_ips(svc):
            # No IPAddressPool exists yet (ingot installed before its pools, or watching the
            # wrong namespace): keep the IPs the Service shows; they are restored, not
            # reallocated, once a pool exists. MetalLB clears them here (docs/controller.md).
            return ServiceResult()
        before = self.holds(key)
        old = self._alloc.assignment(key)
        old_sharing = _sharing_terms(old.request) if old is not None else None
        req = self._request(svc)
        outcome: st.Outcome
        if isinstance(req, (list, tuple)):
            self._release(key)
            outcome = st.Unallocated("InvalidService", "; ".join(str(e) for e in req))
        else:
            decision = self._alloc.assign(req)
            if hasattr(decision, "ips"):
                ips = tuple(str(ip) for ip in decision.ips)
                outcome = st.Allocated(ips=ips, pool=str(decision.pool))
            else:
                reason = decision.reason
                code = str(getattr(reason, "code", "AllocationFailed"))
                outcome = st.Unallocated(code, str(reason.message) + self._stale_note())
        after = self.holds(key)
        freed = bool(set(before) - set(after))
        if after and old_sharing is not None and not isinstance(req, (list, tuple)):
            # A holder's sharing terms changed: a waiting Service may now fit next to it
            # (MetalLB reprocess-all trigger; e2e "reconsider services when sharing ... change").
            freed = freed or _sharing_terms(req) != old_sharing
        if isinstance(outcome, st.Unallocated):
            self.pending.add(key)
        else:
            self.pending.discard(key)
        wrote = self._apply(key, svc, outcome)
        return ServiceResult(freed=freed, pools_changed=before != after, wrote=wrote)

    def _stale_note(self) -> str:
        """When the configuration is invalid, say so: the user's fix may be waiting on it."""
        if not self.config_errors:
            return ""
        more = len(self.config_errors) - 1
        also = f" and {more} more" if more else ""
        return (
            f" (the current configuration is invalid, the last valid one is in force: "
            f"{self.config_errors[0]}{also})"
        )

    def _apply(self, key: str, svc: RawObject, outcome: st.Outcome) -> bool:
        """Write our fields if they differ (inline, or handed to ``submit``); then the event.

        Returns True when a write was done or scheduled.
        """
        desired = st.desired_service(svc, outcome, now_iso=_now_iso(self._wall_s()))
        body = st.service_write(svc, desired)
        event = st.event_for(svc, outcome)
        if body is None:
            if event is not None:
                self._events(svc, event)
            return False

        def write() -> None:
            if self._write(key, svc, body, desired, outcome) and event is not None:
                self._events(svc, event)

        if self._submit is None:
            write()
        else:
            shown = set(st.current_ips(svc))
            wanted = set(st.current_ips(desired))
            self._submit(key, write, frozenset(wanted - shown), frozenset(shown - wanted))
        return True

    def _write(
        self,
        key: str,
        svc: RawObject,
        body: Mapping[str, Any],
        desired: RawObject,
        outcome: st.Outcome,
    ) -> bool:
        """The one status write (ingress, condition and pool annotation). False if gone.

        The body is PUT to ``services/<name>/status`` with the resourceVersion it was computed
        from. Kubernetes keeps metadata changes made through a Service's ``/status`` (its
        status strategy resets only ``spec``; MetalLB relies on it: one ``UpdateStatus``), and
        so does ``ingot.apiserver``: one write per change. Only if a server dropped the
        annotation anyway is it written by a second request (a merge patch with the
        resourceVersion), logged as a warning and counted as ``service_metadata``.

        Raises:
            ingot.errors.KubeError: other API failures (the caller retries the Service).
        """
        meta = svc.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        rvs = {src.resource_version_of(svc)}
        try:
            result = self._source.replace_status(src.SERVICE, body, namespace=ns)
            echoes = {src.resource_version_of(result)}
            self._echoes[key] = echoes
            self._metrics.api_writes.labels("service_status").inc()
            want = st.current_pool(desired)
            if st.current_pool(result) != want:
                log.warning(
                    "the API server dropped the pool annotation sent with the status write; "
                    "writing it separately",
                    extra={"service": key},
                )
                rvs.add(src.resource_version_of(result))
                patch = {
                    "metadata": {
                        "annotations": {st.POOL_ANNOTATION: want},
                        "resourceVersion": src.resource_version_of(result),
                    }
                }
                result = self._source.patch(src.SERVICE, name, patch, namespace=ns)
                echoes.add(src.resource_version_of(result))
                self._metrics.api_writes.labels("service_metadata").inc()
        except errors.NotFound:
            return False  # deleted meanwhile; the delete event releases
        self._written[key] = (frozenset(rvs), result)
        log.info(
            "service status written",
            extra={
                "service": key,
                "pool": outcome.pool if isinstance(outcome, st.Allocated) else "",
                "ip": ",".join(outcome.ips) if isinstance(outcome, st.Allocated) else "",
            },
        )
        return True

    # -- pools -------------------------------------------------------------------------

    def pool_usage(self) -> dict[str, PoolUsage]:
        """Exact usage of every configured pool (from the allocator), by pool name."""
        if self.config is None:
            return {}
        return {
            name: PoolUsage(
                total_v4=u.capacity_v4,
                total_v6=u.capacity_v6,
                in_use_v4=u.in_use_v4,
                in_use_v6=u.in_use_v6,
                services=u.services,
            )
            for name, u in self._alloc.usages().items()
        }

    def reconcile_pools(self) -> int:
        """Write ``IPAddressPool.status`` where it differs; refresh pool metrics. Returns writes."""
        usage = self.pool_usage()
        self._metrics.set_pools(usage)
        writes = 0
        for raw in self._caches.pools.list():
            name = str((raw.get("metadata") or {}).get("name"))
            u = usage.get(name)
            if u is None:
                continue
            desired = st.pool_status(
                assigned_v4=u.in_use_v4,
                assigned_v6=u.in_use_v6,
                total_v4=u.total_v4,
                total_v6=u.total_v6,
            )
            body = st.pool_status_write(raw, desired)
            if body is None:
                continue
            try:
                self._source.replace_status(src.IP_ADDRESS_POOL, body, namespace=self._namespace)
            except (errors.NotFound, errors.Conflict):
                continue  # gone, or changed meanwhile: the informer event requeues the pools
            self._metrics.api_writes.labels("pool_status").inc()
            writes += 1
        return writes
