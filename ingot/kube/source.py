"""The one seam between ingot and the Kubernetes API: raw-dict CRUD, list and watch.

Everything above this module (informers, work queue consumers, the Lease elector, the event
recorder, controller and speaker) talks to Kubernetes only through the ``Source`` protocol:

* ``KubeSource`` implements it over the official ``kubernetes`` client (37.x): its
  ``ApiClient`` supplies configuration, authentication, TLS, the connection pool and
  ``ApiException``; requests go through ``ApiClient.param_serialize``/``call_api`` with raw
  JSON bodies. The generated typed methods (``CoreV1Api.read_namespaced_service`` ...) are
  deliberately *not* used: they validate every response into pydantic models (slow, and lossy
  for fields the model does not know) and they differ between core and custom kinds. Here a
  core ``Service`` and a ``metallb.io`` ``IPAddressPool`` travel the same path, as plain
  ``dict`` objects exactly as the server sent them. Model objects passed in as bodies are
  converted with ``ApiClient.sanitize_for_serialization``.
* ``FakeSource`` implements it in memory for unit tests (resourceVersions, 409 on stale
  writes, status subresource, watch with resume/bookmarks/410, fault injection).

Vendor errors are mapped here, and only here, to ``ingot.errors`` (``raise ... from exc``):
409 -> ``Conflict``, 404 -> ``NotFound``, 410 -> ``Expired``, 429 -> ``Throttled`` (with
``retry_after_s`` from ``Retry-After``), 5xx / connection errors / timeouts -> ``Unavailable``,
anything else -> ``KubeError`` with the HTTP status and the ``Status.reason`` of the body.

PATCH always sends an explicit content type (the client would otherwise pick json-patch and
rewrite dict bodies to strategic merge, see python-k8s-stack.md §1.2): ``"merge"``
(RFC 7386, the default, valid for every kind), ``"strategic"`` (built-in kinds only) or
``"json"`` (RFC 6902, a list of operations).

Objects are ``RawObject`` dicts. Treat those returned by informers as immutable (copy before
changing); those returned by ``get``/``create``/... belong to the caller.
"""

from __future__ import annotations

import copy
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from ingot import errors
from ingot.apiserver.errors import ApiError
from ingot.apiserver.patching import json_patch, merge_patch, strategic_merge_patch

log = logging.getLogger(__name__)

RawObject = dict[str, Any]
"""A Kubernetes object as the API serves it (camelCase keys), e.g. ``{"metadata": {...}}``."""

PatchType = Literal["merge", "strategic", "json"]
EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]

PATCH_CONTENT_TYPES: Mapping[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


@dataclass(frozen=True)
class Kind:
    """A resource type: where it lives in the API and how it behaves.

    Attributes:
        group: API group, ``""`` for the core group (``/api/v1``).
        version: API version within the group, e.g. ``"v1"``.
        plural: the resource name in URLs, e.g. ``"services"``.
        kind: the ``kind`` field of its objects, e.g. ``"Service"``.
        namespaced: whether objects live in a namespace.
        has_status: whether the resource has a ``/status`` subresource (then the main endpoint
            ignores ``.status`` and ``/status`` changes only ``.status``).
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    has_status: bool = False

    @property
    def api_version(self) -> str:
        """``apiVersion`` of the kind's objects: ``"v1"`` or ``"group/version"``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, *, namespace: str | None = None, name: str | None = None, subresource: str = ""
    ) -> str:
        """The URL path of the collection or of one object (``namespace`` None: all namespaces).

        Raises:
            ValueError: a namespaced object path without a namespace.
        """
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        elif self.namespaced and name is not None:
            raise ValueError(f"{self.kind} {name!r}: namespaced kind needs a namespace")
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


# Core and built-in kinds ingot touches.
SERVICE = Kind("", "v1", "services", "Service", has_status=True)
ENDPOINT_SLICE = Kind("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
NODE = Kind("", "v1", "nodes", "Node", namespaced=False, has_status=True)
NAMESPACE = Kind("", "v1", "namespaces", "Namespace", namespaced=False, has_status=True)
SECRET = Kind("", "v1", "secrets", "Secret")
CONFIG_MAP = Kind("", "v1", "configmaps", "ConfigMap")
EVENT = Kind("", "v1", "events", "Event")
EVENT_V1 = Kind("events.k8s.io", "v1", "events", "Event")
LEASE = Kind("coordination.k8s.io", "v1", "leases", "Lease")

# metallb.io custom resources (MetalLB's API: v1beta1, BGPPeer v1beta2).
METALLB_GROUP = "metallb.io"
IP_ADDRESS_POOL = Kind(METALLB_GROUP, "v1beta1", "ipaddresspools", "IPAddressPool", has_status=True)
L2_ADVERTISEMENT = Kind(METALLB_GROUP, "v1beta1", "l2advertisements", "L2Advertisement")
BGP_ADVERTISEMENT = Kind(METALLB_GROUP, "v1beta1", "bgpadvertisements", "BGPAdvertisement")
BGP_PEER = Kind(METALLB_GROUP, "v1beta2", "bgppeers", "BGPPeer")
BFD_PROFILE = Kind(METALLB_GROUP, "v1beta1", "bfdprofiles", "BFDProfile")
COMMUNITY = Kind(METALLB_GROUP, "v1beta1", "communities", "Community")
# ... and the status kinds MetalLB 0.14+ reports through (written by ingot's components).
CONFIGURATION_STATE = Kind(
    METALLB_GROUP, "v1beta1", "configurationstates", "ConfigurationState", has_status=True
)
SERVICE_L2_STATUS = Kind(
    METALLB_GROUP, "v1beta1", "servicel2statuses", "ServiceL2Status", has_status=True
)
SERVICE_BGP_STATUS = Kind(
    METALLB_GROUP, "v1beta1", "servicebgpstatuses", "ServiceBGPStatus", has_status=True
)

STATUS_KEEPS_METADATA: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "services"): (),
    ("", "nodes"): (),
    ("", "pods"): ("ownerReferences",),
}
"""(group, plural) of built-in kinds whose ``/status`` writes keep metadata changes, with the
extra metadata fields their status strategy resets (Kubernetes ``pkg/registry/core/{service,
node,pod}/strategy.go`` ``PrepareForUpdate`` resets only ``spec``; as ``ingot.apiserver``)."""

