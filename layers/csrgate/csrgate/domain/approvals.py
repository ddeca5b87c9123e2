"""Approvers' clicks: who may decide, how many must agree, and what the clicker is told when they may not."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from csrgate.domain.cluster import ClusterConfig
from csrgate.domain.delivery import linked_email
from csrgate.domain.jobs import ApplyDecision
from csrgate.domain.lifecycle import State
from csrgate.domain.outcome import Decision, Outcome
from csrgate.domain.ports import (
    AuditLog,
    Clock,
    ClusterDirectory,
    Conflict,
    JobQueue,
    Notifier,
    RequestStore,
    SlackDirectory,
)
from csrgate.domain.records import Approval, AuditEvent, MessageRef, RequestRecord, SlackUser
from csrgate.domain.redraw import MessageRedraw

MAX_REASON_CHARS = 500


class ClickAnswer(StrEnum):
    """What happened to a click, for the caller to show."""

    RECORDED = "recorded"  # one approval of several
    DECIDED = "decided"  # approved or denied: queued for the cluster
    ASK_REASON = "ask_reason"  # Deny: ask for the reason first
    REFUSED = "refused"  # not allowed: the clicker is told why
    STALE = "stale"  # the request moved on: the clicker is told what happened


@dataclass(frozen=True)
class ClickResult:
    """The outcome of a click and the sentence for the clicker (shown only to them)."""

    answer: ClickAnswer
    text: str
    record: RequestRecord | None = None


class Approvals:
    """Turns verified clicks into recorded approvals and decisions, with one conditional write each."""

    def __init__(
        self,
        clusters: ClusterDirectory,
        store: RequestStore,
        decisions: JobQueue,
        directory: SlackDirectory,
        notifier: Notifier,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._clusters = clusters
        self._store = store
        self._decisions = decisions
        self._directory = directory
        self._redraw = MessageRedraw(notifier, store, audit, clock)
        self._audit = audit
        self._clock = clock

    def click(self, request_id: str, decision: Decision, clicker_id: str, message: MessageRef | None) -> ClickResult:
        """An Approve or Deny click on a request's message, or (`message` None) on the clicker's App Home, a view
        only csrgate publishes."""
        checked = self._checked(request_id, clicker_id, message)
        if isinstance(checked, ClickResult):
            return checked
        record, cluster, clicker = checked
        if decision is Outcome.DENY:
            return ClickResult(ClickAnswer.ASK_REASON, "Why deny it? The requester will see your reason.", record)
        return self._approve(record, cluster, clicker)

    def deny(self, request_id: str, clicker_id: str, message: MessageRef | None, reason: str) -> ClickResult:
        """The Deny dialog was submitted with a reason."""
        checked = self._checked(request_id, clicker_id, message)
        if isinstance(checked, ClickResult):
            return checked
        record, _, clicker = checked
        reason = " ".join(reason.split())[:MAX_REASON_CHARS]
        if not reason:
            return ClickResult(ClickAnswer.REFUSED, "A denial needs a reason the requester can act on.", record)
        now = self._clock()
        event = AuditEvent.about(
            record,
            "csr.denied",
            clicker.label,
            now,
            slack_user=clicker.slack_id,
            slack_name=clicker.name,
            reason=reason,
            seconds_to_decision=_seconds_since(record.received_at, now),
        )
        changes = {"decided_by": clicker.label, "decided_at": now, "decision_reason": reason}
        return self._decide(record, State.DENIED, event, changes, Outcome.DENY, f"denied by {clicker.label}")

    # --- steps ------------------------------------------------------------------------------------------

    def _checked(
        self, request_id: str, clicker_id: str, message: MessageRef | None
    ) -> tuple[RequestRecord, ClusterConfig, SlackUser] | ClickResult:
        record = self._store.get(request_id)
        if record is None:
            return self._refused(None, clicker_id, "unknown request", "csrgate knows no such request.")
        if message is not None and record.slack_message is None and record.state is State.AWAITING_REVIEW:
            # posted, and not yet saved: which message is the request's is known a moment later
            return ClickResult(ClickAnswer.STALE, "csrgate is still posting this request: click again in a moment.")
        if message is not None and record.slack_message != message:
            return self._refused(
                record, clicker_id, "not the request's message", "This button is not on the request's message."
            )
        cluster = self._clusters.get(record.cluster)
        if cluster is None:
            return self._refused(
                record,
                clicker_id,
                "cluster no longer configured",
                f"Cluster {record.cluster} is no longer configured in csrgate.",
            )
        if record.state is not State.AWAITING_REVIEW:
            return ClickResult(ClickAnswer.STALE, self._what_happened(record), record)
        if cluster.observing:  # posted before csrgate was switched to observe: decided by the cluster's own approver
            return self._refused(
                record,
                clicker_id,
                "cluster observed",
                f"csrgate only observes {cluster.name} now and decides nothing there: decide it in the cluster.",
            )
        clicker = self._directory.user(clicker_id)
        if not may_approve(cluster, clicker_id, self._directory):
            return self._refused(
                record, clicker_id, "not an approver", f"You are not an approver for {cluster.name}.", clicker
            )
        if _is_requester(record, clicker, cluster):
            return self._refused(
                record, clicker_id, "self-approval", "You cannot decide on your own certificate request.", clicker
            )
        return record, cluster, clicker

    def _approve(self, record: RequestRecord, cluster: ClusterConfig, clicker: SlackUser) -> ClickResult:
        if any(approval.slack_id == clicker.slack_id for approval in record.approvals):
            return ClickResult(ClickAnswer.REFUSED, "You have already approved this request.", record)
        now = self._clock()
        approval = Approval(clicker.slack_id, clicker.name, now)
        event = AuditEvent.about(
            record,
            "csr.approval_recorded",
            clicker.label,
            now,
            slack_user=clicker.slack_id,
            slack_name=clicker.name,
            approvals=len(record.approvals) + 1,
            approvals_needed=record.approvals_needed,
        )
        try:
            self._store.add_approval(record, approval, event)
        except Conflict:
            return self._stale_after_race(record.request_id)
        self._audit.write(event)
        # Decide on the stored approvals, not on our copy: two approvers clicking at once must see each other.
        # Another click (or the sweeper) may have decided it between our approval and this read: tell who was first.
        record = self._store.get(record.request_id) or record
        if record.state is not State.AWAITING_REVIEW:
            return ClickResult(ClickAnswer.STALE, self._what_happened(record), record)
        counted = self._counted(record, cluster, clicker)
        if len(counted) < record.approvals_needed:
            left = record.approvals_needed - len(counted)
            lapsed = [a.name for a in record.approvals if a not in counted]
            note = f" No longer counted: {', '.join(lapsed)}, who may no longer approve." if lapsed else ""
            as_counted = replace(record, approvals=counted)  # the message shows the approvals that count
            self._redraw.show(as_counted)
            return ClickResult(ClickAnswer.RECORDED, f"Approval recorded; {left} more needed.{note}", as_counted)
        approvers = ", ".join(f"{a.name} ({a.slack_id})" for a in counted)
        decided = AuditEvent.about(
            record,
            "csr.approved",
            clicker.label,
            now,
            slack_user=clicker.slack_id,
            slack_name=clicker.name,
            approvers=approvers,
            seconds_to_decision=_seconds_since(record.received_at, now),
        )
        changes = {"decided_by": approvers, "decided_at": now, "decision_reason": "approved in Slack"}
        return self._decide(record, State.APPROVED, decided, changes, Outcome.APPROVE, f"approved by {approvers}")

    def _decide(
        self,
        record: RequestRecord,
        state: State,
        event: AuditEvent,
        changes: dict[str, object],
        decision: Decision,
        summary: str,
    ) -> ClickResult:
        try:
            record = self._store.transition(record, state, event, changes)
        except Conflict:
            return self._stale_after_race(record.request_id)
        self._audit.write(event)
        self._decisions.enqueue(ApplyDecision(record.request_id))
        queued = AuditEvent.about(record, "csr.decision_queued", event.actor, self._clock(), decision=decision.value)
        record = self._store.mark_decision_queued(record, queued)
        self._audit.write(queued)
        self._redraw.show(record)
        return ClickResult(ClickAnswer.DECIDED, f"Done: {summary}. csrgate is applying it in {record.cluster}.", record)

    def _stale_after_race(self, request_id: str) -> ClickResult:
        current = self._store.get(request_id)
        text = self._what_happened(current) if current else "csrgate knows no such request."
        return ClickResult(ClickAnswer.STALE, text, current)

    def _what_happened(self, record: RequestRecord) -> str:
        when = _ago(record.decided_at, self._clock()) if record.decided_at else ""
        by = f" by {record.decided_by}" if record.decided_by else ""
        return {
            State.APPROVED: f"Already approved{by}{when}.",
            State.DENIED: f"Already denied{by}{when}.",
            State.ISSUED: f"Already approved{by}{when}; the certificate is issued.",
            State.DELIVERED: f"Already approved{by}{when}; the certificate was delivered.",
            State.WITHDRAWN: "This CSR was deleted in the cluster.",
            State.EXPIRED: "This request expired before anyone decided.",
            State.DECIDED_ELSEWHERE: "This CSR was decided in the cluster, outside csrgate.",
            State.FAILED: "This request failed; see the message for why.",
        }.get(record.state, f"This request is {record.state.value.replace('_', ' ')}.")

    def _counted(self, record: RequestRecord, cluster: ClusterConfig, clicker: SlackUser) -> tuple[Approval, ...]:
        """The stored approvals that still count; each approval that lapsed is audited."""
        counted, lapsed = still_counted(record.approvals, cluster, clicker.slack_id, self._directory)
        now = self._clock()
        for approval in lapsed:
            event = AuditEvent.about(
                record,
                "csr.approval_lapsed",
                clicker.label,
                now,
                slack_user=approval.slack_id,
                slack_name=approval.name,
                reason=f"no longer an approver for {cluster.name}",
            )
            self._store.add_event(event)
            self._audit.write(event)
        return counted

    def _refused(
        self, record: RequestRecord | None, clicker_id: str, reason: str, text: str, clicker: SlackUser | None = None
    ) -> ClickResult:
        now = self._clock()
        details = {"slack_user": clicker_id, "slack_name": clicker.name if clicker else None, "reason": reason}
        if record is not None:
            event = AuditEvent.about(
                record, "slack.request_rejected", clicker.label if clicker else clicker_id, now, **details
            )
            self._store.add_event(event)
        else:
            event = AuditEvent("slack.request_rejected", "", "", "", "", clicker_id, now, details)
        self._audit.write(event)
        return ClickResult(ClickAnswer.REFUSED, text, record)


def still_counted(
    approvals: tuple[Approval, ...], cluster: ClusterConfig, clicker_id: str, directory: SlackDirectory
) -> tuple[tuple[Approval, ...], tuple[Approval, ...]]:
    """The stored approvals of people who may still approve, and those that lapsed: someone removed from the
    approvers (or from an approver group) since they clicked no longer counts. The clicker was just checked."""
    counted = tuple(a for a in approvals if a.slack_id == clicker_id or may_approve(cluster, a.slack_id, directory))
    return counted, tuple(a for a in approvals if a not in counted)


def may_approve(cluster: ClusterConfig, slack_id: str, directory: SlackDirectory) -> bool:
    """Whether the Slack user is one of the cluster's approvers, by name or through an approver group."""
    if slack_id in cluster.approvers.users:
        return True
    return any(slack_id in directory.group_members(group) for group in cluster.approvers.groups)


