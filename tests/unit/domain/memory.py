"""Every port of csrgate.domain in memory, and csrgate wired on them, for the fast domain tier.

The fakes keep the promises the real adapters keep, because the use cases lean on them: the store's writes are
conditional as DynamoRequestStore's are (a state change only from the state the caller read, one create, a message
lease, approvals only while awaiting review and once per approver); the cluster decides and issues as
KubernetesCsrs does (never overwriting, gone and replaced CSRs told apart), and binds roles as KubernetesBindings does
(RBAC's escalation rule, another's binding never taken over or removed); Slack and the queues fail on demand with
the errors the real clients translate to. Time is a SettableClock: nothing sleeps, nothing reads the wall clock.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from csrgate.domain.approvals import Approvals, ClickResult
from csrgate.domain.asked_csrs import AskedCsrs
from csrgate.domain.asking import Asking
from csrgate.domain.asks import AskForm, AskState, CertificateAsk, asked_spec_digest
from csrgate.domain.certificates import DeliveredCertificate
from csrgate.domain.cluster import SECRET_PREFIX_CONTEXT, ClusterConfig
from csrgate.domain.cluster_events import CsrEvent
from csrgate.domain.conditions import (
    APPROVED,
    DENIED,
    FAILED,
    Condition,
    DecisionOutcome,
    DecisionResult,
    IssuanceOutcome,
    IssuanceResult,
    deciding_condition,
    decision_condition,
    is_approved,
    issuance_state,
    plan_decision,
)
from csrgate.domain.delivery import Delivery
from csrgate.domain.digests import STALE_ASK_SECONDS, Digest, DigestEntry, Digests
from csrgate.domain.errors import PermanentFailure
from csrgate.domain.grant_messages import GrantButton, GrantMessage
from csrgate.domain.grant_worker import GrantWorker
from csrgate.domain.granting import Granting
from csrgate.domain.grants import (
    GRANT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    Binding,
    Grant,
    GrantForm,
    GrantState,
    ensure_grant_transition,
)
from csrgate.domain.intake import EventType, Intake, IntakeResult
from csrgate.domain.jobs import (
    ApplyDecision,
    ApplyGrant,
    CheckIssuance,
    CreateCsr,
    EndGrant,
    Job,
    PostDigest,
    PostGrant,
    PostMessage,
    ShowInCluster,
    SweepBindings,
    decode_job,
    encode_job,
)
from csrgate.domain.kubeconfig import ClusterEndpoint, RequesterKubeconfig, build_requester_kubeconfig
from csrgate.domain.lifecycle import TO_APPLY, State, ensure_transition
from csrgate.domain.messages import Notice, ReviewMessage
from csrgate.domain.nodes import NodeAddress
from csrgate.domain.outcome import Decision, Outcome
from csrgate.domain.policy import Policy, default_policy, load_policy
from csrgate.domain.ports import Conflict
from csrgate.domain.records import Approval, AuditEvent, MessageRef, RequestRecord, SlackUser, request_id_for
from csrgate.domain.request import CREDENTIAL_ID_KEY, CsrObject, read_csr_object, spec_fingerprint
from csrgate.domain.summary import RequestSummary
from csrgate.domain.sweeper import Sweeper
from csrgate.domain.worker import DecisionWorker
from devstack.csrs import make_csr, manifest
from devstack.lab import CLUSTERS

# --- the lab: clusters, policies and people, as devstack/lab.py has them -------------------------------------------

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning; every test's clock starts here
CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
TEAM_POLICY = "signers:\n  kubernetes.io/kube-apiserver-client:\n    privilegedGroups: [ops]\n"
# A careless policy: anyone may ask for a kubelet's serving certificate (the worker's Node check still binds it).
LOOSE_POLICY = (
    "signers:\n  kubernetes.io/kubelet-serving:\n    subjectMustMatchRequester: false\n    requesterGroups: []\n"
)
POLICIES = {"team": TEAM_POLICY, "loose": LOOSE_POLICY}
# devstack's lab cluster, with a third approver, an approver group, an email template and the team's policy.
LAB: dict[str, Any] = CLUSTERS["lab"] | {
    "approvers": {"users": ["U0ALICE", "U0BOB", "U0CAROL"], "groups": ["S0PLATFORM"]},
    "requesterEmailTemplate": "{username}@example.com",
    "policy": "team",
}
PEOPLE = {
    "U0ALICE": SlackUser("U0ALICE", "alice", "alice@example.com"),
    "U0BOB": SlackUser("U0BOB", "bob", "bob@example.com"),
    "U0CAROL": SlackUser("U0CAROL", "carol", "carol@example.com"),
    "U0ERIN": SlackUser("U0ERIN", "erin", "erin@example.com"),  # an approver through the S0PLATFORM group
    "U0DANA": SlackUser("U0DANA", "dana", "dana@example.com"),  # asks for certificates; approves nothing
    "U0ANGELA": SlackUser("U0ANGELA", "angela", "angela@example.com"),
    "U0MALLORY": SlackUser("U0MALLORY", "mallory", "mallory@example.com"),
}
GROUPS = {"S0PLATFORM": frozenset({"U0ERIN"})}


def cluster_config(**changes: Any) -> ClusterConfig:
    """The lab cluster's settings with some changed (camelCase keys, as an operator writes them), validated as the
    configuration adapter validates them."""
    return ClusterConfig.model_validate(LAB | changes, context={SECRET_PREFIX_CONTEXT: "csrgate"})


# Time-boxed access on the lab: people at example.com ask for an offered role as their `{email_local}` user (dana's
# is `dana`). Binding view cluster-wide, or admin anywhere, is privileged: two approvers.
ACCESS: dict[str, Any] = {
    "usernameTemplate": "{email_local}",
    "emailDomains": ["example.com"],
    "roles": [
        {"name": "view", "clusterRole": "view", "maxDuration": "8h"},
        {"name": "edit", "clusterRole": "edit", "maxDuration": "4h"},
        {"name": "admin", "clusterRole": "admin", "maxDuration": "1h"},
        {"name": "cluster-view", "clusterRole": "view", "scope": "cluster", "maxDuration": "8h"},
    ],
    "namespaces": ["payments", "team-*"],
    "durations": ["15m", "1h", "4h", "8h"],
}
# The lab on EKS, its people signing in with IAM: they assume k8s-people with their Slack email as the session name,
# and the role's access entry names them sso:{{SessionName}} (dana is sso:dana-example.com, EKS making each @ a -).
EKS_LAB: dict[str, Any] = {"kind": "eks", "connection": {"eksClusterName": "lab-eks", "region": "eu-west-1"}}
PEOPLE_ROLE = "arn:aws:iam::123456789012:role/k8s-people"
EKS_ACCESS: dict[str, Any] = {key: value for key, value in ACCESS.items() if key != "usernameTemplate"} | {
    "eks": {"roleArn": PEOPLE_ROLE}
}


class SettableClock:
    """The Clock port: the time a test says it is."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move time on, as timedelta(**delta) would."""
        self.now += timedelta(**delta)
        return self.now


# --- configuration -------------------------------------------------------------------------------------------------


class MemoryDirectory:
    """ClusterDirectory: the configured clusters, and the policies they name (parsed as the adapter parses them)."""

    def __init__(self, clusters: Iterable[ClusterConfig] = (), policies: Mapping[str, str] = POLICIES) -> None:
        self.clusters = {cluster.name: cluster for cluster in clusters}
        self.policies = dict(policies)

    def get(self, name: str) -> ClusterConfig | None:
        return self.clusters.get(name)

    def all(self) -> tuple[ClusterConfig, ...]:
        return tuple(self.clusters[name] for name in sorted(self.clusters))

    def policy_for(self, cluster: ClusterConfig) -> Policy:
        if cluster.policy is None:
            return default_policy()
        text = self.policies[cluster.policy]
        if text not in _PARSED:  # policies are immutable: parsed once per text, as the adapter caches them
            _PARSED[text] = load_policy(text, f"/csrgate/policies/{cluster.policy}")
        return _PARSED[text]


_PARSED: dict[str, Policy] = {}


# --- the table -----------------------------------------------------------------------------------------------------

