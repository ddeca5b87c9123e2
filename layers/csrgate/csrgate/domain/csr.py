"""Decoding a PKCS#10 certificate signing request into plain values, and verifying its self-signature."""

from __future__ import annotations

import base64
import ipaddress
import re
import warnings
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from csrgate.domain import der
from csrgate.domain.errors import InputError

PEM_LABEL = "CERTIFICATE REQUEST"
# Only these may surround the block: Go's pem.Decode trims spaces, tabs and CRs at line ends, nothing else.
WHITESPACE = b" \t\r\n"
_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE REQUEST-----\r?\n((?:[A-Za-z0-9+/=]+\r?\n)*)-----END CERTIFICATE REQUEST-----"
)
# The END line ends in spaces or tabs at most, then a line break (a lone CR is not one) or the end of the data.
_AFTER_END = re.compile(rb"[ \t]*(?:\r?\n[ \t\r\n]*)?")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_BEGIN_LABEL = re.compile(rb"-----BEGIN ([^\r\n]{0,64}?)-----")
_NOT_ONE_BLOCK = (
    "spec.request must hold exactly one CERTIFICATE REQUEST PEM block and nothing else, "
    "because Kubernetes would read another block than the one shown here"
)

# PKCS#10 attributes (RFC 2985): the only ones a Kubernetes CSR may carry.
EXTENSION_REQUEST = der.oid("1.2.840.113549.1.9.14")
CHALLENGE_PASSWORD = der.oid("1.2.840.113549.1.9.7")
MICROSOFT_EXTENSION_REQUEST = der.oid("1.3.6.1.4.1.311.2.1.14")
# PrintableString's alphabet (X.680 41.4).
_PRINTABLE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
# Curves Go's crypto/x509 parses; a key on any other curve makes the whole CSR unreadable to Kubernetes.
GO_CURVES = frozenset({"secp224r1", "secp256r1", "secp384r1", "secp521r1"})
_GO_MAX_RSA_EXPONENT = 2**31 - 1  # crypto/rsa refuses larger public exponents


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
_SHA1_SIGNATURES = frozenset({"sha1WithRSAEncryption", "ecdsa-with-SHA1"})
# URIs Go's url.Parse and String() give back unchanged: a lower-case scheme, no escapes, no odd characters.
_PLAIN_URI = re.compile(r"[a-z][a-z0-9+.-]*://[A-Za-z0-9._~-]+(:[0-9]+)?(/[A-Za-z0-9._~!$&'()*+,;=:@-]*)*")
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


# What cryptography raises for DER that is not a usable PKCS#10 request.
_PARSE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


class MalformedCsr(ValueError):
    """A request csrgate refuses to read: not a valid PKCS#10 request, or not one that Kubernetes reads the same."""


@dataclass(frozen=True, slots=True)
class PublicKeyInfo:
    """The requester's public key, as far as policy cares."""

    type: str  # "RSA", "EC", "Ed25519", "Ed448", "DSA" or the algorithm's dotted OID when unknown
    bits: int | None = None
    curve: str | None = None
    exponent: int | None = None  # RSA's public exponent

    def describe(self) -> str:
        """'RSA 2048', 'EC secp256r1 (256 bits)', 'Ed25519'."""
        if self.curve:
            return f"{self.type} {self.curve} ({self.bits} bits)"
        return f"{self.type} {self.bits}" if self.bits else self.type


@dataclass(frozen=True, slots=True)
class Subject:
    """The subject's attributes; on a client certificate CN is the user and O values are the groups."""

    common_names: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    other: tuple[tuple[str, str], ...] = ()  # (attribute name, value) in the order they appear

    @property
    def common_name(self) -> str | None:
        """The single CN, or None when there is none (several CNs are a policy finding, not an error)."""
        return self.common_names[0] if self.common_names else None


@dataclass(frozen=True, slots=True)
class SubjectAltNames:
    """Subject alternative names by kind; names of kinds Kubernetes ignores are kept as text in `other`."""

    dns: tuple[str, ...] = ()
    ip: tuple[str, ...] = ()
    email: tuple[str, ...] = ()
    uri: tuple[str, ...] = ()
    other: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.dns or self.ip or self.email or self.uri or self.other)


