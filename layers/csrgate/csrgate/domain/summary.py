"""What csrgate keeps of a request: the decoded CSR and its spec as plain, typed values, for people (CLI, Slack),
the state machine and the store. Every string in it is untrusted text from the requester."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only annotated: the interactions function reads summaries without the CSR decoder
    from csrgate.domain.request import SigningRequest


@dataclass(frozen=True)
class RequestSummary:
    """A request as stored with its record. `malformed` says why the CSR could not be decoded (its fields are empty
    then); `requester_email_claim` is the csrgate.io/requester-email annotation as written, verified or not."""

    name: str | None = None
    uid: str | None = None
    signer_name: str | None = None
    usages: tuple[str, ...] = ()
    expiration_seconds: int | None = None
    username: str | None = None
    groups: tuple[str, ...] = ()
    malformed: str | None = None
    common_names: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    other_subject: tuple[tuple[str, str], ...] = ()  # (attribute name, value)
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    other_sans: tuple[str, ...] = ()
    key_type: str | None = None
    key_bits: int | None = None
    key_curve: str | None = None
    signature_algorithm: str | None = None
    signature_valid: bool | None = None
    extensions: tuple[str, ...] = ()
    requester_email_claim: str | None = None

    @property
    def common_name(self) -> str | None:
        """The CN the certificate would carry (the first, when there are several), if decoded."""
        return self.common_names[0] if self.common_names else None

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON (`csrgate check --json`, the stored item): the field names of the Kubernetes API."""
        described: dict[str, Any] = {
            "name": self.name,
            "uid": self.uid,
            "signerName": self.signer_name,
            "usages": list(self.usages),
            "expirationSeconds": self.expiration_seconds,
            "username": self.username,
            "groups": list(self.groups),
        }
        if self.requester_email_claim is not None:
            described["requesterEmailAnnotation"] = self.requester_email_claim
        if self.malformed is not None:
            return described | {"malformed": self.malformed}
        return described | {
            "subject": {
                "commonName": self.common_name,
                "commonNames": list(self.common_names),
                "organizations": list(self.organizations),
                "other": [{"name": name, "value": value} for name, value in self.other_subject],
            },
            "sans": {
                "dns": list(self.dns_names),
                "ip": list(self.ip_addresses),
                "email": list(self.emails),
                "uri": list(self.uris),
                "other": list(self.other_sans),
            },
            "publicKey": {"type": self.key_type, "bits": self.key_bits, "curve": self.key_curve},
            "signatureAlgorithm": self.signature_algorithm,
            "signatureValid": self.signature_valid,
            "extensions": list(self.extensions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestSummary:
        """Read what as_dict wrote (a stored item); a field of the wrong type reads as absent."""
        subject, sans, key = _mapping(data, "subject"), _mapping(data, "sans"), _mapping(data, "publicKey")
        listed = subject.get("other")
        other = listed if isinstance(listed, list) else []
        return cls(
            name=_text(data, "name"),
            uid=_text(data, "uid"),
            signer_name=_text(data, "signerName"),
            usages=_texts(data, "usages"),
            expiration_seconds=_number(data, "expirationSeconds"),
            username=_text(data, "username"),
            groups=_texts(data, "groups"),
            malformed=_text(data, "malformed"),
            common_names=_texts(subject, "commonNames"),
            organizations=_texts(subject, "organizations"),
            other_subject=tuple(
                (str(item.get("name")), str(item.get("value"))) for item in other if isinstance(item, Mapping)
            ),
            dns_names=_texts(sans, "dns"),
            ip_addresses=_texts(sans, "ip"),
            emails=_texts(sans, "email"),
            uris=_texts(sans, "uri"),
            other_sans=_texts(sans, "other"),
            key_type=_text(key, "type"),
            key_bits=_number(key, "bits"),
            key_curve=_text(key, "curve"),
            signature_algorithm=_text(data, "signatureAlgorithm"),
            signature_valid=data.get("signatureValid") if isinstance(data.get("signatureValid"), bool) else None,
            extensions=_texts(data, "extensions"),
            requester_email_claim=_text(data, "requesterEmailAnnotation"),
        )


def summarize(request: SigningRequest, requester_email_claim: str | None = None) -> RequestSummary:
    """What csrgate keeps of a signing request."""
    spec = RequestSummary(
        name=request.name,
        uid=request.uid,
        signer_name=request.signer_name,
        usages=request.usages,
        expiration_seconds=request.expiration_seconds,
        username=request.username,
        groups=request.groups,
        requester_email_claim=requester_email_claim,
    )
    csr = request.csr
    if csr is None:
        return replace(spec, malformed=request.malformed or "cannot be decoded")
    return replace(
        spec,
        common_names=csr.subject.common_names,
        organizations=csr.subject.organizations,
        other_subject=csr.subject.other,
        dns_names=csr.sans.dns,
        ip_addresses=csr.sans.ip,
        emails=csr.sans.email,
        uris=csr.sans.uri,
        other_sans=csr.sans.other,
        key_type=csr.public_key.type,
        key_bits=csr.public_key.bits,
        key_curve=csr.public_key.curve,
        signature_algorithm=csr.signature_algorithm,
        signature_valid=csr.signature_valid,
        extensions=csr.extensions,
    )


def describe_lifetime(seconds: int | None) -> str:
    """'1 day', '30 days', '2 hours 30 minutes'; 'not set' when there is no expirationSeconds."""
    if seconds is None:
        return "not set"
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts[:2]) or "0 seconds"


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _texts(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    return tuple(str(item) for item in value) if isinstance(value, list | tuple) else ()


def _number(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
