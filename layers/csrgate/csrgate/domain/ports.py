"""What the domain needs from the outside world, as Protocols the adapters implement: every port is here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from csrgate.domain.asks import AskState, CertificateAsk
from csrgate.domain.cluster import ClusterConfig
from csrgate.domain.errors import CsrgateError
from csrgate.domain.grant_messages import GrantMessage
from csrgate.domain.grants import Binding, Grant, GrantState
from csrgate.domain.jobs import Job
from csrgate.domain.lifecycle import State
from csrgate.domain.messages import Notice, ReviewMessage
from csrgate.domain.outcome import Decision
from csrgate.domain.policy import Policy
from csrgate.domain.records import Approval, AuditEvent, MessageRef, RequestRecord, SlackUser

# Only the worker's ports speak of these, and they import the CSR decoder and YAML: the interactions cold start,
# inside Slack's three seconds, must not pay for them (a test keeps it so).
if TYPE_CHECKING:
    from csrgate.domain.certificates import DeliveredCertificate
    from csrgate.domain.cluster_events import CsrEvent
    from csrgate.domain.conditions import DecisionResult, IssuanceResult
    from csrgate.domain.delivery import Delivery
    from csrgate.domain.digests import Digest, DigestEntry
    from csrgate.domain.kubeconfig import ClusterEndpoint, RequesterKubeconfig
    from csrgate.domain.nodes import NodeAddress

Clock = Callable[[], datetime]


class Conflict(CsrgateError):
    """Someone else changed the request first: re-read it, never overwrite."""


class ClusterDirectory(Protocol):
    """The clusters csrgate serves, and their policies."""

    def get(self, name: str) -> ClusterConfig | None:
        """A cluster's configuration, or None when csrgate does not serve it."""

    def policy_for(self, cluster: ClusterConfig) -> Policy:
        """The policy the cluster names, or the built-in one."""

    def all(self) -> tuple[ClusterConfig, ...]:
        """Every cluster csrgate serves, by name."""


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


class AskStore(Protocol):
    """Certificates asked for in Slack, in the same table as requests; every change a conditional write."""

    def create(self, ask: CertificateAsk, event: AuditEvent) -> None:
        """Store a new ask with its first event."""

    def get(self, ask_id: str) -> CertificateAsk | None:
        """The stored ask, or None."""

    def move(
        self, ask: CertificateAsk, state: AskState, event: AuditEvent, changes: Mapping[str, Any] | None = None
    ) -> CertificateAsk:
        """Move the ask from `ask.state` to `state`; with a `csr_uid` among the changes, only while the ask has no
        CSR or has that one (an ask is linked to one CSR, ever). Conflict when either moved meanwhile."""

    def add_event(self, event: AuditEvent) -> None:
        """Store an audit event about an ask that changes nothing."""

    def by_asker(self, slack_user: str, limit: int) -> list[CertificateAsk]:
        """The Slack user's most recent asks, newest first."""


class CertificateStore(Protocol):
    """The client certificates csrgate delivered (no bodies), by their SHA-256; every change a conditional write."""

    def remember(self, certificate: DeliveredCertificate, event: AuditEvent) -> None:
        """Store a delivered certificate once (a repeated delivery of the same one changes nothing)."""

    def get(self, fingerprint: str) -> DeliveredCertificate | None:
        """The delivered certificate with that SHA-256, or None."""

    def due_reminders(self, now: datetime) -> list[DeliveredCertificate]:
        """Certificates whose next reminder is due, soonest first."""

    def reminded(self, certificate: DeliveredCertificate, event: AuditEvent) -> DeliveredCertificate:
        """Count one more reminder sent; Conflict when another sweep counted it first."""

    def renewed(self, certificate: DeliveredCertificate, request_id: str, event: AuditEvent) -> DeliveredCertificate:
        """Mark it renewed by that request (no more reminders, no other renewal by policy); Conflict when another
        request renewed it first (the same request again changes nothing)."""