_PENDING, _UNQUEUED = "PENDING", "UNQUEUED"
_FLAGS = frozenset({"decision_queued", "decision_applied", "requester_told", "reminded", "overtaken"})
_SETTLES_DECISION = frozenset({"decision_queued", "decision_applied", "overtaken"})
_UNDER_REVIEW = frozenset({State.RECEIVED, State.AWAITING_REVIEW})


@dataclass
class _Item:
    """What the table holds for one request beside the record: the sparse index's mark and the posting lease."""

    record: RequestRecord
    updated_at: datetime
    pending: str | None = None
    lease_until: int | None = None


class MemoryStore:
    """RequestStore with DynamoRequestStore's conditions: a state change only from the state the caller read (else
    Conflict), one create per request, a message posted once under a lease, an approval once per approver while the
    request awaits review. What each write returns is the caller's copy moved on, as the real one returns it."""

    def __init__(self) -> None:
        self.items: dict[str, _Item] = {}
        self.events: list[AuditEvent] = []
        self.event_items: list[dict[str, Any]] = []  # the event items, as the table would hold them
        self.transitions: list[tuple[State, State]] = []  # every state entered, from RECEIVED for a created one
        self._interleaved: dict[str, list[Callable[[], object]]] = {}

    # what tests read

    def record(self, request_id: str) -> RequestRecord:
        """The stored request; KeyError when there is none."""
        return self.items[request_id].record

    def event_names(self, request_id: str | None = None) -> list[str]:
        """The stored audit events' names, oldest first (of one request, or of all)."""
        return [event.event for event in self.events if request_id is None or event.request_id == request_id]

    def pending_mark(self, request_id: str) -> str | None:
        """The sparse `pending` index's mark: PENDING (awaiting review), UNQUEUED (a decision to queue) or None."""
        return self.items[request_id].pending

    def before(self, operation: str, action: Callable[[], object]) -> None:
        """Run `action` once, just before the next call of `operation` (another writer getting there first)."""
        self._interleaved.setdefault(operation, []).append(action)

    # the port

    def get(self, request_id: str) -> RequestRecord | None:
        self._interleave("get")
        item = self.items.get(request_id)
        return item.record if item else None

    def create(self, record: RequestRecord, events: list[AuditEvent]) -> bool:
        self._interleave("create")
        if record.request_id in self.items:
            return False
        pending = _PENDING if record.state is State.AWAITING_REVIEW else None
        if record.state in TO_APPLY and not record.decision_queued:
            pending = _UNQUEUED
        # stored as the table stores it: the request's summary as JSON, read back
        stored = replace(record, request=RequestSummary.from_dict(json.loads(json.dumps(record.request.as_dict()))))
        self.items[record.request_id] = _Item(stored, record.received_at, pending)
        for event in events:
            self._put_event(event)
        self.transitions.append((State.RECEIVED, record.state))
        return True

    def transition(
        self,
        record: RequestRecord,
        state: State,
        event: AuditEvent,
        changes: Mapping[str, Any] | None = None,
        *,
        decision_to_queue: bool | None = None,
    ) -> RequestRecord:
        self._interleave("transition")
        ensure_transition(record.state, state)
        item = self._existing(record.request_id)
        if item.record.state is not record.state:
            raise Conflict("the request changed since it was read")
        to_queue = state in TO_APPLY if decision_to_queue is None else decision_to_queue
        if state is not State.AWAITING_REVIEW:
            item.pending = _UNQUEUED if to_queue and not record.decision_queued else None
        item.record = replace(item.record, state=state, version=item.record.version + 1, **dict(changes or {}))
        item.updated_at = event.at
        self._put_event(event)
        self.transitions.append((record.state, state))
        return replace(record, state=state, version=record.version + 1, **dict(changes or {}))

    def claim_message(self, request_id: str, now: datetime, lease_seconds: int) -> bool:
        self._interleave("claim_message")
        item = self.items.get(request_id)
        if item is None or item.record.slack_message is not None:
            return False
        if item.lease_until is not None and not item.lease_until < int(now.timestamp()):
            return False
        item.lease_until = int((now + timedelta(seconds=lease_seconds)).timestamp())
        return True

    def release_message(self, request_id: str) -> None:
        item = self.items.get(request_id)
        if item is not None and item.record.slack_message is None:
            item.lease_until = None

    def save_message(self, record: RequestRecord, message: MessageRef, event: AuditEvent) -> RequestRecord:
        self._interleave("save_message")
        item = self._existing(record.request_id)
        if item.record.slack_message is not None:
            raise Conflict("the request changed since it was read")
        item.record = replace(item.record, slack_message=message, version=item.record.version + 1)
        item.lease_until, item.updated_at = None, event.at
        self._put_event(event)
        return replace(record, slack_message=message, version=record.version + 1)

    def add_approval(self, record: RequestRecord, approval: Approval, event: AuditEvent) -> RequestRecord:
        self._interleave("add_approval")
        item = self._existing(record.request_id)
        stored = item.record
        if stored.state is not State.AWAITING_REVIEW or any(a.slack_id == approval.slack_id for a in stored.approvals):
            raise Conflict("the request changed since it was read")
        approval.at.isoformat()  # stored as the table stores it
        item.record = replace(stored, approvals=(*stored.approvals, approval), version=stored.version + 1)
        item.updated_at = event.at
        self._put_event(event)
        return replace(record, approvals=(*record.approvals, approval), version=record.version + 1)

    def mark_decision_queued(self, record: RequestRecord, event: AuditEvent) -> RequestRecord:
        return self.mark(record, "decision_queued", event)

    def mark(self, record: RequestRecord, flag: str, event: AuditEvent, note: str | None = None) -> RequestRecord:
        self._interleave("mark")
        if flag not in _FLAGS:
            raise ValueError(f"{flag} is not a progress flag")
        item = self._existing(record.request_id)
        changes: dict[str, Any] = {flag: True} | ({"outcome_note": note} if note is not None else {})
        if flag in _SETTLES_DECISION and record.state not in _UNDER_REVIEW:
            item.pending = None
        item.record = replace(item.record, version=item.record.version + 1, **changes)
        item.updated_at = event.at
        self._put_event(event)
        return replace(record, version=record.version + 1, **changes)

    def add_event(self, event: AuditEvent) -> None:
        self._put_event(event)

    def pending_since(self, before: datetime) -> list[RequestRecord]:
        return self._indexed(_PENDING, lambda item: item.record.received_at < before)

    def unqueued_decisions(self, before: datetime) -> list[RequestRecord]:
        return self._indexed(_UNQUEUED, lambda item: item.updated_at < before)

    def _indexed(self, mark: str, wanted: Callable[[_Item], bool]) -> list[RequestRecord]:
        found = [item for item in self.items.values() if item.pending == mark and wanted(item)]
        return [item.record for item in sorted(found, key=lambda item: item.record.received_at)]

    def _put_event(self, event: AuditEvent) -> None:
        # as the table writes an event item: keyed by its time, with the audit line's fields
        self.event_items.append({"sk": f"EVENT#{well_formed(event).at.isoformat()}", **event.as_log_fields()})
        self.events.append(event)

    def _existing(self, request_id: str) -> _Item:
        item = self.items.get(request_id)
        if item is None:
            raise Conflict("the request changed since it was read")
        return item

    def _interleave(self, operation: str) -> None:
        waiting = self._interleaved.get(operation)
        if waiting:
            waiting.pop(0)()


