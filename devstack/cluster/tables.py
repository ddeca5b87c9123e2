"""Server-side printing: the Table kubectl asks for with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.

Columns and cells follow kubernetes pkg/printers/internalversion's printCertificateSigningRequest, durations
follow apimachinery's util/duration (ShortHumanDuration for AGE, HumanDuration for REQUESTEDDURATION).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

CSR_COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace."},
    {"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing "
     "the server time when this object was created."},
    {"name": "SignerName", "type": "string", "format": "", "description": "Requested signer for the request."},
    {"name": "Requestor", "type": "string", "format": "", "description": "Name of the user who created the request."},
    {"name": "RequestedDuration", "type": "string", "format": "", "description": "Requested duration of validity "
     "of the issued certificate."},
    {"name": "Condition", "type": "string", "format": "", "description": "Conditions applied to the request."},
]  # fmt: skip


def csr_table(items: list[dict[str, Any]], resource_version: str, include_object: str, now: datetime) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of CSRs; rows carry the object as PartialObjectMetadata unless asked otherwise."""
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": CSR_COLUMNS,
        "rows": [_row(item, include_object, now) for item in items],
    }


def _row(csr: dict[str, Any], include_object: str, now: datetime) -> dict[str, Any]:
    spec = csr.get("spec", {})
    seconds = spec.get("expirationSeconds")
    cells = [
        csr["metadata"]["name"],
        _age(csr["metadata"].get("creationTimestamp"), now),
        spec.get("signerName") or "<none>",
        spec.get("username", ""),
        human_duration(seconds) if seconds is not None else "<none>",
        condition_summary(csr),
    ]
    row: dict[str, Any] = {"cells": cells}
    if include_object == "Object":
        row["object"] = csr
    elif include_object != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": csr["metadata"],
        }
    return row


def condition_summary(csr: dict[str, Any]) -> str:
    """The CONDITION column: Pending, Approved or Denied, then ,Failed and ,Issued (extractCSRStatus)."""
    kinds = {condition.get("type") for condition in csr.get("status", {}).get("conditions") or []}
    if "Denied" in kinds:
        summary = "Denied"
    elif "Approved" in kinds:
        summary = "Approved"
    else:
        summary = "Pending"
    if "Failed" in kinds:
        summary += ",Failed"
    if csr.get("status", {}).get("certificate"):
        summary += ",Issued"
    return summary


def _age(timestamp: str | None, now: datetime) -> str:
    if not timestamp:
        return "<unknown>"
    created = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return short_human_duration((now - created).total_seconds())


def short_human_duration(seconds: float) -> str:
    """util/duration.ShortHumanDuration."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    hours = whole // 3600
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def human_duration(seconds: float) -> str:
    """util/duration.HumanDuration: about two or three significant figures."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"
