"""In-memory object storage: one global resourceVersion, bounded watch history, watchers.

Like etcd behind the kube-apiserver: every committed write bumps one global counter, which
becomes the object's ``metadata.resourceVersion`` (an opaque string to clients). Each write is
appended to a bounded history of ``Change`` values used to replay watches that resume from an
older resourceVersion; a resume from before the history (or before a forced compaction) is
Expired (410). Watchers get every change of their resource through a queue and filter it
themselves (``watching.py``).

Not thread-safe by design: the server touches the store only from its event-loop thread.
"""

from __future__ import annotations

import asyncio
import collections
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

RawObject = dict[str, Any]
TypeKey = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace or "", name)


@dataclass(frozen=True)
class Change:
    """One committed write: ``type`` ADDED/MODIFIED/DELETED, the new (or final) object, the old."""

    rv: int
    type: str
    type_key: TypeKey
    obj: RawObject
    old: RawObject | None
    #: serialised watch lines by (resource, version, event type), shared by all watchers
    lines: dict[tuple[str, str, str, str, bool], bytes] = field(default_factory=dict, compare=False)


@dataclass(eq=False)
class Watcher:
    """A live watch: the store puts every ``Change`` of ``type_key`` on ``queue``."""

    type_key: TypeKey
    queue: asyncio.Queue[Change | None] = field(default_factory=asyncio.Queue)
    closed: bool = False
    #: render objects as meta.k8s.io Tables (``kubectl get -w``)
    table: bool = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


class Store:
    """Objects by resource type and key, the global revision, history and watchers."""

    def __init__(self, *, history_size: int) -> None:
        self.rv = 1
        self.history_size = history_size
        self.objects: dict[TypeKey, dict[ObjKey, RawObject]] = collections.defaultdict(dict)
        self.history: collections.deque[Change] = collections.deque()
        #: a watch or continue from a revision below this is Expired (410)
        self.floor = 1
        self.watchers: set[Watcher] = set()
        #: test hook: True drops a change from live watch streams (see Faults.drop_events)
        self.drop_filter: Callable[[Change], bool] = lambda change: False

    # ---------------------------------------------------------------- reads

    def get(self, type_key: TypeKey, key: ObjKey) -> RawObject | None:
        return self.objects[type_key].get(key)

    def items(self, type_key: TypeKey, namespace: str | None = None) -> Iterator[RawObject]:
        """Objects of a type (in one namespace if given), sorted by (namespace, name)."""
        bucket = self.objects[type_key]
        for key in sorted(bucket):
            if namespace is None or key[0] == namespace:
                yield bucket[key]

    def items_at(
        self, type_key: TypeKey, rv: int, namespace: str | None = None
    ) -> Iterator[RawObject]:
        """Objects of a type as they were at revision ``rv`` (needs ``rv >= floor``), sorted.

        Rebuilt by undoing, newest first, the changes after ``rv`` kept in the history.
        """
        state = dict(self.objects[type_key])
        for change in reversed(self.history):
            if change.rv <= rv:
                break
            if change.type_key != type_key:
                continue
            meta = change.obj["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            if change.type == "ADDED" or change.old is None:
                state.pop(key, None)
            else:
                state[key] = change.old
        for key in sorted(state):
            if namespace is None or key[0] == namespace:
                yield state[key]

    # ---------------------------------------------------------------- writes

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, type_key: TypeKey, key: ObjKey, obj: RawObject, old: RawObject | None) -> None:
        """Store ``obj`` (whose resourceVersion the caller set from ``next_rv``) and publish."""
        self.objects[type_key][key] = obj
        self._publish(Change(self.rv, "MODIFIED" if old else "ADDED", type_key, obj, old))

    def remove(self, type_key: TypeKey, key: ObjKey, final: RawObject, old: RawObject) -> None:
        """Delete the object; ``final`` is its last state carrying the deletion revision."""
        self.objects[type_key].pop(key, None)
        self._publish(Change(self.rv, "DELETED", type_key, final, old))

    def drop_type(self, type_key: TypeKey) -> None:
        self.objects.pop(type_key, None)

    def _publish(self, change: Change) -> None:
        self.history.append(change)
        while len(self.history) > self.history_size:
            evicted = self.history.popleft()
            self.floor = evicted.rv
        if self.drop_filter(change):
            return  # lost in transit: committed and in history, but no live watcher sees it
        for watcher in list(self.watchers):
            if watcher.type_key == change.type_key and not watcher.closed:
                watcher.queue.put_nowait(change)

    # ---------------------------------------------------------------- watch support

    def replay(self, type_key: TypeKey, since_rv: int) -> list[Change]:
        """Changes of ``type_key`` after ``since_rv`` (the caller checked ``since_rv >= floor``)."""
        return [c for c in self.history if c.rv > since_rv and c.type_key == type_key]

    def compact(self) -> int:
        """Forget all history: a resume from any earlier revision is Expired. Returns the floor."""
        self.rv += 1
        self.history.clear()
        self.floor = self.rv
        return self.floor

    def drop_watches(self) -> int:
        """Close every watch stream (as when an apiserver restarts); returns how many."""
        count = 0
        for watcher in list(self.watchers):
            if not watcher.closed:
                watcher.close()
                count += 1
        self.watchers.clear()
        return count


def clone(obj: RawObject) -> RawObject:
    """A deep copy (stored objects are never handed out or mutated in place)."""
    return copy.deepcopy(obj)
