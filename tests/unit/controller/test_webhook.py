from __future__ import annotations

import datetime as dt
import functools
import ssl
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from controller import certs, webhook
from ingot.api import compile as api_compile

NS = "metallb-system"


@dataclass(frozen=True)
class FakeResources:
    """Stands in for ingot.api.compile.ClusterResources (same field names)."""

    ip_address_pools: tuple = ()
    l2_advertisements: tuple = ()
    bgp_advertisements: tuple = ()
    bgp_peers: tuple = ()
    bfd_profiles: tuple = ()
    communities: tuple = ()
    namespaces: tuple = ()
    nodes: tuple = field(default_factory=tuple)


@dataclass(frozen=True)
class FakeError:
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class FakeResult:
    errors: tuple


def fake_compile(res: FakeResources) -> FakeResult:
    """Pools: entries containing ',' are invalid; peers: bfdProfile must exist."""
    errors = []
    for p in res.ip_address_pools:
        for i, a in enumerate(p["spec"].get("addresses", [])):
            if "," in a:
                errors.append(
                    FakeError(
                        f"IPAddressPool {NS}/{p['metadata']['name']} spec.addresses[{i}]: "
                        f"{a!r} is not a CIDR or range"
                    )
                )
    profiles = {b["metadata"]["name"] for b in res.bfd_profiles}
    for peer in res.bgp_peers:
        prof = peer["spec"].get("bfdProfile")
        if prof and prof not in profiles:
            errors.append(
                FakeError(
                    f"BGPPeer {NS}/{peer['metadata']['name']} spec.bfdProfile: "
                    f"BFDProfile {prof!r} not found"
                )
            )
    return FakeResult(tuple(errors))


def obj(kind, name, spec, ns=NS):
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": kind,
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def req(op, o, old=None, uid="u1"):
    src = o or old
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "metallb.io", "version": "v1beta1", "kind": src["kind"]},
            "operation": op,
            "name": src["metadata"]["name"],
            "namespace": src["metadata"]["namespace"],
            "object": o,
            "oldObject": old,
        },
    }


GOOD_POOL = obj("IPAddressPool", "picked", {"addresses": ["203.0.113.29/32"]})
BAD_POOL = obj("IPAddressPool", "picked", {"addresses": ["203.0.113.29,203.0.113.34"]})
PROFILE = obj("BFDProfile", "fast", {})
PEER = obj("BGPPeer", "r1", {"bfdProfile": "fast"})
BROKEN_OTHER = obj("IPAddressPool", "old-bad", {"addresses": ["1,2"]})


@pytest.mark.parametrize(
    ("current", "request_", "allowed", "fragment"),
    [
        pytest.param(FakeResources(), req("CREATE", GOOD_POOL), True, "", id="valid-pool"),
        pytest.param(
            FakeResources(), req("CREATE", BAD_POOL), False,
            "IPAddressPool metallb-system/picked spec.addresses[0]", id="c10-comma-list-refused",
        ),
        pytest.param(
            FakeResources(ip_address_pools=(GOOD_POOL,)), req("UPDATE", BAD_POOL, GOOD_POOL),
            False, "spec.addresses[0]", id="update-to-invalid",
        ),
        pytest.param(
            FakeResources(), req("CREATE", obj("IPAddressPool", "p", {}, ns="default")), False,
            "metadata.namespace", id="wrong-namespace",
        ),
        pytest.param(
            FakeResources(bfd_profiles=(PROFILE,), bgp_peers=(PEER,)), req("DELETE", None, PROFILE),
            False, "BGPPeer metallb-system/r1 spec.bfdProfile", id="delete-profile-in-use",
        ),
        pytest.param(
            FakeResources(bfd_profiles=(PROFILE,)), req("DELETE", None, PROFILE), True, "",
            id="delete-unused-profile",
        ),
        pytest.param(
            FakeResources(ip_address_pools=(BROKEN_OTHER,)), req("CREATE", GOOD_POOL), True, "",
            id="existing-error-does-not-block-others",
        ),
        pytest.param(
            FakeResources(ip_address_pools=(BROKEN_OTHER,)),
            req("DELETE", None, BROKEN_OTHER), True, "", id="invalid-object-can-be-deleted",
        ),
        pytest.param(
            FakeResources(),
            {"request": {"uid": "u1", "kind": {"kind": "Service"}, "operation": "CREATE"}},
            True, "", id="foreign-kind-allowed",
        ),
    ],
)  # fmt: skip
def test_review(current, request_, allowed, fragment) -> None:
    out = webhook.review(request_, resources=current, compile_fn=fake_compile, namespace=NS)
    assert out["apiVersion"] == "admission.k8s.io/v1"
    resp = out["response"]
    assert resp["uid"] == "u1"
    assert resp["allowed"] is allowed
    if not allowed:
        assert fragment in resp["status"]["message"]
        assert resp["status"]["code"] == 422


def test_compiler_crash_refuses_with_500() -> None:
    def boom(_):
        raise RuntimeError("bug")

    out = webhook.review(
        req("CREATE", GOOD_POOL), resources=FakeResources(), compile_fn=boom, namespace=NS
    )
    assert out["response"]["allowed"] is False
    assert out["response"]["status"]["code"] == 500


