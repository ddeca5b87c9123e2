"""spec.request as Kubernetes reads it: certificates.ParseCSR (the first block pem.Decode finds, which must be a
CERTIFICATE REQUEST, then x509.ParseCertificateRequest) and CheckSignature, as kube-apiserver's validation and the
csrsigning controller do.

Go itself answers when it is installed (devstack.gocsr). Without it the block is still taken by the port of
pem.Decode, so a request that smuggles a second block is read as a real cluster reads it, and the DER is read by
`cryptography`, which is close to crypto/x509 for well-formed requests but not equal to it on crafted ones.
Either way the answer has the shape devstack/gocsr/main.go writes.
"""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from devstack.cluster import pem
from devstack.gocsr import GoUnavailable, shared_reader

CSR_BLOCK_TYPE = b"CERTIFICATE REQUEST"
WRONG_BLOCK = "PEM block type must be CERTIFICATE REQUEST"  # certificates.ParseCSR's error
# pkix.Name's fields, by attribute type (FillFromRDNSequence)
_NAME_FIELDS = {
    NameOID.COUNTRY_NAME: "country",
    NameOID.STATE_OR_PROVINCE_NAME: "province",
    NameOID.LOCALITY_NAME: "locality",
    NameOID.STREET_ADDRESS: "street_address",
    NameOID.POSTAL_CODE: "postal_code",
    NameOID.ORGANIZATION_NAME: "organization",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "organizational_unit",
}
_GO_CURVES = {"secp224r1": "P-224", "secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def read_spec_request(data: bytes) -> dict[str, Any]:
    """What the cluster reads from the spec.request bytes: {"block", "error", "csr"} as gocsr answers."""
    reader = shared_reader()
    if reader is not None:
        try:
            return reader.read(data)
        except GoUnavailable:
            pass  # the helper died twice in a row: read on without it
    return _read_without_go(data)


def _read_without_go(data: bytes) -> dict[str, Any]:
    block, _ = pem.decode(data)
    described = None
    if block is not None:
        headers = {key.decode(errors="replace"): value.decode(errors="replace") for key, value in block.headers.items()}
        described = {"type": block.type_text, "headers": headers, "bytes": base64.b64encode(block.data).decode()}
    if block is None or block.type != CSR_BLOCK_TYPE:
        return {"block": described, "error": WRONG_BLOCK, "csr": None}
    try:
        request = x509.load_der_x509_csr(block.data)
        csr = _described(request)
    except (ValueError, UnsupportedAlgorithm) as exc:
        return {"block": described, "error": f"asn1: {str(exc).splitlines()[0]}", "csr": None}
    return {"block": described, "error": None, "csr": csr}


def _described(request: x509.CertificateSigningRequest) -> dict[str, Any]:
    subject: dict[str, Any] = {"names": [], "common_name": "", "serial_number": ""}
    subject.update({name: [] for name in _NAME_FIELDS.values()})
    for attribute in request.subject:
        value = attribute.value if isinstance(attribute.value, str) else None
        subject["names"].append([attribute.oid.dotted_string, value])
        if value is None:
            continue
        if attribute.oid == NameOID.COMMON_NAME:
            subject["common_name"] = value  # the last one wins, as in pkix.Name
        elif attribute.oid == NameOID.SERIAL_NUMBER:
            subject["serial_number"] = value
        elif attribute.oid in _NAME_FIELDS:
            subject[_NAME_FIELDS[attribute.oid]].append(value)
    extensions = request.extensions
    try:
        names = extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        names = x509.SubjectAlternativeName([])
    assert isinstance(names, x509.SubjectAlternativeName)
    key = request.public_key()
    try:
        valid, error = request.is_signature_valid, None
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        valid, error = False, str(exc) or type(exc).__name__
    return {
        "subject": subject,
        "dns_names": names.get_values_for_type(x509.DNSName),
        "ip_addresses": [_go_ip(ip) for ip in names.get_values_for_type(x509.IPAddress)],
        "email_addresses": names.get_values_for_type(x509.RFC822Name),
        "uris": names.get_values_for_type(x509.UniformResourceIdentifier),
        "extensions": [extension.oid.dotted_string for extension in extensions],
        "public_key": _key(key),
        "raw_subject_public_key_info": base64.b64encode(
            key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        ).decode(),
        "signature_algorithm": request.signature_algorithm_oid.dotted_string,
        "signature_valid": valid,
        "signature_error": None if valid else error or "x509: signature verification failed",
    }


def _go_ip(ip: Any) -> str:
    """net.IP's String(): an IPv4-mapped IPv6 address prints as IPv4."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _key(key: Any) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPublicKey):
        return {"algorithm": "RSA", "bits": key.key_size, "curve": None}
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"algorithm": "ECDSA", "bits": key.curve.key_size, "curve": _GO_CURVES.get(key.curve.name)}
    if isinstance(key, ed25519.Ed25519PublicKey):
        return {"algorithm": "Ed25519", "bits": 256, "curve": None}
    if isinstance(key, dsa.DSAPublicKey):
        return {"algorithm": "DSA", "bits": key.key_size, "curve": None}
    return {"algorithm": "0", "bits": None, "curve": None}  # x509.UnknownPublicKeyAlgorithm
