"""Informer: a reflector (list, then watch from the list's resourceVersion) feeding a cache.

The pattern is client-go's ``tools/cache`` (Reflector + Indexer + handlers), on a plain thread
and the ``Source`` seam, for built-in and custom kinds alike (objects are raw dicts).

Guarantees:

* **Resume.** After a watch ends (server timeout, dropped connection, API server restart) the
  informer watches again from the last resourceVersion it saw (from an event or a BOOKMARK),
  so nothing is replayed and nothing is missed.
* **Relist on 410.** When the server says the resourceVersion is too old (``errors.Expired``,
  whether as HTTP 410 or as an ERROR event in the stream) the informer lists again and diffs
  the result against its cache: objects that vanished during the gap produce ``on_delete``,
  changed objects ``on_update(old, new)``, new ones ``on_add``. Unchanged objects (same
  resourceVersion) produce nothing. This is what the bundled ``Watch`` and
  ``kubernetes.informer`` do not do (python-k8s-stack.md §1.2).
* **Back-off.** Any other failure (5xx, 429, connection refused, 403 from missing RBAC, a
  CRD not installed yet) is logged and retried with exponential back-off plus jitter, bounded
  by ``Backoff.max_s``; 429 waits at least ``Retry-After``. The informer never dies of an API
  error; it resets its back-off once events flow again.
* **Sync barrier.** ``has_synced()`` becomes true once the first list is in the cache and its
  ``on_add`` handlers have run; ``wait_for_sync`` blocks until then (restore state before the
  first reconcile: case C33).
* **Handlers** run on the informer's thread, after the cache has been updated, serially and
  in event order. They must be quick (enqueue a key into a ``WorkQueue``); exceptions are
  logged and swallowed. A handler added after start first receives ``on_add`` for every
  cached object.
* **Resync** (optional, ``resync_period_s``): every period each cached object is re-delivered
  as ``on_update(obj, obj)``, so level-triggered consumers re-check everything.

Cached objects are shared: treat them as immutable. Constructors start nothing; ``start()``
starts the thread and ``stop()`` ends it (closing the open watch).
"""

from __future__ import annotations

import builtins
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ingot import errors
from ingot.kube import source as src
from ingot.kube import timing

log = logging.getLogger(__name__)

RawObject = src.RawObject
OnAdd = Callable[[RawObject], None]
OnUpdate = Callable[[RawObject, RawObject], None]
OnDelete = Callable[[RawObject], None]
IndexFunc = Callable[[RawObject], Iterable[str]]
"""Maps an object to the index values it is filed under (e.g. its namespace, its IPs)."""


# --------------------------------------------------------------------------------------------
# Index functions


def index_by_namespace(obj: RawObject) -> list[str]:
    """Index value: the object's namespace (cluster-scoped objects are not indexed)."""
    ns = (obj.get("metadata") or {}).get("namespace")
    return [str(ns)] if ns else []


def index_by_label(label: str) -> IndexFunc:
    """Index function filing objects under the value of ``label`` (if present).

    Example: ``index_by_label("kubernetes.io/service-name")`` groups EndpointSlices by Service.
    """

    def index(obj: RawObject) -> list[str]:
        value = ((obj.get("metadata") or {}).get("labels") or {}).get(label)
        return [str(value)] if value is not None else []

    return index


def index_by_ingress_ip(obj: RawObject) -> list[str]:
    """Index values: a Service's ``status.loadBalancer.ingress[].ip`` addresses."""
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [str(i["ip"]) for i in ingress if isinstance(i, dict) and i.get("ip")]