def test_with_object_replaces_by_identity() -> None:
    res = FakeResources(ip_address_pools=(GOOD_POOL,))
    out = webhook.with_object(
        res, kind="IPAddressPool", obj=BAD_POOL, ident=(NS, "picked")
    ).ip_address_pools
    assert out == (BAD_POOL,)
    assert res.ip_address_pools == (GOOD_POOL,)


async def test_https_round_trip_verified_with_ca_only() -> None:
    names = certs.service_dns_names(service="ingot-webhook", namespace=NS)
    bundle = certs.generate(dns_names=names, now=dt.datetime.now(dt.UTC))
    tls = webhook.TLSConfig()
    tls.load(bundle)
    app = webhook.make_app(resources=lambda: FakeResources(), compile_fn=fake_compile, namespace=NS)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client_ctx = ssl.create_default_context(cadata=bundle.ca_cert_pem.decode())
    try:
        async with aiohttp.ClientSession() as s:
            url = f"https://127.0.0.1:{port}/validate-metallb-io-v1beta1-ipaddresspool"
            async with s.post(
                url, json=req("CREATE", BAD_POOL), ssl=client_ctx, server_hostname=names[2]
            ) as r:
                assert r.status == 200
                body = await r.json()
            assert body["response"]["allowed"] is False
            async with s.post(url, data=b"nope", ssl=client_ctx, server_hostname=names[2]) as r:
                assert r.status == 400
    finally:
        await runner.cleanup()
        tls.close()


# -- with the real compiler (A's ingot.api.compile), as ingot-controller wires it ------------

REAL = functools.partial(api_compile.compile_config, namespace=NS, strict_references=False)

POOL_A = obj("IPAddressPool", "lb", {"addresses": ["203.0.113.1-203.0.113.126",
                                                    "203.0.113.129-203.0.113.254"]})  # fmt: skip
POOL_B = obj("IPAddressPool", "lb", {"addresses": ["203.0.113.0/24"], "avoidBuggyIPs": True})
AGG24 = obj("BGPAdvertisement", "agg", {"ipAddressPools": ["lb"], "aggregationLength": 24})
AGG32 = obj("BGPAdvertisement", "agg", {"ipAddressPools": ["lb"], "aggregationLength": 32})


def real(current: api_compile.ClusterResources, request_: dict) -> dict:
    return webhook.review(request_, resources=current, compile_fn=REAL, namespace=NS)["response"]


@pytest.mark.parametrize(
    ("pool_", "fragment"),
    [
        pytest.param(
            obj("IPAddressPool", "picked", {"addresses": ["198.51.100.29,198.51.100.34"]}),
            "spec.addresses[0]", id="c10-comma-list",
        ),
        pytest.param(
            obj("IPAddressPool", "picked", {"addresses": ["198.51.100.34-198.51.100.29"]}),
            "spec.addresses[0]", id="c10-reversed-range",
        ),
    ],
)  # fmt: skip
def test_c10_real_compiler_refuses_with_field_path(pool_, fragment) -> None:
    resp = real(api_compile.ClusterResources(), req("CREATE", pool_))
    assert resp["allowed"] is False
    assert f"IPAddressPool metallb-system/picked {fragment}" in resp["status"]["message"]


def test_c10_correct_form_accepted() -> None:
    good = obj(
        "IPAddressPool",
        "picked",
        {"addresses": ["198.51.100.29/32", "198.51.100.34-198.51.100.34"]},
    )
    assert real(api_compile.ClusterResources(), req("CREATE", good))["allowed"] is True


def test_c36_aggregation_refused_in_either_order() -> None:
    resp = real(api_compile.ClusterResources(ip_address_pools=(POOL_A,)), req("CREATE", AGG24))
    assert resp["allowed"] is False
    assert "aggregationLength" in resp["status"]["message"]
    resp = real(api_compile.ClusterResources(bgp_advertisements=(AGG24,)), req("CREATE", POOL_A))
    assert resp["allowed"] is False
    ok = api_compile.ClusterResources(ip_address_pools=(POOL_B,))
    assert real(ok, req("CREATE", AGG24))["allowed"] is True
    assert real(api_compile.ClusterResources(ip_address_pools=(POOL_A,)), req("CREATE", AGG32))[
        "allowed"
    ]


def test_delete_of_bfd_profile_in_use_refused_with_real_compiler() -> None:
    profile = obj("BFDProfile", "fast", {})
    peer = obj(
        "BGPPeer", "r1",
        {"myASN": 64512, "peerASN": 64500, "peerAddress": "198.51.100.1", "bfdProfile": "fast"},
    )  # fmt: skip
    peer["apiVersion"] = "metallb.io/v1beta2"
    current = api_compile.ClusterResources(bfd_profiles=(profile,), bgp_peers=(peer,))
    strict = functools.partial(api_compile.compile_config, namespace=NS)
    out = webhook.review(
        req("DELETE", None, profile),
        resources=current,
        compile_fn=REAL,
        namespace=NS,
        delete_compile_fn=strict,
    )["response"]
    assert out["allowed"] is False
    assert "BGPPeer metallb-system/r1" in out["status"]["message"]
    # ... while creating the peer before its profile is fine (any order)
    early = api_compile.ClusterResources()
    assert real(early, req("CREATE", peer))["allowed"] is True
