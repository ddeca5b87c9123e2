"""Intake: from a forwarded CSR event to a stored request, a queued decision and a Slack message."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from csrgate.domain.asked_csrs import link_to_ask
from csrgate.domain.certificates import DeliveredCertificate
from csrgate.domain.cluster import ClusterConfig
from csrgate.domain.cluster_events import queue_show_in_cluster
from csrgate.domain.conditions import CsrStatus
from csrgate.domain.delivery import annotation_vouched_by, linked_email
from csrgate.domain.digests import DIGESTED_STATES, Digests
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.findings import Code, Finding, warning
from csrgate.domain.jobs import ApplyDecision, PostMessage
from csrgate.domain.lifecycle import State, can_transition, state_after_verdict
from csrgate.domain.messages import MESSAGE_LEASE_SECONDS, review_message
from csrgate.domain.outcome import Outcome
from csrgate.domain.ports import (
    AskStore,
    AuditLog,
    CertificateStore,
    Clock,
    ClusterDirectory,
    Conflict,
    Heartbeats,
    JobQueue,
    Notifier,
    RequestStore,
)
from csrgate.domain.records import (
    REQUESTER_EMAIL_ANNOTATION,
    Actor,
    AuditEvent,
    RequestRecord,
    request_id_for,
)
from csrgate.domain.redraw import MessageRedraw
from csrgate.domain.renewals import claimed_elsewhere, credential_fingerprint, judge_renewal
from csrgate.domain.request import CsrObject, SigningRequest
from csrgate.domain.summary import summarize
from csrgate.domain.text import shown
from csrgate.domain.verdict import evaluate

MAX_EMAIL_CHARS = 254  # RFC 5321's path limit, less the angle brackets


class EventType(StrEnum):
    """What the forwarder saw happen to a CSR."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True)
class IntakeResult:
    """What became of one event."""

    request_id: str
    state: State | None  # None: a DELETED event for a CSR csrgate never saw
    created: bool
    settled: bool = False  # RequestRecord.settled: the forwarder need send no more of its changes but its deletion


# The states in which csrgate has decided a request, by the direction of its decision.
_APPROVED_BY_CSRGATE = frozenset({State.APPROVED, State.AUTO_APPROVED, State.ISSUED, State.DELIVERED, State.FAILED})
_DENIED_BY_CSRGATE = frozenset({State.DENIED, State.DENIED_BY_POLICY, State.EXPIRED})


