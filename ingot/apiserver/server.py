"""``APIServer``: the embedded Kubernetes API server over HTTP(S), run in a background thread.

A development server for tests, the lab and trying ingot without a cluster; **not for
production** (no authentication or authorization: any bearer token is accepted; no
persistence; validating webhooks are called only with ``call_webhooks=True``). The official
``kubernetes`` client and ``kubectl`` talk to it as to a real cluster. Semantics are listed in
``handling.py`` (writes, reads), the watch paragraph below and ``docs/apiserver.md``.

Usage::

    srv = APIServer(host="127.0.0.1", port=0)
    url = srv.start()                 # "http://127.0.0.1:PORT"
    client = srv.api_client()         # kubernetes.client.ApiClient pointed at it
    srv.load_manifests("charts/ingot/crds")
    srv.faults.inject(status=409, count=1, verbs=["patch"], resources=["services/status"])
    srv.stop()

Watch semantics (k8s.io/apiserver pkg/storage/cacher): ``resourceVersion`` unset or "0" ->
synthetic ADDED for the current state, then live events; ``resourceVersion=N`` -> replay of
the changes after N from the bounded history, then live; N older than the history (or than a
forced compaction) -> an ERROR event carrying a 410 Expired Status on a 200 stream (or an HTTP
410 with ``expired_as_http_error=True``); label/field selectors with transitions (an object
leaving the selector is DELETED, entering it is ADDED); BOOKMARK events every
``bookmark_interval_s`` and before a ``timeoutSeconds`` end when ``allowWatchBookmarks``;
``sendInitialEvents=true`` ends the initial ADDED events with a BOOKMARK annotated
``k8s.io/initial-events-end``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import json
import logging
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import yaml
from aiohttp import web

from ingot.apiserver import admission, discovery, errors, handling, tls
from ingot.apiserver.faults import Faults
from ingot.apiserver.resources import ResourceType
from ingot.apiserver.store import Change, Watcher

if TYPE_CHECKING:
    import kubernetes.client

log = logging.getLogger("ingot.apiserver")

RawObject = dict[str, Any]
T = TypeVar("T")

_WATCH_TRUE = ("1", "true", "True")
_MAX_BODY_BYTES = 8 * 1024 * 1024


class AuditRecord(NamedTuple):
    """One resource request as RBAC sees it (compares equal to a plain 5-tuple)."""

    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str


class ChangeRecord(NamedTuple):
    """One committed write: revision, ADDED/MODIFIED/DELETED, and what it touched."""

    resource_version: int
    type: str
    group: str
    resource: str
    namespace: str
    name: str


class ManifestError(Exception):
    """A manifest could not be loaded: names the file, the document and the API error."""


class _Route(NamedTuple):
    rt: ResourceType
    version: str
    namespace: str | None
    name: str
    subresource: str
    verb: str


class APIServer:
    """The embedded API server. The constructor starts nothing; ``start()`` does.

    Args:
        host: address to bind.
        port: TCP port; 0 picks a free one (see ``url`` after ``start()``).
        tls: serve HTTPS with a freshly generated CA (``ca_path``) instead of HTTP.
        history_size: how many changes the watch history keeps; resuming from before the
            oldest kept change is 410 Expired.
        bookmark_interval_s: period of BOOKMARK events on watches that allow them.
        expired_as_http_error: answer a too-old watch with HTTP 410 instead of a 200 stream
            carrying an ERROR event (both happen with real servers).
        default_watch_timeout_s: stream length when the client gives no ``timeoutSeconds``
            (the real server picks 1800-3600 s).
        call_webhooks: call ValidatingWebhookConfigurations before writes (see
            ``admission.py``; Services are mapped with ``webhook_services``). Off: stored only.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: bool = False,
        history_size: int = 10_000,
        bookmark_interval_s: float = 1.0,
        expired_as_http_error: bool = False,
        default_watch_timeout_s: float = 1800.0,
        call_webhooks: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.bookmark_interval_s = bookmark_interval_s
        self.expired_as_http_error = expired_as_http_error
        self.default_watch_timeout_s = default_watch_timeout_s
        self.call_webhooks = call_webhooks
        #: (namespace, service name) -> "host:port" for webhooks named by Service
        self.webhook_services: dict[tuple[str, str], str] = {}
        self.backend = handling.Backend(history_size=history_size)
        self.backend.on_type_removed = self._close_watchers_of
        self.audit: list[AuditRecord] = []
        self.faults = Faults(self._call, lambda: self.backend.store)
        self.backend.store.drop_filter = lambda change: self.faults.should_drop(
            group=change.type_key[0], resource=change.type_key[1]
        )
        self.url = ""
        self.ca_path: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._tmpdir: Path | None = None
        self._streams: set[Watcher] = set()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Bind and serve in a background thread; returns the base URL (``http://host:port``)."""
        if self._thread is not None:
            raise RuntimeError("APIServer already started")
        ssl_ctx = None
        if self.tls:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="ingot-apiserver-"))
            files = tls.generate(self._tmpdir, host=self.host)
            self.ca_path = files.ca
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_ctx.load_cert_chain(files.cert, files.key)
        loop = asyncio.new_event_loop()
        self._loop = loop
        started: concurrent.futures.Future[int] = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                port = loop.run_until_complete(self._startup(ssl_ctx))
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                started.set_exception(exc)
                loop.close()
                return
            started.set_result(port)
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

        self._thread = threading.Thread(target=run, name="ingot-apiserver", daemon=True)
        self._thread.start()
        try:
            self.port = started.result(timeout=30)
        except BaseException:
            self._thread.join(timeout=5)
            self._thread = None
            self._loop = None
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None
            raise
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{scheme}://{host}:{self.port}"
        return self.url

    async def _startup(self, ssl_ctx: ssl.SSLContext | None) -> int:
        app = web.Application(client_max_size=_MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=ssl_ctx)
        await site.start()
        self._runner = runner
        loop = asyncio.get_running_loop()
        self.backend.schedule = lambda delay_s, fn: loop.call_later(delay_s, fn)
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound port only here
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else self.port

    def stop(self) -> None:
        """Close all watches, stop serving and join the thread (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            self.backend.store.drop_watches()
            for watcher in list(self._streams):
                watcher.close()
            if self._runner is not None:
                await self._runner.cleanup()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        self.backend.schedule = lambda delay_s, fn: fn()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = None
        self._thread = None
        self._runner = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> APIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop thread (directly when not started)."""
        loop = self._loop
        if loop is None or threading.current_thread() is self._thread:
            return fn()

        async def wrapper() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), loop).result(timeout=30)

    def changes(self, resource: str | None = None) -> list[ChangeRecord]:
        """The committed writes still in the watch history, oldest first.

        Args:
            resource: ``plural`` or ``plural.group`` to keep only that resource (e.g.
                ``"services"``, ``"ipaddresspools.metallb.io"``); None keeps all.

        For assertions such as "the controller wrote the status once" or "a no-op write
        emitted nothing". Compaction (``faults.compact()``) empties it.
        """

        def collect() -> list[ChangeRecord]:
            out = []
            for change in self.backend.store.history:
                group, plural = change.type_key
                if resource is not None and resource not in (plural, f"{plural}.{group}"):
                    continue
                meta = change.obj.get("metadata") or {}
                out.append(
                    ChangeRecord(
                        change.rv,
                        change.type,
                        group,
                        plural,
                        meta.get("namespace", ""),
                        meta.get("name", ""),
                    )
                )
            return out

        return self._call(collect)

    def _close_watchers_of(self, type_key: tuple[str, str]) -> None:
        for watcher in list(self.backend.store.watchers):
            if watcher.type_key == type_key:
                watcher.close()

    # ------------------------------------------------------------------ clients

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default") -> Path:
        """Write a kubeconfig (context ``ingot``, any token) for ``kubectl`` and clients."""
        if not self.url:
            raise RuntimeError("start() the server before writing a kubeconfig")
        cluster: RawObject = {"server": self.url}
        if self.ca_path is not None:
            import base64

            cluster["certificate-authority-data"] = base64.b64encode(
                self.ca_path.read_bytes()
            ).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "ingot", "cluster": cluster}],
            "users": [{"name": "ingot", "user": {"token": "ingot-dev-token"}}],
            "contexts": [
                {
                    "name": "ingot",
                    "context": {"cluster": "ingot", "user": "ingot", "namespace": namespace},
                }
            ],
            "current-context": "ingot",
        }
        out = Path(path)
        out.write_text(yaml.safe_dump(config, sort_keys=False))
        out.chmod(0o600)
        return out

    def api_client(self) -> kubernetes.client.ApiClient:
        """A new official-client ``ApiClient`` for this server (close it when done)."""
        import kubernetes.client

        if not self.url:
            raise RuntimeError("start() the server before asking for a client")
        cfg = kubernetes.client.Configuration()
        cfg.host = self.url
        cfg.api_key = {"authorization": "ingot-dev-token"}
        cfg.api_key_prefix = {"authorization": "Bearer"}
        if self.ca_path is not None:
            cfg.ssl_ca_cert = str(self.ca_path)
        return kubernetes.client.ApiClient(cfg)

    # ------------------------------------------------------------------ manifests

    def load_manifests(self, path: str | Path) -> list[RawObject]:
        """Create (or update, when they exist) the objects of a YAML/JSON file or directory.

        A directory is read recursively (``*.yaml``, ``*.yml``, ``*.json``, sorted);
        ``kind: List`` is expanded. CustomResourceDefinitions are applied first, then
        Namespaces, then everything else. Returns the stored objects.

        Raises:
            ManifestError: naming the file, the document index and the API error; documents
                before the failing one stay applied.
        """
        return self.load_objects(read_manifests(path))

    def load_objects(self, docs: Iterable[tuple[str, int, RawObject]]) -> list[RawObject]:
        """Apply ``(source, index, object)`` triples as ``load_manifests`` does (CRDs first).

        Raises:
            ManifestError: naming the source, the index and the API error.
        """

        def rank(entry: tuple[str, int, RawObject]) -> int:
            kind = entry[2].get("kind")
            return 0 if kind == "CustomResourceDefinition" else 1 if kind == "Namespace" else 2

        out: list[RawObject] = []
        for source, i, doc in sorted(docs, key=rank):
            try:
                out.append(self._call(lambda d=doc: self._apply_one(d)))  # type: ignore[misc]
            except errors.ApiError as exc:
                meta = doc.get("metadata") or {}
                raise ManifestError(
                    f"{source} document {i} ({doc.get('kind')} {meta.get('namespace', '')}/"
                    f"{meta.get('name', '')}): {exc}"
                ) from exc
        return out

    def _apply_one(self, doc: RawObject) -> RawObject:
        backend = self.backend
        rt, version = backend.lookup_kind(str(doc.get("apiVersion", "")), str(doc.get("kind", "")))
        meta = doc.get("metadata") or {}
        namespace = (meta.get("namespace") or "default") if rt.namespaced else None
        name = meta.get("name")
        if name and backend.store.get(rt.skey, (namespace or "", name)) is not None:
            current = backend.store.get(rt.skey, (namespace or "", name)) or {}
            body = handling.clone_with_rv(doc, current)
            result = backend.update(rt, version, namespace, name, body)
            if rt.has_status and "status" in doc:
                body = handling.clone_with_rv({**result, "status": doc["status"]}, result)
                result = backend.update(rt, version, namespace, name, body, subresource="status")
            return result
        result = backend.create(rt, version, namespace, doc)
        if rt.has_status and "status" in doc and "status" not in result:
            body = {**result, "status": doc["status"]}
            result = backend.update(
                rt, version, namespace, result["metadata"]["name"], body, subresource="status"
            )
        return result

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except errors.ApiError as exc:
            return _status_response(exc)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the server
            log.exception("internal error serving %s %s", request.method, request.path)
            return _status_response(errors.internal_error(f"{type(exc).__name__}: {exc}"))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        backend = self.backend
        if request.method == "GET":
            doc = self._discovery(parts)
            if doc is not None:
                return _json_response(doc)
        route = self._route(request, parts)
        self.audit.append(
            AuditRecord(
                route.verb,
                route.rt.group,
                route.rt.plural,
                route.subresource,
                route.namespace or "",
            )
        )
        delay_s, fault = self.faults.take(
            verb=route.verb,
            group=route.rt.group,
            resource=route.rt.plural,
            subresource=route.subresource,
        )
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        if fault is not None:
            return _status_response(fault)
        q = request.query
        dry_run = q.get("dryRun") == "All"
        raw_body = (
            await request.read() if request.method in ("POST", "PUT", "PATCH", "DELETE") else b""
        )
        field_validation = q.get("fieldValidation") or "Warn"
        if field_validation not in ("Ignore", "Warn", "Strict"):
            raise errors.bad_request(
                f'fieldValidation "{field_validation}" is not one of Ignore, Warn, Strict'
            )
        webhook_warnings: list[str] = []
        if self.call_webhooks and route.verb in ("create", "update", "patch", "delete"):
            backend.field_validation = field_validation
            attrs = self._admission_attributes(request, route, raw_body, dry_run)
            backend.warnings = []
            if attrs is not None:
                hooks = admission.matching(
                    self._webhook_configs(), attrs, self._namespace_labels(attrs.namespace)
                )
                if hooks:
                    webhook_warnings = await admission.call(hooks, attrs, self.webhook_services)
        # from here on no await until the backend call: requests are served one at a time
        backend.field_validation = field_validation
        backend.warnings = []
        response = await self._serve(request, route, dry_run, raw_body)
        for warning in [*webhook_warnings, *backend.warnings]:
            response.headers.add("Warning", f'299 - "{warning}"')
        backend.warnings = []
        return response

    def _webhook_configs(self) -> list[RawObject]:
        key = ("admissionregistration.k8s.io", "validatingwebhookconfigurations")
        return list(self.backend.store.items(key))

    def _namespace_labels(self, namespace: str) -> dict[str, str]:
        ns = self.backend.store.get(("", "namespaces"), ("", namespace)) or {}
        return dict((ns.get("metadata") or {}).get("labels") or {})

    def _admission_attributes(
        self, request: web.Request, route: _Route, raw_body: bytes, dry_run: bool
    ) -> admission.Attributes | None:
        """What the write would store (a dry run), for the webhooks; None when not admitted."""
        backend = self.backend
        rt, version, ns, name, sub = (
            route.rt,
            route.version,
            route.namespace,
            route.name,
            route.subresource,
        )
        if rt.group == "admissionregistration.k8s.io" or not self._webhook_configs():
            return None  # as the real server: webhook configurations are never admitted
        old: RawObject | None = None
        obj: RawObject | None = None
        if route.verb == "create":
            obj = backend.create(rt, version, ns, _parse_body(request, raw_body), dry_run=True)
            operation = "CREATE"
        elif route.verb in ("update", "patch"):
            old = backend.get(rt, version, ns, name)
            body = _parse_body(request, raw_body)
            if route.verb == "update":
                obj = backend.update(rt, version, ns, name, body, subresource=sub, dry_run=True)
            else:
                obj = backend.patch(
                    rt, version, ns, name, body, request.content_type, subresource=sub, dry_run=True
                )
            operation = "UPDATE"
        else:
            old = backend.get(rt, version, ns, name)
            operation = "DELETE"
        target = obj or old or {}
        return admission.Attributes(
            operation=operation,
            rt=rt,
            version=version,
            namespace=ns or "",
            name=str((target.get("metadata") or {}).get("name", name)),
            subresource=sub,
            obj=obj,
            old=old,
            dry_run=dry_run,
        )

    async def _serve(
        self, request: web.Request, route: _Route, dry_run: bool, raw_body: bytes
    ) -> web.StreamResponse:
        backend = self.backend
        q = request.query
        rt, version, ns, name, sub = (
            route.rt,
            route.version,
            route.namespace,
            route.name,
            route.subresource,
        )
        if route.verb == "watch":
            return await self._watch(request, route)
        if route.verb == "list":
            listed = backend.list(
                rt,
                version,
                ns,
                label_selector=q.get("labelSelector"),
                field_selector=q.get("fieldSelector"),
                limit=_int_param(q, "limit"),
                continue_token=q.get("continue"),
                resource_version=q.get("resourceVersion"),
                resource_version_match=q.get("resourceVersionMatch"),
            )
            if discovery.wants_table(request.headers.get("Accept", "")):
                return _json_response(
                    discovery.to_table(rt, version, listed["items"], listed["metadata"])
                )
            return _json_response(listed)
        if route.verb == "get":
            obj = backend.get(rt, version, ns, name)
            if discovery.wants_table(request.headers.get("Accept", "")):
                return _json_response(discovery.to_table(rt, version, [obj], {}))
            return _json_response(obj)
        if route.verb == "create":
            body = _parse_body(request, raw_body)
            return _json_response(backend.create(rt, version, ns, body, dry_run=dry_run), 201)
        if route.verb == "update":
            body = _parse_body(request, raw_body)
            return _json_response(
                backend.update(rt, version, ns, name, body, subresource=sub, dry_run=dry_run)
            )
        if route.verb == "patch":
            content_type = request.content_type
            if content_type == handling.APPLY_PATCH:
                raise errors.unsupported_media_type(
                    f"{content_type} (server-side apply is not supported by this development "
                    "server; use merge, JSON or strategic-merge patch)"
                )
            body = _parse_body(request, raw_body)
            return _json_response(
                backend.patch(
                    rt, version, ns, name, body, content_type, subresource=sub, dry_run=dry_run
                )
            )
        if route.verb == "delete":
            options = _parse_body(request, raw_body, optional=True)
            return _json_response(backend.delete(rt, version, ns, name, options, dry_run=dry_run))
        if route.verb == "deletecollection":
            options = _parse_body(request, raw_body, optional=True)
            return _json_response(
                backend.delete_collection(
                    rt,
                    version,
                    ns,
                    label_selector=q.get("labelSelector"),
                    field_selector=q.get("fieldSelector"),
                    options=options,
                    dry_run=dry_run,
                )
            )
        raise errors.method_not_allowed(f"{request.method} is not supported")  # pragma: no cover

    def _discovery(self, parts: list[str]) -> RawObject | None:
        backend = self.backend
        gv = backend.group_versions()
        if parts in (["version"], ["version", ""]):
            return discovery.VERSION_INFO
        if parts in (["healthz"], ["readyz"], ["livez"]):
            return {"kind": "Status", "status": "ok"}
        if parts == ["openapi", "v3"]:
            return discovery.openapi_v3_root(gv)
        if len(parts) >= 4 and parts[:2] == ["openapi", "v3"]:
            if parts[2] == "api" and parts[3:] == ["v1"]:
                return discovery.openapi_v3_group_version("", "v1", list(backend.types.values()))
            if parts[2] == "apis" and len(parts) == 5 and parts[4] in gv.get(parts[3], []):
                return discovery.openapi_v3_group_version(
                    parts[3], parts[4], list(backend.types.values())
                )
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        if parts == ["api"]:
            return discovery.api_versions(f"{self.host}:{self.port}")
        if parts == ["api", "v1"]:
            return discovery.api_resource_list("", "v1", list(backend.types.values()))
        if parts == ["apis"]:
            return discovery.api_group_list(gv)
        if len(parts) == 2 and parts[0] == "apis":
            if parts[1] not in gv:
                raise errors.ApiError(
                    404, "NotFound", "the server could not find the requested resource"
                )
            return discovery.api_group(parts[1], gv[parts[1]])
        if len(parts) == 3 and parts[0] == "apis":
            if parts[2] not in gv.get(parts[1], []):
                raise errors.ApiError(
                    404, "NotFound", "the server could not find the requested resource"
                )
            return discovery.api_resource_list(parts[1], parts[2], list(backend.types.values()))
        return None

    def _route(self, request: web.Request, parts: list[str]) -> _Route:
        not_found = errors.ApiError(
            404, "NotFound", "the server could not find the requested resource"
        )
        if len(parts) >= 3 and parts[0] == "api" and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise not_found
        namespace: str | None = None
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and not (len(rest) == 3 and rest[2] in ("status", "finalize"))
        ):
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise not_found
        rt = self.backend.lookup(group, version, rest[0])
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if namespace is not None and not rt.namespaced:
            raise not_found
        if sub and not (sub == "status" and rt.has_status):
            raise not_found
        method = request.method
        if name:
            verbs = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
        else:
            watch = request.query.get("watch") in _WATCH_TRUE
            verbs = {
                "GET": "watch" if watch else "list",
                "POST": "create",
                "DELETE": "deletecollection",
            }
            if rt.namespaced and namespace is None and method in ("POST", "DELETE"):
                raise errors.method_not_allowed(
                    f"{method} on all namespaces of {rt.qualified()} is not allowed"
                )
        if method not in verbs:
            raise errors.method_not_allowed(
                f"the server does not allow this method on the requested resource ({method})"
            )
        if sub and verbs[method] not in ("get", "update", "patch"):
            raise errors.method_not_allowed(f"{method} is not allowed on {rt.plural}/{sub}")
        return _Route(rt, version, namespace, name, sub, verbs[method])

    # ------------------------------------------------------------------ watch

    async def _watch(self, request: web.Request, route: _Route) -> web.StreamResponse:
        backend = self.backend
        store = backend.store
        q = request.query
        rt, version = route.rt, route.version
        matches = backend.matcher(
            rt,
            route.namespace,
            label_selector=q.get("labelSelector"),
            field_selector=q.get("fieldSelector"),
        )
        bookmarks = q.get("allowWatchBookmarks") in _WATCH_TRUE
        timeout_s = _float_param(q, "timeoutSeconds") or self.default_watch_timeout_s
        rv_text = q.get("resourceVersion") or ""
        send_initial = q.get("sendInitialEvents") in _WATCH_TRUE
        initial: list[tuple[str, RawObject]] = []
        expired: errors.ApiError | None = None
        if send_initial or rv_text in ("", "0"):
            if q.get("sendInitialEvents") in ("false", "0") and rv_text == "":
                pass
            else:
                for obj in store.items(rt.skey, route.namespace if rt.namespaced else None):
                    if matches(obj):
                        initial.append(("ADDED", obj))
        else:
            since = handling.parse_rv(rv_text)
            if since < store.floor:
                expired = errors.expired(f"too old resource version: {since} ({store.floor})")
            else:
                for change in store.replay(rt.skey, since):
                    event = _translate(change, matches)
                    if event is not None:
                        initial.append(event)
        if expired is not None and self.expired_as_http_error:
            raise expired
        watcher = Watcher(rt.skey, table=discovery.wants_table(request.headers.get("Accept", "")))
        if expired is None:
            store.watchers.add(watcher)
        self._streams.add(watcher)
        start_rv = store.rv
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "Cache-Control": "no-cache"}
        )
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            if expired is not None:
                await _write_event(response, "ERROR", expired.to_status())
                return response
            for start in range(0, len(initial), 500):
                await response.write(
                    b"".join(
                        _event_bytes(kind, self._render(rt, version, obj, table=watcher.table))
                        for kind, obj in initial[start : start + 500]
                    )
                )
            if send_initial and bookmarks:
                await _write_event(
                    response,
                    "BOOKMARK",
                    _bookmark(rt, version, start_rv, initial_end=True),
                )
            await self._pump(response, watcher, rt, version, matches, timeout_s, bookmarks)
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            store.watchers.discard(watcher)
            self._streams.discard(watcher)
        return response

    async def _pump(
        self,
        response: web.StreamResponse,
        watcher: Watcher,
        rt: ResourceType,
        version: str,
        matches: Callable[[RawObject], bool],
        timeout_s: float,
        bookmarks: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        next_bookmark = loop.time() + self.bookmark_interval_s
        store = self.backend.store
        while not watcher.closed or not watcher.queue.empty():
            now = loop.time()
            if now >= deadline:
                # deliver what is queued first: a bookmark must not skip undelivered events
                pending = []
                while not watcher.queue.empty():
                    change = watcher.queue.get_nowait()
                    if change is None:
                        break
                    line = self._event_line(change, rt, version, matches, table=watcher.table)
                    if line is not None:
                        pending.append(line)
                if bookmarks:  # the revision everything above is up to (no await in between)
                    pending.append(_event_bytes("BOOKMARK", _bookmark(rt, version, store.rv)))
                if pending:
                    await response.write(b"".join(pending))
                return
            wait_s = min(deadline, next_bookmark if bookmarks else deadline) - now
            queue = watcher.queue
            if queue.empty():
                try:
                    first = await asyncio.wait_for(queue.get(), timeout=max(wait_s, 0.0))
                except TimeoutError:
                    if bookmarks and loop.time() >= next_bookmark:
                        await _write_event(response, "BOOKMARK", _bookmark(rt, version, store.rv))
                        next_bookmark = loop.time() + self.bookmark_interval_s
                    continue
            else:
                first = queue.get_nowait()
            # drain what is queued and write it in one go (one syscall, one drain)
            batch = [first]
            while not queue.empty() and len(batch) < 1000:
                batch.append(queue.get_nowait())
            chunks = []
            ended = False
            for change in batch:
                if change is None:
                    ended = True
                    break
                line = self._event_line(change, rt, version, matches, table=watcher.table)
                if line is not None:
                    chunks.append(line)
            if chunks:
                await response.write(b"".join(chunks))
            if ended:
                return

    def _event_line(
        self,
        change: Change,
        rt: ResourceType,
        version: str,
        matches: Callable[[RawObject], bool],
        *,
        table: bool,
    ) -> bytes | None:
        """The serialised watch event of ``change`` for one watcher (cached per change)."""
        event = _translate(change, matches)
        if event is None:
            return None
        key = (rt.group, rt.plural, version, event[0], table)
        line = change.lines.get(key)
        if line is None:
            line = _event_bytes(event[0], self._render(rt, version, event[1], table=table))
            change.lines[key] = line
        return line

    def _render(self, rt: ResourceType, version: str, obj: RawObject, *, table: bool) -> RawObject:
        out = self.backend.output(rt, version, obj)
        if not table:
            return out
        rv = out["metadata"].get("resourceVersion", "")
        return discovery.to_table(rt, version, [out], {"resourceVersion": rv})


def read_manifests(path: str | Path) -> list[tuple[str, int, RawObject]]:
    """The objects of a YAML/JSON file or directory as ``(file, document index, object)``.

    A directory is read recursively (``*.yaml``, ``*.yml``, ``*.json``, sorted); ``kind: List``
    is expanded.

    Raises:
        ManifestError: unreadable file, bad YAML, or a document that is not a mapping.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs: list[tuple[str, int, RawObject]] = []
    root = Path(path)
    files = (
        sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
        if root.is_dir()
        else [root]
    )
    for file in files:
        try:
            loaded = jsonable(list(yaml.load_all(file.read_text(), Loader=loader)))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise ManifestError(f"{file}: cannot read YAML: {exc}") from exc
        for i, doc in enumerate(loaded):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise ManifestError(f"{file} document {i}: not a mapping")
            if doc.get("kind") == "List":
                docs.extend((str(file), i, item) for item in doc.get("items") or [])
            else:
                docs.append((str(file), i, doc))
    return docs


def _translate(
    change: Change, matches: Callable[[RawObject], bool]
) -> tuple[str, RawObject] | None:
    """The event a selector-filtered watch sees for ``change`` (with selector transitions)."""
    if change.type == "ADDED":
        return ("ADDED", change.obj) if matches(change.obj) else None
    if change.type == "DELETED":
        return ("DELETED", change.obj) if matches(change.old or change.obj) else None
    was = change.old is not None and matches(change.old)
    now = matches(change.obj)
    if was and now:
        return ("MODIFIED", change.obj)
    if now:
        return ("ADDED", change.obj)
    if was:
        return ("DELETED", change.obj)
    return None


def _bookmark(rt: ResourceType, version: str, rv: int, *, initial_end: bool = False) -> RawObject:
    meta: RawObject = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": rt.kind, "apiVersion": rt.api_version(version), "metadata": meta}


def _event_bytes(kind: str, obj: RawObject) -> bytes:
    return (json.dumps({"type": kind, "object": obj}, separators=(",", ":")) + "\n").encode()


async def _write_event(response: web.StreamResponse, kind: str, obj: RawObject) -> None:
    await response.write(_event_bytes(kind, obj))


def _json_response(obj: RawObject, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(obj, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


def _status_response(exc: errors.ApiError) -> web.Response:
    response = _json_response(exc.to_status(), exc.code)
    if exc.retry_after_s is not None:
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


def _parse_body(request: web.Request, raw: bytes, *, optional: bool = False) -> Any:
    if not raw.strip():
        if optional:
            return None
        raise errors.bad_request("the request body is empty")
    content_type = request.content_type
    try:
        if "yaml" in content_type:
            return jsonable(yaml.safe_load(raw))
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"the body of the request is not valid JSON/YAML: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def jsonable(value: Any) -> Any:
    """YAML-loaded data as JSON data: timestamps become RFC 3339 strings (as kubectl does)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise ValueError("NaN and infinities are not valid JSON")
    return value


def _int_param(query: Any, name: str) -> int | None:
    text = query.get(name)
    if text in (None, ""):
        return None
    try:
        value = int(text)
    except ValueError:
        raise errors.bad_request(f'invalid {name} "{text}": must be an integer') from None
    if value < 0:
        raise errors.bad_request(f'invalid {name} "{text}": must not be negative')
    return value


def _float_param(query: Any, name: str) -> float | None:
    value = _int_param(query, name)
    return float(value) if value else None


def names_of(objects: Iterable[RawObject]) -> list[str]:
    """``metadata.name`` of each object (a small helper for tests and the CLI)."""
    return [o["metadata"]["name"] for o in objects]
