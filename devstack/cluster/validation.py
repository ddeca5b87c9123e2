"""CertificateSigningRequest validation, as k8s.io/kubernetes pkg/apis/certificates/validation does it."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cryptography import x509

from devstack.cluster import pem
from devstack.cluster.spec_request import read_spec_request
from devstack.cluster.status import (
    FieldError,
    GoLiteral,
    duplicate,
    forbidden_field,
    invalid,
    not_supported,
    required,
)

APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"
LEGACY_UNKNOWN_SIGNER = "kubernetes.io/legacy-unknown"
MINIMUM_EXPIRATION_SECONDS = 600
# KeyUsage values of certificates/v1, listed sorted as sets.List prints them in NotSupported errors.
VALID_USAGES = sorted(
    [
        "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
        "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
        "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
        "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc",
    ]
)  # fmt: skip
_CONDITION_STATUSES = ["False", "True", "Unknown"]
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_MAX_DOMAIN_LENGTH = 253


def validate_csr(csr: dict[str, Any]) -> list[FieldError]:
    """Errors in a CSR as created (or after any update)."""
    errors = _validate_name(csr.get("metadata", {}).get("name", ""))
    spec = csr.get("spec", {})
    request = spec.get("request", "")
    problem = pem_csr_problem(request)
    if problem is not None:
        errors.append(invalid("spec.request", _go_bytes(_raw(request)), problem))
    usages = spec.get("usages") or []
    if not usages:
        errors.append(required("spec.usages"))
    for index, usage in enumerate(usages):
        if usage not in VALID_USAGES:
            errors.append(not_supported(f"spec.usages[{index}]", usage, VALID_USAGES))
    seen: set[str] = set()
    for index, usage in enumerate(usages):
        if usage in seen:
            errors.append(duplicate(f"spec.usages[{index}]", usage))
        seen.add(usage)
    signer = spec.get("signerName", "")
    if signer == LEGACY_UNKNOWN_SIGNER:
        errors.append(invalid("spec.signerName", signer, "the legacy signerName is not allowed via this API version"))
    else:
        errors.extend(validate_signer_name("spec.signerName", signer))
    seconds = spec.get("expirationSeconds")
    if seconds is not None and seconds < MINIMUM_EXPIRATION_SECONDS:
        errors.append(
            invalid("spec.expirationSeconds", seconds, "may not specify a duration less than 600 seconds (10 minutes)")
        )
    errors.extend(_validate_conditions(csr.get("status", {}).get("conditions") or []))
    certificate = csr.get("status", {}).get("certificate")
    if certificate:
        certificate_problem = pem_certificates_problem(_raw(certificate))
        if certificate_problem is not None:
            errors.append(invalid("status.certificate", "<certificate data>", certificate_problem))
    return errors


def validate_csr_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Errors in an update: the object's own, plus removed conditions and a changed certificate."""
    errors = validate_csr(new)
    for kind in (APPROVED, DENIED, FAILED):
        if len(_conditions_of(new, kind)) < len(_conditions_of(old, kind)):
            errors.append(forbidden_field("status.conditions", f'updates may not remove a condition of type "{kind}"'))
    old_certificate = old.get("status", {}).get("certificate")
    if old_certificate and _raw(new.get("status", {}).get("certificate", "")) != _raw(old_certificate):
        errors.append(
            invalid("status.certificate", "<certificate data>", "updates may not modify existing certificate content")
        )
    return errors


