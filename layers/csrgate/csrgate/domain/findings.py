"""Findings: what a policy check noticed, under a code that is a public contract."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How a finding weighs on the verdict: an error denies, a warning sends the request to a person."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Code(StrEnum):
    """Finding codes. Tests, Slack messages, Denied conditions and logs all use these exact strings."""

    MALFORMED_REQUEST = "malformed-request"
    BAD_SIGNATURE = "bad-signature"
    WEAK_SIGNATURE = "weak-signature"
    WEAK_KEY = "weak-key"
    MISSING_COMMON_NAME = "missing-common-name"
    INVALID_SUBJECT = "invalid-subject"
    FORBIDDEN_GROUP = "forbidden-group"
    RESERVED_USERNAME = "reserved-username"
    USAGE_NOT_ALLOWED = "usage-not-allowed"
    MISSING_USAGE = "missing-usage"
    SAN_NOT_ALLOWED = "san-not-allowed"
    MISSING_SAN = "missing-san"
    EXPIRATION_UNSET = "expiration-unset"
    EXPIRATION_TOO_SHORT = "expiration-too-short"
    EXPIRATION_TOO_LONG = "expiration-too-long"
    SUBJECT_MISMATCH = "subject-mismatch"
    REQUESTER_UNKNOWN = "requester-unknown"
    SIGNER_NOT_MANAGED = "signer-not-managed"
    SIGNER_UNSUPPORTED_ON_EKS = "signer-unsupported-on-eks"
    RENEWAL = "renewal"


@dataclass(frozen=True)
class Finding:
    """One thing a check noticed; `message` tells the requester how to fix it."""

    code: Code
    severity: Severity
    message: str

    def as_dict(self) -> dict[str, str]:
        """The finding as it appears in JSON output, logs and audit items."""
        return {"code": self.code.value, "severity": self.severity.value, "message": self.message}


def error(code: Code, message: str) -> Finding:
    """A finding that denies the request."""
    return Finding(code, Severity.ERROR, message)


def warning(code: Code, message: str) -> Finding:
    """A finding that needs a person to look, even when the signer's clean outcome is approve."""
    return Finding(code, Severity.WARNING, message)


def info(code: Code, message: str) -> Finding:
    """A finding worth showing that changes nothing."""
    return Finding(code, Severity.INFO, message)
