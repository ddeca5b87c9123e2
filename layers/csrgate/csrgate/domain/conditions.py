"""CSR conditions as csrgate reads and writes them: the decision it adds, and what a CSR's status means.

Approved and Denied are added only through the approval subresource, with status "True", and never removed;
so csrgate appends its condition to what it read and never replaces or rewrites someone else's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from csrgate.domain.outcome import Decision, Outcome

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


def _text(data: Mapping[str, Any], key: str) -> str:
    """A string field as it is; any other JSON value (a boolean `true` included) reads as absent."""
    value = data.get(key)
    return value if isinstance(value, str) else ""


def condition_type(decision: Decision) -> str:
    """The condition a decision adds: Approved or Denied."""
    return APPROVED if decision is Outcome.APPROVE else DENIED


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
        return cls(*(_text(data, key) for key in ("type", "status", "reason", "message")))

    @property
    def by_csrgate(self) -> bool:
        """Whether csrgate wrote it (its reason is one of csrgate's)."""
        return is_csrgate_reason(self.reason)

    @property
    def holds(self) -> bool:
        """Whether it is in force: status "True", exactly (the API server accepts only that for Approved and Denied;
        any other status, or none, does not decide anything)."""
        return self.status == "True"


@dataclass(frozen=True)
class CsrStatus:
    """What a CSR's status says happened to it in the cluster. Intake, the forwarder and the cluster adapter all read
    a status through this one reading."""

    conditions: tuple[Condition, ...] = ()
    issued: bool = False  # status.certificate is there

    @classmethod
    def of(cls, status: object) -> CsrStatus:
        """Read a CertificateSigningRequest's `status` as JSON has it; anything not shaped like one reads as empty."""
        if not isinstance(status, Mapping):
            return cls()
        listed = status.get("conditions")
        conditions = listed if isinstance(listed, list) else []
        return cls(
            tuple(Condition.from_mapping(c) for c in conditions if isinstance(c, Mapping)),
            bool(status.get("certificate")),
        )

    @property
    def approved(self) -> bool:
        """An Approved condition holds."""
        return is_approved(self.conditions)

    @property
    def denied(self) -> bool:
        """A Denied condition holds."""
        return any(c.type == DENIED and c.holds for c in self.conditions)

    @property
    def decided(self) -> bool:
        """Approved or denied, by anyone."""
        return self.approved or self.denied

    @property
    def deciding(self) -> Condition | None:
        """The condition that decided it: the Approved one when there is one, else the Denied one."""
        holding = [c for c in self.conditions if c.holds]
        return next((c for c in holding if c.type == APPROVED), None) or next(
            (c for c in holding if c.type == DENIED), None
        )

    @property
    def by_csrgate(self) -> bool:
        """Whether the deciding condition carries one of csrgate's reasons (which anyone may write: see intake)."""
        deciding = self.deciding
        return deciding is not None and deciding.by_csrgate

    @property
    def failed_reason(self) -> str | None:
        """The signer's reason when a Failed condition holds."""
        failed = next((c for c in self.conditions if c.type == FAILED and c.holds), None)
        return (failed.reason or "Failed") if failed else None

    @property
    def decision_text(self) -> str:
        """The deciding condition's reason and message, as the cluster shows them."""
        deciding = self.deciding
        return f"{deciding.reason} {deciding.message}".strip()[:300] if deciding else ""


def decision_condition(decision: Decision, decided_by: str, why: str, reason: str | None = None) -> Condition:
    """The condition csrgate appends: who decided and why, in a message a cluster admin reads."""
    verb = "Approved" if decision is Outcome.APPROVE else "Denied"
    message = f"{verb} by {decided_by} via csrgate"
    if why.strip():
        message += f": {why.strip()}"
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    default_reason = REASON_APPROVED if decision is Outcome.APPROVE else REASON_DENIED
    return Condition(condition_type(decision), "True", reason or default_reason, message)


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
        if condition.type not in (APPROVED, DENIED) or not condition.holds:
            continue
        if condition.type == condition_type(decision) and condition.by_csrgate:
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
    listed = [condition for condition in conditions if condition.holds]
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
    return any(condition.type == APPROVED and condition.holds for condition in conditions)
