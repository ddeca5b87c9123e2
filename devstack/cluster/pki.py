"""The dev cluster's certificate authority: one CA that signs the serving certificate, the admin identity and
every certificate the signer issues, as a kubeadm cluster's single CA does."""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devstack.cluster.auth import NODE_USER_PREFIX, NODES_GROUP

CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
CA_LIFETIME = datetime.timedelta(days=3650)
LEAF_LIFETIME = datetime.timedelta(days=365)
SERVING_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM."""

    certificate_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class Usages:
    """What a certificate may be used for: x509 key usage names and extended key usage OIDs."""

    key_usage: frozenset[str] = frozenset()  # cryptography KeyUsage argument names, e.g. "digital_signature"
    extended: tuple[x509.ObjectIdentifier, ...] = ()


CLIENT_USAGES = Usages(frozenset({"digital_signature"}), (ExtendedKeyUsageOID.CLIENT_AUTH,))
SERVING_USAGES = Usages(frozenset({"digital_signature"}), (ExtendedKeyUsageOID.SERVER_AUTH,))


class DevCa:
    """Loads the CA from a data directory, or creates it there; issues certificates."""

    def __init__(self, certificate: x509.Certificate, key: CertificateIssuerPrivateKeyTypes) -> None:
        self.certificate = certificate
        self.key = key

    @property
    def certificate_pem(self) -> bytes:
        """The CA certificate, PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def load(cls, directory: Path) -> DevCa:
        """The CA a dev cluster keeps in `directory` (its data directory); FileNotFoundError when there is none."""
        if not (directory / CA_CERT_FILE).exists() or not (directory / CA_KEY_FILE).exists():
            raise FileNotFoundError(f"{directory} holds no dev cluster CA ({CA_CERT_FILE} and {CA_KEY_FILE})")
        return cls.load_or_create(directory, datetime.datetime.now(datetime.UTC))

    @classmethod
    def load_or_create(cls, directory: Path, now: datetime.datetime) -> DevCa:
        """The CA kept in `directory`, so kubeconfigs and issued certificates stay valid across restarts."""
        cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
        if cert_path.exists() and key_path.exists():
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path} is not the EC key the dev cluster writes")
            return cls(certificate, key)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csrgate-dev-ca")])
        public = key.public_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(_serial())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage({"digital_signature", "key_cert_sign", "crl_sign"}), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(key_path, key.private_bytes(*_PKCS8))
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(certificate, key)

    def issue(
        self,
        subject: x509.Name,
        public_key: CertificatePublicKeyTypes,
        usages: Usages,
        not_before: datetime.datetime,
        not_after: datetime.datetime,
        sans: Sequence[x509.GeneralName] = (),
    ) -> x509.Certificate:
        """A leaf certificate signed by this CA; notAfter never outlives the CA (as upstream's signer caps it)."""
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(_serial())
            .not_valid_before(not_before)
            .not_valid_after(min(not_after, self.certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.certificate.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        if usages.key_usage:
            builder = builder.add_extension(_key_usage(set(usages.key_usage)), critical=True)
        if usages.extended:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages.extended)), critical=False)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue_key_pair(
        self, subject: x509.Name, usages: Usages, now: datetime.datetime, sans: Sequence[x509.GeneralName] = ()
    ) -> KeyPair:
        """A fresh key and a certificate for it, valid for a year from five minutes ago."""
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = self.issue(
            subject, key.public_key(), usages, now - datetime.timedelta(minutes=5), now + LEAF_LIFETIME, sans
        )
        return KeyPair(certificate.public_bytes(serialization.Encoding.PEM), key.private_bytes(*_PKCS8))

    def serving_key_pair(self, now: datetime.datetime) -> KeyPair:
        """The HTTPS certificate for 127.0.0.1 and localhost."""
        sans: list[x509.GeneralName] = []
        for host in SERVING_HOSTS:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csrgate-dev-apiserver")])
        return self.issue_key_pair(subject, SERVING_USAGES, now, sans)

    def client_key_pair(self, user: str, groups: Sequence[str], now: datetime.datetime) -> KeyPair:
        """A client certificate for `user` in `groups` (CN is the user, O values the groups)."""
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
        return self.issue_key_pair(x509.Name(attributes), CLIENT_USAGES, now)

    def node_key_pair(self, node: str, now: datetime.datetime) -> KeyPair:
        """A kubelet's client certificate: CN system:node:<node>, O system:nodes (what the Node authorizer and the
        system:node role recognise a node by)."""
        return self.client_key_pair(f"{NODE_USER_PREFIX}{node}", [NODES_GROUP], now)


_PKCS8 = (serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
_KEY_USAGE_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(names: set[str]) -> x509.KeyUsage:
    flags = {name: name in names for name in _KEY_USAGE_NAMES}
    if not flags["key_agreement"]:  # encipher/decipher only mean nothing without key agreement
        flags["encipher_only"] = flags["decipher_only"] = False
    return x509.KeyUsage(**flags)


def _serial() -> int:
    # 128 random bits, positive, as Go's crypto/x509 users in Kubernetes pick serial numbers.
    return secrets.randbits(127) | 1 << 126


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)
