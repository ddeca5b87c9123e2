"""The sweeper: remind approvers of reviews left waiting, expire them before the cluster forgets the CSR, and queue
the decisions that never reached the worker; for grants, the same, and access ended on time whatever was lost.

Kubernetes garbage-collects pending CSRs after 24 hours, so a review left longer would approve nothing. Expiring
well before that (12 hours by default) tells everyone while the requester can still ask again.

A decision is stored before it is queued; if the send fails (SQS refuses or times out, or the function stops between
the two), the stored request says its decision is still to queue, and the next sweep queues it. So an approval
recorded is an approval applied. Slack trouble with one request neither stops a sweep nor undoes what it stored.

A forwarder that stops reporting leaves its cluster's CSRs unseen, and nothing else would say so: every sweep counts
the clusters whose forwarder has sent no heartbeat for a while (SILENT_CLUSTERS, zero included, for the alarm), logs
each, and tells each silence once in the cluster's channel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from csrgate.domain.approvals import may_approve
from csrgate.domain.certificates import DeliveredCertificate
from csrgate.domain.cluster_events import queue_show_in_cluster
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.grant_messages import extension_text, grant_message
from csrgate.domain.granting import mark_due
from csrgate.domain.grants import Grant, GrantState, grant_event
from csrgate.domain.jobs import ApplyDecision, ApplyGrant, EndGrant, PostGrant, SweepBindings
from csrgate.domain.lifecycle import State
from csrgate.domain.messages import silence_notice
from csrgate.domain.outcome import Outcome
from csrgate.domain.ports import (
    AuditLog,
    CertificateStore,
    Clock,
    ClusterDirectory,
    Conflict,
    Gauges,
    GrantStore,
    Heartbeats,
    JobQueue,
    Notifier,
    Requesters,
    RequestStore,
    SlackDirectory,
)
from csrgate.domain.records import Actor, AuditEvent, RequestRecord
from csrgate.domain.redraw import MessageRedraw
from csrgate.domain.renewals import reminder_text

EXPIRED_REASON = "expired: nobody decided within the review window"
SILENT_CLUSTERS = "SilentClusters"  # the gauge ForwarderSilentAlarm watches
_APPROVALS = (State.APPROVED, State.AUTO_APPROVED)


@dataclass(frozen=True)
class SweepTimings:
    """When to remind, when to expire, and how long a recorded decision is left to the function that recorded it."""

    remind_after: timedelta = timedelta(hours=1)
    expire_after: timedelta = timedelta(hours=12)
    # Longer than any function takes between storing a decision and queueing it (the sweeper's own timeout is 2
    # minutes); queueing one twice is harmless, the worker being idempotent, but needless.
    requeue_after: timedelta = timedelta(minutes=5)
    # Extend is offered this long before access ends (to grants lasting at least twice as long): the sweep runs every
    # ten minutes, so one of them always sees it.
    extension_lead: timedelta = timedelta(minutes=15)
    # A forwarder not heard from for longer than this is silent: several of its heartbeats missed, not one late.
    silent_after: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did."""

    reminded: int = 0
    expired: int = 0
    requeued: int = 0
    holders_reminded: int = 0  # holders of delivered certificates reminded to renew them
    grants_expired: int = 0  # access requests nobody decided in time
    grants_ended: int = 0  # grants whose time was up that no queued end had ended
    grants_requeued: int = 0  # grants the worker had yet to act on, queued again
    extensions_offered: int = 0  # requesters offered Extend before their access ends
    silent_clusters: int = 0  # configured clusters whose forwarder was heard from, but not lately


