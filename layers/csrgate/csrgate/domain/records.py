"""What csrgate stores about a request, and the audit events that tell its story."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from csrgate.domain.asks import CertificateAsk
from csrgate.domain.findings import Finding
from csrgate.domain.lifecycle import SETTLED, TO_APPLY, State
from csrgate.domain.outcome import Outcome
from csrgate.domain.summary import RequestSummary

_REQUEST_IDS = uuid.UUID("6f1d3c2e-8a4b-5c6d-9e0f-1a2b3c4d5e6f")
REQUESTER_EMAIL_ANNOTATION = "csrgate.io/requester-email"


def request_id_for(cluster: str, csr_uid: str) -> str:
    """The same CSR (cluster and metadata.uid) always gets the same id, so re-sent events find their request."""
    return str(uuid.uuid5(_REQUEST_IDS, f"{cluster}/{csr_uid}"))


@dataclass(frozen=True)
class MessageRef:
    """A Slack message csrgate posted: where it is, so it can be updated."""

    channel: str
    ts: str


@dataclass(frozen=True)
class Approval:
    """One approver's click on Approve."""

    slack_id: str
    name: str
    at: datetime


@dataclass(frozen=True)
class RequestRecord:
    """One CSR as csrgate tracks it. Every state change is conditional on the state it was read in (the life cycle
    has no cycles, so a state is never seen twice); `version` counts the changes, so a reader can tell it moved on."""

    request_id: str
    cluster: str
    csr_name: str
    csr_uid: str
    state: State
    outcome: Outcome
    findings: tuple[Finding, ...]
    request: RequestSummary  # untrusted text from the requester
    received_at: datetime
    approvals_needed: int = 1
    privileged: bool = False
    # The annotation's email, kept only when the cluster's mapping ties it to the CN or the requesting user: anyone
    # creating a CSR can write any annotation (the claim itself is request.requester_email_claim).
    requester_email: str | None = None
    version: int = 1
    slack_message: MessageRef | None = None
    decision_queued: bool = False
    approvals: tuple[Approval, ...] = ()
    decided_by: str | None = None  # "name (slack id)", or an Actor for decisions nobody clicked
    decided_at: datetime | None = None
    decision_reason: str | None = None
    decision_applied: bool = False  # the decision's condition is on the CSR in the cluster
    requester_told: bool = False  # the requester got their certificate, or the denial
    outcome_note: str | None = None  # what happened after the decision, for people: "approved but not issued: ..."
    reminded: bool = False  # approvers were reminded in the thread
    # The cluster moved on where the state cannot follow (an expired review's CSR deleted or decided with kubectl
    # before csrgate denied it): outcome_note says what happened, and the worker has nothing left to do.
    overtaken: bool = False
    spec_fingerprint: str = ""  # spec_fingerprint() of what was reviewed; the worker decides only that CSR
    # A CSR csrgate created for a certificate asked for in Slack, recognised when it came back: who asked (Slack's
    # verified user, to whom the certificate is delivered and who may not approve it) and the ask.
    ask_id: str | None = None
    asker_slack_id: str | None = None
    asker_name: str | None = None
    ask_reason: str | None = None  # why they asked, in their words: untrusted text
    # A CSR made with a certificate csrgate delivered (its SHA-256, per the API server): its holder is whom it is
    # delivered to and who may not approve it; a renewal by policy keeps the chain's start, a person's restarts it.
    renews: str | None = None
    holder_slack_id: str | None = None
    chain_started_at: datetime | None = None

    @property
    def settled(self) -> bool:
        """Whether no later change of its CSR in the cluster, but its deletion, can tell csrgate more: its state is
        one no such change moves, or it is csrgate's decision, applied (Kubernetes never lets another replace it, and
        the worker follows an approval to its certificate). Until then a decision made with kubectl must reach intake,
        whatever befalls the worker."""
        if self.state in TO_APPLY:
            return self.decision_applied and not self.overtaken
        return self.state in SETTLED


@dataclass(frozen=True)
class SlackUser:
    """A Slack user as csrgate needs to know them; `email` is Slack's verified profile email, when readable."""

    slack_id: str
    name: str
    email: str | None = None

    @property
    def label(self) -> str:
        """'alice (U012ABC)': how decisions name their decider."""
        return f"{self.name} ({self.slack_id})"


class Actor(StrEnum):
    """Who did something when no person did."""

    POLICY = "csrgate:policy"
    CLUSTER = "csrgate:cluster"
    SERVICE = "csrgate"


@dataclass(frozen=True)
class AuditEvent:
    """One step in a request's life: `csr.<what happened>` or `slack.<what happened>`, in the past tense."""

    event: str
    request_id: str
    cluster: str
    csr_name: str
    csr_uid: str
    actor: str
    at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def about(cls, record: RequestRecord, event: str, actor: str, at: datetime, **details: Any) -> AuditEvent:
        """An event about a stored request."""
        return cls(event, record.request_id, record.cluster, record.csr_name, record.csr_uid, actor, at, details)

    @classmethod
    def about_ask(cls, ask: CertificateAsk, event: str, actor: str, at: datetime, **details: Any) -> AuditEvent:
        """An event about a certificate asked for in Slack (its request id once its CSR came back)."""
        request_id, csr_uid = ask.request_id or "", ask.csr_uid or ""
        return cls(event, request_id, ask.cluster, ask.csr_name, csr_uid, actor, at, {"ask_id": ask.ask_id, **details})

    def as_log_fields(self) -> dict[str, Any]:
        """The fixed keys every audit log line carries, then the event's own details."""
        return {
            "event": self.event,
            "cluster": self.cluster,
            "csr_name": self.csr_name,
            "csr_uid": self.csr_uid,
            "request_id": self.request_id,
            "actor": self.actor,
            **self.details,
        }