def validate_signer_name(path: str, signer: str) -> list[FieldError]:
    """ValidateSignerName: a fully qualified domain and a path, `example.com/signer-name`."""
    if not signer:
        return [required(path)]
    segments = signer.split("/")
    if len(segments) != 2:
        return [
            invalid(path, signer, "must be a fully qualified domain and path of the form 'example.com/signer-name'")
        ]
    domain, name_path = segments
    errors: list[FieldError] = []
    if len(domain) > _MAX_DOMAIN_LENGTH:
        errors.append(
            FieldError("FieldValueTooLong", path, f"Too long: may not be more than {_MAX_DOMAIN_LENGTH} bytes")
        )
    labels = domain.split(".")
    for label in labels:
        if len(label) > 63 or not _DNS_LABEL.fullmatch(label):
            errors.append(
                invalid(
                    path,
                    domain,
                    f'validating label "{label}": a lowercase RFC 1123 label must consist of lower case alphanumeric '
                    "characters or '-', and must start and end with an alphanumeric character",
                )
            )
            break
    if len(labels) < 2:
        errors.append(invalid(path, domain, "should be a domain with at least two segments separated by dots"))
    if not name_path or len(name_path) > _MAX_DOMAIN_LENGTH or not _PATH_SEGMENT.fullmatch(name_path):
        errors.append(
            invalid(
                path,
                name_path,
                "validating path: must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                "with an alphanumeric character",
            )
        )
    return errors


def pem_csr_problem(request_b64: str) -> str | None:
    """Why spec.request is not a CSR the API server accepts (validateCSR: ParseCSR, then CheckSignature), or None."""
    reading = read_spec_request(_raw(request_b64))
    if reading["error"] is not None:
        return str(reading["error"])
    if not reading["csr"]["signature_valid"]:
        return str(reading["csr"]["signature_error"])
    return None


def pem_certificates_problem(data: bytes) -> str | None:
    """Why status.certificate is not one or more CERTIFICATE PEM blocks, or None (validateCertificate)."""
    blocks = 0
    remaining = data
    while True:
        block, remaining = pem.decode(remaining)
        if block is None:
            break
        if block.type != b"CERTIFICATE":
            return f'only CERTIFICATE PEM blocks are allowed, found "{block.type_text}"'
        if block.headers:
            return "no PEM block headers are permitted"
        try:
            x509.load_der_x509_certificate(block.data)
        except ValueError as exc:
            return f"x509: {str(exc).splitlines()[0]}"
        blocks += 1
    if blocks == 0:
        return "must contain at least one CERTIFICATE PEM block"
    return None


def _validate_name(name: str) -> list[FieldError]:
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    problems = []
    if name in (".", ".."):
        problems.append(f"may not be '{name}'")
    for character in ("/", "%"):
        if character in name:
            problems.append(f"may not contain '{character}'")
    return [invalid("metadata.name", name, problem) for problem in problems]


def _validate_conditions(conditions: list[dict[str, Any]]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    has_approved = has_denied = False
    for index, condition in enumerate(conditions):
        path = f"status.conditions[{index}]"
        kind, status = condition.get("type", ""), condition.get("status", "")
        if not kind:
            errors.append(required(f"{path}.type"))
        allowed = ["True"] if kind in (APPROVED, DENIED, FAILED) else _CONDITION_STATUSES
        if not status:
            errors.append(required(f"{path}.status"))
        elif status not in allowed:
            errors.append(not_supported(f"{path}.status", status, allowed))
        if kind == APPROVED:
            has_approved = True
            if has_denied:
                errors.append(invalid(f"{path}.type", kind, "Approved and Denied conditions are mutually exclusive"))
        elif kind == DENIED:
            has_denied = True
            if has_approved:
                errors.append(invalid(f"{path}.type", kind, "Approved and Denied conditions are mutually exclusive"))
        if kind in seen:
            errors.append(duplicate(f"{path}.type", kind))
        seen.add(kind)
    return errors


def _conditions_of(csr: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in csr.get("status", {}).get("conditions") or [] if c.get("type") == kind]


def _raw(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _go_bytes(data: bytes) -> Any:
    """A []byte as Go's %#v prints it in field.Invalid, which is what kube-apiserver shows for spec.request."""
    return GoLiteral("[]byte{" + ", ".join(f"0x{byte:x}" for byte in data) + "}")
