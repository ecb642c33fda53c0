"""Chart tier fixtures: load charts/ingot once with helm-python-sdk, render variants to objects.

helm-python-sdk 0.2.2 bundles Helm SDK v4 (``libhelm_c.so``) behind ctypes, so lint, render and
``values.schema.json`` validation run with no ``helm`` binary and no cluster
(reference: python-k8s-stack.md §4). ``render()`` cannot take ``--kube-version`` or
``--api-versions``, so templates never branch on ``.Capabilities``.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from ingot.kube import source as src

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "charts" / "ingot"
RELEASE = "ingot"
NAMESPACE = "ingot-system"

RawObject = dict[str, Any]
Render = Callable[..., "Rendered"]


@pytest.fixture(scope="session")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def _render_texts(
    chart: helm.Chart,
    values: Mapping[str, Any] | None = None,
    *,
    name: str = RELEASE,
    namespace: str = NAMESPACE,
) -> dict[str, str]:
    """Template path -> rendered text, after validating ``values`` against the chart's schema."""
    chart.validate_schema(dict(values or {}))
    return chart.render(dict(values or {}), name=name, namespace=namespace, is_install=True)


class Rendered(list[RawObject]):
    """The objects of one render, with lookups by kind and name."""

    def find(self, kind: str, name: str | None = None) -> list[RawObject]:
        """Objects of ``kind`` (and ``metadata.name``, if given)."""
        return [
            o for o in self if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
        ]

    def one(self, kind: str, name: str | None = None) -> RawObject:
        """The single object of ``kind`` (and name); fails the test otherwise."""
        found = self.find(kind, name)
        assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
        return found[0]

    def kinds(self) -> set[str]:
        return {o["kind"] for o in self}

    def rules_for(self, sa: str, sa_namespace: str) -> list[tuple[RawObject, str | None]]:
        """RBAC rules bound to a ServiceAccount: (rule, namespace it applies in | None=all)."""
        roles = {(o["kind"], o["metadata"]["name"]): o for o in self if o["kind"].endswith("Role")}
        out: list[tuple[RawObject, str | None]] = []
        for binding in self:
            if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
                continue
            if not any(
                s["kind"] == "ServiceAccount" and s["name"] == sa and s["namespace"] == sa_namespace
                for s in binding["subjects"]
            ):
                continue
            ref = binding["roleRef"]
            role = roles[(ref["kind"], ref["name"])]
            cluster = binding["kind"] == "ClusterRoleBinding"
            where = None if cluster else binding["metadata"]["namespace"]
            out.extend((rule, where) for rule in role["rules"])
        return out

    def allowed(
        self,
        sa: str,
        verb: str,
        group: str,
        resource: str,
        *,
        namespace: str | None,
        name: str | None = None,
        any_name: bool = False,
        sa_namespace: str = NAMESPACE,
    ) -> bool:
        """The RBAC authorizer's answer for the ServiceAccount ``sa_namespace/sa``.

        ``namespace=None`` asks for all namespaces (or a cluster-scoped resource);
        ``resource`` may carry a subresource (``services/status``); ``any_name`` accepts a rule
        limited by resourceNames (the code uses one configured name a scan cannot see).
        """
        for rule, where in self.rules_for(sa, sa_namespace):
            if where is not None and where != namespace:
                continue
            if group not in rule["apiGroups"] and "*" not in rule["apiGroups"]:
                continue
            if resource not in rule["resources"] and "*" not in rule["resources"]:
                continue
            if verb not in rule["verbs"] and "*" not in rule["verbs"]:
                continue
            names = rule.get("resourceNames")
            if names and not any_name and name not in names:
                continue
            return True
        return False


def objects_of(texts: Mapping[str, str]) -> Rendered:
    """Every Kubernetes object in the rendered templates, in template-path order."""
    out = Rendered()
    for path in sorted(texts):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(texts[path]):
            if doc:
                assert isinstance(doc, dict), f"{path}: a document is not a mapping"
                out.append(doc)
    return out


@pytest.fixture(scope="session")
def render_texts(chart: helm.Chart) -> Callable[..., dict[str, str]]:
    """``render_texts(values=None, *, name=..., namespace=...)`` -> template path -> text."""

    def _texts(
        values: Mapping[str, Any] | None = None,
        *,
        name: str = RELEASE,
        namespace: str = NAMESPACE,
    ) -> dict[str, str]:
        return _render_texts(chart, values, name=name, namespace=namespace)

    return _texts


@pytest.fixture(scope="session")
def render(chart: helm.Chart) -> Render:
    """``render(values=None, *, name=..., namespace=...)`` -> ``Rendered`` objects.

    Renders are cached per (values, name, namespace); each call gets its own deep copy.
    """

    def _render(
        values: Mapping[str, Any] | None = None,
        *,
        name: str = RELEASE,
        namespace: str = NAMESPACE,
    ) -> Rendered:
        key = (json.dumps(values or {}, sort_keys=True), name, namespace)
        if key not in cache:
            cache[key] = objects_of(_render_texts(chart, values, name=name, namespace=namespace))
        return Rendered(copy.deepcopy(cache[key]))

    cache: dict[tuple[str, str, str], Rendered] = {}
    return _render


VERBS = {
    "get": ("get", ""),
    "list": ("list", ""),
    "watch": ("watch", ""),
    "create": ("create", ""),
    "replace": ("update", ""),
    "replace_status": ("update", "/status"),
    "patch": ("patch", ""),
    "patch_status": ("patch", "/status"),
    "delete": ("delete", ""),
}


class RecordingSource:
    """Delegates to a real ``Source``; records (verb, group, resource, namespace) per call."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.calls: set[tuple[str, str, str, str | None]] = set()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in VERBS:
            return target
        verb, sub = VERBS[name]

        def call(kind: src.Kind, *args: Any, **kwargs: Any) -> Any:
            ns = kwargs.get("namespace") if kind.namespaced else None
            with self._lock:
                self.calls.add((verb, kind.group, kind.plural + sub, ns))
            return target(kind, *args, **kwargs)

        return call


@pytest.fixture
def recording_source() -> type[RecordingSource]:
    """``RecordingSource(inner)``: wraps an ``ingot.kube`` Source and records every call."""
    return RecordingSource