# --------------------------------------------------------------------------------------------
# Back-off


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off with jitter: ``min(max_s, initial_s * factor**n) * (1 + jitter*u)``.

    ``u`` is uniform in [0, 1). Defaults follow client-go's reflector (800 ms initial, 30 s cap).

    Attributes:
        initial_s: delay after the first failure, seconds.
        max_s: upper bound before jitter, seconds.
        factor: growth per consecutive failure.
        jitter: extra random fraction (0.2 -> up to +20 %), spreads retries of many clients.
    """

    initial_s: float = 0.8
    max_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2

    def delay_s(self, failures: int, rng: random.Random) -> float:
        """Delay before retry number ``failures`` (1 = first failure), seconds."""
        if failures <= 0:
            return 0.0
        base = min(self.max_s, self.initial_s * self.factor ** min(failures - 1, 64))
        return base * (1.0 + self.jitter * rng.random())


# --------------------------------------------------------------------------------------------
# Store


class Store:
    """Thread-safe cache of objects by key (``"ns/name"`` or ``"name"``) with secondary indexes.

    Args:
        indexers: name -> ``IndexFunc``; ``by_index(name, value)`` returns the objects filed
            under ``value``.
    """

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._lock = threading.RLock()
        self._items: dict[str, RawObject] = {}
        self._indexers: dict[str, IndexFunc] = dict(indexers or {})
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexers}

    def _values(self, name: str, obj: RawObject) -> set[str]:
        try:
            return set(self._indexers[name](obj))
        except Exception:  # a broken index function must not break the cache
            log.exception("index %r failed on %s", name, src.object_key(obj))
            return set()

    def _unindex(self, key: str, obj: RawObject) -> None:
        for name, index in self._indices.items():
            for value in self._values(name, obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    def _index(self, key: str, obj: RawObject) -> None:
        for name, index in self._indices.items():
            for value in self._values(name, obj):
                index.setdefault(value, set()).add(key)

    def upsert(self, obj: RawObject) -> RawObject | None:
        """Insert or replace ``obj``; returns the previous object with that key, if any."""
        key = src.object_key(obj)
        with self._lock:
            old = self._items.get(key)
            if old is not None:
                self._unindex(key, old)
            self._items[key] = obj
            self._index(key, obj)
            return old

    def remove(self, key: str) -> RawObject | None:
        """Remove the object at ``key``; returns it (None if absent)."""
        with self._lock:
            removed = self._items.pop(key, None)
            if removed is not None:
                self._unindex(key, removed)
            return removed

    def replace(
        self, items: Iterable[RawObject]
    ) -> builtins.list[tuple[str, RawObject | None, RawObject | None]]:
        """Replace the whole content; returns the diff as ``(type, old, new)`` triples.

        ``type`` is ``"ADDED"`` (old None), ``"MODIFIED"`` (resourceVersion changed) or
        ``"DELETED"`` (new None). Objects whose resourceVersion is unchanged are kept as they
        are and produce no entry.
        """
        new_items = {src.object_key(o): o for o in items}
        diffs: builtins.list[tuple[str, RawObject | None, RawObject | None]] = []
        with self._lock:
            for key, gone in list(self._items.items()):
                if key not in new_items:
                    self.remove(key)
                    diffs.append(("DELETED", gone, None))
            for key, obj in new_items.items():
                old = self._items.get(key)
                if old is None:
                    self.upsert(obj)
                    diffs.append(("ADDED", None, obj))
                elif src.resource_version_of(old) != src.resource_version_of(obj) or not (
                    src.resource_version_of(obj)
                ):
                    self.upsert(obj)
                    diffs.append(("MODIFIED", old, obj))
        return diffs

    def get(self, key: str) -> RawObject | None:
        """The object at ``key`` or None."""
        with self._lock:
            return self._items.get(key)

    def list(self) -> builtins.list[RawObject]:
        """All objects (order unspecified)."""
        with self._lock:
            return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        """All keys."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def by_index(self, index_name: str, value: str) -> builtins.list[RawObject]:
        """Objects filed under ``value`` in index ``index_name``.

        Raises:
            KeyError: no such index.
        """
        with self._lock:
            keys = self._indices[index_name].get(value, set())
            return [self._items[k] for k in sorted(keys)]

    def index_values(self, index_name: str) -> builtins.list[str]:
        """All values present in index ``index_name``."""
        with self._lock:
            return sorted(self._indices[index_name])


