"""The controller process: informers -> one work queue -> one allocation worker.

Threads (``ingot.kube`` is thread-based on the official sync client):

* one informer per kind (Services and EndpointSlices in all namespaces, Namespaces, Nodes,
  the metallb.io kinds and Secrets in ``--namespace``); handlers only enqueue keys;
* one worker (``run``): waits until **every** cache has synced, loads the config (restoring
  the allocator from all Services' ingress on the first valid config, holders first), then
  processes keys one at a time, so the allocator has a single writer;
* a small pool of status writers (``writers``): one write per Service in flight; a write that
  would show an IP another Service still shows (its removing write is in flight, or the
  cache still shows it) is deferred, so the API never shows one IP on two Services;
* the event writer thread (``controller.events``).

Keys in the queue: ``"namespace/name"`` of a Service, ``CONFIG_KEY`` (recompile the
metallb.io configuration) and ``POOLS_KEY`` (refresh ``IPAddressPool.status`` and pool
metrics, debounced). A Service reconcile that frees an IP re-queues every pending Service;
a config change re-queues what it affected plus every pending Service.

Failures: ``Conflict`` and other ``KubeError`` are retried with the queue's per-key
exponential back-off; ``Throttled`` waits ``Retry-After``. Nothing here ever raises out of
the worker loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from controller import reconciler as rec
from controller import status as st
from controller.metrics import ControllerMetrics
from ingot import errors
from ingot.api import services as api_services
from ingot.kube import informer as inf
from ingot.kube import source as src
from ingot.kube import workqueue as wq

log = logging.getLogger(__name__)

CONFIG_KEY = "\x00config"
POOLS_KEY = "\x00pools"
INGRESS_INDEX = "ingress-ip"
DEFER_RETRY_S = 0.2
"""A write deferred because another Service still shows its IP is retried this often."""
POOLS_DEBOUNCE_S = 0.5
"""Pool status is refreshed at most this often (seconds) during bursts of allocations."""


def _meta_labels(obj: Mapping[str, Any]) -> Any:
    return (obj.get("metadata") or {}).get("labels") or {}


def _config_relevant(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """A metallb.io object changed in something the compiler reads (not status/RV only)."""

    def strip(o: Mapping[str, Any]) -> tuple[Any, ...]:
        meta = o.get("metadata") or {}
        return (
            o.get("spec"),
            o.get("data"),
            o.get("type"),
            meta.get("labels"),
            meta.get("annotations"),
            meta.get("deletionTimestamp"),
        )

    return strip(old) != strip(new)


class Controller:
    """Wires informers, the work queue and the ``Reconciler`` (see module docstring).

    Args:
        source: the API seam (``KubeSource`` in production, over ``ingot.apiserver`` in tests).
        namespace: namespace of the metallb.io objects (``--namespace``).
        lb_class: ``--lb-class``.
        metrics: Prometheus series.
        events: event sink (``EventWriter``).
        allocator_factory, compile_fn, resources_fn, request_fn: the pure core (ipam,
            ingot.api); injectable for tests.
        resync_period_s: informer resync (re-check every object) period, seconds.
        sync_timeout_s: how long ``run`` waits for caches before giving up (``None``: forever).
        pools_debounce_s: delay of the pool status refresh after allocations, seconds.
        writers: threads writing Service status concurrently (at most one write per Service
            in flight; decisions stay on the one worker); 0 writes on the worker itself.
    """

    def __init__(
        self,
        *,
        source: src.Source,
        namespace: str,
        lb_class: str = "",
        metrics: ControllerMetrics,
        events: rec.EventSink,
        allocator_factory: Callable[[], Any],
        compile_fn: Callable[[Any], Any],
        resources_fn: Callable[..., Any],
        request_fn: Callable[..., Any],
        resync_period_s: float | None = 600.0,
        sync_timeout_s: float | None = None,
        pools_debounce_s: float = POOLS_DEBOUNCE_S,
        writers: int = 4,
    ) -> None:
        self._source = source
        self.namespace = namespace
        self._metrics = metrics
        self._sync_timeout_s = sync_timeout_s
        self._pools_debounce_s = pools_debounce_s
        self._writers = writers
        self._write_pool: ThreadPoolExecutor | None = None
        self._inflight: set[str] = set()  # Services with a status write queued or running
        self._dropping: dict[str, int] = {}  # IP -> in-flight writes removing it from a status
        self._deferred: set[str] = set()  # waiting for an IP another write still removes
        self._retry_after_write: set[str] = set()  # changed while their write was in flight
        self._inflight_lock = threading.Lock()
        self.queue: wq.WorkQueue[str] = wq.WorkQueue(
            base_delay_s=0.05, max_delay_s=60.0, name="controller"
        )
        ns = namespace

        def informer(kind: src.Kind, namespace: str | None = None) -> inf.Informer:
            return inf.Informer(source, kind, namespace=namespace, resync_period_s=resync_period_s)

        self.services = inf.Informer(
            source,
            src.SERVICE,
            resync_period_s=resync_period_s,
            indexers={INGRESS_INDEX: inf.index_by_ingress_ip},
        )
        self.endpoint_slices = inf.Informer(source, src.ENDPOINT_SLICE)
        self.namespaces = inf.Informer(source, src.NAMESPACE)
        self.nodes = inf.Informer(source, src.NODE)
        self.pools = informer(src.IP_ADDRESS_POOL, ns)
        self.l2_advertisements = inf.Informer(source, src.L2_ADVERTISEMENT, namespace=ns)
        self.bgp_advertisements = inf.Informer(source, src.BGP_ADVERTISEMENT, namespace=ns)
        self.bgp_peers = inf.Informer(source, src.BGP_PEER, namespace=ns)
        self.bfd_profiles = inf.Informer(source, src.BFD_PROFILE, namespace=ns)
        self.communities = inf.Informer(source, src.COMMUNITY, namespace=ns)
        self.secrets = inf.Informer(source, src.SECRET, namespace=ns)
        # Not a sync barrier: only re-creates ConfigurationState when someone deletes it.
        self.config_states = inf.Informer(source, rec.CONFIGURATION_STATE, namespace=ns)
        self.informers = [
            self.services,
            self.endpoint_slices,
            self.namespaces,
            self.nodes,
            self.pools,
            self.l2_advertisements,
            self.bgp_advertisements,
            self.bgp_peers,
            self.bfd_profiles,
            self.communities,
            self.secrets,
        ]
        self.reconciler = rec.Reconciler(
            source=source,
            caches=rec.Caches(
                services=self.services,
                namespaces=self.namespaces,
                nodes=self.nodes,
                pools=self.pools,
                l2_advertisements=self.l2_advertisements,
                bgp_advertisements=self.bgp_advertisements,
                bgp_peers=self.bgp_peers,
                bfd_profiles=self.bfd_profiles,
                communities=self.communities,
                secrets=self.secrets,
            ),
            namespace=namespace,
            lb_class=lb_class,
            allocator=allocator_factory(),
            compile_fn=compile_fn,
            resources_fn=resources_fn,
            request_fn=request_fn,
            metrics=metrics,
            events=events,
            submit=self._submit if writers > 0 else None,
        )
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._events = events
        self._worker: threading.Thread | None = None
        self._busy = False

    # -- handlers (informer threads: enqueue only) ---------------------------------------

    def _wire(self) -> None:
        def svc_key(obj: Mapping[str, Any]) -> None:
            self.queue.add(src.object_key(obj))

        def deprecated(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> None:
            # MetalLB warns when a Service using legacy annotations is created or updated;
            # never for the initial list (a restart must not re-announce anything).
            legacy = api_services.deprecated_annotations(new)
            if legacy and (old is None or api_services.deprecated_annotations(old) != legacy):
                ours = ", ".join(a.replace("metallb.universe.tf/", "metallb.io/") for a in legacy)
                msg = f"deprecated annotations {', '.join(legacy)}: use {ours}"
                self._events(new, st.EventSpec("Warning", "DeprecatedAnnotation", msg))

        def svc_add(obj: Mapping[str, Any]) -> None:
            svc_key(obj)
            if self._ready.is_set():
                deprecated(None, obj)

        def svc_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
            if not self.reconciler.is_own_write(new):  # the echo of our write changes nothing
                svc_key(new)
                deprecated(old, new)

        self.services.add_handler(on_add=svc_add, on_update=svc_update, on_delete=svc_key)

        def config(*_: Any) -> None:
            self.queue.add(CONFIG_KEY)

        def config_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
            if _config_relevant(old, new):
                self.queue.add(CONFIG_KEY)

        def labels_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
            if _meta_labels(old) != _meta_labels(new):
                self.queue.add(CONFIG_KEY)

        for i in (
            self.l2_advertisements,
            self.bgp_advertisements,
            self.bgp_peers,
            self.bfd_profiles,
            self.communities,
            self.secrets,
        ):
            i.add_handler(on_add=config, on_update=config_update, on_delete=config)
        for i in (self.namespaces, self.nodes):
            i.add_handler(on_add=config, on_update=labels_update, on_delete=config)

        def pool_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
            if _config_relevant(old, new):
                self.queue.add(CONFIG_KEY)
            if old.get("status") != new.get("status") or old is new:
                self.queue.add_after(POOLS_KEY, self._pools_debounce_s)  # revert manual edits

        self.pools.add_handler(on_add=config, on_update=pool_update, on_delete=config)

        def state_deleted(obj: Mapping[str, Any]) -> None:
            if (obj.get("metadata") or {}).get("name") == rec.CONFIG_STATE_NAME:
                self.reconciler.republish = True  # self-heal (MetalLB ConfigurationState)
                self.queue.add(CONFIG_KEY)

        self.config_states.add_handler(on_delete=state_deleted)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start informers and the worker thread (returns at once)."""
        if self._writers > 0:
            self._write_pool = ThreadPoolExecutor(self._writers, thread_name_prefix="writer")
        self._wire()
        for i in (*self.informers, self.config_states):
            i.start()
        self._worker = threading.Thread(target=self._run, name="allocation-worker", daemon=True)
        self._worker.start()

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Stop the worker and the informers."""
        self._stop.set()
        self.queue.shutdown()
        if self._worker is not None:
            self._worker.join(timeout_s)
        if self._write_pool is not None:
            self._write_pool.shutdown(wait=True)
        for i in (*self.informers, self.config_states):
            i.stop(timeout_s=timeout_s)

    def ready(self) -> bool:
        """True once every cache synced and the initial load ran (readiness probe)."""
        return self._ready.is_set()

    def synced(self) -> bool:
        return all(i.has_synced() for i in self.informers)

    def wait_ready(self, timeout_s: float) -> bool:
        return self._ready.wait(timeout_s)

    def cluster_resources(self) -> Any:
        """Current ``ClusterResources`` from the caches (for the webhook)."""
        return self.reconciler.cluster_resources()

    # -- worker --------------------------------------------------------------------------

    def _run(self) -> None:
        deadline = None if self._sync_timeout_s is None else time.monotonic() + self._sync_timeout_s
        while not self.synced():
            if self._stop.wait(0.02):
                return
            if deadline is not None and time.monotonic() > deadline:
                log.error("caches did not sync in %.0f s", self._sync_timeout_s)
                deadline = None
        # Initial load before any Service reconcile: config (+ restore), then everything.
        while not self._stop.is_set():
            if self._process(CONFIG_KEY):
                break
            self._stop.wait(1.0)
        self._ready.set()
        log.info("caches synced, initial load done; processing")
        self.queue.run_worker(self._process)

    def idle(self) -> bool:
        """Nothing queued, delayed or in progress (tests and benchmarks poll this)."""
        return (
            self._ready.is_set()
            and not self._busy
            and not self._inflight
            and not self._deferred
            and len(self.queue) == 0
            and self.queue.pending_delayed() == 0
        )

    # -- writers -------------------------------------------------------------------------

    def _submit(
        self, key: str, write: Callable[[], None], takes: frozenset[str], drops: frozenset[str]
    ) -> None:
        """Queue ``write`` for a writer thread, keeping the API free of duplicates.

        An IP is written to a Service only once no in-flight write still has to remove it from
        another Service's status (the sequential order a single writer would give); such a
        write is deferred and its Service re-queued when that write finishes.
        """
        elsewhere = self._shown_elsewhere(key, takes)
        with self._inflight_lock:
            if elsewhere or any(self._dropping.get(ip, 0) for ip in takes):
                self._deferred.add(key)
                self.queue.add_after(key, DEFER_RETRY_S)  # safety net besides the fast path
                return
            self._deferred.discard(key)
            self._inflight.add(key)
            for ip in drops:
                self._dropping[ip] = self._dropping.get(ip, 0) + 1
        assert self._write_pool is not None
        try:
            self._write_pool.submit(self._run_write, key, write, drops)
        except RuntimeError:  # shutting down: undo the bookkeeping, the key is retried later
            with self._inflight_lock:
                self._inflight.discard(key)
                for ip in drops:
                    self._dropping[ip] -= 1
                    if not self._dropping[ip]:
                        del self._dropping[ip]
            raise

    def _shown_elsewhere(self, key: str, ips: frozenset[str]) -> bool:
        """True if another Service of ours still shows one of ``ips`` without holding it.

        Read from the cache (plus our own last writes): e.g. a Service whose clearing write
        failed and awaits its retry still shows the IP, so nobody else may be shown it yet.
        """
        for ip in ips:
            for other in self.services.by_index(INGRESS_INDEX, ip):
                k = src.object_key(other)
                if k == key or not rec.lb_class_matches(other, self.reconciler.lb_class):
                    continue
                if ip in self.reconciler.shown_ips(k) and ip not in self.reconciler.holds(k):
                    return True
        return False

    def _run_write(self, key: str, write: Callable[[], None], drops: frozenset[str]) -> None:
        try:
            write()
        except errors.Throttled as exc:
            self._metrics.update_errors.inc()
            self.queue.add_after(key, exc.retry_after_s)
        except errors.KubeError as exc:
            self._metrics.update_errors.inc()
            log.info("status write for %r failed, will retry: %s", key, exc)
            self.queue.add_rate_limited(key)
        except Exception:
            self._metrics.update_errors.inc()
            log.exception("status write for %r crashed, will retry", key)
            self.queue.add_rate_limited(key)
        finally:
            with self._inflight_lock:
                self._inflight.discard(key)
                for ip in drops:
                    left = self._dropping.get(ip, 0) - 1
                    if left > 0:
                        self._dropping[ip] = left
                    else:
                        self._dropping.pop(ip, None)
                again = set()
                if key in self._retry_after_write:
                    self._retry_after_write.discard(key)
                    again.add(key)
                if drops and self._deferred:
                    again |= self._deferred
                    self._deferred.clear()
            for k in sorted(again):
                self.queue.add(k)

    def _process(self, key: str) -> bool:
        """Handle one key; False asks the queue to retry it with back-off."""
        with self._inflight_lock:
            if key in self._inflight:  # its last write is still on the wire: look again after
                self._retry_after_write.add(key)
                return True
            self._deferred.discard(key)  # reconsidered now; deferred again if still blocked
        self._busy = True
        try:
            dispatch(
                self.reconciler,
                key,
                add=self.queue.add,
                add_after=self.queue.add_after,
                metrics=self._metrics,
                pools_debounce_s=self._pools_debounce_s,
            )
            return True
        except errors.Throttled as exc:
            self._metrics.update_errors.inc()
            self.queue.add_after(key, exc.retry_after_s)
            return True
        except errors.KubeError as exc:
            self._metrics.update_errors.inc()
            log.info("reconcile %r failed, will retry: %s", key, exc)
            return False
        except Exception:  # a bug must not kill the only worker: log, back off, retry
            self._metrics.update_errors.inc()
            log.exception("reconcile %r crashed, will retry", key)
            return False
        finally:
            self._busy = False


def dispatch(
    reconciler: rec.Reconciler,
    key: str,
    *,
    add: Callable[[str], None],
    add_after: Callable[[str, float], None],
    metrics: ControllerMetrics,
    pools_debounce_s: float = POOLS_DEBOUNCE_S,
) -> None:
    """Process one queue key with ``reconciler``; follow-up keys go to ``add``/``add_after``.

    Raises:
        ingot.errors.KubeError: a write failed (the caller retries the key).
    """
    if key == CONFIG_KEY:
        result = reconciler.reconcile_config()
        for k in result.requeue:
            add(k)
        if result.changed:
            add_after(POOLS_KEY, pools_debounce_s)
        return
    if key == POOLS_KEY:
        reconciler.reconcile_pools()
        return
    start = time.perf_counter()
    try:
        r = reconciler.reconcile_service(key)
    finally:
        metrics.reconcile_duration.observe(time.perf_counter() - start)
        metrics.updates.inc()
    if r.freed:
        for k in sorted(reconciler.pending):
            if k != key:
                add(k)
    if r.pools_changed:
        add_after(POOLS_KEY, pools_debounce_s)
