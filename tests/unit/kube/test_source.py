"""source.py pure parts: Kind paths, keys, error mapping, merge patch; FakeSource specifics."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from ingot import errors
from ingot.kube import source


@pytest.mark.parametrize(
    ("kind", "kw", "path"),
    [
        pytest.param(source.SERVICE, {}, "/api/v1/services", id="core-all-namespaces"),
        pytest.param(
            source.SERVICE,
            {"namespace": "demo", "name": "web", "subresource": "status"},
            "/api/v1/namespaces/demo/services/web/status",
            id="core-status",
        ),
        pytest.param(source.NODE, {"name": "n1"}, "/api/v1/nodes/n1", id="cluster-scoped"),
        pytest.param(
            source.IP_ADDRESS_POOL,
            {"namespace": "metallb-system"},
            "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools",
            id="custom",
        ),
        pytest.param(
            source.LEASE,
            {"namespace": "x", "name": "l"},
            "/apis/coordination.k8s.io/v1/namespaces/x/leases/l",
            id="lease",
        ),
        pytest.param(
            source.BGP_PEER, {}, "/apis/metallb.io/v1beta2/bgppeers", id="bgppeer-v1beta2"
        ),
    ],
)
def test_kind_paths(kind: source.Kind, kw: dict, path: str) -> None:
    assert kind.path(**kw) == path


def test_namespaced_object_path_needs_namespace() -> None:
    with pytest.raises(ValueError, match="namespace"):
        source.SERVICE.path(name="web")


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        pytest.param({"metadata": {"name": "a", "namespace": "n"}}, "n/a", id="namespaced"),
        pytest.param({"metadata": {"name": "node-a"}}, "node-a", id="cluster"),
    ],
)
def test_object_key_round_trip(obj: dict, key: str) -> None:
    assert source.object_key(obj) == key
    ns, name = source.split_key(key)
    assert name == obj["metadata"]["name"]
    assert ns == obj["metadata"].get("namespace")


class _Headers(dict):
    pass


@pytest.mark.parametrize(
    ("status", "body", "headers", "cls", "reason"),
    [
        pytest.param(
            409, '{"reason":"Conflict","message":"m"}', None, errors.Conflict, "Conflict", id="409"
        ),
        pytest.param(
            409,
            '{"reason":"AlreadyExists"}',
            None,
            errors.Conflict,
            "AlreadyExists",
            id="409-exists",
        ),
        pytest.param(404, '{"reason":"NotFound"}', None, errors.NotFound, "NotFound", id="404"),
        pytest.param(410, '{"reason":"Expired"}', None, errors.Expired, "Expired", id="410"),
        pytest.param(
            429, "", _Headers({"Retry-After": "7"}), errors.Throttled, "TooManyRequests", id="429"
        ),
        pytest.param(500, "oops not json", None, errors.Unavailable, "", id="500-plain-body"),
        pytest.param(503, "{}", None, errors.Unavailable, "", id="503"),
        pytest.param(403, '{"reason":"Forbidden"}', None, errors.KubeError, "Forbidden", id="403"),
        pytest.param(422, '{"reason":"Invalid"}', None, errors.KubeError, "Invalid", id="422"),
    ],
)
def test_map_api_exception(status, body, headers, cls, reason) -> None:
    exc = ApiException(status=status, reason="")
    exc.body = body
    exc.headers = headers
    mapped = source.map_api_exception(exc, what="GET services demo/web")
    assert type(mapped) is cls
    assert mapped.status == status
    assert mapped.reason == reason
    assert str(mapped).startswith("GET services demo/web:")
    if cls is errors.Throttled:
        assert mapped.retry_after_s == 7.0


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        pytest.param({"a": "b"}, {"a": "c"}, {"a": "c"}, id="replace"),
        pytest.param({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}, id="add"),
        pytest.param({"a": "b"}, {"a": None}, {}, id="null-deletes"),
        pytest.param(
            {"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}, id="nested"
        ),
        pytest.param({"a": [1, 2]}, {"a": [3]}, {"a": [3]}, id="lists-replaced"),
        pytest.param({"a": "b"}, {"a": {"c": "d"}}, {"a": {"c": "d"}}, id="scalar-to-object"),
    ],
)
def test_merge_patch_rfc7386(target: dict, patch: dict, result: dict) -> None:
    before = repr(target)
    assert source.merge_patch(target, patch) == result
    assert repr(target) == before  # input not mutated


def test_fake_generate_name_and_faults() -> None:
    fake = source.FakeSource()
    a = fake.create(source.SECRET, {"metadata": {"generateName": "s-", "namespace": "x"}})
    assert a["metadata"]["name"].startswith("s-")
    fake.fail_next(errors.Unavailable("x", status=500), verbs=("get",), kinds=(source.SECRET,))
    with pytest.raises(errors.Unavailable):
        fake.get(source.SECRET, a["metadata"]["name"], namespace="x")
    assert fake.get(source.SECRET, a["metadata"]["name"], namespace="x")
    assert ("get", "secrets", f"x/{a['metadata']['name']}") in fake.calls


def _write_status(fake: source.FakeSource, kind: source.Kind, how: str, name: str, ns):
    cur = fake.get(kind, name, namespace=ns)
    if how == "put":
        cur["metadata"]["annotations"] = {"metallb.io/ip-allocated-from-pool": "a"}
        cur["metadata"]["uid"] = "forged"
        cur["status"] = {"marker": 1}
        return fake.replace_status(kind, cur, namespace=ns)
    patch = {
        "metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": "a"}, "uid": "forged"},
        "status": {"marker": 1},
    }
    return fake.patch_status(kind, name, patch, namespace=ns)


@pytest.mark.parametrize("how", ["put", "patch"])
@pytest.mark.parametrize(
    ("kind", "ns", "keeps_meta"),
    [
        pytest.param(source.SERVICE, "demo", True, id="service"),
        pytest.param(source.NODE, None, True, id="node"),
        pytest.param(source.IP_ADDRESS_POOL, "demo", False, id="custom-resource"),
    ],
)
def test_fake_status_write_keeps_metadata_as_core_strategies(kind, ns, keeps_meta, how) -> None:
    fake = source.FakeSource()
    meta = {"name": "x", **({"namespace": ns} if ns else {})}
    created = fake.create(kind, {"metadata": meta, "spec": {"a": 1}}, namespace=ns)
    got = _write_status(fake, kind, how, "x", ns)
    assert got["status"] == {"marker": 1}
    assert got["spec"] == {"a": 1}
    assert got["metadata"]["uid"] == created["metadata"]["uid"]  # system fields never change
    annotations = (got["metadata"].get("annotations") or {}).get(
        "metallb.io/ip-allocated-from-pool"
    )
    assert annotations == ("a" if keeps_meta else None)


def test_fake_strategic_patch_merges_conditions_by_type() -> None:
    fake = source.FakeSource()
    fake.create(
        source.SERVICE, {"metadata": {"name": "web", "namespace": "demo"}}, namespace="demo"
    )
    allocated = {"type": "ingot.io/IPAllocated", "status": "True"}
    fake.patch_status(
        source.SERVICE, "web", {"status": {"conditions": [allocated]}}, namespace="demo"
    )
    announced = {"type": "ingot.io/Announced", "status": "False"}
    got = fake.patch_status(
        source.SERVICE,
        "web",
        {"status": {"conditions": [announced]}},
        namespace="demo",
        patch_type="strategic",
    )
    assert got["status"]["conditions"] == [allocated, announced]
    got = fake.patch_status(
        source.SERVICE,
        "web",
        {"status": {"conditions": [{**announced, "status": "True"}]}},
        namespace="demo",
        patch_type="strategic",
    )
    assert got["status"]["conditions"] == [allocated, {**announced, "status": "True"}]
    # a merge patch replaces the list whole (RFC 7386)
    got = fake.patch_status(
        source.SERVICE, "web", {"status": {"conditions": [announced]}}, namespace="demo"
    )
    assert got["status"]["conditions"] == [announced]