class MemoryAskStore:
    """AskStore with DynamoAskStore's conditions: a move only from the state read, a CSR uid set only where none or
    the same one is."""

    def __init__(self) -> None:
        self.asks: dict[str, CertificateAsk] = {}
        self.events: list[AuditEvent] = []
        self._interleaved: dict[str, list[Callable[[], object]]] = {}

    def before(self, operation: str, action: Callable[[], object]) -> None:
        """Run `action` once, just before the next call of `operation`."""
        self._interleaved.setdefault(operation, []).append(action)

    def event_names(self) -> list[str]:
        return [event.event for event in self.events]

    def create(self, ask: CertificateAsk, event: AuditEvent) -> None:
        self._interleave("create")
        if ask.ask_id in self.asks:
            raise Conflict("the ask exists")
        self.asks[ask.ask_id] = ask
        self.events.append(well_formed(event))

    def get(self, ask_id: str) -> CertificateAsk | None:
        self._interleave("get")
        return self.asks.get(ask_id)

    def move(
        self, ask: CertificateAsk, state: AskState, event: AuditEvent, changes: Mapping[str, Any] | None = None
    ) -> CertificateAsk:
        self._interleave("move")
        stored = self.asks.get(ask.ask_id)
        values = dict(changes or {})
        if stored is None or stored.state is not ask.state:
            raise Conflict("the ask changed since it was read")
        if "csr_uid" in values and stored.csr_uid not in (None, values["csr_uid"]):
            raise Conflict("the ask has another CSR")
        self.asks[ask.ask_id] = replace(stored, state=state, version=stored.version + 1, **values)
        self.events.append(well_formed(event))
        return replace(ask, state=state, version=ask.version + 1, **values)

    def add_event(self, event: AuditEvent) -> None:
        self.events.append(well_formed(event))

    def by_asker(self, slack_user: str, limit: int) -> list[CertificateAsk]:
        mine = [ask for ask in self.asks.values() if ask.slack_user == slack_user]
        return sorted(mine, key=lambda ask: ask.asked_at, reverse=True)[:limit]

    def _interleave(self, operation: str) -> None:
        waiting = self._interleaved.get(operation)
        if waiting:
            waiting.pop(0)()


class MemoryCertificateStore:
    """CertificateStore with DynamoCertificateStore's conditions: remembered once, a reminder counted only from the
    count read and never after a renewal."""

    def __init__(self) -> None:
        self.certificates: dict[str, DeliveredCertificate] = {}
        self.events: list[AuditEvent] = []

    def remember(self, certificate: DeliveredCertificate, event: AuditEvent) -> None:
        if certificate.fingerprint not in self.certificates:
            self.certificates[certificate.fingerprint] = certificate
            self.events.append(well_formed(event))

    def get(self, fingerprint: str) -> DeliveredCertificate | None:
        return self.certificates.get(fingerprint)

    def due_reminders(self, now: datetime) -> list[DeliveredCertificate]:
        due = [c for c in self.certificates.values() if c.next_reminder is not None and c.next_reminder <= now]
        return sorted(due, key=lambda certificate: certificate.next_reminder or now)

    def reminded(self, certificate: DeliveredCertificate, event: AuditEvent) -> DeliveredCertificate:
        stored = self._stored(certificate)
        if stored.reminders_sent != certificate.reminders_sent or stored.renewed_by is not None:
            raise Conflict("the certificate changed since it was read")
        return self._update(stored, event, reminders_sent=certificate.reminders_sent + 1)

    def renewed(self, certificate: DeliveredCertificate, request_id: str, event: AuditEvent) -> DeliveredCertificate:
        stored = self._stored(certificate)
        if stored.renewed_by not in (None, request_id):
            raise Conflict("renewed by another request")
        return self._update(stored, event, renewed_by=request_id)

    def _stored(self, certificate: DeliveredCertificate) -> DeliveredCertificate:
        stored = self.certificates.get(certificate.fingerprint)
        if stored is None:
            raise Conflict("no such certificate")
        return stored

    def _update(self, stored: DeliveredCertificate, event: AuditEvent, **changes: Any) -> DeliveredCertificate:
        self.certificates[stored.fingerprint] = replace(stored, **changes)
        self.events.append(well_formed(event))
        return self.certificates[stored.fingerprint]


_GRANT_CHANGES = frozenset(
    {"decided_by", "decided_at", "decision_reason", "starts_at", "ends_at", "ended_by", "ended_at", "note"}
)
_GRANT_FLAGS = frozenset({"told", "reminded"})
_FOR_THE_WORKER = frozenset({GrantState.APPROVED, GrantState.ENDING})


class MemoryGrantStore:
    """GrantStore with DynamoGrantStore's conditions: a move only from the state read and only along the grant's life,
    changing only its decision and access fields; an approval once per approver while it awaits review; its message
    posted under a lease and saved once, and each flag set once. The sweeper's three reads answer as the sparse index
    does, each by its own time: when it was asked, when its state last changed, when its access ends."""

    def __init__(self) -> None:
        self.grants: dict[str, Grant] = {}
        self.changed_at: dict[str, datetime] = {}  # when each grant's state last changed (or it was asked)
        self.leases: dict[str, int] = {}  # until when (Unix seconds) each grant's review message is being posted
        self.events: list[AuditEvent] = []
        self._interleaved: dict[str, list[Callable[[], object]]] = {}

    # what tests read

    def grant(self, grant_id: str) -> Grant:
        """The stored grant; KeyError when there is none."""
        return self.grants[grant_id]

    def event_names(self, grant_id: str | None = None) -> list[str]:
        """The stored events' names, oldest first (of one grant, or of all)."""
        return [e.event for e in self.events if grant_id is None or e.details.get("grant_id") == grant_id]

    def before(self, operation: str, action: Callable[[], object]) -> None:
        """Run `action` once, just before the next call of `operation` (another writer getting there first)."""
        self._interleaved.setdefault(operation, []).append(action)

    # the port

    def create(self, grant: Grant, event: AuditEvent) -> None:
        self._interleave("create")
        if grant.grant_id in self.grants:
            raise Conflict("the grant exists")
        self.grants[grant.grant_id] = grant
        self.changed_at[grant.grant_id] = event.at
        self.events.append(well_formed(event))

    def get(self, grant_id: str) -> Grant | None:
        self._interleave("get")
        return self.grants.get(grant_id)

    def move(
        self, grant: Grant, state: GrantState, event: AuditEvent, changes: Mapping[str, Any] | None = None
    ) -> Grant:
        self._interleave("move")
        ensure_grant_transition(grant.state, state)
        values = dict(changes or {})
        unknown = set(values) - _GRANT_CHANGES
        if unknown:
            raise ValueError(f"a grant's {sorted(unknown)} cannot change")
        moved = replace(grant, state=state, version=grant.version + 1, **values)
        if moved.state is GrantState.ACTIVE and moved.ends_at is None:
            raise ValueError(f"active grant {grant.grant_id} has no ends_at: nothing would ever end its access")
        stored = self._stored(grant)
        if stored.state is not grant.state:
            raise Conflict("the grant changed since it was read")
        self.grants[grant.grant_id] = replace(stored, state=state, version=stored.version + 1, **values)
        self.changed_at[grant.grant_id] = event.at
        self.events.append(well_formed(event))
        return moved

    def add_approval(self, grant: Grant, approval: Approval, event: AuditEvent) -> Grant:
        self._interleave("add_approval")
        stored = self._stored(grant)
        if stored.state is not GrantState.AWAITING_REVIEW or any(
            a.slack_id == approval.slack_id for a in stored.approvals
        ):
            raise Conflict("the grant changed since it was read")
        self.grants[grant.grant_id] = replace(
            stored, approvals=(*stored.approvals, approval), version=stored.version + 1
        )
        self.events.append(well_formed(event))
        return replace(grant, approvals=(*grant.approvals, approval), version=grant.version + 1)

    def claim_message(self, grant_id: str, now: datetime, lease_seconds: int) -> bool:
        self._interleave("claim_message")
        grant = self.grants.get(grant_id)
        if grant is None or grant.slack_message is not None:
            return False
        if grant_id in self.leases and not self.leases[grant_id] < int(now.timestamp()):
            return False
        self.leases[grant_id] = int((now + timedelta(seconds=lease_seconds)).timestamp())
        return True

    def release_message(self, grant_id: str) -> None:
        grant = self.grants.get(grant_id)
        if grant is not None and grant.slack_message is None:
            self.leases.pop(grant_id, None)

    def save_message(self, grant: Grant, message: MessageRef, event: AuditEvent) -> Grant:
        self._interleave("save_message")
        stored = self._stored(grant)
        if stored.slack_message is not None:
            raise Conflict("the grant's message is saved already")
        self.leases.pop(grant.grant_id, None)
        self.grants[grant.grant_id] = replace(stored, slack_message=message, version=stored.version + 1)
        self.events.append(well_formed(event))
        return replace(grant, slack_message=message, version=grant.version + 1)

    def mark(self, grant: Grant, flag: str, event: AuditEvent) -> Grant:
        self._interleave("mark")
        if flag not in _GRANT_FLAGS:
            raise ValueError(f"{flag} is not a grant's flag")
        stored = self._stored(grant)
        if getattr(stored, flag):
            raise Conflict(f"the grant is {flag} already")
        changes: dict[str, Any] = {flag: True}
        self.grants[grant.grant_id] = replace(stored, version=stored.version + 1, **changes)
        self.events.append(well_formed(event))
        return replace(grant, version=grant.version + 1, **changes)

    def add_event(self, event: AuditEvent) -> None:
        assert isinstance(event.details.get("grant_id"), str), f"{event.event} names no grant"
        self.events.append(well_formed(event))

    def by_asker(self, slack_user: str, limit: int) -> list[Grant]:
        mine = [grant for grant in self.grants.values() if grant.slack_user == slack_user]
        return sorted(mine, key=lambda grant: grant.asked_at, reverse=True)[:limit]

    def awaiting_review(self, asked_before: datetime) -> list[Grant]:
        found = [g for g in self.grants.values() if g.state is GrantState.AWAITING_REVIEW and g.asked_at < asked_before]
        return sorted(found, key=lambda grant: grant.asked_at)

    def unfinished(self, changed_before: datetime) -> list[Grant]:
        found = [
            grant
            for grant in self.grants.values()
            if (grant.state in _FOR_THE_WORKER or (grant.state is GrantState.DENIED and not grant.told))
            and self.changed_at[grant.grant_id] < changed_before
        ]
        return sorted(found, key=lambda grant: self.changed_at[grant.grant_id])

    def active_until(self, ends_by: datetime) -> list[Grant]:
        found = [
            grant
            for grant in self.grants.values()
            if grant.state is GrantState.ACTIVE and grant.ends_at is not None and grant.ends_at <= ends_by
        ]
        return sorted(found, key=lambda grant: grant.ends_at or ends_by)

    def _stored(self, grant: Grant) -> Grant:
        stored = self.grants.get(grant.grant_id)
        if stored is None:
            raise Conflict("the grant changed since it was read")
        return stored

    def _interleave(self, operation: str) -> None:
        waiting = self._interleaved.get(operation)
        if waiting:
            waiting.pop(0)()