class Intake:
    """Receives forwarder events; stores first, then acts, so a crash at any point loses nothing."""

    def __init__(
        self,
        clusters: ClusterDirectory,
        store: RequestStore,
        asks: AskStore,
        certificates: CertificateStore,
        heartbeats: Heartbeats,
        decisions: JobQueue,
        slack_retries: JobQueue,
        notifier: Notifier,
        digests: Digests,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._clusters = clusters
        self._store = store
        self._asks = asks
        self._certificates = certificates
        self._heartbeats = heartbeats
        self._decisions = decisions
        self._slack_retries = slack_retries
        self._notifier = notifier
        self._digests = digests
        self._redraw = MessageRedraw(notifier, store, audit, clock)
        self._audit = audit
        self._clock = clock

    def receive(self, cluster: ClusterConfig, event_type: EventType, csr: CsrObject) -> IntakeResult:
        """Handle one event; safe to call again with the same event (duplicates change nothing)."""
        request_id = request_id_for(cluster.name, csr.uid)
        record = self._store.get(request_id)
        if event_type is EventType.DELETED:
            return self._deleted(record, request_id)
        created = False
        if record is None:
            record, created = self._create(cluster, request_id, csr)
        elif event_type is EventType.MODIFIED:
            record = self._reconcile(record, csr.status)
        self._ensure_side_effects(cluster, record)
        return IntakeResult(request_id, record.state, created, record.settled)

    def heartbeat(self, cluster: ClusterConfig) -> None:
        """The cluster's forwarder says it is running: remember when it was heard, for the sweeper to notice silence."""
        now = self._clock()
        self._heartbeats.beat(cluster.name, now)
        self._audit.write(AuditEvent("forwarder.heartbeat", "", cluster.name, "", "", "forwarder", now))

    def post_message(self, request_id: str, attempt: int) -> RequestRecord | None:
        """Post the request's approval request if it still has none (the retry path); raise RetryLater if Slack
        fails."""
        record = self._store.get(request_id)
        if record is None:
            return None
        cluster = self._clusters.get(record.cluster)
        if cluster is None:
            self._log(
                AuditEvent.about(
                    record,
                    "slack.post_abandoned",
                    Actor.SERVICE,
                    self._clock(),
                    reason="the cluster is no longer configured",
                )
            )
            return record
        return self._ensure_message(cluster, record, attempt=attempt, retry_on_failure=False)

    def give_up_message(self, request_id: str, reason: str) -> None:
        """Slack stayed down through every retry: fail a request nobody can see, so the failure is alarmed."""
        record = self._store.get(request_id)
        if record is None or record.slack_message is not None:
            return
        event = AuditEvent.about(record, "slack.post_abandoned", Actor.SERVICE, self._clock(), reason=reason)
        if record.state is State.AWAITING_REVIEW:
            failed = AuditEvent.about(record, "csr.failed", Actor.SERVICE, self._clock(), reason=reason)
            self._transition(record, State.FAILED, failed, f"nobody could review it: {reason}")
        self._store.add_event(event)
        self._log(event)

    # --- steps ------------------------------------------------------------------------------------------

    def _create(self, cluster: ClusterConfig, request_id: str, csr: CsrObject) -> tuple[RequestRecord, bool]:
        request, status = csr.signing_request, csr.status
        now = self._clock()
        policy = self._clusters.policy_for(cluster)
        ask, ask_event = link_to_ask(self._asks, cluster, csr, request_id, self._clock)
        # An ask's CSR is judged as the asker's, as the form judged it: csrgate's own identity created it, and its
        # user and groups must count for nothing (a policy trusting requesterGroups would otherwise trust csrgate's).
        asked = request.with_overrides(username=ask.username, groups=()) if ask else request
        verdict = evaluate(asked, policy, cluster.kind)
        renewed = self._renewed_certificate(request, cluster.name)
        renewal: tuple[Finding, ...] = ()
        chain_started_at = None
        if renewed is not None:
            judged, renewal, chain_started_at = judge_renewal(request, renewed, cluster, policy, verdict, now)
            # observing, the renewal is judged, never claimed: the holder keeps it for when csrgate decides
            observed = cluster.observing
            if (
                chain_started_at is not None
                and not observed
                and not self._claim_renewal(renewed, request_id, cluster.name, csr)
            ):
                renewal, chain_started_at = (claimed_elsewhere(renewed),), None
            verdict = judged if chain_started_at is not None else verdict
        state = State.DECIDED_ELSEWHERE if status.decided else state_after_verdict(verdict.outcome)
        if cluster.observing and state is not State.IGNORED and not status.decided:
            state = State.OBSERVED  # judged as ever, decided by nobody here: the digest says what csrgate would do
        annotated = csr.annotations.get(REQUESTER_EMAIL_ANNOTATION, "")
        # An email address is at most 254 characters: anything longer is no claim, and would not fit the record.
        claim = annotated if annotated.strip() and len(annotated) <= MAX_EMAIL_CHARS else None
        common_name = request.csr.subject.common_name if request.csr is not None else None
        vouched_by = annotation_vouched_by(claim, request.username, common_name, cluster) if claim else None
        signer = policy.rules_for(request.signer_name)
        unlinked: tuple[Finding, ...] = ()
        # Only a person's decision can be someone's own. An ask's CSR is tied to the Slack user who asked, and its CN
        # was checked to be theirs when they asked; a CSR made with a certificate csrgate delivered, for that
        # certificate's own user, is its holder's.
        holders_own = renewed is not None and request.username == common_name == renewed.username
        reviewed = not status.decided and verdict.outcome is Outcome.REVIEW
        if reviewed and ask is None and not holders_own:
            names_a_user = signer is not None and signer.authenticates_clients
            unlinked = requester_findings(request.username, common_name, cluster, names_a_user)
        record = RequestRecord(
            request_id=request_id,
            cluster=cluster.name,
            csr_name=request.name or "",
            csr_uid=request.uid or "",
            state=state,
            outcome=verdict.outcome,
            findings=verdict.findings + renewal + unlinked,
            request=summarize(request, claim),
            received_at=now,
            approvals_needed=cluster.approvals_needed(verdict.privileged, unlinked=bool(unlinked)),
            privileged=verdict.privileged,
            requester_email=claim.strip() if claim and vouched_by else None,
            spec_fingerprint=csr.spec_fingerprint,
            ask_id=ask.ask_id if ask else None,
            asker_slack_id=ask.slack_user if ask else None,
            asker_name=ask.slack_name if ask else None,
            ask_reason=ask.reason if ask else None,
            renews=renewed.fingerprint if renewed else None,
            holder_slack_id=renewed.slack_user if renewed else None,
            chain_started_at=chain_started_at,
        )
        events = [
            AuditEvent.about(
                record, "csr.received", Actor.CLUSTER, now, signer=request.signer_name, username=request.username
            ),
            AuditEvent.about(
                record,
                "csr.policy_verdict",
                Actor.POLICY,
                now,
                verdict=verdict.outcome.value,
                finding_codes=[finding.code.value for finding in verdict.findings + renewal],
                privileged=verdict.privileged,
                **({"renews": record.renews} if record.renews else {}),
            ),
        ]
        if claim:
            # Anyone who may create a CSR may write the annotation: say whether anything vouched for it.
            events.append(
                AuditEvent.about(
                    record,
                    "csr.requester_email_verified" if vouched_by else "csr.requester_email_unverified",
                    Actor.SERVICE,
                    now,
                    email=claim,
                    vouched_by=vouched_by.value if vouched_by else None,
                    username=request.username,
                    common_name=common_name,
                )
            )
        if unlinked:
            events.append(
                AuditEvent.about(
                    record,
                    "csr.requester_unlinked",
                    Actor.SERVICE,
                    now,
                    finding_codes=[finding.code.value for finding in unlinked],
                    username=request.username,
                    common_name=common_name,
                    approvals_needed=record.approvals_needed,
                )
            )
        if status.decided:
            events.append(decided_elsewhere(record, status, now, verdict.outcome if cluster.observing else None))
        elif state is State.OBSERVED:
            events.append(AuditEvent.about(record, "csr.observed", Actor.POLICY, now, would=verdict.outcome.value))
        if ask_event is not None:
            self._log(ask_event)  # stored with the ask, or (refused) below with the request
            if ask is None:
                events.append(ask_event)
        if not self._store.create(record, events):
            existing = self._store.get(request_id)
            if existing is None:  # created and deleted in between: nothing left to do
                raise Conflict(f"request {request_id} vanished while being created")
            return existing, False
        for event in events:
            self._log(event)
        return record, True

    def _renewed_certificate(self, request: SigningRequest, cluster: str) -> DeliveredCertificate | None:
        """The certificate csrgate delivered that the CSR was made with (the API server says which), if any."""
        fingerprint = credential_fingerprint(request)
        found = self._certificates.get(fingerprint) if fingerprint else None
        return found if found is not None and found.cluster == cluster else None

    def _claim_renewal(self, renewed: DeliveredCertificate, request_id: str, cluster: str, csr: CsrObject) -> bool:
        """Make this CSR the certificate's one renewal by policy (a conditional write): False when another was first."""
        event = AuditEvent(
            "csr.renewal_claimed",
            request_id,
            cluster,
            csr.name,
            csr.uid,
            Actor.POLICY,
            self._clock(),
            {"fingerprint": renewed.fingerprint},
        )
        try:
            self._certificates.renewed(renewed, request_id, event)
        except Conflict:
            return False
        self._log(event)
        return True

    def _reconcile(self, record: RequestRecord, status: CsrStatus) -> RequestRecord:
        """Follow what happened in the cluster: decided by someone else, issued, or failed to sign."""
        now = self._clock()
        # A condition with csrgate's reason is csrgate's only if csrgate decided so: anyone allowed to approve can
        # write that reason, and must not pass for an approval given through csrgate.
        ours = status.by_csrgate and record.state in (_APPROVED_BY_CSRGATE if status.approved else _DENIED_BY_CSRGATE)
        if status.decided and not ours and can_transition(record.state, State.DECIDED_ELSEWHERE):
            event = decided_elsewhere(record, status, now, record.outcome if record.state is State.OBSERVED else None)
            outcome = "approved" if status.approved else "denied"
            note = f"{outcome} in the cluster outside csrgate" + (
                f": {status.decision_text}" if status.decision_text else ""
            )
            return self._transition(record, State.DECIDED_ELSEWHERE, event, note)
        # Only a decision applied in the cluster becomes issued: a certificate seen first (csrgate's approval applied
        # but not yet recorded, or a status csrgate did not approve) leaves the worker to apply or report it.
        if status.issued and record.decision_applied and can_transition(record.state, State.ISSUED):
            event = AuditEvent.about(record, "csr.issued", Actor.CLUSTER, now)
            return self._transition(record, State.ISSUED, event, "certificate issued")
        if status.failed_reason and record.state in (State.APPROVED, State.AUTO_APPROVED):
            event = AuditEvent.about(record, "csr.signing_failed", Actor.CLUSTER, now, reason=status.failed_reason)
            return self._transition(record, State.FAILED, event, f"approved but not issued: {status.failed_reason}")
        return record

    def _deleted(self, record: RequestRecord | None, request_id: str) -> IntakeResult:
        if record is None:
            return IntakeResult(request_id, None, False)
        if can_transition(record.state, State.WITHDRAWN):
            event = AuditEvent.about(record, "csr.withdrawn", Actor.CLUSTER, self._clock())
            record = self._transition(record, State.WITHDRAWN, event, "the CSR was deleted in the cluster")
        return IntakeResult(request_id, record.state, False)

    def _ensure_side_effects(self, cluster: ClusterConfig, record: RequestRecord) -> None:
        if record.state in (State.AUTO_APPROVED, State.DENIED_BY_POLICY) and not record.decision_queued:
            record = self._queue_decision(record)
        if record.state in DIGESTED_STATES:
            self._digests.add(record)  # told with the cluster's other automatic decisions, not one message each
        if record.state is State.AWAITING_REVIEW:
            self._ensure_message(cluster, record, attempt=1, retry_on_failure=True)

    def _queue_decision(self, record: RequestRecord) -> RequestRecord:
        decision = Outcome.APPROVE if record.state is State.AUTO_APPROVED else Outcome.DENY
        self._decisions.enqueue(ApplyDecision(record.request_id))
        event = AuditEvent.about(record, "csr.decision_queued", Actor.POLICY, self._clock(), decision=decision.value)
        record = self._store.mark_decision_queued(record, event)
        self._log(event)
        return record

    def _ensure_message(
        self, cluster: ClusterConfig, record: RequestRecord, *, attempt: int, retry_on_failure: bool
    ) -> RequestRecord:
        if record.slack_message is not None or record.state is not State.AWAITING_REVIEW:
            return record
        now = self._clock()
        if not self._store.claim_message(record.request_id, now, MESSAGE_LEASE_SECONDS):
            return record  # posted meanwhile, or another delivery is posting it right now
        try:
            message = self._notifier.post_review(cluster.slack_channel, review_message(record, now))
        except (RetryLater, PermanentFailure) as exc:
            self._store.release_message(record.request_id)
            event = AuditEvent.about(record, "slack.post_failed", Actor.SERVICE, now, attempt=attempt, reason=str(exc))
            self._store.add_event(event)
            self._log(event)
            if not retry_on_failure:
                raise
            self._slack_retries.enqueue(PostMessage(record.request_id, attempt + 1))
            return record
        event = AuditEvent.about(
            record,
            "csr.review_requested",
            Actor.SERVICE,
            self._clock(),
            channel=message.channel,
            ts=message.ts,
            approvals_needed=record.approvals_needed,
        )
        record = self._store.save_message(record, message, event)
        self._log(event)
        queue_show_in_cluster(self._decisions, record, self._audit, self._clock())  # kubectl describe csr: waiting
        # The worker may have moved the request on (applied it, or denied it after reading the Node) before the
        # message was saved, when it had no message to redraw: show what the request is now.
        current = self._store.get(record.request_id)
        if current is not None and current.version != record.version:
            self._redraw.show(current)
            return current
        return record

    def _transition(self, record: RequestRecord, state: State, event: AuditEvent, note: str) -> RequestRecord:
        changes = {"outcome_note": note}
        try:
            record = self._store.transition(record, state, event, changes)
        except Conflict:
            current = self._store.get(record.request_id)
            if current is None or not can_transition(current.state, state):
                return current or record  # someone else moved it on first: their change stands
            record = self._store.transition(current, state, replace(event, at=self._clock()), changes)
        self._log(event)
        self._redraw.show(record)
        return record

    def _log(self, event: AuditEvent) -> None:
        self._audit.write(event)


def decided_elsewhere(record: RequestRecord, status: CsrStatus, at: datetime, would: Outcome | None) -> AuditEvent:
    """The event for a CSR decided in the cluster by someone other than csrgate; `would`, observing, is what csrgate
    would have done, to tell how far the two agree before switching to enforce."""
    return AuditEvent.about(
        record,
        "csr.decided_elsewhere",
        Actor.CLUSTER,
        at,
        outcome="approved" if status.approved else "denied",
        condition=status.decision_text,
        **({"csrgate_would": would.value} if would else {}),
    )


def requester_findings(
    username: str | None, common_name: str | None, cluster: ClusterConfig, names_a_user: bool
) -> tuple[Finding, ...]:
    """Warnings for a request csrgate cannot tie to one person, which therefore needs one more approver.

    An approver could have asked under a name csrgate does not know (a service account's token, an opaque OIDC
    subject) and then approve alone a certificate for any user. `names_a_user`: the signer's certificates log in
    to the API server, so the CN is the user the holder becomes.
    """
    found: list[Finding] = []
    asker = linked_email(username, cluster)
    if asker is None:
        found.append(warning(Code.REQUESTER_UNKNOWN, _unknown_requester(username, cluster)))
    if names_a_user and common_name is not None and common_name != username:
        holder = linked_email(common_name, cluster)
        if asker is None or holder is None or holder.casefold() != asker.casefold():
            asked_by = repr(shown(username)) if username else "an unknown user"
            found.append(
                warning(
                    Code.SUBJECT_MISMATCH,
                    f"the certificate would be for the user {shown(common_name)!r}, not for {asked_by}, who asked "
                    f"for it (nor does {cluster.name}'s requesterEmails make them one person), so one more approver "
                    "must agree; ask for your own user to need fewer",
                )
            )
    return tuple(found)


def _unknown_requester(username: str | None, cluster: ClusterConfig) -> str:
    why = "so nobody can tell which Slack user asked for it and one more approver must agree"
    if not username:
        return f"the API server recorded no requesting user, {why}"
    if username.startswith("system:serviceaccount:"):
        return (
            f"{shown(username)!r} is a service account, not a person: whoever holds its token may have asked, {why}; "
            "ask with your own credentials to need fewer"
        )
    if username.startswith("system:"):
        return f"{shown(username)!r} is a Kubernetes identity (a node or a system user), not a person, {why}"
    return (
        f"csrgate cannot tell which Slack user {shown(username)!r} is (it is not in {cluster.name}'s "
        f"requesterEmails, not an email, and {cluster.name} has no requesterEmailTemplate), {why}"
    )
