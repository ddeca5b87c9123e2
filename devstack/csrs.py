"""Real CSRs for tests and benchmarks, made with `cryptography` the way openssl or a kubelet would make them."""

from __future__ import annotations

import base64
import ipaddress
import json
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

_KEY_CACHE: dict[str, Any] = {}


def private_key(kind: str = "rsa2048") -> Any:
    """A private key of the given kind, cached per process because RSA generation is slow."""
    if kind not in _KEY_CACHE:
        makers: dict[str, Callable[[], Any]] = {
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


# --- DER by hand: requests `cryptography`'s builder will not write, as a hostile requester can send them ---------

PKCS9_EXTENSION_REQUEST = "1.2.840.113549.1.9.14"
MICROSOFT_EXTENSION_REQUEST = "1.3.6.1.4.1.311.2.1.14"
CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7"
SUBJECT_ALT_NAME = "2.5.29.17"
SEQUENCE, SET, OCTET_STRING = 0x30, 0x31, 0x04
# Tags of the string types a subject attribute may use, and how each one's text becomes bytes.
STRING_TYPES: dict[str, tuple[int, str]] = {
    "utf8": (0x0C, "utf-8"),
    "printable": (0x13, "ascii"),
    "t61": (0x14, "latin-1"),
    "ia5": (0x16, "ascii"),
    "universal": (0x1C, "utf-32-be"),
    "bmp": (0x1E, "utf-16-be"),
}
_SIGNATURE_ALGORITHMS = {  # AlgorithmIdentifier DER per key family
    "rsa": bytes.fromhex("300d06092a864886f70d01010b0500"),  # sha256WithRSAEncryption, NULL parameters
    "ec": bytes.fromhex("300a06082a8648ce3d040302"),  # ecdsa-with-SHA256
    "ed25519": bytes.fromhex("300506032b6570"),  # Ed25519
}


def der(tag: int, *parts: bytes) -> bytes:
    """One DER element with a single-byte tag around the concatenated parts."""
    body = b"".join(parts)
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    length = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def der_oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER."""
    arcs = [int(arc) for arc in dotted.split(".")]
    body = b""
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.insert(0, 0x80 | (arc & 0x7F))
        body += bytes(chunk)
    return der(0x06, body)


def der_integer(value: int) -> bytes:
    """An INTEGER."""
    return der(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def der_string(text: str, kind: str = "utf8") -> bytes:
    """A string of one of STRING_TYPES, or an INTEGER when kind is "integer" (a subject value Go does not read)."""
    if kind == "integer":
        return der_integer(int(text) if text.isdigit() else len(text))
    tag, encoding = STRING_TYPES[kind]
    return der(tag, text.encode(encoding))


def rdn(*attributes: tuple[str, bytes]) -> bytes:
    """One RelativeDistinguishedName: a SET of (OID, value DER) pairs; several make a multi-valued RDN."""
    return der(SET, *sorted(der(SEQUENCE, der_oid(oid), value) for oid, value in attributes))


def subject_name(*rdns: bytes) -> bytes:
    """A Name: the RDNs in order."""
    return der(SEQUENCE, *rdns)


def attribute(oid: str, *values: bytes) -> bytes:
    """A PKCS#10 attribute: the OID and a SET of values (DER already)."""
    return der(SEQUENCE, der_oid(oid), der(SET, *values))


def extension(oid: str, value: bytes, critical: bool = False) -> bytes:
    """An Extension: OID, critical flag when set, and the value's DER in an OCTET STRING."""
    return der(SEQUENCE, der_oid(oid), b"\x01\x01\xff" if critical else b"", der(OCTET_STRING, value))


def san_value(
    dns: Sequence[str] = (), ips: Sequence[str] = (), emails: Sequence[str] = (), uris: Sequence[str] = ()
) -> bytes:
    """A subjectAltName extension's value: GeneralNames of dNSName, iPAddress, rfc822Name and URI."""
    names = [der(0x82, name.encode()) for name in dns]
    names += [der(0x87, ipaddress.ip_address(ip).packed) for ip in ips]
    names += [der(0x81, email.encode()) for email in emails]
    names += [der(0x86, uri.encode()) for uri in uris]
    return der(SEQUENCE, *names)


def extension_request(*extensions: bytes, oid: str = PKCS9_EXTENSION_REQUEST) -> bytes:
    """An extensionRequest attribute (PKCS#9, or Microsoft's with its OID) holding one SEQUENCE of extensions."""
    return attribute(oid, der(SEQUENCE, *extensions))


def signed_csr(
    subject: bytes, attributes: Sequence[bytes] = (), *, key: str = "rsa2048", tamper: bool = False
) -> bytes:
    """A DER PKCS#10 request with exactly these subject and attributes bytes, self-signed by the key of that kind."""
    signing_key = private_key(key)
    spki = signing_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = der(SEQUENCE, der_integer(0), subject, spki, der(0xA0, *attributes))
    if isinstance(signing_key, rsa.RSAPrivateKey):
        signature, family = signing_key.sign(info, padding.PKCS1v15(), hashes.SHA256()), "rsa"
    elif isinstance(signing_key, ec.EllipticCurvePrivateKey):
        # deterministic (RFC 6979), so the same request is the same bytes every time: hypothesis relies on it
        signature, family = signing_key.sign(info, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)), "ec"
    else:
        signature, family = signing_key.sign(info), "ed25519"
    if tamper:
        signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
    return der(SEQUENCE, info, _SIGNATURE_ALGORITHMS[family], der(0x03, b"\x00" + signature))