# --------------------------------------------------------------------------------------------
# Informer


@dataclass(frozen=True)
class _Handler:
    on_add: OnAdd | None
    on_update: OnUpdate | None
    on_delete: OnDelete | None


class Informer:
    """List+watch one kind into a ``Store`` and call handlers on changes (see module docstring).

    Args:
        source: the API seam (``KubeSource`` or ``FakeSource``).
        kind: what to watch, e.g. ``source.SERVICE`` or ``source.IP_ADDRESS_POOL``.
        namespace: restrict to one namespace (None: all namespaces / cluster-scoped).
        label_selector: Kubernetes label selector string, e.g. ``"app=web"``.
        field_selector: field selector string, e.g. ``"metadata.name=node-a"``.
        indexers: secondary indexes, name -> ``IndexFunc``.
        resync_period_s: re-deliver every cached object as ``on_update(o, o)`` this often
            (None: never).
        watch_timeout_s: server-side timeout of each watch request, seconds (client-go uses
            5-10 min; the watch is then resumed from the last resourceVersion).
        backoff: retry policy for failures other than 410.
        clock: time source (``FakeThreadClock`` in tests).
        rng: random source for jitter (seeded in tests).
        name: for logs; defaults to the kind's plural.
    """

    def __init__(
        self,
        source: src.Source,
        kind: src.Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        resync_period_s: float | None = None,
        watch_timeout_s: float = 300.0,
        backoff: Backoff | None = None,
        clock: timing.ThreadClock | None = None,
        rng: random.Random | None = None,
        name: str | None = None,
    ) -> None:
        self._source = source
        self.kind = kind
        self._namespace = namespace
        self._label_selector = label_selector
        self._field_selector = field_selector
        self.store = Store(indexers)
        self._resync_period_s = resync_period_s
        self._watch_timeout_s = watch_timeout_s
        self._backoff = backoff or Backoff()
        self._clock: timing.ThreadClock = clock or timing.RealThreadClock()
        self._rng = rng or random.Random()
        self.name = name or kind.plural
        self._handlers: builtins.list[_Handler] = []
        self._dispatch_lock = threading.RLock()
        self._cond = threading.Condition()
        self._stopped = False
        self._started = False
        self._synced = threading.Event()
        self._stream: src.WatchStream | None = None
        self._threads: builtins.list[threading.Thread] = []
        self._resource_version = ""
        self._lists = 0
        self._watches = 0
        self._failures = 0
        self._last_error: errors.KubeError | None = None
        self._retry_at: float | None = None
        self._expired_streak = 0

    # -- public API ----------------------------------------------------------------------

    def add_handler(
        self,
        *,
        on_add: OnAdd | None = None,
        on_update: OnUpdate | None = None,
        on_delete: OnDelete | None = None,
    ) -> None:
        """Register callbacks. If objects are already cached, ``on_add`` is replayed for each."""
        handler = _Handler(on_add, on_update, on_delete)
        with self._dispatch_lock:
            self._handlers.append(handler)
            if on_add is not None:
                for obj in self.store.list():
                    self._call(on_add, obj)

    def start(self) -> None:
        """Start the reflector thread (and the resync thread, if configured). Idempotent."""
        with self._cond:
            if self._started or self._stopped:
                return
            self._started = True
        t = threading.Thread(target=self._run, name=f"informer-{self.name}", daemon=True)
        self._threads.append(t)
        if self._resync_period_s:
            self._threads.append(
                threading.Thread(target=self._resync_loop, name=f"resync-{self.name}", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Stop the threads: close the open watch and wait up to ``timeout_s`` for them."""
        with self._cond:
            self._stopped = True
            stream = self._stream
            self._cond.notify_all()
        if stream is not None:
            stream.close()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout_s)

    def has_synced(self) -> bool:
        """True once the first list is cached and its ``on_add`` handlers have run."""
        return self._synced.is_set()

    def wait_for_sync(self, timeout_s: float | None = None) -> bool:
        """Block until ``has_synced()`` (real time, at most ``timeout_s``); returns it."""
        return self._synced.wait(timeout_s)

    def get(self, key: str) -> RawObject | None:
        """Cached object by key (``"ns/name"`` or ``"name"``), or None."""
        return self.store.get(key)

    def get_by_name(self, name: str, namespace: str | None = None) -> RawObject | None:
        """Cached object by name (and namespace for namespaced kinds), or None."""
        return self.store.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> builtins.list[RawObject]:
        """All cached objects."""
        return self.store.list()

    def keys(self) -> builtins.list[str]:
        """All cached keys."""
        return self.store.keys()

    def by_index(self, index_name: str, value: str) -> builtins.list[RawObject]:
        """Cached objects filed under ``value`` in index ``index_name``."""
        return self.store.by_index(index_name, value)

    @property
    def resource_version(self) -> str:
        """The last resourceVersion seen (list, event or bookmark)."""
        with self._cond:
            return self._resource_version

    @property
    def list_count(self) -> int:
        """How many successful lists were done (1 + relists)."""
        with self._cond:
            return self._lists

    @property
    def watch_count(self) -> int:
        """How many watch streams were opened."""
        with self._cond:
            return self._watches

    @property
    def retry_at(self) -> float | None:
        """Clock time of the pending retry while backing off (None when not waiting)."""
        with self._cond:
            return self._retry_at

    @property
    def last_error(self) -> errors.KubeError | None:
        """The most recent API error (None if none so far)."""
        with self._cond:
            return self._last_error

    # -- internals -----------------------------------------------------------------------

    def _call(self, fn: Callable[..., None], *args: RawObject) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("informer %s: handler %r failed", self.name, fn)

    def _dispatch(self, etype: str, old: RawObject | None, new: RawObject | None) -> None:
        with self._dispatch_lock:
            for h in self._handlers:
                if etype == "ADDED" and h.on_add is not None and new is not None:
                    self._call(h.on_add, new)
                elif etype == "MODIFIED" and h.on_update is not None and new is not None:
                    self._call(h.on_update, old if old is not None else new, new)
                elif etype == "DELETED" and h.on_delete is not None:
                    obj = new if new is not None else old
                    if obj is not None:
                        self._call(h.on_delete, obj)

    def _wait(self, delay_s: float, *, retry: bool = True) -> bool:
        """Sleep ``delay_s`` clock seconds unless stopped; returns False when stopped."""
        with self._cond:
            deadline = self._clock.now() + delay_s
            if retry:
                self._retry_at = deadline
            try:
                while not self._stopped:
                    remaining = deadline - self._clock.now()
                    if remaining <= 0:
                        return True
                    self._clock.wait(self._cond, remaining)
                return False
            finally:
                if retry:
                    self._retry_at = None

    def _is_stopped(self) -> bool:
        with self._cond:
            return self._stopped

    def _relist(self) -> str:
        result = self._source.list(
            self.kind,
            namespace=self._namespace,
            label_selector=self._label_selector,
            field_selector=self._field_selector,
        )
        with self._dispatch_lock:
            diffs = self.store.replace(result.items)
            for etype, old, new in diffs:
                self._dispatch(etype, old, new)
        with self._cond:
            self._lists += 1
            self._resource_version = result.resource_version
        if not self._synced.is_set():
            self._synced.set()
            log.info("informer %s: synced, %d objects", self.name, len(self.store))
        elif diffs:
            log.info("informer %s: relist applied %d changes", self.name, len(diffs))
        return result.resource_version

    def _apply(self, event: src.WatchEvent) -> None:
        obj = event.object
        key = src.object_key(obj)
        with self._dispatch_lock:
            if event.type == "DELETED":
                old = self.store.remove(key)
                if old is not None:
                    self._dispatch("DELETED", old, obj)
            else:
                old = self.store.upsert(obj)
                if old is None:
                    self._dispatch("ADDED", None, obj)
                elif src.resource_version_of(old) != src.resource_version_of(obj):
                    self._dispatch("MODIFIED", old, obj)

    def _watch_once(self, rv: str) -> tuple[str, int]:
        """Run one watch from ``rv``; returns (last rv, events received). Raises KubeError."""
        stream = self._source.watch(
            self.kind,
            resource_version=rv,
            namespace=self._namespace,
            label_selector=self._label_selector,
            field_selector=self._field_selector,
            # Spread re-watches of many informers/processes: timeout in [T, 2T) (client-go).
            timeout_s=self._watch_timeout_s * (1.0 + self._rng.random()),
            allow_bookmarks=True,
        )
        with self._cond:
            self._watches += 1
            if self._stopped:
                stream.close()
                return rv, 0
            self._stream = stream
        count = 0
        try:
            for event in stream:
                if self._is_stopped():
                    break
                count += 1
                if event.type != "BOOKMARK":
                    self._apply(event)
                new_rv = event.resource_version
                if new_rv:
                    rv = new_rv
                    with self._cond:
                        self._resource_version = rv
                        self._failures = 0
                        self._expired_streak = 0
        finally:
            with self._cond:
                self._stream = None
            stream.close()
        return rv, count

    def _run(self) -> None:
        need_list = True
        rv = ""
        quick_empty_ends = 0
        while not self._is_stopped():
            try:
                if need_list:
                    rv = self._relist()
                    need_list = False
                    with self._cond:
                        self._failures = 0
                # Resume from the last version actually applied (events or bookmarks), also
                # after a stream that broke mid-way: never replay into the cache.
                rv = self.resource_version or rv
                started = self._clock.now()
                rv, count = self._watch_once(rv)
                # A clean end (timeout, server restart): resume at once from rv. A server
                # that keeps closing instantly without events gets back-off, not a hot loop.
                if count == 0 and self._clock.now() - started < 1.0:
                    quick_empty_ends += 1
                else:
                    quick_empty_ends = 0
                if quick_empty_ends >= 3 and not self._wait(
                    self._backoff.delay_s(quick_empty_ends - 2, self._rng)
                ):
                    return
            except errors.Expired as exc:
                if self._is_stopped():
                    return
                log.info("informer %s: %s; relisting", self.name, exc)
                with self._cond:
                    self._last_error = exc
                    self._expired_streak += 1
                    streak = self._expired_streak
                need_list = True
                # Expired again right after a relist, with no event in between (a broken
                # server or a compaction storm): back off instead of hot-looping.
                if streak > 1 and not self._wait(self._backoff.delay_s(streak - 1, self._rng)):
                    return
            except errors.KubeError as exc:
                if self._is_stopped():
                    return
                with self._cond:
                    self._failures += 1
                    self._last_error = exc
                    failures = self._failures
                delay = self._backoff.delay_s(failures, self._rng)
                if isinstance(exc, errors.Throttled):
                    delay = max(delay, exc.retry_after_s)
                log.warning(
                    "informer %s: %s; retrying in %.2fs (failure %d)",
                    self.name,
                    exc,
                    delay,
                    failures,
                )
                if not self._wait(delay):
                    return
            except Exception:
                if self._is_stopped():
                    return
                with self._cond:
                    self._failures += 1
                    failures = self._failures
                log.exception("informer %s: unexpected error", self.name)
                if not self._wait(self._backoff.delay_s(failures, self._rng)):
                    return

    def _resync_loop(self) -> None:
        period = float(self._resync_period_s or 0)
        while self._wait(period, retry=False):
            if not self.has_synced():
                continue
            with self._dispatch_lock:
                for obj in self.store.list():
                    self._dispatch("MODIFIED", obj, obj)


def wait_for_cache_sync(informers: Iterable[Informer], *, timeout_s: float) -> bool:
    """Wait (real time, ``timeout_s`` in total) until every informer has synced."""
    deadline = time.monotonic() + timeout_s
    for inf in informers:
        if not inf.wait_for_sync(max(0.0, deadline - time.monotonic())):
            return False
    return True
