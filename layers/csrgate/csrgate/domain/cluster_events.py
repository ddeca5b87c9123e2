"""What csrgate records on a CSR as Kubernetes Events, so that `kubectl describe csr NAME` tells the requester where
their request stands: waiting for review (and where), approved or denied (and by whom), expired, delivered.

Events are best effort, as Kubernetes treats them: writing one never fails, delays or repeats what it reports. Each
fact of a request has one Event name, so a repeated write (a redelivered job) finds its Event there and changes
nothing. Text from outside csrgate (an approver's Slack name, a denial's reason, what a finding quotes from the CSR)
is made inert: its invisible characters are shown as escapes, for they would reach the reader's terminal, and `&`,
`<` and `>` are escaped as Slack escapes them, for a tool that forwards Events to Slack would read `<!channel>` or
`<https://...|...>` as a mention or a link.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from csrgate.domain.conditions import REASON_APPROVED, REASON_DENIED, REASON_EXPIRED, REASON_POLICY_DENIED
from csrgate.domain.errors import CsrgateError
from csrgate.domain.findings import Severity
from csrgate.domain.jobs import ShowInCluster
from csrgate.domain.lifecycle import State
from csrgate.domain.records import Actor, AuditEvent, RequestRecord
from csrgate.domain.text import is_invisible

if TYPE_CHECKING:
    from csrgate.domain.ports import AuditLog, JobQueue

REPORTING_CONTROLLER = "csrgate.io/csrgate"
REASON_REVIEW_REQUESTED = "CsrgateReviewRequested"
REASON_DELIVERED = "CsrgateDelivered"
NORMAL, WARNING = "Normal", "Warning"
# The API server refuses an Event whose message is longer than 1024 bytes (NoteLengthLimit in
# pkg/apis/core/validation/events.go).
MAX_MESSAGE_BYTES = 1024
_MAX_NAME_PREFIX = 200  # of the 253 characters an Event's name may have, what the CSR's name may fill
_NOT_IN_NAME = re.compile(r"[^a-z0-9-]+")
_ESCAPED = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


@dataclass(frozen=True)
class CsrEvent:
    """One Event about a CSR: its own name (one per fact of a request), the CSR it is about, what happened (reason,
    Normal or Warning, action), what people read, and when."""

    name: str
    csr_name: str
    csr_uid: str
    reason: str
    type: str
    action: str
    message: str
    at: datetime


_ORDER = {
    REASON_REVIEW_REQUESTED: 1,
    REASON_APPROVED: 2,
    REASON_DENIED: 2,
    REASON_POLICY_DENIED: 2,
    REASON_EXPIRED: 2,
    REASON_DELIVERED: 3,
}


def queue_show_in_cluster(queue: JobQueue, record: RequestRecord, audit: AuditLog, at: datetime) -> None:
    """Have the worker show where the request stands on its CSR; a queue that refuses is logged, never raised (the
    Event is best effort, what it would tell is stored already)."""
    try:
        queue.enqueue(ShowInCluster(record.request_id))
    except CsrgateError as exc:
        audit.write(AuditEvent.about(record, "csr.cluster_event_failed", Actor.SERVICE, at, reason=str(exc)))


def review_requested(record: RequestRecord, channel: str, at: datetime) -> CsrEvent:
    """The request waits for approvers in the cluster's Slack channel."""
    needed = record.approvals_needed
    message = f"waiting for review in Slack channel {channel}: {needed} approval{'s' if needed != 1 else ''} needed"
    return _event(record, REASON_REVIEW_REQUESTED, NORMAL, "Review", message, at)


def decided(record: RequestRecord, at: datetime) -> CsrEvent | None:
    """The decision csrgate has just applied in the cluster (None for a state that is no decision csrgate applies)."""
    who = _inert(record.decided_by or "")
    if record.state is State.APPROVED:
        return _event(record, REASON_APPROVED, NORMAL, "Approve", f"approved by {who} in Slack", at)
    if record.state is State.AUTO_APPROVED:
        return _event(record, REASON_APPROVED, NORMAL, "Approve", "approved by policy, without review", at)
    if record.state is State.DENIED:
        why = f": {_inert(record.decision_reason)}" if record.decision_reason else ""
        return _event(record, REASON_DENIED, WARNING, "Deny", f"denied by {who} in Slack{why}", at)
    if record.state is State.DENIED_BY_POLICY:
        found = [f for f in record.findings if f.severity is Severity.ERROR] or list(record.findings)
        why = "; ".join(f"{finding.code.value}: {_inert(finding.message)}" for finding in found)
        return _event(record, REASON_POLICY_DENIED, WARNING, "Deny", f"denied by policy: {why}".rstrip(": "), at)
    if record.state is State.EXPIRED:
        return expired(record, at, denied=True)
    return None


def expired(record: RequestRecord, at: datetime, *, denied: bool) -> CsrEvent:
    """Nobody decided in time; `denied` when csrgate also denied the CSR (the cluster's `denyExpired`)."""
    then = "; denied in the cluster" if denied else ""
    message = f"the review expired: nobody decided within the review window{then}; ask again with a new CSR"
    return _event(record, REASON_EXPIRED, WARNING, "Expire", message, at)


def delivered(record: RequestRecord, at: datetime) -> CsrEvent:
    """The issued certificate reached the requester."""
    message = "certificate issued and delivered to the requester in a Slack direct message"
    return _event(record, REASON_DELIVERED, NORMAL, "Deliver", message, at)


def event_name(record: RequestRecord, reason: str) -> str:
    """The Event's name, the same for every write of the same fact: the CSR's name as a DNS subdomain allows (a CSR's
    name may hold any character but `/` and `%`), a digest of the request, then the fact, numbered in the order a
    request's facts come in. The API server lists Events by name, and `kubectl describe` keeps that order for Events
    of the same second, so a decision and the delivery right after it are listed as they happened."""
    prefix = _NOT_IN_NAME.sub("-", record.csr_name.lower()).strip("-")[:_MAX_NAME_PREFIX].strip("-") or "csr"
    digest = hashlib.sha256(record.request_id.encode()).hexdigest()[:16]
    return f"{prefix}.{digest}.{_ORDER.get(reason, 9)}-{reason.lower()}"


def _event(record: RequestRecord, reason: str, kind: str, action: str, message: str, at: datetime) -> CsrEvent:
    return CsrEvent(
        event_name(record, reason), record.csr_name, record.csr_uid, reason, kind, action, _capped(message), at
    )


def _inert(text: str) -> str:
    """Outside text as an Event shows it: invisible characters as escapes, `&`, `<` and `>` as Slack escapes them."""
    return "".join(
        char.encode("unicode_escape").decode("ascii") if is_invisible(char) else _ESCAPED.get(char, char)
        for char in text
    )


def _capped(message: str) -> str:
    """At most MAX_MESSAGE_BYTES of UTF-8, cut on a character boundary, marked when cut."""
    encoded = message.encode("utf-8")
    if len(encoded) <= MAX_MESSAGE_BYTES:
        return message
    return encoded[: MAX_MESSAGE_BYTES - 3].decode("utf-8", errors="ignore") + "…"