class GrantStore(Protocol):
    """Access asked for in Slack, in the same table as requests; every change a conditional write."""

    def create(self, grant: Grant, event: AuditEvent) -> None:
        """Store a new grant with its first event."""

    def get(self, grant_id: str) -> Grant | None:
        """The stored grant, or None."""

    def move(
        self, grant: Grant, state: GrantState, event: AuditEvent, changes: Mapping[str, Any] | None = None
    ) -> Grant:
        """Move the grant from `grant.state` to `state`, with its changes; Conflict if its state moved meanwhile."""

    def add_approval(self, grant: Grant, approval: Approval, event: AuditEvent) -> Grant:
        """Add one approver's approval while the grant awaits review, once per approver; Conflict otherwise."""

    def claim_message(self, grant_id: str, now: datetime, lease_seconds: int) -> bool:
        """Lease the right to post the grant's review message while it has none; False while another poster holds
        it. The lease lapses, so a crash is recovered."""

    def release_message(self, grant_id: str) -> None:
        """Give the lease back after a failed post, so a retry need not wait for it to lapse."""

    def save_message(self, grant: Grant, message: MessageRef, event: AuditEvent) -> Grant:
        """Remember the grant's Slack message, once; Conflict when one is saved already."""

    def mark(self, grant: Grant, flag: str, event: AuditEvent) -> Grant:
        """Set `told` or `reminded`, once; Conflict when it was set already."""

    def add_event(self, event: AuditEvent) -> None:
        """Store an audit event about a grant (its `grant_id` detail names it) that changes nothing."""

    def by_asker(self, slack_user: str, limit: int) -> list[Grant]:
        """The Slack user's most recent grants, newest first."""

    def awaiting_review(self, asked_before: datetime) -> list[Grant]:
        """Grants awaiting review asked before then, oldest first."""

    def unfinished(self, changed_before: datetime) -> list[Grant]:
        """Grants the worker still has to act on (approved, ending, or denied and not told), last changed before."""

    def active_until(self, ends_by: datetime) -> list[Grant]:
        """Active grants whose access ends by then, soonest first."""


class JobQueue(Protocol):
    """Work for a function to do later; every consumer is idempotent, so a job queued twice is harmless."""

    def enqueue(self, job: Job, delay_seconds: int | None = None) -> None:
        """Queue a job after the queue's usual delay, or after `delay_seconds` (at most 15 minutes)."""


class Notifier(Protocol):
    """Where people see what happened: the cluster's Slack channel."""

    def post_review(self, channel: str, message: ReviewMessage) -> MessageRef:
        """Post an approval request with Approve and Deny buttons."""

    def post_notice(self, channel: str, notice: Notice) -> MessageRef:
        """Post a short notice without buttons."""

    def update_review(self, message: MessageRef, review: ReviewMessage) -> None:
        """Redraw an approval request (the approvals so far), keeping its buttons."""

    def update_notice(self, message: MessageRef, notice: Notice) -> None:
        """Replace a posted message with this account of what happened."""

    def post_grant(self, channel: str, message: GrantMessage) -> MessageRef:
        """Post a grant's message, with its buttons."""

    def update_grant(self, message: MessageRef, grant: GrantMessage) -> None:
        """Redraw a grant's message as it moves on."""


class DigestStore(Protocol):
    """Each cluster's digests of automatic decisions, one per window: entries, the message, and who draws it."""

    def add(self, cluster: str, window: int, entry: DigestEntry) -> None:
        """Keep the request's first entry; a denial replaces its approval, nothing else changes (a repeat neither)."""

    def ask_flush(self, cluster: str, window: int, now: datetime) -> bool:
        """Ask for the digest to be drawn: True when this ask must queue the flush (none waits, or the one waiting
        was asked for so long ago that its job must have been lost)."""

    def drop_flush(self, cluster: str, window: int) -> None:
        """Take back an ask whose flush could not be queued."""

    def claim(self, cluster: str, window: int, now: datetime, lease_seconds: int) -> bool:
        """Lease drawing the digest; False while another flush holds it. The lease lapses, so a crash is recovered."""

    def take_flush(self, cluster: str, window: int) -> None:
        """Take the waiting ask, before reading: an entry added from now on asks again."""

    def read(self, cluster: str, window: int) -> Digest:
        """The digest's entries and message, read strongly consistent."""

    def save_message(self, cluster: str, window: int, message: MessageRef) -> None:
        """Remember the digest's message, once."""

    def release(self, cluster: str, window: int) -> None:
        """Give the lease back."""


class AuditLog(Protocol):
    """The structured log line every audit event also becomes."""

    def write(self, event: AuditEvent) -> None:
        """Write one line with the event's fixed keys."""


class Gauges(Protocol):
    """Numbers one run found, for the alarms: written by every run, zero included, so that no value means no run."""

    def gauge(self, name: str, value: float) -> None:
        """Record the value of a metric that has no dimensions."""


class Heartbeats(Protocol):
    """When each cluster's forwarder was last heard from, and which of its silences were told."""

    def beat(self, cluster: str, at: datetime) -> None:
        """Remember that the cluster's forwarder was heard at `at` (an older beat arriving late changes nothing)."""

    def last(self, cluster: str) -> datetime | None:
        """When the cluster's forwarder was last heard from, or None when it never was."""

    def told_silent(self, cluster: str, since: datetime) -> bool:
        """Claim telling the silence that followed the beat at `since`, once: False when it was told already, or when
        a later beat ended it. A beat after the silence starts a new one, which may be told in its turn."""


