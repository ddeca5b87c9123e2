"""The sweeper: remind approvers of reviews left waiting, and expire them before the cluster forgets the CSR.

Kubernetes garbage-collects pending CSRs after 24 hours, so a review left longer would approve nothing. Expiring
well before that (12 hours by default) tells everyone while the requester can still ask again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from csrgate.domain.lifecycle import State
from csrgate.domain.messages import decided_message
from csrgate.domain.ports import (
    AuditLog,
    Clock,
    ClusterDirectory,
    Conflict,
    DecisionKind,
    DecisionQueue,
    QueuedDecision,
    RequestStore,
)
from csrgate.domain.records import Actor, AuditEvent, RequestRecord
from csrgate.domain.worker import Redraw, Requesters

EXPIRED_REASON = "expired: nobody decided within the review window"


@dataclass(frozen=True)
class SweepTimings:
    """When to remind, and when to expire."""

    remind_after: timedelta = timedelta(hours=1)
    expire_after: timedelta = timedelta(hours=12)


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did."""

    reminded: int = 0
    expired: int = 0


class Sweeper:
    """Runs on a schedule; each step is a conditional write, so overlapping sweeps are harmless."""

    def __init__(
        self,
        clusters: ClusterDirectory,
        store: RequestStore,
        decisions: DecisionQueue,
        redraw: Redraw,
        requesters: Requesters,
        audit: AuditLog,
        clock: Clock,
        timings: SweepTimings = SweepTimings(),
    ) -> None:
        self._clusters = clusters
        self._store = store
        self._decisions = decisions
        self._redraw = redraw
        self._requesters = requesters
        self._audit = audit
        self._clock = clock
        self._timings = timings

    def sweep(self) -> SweepResult:
        """Expire what waited too long; remind about what waited a while."""
        now = self._clock()
        reminded = expired = 0
        for record in self._store.pending_since(now - self._timings.remind_after):
            if record.received_at <= now - self._timings.expire_after:
                expired += self._expire(record, now)
            elif not record.reminded:
                reminded += self._remind(record, now)
        return SweepResult(reminded, expired)

    def _expire(self, record: RequestRecord, now: datetime) -> int:
        event = AuditEvent.about(
            record, "csr.expired", Actor.SERVICE, now, waited_hours=_hours(now - record.received_at)
        )
        try:
            record = self._store.transition(record, State.EXPIRED, event, {"outcome_note": EXPIRED_REASON})
        except Conflict:
            return 0  # decided meanwhile: nothing to expire
        self._audit.write(event)
        cluster = self._clusters.get(record.cluster)
        if cluster is not None and cluster.deny_expired:
            self._decisions.send(
                QueuedDecision(
                    record.request_id,
                    record.cluster,
                    record.csr_name,
                    record.csr_uid,
                    DecisionKind.DENY,
                    EXPIRED_REASON,
                    Actor.SERVICE.value,
                )
            )
        if record.slack_message is not None:
            self._redraw.update_notice(record.slack_message, decided_message(record, now))
        return 1

    def _remind(self, record: RequestRecord, now: datetime) -> int:
        if record.slack_message is None:
            return 0
        left = record.approvals_needed - len(record.approvals)
        expires = (record.received_at + self._timings.expire_after).strftime("%H:%M UTC")
        self._requesters.reply(
            record.slack_message,
            f"Reminder: this request has waited {_hours(now - record.received_at)} hours and needs {left} more "
            f"approval{'s' if left != 1 else ''}. It expires at {expires}.",
        )
        event = AuditEvent.about(record, "slack.reminder_posted", Actor.SERVICE, now)
        self._store.mark(record, "reminded", event)
        self._audit.write(event)
        return 1


def _hours(waited: timedelta) -> int:
    return int(waited.total_seconds() // 3600)
