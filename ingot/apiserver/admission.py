"""Calling validating admission webhooks (``admissionregistration.k8s.io/v1``), opt-in.

With ``APIServer(call_webhooks=True)`` every create/update/patch/delete is first shown to the
ValidatingWebhookConfigurations whose rules match (operations, apiGroups, apiVersions,
resources incl. ``plural/sub`` and ``*``, scope, namespaceSelector, objectSelector), as an
``AdmissionReview`` v1 POSTed over HTTPS and verified with the webhook's ``caBundle``
(k8s.io/apiserver pkg/admission/plugin/webhook). A denial answers the client with the
webhook's status (code, default 400; message ``admission webhook "<name>" denied the
request: ...``). A webhook that cannot be reached fails the request (500) when its
``failurePolicy`` is Fail (the default) and is skipped when Ignore.

Services named in ``clientConfig.service`` have no DNS here: the test maps them with
``srv.webhook_services[(namespace, name)] = "127.0.0.1:PORT"``; TLS still verifies the
certificate against ``<name>.<namespace>.svc``. A Service that is not mapped is treated as
unreachable. Mutating webhooks are stored only (not called).
"""

from __future__ import annotations

import base64
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from ingot.apiserver import errors
from ingot.apiserver.resources import ResourceType

RawObject = dict[str, Any]


@dataclass(frozen=True)
class Attributes:
    """What is being admitted (``operation`` CREATE, UPDATE or DELETE)."""

    operation: str
    rt: ResourceType
    version: str
    namespace: str
    name: str
    subresource: str
    obj: RawObject | None
    old: RawObject | None
    dry_run: bool


def _in(values: Any, wanted: str) -> bool:
    return isinstance(values, list) and ("*" in values or wanted in values)


def _resource_matches(patterns: Any, plural: str, sub: str) -> bool:
    if not isinstance(patterns, list):
        return False
    full = f"{plural}/{sub}" if sub else plural
    for pattern in patterns:
        if pattern in (full, "*/*"):
            return True
        if pattern == "*" and not sub:
            return True
        if sub and pattern == f"{plural}/*":
            return True
        if sub and pattern == f"*/{sub}":
            return True
    return False


def _rule_matches(rule: Any, attrs: Attributes) -> bool:
    if not isinstance(rule, dict):
        return False
    rt = attrs.rt
    scope = rule.get("scope", "*")
    if scope == "Namespaced" and not rt.namespaced:
        return False
    if scope == "Cluster" and rt.namespaced:
        return False
    return (
        _in(rule.get("operations"), attrs.operation)
        and _in(rule.get("apiGroups"), rt.group)
        and _in(rule.get("apiVersions"), attrs.version)
        and _resource_matches(rule.get("resources"), rt.plural, attrs.subresource)
    )


