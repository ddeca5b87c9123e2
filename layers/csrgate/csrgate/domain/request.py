"""A signing request as policy sees it: the decoded CSR plus what the CertificateSigningRequest's spec says."""

from __future__ import annotations

import binascii
import hashlib
import json
from base64 import b64decode
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from csrgate.domain.asks import asked_spec_digest
from csrgate.domain.conditions import CsrStatus
from csrgate.domain.csr import DecodedCsr, decode_csr
from csrgate.domain.documents import MAX_DOCUMENT_BYTES, DocumentError, load_document
from csrgate.domain.errors import InputError, MalformedCsr
from csrgate.domain.pem import read_pem

MAX_INPUT_BYTES = MAX_DOCUMENT_BYTES
API_VERSION = "certificates.k8s.io/v1"
KIND = "CertificateSigningRequest"
# The API server's own limits: a DNS subdomain name, a UID, a qualified signer name (apimachinery's validation),
# expirationSeconds an int32.
MAX_NAME_CHARS, MAX_UID_CHARS, MAX_SIGNER_CHARS = 253, 128, 571
MAX_EXPIRATION_SECONDS = 2**31 - 1
# Bounds of csrgate's own, far above any real identity, so that a request always fits its stored record.
MAX_USERNAME_CHARS, MAX_GROUPS_CHARS = 1024, 64 * 1024
CREDENTIAL_ID_KEY = "authentication.kubernetes.io/credential-id"
MAX_CREDENTIAL_ID_CHARS = 128


@dataclass(frozen=True)
class SigningRequest:
    """What is asked: the CSR (or why it could not be decoded) and the spec fields around it."""

    csr: DecodedCsr | None
    malformed: str | None = None  # why `csr` is None
    signer_name: str | None = None
    usages: tuple[str, ...] = ()
    expiration_seconds: int | None = None
    username: str | None = None  # set by the API server from the creator's credentials
    groups: tuple[str, ...] = ()
    name: str | None = None
    uid: str | None = None
    # spec.extra's authentication.kubernetes.io/credential-id, when the API server recorded exactly one: for a CSR
    # created with a client certificate, X509SHA256=<its digest> (csrgate.domain.renewals)
    credential_id: str | None = None

    def with_overrides(self, **changes: Any) -> SigningRequest:
        """A copy with the given spec fields replaced; None values leave a field as it is."""
        return replace(self, **{key: value for key, value in changes.items() if value is not None})


_FINGERPRINTED = ("request", "signerName", "usages", "expirationSeconds", "username", "groups")