class Sweeper:
    """Runs on a schedule; each step is a conditional write, so overlapping sweeps are harmless."""

    def __init__(
        self,
        clusters: ClusterDirectory,
        store: RequestStore,
        decisions: JobQueue,
        notifier: Notifier,
        requesters: Requesters,
        people: SlackDirectory,
        certificates: CertificateStore,
        grants: GrantStore,
        heartbeats: Heartbeats,
        audit: AuditLog,
        gauges: Gauges,
        clock: Clock,
        timings: SweepTimings = SweepTimings(),
    ) -> None:
        self._clusters = clusters
        self._store = store
        self._decisions = decisions
        self._redraw = MessageRedraw(notifier, store, audit, clock)
        self._notifier = notifier
        self._requesters = requesters
        self._people = people
        self._certificates = certificates
        self._grants = grants
        self._heartbeats = heartbeats
        self._audit = audit
        self._gauges = gauges
        self._clock = clock
        self._timings = timings

    def sweep(self) -> SweepResult:
        """Find forwarders gone silent; queue decisions that never reached the worker; expire what waited too long;
        remind about what waited a while."""
        now = self._clock()
        silent = self._sweep_forwarders(now)  # first: nothing that fails later in the sweep delays telling a silence
        requeued = sum(
            self._queue(record, now, late=True)
            for record in self._store.unqueued_decisions(now - self._timings.requeue_after)
        )
        reminded = expired = 0
        for record in self._store.pending_since(now - self._timings.remind_after):
            if record.received_at <= now - self._timings.expire_after:
                expired += self._expire(record, now)
            elif not record.reminded:
                reminded += self._remind(record, now)
        holders = sum(self._remind_holder(certificate, now) for certificate in self._certificates.due_reminders(now))
        result = replace(
            self._sweep_grants(now),
            reminded=reminded,
            expired=expired,
            requeued=requeued,
            holders_reminded=holders,
            silent_clusters=silent,
        )
        # Last, so that only a sweep that finished writes it: no value at all means no sweep, which is alarmed too.
        self._gauges.gauge(SILENT_CLUSTERS, silent)
        return result

    def _sweep_forwarders(self, now: datetime) -> int:
        """The number of configured clusters whose forwarder is silent; each logged, each silence told once."""
        silent = 0
        for cluster in self._clusters.all():
            last = self._heartbeats.last(cluster.name)
            if last is None:
                # Not alarmed: a cluster is configured before its forwarder is deployed (or while it runs a version
                # that sends no heartbeat), and alarming then would teach people to ignore the alarm. Logged every
                # sweep instead, so a forwarder that never came is not forgotten.
                self._audit.write(AuditEvent("forwarder.never_heard", "", cluster.name, "", "", Actor.SERVICE, now))
                continue
            if now - last <= self._timings.silent_after:
                continue
            silent += 1
            event = AuditEvent(
                "forwarder.silent",
                "",
                cluster.name,
                "",
                "",
                Actor.SERVICE,
                now,
                {"last_heartbeat": last.isoformat(), "silent_minutes": int((now - last).total_seconds() // 60)},
            )
            self._audit.write(event)
            # Claimed before it is posted, as Extend offers are: a silence is told at most once, and a post Slack
            # refuses is recorded; the alarm, which counts every silent cluster every sweep, does not depend on Slack.
            if self._heartbeats.told_silent(cluster.name, last):
                try:
                    self._notifier.post_notice(cluster.slack_channel, silence_notice(cluster.name, last))
                except (RetryLater, PermanentFailure) as exc:
                    self._audit.write(replace(event, event="slack.post_failed", details={"reason": str(exc)}))
        return silent

    def _sweep_grants(self, now: datetime) -> SweepResult:
        """Expire access requests left undecided, end grants whose queued end was lost, queue again what the worker
        has yet to do, offer Extend before access ends, and have every cluster's bindings checked for orphans."""
        expired = requeued = 0
        for grant in self._grants.awaiting_review(now - self._timings.requeue_after):
            if grant.asked_at < now - self._timings.expire_after:
                expired += self._expire_grant(grant, now)
            elif grant.slack_message is None:  # its PostGrant was lost: the approvers were never asked
                self._decisions.enqueue(PostGrant(grant.grant_id))
                requeued += 1
        for grant in self._grants.unfinished(now - self._timings.requeue_after):
            self._decisions.enqueue(
                EndGrant(grant.grant_id) if grant.state is GrantState.ENDING else ApplyGrant(grant.grant_id)
            )
            requeued += 1
        ended = offered = 0
        for grant in self._grants.active_until(now + self._timings.extension_lead):
            if grant.ends_at is not None and grant.ends_at <= now:
                ended += mark_due(grant, self._grants, self._audit, now).state is GrantState.ENDING
                self._decisions.enqueue(EndGrant(grant.grant_id))
            elif not grant.reminded and grant.duration_seconds >= 2 * self._timings.extension_lead.total_seconds():
                offered += self._offer_extension(grant, now)
        for cluster in self._clusters.all():
            if cluster.access is not None:
                self._decisions.enqueue(SweepBindings(cluster.name))
        return SweepResult(
            grants_expired=expired, grants_ended=ended, grants_requeued=requeued, extensions_offered=offered
        )

    def _expire_grant(self, grant: Grant, now: datetime) -> int:
        event = grant_event(
            grant, "grant.review_expired", Actor.SERVICE, now, waited_hours=_hours(now - grant.asked_at)
        )
        try:
            grant = self._grants.move(grant, GrantState.EXPIRED, event)
        except Conflict:
            return 0
        self._audit.write(event)
        if grant.slack_message is not None:
            try:
                self._notifier.update_grant(grant.slack_message, grant_message(grant))
            except (RetryLater, PermanentFailure) as exc:
                self._audit.write(
                    replace(event, event="slack.update_failed", details={**event.details, "reason": str(exc)})
                )
        return 1

    def _offer_extension(self, grant: Grant, now: datetime) -> int:
        """Extend offered once, claimed before it is sent: a sweep that loses the claim sends nothing."""
        event = grant_event(
            grant,
            "grant.extension_offered",
            Actor.SERVICE,
            now,
            ends_at=grant.ends_at.isoformat() if grant.ends_at else "",
        )
        try:
            grant = self._grants.mark(grant, "reminded", event)
        except Conflict:
            return 0
        self._audit.write(event)
        try:
            self._requesters.offer_extension(grant.slack_user, grant.grant_id, extension_text(grant, now))
        except (RetryLater, PermanentFailure) as exc:
            self._audit.write(
                replace(event, event="slack.reminder_failed", details={**event.details, "reason": str(exc)})
            )
            return 0
        return 1

    def _remind_holder(self, certificate: DeliveredCertificate, now: datetime) -> int:
        """One reminder per threshold, claimed before it is sent: a sweep that loses the claim sends nothing, and one
        Slack refuses is audited (the next threshold still comes)."""
        due = certificate.next_reminder
        if due is None or due > now:
            return 0
        event = AuditEvent(
            "csr.renewal_reminded",
            certificate.request_id,
            certificate.cluster,
            "",
            "",
            Actor.SERVICE,
            now,
            {"fingerprint": certificate.fingerprint, "slack_user": certificate.slack_user, "due": due.isoformat()},
        )
        try:
            certificate = self._certificates.reminded(certificate, event)
        except Conflict:
            return 0
        self._audit.write(event)
        try:
            self._requesters.tell(certificate.slack_user, reminder_text(certificate, now))
        except (RetryLater, PermanentFailure) as exc:
            self._audit.write(
                replace(event, event="slack.reminder_failed", details={**event.details, "reason": str(exc)})
            )
            return 0
        return 1

    def _expire(self, record: RequestRecord, now: datetime) -> int:
        cluster = self._clusters.get(record.cluster)
        deny = cluster is not None and cluster.deny_expired and not cluster.observing
        event = AuditEvent.about(
            record, "csr.expired", Actor.SERVICE, now, waited_hours=_hours(now - record.received_at)
        )
        try:
            record = self._store.transition(
                record, State.EXPIRED, event, {"outcome_note": EXPIRED_REASON}, decision_to_queue=deny
            )
        except Conflict:
            return 0  # decided meanwhile: nothing to expire
        self._audit.write(event)
        if deny:
            self._queue(record, now)  # the worker shows the expiry on the CSR as it denies it
        elif cluster is not None:
            queue_show_in_cluster(self._decisions, record, self._audit, now)
        self._redraw.show(record)
        return 1

    def _queue(self, record: RequestRecord, now: datetime, *, late: bool = False) -> int:
        """Send the stored decision to the worker and remember it; if the queue fails, a later sweep tries again."""
        decision = Outcome.APPROVE if record.state in _APPROVALS else Outcome.DENY
        try:
            self._decisions.enqueue(ApplyDecision(record.request_id))
        except RetryLater as exc:
            self._record(AuditEvent.about(record, "csr.decision_queue_failed", Actor.SERVICE, now, reason=str(exc)))
            return 0
        details = {"decision": decision.value} | ({"late": True, "state": record.state.value} if late else {})
        event = AuditEvent.about(record, "csr.decision_queued", Actor.SERVICE, now, **details)
        self._store.mark_decision_queued(record, event)
        self._audit.write(event)
        return 1

    def _remind(self, record: RequestRecord, now: datetime) -> int:
        if record.slack_message is None:
            return 0
        # Only the approvals that still count, as Approvals counts them: an approver who has left counts no more.
        cluster = self._clusters.get(record.cluster)
        counted = [a for a in record.approvals if cluster and may_approve(cluster, a.slack_id, self._people)]
        left = record.approvals_needed - len(counted)
        expires = (record.received_at + self._timings.expire_after).strftime("%H:%M UTC")
        try:
            self._requesters.reply(
                record.slack_message,
                f"Reminder: this request has waited {_hours(now - record.received_at)} hours and needs {left} more "
                f"approval{'s' if left != 1 else ''}. It expires at {expires}.",
            )
        except RetryLater as exc:  # the next sweep reminds it
            self._record(AuditEvent.about(record, "slack.reminder_failed", Actor.SERVICE, now, reason=str(exc)))
            return 0
        except PermanentFailure as exc:  # it would fail the same way every sweep: do not try again
            failed = AuditEvent.about(record, "slack.reminder_failed", Actor.SERVICE, now, reason=str(exc))
            self._store.mark(record, "reminded", failed)
            self._audit.write(failed)
            return 0
        event = AuditEvent.about(record, "slack.reminder_posted", Actor.SERVICE, now)
        self._store.mark(record, "reminded", event)
        self._audit.write(event)
        return 1

    def _record(self, event: AuditEvent) -> None:
        self._store.add_event(event)
        self._audit.write(event)


def _hours(waited: timedelta) -> int:
    return int(waited.total_seconds() // 3600)
