"""The worker: apply a decision in the cluster, follow the signer, deliver the result to the requester.

Every step reads the stored request first and records what it did, so a redelivered message repeats nothing:
a decision already applied is not applied again, a requester already served is not served twice.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

from csrgate.domain import cluster_events
from csrgate.domain.asks import CLIENT_SIGNER
from csrgate.domain.certificates import DeliveredCertificate
from csrgate.domain.cluster import ClusterConfig
from csrgate.domain.conditions import (
    APPROVED,
    REASON_EXPIRED,
    REASON_POLICY_DENIED,
    Condition,
    DecisionOutcome,
    IssuanceOutcome,
)
from csrgate.domain.delivery import (
    bundle_delivery,
    denial_text,
    fetch_command,
    kubeconfig_delivery,
    machines_own,
    requester_emails,
)
from csrgate.domain.digests import Digests
from csrgate.domain.errors import CsrgateError, RetryLater
from csrgate.domain.jobs import CheckIssuance
from csrgate.domain.kubeconfig import RequesterKubeconfig, build_certificate_bundle
from csrgate.domain.lifecycle import State, can_transition
from csrgate.domain.nodes import must_match_node_addresses, node_address_findings, node_name
from csrgate.domain.outcome import Decision, Outcome
from csrgate.domain.ports import (
    AuditLog,
    CertificateStore,
    Clock,
    ClusterAccess,
    ClusterDirectory,
    Conflict,
    CsrOperations,
    JobQueue,
    Notifier,
    Requesters,
    RequestStore,
)
from csrgate.domain.records import Actor, AuditEvent, RequestRecord
from csrgate.domain.redraw import MessageRedraw

_APPROVED = (State.APPROVED, State.AUTO_APPROVED)
_DENIED = (State.DENIED, State.DENIED_BY_POLICY)


@dataclass(frozen=True)
class WorkerTimings:
    """How long to wait for a signer: per look, between looks, and in all."""

    wait_per_look_seconds: float = 10.0
    between_looks_seconds: int = 30
    give_up_after: timedelta = timedelta(minutes=15)


class DecisionWorker:
    """Consumes the decision queue."""

    def __init__(
        self,
        clusters: ClusterDirectory,
        access: ClusterAccess,
        store: RequestStore,
        notifier: Notifier,
        digests: Digests,
        requesters: Requesters,
        certificates: CertificateStore,
        checks: JobQueue,
        audit: AuditLog,
        clock: Clock,
        timings: WorkerTimings = WorkerTimings(),
    ) -> None:
        self._clusters = clusters
        self._access = access
        self._store = store
        self._redraw = MessageRedraw(notifier, store, audit, clock)
        self._digests = digests
        self._requesters = requesters
        self._certificates = certificates
        self._checks = checks
        self._audit = audit
        self._clock = clock
        self._timings = timings

    def apply(self, request_id: str) -> RequestRecord | None:
        """Apply the stored decision in the cluster, then follow it through; safe to repeat."""
        found = self._load(request_id)
        if found is None:
            return None
        record, cluster = found
        if record.overtaken:
            return record  # the cluster moved on where the state cannot follow; that is recorded already
        if self._to_apply(record, cluster) and cluster.observing:
            return self._withheld(record)
        if self._to_apply(record, cluster):
            record = self._bind_to_node(record, cluster)
            if self._to_apply(record, cluster):  # unless someone else moved it on meanwhile
                record = self._apply_in_cluster(record, cluster)
        if record.state in _DENIED:
            return self._tell_denied(record, cluster)
        if record.state in _APPROVED or (record.state is State.ISSUED and not record.requester_told):
            return self._look_at_signer(record, cluster, attempt=1)
        return record  # decided elsewhere, withdrawn, delivered, failed: nothing left to do

    def check_issuance(self, request_id: str, attempt: int) -> RequestRecord | None:
        """Another look at an approved request's certificate (queued with a delay)."""
        found = self._load(request_id)
        if found is None:
            return None
        record, cluster = found
        if record.overtaken:
            return record
        if self._to_apply(record, cluster):
            return self.apply(request_id)  # only an applied decision is followed to its certificate
        if record.state in _APPROVED or (record.state is State.ISSUED and not record.requester_told):
            return self._look_at_signer(record, cluster, attempt)
        return record

    def show(self, request_id: str) -> RequestRecord | None:
        """Show on the CSR, as a Kubernetes Event, that the request waits for review or has expired; for a request that
        has moved on, the Event of its decision tells the rest."""
        record = self._store.get(request_id)
        cluster = self._clusters.get(record.cluster) if record is not None else None
        if record is None or cluster is None:
            return record  # nothing to show it in: a request whose cluster is gone is not failed for an Event
        if record.state is State.AWAITING_REVIEW:
            event = cluster_events.review_requested(record, cluster.slack_channel, self._clock())
            self._tell_cluster(record, cluster, event)
        elif record.state is State.EXPIRED and not self._to_apply(record, cluster):
            # an expiry still to be denied in the cluster is shown by its denial, which says so
            denied = record.decision_applied and cluster.deny_expired
            self._tell_cluster(record, cluster, cluster_events.expired(record, self._clock(), denied=denied))
        return record

    def _withheld(self, record: RequestRecord) -> RequestRecord:
        """A decision made before csrgate was switched to observe its cluster: not written there, and said so once."""
        note = "not applied: csrgate was switched to observe the cluster before it could be"
        event = self._event(record, "csr.decision_withheld", Actor.SERVICE, reason=note)
        record = self._store.mark(record, "overtaken", event, note=note)
        self._audit.write(event)
        return record

    def fail(self, request_id: str, reason: str) -> None:
        """The last delivery of a message failed too: mark the request failed, loudly, where people look."""
        record = self._store.get(request_id)
        if record is None or not can_transition(record.state, State.FAILED):
            return
        self._move(record, State.FAILED, "csr.failed", Actor.SERVICE, note=reason, reason=reason)

    # --- steps ------------------------------------------------------------------------------------------

    @staticmethod
    def _to_apply(record: RequestRecord, cluster: ClusterConfig) -> bool:
        if record.decision_applied or record.overtaken:
            return False
        expired_to_deny = record.state is State.EXPIRED and cluster.deny_expired
        return record.state in (*_APPROVED, *_DENIED) or expired_to_deny

    def _bind_to_node(self, record: RequestRecord, cluster: ClusterConfig) -> RequestRecord:
        """An automatic approval of a kubelet's serving certificate stands only if the requesting node's Node object
        lists every SAN; otherwise it becomes a policy denial, recorded and told in the digest as the others are."""
        if not must_match_node_addresses(record, self._clusters.policy_for(cluster)):
            return record
        node = node_name(record.request.username or "")
        addresses = self._access.nodes(cluster).addresses(node) if node else None
        found = node_address_findings(record.request, node, addresses)
        if not found:
            return record
        findings = (*record.findings, *found)
        event = self._event(
            record,
            "csr.policy_verdict",
            Actor.POLICY,
            verdict=Outcome.DENY.value,
            finding_codes=[finding.code.value for finding in findings],
            privileged=record.privileged,
            node=node,
        )
        changes = {"findings": findings, "outcome": Outcome.DENY}
        try:
            record = self._store.transition(record, State.DENIED_BY_POLICY, event, changes)
        except Conflict:
            return self._store.get(record.request_id) or record  # someone moved it first: their change stands
        self._audit.write(event)
        with suppress(RetryLater):  # the digest is told, not decided: the denial stands and is in the audit trail
            self._digests.add(record)
        return record

    def _apply_in_cluster(self, record: RequestRecord, cluster: ClusterConfig) -> RequestRecord:
        approve = record.state in _APPROVED
        decision: Decision = Outcome.APPROVE if approve else Outcome.DENY
        why = (
            record.decision_reason
            or record.outcome_note
            or "; ".join(f"{f.code.value}: {f.message}" for f in record.findings)
        )
        reason = {State.DENIED_BY_POLICY: REASON_POLICY_DENIED, State.EXPIRED: REASON_EXPIRED}.get(record.state)
        decided_by = record.decided_by or Actor.POLICY.value
        result = self._access.csrs(cluster).decide(
            record.csr_name, record.csr_uid, decision, decided_by, why, reason, record.spec_fingerprint or None
        )
        if result.outcome in (DecisionOutcome.APPLIED, DecisionOutcome.ALREADY_APPLIED):
            note = "approved in the cluster; waiting for the signer" if approve else "denied in the cluster"
            if record.state is State.EXPIRED:
                note = f"{record.outcome_note}; denied in the cluster"
            event = self._event(record, "csr.decision_applied", decided_by, decision=decision.value)
            record = self._store.mark(record, "decision_applied", event, note=note)
            self._audit.write(event)
            self._tell_cluster(record, cluster, cluster_events.decided(record, self._clock()))
            self._redraw.show(record)
            return record
        if result.outcome is DecisionOutcome.DECIDED_ELSEWHERE:
            condition = result.condition
            note = (
                f"{condition.type} in the cluster first: {condition.reason} {condition.message}".strip()
                if condition
                else ""
            )
            return self._move(
                record, State.DECIDED_ELSEWHERE, "csr.decided_elsewhere", Actor.CLUSTER, note=note, **_told(condition)
            )
        note = (
            "the CSR was deleted"
            if result.outcome is DecisionOutcome.GONE
            else "the CSR in the cluster is not the one reviewed (recreated, or not what the forwarder sent)"
        )
        return self._move(record, State.WITHDRAWN, "csr.withdrawn", Actor.CLUSTER, note=note)

    def _look_at_signer(self, record: RequestRecord, cluster: ClusterConfig, attempt: int) -> RequestRecord:
        csrs = self._access.csrs(cluster)
        result = csrs.wait_for_certificate(record.csr_name, record.csr_uid, self._timings.wait_per_look_seconds)
        if result.outcome is IssuanceOutcome.ISSUED and result.certificate_pem:
            if record.state is not State.ISSUED:
                waited = int((self._clock() - (record.decided_at or record.received_at)).total_seconds())
                record = self._move(
                    record,
                    State.ISSUED,
                    "csr.issued",
                    Actor.CLUSTER,
                    note="certificate issued",
                    seconds_to_issue=waited,
                )
            return self._deliver(record, cluster, csrs, result.certificate_pem)
        if result.outcome is IssuanceOutcome.FAILED:
            condition = result.condition
            why = f"{condition.reason}: {condition.message}" if condition else "the signer refused"
            note = f"approved but not issued: {why}"
            return self._move(record, State.FAILED, "csr.failed", Actor.CLUSTER, note=note, reason=why)
        if result.outcome in (IssuanceOutcome.GONE, IssuanceOutcome.REPLACED):
            return self._move(record, State.WITHDRAWN, "csr.withdrawn", Actor.CLUSTER, note="the CSR was deleted")
        if result.outcome is IssuanceOutcome.DENIED:
            note = "denied in the cluster after csrgate approved it"
            details = _told(result.condition) | {"outcome": "denied"}
            return self._move(
                record, State.DECIDED_ELSEWHERE, "csr.decided_elsewhere", Actor.CLUSTER, note=note, **details
            )
        if self._clock() - (record.decided_at or record.received_at) >= self._timings.give_up_after:
            minutes = int(self._timings.give_up_after.total_seconds() // 60)
            note = f"approved but not issued: the signer issued nothing within {minutes} minutes"
            return self._move(record, State.FAILED, "csr.failed", Actor.SERVICE, note=note, reason=note)
        self._checks.enqueue(CheckIssuance(record.request_id, attempt + 1), self._timings.between_looks_seconds)
        return record

    def _deliver(
        self, record: RequestRecord, cluster: ClusterConfig, csrs: CsrOperations, certificate_pem: bytes
    ) -> RequestRecord:
        if record.requester_told:
            return record
        if machines_own(record):
            return self._nobody_to_tell(record)
        kubeconfig = csrs.kubeconfig_for(certificate_pem) if record.request.signer_name == CLIENT_SIGNER else None
        if kubeconfig is not None:
            delivery = kubeconfig_delivery(record, kubeconfig)
        else:
            delivery = bundle_delivery(record, build_certificate_bundle(certificate_pem))
        user = self._requester(record, cluster)
        if user is None:
            return self._requester_not_found(
                record, "the certificate is issued: fetch it with\n" + fetch_command(record)
            )
        self._requesters.deliver(user, delivery)
        if kubeconfig is not None:  # before the requester is marked told: a retry after a failure here remembers it
            self._remember(record, kubeconfig, user)
        record = self._mark_told(record, user)
        record = self._move(
            record,
            State.DELIVERED,
            "csr.delivered",
            Actor.SERVICE,
            note="certificate delivered to the requester by direct message",
            slack_user=user,
        )
        if record.state is State.DELIVERED:
            self._tell_cluster(record, cluster, cluster_events.delivered(record, self._clock()))
        return record

    def _tell_denied(self, record: RequestRecord, cluster: ClusterConfig) -> RequestRecord:
        if record.requester_told:
            return record
        if machines_own(record):
            return self._nobody_to_tell(record)
        user = self._requester(record, cluster)
        if user is None:
            return self._requester_not_found(record, denial_text(record))
        self._requesters.tell(user, denial_text(record))
        return self._mark_told(record, user)

    def _requester(self, record: RequestRecord, cluster: ClusterConfig) -> str | None:
        """The Slack user to tell: who asked in Slack, the holder of the certificate it renews, or whom the request's
        emails lead to."""
        known = record.asker_slack_id or record.holder_slack_id
        return known or self._requesters.find(requester_emails(record, cluster))

    def _remember(self, record: RequestRecord, kubeconfig: RequesterKubeconfig, user: str) -> None:
        """Remember the delivered certificate (to remind its holder, and to know its renewal), and that the one it
        renews was renewed."""
        delivered = DeliveredCertificate(
            fingerprint=kubeconfig.fingerprint,
            cluster=record.cluster,
            username=kubeconfig.user,
            groups=kubeconfig.groups,
            not_before=kubeconfig.not_before or self._clock(),
            not_after=kubeconfig.not_after,
            slack_user=user,
            request_id=record.request_id,
            chain_started_at=record.chain_started_at or record.decided_at or self._clock(),
            lifetime_seconds=record.request.expiration_seconds
            or int((kubeconfig.not_after - (kubeconfig.not_before or self._clock())).total_seconds()),
        )
        remembered = self._event(
            record, "csr.certificate_remembered", Actor.SERVICE, fingerprint=delivered.fingerprint, slack_user=user
        )
        self._certificates.remember(delivered, remembered)
        self._audit.write(remembered)
        renewed = self._certificates.get(record.renews) if record.renews else None
        if renewed is not None and renewed.renewed_by is None:  # a person approved it: now it is renewed too
            event = self._event(record, "csr.certificate_renewed", Actor.SERVICE, fingerprint=renewed.fingerprint)
            with suppress(Conflict):  # renewed by another request meanwhile: that one stands
                self._certificates.renewed(renewed, record.request_id, event)
                self._audit.write(event)

    def _nobody_to_tell(self, record: RequestRecord) -> RequestRecord:
        """A node's or service account's own CSR: it reads the outcome from its CSR; no Slack lookup, no failure."""
        event = self._event(record, "csr.requester_is_kubernetes", Actor.SERVICE, username=record.request.username)
        record = self._store.mark(record, "requester_told", event)
        self._audit.write(event)
        return record

    def _requester_not_found(self, record: RequestRecord, text: str) -> RequestRecord:
        if record.slack_message is not None:
            self._requesters.reply(record.slack_message, f"csrgate could not find the requester in Slack. {text}")
        event = self._event(record, "csr.delivery_failed", Actor.SERVICE, reason="requester not found in Slack")
        record = self._store.mark(record, "requester_told", event)
        self._audit.write(event)
        return record

    def _mark_told(self, record: RequestRecord, user: str) -> RequestRecord:
        event = self._event(record, "csr.requester_told", Actor.SERVICE, slack_user=user)
        record = self._store.mark(record, "requester_told", event)
        self._audit.write(event)
        return record

    def _move(
        self, record: RequestRecord, state: State, name: str, actor: str, note: str, **details: object
    ) -> RequestRecord:
        if not can_transition(record.state, state):
            return self._overtaken(record, name, actor, note, **details)
        event = self._event(record, name, actor, **details)
        try:
            record = self._store.transition(record, state, event, {"outcome_note": note})
        except Conflict:
            current = self._store.get(record.request_id)
            return current or record  # someone moved it first: their change stands
        self._audit.write(event)
        self._redraw.show(record)
        return record

    def _overtaken(self, record: RequestRecord, name: str, actor: str, note: str, **details: object) -> RequestRecord:
        """What happened in the cluster, where the state machine cannot follow (an expired review's CSR deleted, or
        decided with kubectl, before csrgate denied it): kept as a note on the request as it stands, and final."""
        event = self._event(record, name, actor, kept_state=record.state.value, **details)
        note = f"{record.outcome_note}; then {note}" if record.outcome_note else note
        record = self._store.mark(record, "overtaken", event, note=note)
        self._audit.write(event)
        self._redraw.show(record)
        return record

    def _tell_cluster(
        self, record: RequestRecord, cluster: ClusterConfig, event: cluster_events.CsrEvent | None
    ) -> None:
        """Write the Event, best effort: a cluster that refuses it is logged, and what it reports stands."""
        if event is None:
            return
        try:
            self._access.events(cluster).record(event)
        except CsrgateError as exc:
            reason = str(exc)
            self._audit.write(
                self._event(record, "csr.cluster_event_failed", Actor.SERVICE, event_reason=event.reason, reason=reason)
            )

    def _load(self, request_id: str) -> tuple[RequestRecord, ClusterConfig] | None:
        record = self._store.get(request_id)
        if record is None:
            return None
        cluster = self._clusters.get(record.cluster)
        if cluster is None:
            self.fail(request_id, f"cluster {record.cluster} is no longer configured")
            return None
        return record, cluster

    def _event(self, record: RequestRecord, name: str, actor: str, **details: object) -> AuditEvent:
        return AuditEvent.about(record, name, actor, self._clock(), **details)


def _told(condition: Condition | None) -> dict[str, str]:
    """A decision found in the cluster, as intake's csr.decided_elsewhere tells it: approved or denied, and the
    deciding condition's reason and message."""
    if condition is None:
        return {}
    outcome = "approved" if condition.type == APPROVED else "denied"
    return {"outcome": outcome, "condition": f"{condition.reason} {condition.message}".strip()[:300]}
