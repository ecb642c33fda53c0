"""Validating admission webhook for the ``metallb.io`` kinds (AdmissionReview v1 over HTTPS).

The decision is pure (``review``): the cluster's current config objects with the object under
review put in (CREATE/UPDATE) or taken out (DELETE) are compiled with A's compiler
(``ingot.api.compile.compile_config``); the request is refused when it *adds* errors, with
every new error's object and field path in the message. Errors that were already there
(an invalid object created before the webhook existed) do not block unrelated changes, so
the user can always fix or delete things. Objects outside the controller's namespace are
refused (MetalLB's namespace check for all six kinds). Deleting an object others depend on
(a BFDProfile in use) is refused because the rest would stop compiling.

``make_app`` wraps ``review`` in an aiohttp application; ``ssl_context`` builds the TLS
context from a ``certs.CertBundle`` and can be re-loaded in place on rotation.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from controller import certs

log = logging.getLogger(__name__)

KIND_FIELDS = {
    "IPAddressPool": "ip_address_pools",
    "L2Advertisement": "l2_advertisements",
    "BGPAdvertisement": "bgp_advertisements",
    "BGPPeer": "bgp_peers",
    "BFDProfile": "bfd_profiles",
    "Community": "communities",
}
"""Admission kind -> ``ClusterResources`` field holding the raw objects of that kind."""

CompileFn = Callable[[Any], Any]
"""``compile_config(resources) -> CompileResult`` (``.errors``: objects with a useful ``str``)."""


def _ident(raw: Mapping[str, Any]) -> tuple[str, str]:
    meta = raw.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def with_object(
    resources: Any, *, kind: str, obj: Mapping[str, Any] | None, ident: tuple[str, str]
) -> Any:
    """A copy of ``resources`` where the ``kind`` object ``ident`` is ``obj`` (removed if None)."""
    field = KIND_FIELDS[kind]
    items = [o for o in getattr(resources, field) if _ident(o) != ident]
    if obj is not None:
        items.append(dict(obj))
    return dataclasses.replace(resources, **{field: tuple(items)})


def _response(uid: str, *, allowed: bool, message: str = "", code: int = 422) -> dict[str, Any]:
    resp: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        resp["status"] = {"code": code, "reason": "Invalid", "message": message}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}


def review(
    admission_review: Mapping[str, Any],
    *,
    resources: Any,
    compile_fn: CompileFn,
    namespace: str,
    delete_compile_fn: CompileFn | None = None,
) -> dict[str, Any]:
    """Decide one AdmissionReview v1 request; returns the AdmissionReview response dict.

    Args:
        admission_review: the request body (``request.uid``, ``kind``, ``operation``,
            ``object``, ``oldObject``, ``name``, ``namespace``).
        resources: the cluster's current ``ClusterResources`` (from the controller's caches).
        compile_fn: the compiler (``ingot.api.compile.compile_config``), lenient about
            references to objects not created yet so objects can be applied in any order.
        namespace: the only namespace where metallb.io objects are accepted.
        delete_compile_fn: the compiler used for DELETE (default ``compile_fn``); strict about
            references, so deleting an object others use (a BFDProfile) is refused.
    """
    request = admission_review.get("request") or {}
    uid = str(request.get("uid", ""))
    kind = str((request.get("kind") or {}).get("kind", ""))
    op = str(request.get("operation", ""))
    if kind not in KIND_FIELDS or op not in {"CREATE", "UPDATE", "DELETE"}:
        return _response(uid, allowed=True)
    obj = request.get("object") if op != "DELETE" else None
    source = obj if obj is not None else (request.get("oldObject") or {})
    ident = (
        str(request.get("namespace") or _ident(source)[0]),
        str(request.get("name") or _ident(source)[1]),
    )
    label = f"{kind} {ident[0]}/{ident[1]}"
    if op != "DELETE" and ident[0] != namespace:
        return _response(
            uid,
            allowed=False,
            message=f"{label}: metadata.namespace: must be {namespace!r} (the namespace ingot "
            "runs in); objects elsewhere are ignored",
        )
    if obj is not None and not isinstance(obj.get("spec", {}), Mapping):
        return _response(uid, allowed=False, message=f"{label}: spec: must be an object")
    fn = delete_compile_fn if (op == "DELETE" and delete_compile_fn is not None) else compile_fn
    try:
        before = {str(e) for e in fn(resources).errors}
        after = fn(with_object(resources, kind=kind, obj=obj, ident=ident)).errors
    except Exception as exc:  # the compiler must not crash; refuse rather than admit blindly
        log.exception("compiler failed while reviewing %s", label)
        return _response(uid, allowed=False, code=500, message=f"{label}: internal error: {exc}")
    new = [str(e) for e in after if str(e) not in before]
    if not new:
        return _response(uid, allowed=True)
    verb = "deleting" if op == "DELETE" else "this change to"
    return _response(
        uid,
        allowed=False,
        message=f"{verb} {label} would make the configuration invalid: " + "; ".join(new),
    )


def make_app(
    *,
    resources: Callable[[], Any],
    compile_fn: CompileFn,
    namespace: str,
    delete_compile_fn: CompileFn | None = None,
) -> web.Application:
    """Aiohttp app: ``POST /validate`` and MetalLB-style ``/validate-metallb-io-<ver>-<kind>``.

    ``resources`` is called per request for the current ``ClusterResources``.
    """

    async def handle(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        if not isinstance(body, Mapping) or not isinstance(body.get("request"), Mapping):
            return web.json_response({"error": "not an AdmissionReview"}, status=400)
        result = review(
            body,
            resources=resources(),
            compile_fn=compile_fn,
            namespace=namespace,
            delete_compile_fn=delete_compile_fn,
        )
        return web.json_response(result)

    app = web.Application(client_max_size=3 * 1024 * 1024)
    app.router.add_post("/validate", handle)
    app.router.add_post(r"/{path:validate-[a-z0-9-]+}", handle)
    return app


class TLSConfig:
    """A server ``ssl.SSLContext`` whose certificate can be swapped on rotation.

    ``load(bundle)`` writes the PEMs to a private temp dir (``ssl`` reads files only) and
    (re)loads them; new connections get the new certificate.
    """

    def __init__(self) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.loaded: certs.CertBundle | None = None

    def load(self, bundle: certs.CertBundle) -> None:
        if bundle == self.loaded:
            return
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="ingot-webhook-")
        d = Path(self._dir.name)
        (d / "tls.crt").write_bytes(bundle.cert_pem)
        (d / "tls.key").write_bytes(bundle.key_pem)
        (d / "tls.key").chmod(0o600)
        self.context.load_cert_chain(d / "tls.crt", d / "tls.key")
        self.loaded = bundle

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