def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions); empty or None matches all."""
    if not isinstance(selector, dict):
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key"), expr.get("operator")
        values = expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def matching(
    configs: list[RawObject], attrs: Attributes, namespace_labels: Mapping[str, str]
) -> list[RawObject]:
    """The webhooks of ``configs`` that must see ``attrs``."""
    target = attrs.obj or attrs.old or {}
    object_labels = (target.get("metadata") or {}).get("labels") or {}
    old_labels = ((attrs.old or {}).get("metadata") or {}).get("labels") or {}
    out = []
    for config in configs:
        for hook in config.get("webhooks") or []:
            if not isinstance(hook, dict):
                continue
            if not any(_rule_matches(rule, attrs) for rule in hook.get("rules") or []):
                continue
            if attrs.rt.namespaced and not selector_matches(
                hook.get("namespaceSelector"), namespace_labels
            ):
                continue
            if attrs.rt.key == ("", "namespaces") and not selector_matches(
                hook.get("namespaceSelector"), object_labels
            ):
                continue
            obj_sel = hook.get("objectSelector")
            if not (
                selector_matches(obj_sel, object_labels) or selector_matches(obj_sel, old_labels)
            ):
                continue
            out.append(hook)
    return out


def review(attrs: Attributes) -> RawObject:
    """The ``AdmissionReview`` v1 request body for ``attrs``."""
    rt = attrs.rt
    gvk = {"group": rt.group, "version": attrs.version, "kind": rt.kind}
    gvr = {"group": rt.group, "version": attrs.version, "resource": rt.plural}
    request: RawObject = {
        "uid": str(uuid.uuid4()),
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": attrs.name,
        "operation": attrs.operation,
        "userInfo": {"username": "ingot-dev", "groups": ["system:masters", "system:authenticated"]},
        "object": attrs.obj,
        "oldObject": attrs.old,
        "dryRun": attrs.dry_run,
        "options": {
            "CREATE": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
            "UPDATE": {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"},
            "DELETE": {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"},
        }[attrs.operation],
    }
    if attrs.subresource:
        request["subResource"] = attrs.subresource
        request["requestSubResource"] = attrs.subresource
    if rt.namespaced:
        request["namespace"] = attrs.namespace
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def _endpoint(
    hook: RawObject, services: Mapping[tuple[str, str], str]
) -> tuple[str, str | None] | None:
    """(URL, TLS server name) of a webhook, or None when it cannot be reached."""
    config = hook.get("clientConfig") or {}
    if config.get("url"):
        return str(config["url"]), None
    service = config.get("service") or {}
    address = services.get((service.get("namespace", ""), service.get("name", "")))
    if address is None:
        return None
    port = service.get("port", 443)
    if ":" not in address:
        address = f"{address}:{port}"
    path = service.get("path") or "/"
    return f"https://{address}{path}", f"{service.get('name')}.{service.get('namespace')}.svc"


def _ssl_context(hook: RawObject) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    bundle = (hook.get("clientConfig") or {}).get("caBundle")
    if bundle:
        ctx.load_verify_locations(cadata=base64.b64decode(bundle).decode())
    return ctx


async def call(
    hooks: list[RawObject], attrs: Attributes, services: Mapping[tuple[str, str], str]
) -> list[str]:
    """Show ``attrs`` to every hook; returns their warnings.

    Raises:
        errors.ApiError: the first denial (the webhook's code, default 400), or 500 when a
            Fail-policy webhook cannot be called or answers nonsense.
    """
    warnings: list[str] = []
    for hook in hooks:
        name = str(hook.get("name", ""))
        fail = hook.get("failurePolicy", "Fail") != "Ignore"
        try:
            response = await _post(hook, review(attrs), services)
        except (TimeoutError, OSError, aiohttp.ClientError, ValueError, ssl.SSLError) as exc:
            if fail:
                raise errors.internal_error(
                    f'failed calling webhook "{name}": {type(exc).__name__}: {exc}'
                ) from None
            continue
        warnings.extend(str(w) for w in response.get("warnings") or [])
        if not response.get("allowed"):
            status = response.get("status") or {}
            raw_code = status.get("code")
            code = raw_code if isinstance(raw_code, int) and 400 <= raw_code < 600 else 400
            message = status.get("message") or ""
            raise errors.ApiError(
                code,
                str(status.get("reason") or ""),
                f'admission webhook "{name}" denied the request: {message}'.rstrip(": "),
            )
    return warnings


async def _post(
    hook: RawObject, body: RawObject, services: Mapping[tuple[str, str], str]
) -> RawObject:
    endpoint = _endpoint(hook, services)
    if endpoint is None:
        raise OSError("the webhook's Service is not mapped to an address (srv.webhook_services)")
    url, server_name = endpoint
    timeout = aiohttp.ClientTimeout(total=float(hook.get("timeoutSeconds") or 10))
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.post(
            url, json=body, ssl=_ssl_context(hook), server_hostname=server_name
        ) as resp:
            if resp.status != 200:
                raise ValueError(f"HTTP {resp.status} from the webhook")
            answer = await resp.json(content_type=None)
    response = answer.get("response") if isinstance(answer, dict) else None
    if not isinstance(response, dict) or response.get("uid") != body["request"]["uid"]:
        raise ValueError("the webhook's AdmissionReview response does not echo the request uid")
    return response
