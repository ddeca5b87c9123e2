"""A PKCS#10 request's structure (RFC 2986) as Go's crypto/x509 reads it: what `cryptography` would read
differently (attributes, subject string types, signature algorithms) is refused before anyone is shown it."""

from __future__ import annotations

from dataclasses import dataclass

from csrgate.domain import der
from csrgate.domain.errors import MalformedCsr

# PKCS#10 attributes (RFC 2985): the only ones a Kubernetes CSR may carry.
EXTENSION_REQUEST = der.oid("1.2.840.113549.1.9.14")
CHALLENGE_PASSWORD = der.oid("1.2.840.113549.1.9.7")
MICROSOFT_EXTENSION_REQUEST = der.oid("1.3.6.1.4.1.311.2.1.14")
# PrintableString's alphabet (X.680 41.4).
_PRINTABLE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def _signature(dotted: str, name: str, verifiable: bool = True) -> tuple[bytes, tuple[str, bool]]:
    return der.oid(dotted), (name, verifiable)


# The signature algorithms Go's crypto/x509 knows (signatureAlgorithmDetails), and whether its CheckSignature
# verifies them for a CSR; any other algorithm makes the CSR unreadable to Kubernetes.
_SIGNATURES = dict(
    [
        _signature("1.2.840.113549.1.1.2", "md2WithRSAEncryption", verifiable=False),
        _signature("1.2.840.113549.1.1.4", "md5WithRSAEncryption", verifiable=False),
        _signature("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
        _signature("1.2.840.113549.1.1.11", "sha256WithRSAEncryption"),
        _signature("1.2.840.113549.1.1.12", "sha384WithRSAEncryption"),
        _signature("1.2.840.113549.1.1.13", "sha512WithRSAEncryption"),
        _signature("1.2.840.10040.4.3", "dsa-with-sha1", verifiable=False),
        _signature("2.16.840.1.101.3.4.3.2", "dsa-with-sha256", verifiable=False),
        _signature("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
        _signature("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
        _signature("1.2.840.10045.4.3.3", "ecdsa-with-SHA384"),
        _signature("1.2.840.10045.4.3.4", "ecdsa-with-SHA512"),
        _signature("1.3.101.112", "ed25519"),
    ]
)
_RSASSA_PSS = der.oid("1.2.840.113549.1.1.10")
_ED25519 = der.oid("1.3.101.112")


def _pss_parameters(hash_oid: str, salt_length: int) -> bytes:
    """RSASSA-PSS parameters as Go and OpenSSL write them: MGF1 with the same hash, salt as long as the hash."""
    hash_algorithm = der.encode(der.SEQUENCE, der.encode(der.OID, der.oid(hash_oid)) + der.encode(der.NULL, b""))
    mgf1 = der.encode(der.SEQUENCE, der.encode(der.OID, der.oid("1.2.840.113549.1.1.8")) + hash_algorithm)
    salt = der.encode(der.INTEGER, salt_length.to_bytes(1, "big"))
    return der.encode(der.SEQUENCE, der.encode(0xA0, hash_algorithm) + der.encode(0xA1, mgf1) + der.encode(0xA2, salt))


_PSS = {
    der.encode(der.SEQUENCE, b""): ("RSASSA-PSS with SHA1", False),  # DER leaves out the defaults: SHA-1 throughout
    _pss_parameters("2.16.840.1.101.3.4.2.1", 32): ("RSASSA-PSS with SHA256", True),
    _pss_parameters("2.16.840.1.101.3.4.2.2", 48): ("RSASSA-PSS with SHA384", True),
    _pss_parameters("2.16.840.1.101.3.4.2.3", 64): ("RSASSA-PSS with SHA512", True),
}


@dataclass(frozen=True, slots=True)
class Layout:
    """What the walk found: how many subject values, which other attributes, the signature algorithm's name and
    whether Go's CheckSignature verifies it."""

    subject_values: int
    attributes: tuple[str, ...]
    signature: tuple[str, bool]


def read_layout(der_bytes: bytes) -> Layout:
    """Walk CertificationRequest (RFC 2986) and refuse what Go's x509 reads differently from cryptography."""
    request = der.read_exactly(der_bytes).children()
    if len(request) != 3:
        raise MalformedCsr("the CSR does not have the three parts of a PKCS#10 request")
    info = request[0].children()
    if len(info) != 4 or info[3].tag != 0xA0:
        raise MalformedCsr("the CSR's request info does not have the four parts of a PKCS#10 request")
    return Layout(
        subject_values=_check_subject(info[1]),
        attributes=_check_attributes(info[3]),
        signature=_check_signature_algorithm(request[1]),
    )


def _check_subject(name: der.Element) -> int:
    """Each RDN one attribute, each value a string type that Go and cryptography decode alike."""
    count = 0
    for rdn in name.children():
        values = rdn.children()
        if rdn.tag != der.SET or len(values) != 1:
            raise MalformedCsr("the subject has a multi-valued RDN; give one attribute per RDN (as openssl does)")
        oid, value = values[0].children()
        if value.tag == der.PRINTABLE_STRING and not set(value.content) <= _PRINTABLE:
            raise MalformedCsr("a PrintableString in the subject holds characters outside its alphabet")
        if value.tag == der.IA5_STRING and not value.content.isascii():
            raise MalformedCsr("an IA5String in the subject holds characters outside ASCII")
        if value.tag not in (der.UTF8_STRING, der.PRINTABLE_STRING, der.IA5_STRING):
            raise MalformedCsr(
                f"the subject's {der.oid_text(oid.content)} is an ASN.1 type ({value.tag:#04x}) that Kubernetes "
                "reads differently or not at all; use UTF8String (openssl's default)"
            )
        count += 1
    return count


def _check_attributes(attributes: der.Element) -> tuple[str, ...]:
    """At most one PKCS#9 extension request with one value; no other attribute but a challenge password."""
    requests, others = 0, []
    for attribute in attributes.children():
        oid, values = attribute.children()
        if values.tag != der.SET or len(values.children()) != 1:
            raise MalformedCsr(f"the attribute {der.oid_text(oid.content)} must have exactly one value")
        if oid.content == EXTENSION_REQUEST:
            requests += 1
        elif oid.content == CHALLENGE_PASSWORD:
            others.append("challengePassword")
        elif oid.content == MICROSOFT_EXTENSION_REQUEST:
            raise MalformedCsr(
                "the CSR carries Microsoft's extension request attribute, which Kubernetes ignores; "
                "request extensions only with the PKCS#9 extensionRequest (as openssl does)"
            )
        else:
            raise MalformedCsr(f"the CSR carries an attribute csrgate cannot read ({der.oid_text(oid.content)})")
    if requests > 1:
        raise MalformedCsr(
            "the CSR has several extension request attributes, which Kubernetes merges; give one (as openssl does)"
        )
    if len(others) > 1:
        raise MalformedCsr("the CSR has more than one challenge password")
    return tuple(others)


def _check_signature_algorithm(identifier: der.Element) -> tuple[str, bool]:
    """The algorithm's name and whether Go's CheckSignature verifies it; MalformedCsr when Go does not know it."""
    parts = identifier.children()
    oid, parameters = parts[0].content, parts[1:]
    if oid == _RSASSA_PSS:
        found = _PSS.get(parameters[0].encoded) if len(parameters) == 1 else None
        if found is None:
            raise MalformedCsr("the CSR is signed with RSASSA-PSS parameters Kubernetes does not verify")
        return found
    if oid == _ED25519 and parameters:
        raise MalformedCsr("an Ed25519 signature must not carry parameters")
    known = _SIGNATURES.get(oid)
    if known is None:
        raise MalformedCsr(
            f"the CSR is signed with {der.oid_text(oid)}, which Kubernetes cannot verify; "
            "sign it with SHA-256 (openssl req -sha256)"
        )
    return known