def well_formed(event: AuditEvent) -> AuditEvent:
    """The event, once it is one an audit line can be made of: a csr.*, slack.*, grant.* or forwarder.* name, someone
    who acted, a time."""
    assert event.event.startswith(("csr.", "slack.", "grant.", "forwarder.")), f"an audit event named {event.event!r}"
    assert isinstance(event.actor, str) and event.actor, f"{event.event} names nobody who acted: {event.actor!r}"
    assert isinstance(event.at, datetime), f"{event.event} happened at no time: {event.at!r}"
    assert all(isinstance(value, str) for value in (event.request_id, event.cluster, event.csr_name, event.csr_uid))
    return event


# --- queues and logs -----------------------------------------------------------------------------------------------


class MemoryQueue:
    """JobQueue: each job written as the queue message SQS would carry, and read back the way its consumer reads it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None]] = []  # (message body, delay) in the order sent
        self.waiting: list[str] = []  # bodies not yet taken by a consumer
        self.failure: Exception | None = None  # raised by every send while set

    def enqueue(self, job: Job, delay_seconds: int | None = None) -> None:
        if self.failure is not None:
            raise self.failure
        body = encode_job(job)
        self.sent.append((body, delay_seconds))
        self.waiting.append(body)

    @property
    def jobs(self) -> list[Job | None]:
        """Every job sent so far, decoded, but those that only show a request on its CSR (`shows` lists them): an
        Event is told beside the work, and the tests of the work read clearer without it."""
        return [job for job in map(decode_job, (body for body, _ in self.sent)) if not isinstance(job, ShowInCluster)]

    @property
    def shows(self) -> list[ShowInCluster]:
        """The ShowInCluster jobs sent so far."""
        return [job for job in map(decode_job, (body for body, _ in self.sent)) if isinstance(job, ShowInCluster)]

    @property
    def delays(self) -> list[int | None]:
        """The delay each job was sent with."""
        return [delay for _, delay in self.sent]

    def take(self) -> list[Job]:
        """The jobs waiting for a consumer, now taken."""
        taken, self.waiting = self.waiting, []
        return [job for job in map(decode_job, taken) if job is not None]


class MemoryAudit:
    """AuditLog: the events written, and the log lines they became (their fixed keys, then their details)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.lines: list[dict[str, Any]] = []

    def write(self, event: AuditEvent) -> None:
        self.events.append(well_formed(event))
        self.lines.append(event.as_log_fields())

    def names(self, request_id: str | None = None) -> list[str]:
        """The events' names, in the order written (of one request, or of all)."""
        return [event.event for event in self.events if request_id is None or event.request_id == request_id]


class MemoryGauges:
    """Gauges: every value written, in order, as (metric, value)."""

    def __init__(self) -> None:
        self.values: list[tuple[str, float]] = []

    def gauge(self, name: str, value: float) -> None:
        self.values.append((name, value))


class MemoryAskQuota:
    """AskQuota as DynamoAskQuota keeps it: `limit` places per key, each named by its ask and free again once its
    window is over, or once given back."""

    def __init__(self) -> None:
        self.places: dict[str, dict[str, datetime]] = {}  # when each place was taken, by ask, by key

    def take(self, key: str, place: str, limit: int, window: timedelta, now: datetime) -> bool:
        held = {name: at for name, at in self.places.get(key, {}).items() if at > now - window}
        if place in held:
            return True
        if len(held) >= limit:
            return False
        self.places[key] = held | {place: now}
        return True

    def give_back(self, key: str, place: str) -> None:
        self.places.get(key, {}).pop(place, None)


class MemoryHeartbeats:
    """Heartbeats: the last beat of each cluster's forwarder, and the silence told, kept as DynamoHeartbeats keeps
    them (a late, older beat changes nothing; a silence is told once, and only while no later beat ended it)."""

    def __init__(self) -> None:
        self.beats: dict[str, datetime] = {}
        self.told: dict[str, datetime] = {}  # the beat whose following silence was told, by cluster

    def beat(self, cluster: str, at: datetime) -> None:
        if cluster not in self.beats or self.beats[cluster] < at:
            self.beats[cluster] = at

    def last(self, cluster: str) -> datetime | None:
        return self.beats.get(cluster)

    def told_silent(self, cluster: str, since: datetime) -> bool:
        if self.beats.get(cluster) != since or self.told.get(cluster) == since:
            return False
        self.told[cluster] = since
        return True


# --- Slack ---------------------------------------------------------------------------------------------------------