_SYSTEM_META = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "namespace",
    "name",
)
"""ObjectMeta fields no update can change (generic registry ``rest.BeforeUpdate``)."""


def _status_meta(kind: Kind, sent: Mapping[str, Any], stored: Mapping[str, Any]) -> RawObject:
    """Metadata after a ``/status`` write of ``kind``: the sent one where the strategy keeps it."""
    keep_also = STATUS_KEEPS_METADATA.get((kind.group, kind.plural))
    if keep_also is None:
        return copy.deepcopy(dict(stored))
    out = copy.deepcopy(dict(sent))
    for f in _SYSTEM_META + keep_also:
        if f in stored:
            out[f] = copy.deepcopy(stored[f])
        else:
            out.pop(f, None)
    return out


BUILTIN_KINDS: tuple[Kind, ...] = (
    SERVICE,
    ENDPOINT_SLICE,
    NODE,
    NAMESPACE,
    SECRET,
    CONFIG_MAP,
    EVENT,
    EVENT_V1,
    LEASE,
)
METALLB_KINDS: tuple[Kind, ...] = (
    IP_ADDRESS_POOL,
    L2_ADVERTISEMENT,
    BGP_ADVERTISEMENT,
    BGP_PEER,
    BFD_PROFILE,
    COMMUNITY,
)


@dataclass(frozen=True)
class ListResult:
    """One consistent list: the items and the collection ``resourceVersion`` to watch from."""

    items: list[RawObject]
    resource_version: str


@dataclass(frozen=True)
class WatchEvent:
    """One watch event. ``BOOKMARK`` objects carry only ``metadata.resourceVersion``."""

    type: EventType
    object: RawObject

    @property
    def resource_version(self) -> str:
        """The event object's ``metadata.resourceVersion`` (``""`` if absent)."""
        return str(self.object.get("metadata", {}).get("resourceVersion", ""))


class WatchStream(Protocol):
    """An open watch: iterate for events; ``close()`` from any thread ends the iteration.

    Iteration raises ``errors.Expired`` when the server reports 410 (the resourceVersion was
    compacted: relist), other ``errors.KubeError`` subclasses for other failures, and simply
    ends when the server closes the stream (``timeoutSeconds``, restart).
    """

    def __iter__(self) -> Iterator[WatchEvent]: ...

    def close(self) -> None: ...


