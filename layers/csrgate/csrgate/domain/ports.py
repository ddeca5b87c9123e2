"""What the domain needs from the outside world, as Protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from csrgate.domain.cluster import ClusterConfig
from csrgate.domain.errors import CsrgateError
from csrgate.domain.lifecycle import State
from csrgate.domain.messages import Notice, ReviewMessage
from csrgate.domain.policy import Policy
from csrgate.domain.records import Approval, AuditEvent, MessageRef, RequestRecord

Clock = Callable[[], datetime]


class Conflict(CsrgateError):
    """Someone else changed the request first: re-read it, never overwrite."""


class DecisionKind(StrEnum):
    """What the worker applies in the cluster."""

    APPROVE = "approve"
    DENY = "deny"


@dataclass(frozen=True)
class QueuedDecision:
    """A decision waiting for the worker to apply it through the cluster API."""

    request_id: str
    cluster: str
    csr_name: str
    csr_uid: str
    decision: DecisionKind
    reason: str
    decided_by: str

    def as_message(self) -> dict[str, Any]:
        """The queue message body."""
        return {"kind": "apply_decision", **{key: str(value) for key, value in vars(self).items()}}


class ClusterDirectory(Protocol):
    """The clusters csrgate serves, and their policies."""

    def get(self, name: str) -> ClusterConfig | None:
        """A cluster's configuration, or None when csrgate does not serve it."""

    def policy_for(self, cluster: ClusterConfig) -> Policy:
        """The policy the cluster names, or the built-in one."""


class RequestStore(Protocol):
    """Requests and their audit events; every state change is a conditional write."""

    def get(self, request_id: str) -> RequestRecord | None:
        """The stored request, or None."""

    def create(self, record: RequestRecord, events: list[AuditEvent]) -> bool:
        """Store a new request with its first events; False when it already exists."""

    def transition(
        self,
        record: RequestRecord,
        state: State,
        event: AuditEvent,
        changes: Mapping[str, Any] | None = None,
        *,
        decision_to_queue: bool | None = None,
    ) -> RequestRecord:
        """Move the request from `record.state` to `state`; raise Conflict if its state moved meanwhile.

        With a decision to queue (by default, when `state` is in lifecycle.TO_APPLY), the request is among
        `unqueued_decisions` until its decision is marked queued or applied, in the same write as the state change.
        """

    def claim_message(self, request_id: str, now: datetime, lease_seconds: int) -> bool:
        """Take the right to post the request's Slack message for a while; False when posted or claimed."""

    def release_message(self, request_id: str) -> None:
        """Give the claim back after a failed post, so a retry need not wait for the lease to lapse."""

    def save_message(self, record: RequestRecord, message: MessageRef, event: AuditEvent) -> RequestRecord:
        """Remember the posted Slack message, once."""

    def add_approval(self, record: RequestRecord, approval: Approval, event: AuditEvent) -> RequestRecord:
        """Add one approver's approval while the request awaits review; raise Conflict if it moved on."""

    def mark_decision_queued(self, record: RequestRecord, event: AuditEvent) -> RequestRecord:
        """Remember that the decision reached the worker's queue."""

    def mark(self, record: RequestRecord, flag: str, event: AuditEvent, note: str | None = None) -> RequestRecord:
        """Set one of the record's progress flags (decision_queued, decision_applied, requester_told, reminded,
        overtaken), and its outcome note."""

    def add_event(self, event: AuditEvent) -> None:
        """Store an audit event that changes no state."""

    def pending_since(self, before: datetime) -> list[RequestRecord]:
        """Requests still awaiting review that arrived before `before`, oldest first."""

    def unqueued_decisions(self, before: datetime) -> list[RequestRecord]:
        """Requests whose decision was recorded but never marked queued or applied, last changed before `before`."""


class DecisionQueue(Protocol):
    """The worker's queue of decisions to apply in clusters."""

    def send(self, decision: QueuedDecision) -> None:
        """Queue a decision; the worker is idempotent, so sending twice is harmless."""


class SlackRetryQueue(Protocol):
    """Slack posts that failed and must be tried again later."""

    def send(self, request_id: str, attempt: int) -> None:
        """Ask for the request's Slack message to be posted again."""


class Notifier(Protocol):
    """Where people see what happened: the cluster's Slack channel."""

    def post_review(self, channel: str, message: ReviewMessage) -> MessageRef:
        """Post an approval request with Approve and Deny buttons."""

    def post_notice(self, channel: str, notice: Notice) -> MessageRef:
        """Post a short notice without buttons."""

    def update_notice(self, message: MessageRef, notice: Notice) -> None:
        """Replace a posted message with this account of what happened."""


class AuditLog(Protocol):
    """The structured log line every audit event also becomes."""

    def write(self, event: AuditEvent) -> None:
        """Write one line with the event's fixed keys."""
