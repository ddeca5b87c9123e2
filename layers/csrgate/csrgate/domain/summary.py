"""A request's decoded fields as plain data, for people (CLI, Slack) and machines (JSON, audit)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only annotated: the interactions function reads lifetimes without the CSR decoder
    from csrgate.domain.request import SigningRequest


def describe_request(request: SigningRequest) -> dict[str, Any]:
    """The request as a JSON-ready mapping; every string in it is untrusted text from the requester."""
    described: dict[str, Any] = {
        "name": request.name,
        "uid": request.uid,
        "signerName": request.signer_name,
        "usages": list(request.usages),
        "expirationSeconds": request.expiration_seconds,
        "username": request.username,
        "groups": list(request.groups),
    }
    csr = request.csr
    if csr is None:
        described["malformed"] = request.malformed
        return described
    described.update(
        subject={
            "commonName": csr.subject.common_name,
            "commonNames": list(csr.subject.common_names),
            "organizations": list(csr.subject.organizations),
            "other": [{"name": name, "value": value} for name, value in csr.subject.other],
        },
        sans={
            "dns": list(csr.sans.dns),
            "ip": list(csr.sans.ip),
            "email": list(csr.sans.email),
            "uri": list(csr.sans.uri),
            "other": list(csr.sans.other),
        },
        publicKey={"type": csr.public_key.type, "bits": csr.public_key.bits, "curve": csr.public_key.curve},
        signatureAlgorithm=csr.signature_algorithm,
        signatureValid=csr.signature_valid,
        extensions=list(csr.extensions),
    )
    return described


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
