"""Self-managed webhook certificates: a CA and a serving certificate, rotated before expiry.

The pure half (``generate``, ``needs_rotation``, Secret encoding) takes the time as an argument
and is unit-tested; ``CertRotator`` is the I/O half: it keeps the Secret
``<name>`` (keys ``ca.crt``, ``tls.crt``, ``tls.key``) and the ``caBundle`` of the
ValidatingWebhookConfiguration in step, like MetalLB's cert-controller
(``internal/k8s/k8s.go``, Secret ``metallb-webhook-cert``).

Keys are ECDSA P-256; the serving certificate carries the Service DNS names
(``svc``, ``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.cluster.local``) and EKU serverAuth.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CA_VALIDITY_S = 10 * 365 * 86400.0
"""CA lifetime: ten years, as cert-controller's default; the CA is re-made with the leaf anyway."""
CERT_VALIDITY_S = 365 * 86400.0
"""Serving certificate lifetime: one year."""
REFRESH_BEFORE_S = 90 * 86400.0
"""Rotate this long before the serving certificate (or the CA) expires."""


@dataclass(frozen=True)
class CertBundle:
    """PEM-encoded CA certificate and serving certificate + key (bytes).

    ``ca_key_pem`` is kept only in memory of the rotating process and in the Secret.
    """

    ca_cert_pem: bytes
    ca_key_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def __repr__(self) -> str:  # keys never reach logs
        return "CertBundle(<redacted>)"


@dataclass(frozen=True)
class RotationDecision:
    """Whether the stored bundle must be replaced, and why (for logs/events)."""

    rotate: bool
    reason: str


