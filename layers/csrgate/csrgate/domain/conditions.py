"""CSR conditions as csrgate reads and writes them: the decision it adds, and what a CSR's status means.

Approved and Denied are added only through the approval subresource, with status "True", and never removed;
so csrgate appends its condition to what it read and never replaces or rewrites someone else's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"
REASON_APPROVED = "CsrgateApproved"
REASON_DENIED = "CsrgateDenied"
REASON_POLICY_DENIED = "CsrgatePolicyDenied"
REASON_EXPIRED = "CsrgateExpired"
# The only reasons csrgate writes. Intake and the worker read a decision as csrgate's by these exact names: a
# condition whose reason merely starts with "Csrgate" was written by someone else, and is a decision made elsewhere.
CSRGATE_REASONS = frozenset({REASON_APPROVED, REASON_DENIED, REASON_POLICY_DENIED, REASON_EXPIRED})
MAX_MESSAGE_LENGTH = 1024


def is_csrgate_reason(reason: str) -> bool:
    """Whether a condition with this reason was written by csrgate."""
    return reason in CSRGATE_REASONS


class Decision(StrEnum):
    """What a person (or the policy) decided about a CSR."""

    APPROVE = "approve"
    DENY = "deny"

    @property
    def condition_type(self) -> str:
        """Approved or Denied."""
        return APPROVED if self is Decision.APPROVE else DENIED

    @property
    def default_reason(self) -> str:
        """CsrgateApproved or CsrgateDenied."""
        return REASON_APPROVED if self is Decision.APPROVE else REASON_DENIED


@dataclass(frozen=True)
class Condition:
    """One condition of a CSR's status, as plain values."""

    type: str
    status: str
    reason: str = ""
    message: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Condition:
        """A condition from its JSON shape (type, status, reason, message)."""
        return cls(
            str(data.get("type") or ""),
            str(data.get("status") or ""),
            str(data.get("reason") or ""),
            str(data.get("message") or ""),
        )

    @property
    def by_csrgate(self) -> bool:
        """Whether csrgate wrote it (its reason is one of csrgate's)."""
        return is_csrgate_reason(self.reason)


def decision_condition(decision: Decision, decided_by: str, why: str, reason: str | None = None) -> Condition:
    """The condition csrgate appends: who decided and why, in a message a cluster admin reads."""
    verb = "Approved" if decision is Decision.APPROVE else "Denied"
    message = f"{verb} by {decided_by} via csrgate"
    if why.strip():
        message += f": {why.strip()}"
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    return Condition(decision.condition_type, "True", reason or decision.default_reason, message)


class DecisionOutcome(StrEnum):
    """What happened to a decision csrgate tried to apply."""

    APPLIED = "applied"  # csrgate added its condition
    ALREADY_APPLIED = "already-applied"  # csrgate's same decision was already there (a repeated delivery)
    DECIDED_ELSEWHERE = "decided-elsewhere"  # someone else approved or denied it first; left as it is
    GONE = "gone"  # the CSR no longer exists (deleted, or garbage-collected)
    REPLACED = "replaced"  # a CSR of that name exists, but it is not the one reviewed (another uid)


@dataclass(frozen=True)
class DecisionResult:
    """The outcome, and the condition that now decides the CSR (csrgate's or the other one)."""

    outcome: DecisionOutcome
    name: str
    condition: Condition | None = None


def plan_decision(conditions: Iterable[Condition], decision: Decision) -> tuple[DecisionOutcome, Condition] | None:
    """None when csrgate should append its condition; otherwise why it must not, and the deciding condition."""
    for condition in conditions:
        if condition.type not in (APPROVED, DENIED) or condition.status != "True":
            continue
        if condition.type == decision.condition_type and condition.by_csrgate:
            return DecisionOutcome.ALREADY_APPLIED, condition
        return DecisionOutcome.DECIDED_ELSEWHERE, condition
    return None


class IssuanceOutcome(StrEnum):
    """Where the certificate of an approved CSR stands."""

    ISSUED = "issued"
    FAILED = "failed"  # the signer added a Failed condition (its reason says why)
    DENIED = "denied"
    NOT_ISSUED = "not-issued"  # approved, but no certificate within the time csrgate waits
    NOT_APPROVED = "not-approved"  # still pending when the wait ended
    GONE = "gone"
    REPLACED = "replaced"


@dataclass(frozen=True)
class IssuanceResult:
    """The outcome; the PEM certificate when issued; the deciding condition when failed or denied."""

    outcome: IssuanceOutcome
    name: str
    certificate_pem: bytes | None = None
    condition: Condition | None = None


def issuance_state(conditions: Iterable[Condition], certificate_pem: bytes | None) -> IssuanceOutcome | None:
    """A final outcome the status already shows, or None while the signer may still issue."""
    listed = [condition for condition in conditions if condition.status == "True"]
    if any(condition.type == DENIED for condition in listed):
        return IssuanceOutcome.DENIED
    if any(condition.type == FAILED for condition in listed):
        return IssuanceOutcome.FAILED
    if certificate_pem:
        return IssuanceOutcome.ISSUED
    return None


def deciding_condition(conditions: Iterable[Condition], outcome: IssuanceOutcome) -> Condition | None:
    """The condition behind a FAILED or DENIED outcome."""
    wanted = {IssuanceOutcome.FAILED: FAILED, IssuanceOutcome.DENIED: DENIED}.get(outcome)
    return next((condition for condition in conditions if condition.type == wanted), None)


def is_approved(conditions: Iterable[Condition]) -> bool:
    """Whether an Approved condition is there."""
    return any(condition.type == APPROVED and condition.status == "True" for condition in conditions)
