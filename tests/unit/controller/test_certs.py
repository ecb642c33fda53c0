from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import replace

import pytest
from cryptography import x509

from controller import certs

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
NAMES = certs.service_dns_names(service="ingot-webhook", namespace="metallb-system")


@pytest.fixture(scope="module")
def bundle() -> certs.CertBundle:
    return certs.generate(dns_names=NAMES, now=NOW)


def test_dns_names_cover_every_service_form() -> None:
    assert NAMES == [
        "ingot-webhook",
        "ingot-webhook.metallb-system",
        "ingot-webhook.metallb-system.svc",
        "ingot-webhook.metallb-system.svc.cluster.local",
    ]


def test_generated_cert_is_signed_by_ca_and_names_the_service(bundle: certs.CertBundle) -> None:
    ca = x509.load_pem_x509_certificate(bundle.ca_cert_pem)
    cert = x509.load_pem_x509_certificate(bundle.cert_pem)
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == NAMES
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc == NOW + dt.timedelta(seconds=certs.CERT_VALIDITY_S)


def test_generated_pair_loads_into_an_ssl_context(bundle: certs.CertBundle, tmp_path) -> None:
    (tmp_path / "tls.crt").write_bytes(bundle.cert_pem)
    (tmp_path / "tls.key").write_bytes(bundle.key_pem)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")


def test_generate_refuses_no_names() -> None:
    with pytest.raises(ValueError, match="DNS name"):
        certs.generate(dns_names=[], now=NOW)


def test_repr_hides_keys(bundle: certs.CertBundle) -> None:
    assert "PRIVATE" not in repr(bundle)


def test_secret_round_trip(bundle: certs.CertBundle) -> None:
    data = certs.to_secret_data(bundle)
    assert set(data) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    assert certs.from_secret_data(data) == bundle


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(None, id="no-data"),
        pytest.param({}, id="empty"),
        pytest.param({"ca.crt": "x"}, id="missing-keys"),
        pytest.param(
            {"ca.crt": "!!", "ca.key": "!!", "tls.crt": "!!", "tls.key": "!!"}, id="not-base64"
        ),
    ],
)
def test_from_secret_data_rejects_broken(data) -> None:
    assert certs.from_secret_data(data) is None


def _other(bundle: certs.CertBundle) -> certs.CertBundle:
    return certs.generate(dns_names=NAMES, now=NOW)


@pytest.mark.parametrize(
    ("make", "at", "names", "rotate", "reason"),
    [
        pytest.param(lambda b: b, NOW, NAMES, False, "valid", id="fresh"),
        pytest.param(lambda b: None, NOW, NAMES, True, "no certificate", id="missing"),
        pytest.param(
            lambda b: replace(b, cert_pem=b"garbage"), NOW, NAMES, True, "unparsable", id="garbage"
        ),
        pytest.param(
            lambda b: replace(b, ca_cert_pem=_other(b).ca_cert_pem),
            NOW,
            NAMES,
            True,
            "not signed",
            id="foreign-ca",
        ),
        pytest.param(
            lambda b: replace(b, key_pem=_other(b).key_pem),
            NOW,
            NAMES,
            True,
            "key does not match",
            id="wrong-key",
        ),
        pytest.param(lambda b: b, NOW, NAMES[:2], True, "DNS names differ", id="renamed-service"),
        pytest.param(
            lambda b: b,
            NOW + dt.timedelta(days=365 - 91),
            NAMES,
            False,
            "valid",
            id="just-before-refresh-window",
        ),
        pytest.param(
            lambda b: b,
            NOW + dt.timedelta(days=365 - 89),
            NAMES,
            True,
            "serving certificate expires",
            id="inside-refresh-window",
        ),
        pytest.param(
            lambda b: b, NOW - dt.timedelta(hours=1), NAMES, True, "not valid yet", id="future"
        ),
    ],
)
def test_needs_rotation(bundle, make, at, names, rotate, reason) -> None:
    decision = certs.needs_rotation(make(bundle), now=at, dns_names=names)
    assert decision.rotate is rotate
    assert reason in decision.reason


class FakeCore:
    def __init__(self) -> None:
        self.secret = None
        self.writes = 0

    def read_namespaced_secret(self, name, ns):
        from kubernetes.client.exceptions import ApiException

        if self.secret is None:
            raise ApiException(status=404)
        meta = type("M", (), {"resource_version": str(self.writes)})()
        return type("S", (), {"data": self.secret["data"], "metadata": meta})()

    def create_namespaced_secret(self, ns, body):
        self.secret = body
        self.writes += 1

    def replace_namespaced_secret(self, name, ns, body):
        self.secret = body
        self.writes += 1


class FakeAdmission:
    def __init__(self) -> None:
        cc = type("CC", (), {"ca_bundle": None})()
        hook = type("H", (), {"name": "a.metallb.io", "client_config": cc})()
        self.vwc = type("V", (), {"webhooks": [hook]})()
        self.writes = 0

    def read_validating_webhook_configuration(self, name):
        return self.vwc

    def replace_validating_webhook_configuration(self, name, body):
        self.writes += 1


def test_rotator_creates_keeps_then_rotates_before_expiry() -> None:
    core, adm = FakeCore(), FakeAdmission()
    rot = certs.CertRotator(
        core_v1=core,
        admission_v1=adm,
        namespace="metallb-system",
        secret_name="ingot-webhook-cert",
        service_name="ingot-webhook",
        webhook_config_name="vwc",
    )
    first = rot.ensure(NOW)
    assert (core.writes, adm.writes) == (1, 1)
    ca_b64 = certs.to_secret_data(first)["ca.crt"]
    assert adm.vwc.webhooks[0].client_config.ca_bundle == ca_b64
    assert rot.ensure(NOW + dt.timedelta(days=100)) == first  # still valid: nothing written
    assert (core.writes, adm.writes) == (1, 1)
    later = rot.ensure(NOW + dt.timedelta(days=300))  # inside the 90-day refresh window
    assert later != first
    assert (core.writes, adm.writes) == (2, 2)
    assert adm.vwc.webhooks[0].client_config.ca_bundle == certs.to_secret_data(later)["ca.crt"]


def test_rotator_loser_of_a_create_race_serves_the_winners_cert() -> None:
    from kubernetes.client.exceptions import ApiException

    core, adm = FakeCore(), FakeAdmission()
    winner = certs.generate(dns_names=certs.service_dns_names(service="w", namespace="ns"), now=NOW)

    def racing_create(ns, body):
        core.secret = {"data": certs.to_secret_data(winner)}  # the other replica was faster
        raise ApiException(status=409)

    core.create_namespaced_secret = racing_create
    rot = certs.CertRotator(
        core_v1=core, admission_v1=adm, namespace="ns", secret_name="s",
        service_name="w", webhook_config_name="vwc",
    )  # fmt: skip
    assert rot.ensure(NOW) == winner
