"""Decoding a PKCS#10 certificate signing request into plain values, and verifying its self-signature."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from csrgate.domain.errors import InputError

PEM_LABEL = "CERTIFICATE REQUEST"
_BEGIN = b"-----BEGIN "
_END = f"-----END {PEM_LABEL}-----".encode("ascii")
_MAX_LABEL_LENGTH = 64


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
    """A PEM CERTIFICATE REQUEST block whose contents are not a valid PKCS#10 request."""


@dataclass(frozen=True, slots=True)
class PublicKeyInfo:
    """The requester's public key, as far as policy cares."""

    type: str  # "RSA", "EC", "Ed25519", "Ed448", "DSA" or the algorithm's dotted OID when unknown
    bits: int | None = None
    curve: str | None = None

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
    signature_valid: bool
    extensions: tuple[str, ...] = field(default=())


def find_pem_block(data: bytes, source: str) -> bytes:
    """The first PEM block, which must be a CERTIFICATE REQUEST, as Kubernetes' ParseCSR reads it."""
    begin = data.find(_BEGIN)
    if begin < 0:
        raise InputError(source, f"no PEM block found; expected a {PEM_LABEL}")
    label_start = begin + len(_BEGIN)
    label_end = data.find(b"-----", label_start, label_start + _MAX_LABEL_LENGTH + 1)
    label = data[label_start:label_end].decode("ascii", errors="replace") if label_end >= 0 else ""
    if not label or "\n" in label:
        raise InputError(source, "the PEM block's BEGIN line is not complete")
    if label != PEM_LABEL:
        raise InputError(source, _wrong_label_problem(label))
    end = data.find(_END, label_end)
    if end < 0:
        raise InputError(source, f"the {PEM_LABEL} PEM block has no END line")
    return data[begin : end + len(_END)]


def _wrong_label_problem(label: str) -> str:
    if "PRIVATE KEY" in label:
        return (
            f"the PEM block is a {label}, not a {PEM_LABEL}; a private key must never leave your machine: "
            "pass the CSR made from it instead"
        )
    return f"the PEM block is a {label}, expected a {PEM_LABEL}"


def decode_csr(pem_block: bytes) -> DecodedCsr:
    """Decode one PEM CERTIFICATE REQUEST block and verify its self-signature; MalformedCsr if it is not one."""
    try:
        csr = x509.load_pem_x509_csr(pem_block)
        with warnings.catch_warnings():  # an over-long CN warns here; the policy reports it as a finding instead
            warnings.simplefilter("ignore", UserWarning)
            subject = _subject(csr.subject)
        extensions = csr.extensions
    except _PARSE_ERRORS as exc:
        raise MalformedCsr(f"the CSR cannot be parsed: {_first_line(exc)}") from exc
    return DecodedCsr(
        subject=subject,
        sans=_sans(extensions),
        public_key=_public_key(csr),
        signature_algorithm=_signature_algorithm(csr),
        signature_valid=_signature_valid(csr),
        extensions=tuple(_extension_name(ext) for ext in extensions),
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
        if isinstance(general_name, x509.DNSName):
            dns.append(general_name.value)
        elif isinstance(general_name, x509.IPAddress):
            ip.append(str(general_name.value))
        elif isinstance(general_name, x509.RFC822Name):
            email.append(general_name.value)
        elif isinstance(general_name, x509.UniformResourceIdentifier):
            uri.append(general_name.value)
        else:
            other.append(f"{type(general_name).__name__}:{general_name.value!r}")
    return SubjectAltNames(tuple(dns), tuple(ip), tuple(email), tuple(uri), tuple(other))


def _public_key(csr: x509.CertificateSigningRequest) -> PublicKeyInfo:
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        oid = csr.public_key_algorithm_oid  # type: ignore[attr-defined]  # in cryptography, missing from its stubs
        return PublicKeyInfo(type=f"unsupported ({oid.dotted_string})")
    if isinstance(key, rsa.RSAPublicKey):
        return PublicKeyInfo("RSA", key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return PublicKeyInfo("EC", key.curve.key_size, key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return PublicKeyInfo("Ed25519", 256)
    if isinstance(key, ed448.Ed448PublicKey):
        return PublicKeyInfo("Ed448", 456)
    if isinstance(key, dsa.DSAPublicKey):
        return PublicKeyInfo("DSA", key.key_size)
    return PublicKeyInfo(type=f"unsupported ({type(key).__name__})")


def _signature_algorithm(csr: x509.CertificateSigningRequest) -> str:
    oid = csr.signature_algorithm_oid
    name = getattr(oid, "_name", None)
    return name if isinstance(name, str) and name != "Unknown OID" else oid.dotted_string


def _signature_valid(csr: x509.CertificateSigningRequest) -> bool:
    try:
        return csr.is_signature_valid
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _extension_name(extension: x509.Extension[x509.ExtensionType]) -> str:
    name = getattr(extension.oid, "_name", None)
    if isinstance(name, str) and name != "Unknown OID":
        return name
    return extension.oid.dotted_string


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else exc.__class__.__name__