class MemoryDigests:
    """DigestStore: a request's entry kept unless a denial replaces its approval, the flush ask and the lease
    conditional as DynamoDigests' are (a stale ask is asked again), the first message kept."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, int], dict[str, DigestEntry]] = {}
        self.asked: dict[tuple[str, int], datetime] = {}
        self.leases: dict[tuple[str, int], datetime] = {}
        self.messages: dict[tuple[str, int], MessageRef] = {}

    def add(self, cluster: str, window: int, entry: DigestEntry) -> None:
        entries = self.entries.setdefault((cluster, window), {})
        kept = entries.get(entry.request_id)
        denies = entry.outcome is Outcome.DENY and not entry.observed
        if kept is None or (denies and kept.outcome is Outcome.APPROVE and not kept.observed):
            entries[entry.request_id] = entry

    def ask_flush(self, cluster: str, window: int, now: datetime) -> bool:
        asked = self.asked.get((cluster, window))
        if asked is not None and asked >= now - timedelta(seconds=STALE_ASK_SECONDS):
            return False
        self.asked[(cluster, window)] = now
        return True

    def drop_flush(self, cluster: str, window: int) -> None:
        self.asked.pop((cluster, window), None)

    def claim(self, cluster: str, window: int, now: datetime, lease_seconds: int) -> bool:
        until = self.leases.get((cluster, window))
        if until is not None and until >= now:
            return False
        self.leases[(cluster, window)] = now + timedelta(seconds=lease_seconds)
        return True

    def take_flush(self, cluster: str, window: int) -> None:
        self.asked.pop((cluster, window), None)

    def read(self, cluster: str, window: int) -> Digest:
        entries = tuple(self.entries.get((cluster, window), {}).values())
        return Digest(entries, self.messages.get((cluster, window)))

    def save_message(self, cluster: str, window: int, message: MessageRef) -> None:
        self.messages.setdefault((cluster, window), message)

    def release(self, cluster: str, window: int) -> None:
        self.leases.pop((cluster, window), None)


Shown = ReviewMessage | Notice | GrantMessage


class MemoryChannel:
    """Notifier: what each channel shows, every post and redraw in order, and a Slack that fails while told to."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Shown]] = []  # (channel, message)
        self.updates: list[tuple[MessageRef, Shown]] = []
        self.shown: dict[MessageRef, Shown] = {}  # what each message shows now
        self.failure: Exception | None = None  # raised by every call while set (RetryLater, PermanentFailure)

    def post_review(self, channel: str, message: ReviewMessage) -> MessageRef:
        return self._post(channel, message)

    def post_notice(self, channel: str, notice: Notice) -> MessageRef:
        return self._post(channel, notice)

    def update_review(self, message: MessageRef, review: ReviewMessage) -> None:
        self._update(message, review)

    def update_notice(self, message: MessageRef, notice: Notice) -> None:
        self._update(message, notice)

    def post_grant(self, channel: str, message: GrantMessage) -> MessageRef:
        return self._post(channel, message)

    def update_grant(self, message: MessageRef, grant: GrantMessage) -> None:
        self._update(message, grant)

    def headline(self, message: MessageRef) -> str:
        """The headline a message shows now."""
        return self.shown[message].headline

    def facts(self, message: MessageRef) -> dict[str, str]:
        """The labelled lines a message shows now."""
        return {fact.label: fact.value for fact in self.shown[message].facts}

    def buttons(self, message: MessageRef) -> tuple[GrantButton, ...]:
        """The buttons a grant's message shows now."""
        shown = self.shown[message]
        assert isinstance(shown, GrantMessage), "only a grant's message is asked for its buttons"
        return shown.buttons

    def _post(self, channel: str, message: Shown) -> MessageRef:
        self._fail()
        ref = MessageRef(channel, f"1772442000.{len(self.posts) + 1:06d}")
        self.posts.append((channel, message))
        self.shown[ref] = message
        return ref

    def _update(self, ref: MessageRef, message: Shown) -> None:
        self._fail()
        if ref not in self.shown:
            raise PermanentFailure("Slack refused chat_update: message_not_found")
        self.updates.append((ref, message))
        self.shown[ref] = message

    def _fail(self) -> None:
        if self.failure is not None:
            raise self.failure


class MemoryPeople:
    """SlackDirectory: Slack's users and user groups; an unknown user is refused as users.info refuses one."""

    def __init__(self, users: Mapping[str, SlackUser] = PEOPLE, groups: Mapping[str, frozenset[str]] = GROUPS) -> None:
        self.users = dict(users)
        self.groups = dict(groups)

    def user(self, slack_id: str) -> SlackUser:
        if slack_id not in self.users:
            raise PermanentFailure("Slack refused users_info: user_not_found")
        return self.users[slack_id]

    def group_members(self, group_id: str) -> frozenset[str]:
        return self.groups.get(group_id, frozenset())


class MemoryRequesters:
    """Requesters: people found by email as users.lookupByEmail finds them, and what each was sent."""

    def __init__(self, users: Iterable[SlackUser] = PEOPLE.values()) -> None:
        self.by_email = {user.email.casefold(): user.slack_id for user in users if user.email}
        self.looked_up: list[tuple[str, ...]] = []
        self.delivered: list[tuple[str, Delivery]] = []  # (Slack user, the message and its file)
        self.told: list[tuple[str, str]] = []  # (Slack user, text)
        self.replies: list[tuple[MessageRef, str]] = []  # (the message replied to in its thread, text)
        self.extensions: list[tuple[str, str, str]] = []  # (Slack user, the grant its Extend button extends, text)
        self.failure: Exception | None = None  # raised by deliver, tell, reply and offer_extension while set

    def find(self, emails: tuple[str, ...]) -> str | None:
        self.looked_up.append(emails)
        return next((self.by_email[e.casefold()] for e in emails if e.casefold() in self.by_email), None)

    def deliver(self, user_id: str, delivery: Delivery) -> None:
        self._fail()
        self.delivered.append((user_id, delivery))

    def tell(self, user_id: str, text: str) -> None:
        self._fail()
        self.told.append((user_id, text))

    def reply(self, message: MessageRef, text: str) -> None:
        self._fail()
        self.replies.append((message, text))

    def offer_extension(self, user_id: str, grant_id: str, text: str) -> None:
        self._fail()
        self.extensions.append((user_id, grant_id, text))

    def _fail(self) -> None:
        if self.failure is not None:
            raise self.failure


# --- the cluster ---------------------------------------------------------------------------------------------------


@dataclass
class _Csr:
    """One CertificateSigningRequest object as the API server keeps it."""

    name: str
    uid: str
    spec: dict[str, Any]
    annotations: dict[str, str]
    conditions: list[Condition] = field(default_factory=list)
    certificate: bytes | None = None


@dataclass(frozen=True)
class _Authority:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass
class _RbacObject:
    """One RoleBinding or ClusterRoleBinding as the API server keeps it: what it binds, and its labels."""

    binding: Binding
    labels: dict[str, str]


class MemoryBindings:
    """BindingOperations of one cluster: its RoleBindings and ClusterRoleBindings, answered as KubernetesBindings
    answers. A RoleBinding in a namespace that does not exist is refused (NamespaceLifecycle), and so is a ClusterRole
    outside `allowed_roles` (RBAC's escalation rule refuses a role the worker may not bind); a name held by anything
    but the same grant's binding is a Conflict, and `unbind` removes only the grant's own. `apply_outside` and
    `delete_outside` are what someone does with kubectl."""

    worker = "system:serviceaccount:csrgate:worker"

    def __init__(self, name: str, server: str) -> None:
        self.name = name
        self.server = server
        self.allowed_roles = {"view", "edit"}  # what the worker may bind here, as on the dev cluster
        self.namespaces = {"default", "kube-system", "kube-public", "payments", "team-a", "team-b"}
        self.objects: dict[tuple[str | None, str], _RbacObject] = {}  # by (namespace or None, name)
        self.created: list[Binding] = []  # every binding the API server created, in order
        self.deleted: list[Binding] = []
        self.failure: Exception | None = None  # raised by every API call while set (RetryLater: the API is down)

    # what someone sees or does in the cluster

    def found(self, namespace: str | None, name: str) -> Binding | None:
        """The binding of that name, as `kubectl get` shows it (its grant from its label), or None."""
        kept = self.objects.get((namespace, name))
        return _as_found(kept) if kept else None

    def users_bound(self) -> list[tuple[str | None, str, str]]:
        """Who holds which ClusterRole where: (namespace or None, ClusterRole, user), for every binding."""
        return sorted(
            (
                (kept.binding.namespace, kept.binding.cluster_role, kept.binding.username)
                for kept in self.objects.values()
            ),
            key=str,
        )

    def apply_outside(self, binding: Binding, labels: Mapping[str, str] | None = None) -> None:
        """`kubectl apply` of a binding: made or replaced as written, with the binding's own labels unless told."""
        self.objects[(binding.namespace, binding.name)] = _RbacObject(
            binding, dict(binding.labels if labels is None else labels)
        )

    def delete_outside(self, binding: Binding) -> None:
        """`kubectl delete` of a binding."""
        del self.objects[(binding.namespace, binding.name)]

    # the port

    def bind(self, binding: Binding) -> None:
        self._fail()
        if binding.namespace is not None and binding.namespace not in self.namespaces:
            raise PermanentFailure(
                f"namespace {binding.namespace} does not exist: csrgate cannot bind ClusterRole "
                f"{binding.cluster_role} to {binding.username} there"
            )
        if binding.cluster_role not in self.allowed_roles:
            raise PermanentFailure(
                f"the cluster refused to let csrgate bind ClusterRole {binding.cluster_role} to {binding.username} in "
                f"{binding.where}: Forbidden: {binding.kind.lower()}s.rbac.authorization.k8s.io {binding.name!r} is "
                f"forbidden: user {self.worker!r} is attempting to grant RBAC permissions not currently held"
            )
        kept = self.objects.get((binding.namespace, binding.name))
        if kept is None:
            self.objects[(binding.namespace, binding.name)] = _RbacObject(binding, dict(binding.labels))
            self.created.append(binding)
            return
        same = (kept.labels.get(GRANT_LABEL), kept.binding.cluster_role, kept.binding.username)
        if same != (binding.grant_id, binding.cluster_role, binding.username):
            raise Conflict(f"{binding.kind} {binding.name} exists and is not grant {binding.grant_id}'s binding")

    def unbind(self, binding: Binding) -> bool:
        self._fail()
        kept = self.objects.get((binding.namespace, binding.name))
        if kept is None or not binding.grant_id or kept.labels.get(GRANT_LABEL) != binding.grant_id:
            return False
        del self.objects[(binding.namespace, binding.name)]
        self.deleted.append(kept.binding)
        return True

    def managed(self) -> tuple[Binding, ...]:
        self._fail()
        return tuple(
            _as_found(kept) for kept in self.objects.values() if kept.labels.get(MANAGED_BY_LABEL) == MANAGED_BY
        )

    def endpoint(self) -> ClusterEndpoint:
        return ClusterEndpoint(
            self.name, self.server, _authority().certificate.public_bytes(serialization.Encoding.PEM)
        )

    def _fail(self) -> None:
        if self.failure is not None:
            raise self.failure


