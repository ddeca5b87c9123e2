"""Decoding a PKCS#10 certificate signing request into plain values, and verifying its self-signature."""

from __future__ import annotations

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
from csrgate.domain.errors import MalformedCsr
from csrgate.domain.pkcs10 import read_layout

# Curves Go's crypto/x509 parses; a key on any other curve makes the whole CSR unreadable to Kubernetes.
GO_CURVES = frozenset({"secp224r1", "secp256r1", "secp384r1", "secp521r1"})
_GO_MAX_RSA_EXPONENT = 2**31 - 1  # crypto/rsa refuses larger public exponents
_SHA1_SIGNATURES = frozenset({"sha1WithRSAEncryption", "ecdsa-with-SHA1"})
# URIs Go's url.Parse and String() give back unchanged: a lower-case scheme, no escapes, no odd characters.
_PLAIN_URI = re.compile(r"[a-z][a-z0-9+.-]*://[A-Za-z0-9._~-]+(:[0-9]+)?(/[A-Za-z0-9._~!$&'()*+,;=:@-]*)*")

# What cryptography raises for DER that is not a usable PKCS#10 request.
_PARSE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


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


def decode_csr(der_bytes: bytes) -> DecodedCsr:
    """Decode a DER PKCS#10 request as Kubernetes reads it, and verify its self-signature; MalformedCsr for a
    request that Go would not parse or would read differently from what csrgate shows."""
    try:
        csr = x509.load_der_x509_csr(der_bytes)
        layout = read_layout(der_bytes)
        with warnings.catch_warnings():  # an over-long CN warns here; the policy reports it as a finding instead
            warnings.simplefilter("ignore", UserWarning)
            subject = _subject(csr.subject)
        extensions = csr.extensions
    except der.DerError as exc:
        raise MalformedCsr(f"the CSR is not valid DER: {exc}") from exc
    except MalformedCsr:
        raise  # the layout's own refusal, already worded for the requester (a ValueError, which the next clause takes)
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
    # SHA-1 here only answers what Go's CheckSignature would (the policy refuses SHA-1 signatures): S303 does not apply
    key = csr.public_key()
    if algorithm == "sha1WithRSAEncryption" and isinstance(key, rsa.RSAPublicKey):
        key.verify(csr.signature, csr.tbs_certrequest_bytes, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
        return True
    if algorithm == "ecdsa-with-SHA1" and isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(csr.signature, csr.tbs_certrequest_bytes, ec.ECDSA(hashes.SHA1()))  # noqa: S303
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
