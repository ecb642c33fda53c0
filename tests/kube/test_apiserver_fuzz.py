"""ingot.apiserver: arbitrary bodies and patches never crash the server nor write partially.

Property tests on the request semantics (``handling.Backend``) without HTTP, so that many
examples run quickly: every outcome is a stored object or an ``ApiError`` that is not a 500,
and a rejected request leaves the global resourceVersion where it was.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingot.apiserver import errors, handling

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=8))
KEYS = st.sampled_from(
    [
        "metadata",
        "spec",
        "status",
        "name",
        "labels",
        "ports",
        "port",
        "type",
        "data",
        "items",
        "addresses",
        "finalizers",
        "resourceVersion",
        "namespace",
        "generateName",
        "ingress",
        "ip",
        "loadBalancer",
        "preconditions",
        "uid",
        "apiVersion",
        "kind",
        "x",
    ]
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)

CRD = {
    "metadata": {"name": "pools.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "pools", "kind": "Pool"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "addresses": {"type": "array", "items": {"type": "string"}},
                                    "mode": {
                                        "type": "string",
                                        "enum": ["L2", "BGP"],
                                        "default": "L2",
                                    },
                                },
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def backend() -> handling.Backend:
    b = handling.Backend(history_size=1000)
    crd_rt = b.types[("apiextensions.k8s.io", "customresourcedefinitions")]
    b.create(crd_rt, "v1", None, CRD)
    return b


RESOURCES = [
    ("", "services"),
    ("", "configmaps"),
    ("", "nodes"),
    ("coordination.k8s.io", "leases"),
    ("discovery.k8s.io", "endpointslices"),
    ("events.k8s.io", "events"),
    ("example.com", "pools"),
]


def _ensure_target(backend: handling.Backend, resource: tuple[str, str]) -> None:
    rt = backend.types[resource]
    version = rt.versions[0]
    if backend.store.get(rt.skey, ("default" if rt.namespaced else "", "target")) is None:
        seed: dict[str, Any] = {"metadata": {"name": "target"}}
        if resource == ("", "services"):
            seed["spec"] = {"ports": [{"port": 80}]}
        if resource == ("discovery.k8s.io", "endpointslices"):
            seed.update(addressType="IPv4", endpoints=[])
        if resource == ("events.k8s.io", "events"):
            seed.update(
                eventTime="2026-01-01T00:00:00.000000Z",
                reportingController="c",
                reportingInstance="i",
                action="a",
                reason="r",
                type="Normal",
            )
        backend.create(rt, version, "default", seed)


def _check(backend: handling.Backend, call: Any) -> None:
    before = backend.store.rv
    failure: errors.ApiError | None = None
    try:
        call()
    except errors.ApiError as exc:
        failure = exc
    if failure is None:
        return
    # the one 500 a real server answers too (etcd3 store.Create)
    assert failure.code != 500 or "should not be set on objects to be created" in failure.message
    assert backend.store.rv == before, "a rejected request moved the resourceVersion"
    status = failure.to_status()
    assert status["kind"] == "Status"
    assert status["code"] == failure.code


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(resource=st.sampled_from(RESOURCES), body=JSON)
def test_any_create_body(backend: handling.Backend, resource: tuple[str, str], body: Any) -> None:
    rt = backend.types[resource]
    _check(backend, lambda: backend.create(rt, rt.versions[0], "default", body))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    resource=st.sampled_from(RESOURCES),
    patch=JSON,
    content_type=st.sampled_from(
        [handling.MERGE_PATCH, handling.JSON_PATCH, handling.STRATEGIC_PATCH]
    ),
    subresource=st.sampled_from(["", "status"]),
)
def test_any_patch(
    backend: handling.Backend,
    resource: tuple[str, str],
    patch: Any,
    content_type: str,
    subresource: str,
) -> None:
    rt = backend.types[resource]
    version = rt.versions[0]
    _ensure_target(backend, resource)
    sub = subresource if rt.has_status else ""
    _check(
        backend,
        lambda: backend.patch(
            rt, version, "default", "target", patch, content_type, subresource=sub
        ),
    )


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(resource=st.sampled_from(RESOURCES), body=JSON, options=JSON)
def test_any_update_and_delete_options(
    backend: handling.Backend, resource: tuple[str, str], body: Any, options: Any
) -> None:
    rt = backend.types[resource]
    version = rt.versions[0]
    _ensure_target(backend, resource)
    _check(backend, lambda: backend.update(rt, version, "default", "target", body))
    _check(backend, lambda: backend.delete(rt, version, "default", "target", options))
    _check(
        backend,
        lambda: backend.list(rt, version, "default", label_selector=str(body)[:40], limit=2),
    )
