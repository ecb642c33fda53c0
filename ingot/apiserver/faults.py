"""Test controls of the embedded API server: compaction, dropped watches, injected failures.

Modelled on client-go's ``FakeControllerSource`` hooks (drop watches, reset) and on what a
real apiserver does under load (429 with ``Retry-After``) or during an etcd compaction (410).
Callable from any thread; the server consults ``take()`` on its own thread for each request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from ingot.apiserver import errors

T = TypeVar("T")


@dataclass
class _Rule:
    verbs: frozenset[str] | None
    resources: frozenset[str] | None
    remaining: int

    def matches(self, verb: str, resource: str, subresource: str, group: str) -> bool:
        if self.verbs is not None and verb not in self.verbs:
            return False
        if self.resources is None:
            return True
        names = {resource, f"{resource}.{group}" if group else resource}
        if subresource:
            names = {f"{n}/{subresource}" for n in names} | names
        return bool(names & self.resources)


@dataclass
class _Injection(_Rule):
    status: int = 500
    retry_after_s: int = 1
    message: str = ""


@dataclass
class _Latency(_Rule):
    seconds: float = 0.0


def _error_for(rule: _Injection, verb: str, resource: str) -> errors.ApiError:
    msg = rule.message or f"injected fault for {verb} {resource}"
    if rule.status == 429:
        return errors.too_many_requests(rule.retry_after_s)
    reasons = {
        400: "BadRequest",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        410: "Expired",
        422: "Invalid",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }
    err = errors.ApiError(rule.status, reasons.get(rule.status, "Unknown"), msg)
    if rule.status in (503, 504):
        err.retry_after_s = rule.retry_after_s
    return err


class Faults:
    """Fault controls of one ``APIServer`` (``srv.faults``)."""

    def __init__(self, call: Callable[[Callable[[], Any]], Any], store_getter: Callable[[], Any]):
        self._call = call
        self._store = store_getter
        self._lock = threading.Lock()
        self._injections: list[_Injection] = []
        self._latencies: list[_Latency] = []
        self._drops: list[_Rule] = []

    def compact(self) -> int:
        """Forget the watch history (as an etcd compaction does).

        The next watch resume (or list continue) from an older resourceVersion gets 410
        Expired. Returns the new oldest valid resourceVersion.
        """
        return int(self._call(lambda: self._store().compact()))

    def drop_watches(self) -> int:
        """End every open watch stream now (as an apiserver restart would); returns how many."""
        return int(self._call(lambda: self._store().drop_watches()))

    def drop_events(self, *, count: int = 1, resources: Iterable[str] | None = None) -> None:
        """Lose the next ``count`` watch events of ``resources`` (all when None) in transit.

        The writes are committed (and replayed to a watch that resumes from an older
        resourceVersion); only the open streams miss them, as with client-go's
        ``FakeControllerSource`` dropped events. ``resources`` entries: ``plural`` or
        ``plural.group``.
        """
        with self._lock:
            self._drops.append(
                _Rule(
                    verbs=None,
                    resources=frozenset(resources) if resources is not None else None,
                    remaining=count,
                )
            )

    def should_drop(self, *, group: str, resource: str) -> bool:
        """Consume one matching drop rule (called by the store for each committed change)."""
        with self._lock:
            for rule in self._drops:
                if rule.remaining > 0 and rule.matches("watch", resource, "", group):
                    rule.remaining -= 1
                    self._drops = [r for r in self._drops if r.remaining > 0]
                    return True
        return False

    def inject(
        self,
        *,
        status: int,
        count: int = 1,
        verbs: Iterable[str] | None = None,
        resources: Iterable[str] | None = None,
        retry_after_s: int = 1,
        message: str = "",
    ) -> None:
        """Fail the next ``count`` matching requests with HTTP ``status`` and a Status body.

        Args:
            status: 409 (Conflict), 429 (TooManyRequests + ``Retry-After``), 500, 503, ...
            count: how many matching requests fail.
            verbs: Kubernetes verbs to match (get, list, watch, create, update, patch, delete,
                deletecollection); None matches all.
            resources: ``plural`` (also matches its subresources), ``plural/sub``
                (e.g. ``services/status``) or ``plural.group``; None matches all.
            retry_after_s: the ``Retry-After`` header (seconds) for 429/503.
            message: Status message (default names the fault).
        """
        with self._lock:
            self._injections.append(
                _Injection(
                    verbs=frozenset(verbs) if verbs is not None else None,
                    resources=frozenset(resources) if resources is not None else None,
                    remaining=count,
                    status=status,
                    retry_after_s=retry_after_s,
                    message=message,
                )
            )

    def latency(
        self,
        seconds: float,
        count: int = 1,
        *,
        verbs: Iterable[str] | None = None,
        resources: Iterable[str] | None = None,
    ) -> None:
        """Delay the next ``count`` matching requests by ``seconds`` before serving them."""
        with self._lock:
            self._latencies.append(
                _Latency(
                    verbs=frozenset(verbs) if verbs is not None else None,
                    resources=frozenset(resources) if resources is not None else None,
                    remaining=count,
                    seconds=seconds,
                )
            )

    def clear(self) -> None:
        """Remove all pending injections and latencies."""
        with self._lock:
            self._injections.clear()
            self._latencies.clear()
            self._drops.clear()

    def pending(self) -> int:
        """How many injected failures are still to be served."""
        with self._lock:
            return sum(r.remaining for r in self._injections)

    def take(
        self, *, verb: str, group: str, resource: str, subresource: str
    ) -> tuple[float, errors.ApiError | None]:
        """Consume the faults matching one request: (delay in seconds, error to answer)."""
        delay = 0.0
        error = None
        with self._lock:
            for lat in self._latencies:
                if lat.remaining > 0 and lat.matches(verb, resource, subresource, group):
                    lat.remaining -= 1
                    delay += lat.seconds
            self._latencies = [r for r in self._latencies if r.remaining > 0]
            for inj in self._injections:
                if inj.remaining > 0 and inj.matches(verb, resource, subresource, group):
                    inj.remaining -= 1
                    error = _error_for(inj, verb, resource)
                    break
            self._injections = [r for r in self._injections if r.remaining > 0]
        return delay, error
