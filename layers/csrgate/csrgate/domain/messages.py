"""What csrgate tells people about a request (or a forwarder gone silent): the words and facts, not how Slack draws
them.

Every value here may hold text a requester chose (names, subjects, SANs). Whoever renders a message must show
all of it literally: never as a mention, a link or formatting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from csrgate.domain.findings import Code, Finding, Severity
from csrgate.domain.lifecycle import State
from csrgate.domain.records import RequestRecord
from csrgate.domain.summary import RequestSummary, describe_lifetime
from csrgate.domain.text import shown

# How long one poster holds the right to post a review message (a request's or a grant's): long enough for one Slack
# post with its retries, short enough to recover a crash.
MESSAGE_LEASE_SECONDS = 60


@dataclass(frozen=True)
class Fact:
    """One labelled line of a message."""

    label: str
    value: str


@dataclass(frozen=True)
class ReviewMessage:
    """An approval request: everything a careful approver needs, nothing they have to decode."""

    request_id: str
    headline: str
    facts: tuple[Fact, ...]
    findings: tuple[Finding, ...]
    approvals_needed: int
    privileged: bool


@dataclass(frozen=True)
class Notice:
    """A short account of something csrgate did on its own (a policy denial or auto-approval)."""

    request_id: str
    headline: str
    facts: tuple[Fact, ...]
    findings: tuple[Finding, ...]


def review_message(record: RequestRecord, now: datetime) -> ReviewMessage:
    """The approval request for a request awaiting review."""
    needed = record.approvals_needed
    privileged = " (privileged request)" if record.privileged else ""
    why = "; ".join(_why_more_approvers(record)) if needed > 1 else ""
    facts = [
        *_request_facts(record, now),
        Fact("Needs", f"{needed} approval{'s' if needed != 1 else ''}{privileged}{': ' + why if why else ''}"),
    ]
    if record.approvals:
        names = ", ".join(approval.name for approval in record.approvals)
        facts.append(Fact("Approved so far", f"{len(record.approvals)} of {needed}: {names}"))
    return ReviewMessage(
        request_id=record.request_id,
        headline=f"Certificate request {record.csr_name} on {record.cluster} needs review",
        facts=tuple(facts),
        findings=record.findings,
        approvals_needed=needed,
        privileged=record.privileged,
    )


_OUTCOMES = {
    State.APPROVED: "approved",
    State.AUTO_APPROVED: "approved by policy",
    State.DENIED: "denied",
    State.DENIED_BY_POLICY: "denied by policy",
    State.ISSUED: "approved and issued",
    State.DELIVERED: "approved, issued and delivered",
    State.FAILED: "not completed",
    State.WITHDRAWN: "withdrawn: the CSR was deleted",
    State.DECIDED_ELSEWHERE: "decided in the cluster, outside csrgate",
    State.EXPIRED: "left undecided until it expired",
}


def decided_message(record: RequestRecord, now: datetime) -> Notice:
    """A request past review: no buttons; the outcome, who decided and when, and what happened since."""
    what = _OUTCOMES.get(record.state, record.state.value.replace("_", " "))
    facts = list(_request_facts(record, now))
    if record.decided_by:
        facts.append(Fact("Decided by", record.decided_by))
    if record.decided_at:
        facts.append(Fact("Decided at", record.decided_at.strftime("%Y-%m-%d %H:%M:%S UTC")))
    if record.state in (State.DENIED, State.DENIED_BY_POLICY) and record.decision_reason:
        facts.append(Fact("Reason", record.decision_reason))
    if record.outcome_note:
        facts.append(Fact("Status", record.outcome_note))
    return Notice(
        request_id=record.request_id,
        headline=f"Certificate request {record.csr_name} on {record.cluster} was {what}",
        facts=tuple(facts),
        findings=record.findings,
    )


def silence_notice(cluster: str, last_heard: datetime) -> Notice:
    """The notice for a cluster whose forwarder has not been heard from since `last_heard`: about no request."""
    last_heard = last_heard.astimezone(UTC)
    return Notice(
        request_id="",
        headline=(
            f"csrgate has not heard from {cluster}'s forwarder since {last_heard.strftime('%H:%M UTC')}: "
            "CSRs made there are not reaching csrgate"
        ),
        facts=(
            Fact("Cluster", cluster),
            Fact("Last heard from", last_heard.strftime("%Y-%m-%d %H:%M:%S UTC")),
            Fact(
                "What to check",
                "the forwarder's pod in the cluster and its logs; csrgate's refusals of its events are "
                "csr.event_rejected in the intake function's logs",
            ),
        ),
        findings=(),
    )


def _request_facts(record: RequestRecord, now: datetime) -> list[Fact]:
    request = record.request
    facts = [
        Fact("Cluster", record.cluster),
        Fact("CSR", record.csr_name),
    ]
    if record.asker_slack_id:
        facts += [
            Fact(
                "Requested in Slack by (verified by Slack)",
                f"@{shown(record.asker_name or '?')} ({record.asker_slack_id})",
            ),
            Fact("Reason (theirs)", shown(record.ask_reason or "")),
            Fact("Created by (verified by the API server)", f"{_requester(request)}, csrgate on their behalf"),
        ]
    else:
        facts.append(Fact("Requested by (verified by the API server)", _requester(request)))
    if record.holder_slack_id:
        facts.append(
            Fact("Made with a certificate csrgate delivered to (verified by the API server)", record.holder_slack_id)
        )
    claim = request.requester_email_claim
    if record.requester_email:
        facts.append(Fact("Requester email (annotation, matches the cluster's mapping)", record.requester_email))
    elif claim:
        facts.append(Fact("Requester email (annotation, unverified: not used)", shown(claim)))
    if request.malformed:
        facts.append(Fact("CSR content", f"cannot be decoded: {request.malformed}"))
        return facts
    facts += [
        Fact("Certificate user (CN)", _joined([shown(cn) for cn in request.common_names])),
        Fact("Certificate groups (O)", _joined([shown(o) for o in request.organizations])),
        Fact("Subject alternative names", _joined(_sans(request))),
        Fact("Usages", _joined(request.usages)),
        Fact("Signer", request.signer_name or "none"),
        Fact("Lifetime", _lifetime(request.expiration_seconds, now)),
        Fact("Key", _key(request)),
    ]
    return facts


# Why a request needs more approvers than the cluster usually asks for, by the findings that raised the number.
_MORE_APPROVERS_BECAUSE = {
    Code.REQUESTER_UNKNOWN: "nobody can tell which Slack user asked for it",
    Code.SUBJECT_MISMATCH: "the certificate is for someone other than who asked for it",
}


def _why_more_approvers(record: RequestRecord) -> list[str]:
    reasons = (_MORE_APPROVERS_BECAUSE.get(f.code) for f in record.findings if f.severity is Severity.WARNING)
    return list(dict.fromkeys(reason for reason in reasons if reason))


def _requester(request: RequestSummary) -> str:
    username = request.username or "unknown"
    return f"{username} (groups: {_joined(request.groups)})" if request.groups else username


def _sans(request: RequestSummary) -> list[str]:
    sans = {
        "DNS": request.dns_names,
        "IP": request.ip_addresses,
        "EMAIL": request.emails,
        "URI": request.uris,
        "OTHER": request.other_sans,
    }
    return [f"{kind}:{shown(name)}" for kind, names in sans.items() for name in names]


def _lifetime(seconds: int | None, now: datetime) -> str:
    if seconds is None:
        return "not set (the signer's maximum)"
    until = (now + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M UTC")
    return f"{describe_lifetime(seconds)}, until {until} if issued now"


def _key(request: RequestSummary) -> str:
    parts = [request.key_type or "unknown"]
    if request.key_curve:
        parts.append(request.key_curve)
    if request.key_bits:
        parts.append(f"{request.key_bits} bits")
    return " ".join(parts)


def _joined(values: Sequence[Any]) -> str:
    return ", ".join(str(value) for value in values) if values else "none"