class SlackDirectory(Protocol):
    """Who people are in Slack."""

    def user(self, slack_id: str) -> SlackUser:
        """The user's name and email."""

    def group_members(self, group_id: str) -> frozenset[str]:
        """The Slack user IDs in a user group, read again when what is known is more than a minute old."""


class Requesters(Protocol):
    """Reaching requesters in Slack."""

    def find(self, emails: tuple[str, ...]) -> str | None:
        """The Slack user ID of the first email Slack knows."""

    def deliver(self, user_id: str, delivery: Delivery) -> None:
        """A message and its file in their direct messages."""

    def tell(self, user_id: str, text: str) -> None:
        """A direct message."""

    def reply(self, message: MessageRef, text: str) -> None:
        """A reply in the approval request's thread."""

    def offer_extension(self, user_id: str, grant_id: str, text: str) -> None:
        """A direct message with an Extend button for the grant."""


class CsrOperations(Protocol):
    """What csrgate does with CSRs in one cluster."""

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
        """Append the decision's condition through the approval subresource, unless that would overwrite, or the
        CSR is not the one reviewed (another uid, or a spec whose fingerprint differs)."""

    def wait_for_certificate(self, name: str, uid: str, timeout: float, poll_interval: float = ...) -> IssuanceResult:
        """Where the certificate stands, waiting at most `timeout` seconds (polling as often as the adapter likes)."""

    def kubeconfig_for(self, certificate_pem: bytes, key_path: str | None = None) -> RequesterKubeconfig:
        """The requester's kubeconfig for an issued client certificate."""

    def create(self, name: str, spec: Mapping[str, Any], annotations: Mapping[str, str]) -> str | None:
        """Create a CSR; its uid, also when it exists already with this spec and these annotations (created by an
        earlier try). None when a CSR of that name exists that is not this one."""


class NodeReads(Protocol):
    """What csrgate reads about Nodes in one cluster."""

    def addresses(self, name: str) -> tuple[NodeAddress, ...] | None:
        """The Node's status.addresses, or None when the cluster has no Node of that name."""


class BindingOperations(Protocol):
    """The RBAC bindings csrgate makes for grants in one cluster; never any other."""

    def bind(self, binding: Binding) -> None:
        """Create the binding (done already when it exists for the same grant). Conflict when a binding of that name
        exists for something else; PermanentFailure when Kubernetes refuses it (csrgate may not bind that role)."""

    def unbind(self, binding: Binding) -> bool:
        """Delete the binding if it is there and is that grant's; False when there was none to delete."""

    def managed(self) -> tuple[Binding, ...]:
        """Every binding labelled as csrgate's, as found in the cluster."""

    def endpoint(self) -> ClusterEndpoint:
        """The cluster's server and CA, for the requester's kubeconfig."""


class ClusterEvents(Protocol):
    """The Kubernetes Events csrgate writes on CSRs in one cluster."""

    def record(self, event: CsrEvent) -> None:
        """Create the Event, done already when one of its name exists; RetryLater or PermanentFailure when the cluster
        cannot be reached or refuses it."""


class ClusterAccess(Protocol):
    """Connections to the clusters, kept across warm invocations."""

    def bindings(self, cluster: ClusterConfig) -> BindingOperations:
        """RBAC binding operations on the cluster."""

    def csrs(self, cluster: ClusterConfig) -> CsrOperations:
        """CSR operations on the cluster."""

    def nodes(self, cluster: ClusterConfig) -> NodeReads:
        """Node reads on the cluster."""

    def events(self, cluster: ClusterConfig) -> ClusterEvents:
        """Event writes on the cluster."""


class AskQuota(Protocol):
    """How often one person may ask: places taken one at a time, so that asks made at the same moment cannot all
    pass a limit that each would have read as not yet reached."""

    def take(self, key: str, place: str, limit: int, window: timedelta, now: datetime) -> bool:
        """Take one of the `limit` places `key` has in any `window`, named `place` (the ask's id): False, taking
        nothing, when all are taken; True, taking nothing more, when `place` is held already."""

    def give_back(self, key: str, place: str) -> None:
        """Free `place`: the ask that took it was not recorded after all."""


class ReplayCache(Protocol):
    """Signatures already accepted, remembered until they could no longer verify."""

    def first_use(self, cluster: str, signature: str, until: int) -> bool:
        """Remember the signature; False when it was already there (the same signed request again)."""