def spec_fingerprint(spec: Mapping[str, Any]) -> str:
    """A digest of what a CSR asks for and who asked, to check that the CSR decided is the CSR reviewed."""
    chosen = {key: spec.get(key) for key in _FINGERPRINTED}
    return hashlib.sha256(json.dumps(chosen, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def read_signing_request(data: bytes, source: str) -> SigningRequest:
    """Read a PEM CSR, the base64 of one (as `spec.request` holds it), or a CertificateSigningRequest manifest."""
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(source, f"larger than {MAX_INPUT_BYTES // 1024} KiB; a CSR is a few KiB at most")
    if not data.strip():
        raise InputError(source, "empty input")
    if b"-----BEGIN" in data:
        return _decoded(data, source)
    pem = _pem_from_base64(data)
    if pem is not None:
        return _decoded(pem, source)
    try:
        document = load_document(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(source, "not text; pass a PEM CSR (openssl req -outform PEM), not DER") from exc
    except DocumentError as exc:
        raise InputError(source, f"not a CSR: neither PEM, base64 of PEM, nor a manifest ({exc})") from exc
    if not isinstance(document, Mapping):
        raise InputError(source, "not a CSR: expected a PEM CERTIFICATE REQUEST, its base64, or a manifest")
    return read_csr_object(document, source).signing_request


@dataclass(frozen=True)
class CsrObject:
    """A CertificateSigningRequest object, read once: who made it, what it asks, and what its status says.

    Made only by read_csr_object, which checked every field's type; `signing_request` decodes spec.request the first
    time it is asked for (an event about a CSR csrgate already knows needs only the status).
    """

    request_text: str = field(repr=False)
    spec_fields: Mapping[str, Any]
    annotations: Mapping[str, str]
    status: CsrStatus
    spec_fingerprint: str
    source: str
    asked_digest: str = ""  # asks.asked_spec_digest of the spec: what it asks for, whoever created it

    @property
    def name(self) -> str:
        """metadata.name ('' in a manifest that has none)."""
        return str(self.spec_fields.get("name") or "")

    @property
    def uid(self) -> str:
        """metadata.uid ('' in a manifest that has none)."""
        return str(self.spec_fields.get("uid") or "")

    @cached_property
    def signing_request(self) -> SigningRequest:
        """What is asked. A spec.request csrgate cannot read exactly as Kubernetes does gives a request to deny,
        never an error."""
        pem = _base64(self.request_text)
        if pem is None:
            return SigningRequest(csr=None, malformed="spec.request is not base64", **self.spec_fields)
        try:
            csr, malformed = _decode(pem, f"{self.source}: spec.request")
        except InputError as exc:
            csr, malformed = None, exc.problem
        return SigningRequest(csr=csr, malformed=malformed, **self.spec_fields)


def read_csr_object(obj: Mapping[str, Any], source: str, *, from_cluster: bool = False) -> CsrObject:
    """Read a CertificateSigningRequest object: a manifest, or (`from_cluster`) one the API server returned.

    The API server names every object it returns (metadata.name and uid are required then), while items of a list
    carry no kind or apiVersion (they may be absent then). Every field's type is checked here, once; InputError names
    the field.
    """
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind != KIND and not (from_cluster and kind is None):
        raise InputError(source, f"kind is {_shown(kind)}, expected {KIND}")
    if api_version != API_VERSION and not (from_cluster and api_version is None):
        raise InputError(source, f"apiVersion is {_shown(api_version)}, expected {API_VERSION}")
    metadata = _field(obj, "metadata", Mapping, source, required=from_cluster) or {}
    spec = _field(obj, "spec", Mapping, source)
    request = _field(spec, "request", str, source, path="spec.request")
    if not request:
        raise InputError(source, "spec.request is empty")
    spec_fields = {
        "signer_name": _text(spec, "signerName", source, "spec", MAX_SIGNER_CHARS, required=from_cluster),
        "usages": _strings(spec, "usages", source),
        "expiration_seconds": _expiration(spec, source),
        "username": _text(spec, "username", source, "spec", MAX_USERNAME_CHARS, required=False),
        "groups": _groups(spec, source),
        "name": _text(metadata, "name", source, "metadata", MAX_NAME_CHARS, required=from_cluster),
        "uid": _text(metadata, "uid", source, "metadata", MAX_UID_CHARS, required=from_cluster),
        "credential_id": _credential_id(spec, source),
    }
    return CsrObject(
        request_text=request,
        spec_fields=spec_fields,
        annotations=_annotations(metadata, source),
        status=CsrStatus.of(obj.get("status")),
        spec_fingerprint=spec_fingerprint(spec),
        source=source,
        asked_digest=asked_spec_digest(spec),
    )


def _decoded(pem: bytes, source: str) -> SigningRequest:
    csr, malformed = _decode(pem, source)
    return SigningRequest(csr=csr, malformed=malformed)


def _decode(pem: bytes, source: str) -> tuple[DecodedCsr | None, str | None]:
    try:
        return decode_csr(read_pem(pem, source)), None
    except MalformedCsr as exc:
        return None, str(exc)


def _pem_from_base64(text: str | bytes) -> bytes | None:
    decoded = _base64(text)
    return decoded if decoded is not None and b"-----BEGIN" in decoded else None


def _base64(text: str | bytes) -> bytes | None:
    try:
        return b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        try:  # base64 wrapped over several lines, as `base64` without -w0 writes it
            return b64decode(b"".join(_ascii(text).split()), validate=True)
        except (binascii.Error, ValueError):
            return None


def _ascii(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("ascii", errors="replace")


def _field(
    obj: Mapping[str, Any], key: str, kind: type, source: str, *, path: str | None = None, required: bool = True
) -> Any:
    value = obj.get(key)
    if value is None:
        if required:
            raise InputError(source, f"{path or key} is missing")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(source, f"{path or key} must be {_kind_name(kind)}, not {_kind_name(type(value))}")
    return value


def _text(obj: Mapping[str, Any], key: str, source: str, parent: str, most: int, *, required: bool) -> str | None:
    value: str | None = _field(obj, key, str, source, path=f"{parent}.{key}", required=required)
    if value is not None and (len(value) > most or (required and not value)):
        raise InputError(source, f"{parent}.{key} must be {'1 to' if required else 'at most'} {most} characters")
    return value


def _expiration(spec: Mapping[str, Any], source: str) -> int | None:
    seconds: int | None = _field(spec, "expirationSeconds", int, source, path="spec.expirationSeconds", required=False)
    if seconds is not None and seconds > MAX_EXPIRATION_SECONDS:
        raise InputError(source, f"spec.expirationSeconds must be at most {MAX_EXPIRATION_SECONDS} (an int32)")
    return seconds


def _groups(spec: Mapping[str, Any], source: str) -> tuple[str, ...]:
    groups = _strings(spec, "groups", source)
    if sum(len(group) for group in groups) > MAX_GROUPS_CHARS:
        raise InputError(source, f"spec.groups must hold at most {MAX_GROUPS_CHARS} characters in all")
    return groups


def _credential_id(spec: Mapping[str, Any], source: str) -> str | None:
    extra = _field(spec, "extra", Mapping, source, path="spec.extra", required=False) or {}
    values = extra.get(CREDENTIAL_ID_KEY)
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise InputError(source, f"spec.extra[{CREDENTIAL_ID_KEY}] must be a list of strings")
    return values[0][:MAX_CREDENTIAL_ID_CHARS] if len(values) == 1 else None


def _annotations(metadata: Mapping[str, Any], source: str) -> Mapping[str, str]:
    annotations = _field(metadata, "annotations", Mapping, source, path="metadata.annotations", required=False)
    if annotations is None:
        return {}
    if not all(isinstance(key, str) and isinstance(value, str) for key, value in annotations.items()):
        raise InputError(source, "metadata.annotations must map strings to strings")
    return dict(annotations)


def _strings(spec: Mapping[str, Any], key: str, source: str) -> tuple[str, ...]:
    values = _field(spec, key, list, source, path=f"spec.{key}", required=False) or []
    if not all(isinstance(value, str) for value in values):
        raise InputError(source, f"spec.{key} must be a list of strings")
    return tuple(values)


def _kind_name(kind: type) -> str:
    names = {str: "a string", int: "an integer", list: "a list", bool: "a boolean", dict: "a mapping"}
    if kind is Mapping:
        return "a mapping"
    return names.get(kind, kind.__name__)


def _shown(value: object) -> str:
    return "missing" if value is None else repr(value)[:80]