def _as_found(kept: _RbacObject) -> Binding:
    """A binding as KubernetesBindings reads one back: its grant from its label, its annotations in key order."""
    return replace(
        kept.binding, grant_id=kept.labels.get(GRANT_LABEL, ""), annotations=tuple(sorted(kept.binding.annotations))
    )


class MemoryEvents:
    """ClusterEvents: the Events written on the cluster's CSRs, one per name as the API server keeps them (a second
    create of a name is refused with 409, which KubernetesEvents takes as done); fails on demand."""

    def __init__(self) -> None:
        self.by_name: dict[str, CsrEvent] = {}
        self.writes = 0  # every create sent, repeats included
        self.failure: Exception | None = None  # raised by every write while set

    def record(self, event: CsrEvent) -> None:
        self.writes += 1
        if self.failure is not None:
            raise self.failure
        self.by_name.setdefault(event.name, event)

    def on(self, csr_name: str) -> list[tuple[str, str, str]]:
        """The CSR's Events as `kubectl describe csr` lists them, oldest first: (type, reason, message)."""
        listed = sorted((e for e in self.by_name.values() if e.csr_name == csr_name), key=lambda e: e.at)
        return [(event.type, event.reason, event.message) for event in listed]


class MemoryCluster:
    """ClusterAccess, CsrOperations and NodeReads of one cluster: its CSRs, its Node objects and a signer.

    `decide` and `wait_for_certificate` answer as KubernetesCsrs does, at once (the signer acts when told, or on
    approval when `signs_on_approval`), so a test never waits. kubectl-style changes (`approve_outside`, `delete`,
    `recreate`, `sign`, `fail_signing`) are what someone else does in the cluster.
    """

    server = "https://lab.example.com:6443"

    def __init__(self, clock: Callable[[], datetime], name: str = "lab") -> None:
        self.clock = clock
        self.name = name
        self.waits: list[float] = []  # how long each look at the signer was allowed to take
        self.csrs_by_name: dict[str, _Csr] = {}
        self.node_addresses: dict[str, tuple[NodeAddress, ...]] = {}
        self.signs_on_approval = True
        self.decisions: list[tuple[str, Decision, str, str, str | None]] = []  # (name, decision, by, why, reason)
        self.node_reads: list[str] = []
        self.failure: Exception | None = None  # raised by every API call while set (RetryLater: the API is down)
        self.identity = "system:serviceaccount:csrgate:worker"  # who csrgate's worker is in this cluster
        self.rbac = MemoryBindings(name, self.server)  # its RoleBindings and ClusterRoleBindings
        self.kube_events = MemoryEvents()  # the Events on its CSRs
        self._uids = 0
        self._serials = 1

    # what someone does in the cluster

    def create_as(
        self,
        csr_pem: bytes,
        name: str,
        *,
        username: str | None = "dana",
        groups: Sequence[str] = ("system:authenticated",),
        signer: str = CLIENT,
        usages: Sequence[str] = ("client auth",),
        expiration_seconds: int | None = 86400,
        annotations: Mapping[str, str] | None = None,
        made_with: bytes | None = None,
    ) -> dict[str, Any]:
        """A CSR created by a user (`kubectl create`; the API server sets the uid, the user and groups, and with
        `made_with`, the client certificate they authenticated with): the object as it returns it."""
        document = manifest(
            csr_pem,
            signer=signer,
            usages=usages,
            expiration_seconds=expiration_seconds,
            username=username,
            groups=groups,
            name=name,
            as_json=True,
        )
        spec = dict(_json(document)["spec"])
        if made_with is not None:  # the client certificate the user authenticated with, as the API server records it
            digest = x509.load_pem_x509_certificate(made_with).fingerprint(hashes.SHA256()).hex()
            spec["extra"] = {CREDENTIAL_ID_KEY: [f"X509SHA256={digest}"]}
        self._uids += 1
        self.csrs_by_name[name] = _Csr(name, f"uid-{name}-{self._uids}", spec, dict(annotations or {}))
        return self.object(name)

    def object(self, name: str) -> dict[str, Any]:
        """The CSR as the API server returns it (and the forwarder sends it)."""
        csr = self.csrs_by_name[name]
        status: dict[str, Any] = {"conditions": [vars(condition) for condition in csr.conditions]}
        if csr.certificate:
            status["certificate"] = base64.b64encode(csr.certificate).decode("ascii")
        metadata = {"name": name, "uid": csr.uid, "annotations": csr.annotations}
        return {"kind": "CertificateSigningRequest", "metadata": metadata, "spec": csr.spec, "status": status}

    def event(self, name: str) -> CsrObject:
        """The CSR as intake reads a forwarded event about it."""
        return read_csr_object(self.object(name), "object", from_cluster=True)

    def approve_outside(self, name: str, reason: str = "KubectlApprove", message: str = "approved by kubectl") -> None:
        """`kubectl certificate approve`: an Approved condition csrgate did not write."""
        self.csrs_by_name[name].conditions.append(Condition(APPROVED, "True", reason, message))
        self._sign_if_told(self.csrs_by_name[name])

    def deny_outside(self, name: str, reason: str = "KubectlDeny", message: str = "denied by kubectl") -> None:
        """`kubectl certificate deny`."""
        self.csrs_by_name[name].conditions.append(Condition(DENIED, "True", reason, message))

    def sign(self, name: str) -> bytes:
        """The signer issues the certificate: the CSR's subject and key, signed by the cluster's CA."""
        csr = self.csrs_by_name[name]
        request = x509.load_pem_x509_csr(base64.b64decode(csr.spec["request"]))
        authority = _authority()
        now = self.clock()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(authority.certificate.subject)
            .public_key(request.public_key())
            .serial_number(self._serials)
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(seconds=int(csr.spec.get("expirationSeconds") or 3600)))
            .sign(authority.key, hashes.SHA256())
        )
        self._serials += 1
        csr.certificate = certificate.public_bytes(serialization.Encoding.PEM)
        return csr.certificate

    def fail_signing(self, name: str, reason: str = "SignerValidationFailure", message: str = "bad usages") -> None:
        """The signer refuses: a Failed condition."""
        self.csrs_by_name[name].conditions.append(Condition(FAILED, "True", reason, message))

    def delete(self, name: str) -> None:
        """`kubectl delete csr` (or the garbage collector)."""
        del self.csrs_by_name[name]

    def recreate(self, name: str, csr_pem: bytes, **spec: Any) -> dict[str, Any]:
        """The CSR deleted and made again under the same name: another uid."""
        self.delete(name)
        return self.create_as(csr_pem, name, **spec)

    def condition(self, name: str) -> Condition | None:
        """The condition deciding the CSR now (Approved, else Denied), as `kubectl get csr` shows it."""
        holding = [c for c in self.csrs_by_name[name].conditions if c.holds and c.type in (APPROVED, DENIED)]
        return holding[0] if holding else None

    # the ports

    def csrs(self, cluster: ClusterConfig) -> MemoryCluster:
        return self._reached(cluster)

    def bindings(self, cluster: ClusterConfig) -> MemoryBindings:
        return self._reached(cluster).rbac

    def nodes(self, cluster: ClusterConfig) -> MemoryCluster:
        return self._reached(cluster)

    def events(self, cluster: ClusterConfig) -> MemoryEvents:
        return self._reached(cluster).kube_events

    def addresses(self, name: str) -> tuple[NodeAddress, ...] | None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a Node is read by its name, not {name!r}")  # as the Kubernetes client refuses it
        self._fail()
        self.node_reads.append(name)
        return self.node_addresses.get(name)

    def decide(
        self,
        name: str,
        uid: str,
        decision: Decision,
        decided_by: str,
        why: str,
        reason: str | None = None,
        spec_fingerprint: str | None = None,
    ) -> DecisionResult:
        self._fail()
        self.decisions.append((name, decision, decided_by, why, reason))
        csr = self.csrs_by_name.get(name)
        if csr is None:
            return DecisionResult(DecisionOutcome.GONE, name)
        if csr.uid != uid or (spec_fingerprint is not None and _fingerprint(csr) != spec_fingerprint):
            return DecisionResult(DecisionOutcome.REPLACED, name)
        planned = plan_decision(csr.conditions, decision)
        if planned is not None:
            return DecisionResult(planned[0], name, planned[1])
        condition = decision_condition(decision, decided_by, why, reason)
        csr.conditions.append(condition)
        if decision is Outcome.APPROVE:
            self._sign_if_told(csr)
        return DecisionResult(DecisionOutcome.APPLIED, name, condition)

    def wait_for_certificate(self, name: str, uid: str, timeout: float, poll_interval: float = 0.5) -> IssuanceResult:
        if not timeout > 0:
            raise ValueError(f"a look at the signer needs a time limit, not {timeout!r}")
        self.waits.append(timeout)
        self._fail()
        csr = self.csrs_by_name.get(name)
        if csr is None:
            return IssuanceResult(IssuanceOutcome.GONE, name)
        if csr.uid != uid:
            return IssuanceResult(IssuanceOutcome.REPLACED, name)
        outcome = issuance_state(csr.conditions, csr.certificate)
        if outcome is IssuanceOutcome.ISSUED:
            return IssuanceResult(outcome, name, csr.certificate)
        if outcome is not None:
            return IssuanceResult(outcome, name, condition=deciding_condition(csr.conditions, outcome))
        waiting = IssuanceOutcome.NOT_ISSUED if is_approved(csr.conditions) else IssuanceOutcome.NOT_APPROVED
        return IssuanceResult(waiting, name)

    def create(self, name: str, spec: Mapping[str, Any], annotations: Mapping[str, str]) -> str | None:
        self._fail()
        existing = self.csrs_by_name.get(name)
        if existing is not None:
            same = asked_spec_digest(existing.spec) == asked_spec_digest(spec)
            ours = same and all(existing.annotations.get(key) == value for key, value in annotations.items())
            return existing.uid if ours else None
        self._uids += 1
        created = {**spec, "username": self.identity, "groups": ["csrgate:workers", "system:authenticated"]}
        self.csrs_by_name[name] = _Csr(name, f"uid-{name}-{self._uids}", created, dict(annotations))
        return self.csrs_by_name[name].uid

    def kubeconfig_for(self, certificate_pem: bytes, key_path: str | None = None) -> RequesterKubeconfig:
        endpoint = ClusterEndpoint(
            "lab", self.server, _authority().certificate.public_bytes(serialization.Encoding.PEM)
        )
        return build_requester_kubeconfig(endpoint, certificate_pem, key_path)

    def _reached(self, cluster: ClusterConfig) -> MemoryCluster:
        if cluster.name != self.name:  # connections are made per configured cluster, by its name
            raise KeyError(f"no connection to cluster {cluster.name}")
        return self

    def _sign_if_told(self, csr: _Csr) -> None:
        if self.signs_on_approval and csr.certificate is None:
            self.sign(csr.name)

    def _fail(self) -> None:
        if self.failure is not None:
            raise self.failure


