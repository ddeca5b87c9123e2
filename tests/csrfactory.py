"""Real CSRs for tests, made with `cryptography` the way openssl or a kubelet would make them."""

from __future__ import annotations

import base64
import ipaddress
import json
import warnings
from collections.abc import Sequence
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

_KEY_CACHE: dict[str, Any] = {}


def private_key(kind: str = "rsa2048") -> Any:
    """A private key of the given kind, cached per test session because RSA generation is slow."""
    if kind not in _KEY_CACHE:
        makers = {
            "rsa1024": lambda: rsa.generate_private_key(65537, 1024),
            "rsa2048": lambda: rsa.generate_private_key(65537, 2048),
            "rsa4096": lambda: rsa.generate_private_key(65537, 4096),
            "p192": lambda: ec.generate_private_key(ec.SECP192R1()),
            "p224": lambda: ec.generate_private_key(ec.SECP224R1()),
            "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
            "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
            "ed25519": ed25519.Ed25519PrivateKey.generate,
            "ed448": ed448.Ed448PrivateKey.generate,
            "dsa2048": lambda: dsa.generate_private_key(2048),
        }
        _KEY_CACHE[kind] = makers[kind]()
    return _KEY_CACHE[kind]


def make_csr(
    cn: str | Sequence[str] | None = "alice",
    *,
    orgs: Sequence[str] = (),
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    emails: Sequence[str] = (),
    uris: Sequence[str] = (),
    other_subject: Sequence[tuple[x509.ObjectIdentifier, str]] = (),
    key: str = "rsa2048",
    tamper: bool = False,
) -> bytes:
    """A PEM CSR; `cn` may be several CNs; `tamper` flips a bit of the signature so it no longer verifies."""
    # _validate=False lets tests build subjects a hostile requester could send (a CN over 64 characters).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _build(cn, orgs, other_subject, dns, ips, emails, uris, key, tamper)


def _build(
    cn: str | Sequence[str] | None,
    orgs: Sequence[str],
    other_subject: Sequence[tuple[x509.ObjectIdentifier, str]],
    dns: Sequence[str],
    ips: Sequence[str],
    emails: Sequence[str],
    uris: Sequence[str],
    key: str,
    tamper: bool,
) -> bytes:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org, _validate=False) for org in orgs]
    attributes += [x509.NameAttribute(oid, value, _validate=False) for oid, value in other_subject]
    common_names = [cn] if isinstance(cn, str) else list(cn or ())
    attributes += [x509.NameAttribute(NameOID.COMMON_NAME, name, _validate=False) for name in common_names]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    names += [x509.RFC822Name(email) for email in emails]
    names += [x509.UniformResourceIdentifier(uri) for uri in uris]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    signing_key = private_key(key)
    algorithm = None if key.startswith("ed") else hashes.SHA256()
    csr = builder.sign(signing_key, algorithm)
    if not tamper:
        return csr.public_bytes(serialization.Encoding.PEM)
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte belongs to the signature
    return pem(bytes(der))


def pem(der: bytes, label: str = "CERTIFICATE REQUEST") -> bytes:
    """Wrap DER bytes in a PEM block with the given label."""
    body = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n".encode("ascii")


def manifest(
    csr_pem: bytes,
    *,
    signer: str = "kubernetes.io/kube-apiserver-client",
    usages: Sequence[str] = ("client auth",),
    expiration_seconds: int | None = 86400,
    username: str | None = None,
    groups: Sequence[str] = (),
    name: str = "alice",
    as_json: bool = False,
) -> bytes:
    """A CertificateSigningRequest manifest around the CSR, as YAML (or JSON) bytes."""
    spec: dict[str, Any] = {
        "request": base64.b64encode(csr_pem).decode("ascii"),
        "signerName": signer,
        "usages": list(usages),
    }
    if expiration_seconds is not None:
        spec["expirationSeconds"] = expiration_seconds
    if username is not None:
        spec["username"] = username
        spec["groups"] = list(groups)
    document = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": spec,
    }
    text = json.dumps(document) if as_json else yaml.safe_dump(document)
    return text.encode("utf-8")