def _is_requester(record: RequestRecord, clicker: SlackUser, cluster: ClusterConfig) -> bool:
    """Whether the clicker is the requesting user or the certificate's subject, as far as Slack can tell.

    Names are compared loosely on purpose (case, an `oidc:`-style prefix, an email's domain): refusing a
    colleague who shares a name is a small cost; letting someone approve their own certificate is not.
    """
    if clicker.slack_id in (record.asker_slack_id, record.holder_slack_id):
        return True  # asked for it in Slack, or renews a certificate delivered to them: exactly them, whatever names
    username, common_name = record.request.username, record.request.common_name
    # record.requester_email is the annotation only when the cluster's mapping vouched for it: an email anyone
    # could write into a CSR must not lock its owner out of approving.
    claimed = [username, common_name, record.requester_email]
    claimed += [linked_email(name, cluster) for name in (username, common_name) if isinstance(name, str)]
    claimed_names = {name for value in claimed if isinstance(value, str) and value for name in names_of(value)}
    mine = {_normal(clicker.slack_id), *names_of(clicker.name), *(names_of(clicker.email) if clicker.email else ())}
    return bool(claimed_names & mine)


def names_of(identity: str) -> set[str]:
    """An identity and the shorter names it may go by: 'oidc:Alice@Example.com' -> itself, alice@example.com, alice;
    'https://issuer#alice', an ARN's '.../alice' and 'alice+k8s@example.com' -> alice too."""
    full = _normal(identity)
    last = re.split(r"[:#/]", full)[-1]  # after an OIDC prefix or issuer, an ARN's path
    local, at, domain = last.partition("@")
    unaliased = local.split("+", 1)[0]
    names = {full, last, local, unaliased, f"{unaliased}{at}{domain}"}
    return {name for name in names if name and name != "@"}


def _seconds_since(start: datetime, now: datetime) -> int:
    return int((now - start).total_seconds())


def _normal(name: str) -> str:
    return name.strip().casefold()


def _ago(at: datetime, now: datetime) -> str:
    minutes = int((now - at).total_seconds() // 60)
    if minutes < 1:
        return " just now"
    if minutes < 120:
        return f" {minutes} minute{'s' if minutes != 1 else ''} ago"
    return f" {minutes // 60} hours ago"