@dataclass(frozen=True, slots=True)
class DecodedCsr:
    """Everything csrgate reads from a CSR. All text here came from the requester: treat it as untrusted."""

    subject: Subject
    sans: SubjectAltNames
    public_key: PublicKeyInfo
    signature_algorithm: str
    signature_valid: bool  # as Kubernetes' CheckSignature would answer: verifies, with an algorithm Go verifies
    extensions: tuple[str, ...] = field(default=())
    attributes: tuple[str, ...] = field(default=())  # PKCS#10 attributes besides the extension request


def read_pem(data: bytes, source: str) -> bytes:
    """The DER of the one CERTIFICATE REQUEST block that `data` must be; MalformedCsr for anything Go's pem.Decode
    could read differently (a prefix, several blocks, headers, trailing data), InputError for what is no CSR."""
    first_label = _BEGIN_LABEL.search(data)
    if first_label is None:
        raise InputError(source, f"no PEM block found; expected a {PEM_LABEL}")
    label = first_label.group(1).decode("ascii", errors="replace")
    if "PRIVATE KEY" in label:
        raise InputError(
            source,
            f"the PEM block is a {label}, not a {PEM_LABEL}; a private key must never leave your machine: "
            "pass the CSR made from it instead",
        )
    start = len(data) - len(data.lstrip(WHITESPACE))
    block = _BLOCK.match(data, start)
    if start and data[start - 1] != ord("\n") or first_label.start() != start:
        raise MalformedCsr(f"something comes before the BEGIN line; {_NOT_ONE_BLOCK}")
    if block is None:
        if label != PEM_LABEL:
            raise InputError(source, f"the PEM block is a {label}, expected a {PEM_LABEL}")
        raise MalformedCsr(
            "the CERTIFICATE REQUEST block is not plain PEM: it has headers, blank lines, characters outside "
            "base64, or no END line"
        )
    if not _AFTER_END.fullmatch(data, block.end()):
        raise MalformedCsr(f"something comes after the END line; {_NOT_ONE_BLOCK}")
    body = b"".join(block.group(1).split())
    if len(body) % 4 or not _BASE64.fullmatch(body):
        raise MalformedCsr("the CERTIFICATE REQUEST block's base64 is not well formed")
    return base64.b64decode(body)


def decode_csr(der_bytes: bytes) -> DecodedCsr:
    """Decode a DER PKCS#10 request as Kubernetes reads it, and verify its self-signature; MalformedCsr for a
    request that Go would not parse or would read differently from what csrgate shows."""
    try:
        csr = x509.load_der_x509_csr(der_bytes)
        layout = _read_layout(der_bytes)
        with warnings.catch_warnings():  # an over-long CN warns here; the policy reports it as a finding instead
            warnings.simplefilter("ignore", UserWarning)
            subject = _subject(csr.subject)
        extensions = csr.extensions
    except der.DerError as exc:
        raise MalformedCsr(f"the CSR is not valid DER: {exc}") from exc
    except _PARSE_ERRORS as exc:
        raise MalformedCsr(f"the CSR cannot be parsed: {_first_line(exc)}") from exc
    if layout.subject_values != len(subject.common_names) + len(subject.organizations) + len(subject.other):
        raise MalformedCsr("the subject cannot be read unambiguously")
    algorithm, verifiable = layout.signature
    public_key = _public_key(csr)
    return DecodedCsr(
        subject=subject,
        sans=_sans(extensions),
        public_key=public_key,
        signature_algorithm=algorithm,
        signature_valid=verifiable and _signature_valid(csr, algorithm),
        extensions=tuple(_extension_name(ext) for ext in extensions),
        attributes=layout.attributes,
    )


@dataclass(frozen=True, slots=True)
class _Layout:
    subject_values: int
    attributes: tuple[str, ...]
    signature: tuple[str, bool]