def service_dns_names(*, service: str, namespace: str) -> list[str]:
    """The DNS names the API server may use to reach the webhook Service."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def generate(
    *,
    dns_names: Sequence[str],
    now: dt.datetime,
    ca_validity_s: float = CA_VALIDITY_S,
    cert_validity_s: float = CERT_VALIDITY_S,
) -> CertBundle:
    """Make a fresh CA and a serving certificate for ``dns_names`` valid from ``now``.

    Args:
        dns_names: SAN DNS names; the first one is also the subject CN.
        now: timezone-aware issue time (back-dated one minute for clock skew).
        ca_validity_s: CA lifetime in seconds.
        cert_validity_s: serving certificate lifetime in seconds.

    Raises:
        ValueError: when ``dns_names`` is empty.
    """
    if not dns_names:
        raise ValueError("serving certificate needs at least one DNS name")
    start = now - dt.timedelta(minutes=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ingot-webhook-ca")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(seconds=ca_validity_s))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(seconds=cert_validity_s))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return CertBundle(
        ca_cert_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        ca_key_pem=_pem_key(ca_key),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=_pem_key(key),
    )


def needs_rotation(
    bundle: CertBundle | None,
    *,
    now: dt.datetime,
    dns_names: Sequence[str],
    refresh_before_s: float = REFRESH_BEFORE_S,
) -> RotationDecision:
    """Decide whether ``bundle`` must be regenerated at time ``now``.

    Rotates when the bundle is missing or unparsable, the serving cert is not signed by the CA,
    its key does not match, its SANs differ from ``dns_names``, or either certificate expires
    within ``refresh_before_s`` seconds (or is not yet valid).
    """
    if bundle is None:
        return RotationDecision(True, "no certificate stored")
    try:
        ca = x509.load_pem_x509_certificate(bundle.ca_cert_pem)
        cert = x509.load_pem_x509_certificate(bundle.cert_pem)
        key = serialization.load_pem_private_key(bundle.key_pem, password=None)
    except ValueError as exc:
        return RotationDecision(True, f"stored certificate unparsable: {exc}")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return RotationDecision(True, "serving certificate not signed by the stored CA")
    if key.public_key() != cert.public_key():
        return RotationDecision(True, "serving key does not match the certificate")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = set(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = set()
    if names != set(dns_names):
        return RotationDecision(True, f"DNS names differ: have {sorted(names)}")
    deadline = now + dt.timedelta(seconds=refresh_before_s)
    for label, c in (("CA", ca), ("serving certificate", cert)):
        if c.not_valid_before_utc > now:
            return RotationDecision(True, f"{label} not valid yet")
        if c.not_valid_after_utc <= deadline:
            return RotationDecision(True, f"{label} expires at {c.not_valid_after_utc.isoformat()}")
    return RotationDecision(False, "valid")


def to_secret_data(bundle: CertBundle) -> dict[str, str]:
    """Secret ``data`` (base64) with keys ``ca.crt``, ``ca.key``, ``tls.crt``, ``tls.key``."""
    raw = {
        "ca.crt": bundle.ca_cert_pem,
        "ca.key": bundle.ca_key_pem,
        "tls.crt": bundle.cert_pem,
        "tls.key": bundle.key_pem,
    }
    return {k: base64.b64encode(v).decode() for k, v in raw.items()}


def from_secret_data(data: Mapping[str, str] | None) -> CertBundle | None:
    """Inverse of ``to_secret_data``; ``None`` when a key is missing or not base64."""
    if not data:
        return None
    try:
        return CertBundle(
            ca_cert_pem=base64.b64decode(data["ca.crt"], validate=True),
            ca_key_pem=base64.b64decode(data["ca.key"], validate=True),
            cert_pem=base64.b64decode(data["tls.crt"], validate=True),
            key_pem=base64.b64decode(data["tls.key"], validate=True),
        )
    except (KeyError, ValueError, TypeError):
        return None


class CertRotator:
    """Keeps the webhook Secret and the ``caBundle`` of the webhook configuration current.

    ``core_v1`` is a ``kubernetes.client.CoreV1Api`` and ``admission_v1`` an
    ``AdmissionregistrationV1Api`` (the official client; errors are ``ApiException``).
    The constructor only stores its arguments; ``ensure(now)`` does one round of work and
    returns the bundle to serve.
    """

    def __init__(
        self,
        *,
        core_v1: Any,
        admission_v1: Any,
        namespace: str,
        secret_name: str,
        service_name: str,
        webhook_config_name: str,
    ) -> None:
        self._core = core_v1
        self._adm = admission_v1
        self._ns = namespace
        self._secret = secret_name
        self._webhook_config = webhook_config_name
        self.dns_names = service_dns_names(service=service_name, namespace=namespace)

    def _read(self) -> tuple[CertBundle | None, str | None]:
        """The stored bundle and the Secret's resourceVersion (None: no Secret)."""
        from kubernetes.client.exceptions import ApiException

        try:
            secret = self._core.read_namespaced_secret(self._secret, self._ns)
        except ApiException as exc:
            if exc.status == 404:
                return None, None
            raise
        meta = getattr(secret, "metadata", None)
        rv = str(getattr(meta, "resource_version", "") or "")
        return from_secret_data(secret.data), rv

    def ensure(self, now: dt.datetime, *, _attempts: int = 3) -> CertBundle:
        """Read the Secret, regenerate and store it if needed, patch the ``caBundle``.

        Writes are compare-and-swap (create, or replace carrying the read resourceVersion):
        when two replicas race, the loser re-reads and serves the winner's certificate.

        Raises:
            kubernetes.client.ApiException: on API failures other than a missing Secret or
                a missing webhook configuration (the latter is logged and skipped).
        """
        from kubernetes.client.exceptions import ApiException

        bundle, rv = self._read()
        decision = needs_rotation(bundle, now=now, dns_names=self.dns_names)
        if decision.rotate or bundle is None:
            log.info("rotating webhook certificate: %s", decision.reason)
            bundle = generate(dns_names=self.dns_names, now=now)
            meta: dict[str, Any] = {"name": self._secret, "namespace": self._ns}
            if rv:
                meta["resourceVersion"] = rv
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta,
                "type": "Opaque",
                "data": to_secret_data(bundle),
            }
            try:
                if rv is not None:
                    self._core.replace_namespaced_secret(self._secret, self._ns, body)
                else:
                    self._core.create_namespaced_secret(self._ns, body)
            except ApiException as exc:
                if exc.status == 409 and _attempts > 1:  # another replica won: use its cert
                    return self.ensure(now, _attempts=_attempts - 1)
                raise
        ca_b64 = base64.b64encode(bundle.ca_cert_pem).decode()
        try:
            vwc = self._adm.read_validating_webhook_configuration(self._webhook_config)
        except ApiException as exc:
            if exc.status != 404:
                raise
            log.warning(
                "webhook configuration %s not found; caBundle not set", self._webhook_config
            )
            return bundle
        hooks = vwc.webhooks or []
        if any(h.client_config.ca_bundle != ca_b64 for h in hooks):
            for h in hooks:
                h.client_config.ca_bundle = ca_b64
            # PUT carrying the read resourceVersion: a concurrent edit gives 409, retried later.
            self._adm.replace_validating_webhook_configuration(self._webhook_config, vwc)
        return bundle