class Source(Protocol):
    """The Kubernetes API as ingot uses it. All objects are raw dicts; errors are ingot's."""

    def list(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ListResult: ...

    def watch(
        self,
        kind: Kind,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_s: float = 300.0,
        allow_bookmarks: bool = True,
    ) -> WatchStream: ...

    def get(self, kind: Kind, name: str, *, namespace: str | None = None) -> RawObject: ...

    def create(self, kind: Kind, obj: Any, *, namespace: str | None = None) -> RawObject: ...

    def replace(self, kind: Kind, obj: Any, *, namespace: str | None = None) -> RawObject: ...

    def replace_status(
        self, kind: Kind, obj: Any, *, namespace: str | None = None
    ) -> RawObject: ...

    def patch(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
    ) -> RawObject: ...

    def patch_status(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
    ) -> RawObject: ...

    def delete(
        self,
        kind: Kind,
        name: str,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
    ) -> None: ...


def object_key(obj: Mapping[str, Any]) -> str:
    """The cache key of an object: ``"namespace/name"``, or ``"name"`` when cluster-scoped.

    Same as client-go's ``MetaNamespaceKeyFunc``.
    """
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or ""
    name = meta.get("name") or ""
    return f"{ns}/{name}" if ns else str(name)


def split_key(key: str) -> tuple[str | None, str]:
    """Inverse of ``object_key``: ``"ns/n"`` -> ``("ns", "n")``; ``"n"`` -> ``(None, "n")``."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def resource_version_of(obj: Mapping[str, Any]) -> str:
    """``metadata.resourceVersion`` of ``obj`` (``""`` when absent)."""
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


# --------------------------------------------------------------------------------------------
# Error mapping


def _status_body(body: Any) -> dict[str, Any]:
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return {"message": body[:500]}
        if isinstance(parsed, dict):
            return parsed
    return {}


def _retry_after_s(headers: Any, default_s: float = 1.0) -> float:
    value = None
    if headers is not None:
        try:
            value = headers.get("Retry-After")
        except AttributeError:
            value = None
    try:
        return max(0.0, float(value)) if value is not None else default_s
    except (TypeError, ValueError):
        return default_s


def error_from_status(
    status: int, *, reason: str, message: str, what: str, retry_after_s: float = 1.0
) -> errors.KubeError:
    """Build the ingot error for an HTTP ``status`` (see the module docstring for the mapping).

    Args:
        status: HTTP status code (0 when no response was received).
        reason: ``Status.reason`` (e.g. ``"Conflict"``, ``"AlreadyExists"``, ``"Expired"``).
        message: ``Status.message`` or a description of the transport failure.
        what: the request, e.g. ``"PUT services demo/web"``; prefixed to the message.
        retry_after_s: for 429, the server's ``Retry-After`` in seconds.
    """
    text = f"{what}: {status or ''} {reason}: {message}".replace("  ", " ")
    if status == 409:
        return errors.Conflict(text, status=status, reason=reason)
    if status == 404:
        return errors.NotFound(text, status=status, reason=reason)
    if status == 410:
        return errors.Expired(text, status=status, reason=reason or "Expired")
    if status == 429:
        return errors.Throttled(
            text, status=status, reason=reason or "TooManyRequests", retry_after_s=retry_after_s
        )
    if status == 0 or status >= 500:
        return errors.Unavailable(text, status=status, reason=reason)
    return errors.KubeError(text, status=status, reason=reason)


def map_api_exception(exc: ApiException, *, what: str) -> errors.KubeError:
    """Translate a ``kubernetes`` ``ApiException`` into the ``ingot.errors`` hierarchy."""
    status = int(exc.status or 0)
    body = _status_body(exc.body)
    return error_from_status(
        status,
        reason=str(body.get("reason") or exc.reason or ""),
        message=str(body.get("message") or ""),
        what=what,
        retry_after_s=_retry_after_s(exc.headers),
    )


# --------------------------------------------------------------------------------------------
# The real source


class KubeSource:
    """``Source`` over the official client's ``ApiClient`` (thread-safe; share one per process).

    urllib3, under the client, by default silently sleeps and retries on 429/503 with a
    ``Retry-After`` header: a renewal could block for seconds without the caller knowing.
    ``KubeSource`` therefore sets the client's retry policy to "retry connection errors
    twice and idempotent reads once, never an HTTP status", so 429 and 5xx reach the caller
    as ``Throttled`` / ``Unavailable`` and the informer, elector and work queue own every
    retry.

    Args:
        api_client: a configured ``kubernetes.client.ApiClient`` (from kubeconfig, in-cluster
            config, or ``APIServer.api_client()`` in tests). Its retry policy is changed (above).
        request_timeout_s: total timeout of one non-watch request, seconds.
        connect_timeout_s: connect timeout of watch requests, seconds (their read timeout is
            the watch's ``timeout_s`` plus ``watch_read_slack_s``).
        watch_read_slack_s: extra read time granted to a watch beyond its server-side timeout,
            so a silent dead connection is noticed but a healthy idle one is not cut.
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        request_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        watch_read_slack_s: float = 30.0,
    ) -> None:
        self._client = api_client
        self._api: Any = api_client  # the generated client is untyped
        _surface_http_statuses(self._api)
        self._request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._watch_read_slack_s = watch_read_slack_s

    @property
    def api_client(self) -> ApiClient:
        """The underlying official client."""
        return self._client

    # -- plumbing ------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: Any = None,
        stream: bool = False,
    ) -> Any:
        headers: dict[str, Any] = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
            body = self._api.sanitize_for_serialization(body)
        try:
            serialized = self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or None,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            resp = self._api.call_api(
                *serialized,
                _request_timeout=timeout if timeout is not None else self._request_timeout_s,
            )
        except ApiException as exc:
            raise map_api_exception(exc, what=what) from exc
        except (Urllib3Error, OSError) as exc:
            raise errors.Unavailable(f"{what}: {exc}", status=0, reason=type(exc).__name__) from exc
        resp_any: Any = resp
        if not 200 <= resp.status <= 299:
            try:
                data = resp_any.read()
            except (Urllib3Error, OSError):
                data = b""
            body_status = _status_body(data)
            raise error_from_status(
                resp.status,
                reason=str(body_status.get("reason") or resp.reason or ""),
                message=str(body_status.get("message") or ""),
                what=what,
                retry_after_s=_retry_after_s(resp.headers),
            )
        if stream:
            return resp.response
        try:
            data = resp_any.read()
        except (Urllib3Error, OSError) as exc:
            raise errors.Unavailable(f"{what}: {exc}", status=0, reason=type(exc).__name__) from exc
        if not data:
            return {}
        try:
            return json.loads(data)
        except ValueError as exc:
            raise errors.KubeError(
                f"{what}: response is not JSON", status=resp.status, reason="BadResponse"
            ) from exc

    @staticmethod
    def _selectors(label_selector: str | None, field_selector: str | None) -> list[tuple[str, Any]]:
        query: list[tuple[str, Any]] = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        return query

    @staticmethod
    def _ns(kind: Kind, namespace: str | None, obj: Mapping[str, Any] | None = None) -> str | None:
        if not kind.namespaced:
            return None
        if namespace:
            return namespace
        if obj is not None:
            ns = (obj.get("metadata") or {}).get("namespace")
            if ns:
                return str(ns)
        return None

    # -- Source --------------------------------------------------------------------------

    def list(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ListResult:
        """List ``kind`` (all namespaces when ``namespace`` is None), following ``continue``.

        Items get ``apiVersion`` and ``kind`` filled in (the API omits them in lists), so a
        listed object looks the same as a watched one.
        """
        path = kind.path(namespace=self._ns(kind, namespace))
        what = f"LIST {kind} {namespace or ''}".rstrip()
        items: list[RawObject] = []
        cont = ""
        while True:
            query = self._selectors(label_selector, field_selector)
            if cont:
                query.append(("continue", cont))
            body = self._request("GET", path, what=what, query=query)
            for item in body.get("items") or []:
                item.setdefault("apiVersion", kind.api_version)
                item.setdefault("kind", kind.kind)
                items.append(item)
            meta = body.get("metadata") or {}
            cont = str(meta.get("continue") or "")
            if not cont:
                return ListResult(
                    items=items, resource_version=str(meta.get("resourceVersion", ""))
                )

    def watch(
        self,
        kind: Kind,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_s: float = 300.0,
        allow_bookmarks: bool = True,
    ) -> WatchStream:
        """Open a watch from ``resource_version`` (exclusive). See ``WatchStream``.

        Raises:
            errors.Expired: the server answered 410 at once.
            errors.KubeError: other failures opening the stream.
        """
        path = kind.path(namespace=self._ns(kind, namespace))
        query = self._selectors(label_selector, field_selector)
        query += [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", max(1, int(timeout_s))),
        ]
        if allow_bookmarks:
            query.append(("allowWatchBookmarks", "true"))
        what = f"WATCH {kind} {namespace or ''}".rstrip() + f" from rv {resource_version}"
        resp = self._request(
            "GET",
            path,
            what=what,
            query=query,
            timeout=(self._connect_timeout_s, timeout_s + self._watch_read_slack_s),
            stream=True,
        )
        return _HttpWatchStream(resp, what=what)

    def get(self, kind: Kind, name: str, *, namespace: str | None = None) -> RawObject:
        """Read one object. Raises ``errors.NotFound`` when absent."""
        ns = self._ns(kind, namespace)
        result: RawObject = self._request(
            "GET", kind.path(namespace=ns, name=name), what=f"GET {kind} {_ref(ns, name)}"
        )
        return result

    def create(self, kind: Kind, obj: Any, *, namespace: str | None = None) -> RawObject:
        """Create ``obj`` (dict or client model). Raises ``errors.Conflict`` if it exists."""
        body = self._api.sanitize_for_serialization(obj)
        ns = self._ns(kind, namespace, body)
        result: RawObject = self._request(
            "POST",
            kind.path(namespace=ns),
            what=f"POST {kind} {_ref(ns, _name(body))}",
            body=body,
        )
        return result

    def replace(self, kind: Kind, obj: Any, *, namespace: str | None = None) -> RawObject:
        """PUT ``obj``; with ``metadata.resourceVersion`` set this is a compare-and-swap.

        Raises:
            errors.Conflict: the stored resourceVersion differs (someone wrote in between).
        """
        return self._put(kind, obj, namespace=namespace, subresource="")

    def replace_status(self, kind: Kind, obj: Any, *, namespace: str | None = None) -> RawObject:
        """PUT ``obj`` to the ``/status`` subresource (only ``.status`` changes); CAS as above."""
        return self._put(kind, obj, namespace=namespace, subresource="status")

    def _put(self, kind: Kind, obj: Any, *, namespace: str | None, subresource: str) -> RawObject:
        body = self._api.sanitize_for_serialization(obj)
        ns = self._ns(kind, namespace, body)
        name = _name(body)
        result: RawObject = self._request(
            "PUT",
            kind.path(namespace=ns, name=name, subresource=subresource),
            what=f"PUT {kind}{'/' + subresource if subresource else ''} {_ref(ns, name)}",
            body=body,
        )
        return result

    def patch(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
    ) -> RawObject:
        """PATCH one object. A merge patch carrying ``metadata.resourceVersion`` is a CAS."""
        return self._patch(kind, name, patch, namespace, patch_type, "")

    def patch_status(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
    ) -> RawObject:
        """PATCH the ``/status`` subresource of one object."""
        return self._patch(kind, name, patch, namespace, patch_type, "status")

    def _patch(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        namespace: str | None,
        patch_type: PatchType,
        subresource: str,
    ) -> RawObject:
        ns = self._ns(kind, namespace)
        if patch_type == "json" and not isinstance(patch, list):
            raise ValueError("a json patch (RFC 6902) is a list of operations")
        result: RawObject = self._request(
            "PATCH",
            kind.path(namespace=ns, name=name, subresource=subresource),
            what=f"PATCH {kind}{'/' + subresource if subresource else ''} {_ref(ns, name)}",
            body=patch,
            content_type=PATCH_CONTENT_TYPES[patch_type],
        )
        return result

    def delete(
        self,
        kind: Kind,
        name: str,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
    ) -> None:
        """Delete one object; ``resource_version`` makes it conditional (409 when stale)."""
        ns = self._ns(kind, namespace)
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        self._request(
            "DELETE",
            kind.path(namespace=ns, name=name),
            what=f"DELETE {kind} {_ref(ns, name)}",
            body=body,
        )


def _surface_http_statuses(api: Any) -> None:
    """Make urllib3 retry only connection failures, never on HTTP status (see KubeSource)."""
    from urllib3.util.retry import Retry

    pool_manager = getattr(getattr(api, "rest_client", None), "pool_manager", None)
    if pool_manager is None:
        return
    pool_manager.connection_pool_kw["retries"] = Retry(
        total=2, connect=2, read=1, status=0, redirect=0, respect_retry_after_header=False
    )
    pool_manager.clear()


def _name(body: Mapping[str, Any]) -> str:
    name = (body.get("metadata") or {}).get("name")
    if not name:
        gen = (body.get("metadata") or {}).get("generateName")
        if gen:
            return ""
        raise ValueError("object has no metadata.name")
    return str(name)


def _ref(ns: str | None, name: str) -> str:
    return f"{ns}/{name}" if ns else name


class _HttpWatchStream:
    """A watch over a raw urllib3 response: newline-delimited JSON events."""

    def __init__(self, resp: Any, *, what: str) -> None:
        self._resp = resp
        self._what = what
        self._closed = False
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[WatchEvent]:
        from kubernetes.watch import watch as k8s_watch

        iter_resp_lines: Any = k8s_watch.iter_resp_lines
        try:
            for line in iter_resp_lines(self._resp):
                if self._closed:
                    return
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    log.warning("%s: skipping undecodable watch line", self._what)
                    continue
                etype = event.get("type")
                obj = event.get("object") or {}
                if etype == "ERROR":
                    raise error_from_status(
                        int(obj.get("code") or 0),
                        reason=str(obj.get("reason") or ""),
                        message=str(obj.get("message") or ""),
                        what=self._what,
                    )
                if etype in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
                    yield WatchEvent(type=etype, object=obj)
        except (Urllib3Error, OSError, ValueError, AttributeError) as exc:
            # ValueError/AttributeError: urllib3 reading a socket that close() shut down.
            if self._closed:
                return
            raise errors.Unavailable(
                f"{self._what}: stream broken: {exc}", status=0, reason=type(exc).__name__
            ) from exc
        finally:
            self._release()

    def close(self) -> None:
        """End the stream from any thread (shuts the socket down to unblock a reader)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            conn = getattr(self._resp, "connection", None)
            sock = getattr(conn, "sock", None) if conn is not None else None
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _release(self) -> None:
        try:
            self._resp.close()
            self._resp.release_conn()
        except (Urllib3Error, OSError, AttributeError):
            pass


# --------------------------------------------------------------------------------------------
# The fake source


@dataclass
class _Fault:
    error: Callable[[], errors.KubeError]
    verbs: frozenset[str]
    kinds: frozenset[str]
    remaining: int


@dataclass
class _FakeWatch:
    source: FakeSource
    kind: Kind
    namespace: str | None
    label_selector: str | None
    field_selector: str | None
    next_index: int
    initial: list[RawObject] = field(default_factory=list)
    closed: bool = False
    dropped: bool = False
    pending_error: errors.KubeError | None = None
    bookmarks: list[str] = field(default_factory=list)

    def _matches(self, obj: RawObject | None) -> bool:
        return (
            obj is not None
            and self.source._matches(obj, self.namespace, self.label_selector)
            and self.source._field_ok(obj, self.field_selector)
        )

    def _translate(
        self, kind: Kind, etype: EventType, obj: RawObject, old: RawObject | None
    ) -> WatchEvent | None:
        """The event this (selector-filtered) watch sees, with selector transitions."""
        if kind != self.kind:
            return None
        now, was = self._matches(obj), self._matches(old)
        if etype == "MODIFIED":
            if now and not was:
                etype = "ADDED"  # entered the selector
            elif was and not now:
                etype = "DELETED"  # left the selector
            elif not now:
                return None
        elif not (now or (etype == "DELETED" and was)):
            return None
        return WatchEvent(type=etype, object=copy.deepcopy(obj))

    def __iter__(self) -> Iterator[WatchEvent]:
        src = self.source
        item: WatchEvent
        try:
            while True:
                with src._cond:
                    while True:
                        if self.closed or self.dropped:
                            return
                        if self.pending_error is not None:
                            exc, self.pending_error = self.pending_error, None
                            raise exc
                        if self.initial:
                            item = WatchEvent(type="ADDED", object=self.initial.pop(0))
                            break
                        if self.bookmarks:
                            rv = self.bookmarks.pop(0)
                            item = WatchEvent(
                                type="BOOKMARK", object={"metadata": {"resourceVersion": rv}}
                            )
                            break
                        if self.next_index < len(src._history):
                            etype, kind, obj, old = src._history[self.next_index]
                            self.next_index += 1
                            translated = self._translate(kind, etype, obj, old)
                            if translated is not None:
                                item = translated
                                break
                            continue
                        src._cond.wait(0.5)
                yield item
        finally:
            with src._cond:
                if self in src._watches:
                    src._watches.remove(self)

    def close(self) -> None:
        with self.source._cond:
            self.closed = True
            self.source._cond.notify_all()


class FakeSource:
    """An in-memory ``Source`` with Kubernetes write and watch semantics, for unit tests.

    Implemented: a global resourceVersion bumped by every real write (no-op writes change
    nothing and emit nothing); ``uid``/``creationTimestamp``/``generation``; ``generateName``;
    409 AlreadyExists and 409 Conflict on a stale ``metadata.resourceVersion`` (PUT, merge
    PATCH carrying one, DELETE precondition); the status subresource for kinds with
    ``has_status`` (``/status`` writes to Services, Nodes and Pods keep metadata changes, as
    Kubernetes' core status strategies: ``STATUS_KEEPS_METADATA``); merge patch (RFC 7386) and
    strategic merge (``ingot.apiserver.patching``: lists keyed as Kubernetes, e.g.
    ``status.conditions`` by ``type``); equality
    label selectors (``a=b,c``) and ``metadata.name``/``metadata.namespace`` field selectors,
    with selector transitions on watches (leaving the selector is DELETED, entering ADDED);
    watch from a resourceVersion with replay (``""``/``"0"``: synthetic ADDED first),
    BOOKMARKs on demand, 410 after ``compact()``; test controls ``compact``,
    ``expire_watches``, ``drop_watches``, ``fail_next``, ``bookmark`` and a ``calls`` log of
    ``(verb, kind.plural, key)``.
    Not implemented: other field selectors, set-based label selectors (``in``, ``notin``),
    finalizers, json patch, defaulting or validation.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._rv = 1  # like a real server, never "0": that means "any version" to a watch
        self._objects: dict[tuple[Kind, str], RawObject] = {}
        self._history: list[tuple[EventType, Kind, RawObject, RawObject | None]] = []
        self._history_rv: list[int] = []
        self._compacted_rv = 0
        self._watches: list[_FakeWatch] = []
        self._faults: list[_Fault] = []
        self._uid = 0
        self.calls: list[tuple[str, str, str]] = []

    # -- test controls -------------------------------------------------------------------

    def fail_next(
        self,
        error: errors.KubeError | Callable[[], errors.KubeError],
        *,
        count: int = 1,
        verbs: tuple[str, ...] = (),
        kinds: tuple[Kind, ...] = (),
    ) -> None:
        """Make the next ``count`` matching calls raise ``error`` (empty filters match all).

        ``verbs`` are ``list``, ``watch``, ``get``, ``create``, ``replace``, ``replace_status``,
        ``patch``, ``patch_status``, ``delete``.
        """
        factory = error if callable(error) else (lambda: error)
        with self._cond:
            self._faults.append(
                _Fault(factory, frozenset(verbs), frozenset(k.plural for k in kinds), count)
            )

    def compact(self) -> None:
        """Forget all history: a watch *opened* from an older resourceVersion gets 410.

        Open streams are not affected (as on a real server); combine with ``drop_watches``
        to force a resume, or use ``expire_watches``.
        """
        with self._cond:
            self._compacted_rv = self._rv

    def expire_watches(self) -> None:
        """Compact and send an ERROR 410 event on every open watch (the watch cache's way)."""
        with self._cond:
            self._compacted_rv = self._rv
            for w in self._watches:
                w.pending_error = errors.Expired(
                    "watch: too old resource version", status=410, reason="Expired"
                )
            self._cond.notify_all()

    def break_watches(self, error: errors.KubeError) -> None:
        """Make every open watch raise ``error`` (a stream broken mid-way, an ERROR event)."""
        with self._cond:
            for w in self._watches:
                w.pending_error = error
            self._cond.notify_all()

    def drop_watches(self) -> None:
        """End every open watch stream cleanly (like an API server restart)."""
        with self._cond:
            for w in self._watches:
                w.dropped = True
            self._watches.clear()
            self._cond.notify_all()

    def bookmark(self) -> None:
        """Send a BOOKMARK with the current resourceVersion on every open watch."""
        with self._cond:
            for w in self._watches:
                w.bookmarks.append(str(self._rv))
            self._cond.notify_all()

    @property
    def resource_version(self) -> str:
        """The current global resourceVersion."""
        with self._cond:
            return str(self._rv)

    def open_watches(self) -> int:
        """Number of open watch streams."""
        with self._cond:
            return len(self._watches)

    def objects(self, kind: Kind) -> list[RawObject]:
        """Copies of all stored objects of ``kind`` (for assertions)."""
        with self._cond:
            return [copy.deepcopy(o) for (k, _), o in self._objects.items() if k == kind]

    # -- internals -----------------------------------------------------------------------

    def _fault(self, verb: str, kind: Kind) -> None:
        for f in self._faults:
            if f.remaining <= 0:
                continue
            if f.verbs and verb not in f.verbs:
                continue
            if f.kinds and kind.plural not in f.kinds:
                continue
            f.remaining -= 1
            raise f.error()
        self._faults = [f for f in self._faults if f.remaining > 0]

    def _enter(self, verb: str, kind: Kind, key: str) -> None:
        self.calls.append((verb, kind.plural, key))
        self._fault(verb, kind)

    @staticmethod
    def _matches(obj: RawObject, namespace: str | None, label_selector: str | None) -> bool:
        meta = obj.get("metadata") or {}
        if namespace and meta.get("namespace") != namespace:
            return False
        if not label_selector:
            return True
        labels = meta.get("labels") or {}
        for term in label_selector.split(","):
            term = term.strip()
            if not term:
                continue
            if "!=" in term:
                k, v = term.split("!=", 1)
                if labels.get(k.strip()) == v.strip():
                    return False
            elif "=" in term:
                k, v = term.replace("==", "=").split("=", 1)
                if labels.get(k.strip()) != v.strip():
                    return False
            elif term.startswith("!"):
                if term[1:] in labels:
                    return False
            elif term not in labels:
                return False
        return True

    @staticmethod
    def _field_ok(obj: RawObject, field_selector: str | None) -> bool:
        if not field_selector:
            return True
        meta = obj.get("metadata") or {}
        for term in field_selector.split(","):
            k, _, v = term.replace("==", "=").partition("=")
            path = k.strip()
            if path == "metadata.name" and meta.get("name") != v:
                return False
            if path == "metadata.namespace" and meta.get("namespace") != v:
                return False
        return True

    def _record(
        self, etype: EventType, kind: Kind, obj: RawObject, old: RawObject | None = None
    ) -> None:
        self._history.append((etype, kind, copy.deepcopy(obj), old))
        self._history_rv.append(self._rv)
        self._cond.notify_all()

    def _bump(self, obj: RawObject) -> None:
        self._rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._rv)

    def _key(self, kind: Kind, namespace: str | None, name: str) -> tuple[Kind, str]:
        if kind.namespaced:
            if not namespace:
                raise errors.KubeError(
                    f"{kind.kind} {name}: namespace required", status=400, reason="BadRequest"
                )
            return (kind, f"{namespace}/{name}")
        return (kind, name)

    def _stored(self, kind: Kind, namespace: str | None, name: str, verb: str) -> RawObject:
        key = self._key(kind, namespace, name)
        obj = self._objects.get(key)
        if obj is None:
            raise errors.NotFound(
                f"{verb} {kind} {_ref(namespace, name)}: not found", status=404, reason="NotFound"
            )
        return obj

    @staticmethod
    def _check_rv(current: RawObject, wanted: Any, what: str) -> None:
        if wanted and str(wanted) != resource_version_of(current):
            raise errors.Conflict(
                f"{what}: the object has been modified (rv {wanted} != "
                f"{resource_version_of(current)})",
                status=409,
                reason="Conflict",
            )

    def _store_update(self, kind: Kind, key: tuple[Kind, str], new: RawObject) -> RawObject:
        old = self._objects[key]
        new.setdefault("metadata", {})["resourceVersion"] = resource_version_of(old)
        if new == old:
            return copy.deepcopy(old)  # no-op write: nothing bumps, nothing is emitted
        if kind.has_status and new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        self._bump(new)
        self._objects[key] = new
        self._record("MODIFIED", kind, new, old)
        return copy.deepcopy(new)

    # -- Source --------------------------------------------------------------------------

    def list(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ListResult:
        """List stored objects of ``kind`` (copies) and the current resourceVersion."""
        with self._cond:
            self._enter("list", kind, namespace or "")
            items = [
                copy.deepcopy(o)
                for (k, _), o in sorted(self._objects.items(), key=lambda kv: kv[0][1])
                if k == kind
                and self._matches(o, namespace, label_selector)
                and self._field_ok(o, field_selector)
            ]
            return ListResult(items=items, resource_version=str(self._rv))

    def watch(
        self,
        kind: Kind,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_s: float = 300.0,
        allow_bookmarks: bool = True,
    ) -> WatchStream:
        """Watch from ``resource_version`` (exclusive); 410 if it predates ``compact()``."""
        with self._cond:
            self._enter("watch", kind, namespace or "")
            rv = int(resource_version or 0)
            if resource_version not in ("", "0") and rv < self._compacted_rv:
                raise errors.Expired(
                    f"WATCH {kind}: too old resource version: {rv} ({self._compacted_rv})",
                    status=410,
                    reason="Expired",
                )
            idx = 0
            while idx < len(self._history_rv) and self._history_rv[idx] <= rv:
                idx += 1
            w = _FakeWatch(self, kind, namespace, label_selector, field_selector, idx)
            if resource_version in ("", "0"):
                # As the real server: synthetic ADDED for the current state, then live events.
                w.next_index = len(self._history)
                w.initial = [
                    copy.deepcopy(o)
                    for (k, _), o in sorted(self._objects.items(), key=lambda kv: kv[0][1])
                    if k == kind and w._matches(o)
                ]
            self._watches.append(w)
            return w

    def get(self, kind: Kind, name: str, *, namespace: str | None = None) -> RawObject:
        """Return a copy of one object. Raises ``errors.NotFound``."""
        with self._cond:
            self._enter("get", kind, _ref(namespace, name))
            return copy.deepcopy(self._stored(kind, namespace, name, "GET"))

    def create(self, kind: Kind, obj: Any, *, namespace: str | None = None) -> RawObject:
        """Store a new object. Raises ``errors.Conflict`` (AlreadyExists)."""
        new = copy.deepcopy(dict(obj))
        meta = new.setdefault("metadata", {})
        with self._cond:
            ns = (namespace or meta.get("namespace")) if kind.namespaced else None
            if not meta.get("name") and meta.get("generateName"):
                self._uid += 1
                meta["name"] = f"{meta['generateName']}{self._uid:05d}"
            name = str(meta.get("name") or "")
            self._enter("create", kind, _ref(ns, name))
            if not name:
                raise errors.KubeError(
                    f"POST {kind}: metadata.name required", status=422, reason="Invalid"
                )
            key = self._key(kind, ns, name)
            if key in self._objects:
                raise errors.Conflict(
                    f"POST {kind} {_ref(ns, name)}: already exists",
                    status=409,
                    reason="AlreadyExists",
                )
            if ns:
                meta["namespace"] = ns
            self._uid += 1
            meta["uid"] = f"uid-{self._uid}"
            meta["creationTimestamp"] = "2026-01-01T00:00:00Z"
            meta.pop("resourceVersion", None)
            if kind.has_status:
                meta["generation"] = 1
            new["apiVersion"] = kind.api_version
            new["kind"] = kind.kind
            self._bump(new)
            self._objects[key] = new
            self._record("ADDED", kind, new)
            return copy.deepcopy(new)

    def replace(self, kind: Kind, obj: Any, *, namespace: str | None = None) -> RawObject:
        """PUT semantics: CAS on ``metadata.resourceVersion`` when given; keeps ``.status``."""
        return self._put(kind, obj, namespace, status=False)

    def replace_status(self, kind: Kind, obj: Any, *, namespace: str | None = None) -> RawObject:
        """PUT to ``/status``: only ``.status`` changes."""
        return self._put(kind, obj, namespace, status=True)

    def _put(self, kind: Kind, obj: Any, namespace: str | None, *, status: bool) -> RawObject:
        body = copy.deepcopy(dict(obj))
        meta = body.get("metadata") or {}
        name = str(meta.get("name") or "")
        verb = "replace_status" if status else "replace"
        with self._cond:
            ns = (namespace or meta.get("namespace")) if kind.namespaced else None
            self._enter(verb, kind, _ref(ns, name))
            key = self._key(kind, ns, name)
            current = self._stored(kind, ns, name, "PUT")
            self._check_rv(current, meta.get("resourceVersion"), f"PUT {kind} {_ref(ns, name)}")
            new = copy.deepcopy(current)
            if status:
                new["status"] = body.get("status")
                if new["status"] is None:
                    new.pop("status")
                new["metadata"] = _status_meta(kind, meta, current["metadata"])
            else:
                keep = {k: current[k] for k in ("status",) if kind.has_status and k in current}
                new = {k: v for k, v in body.items() if k != "status" or not kind.has_status}
                new.update(keep)
                new_meta = dict(new.get("metadata") or {})
                for f in ("uid", "creationTimestamp", "namespace", "generation"):
                    if f in current["metadata"]:
                        new_meta[f] = current["metadata"][f]
                new["metadata"] = new_meta
                new["apiVersion"] = kind.api_version
                new["kind"] = kind.kind
            return self._store_update(kind, key, new)

    def patch(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
    ) -> RawObject:
        """Merge-patch one object (main resource: ``.status`` changes are ignored)."""
        return self._patch(kind, name, patch, namespace, patch_type, status=False)

    def patch_status(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
    ) -> RawObject:
        """Merge-patch the status of one object (only ``.status`` changes)."""
        return self._patch(kind, name, patch, namespace, patch_type, status=True)

    def _patch(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        namespace: str | None,
        patch_type: PatchType,
        *,
        status: bool,
    ) -> RawObject:
        verb = "patch_status" if status else "patch"
        with self._cond:
            ns = namespace if kind.namespaced else None
            self._enter(verb, kind, _ref(ns, name))
            key = self._key(kind, ns, name)
            current = self._stored(kind, ns, name, "PATCH")
            wanted_rv = (
                ((patch or {}).get("metadata") or {}).get("resourceVersion")
                if isinstance(patch, dict)
                else None
            )
            self._check_rv(current, wanted_rv, f"PATCH {kind} {_ref(ns, name)}")
            if patch_type == "json":
                try:
                    merged = json_patch(current, patch)
                except ApiError as exc:  # same rules as ingot.apiserver (RFC 6902)
                    raise errors.KubeError(str(exc), status=422) from exc
            elif patch_type == "strategic":
                merged = strategic_merge_patch(current, patch)
            else:
                merged = merge_patch(current, patch)
            if not isinstance(merged, dict):
                raise errors.KubeError("patch result is not an object", status=422)
            if kind.has_status:
                if status:
                    new = copy.deepcopy(current)
                    if "status" in merged:
                        new["status"] = merged["status"]
                    else:
                        new.pop("status", None)
                    new["metadata"] = _status_meta(
                        kind, merged.get("metadata") or {}, current["metadata"]
                    )
                else:
                    new = merged
                    if "status" in current:
                        new["status"] = copy.deepcopy(current["status"])
                    else:
                        new.pop("status", None)
            else:
                new = merged
            for f in ("uid", "creationTimestamp", "name", "namespace"):
                if f in current["metadata"]:
                    new["metadata"][f] = current["metadata"][f]
            return self._store_update(kind, key, new)

    def delete(
        self,
        kind: Kind,
        name: str,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
    ) -> None:
        """Delete one object (emits DELETED with a new resourceVersion)."""
        with self._cond:
            ns = namespace if kind.namespaced else None
            self._enter("delete", kind, _ref(ns, name))
            key = self._key(kind, ns, name)
            current = self._stored(kind, ns, name, "DELETE")
            self._check_rv(current, resource_version, f"DELETE {kind} {_ref(ns, name)}")
            del self._objects[key]
            final = copy.deepcopy(current)
            self._bump(final)
            self._record("DELETED", kind, final)