def _read_layout(der_bytes: bytes) -> _Layout:
    """Walk CertificationRequest (RFC 2986) and refuse what Go's x509 reads differently from cryptography."""
    request = der.read_exactly(der_bytes).children()
    if len(request) != 3:
        raise MalformedCsr("the CSR does not have the three parts of a PKCS#10 request")
    info = request[0].children()
    if len(info) != 4 or info[3].tag != 0xA0:
        raise MalformedCsr("the CSR's request info does not have the four parts of a PKCS#10 request")
    return _Layout(
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


def _subject(name: x509.Name) -> Subject:
    common_names: list[str] = []
    organizations: list[str] = []
    other: list[tuple[str, str]] = []
    for attribute in name:
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
        if attribute.oid == NameOID.COMMON_NAME:
            common_names.append(value)
        elif attribute.oid == NameOID.ORGANIZATION_NAME:
            organizations.append(value)
        else:
            other.append((attribute.rfc4514_attribute_name, value))
    return Subject(tuple(common_names), tuple(organizations), tuple(other))


def _sans(extensions: x509.Extensions) -> SubjectAltNames:
    try:
        names = extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return SubjectAltNames()
    if not isinstance(names, x509.SubjectAlternativeName):  # an undecodable SAN extension
        raise MalformedCsr("the subject alternative name extension cannot be parsed")
    dns, ip, email, uri, other = [], [], [], [], []
    for general_name in names:
        if isinstance(general_name, x509.DNSName | x509.RFC822Name) and not general_name.value.isascii():
            raise MalformedCsr("a DNS or email subject alternative name holds non-ASCII text, which Kubernetes refuses")
        if isinstance(general_name, x509.DNSName):
            dns.append(general_name.value)
        elif isinstance(general_name, x509.IPAddress):
            ip.append(_ip_address(general_name.value))
        elif isinstance(general_name, x509.RFC822Name):
            email.append(general_name.value)
        elif isinstance(general_name, x509.UniformResourceIdentifier):
            if not _PLAIN_URI.fullmatch(general_name.value):
                raise MalformedCsr(
                    "a URI subject alternative name is not a plain lower-case scheme://host/path URI without "
                    "escapes, so Kubernetes might write it differently"
                )
            uri.append(general_name.value)
        else:
            other.append(f"{type(general_name).__name__}:{general_name.value!r}")
    return SubjectAltNames(tuple(dns), tuple(ip), tuple(email), tuple(uri), tuple(other))


def _ip_address(value: object) -> str:
    """The address as Go's net.IP prints it, which differs for IPv4-mapped IPv6: refused rather than guessed."""
    if not isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        raise MalformedCsr("an IP address subject alternative name holds a network, which Kubernetes refuses")
    if isinstance(value, ipaddress.IPv6Address) and value.ipv4_mapped is not None:
        raise MalformedCsr(f"the IP address {value} is an IPv4 address written as IPv6; give {value.ipv4_mapped}")
    return str(value)


def _public_key(csr: x509.CertificateSigningRequest) -> PublicKeyInfo:
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        oid = csr.public_key_algorithm_oid  # type: ignore[attr-defined]  # in cryptography, missing from its stubs
        return PublicKeyInfo(type=f"unsupported ({oid.dotted_string})")
    if isinstance(key, rsa.RSAPublicKey):
        exponent = key.public_numbers().e
        if exponent > _GO_MAX_RSA_EXPONENT:
            raise MalformedCsr(f"the RSA public exponent {exponent} is larger than Kubernetes accepts; use 65537")
        return PublicKeyInfo("RSA", key.key_size, exponent=exponent)
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in GO_CURVES:
            raise MalformedCsr(f"Kubernetes cannot read keys on the curve {key.curve.name}; use P-256")
        return PublicKeyInfo("EC", key.curve.key_size, key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return PublicKeyInfo("Ed25519", 256)
    if isinstance(key, ed448.Ed448PublicKey):
        return PublicKeyInfo("Ed448", 456)
    if isinstance(key, dsa.DSAPublicKey):
        return PublicKeyInfo("DSA", key.key_size)
    return PublicKeyInfo(type=f"unsupported ({type(key).__name__})")


def _signature_valid(csr: x509.CertificateSigningRequest, algorithm: str) -> bool:
    try:
        if algorithm in _SHA1_SIGNATURES:  # cryptography no longer verifies SHA-1; Go still does for CSRs
            return _sha1_signature_valid(csr, algorithm)
        return csr.is_signature_valid
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _sha1_signature_valid(csr: x509.CertificateSigningRequest, algorithm: str) -> bool:
    key = csr.public_key()
    if algorithm == "sha1WithRSAEncryption" and isinstance(key, rsa.RSAPublicKey):
        key.verify(csr.signature, csr.tbs_certrequest_bytes, padding.PKCS1v15(), hashes.SHA1())
        return True
    if algorithm == "ecdsa-with-SHA1" and isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(csr.signature, csr.tbs_certrequest_bytes, ec.ECDSA(hashes.SHA1()))
        return True
    return False


def _extension_name(extension: x509.Extension[x509.ExtensionType]) -> str:
    name = getattr(extension.oid, "_name", None)
    if isinstance(name, str) and name != "Unknown OID":
        return name
    return extension.oid.dotted_string


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else exc.__class__.__name__