_AUTHORITIES: list[_Authority] = []


def _authority() -> _Authority:
    """The cluster's CA, made the first time a certificate is signed (an EC key: milliseconds)."""
    if not _AUTHORITIES:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab-ca")])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(START - timedelta(days=1))
            .not_valid_after(START + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        _AUTHORITIES.append(_Authority(certificate, key))
    return _AUTHORITIES[0]


def _fingerprint(csr: _Csr) -> str:
    return spec_fingerprint(csr.spec)


def _json(document: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(document)
    return loaded


# --- csrgate on these ports ----------------------------------------------------------------------------------------


def codes(record: RequestRecord) -> list[str]:
    """The codes of a request's findings, in order."""
    return [finding.code.value for finding in record.findings]


def client_csr(cn: str = "dana", orgs: Sequence[str] = ()) -> bytes:
    """A client CSR as `openssl req` makes it (a P-256 key: fast to sign)."""
    return make_csr(cn, orgs=orgs, key="p256")


def serving_csr(node: str = "node-1", dns: Sequence[str] = ("node-1",), ips: Sequence[str] = ("10.0.0.5",)) -> bytes:
    """A kubelet's serving CSR for its node."""
    return make_csr(f"system:node:{node}", orgs=["system:nodes"], dns=dns, ips=ips, key="p256")


class Csrgate:
    """csrgate's use cases wired on the memory ports, with one cluster (`lab`) and the lab's people."""

    def __init__(self, **cluster_changes: Any) -> None:
        self.clock = SettableClock()
        self.config = cluster_config(**cluster_changes)
        self.directory = MemoryDirectory([self.config])
        self.store = MemoryStore()
        self.asks = MemoryAskStore()
        self.certificates = MemoryCertificateStore()
        self.grants = MemoryGrantStore()
        self.quota = MemoryAskQuota()
        self.decisions = MemoryQueue()
        self.slack_retries = MemoryQueue()
        self.channel = MemoryChannel()
        self.digest_store = MemoryDigests()
        self.people = MemoryPeople()
        self.requesters = MemoryRequesters()
        self.cluster = MemoryCluster(self.clock)
        self.cluster.node_addresses["node-1"] = (
            NodeAddress("InternalIP", "10.0.0.5"),
            NodeAddress("Hostname", "node-1"),
        )
        self.rbac = self.cluster.rbac
        self.heartbeats = MemoryHeartbeats()
        self.audit = MemoryAudit()
        self.gauges = MemoryGauges()

    def reconfigure(self, **changes: Any) -> None:
        """The operator changes the lab's settings (camelCase keys); every use case reads them anew."""
        self.config = cluster_config(**changes)
        self.directory.clusters[self.config.name] = self.config

    @cached_property
    def digests(self) -> Digests:
        return Digests(self.digest_store, self.slack_retries, self.directory, self.channel, self.audit, self.clock)

    @cached_property
    def intake(self) -> Intake:
        return Intake(
            self.directory,
            self.store,
            self.asks,
            self.certificates,
            self.heartbeats,
            self.decisions,
            self.slack_retries,
            self.channel,
            self.digests,
            self.audit,
            self.clock,
        )

    @cached_property
    def asking(self) -> Asking:
        ids = (f"{n:08x}-0000-4000-8000-{n:012x}" for n in range(1, 1_000_000))
        return Asking(
            self.directory,
            self.asks,
            self.quota,
            self.decisions,
            self.people,
            self.audit,
            self.clock,
            lambda: next(ids),
        )

    @cached_property
    def asked_csrs(self) -> AskedCsrs:
        return AskedCsrs(self.directory, self.cluster, self.asks, self.requesters, self.audit, self.clock)

    @cached_property
    def approvals(self) -> Approvals:
        return Approvals(self.directory, self.store, self.decisions, self.people, self.channel, self.audit, self.clock)

    @cached_property
    def worker(self) -> DecisionWorker:
        return DecisionWorker(
            self.directory,
            self.cluster,
            self.store,
            self.channel,
            self.digests,
            self.requesters,
            self.certificates,
            self.decisions,
            self.audit,
            self.clock,
        )

    @cached_property
    def sweeper(self) -> Sweeper:
        return Sweeper(
            self.directory,
            self.store,
            self.decisions,
            self.channel,
            self.requesters,
            self.people,
            self.certificates,
            self.grants,
            self.heartbeats,
            self.audit,
            self.gauges,
            self.clock,
        )

    @cached_property
    def granting(self) -> Granting:
        ids = (f"{n:08x}-0000-4000-8000-{n:012x}" for n in range(1, 1_000_000))
        return Granting(
            self.directory,
            self.grants,
            self.quota,
            self.decisions,
            self.people,
            self.channel,
            self.audit,
            self.clock,
            lambda: next(ids),
        )

    @cached_property
    def grant_worker(self) -> GrantWorker:
        return GrantWorker(
            self.directory,
            self.cluster,
            self.grants,
            self.channel,
            self.requesters,
            self.decisions,
            self.audit,
            self.clock,
        )

    # what happens in the cluster, as the forwarder tells intake

    def submit(self, csr_pem: bytes | None = None, name: str = "dana", **spec: Any) -> str:
        """A CSR created in the cluster and forwarded (ADDED); its request id."""
        self.cluster.create_as(client_csr() if csr_pem is None else csr_pem, name, **spec)
        return self.forward(name, EventType.ADDED).request_id

    def submit_serving(
        self, name: str = "node-1-serving", node: str = "node-1", dns: Sequence[str] = ("node-1",), **csr: Any
    ) -> str:
        """A kubelet's serving CSR for its node, created and forwarded; its request id."""
        return self.submit(
            serving_csr(node, dns, **csr),
            name,
            username=f"system:node:{node}",
            groups=("system:nodes", "system:authenticated"),
            signer=KUBELET_SERVING,
            usages=("digital signature", "server auth"),
            expiration_seconds=None,
        )

    def ask(
        self,
        slack_user: str = "U0ANGELA",
        csr_pem: bytes | None = None,
        *,
        cluster: str = "lab",
        lifetime: str = "3600",
        reason: str = "on call this week",
    ) -> CertificateAsk | dict[str, str]:
        """A Slack user submits the certificate form (angela's user name on the lab is `angela`)."""
        pem = client_csr("angela") if csr_pem is None else csr_pem
        return self.asking.submit(slack_user, AskForm(cluster, pem.decode("ascii", "replace"), lifetime, reason))

    def forward(self, name: str, event_type: EventType = EventType.MODIFIED) -> IntakeResult:
        """The forwarder sends what it sees of the CSR now."""
        return self.intake.receive(self.config, event_type, self.cluster.event(name))

    def forward_deleted(self, name: str, last_seen: CsrObject) -> IntakeResult:
        """The forwarder sends a DELETED event with the object as last seen."""
        return self.intake.receive(self.config, EventType.DELETED, last_seen)

    def request_id(self, name: str = "dana") -> str:
        """The request id of the cluster's CSR of that name."""
        return request_id_for(self.config.name, self.cluster.csrs_by_name[name].uid)

    def ask_access(
        self,
        slack_user: str = "U0DANA",
        *,
        cluster: str = "lab",
        role: str = "edit",
        namespace: str = "payments",
        duration: str = "3600",
        reason: str = "deploying the payments fix",
    ) -> Grant | dict[str, str]:
        """A Slack user submits the access form (dana's user name on the lab is `dana`); the duration in seconds, as
        the form's options carry it."""
        return self.granting.submit(slack_user, GrantForm(cluster, role, namespace, duration, reason))

    # people and functions

    def grant(self, grant_id: str) -> Grant:
        """The grant as stored now."""
        return self.grants.grant(grant_id)

    def click_grant(self, grant_id: str, clicker: str, button: GrantButton = GrantButton.APPROVE) -> ClickResult:
        """A click on the grant's channel message."""
        message = self.grant(grant_id).slack_message
        assert message is not None, "the grant has no Slack message to click on"
        return self.granting.click(grant_id, button, clicker, message)

    def deny_grant(self, grant_id: str, approver: str, reason: str = "use the staging cluster") -> ClickResult:
        """The grant's Deny dialog submitted with a reason."""
        message = self.grant(grant_id).slack_message
        assert message is not None, "the grant has no Slack message to deny from"
        return self.granting.deny(grant_id, approver, message, reason)

    def record(self, request_id: str) -> RequestRecord:
        """The request as stored now."""
        return self.store.record(request_id)

    def click(self, request_id: str, approver: str, decision: Decision = Outcome.APPROVE) -> ClickResult:
        """An Approve (or Deny) click on the request's message."""
        message = self.record(request_id).slack_message
        assert message is not None, "the request has no Slack message to click on"
        return self.approvals.click(request_id, decision, approver, message)

    def deny(self, request_id: str, approver: str, reason: str = "use your team's group") -> ClickResult:
        """The Deny dialog submitted with a reason."""
        message = self.record(request_id).slack_message
        assert message is not None, "the request has no Slack message to deny from"
        return self.approvals.deny(request_id, approver, message, reason)

    def work(self) -> list[Job]:
        """The worker consumes what waits in the decision queue (once: the jobs it queues wait for the next call)."""
        taken = self.decisions.take()
        for job in taken:
            if isinstance(job, ApplyDecision):
                self.worker.apply(job.request_id)
            elif isinstance(job, CheckIssuance):
                self.worker.check_issuance(job.request_id, job.attempt)
            elif isinstance(job, ShowInCluster):
                self.worker.show(job.request_id)
            elif isinstance(job, CreateCsr):
                self.asked_csrs.create(job.ask_id)
            elif isinstance(job, PostGrant):
                self.grant_worker.post(job.grant_id)
            elif isinstance(job, ApplyGrant):
                self.grant_worker.apply(job.grant_id)
            elif isinstance(job, EndGrant):
                self.grant_worker.end(job.grant_id)
            elif isinstance(job, SweepBindings):
                self.grant_worker.sweep_bindings(job.cluster)
            else:
                raise AssertionError(f"{job} does not belong on the decision queue")
        return taken

    def retry_posts(self) -> list[Job]:
        """The notifier consumes what waits in the Slack retry queue: messages to post again, digests to draw."""
        taken = self.slack_retries.take()
        for job in taken:
            if isinstance(job, PostDigest):
                self.digests.flush(job.cluster, job.window)
            else:
                assert isinstance(job, PostMessage), f"{job} does not belong on the Slack retry queue"
                self.intake.post_message(job.request_id, job.attempt)
        return taken

    def digest(self) -> Notice:
        """The lab's one digest message, drawn now: the notifier first draws what waits."""
        self.retry_posts()
        [message] = self.digest_store.messages.values()
        shown = self.channel.shown[message]
        assert isinstance(shown, Notice)
        return shown


# --- access asked for, as far along as a test needs it -------------------------------------------------------------


def access_gate(**access_changes: Any) -> Csrgate:
    """csrgate with the lab offering access as ACCESS has it, some keys of the section changed (None drops one)."""
    return Csrgate(access={key: value for key, value in (ACCESS | access_changes).items() if value is not None})


def eks_access_gate(**eks_changes: Any) -> Csrgate:
    """csrgate with the lab on EKS offering access as EKS_ACCESS has it, some keys of its `eks` changed."""
    return Csrgate(**EKS_LAB, access=EKS_ACCESS | {"eks": EKS_ACCESS["eks"] | eks_changes})


def asked_grant(gate: Csrgate, slack_user: str = "U0DANA", **form: str) -> Grant:
    """A request for access recorded (not yet posted)."""
    result = gate.ask_access(slack_user, **form)
    assert isinstance(result, Grant), result
    return result


def posted_grant(gate: Csrgate, slack_user: str = "U0DANA", **form: str) -> Grant:
    """A request for access recorded and posted in its cluster's channel, as stored now."""
    grant = asked_grant(gate, slack_user, **form)
    gate.work()
    return gate.grant(grant.grant_id)


def granted(gate: Csrgate, slack_user: str = "U0DANA", approvers: Sequence[str] = ("U0ALICE",), **form: str) -> Grant:
    """A request for access approved and bound by the worker, as stored now."""
    grant = posted_grant(gate, slack_user, **form)
    for approver in approvers:
        gate.click_grant(grant.grant_id, approver)
    gate.work()
    bound = gate.grant(grant.grant_id)
    assert bound.state is GrantState.ACTIVE, bound
    return bound
