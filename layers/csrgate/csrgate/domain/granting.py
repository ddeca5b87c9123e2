"""Access asked for and decided in Slack: the form checked and recorded, approvals and denials, Revoke and Extend.

Each step is one conditional write and, where something must happen in the cluster or the channel, a job for the
worker: nothing here talks to a cluster, so the interactions function answers within Slack's three seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from csrgate.domain.approvals import (
    ClickAnswer,
    ClickResult,
    may_approve,
    names_of,
    still_counted,
)
from csrgate.domain.asks import CLUSTER, REASON
from csrgate.domain.cluster import AccessRole, ClusterConfig, ClusterIdentity, PersonNaming
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.grant_messages import GrantButton, grant_message
from csrgate.domain.grants import (
    DURATION,
    LIVE,
    NAMESPACE,
    ROLE,
    Grant,
    GrantForm,
    GrantState,
    grant_event,
    namespace_offered,
)
from csrgate.domain.identity import identify
from csrgate.domain.jobs import ApplyGrant, EndGrant, PostGrant
from csrgate.domain.limits import AskingLimit
from csrgate.domain.ports import (
    AskQuota,
    AuditLog,
    Clock,
    ClusterDirectory,
    Conflict,
    GrantStore,
    JobQueue,
    Notifier,
    SlackDirectory,
)
from csrgate.domain.records import Actor, Approval, AuditEvent, MessageRef, SlackUser
from csrgate.domain.summary import describe_lifetime

MAX_REASON_CHARS = 500
MAX_GRANTS_PER_HOUR = 5  # each is a message to the cluster's approvers
# A grant's extension has an id of its own derived from the grant's, so a grant is extended once even when Extend is
# clicked twice at once: the second click's create finds the id taken.
_EXTENSIONS = uuid.UUID("2b7e5a41-93c8-5d0f-8a61-4c2e9b7d3f10")
_TIME = "%H:%M UTC"


class Granting:
    """Grants asked for, decided, revoked and extended in Slack."""

    def __init__(
        self,
        clusters: ClusterDirectory,
        grants: GrantStore,
        quota: AskQuota,
        jobs: JobQueue,
        people: SlackDirectory,
        notifier: Notifier,
        audit: AuditLog,
        clock: Clock,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._clusters = clusters
        self._grants = grants
        self._limit = AskingLimit(quota, "grants", MAX_GRANTS_PER_HOUR)
        self._jobs = jobs
        self._people = people
        self._notifier = notifier
        self._audit = audit
        self._clock = clock
        self._new_id = new_id

    def offered(self) -> tuple[ClusterConfig, ...]:
        """The clusters that offer access."""
        return tuple(cluster for cluster in self._clusters.all() if cluster.access is not None)

    def submit(self, slack_user: str, form: GrantForm) -> Grant | dict[str, str]:
        """The recorded grant, queued for its review message, or the form's inline errors by block id."""
        cluster = self._clusters.get(form.cluster)
        if cluster is None or cluster.access is None:
            return {CLUSTER: "Pick one of the clusters listed."}
        asker = self._people.user(slack_user)
        identity = identify(asker.email, cluster.access, cluster)
        if isinstance(identity, str):
            return {CLUSTER: identity}
        errors: dict[str, str] = {}
        role = cluster.access.role(form.role)
        namespace = form.namespace.strip()
        if role is None:
            errors[ROLE] = "Pick one of the roles listed."
        elif role.scope == "cluster" and namespace:
            errors[NAMESPACE] = f"{role.name} is cluster-wide: leave the namespace empty."
        elif role.scope == "namespace" and not namespace_offered(namespace, cluster.access.namespaces):
            offered = ", ".join(cluster.access.namespaces)
            errors[NAMESPACE] = f"{cluster.name} offers access in these namespaces only: {offered}."
        seconds = _seconds(form.duration)
        if role is not None and seconds not in cluster.access.durations_for(role):
            errors[DURATION] = f"Pick one of the durations listed: {role.name} is offered for {role.max_duration}."
        reason = _one_line(form.reason)
        if not reason:
            errors[REASON] = "Say why you need it: the approvers read it."
        elif len(reason) > MAX_REASON_CHARS:
            errors[REASON] = f"Keep the reason under {MAX_REASON_CHARS} characters."
        if errors or role is None:
            return errors
        made = self._record(cluster, role, namespace or None, seconds, reason, asker, identity)
        return made if made is not None else {REASON: self._limit.refusal}

    def extend(self, grant_id: str, clicker_id: str) -> str:
        """Extend, clicked in the requester's reminder: the same access asked for again, through the same approval.
        What the clicker is told."""
        grant = self._grants.get(grant_id)
        if grant is None or grant.slack_user != clicker_id:
            return "csrgate knows no such access of yours."
        if grant.state not in LIVE:
            return f"This access is {grant.state.value.replace('_', ' ')}: ask again with /csrgate access."
        if self._grants.get(_extension_id(grant.grant_id)) is not None:
            return _EXTENDED_ALREADY
        cluster = self._clusters.get(grant.cluster)
        role = offered_role(grant, cluster)
        if isinstance(role, str) or cluster is None or cluster.access is None:
            return f"{role}: ask again with /csrgate access."
        asker = self._people.user(clicker_id)
        identity = identify(asker.email, cluster.access, cluster)
        if isinstance(identity, str):
            return identity
        seconds = min(grant.duration_seconds, role.max_seconds)
        try:
            made = self._record(
                cluster, role, grant.namespace, seconds, grant.reason, asker, identity, extends=grant.grant_id
            )
        except Conflict:  # clicked twice at once: the other click asked
            return _EXTENDED_ALREADY
        if made is None:
            return self._limit.refusal
        more = describe_lifetime(made.duration_seconds)
        return f"Asked to extend it by {more}: the approvers of {cluster.name} have it."

    def click(self, grant_id: str, button: GrantButton, clicker_id: str, message: MessageRef | None) -> ClickResult:
        """Approve, Deny or Revoke on the grant's channel message (or, `message` None, on the clicker's App Home)."""
        if button is GrantButton.REVOKE:
            return self._revoke(grant_id, clicker_id, message)
        checked = self._checked(grant_id, clicker_id, message)
        if isinstance(checked, ClickResult):
            return checked
        grant, cluster, clicker = checked
        if button is GrantButton.DENY:
            return ClickResult(ClickAnswer.ASK_REASON, "Why deny it? The requester will see your reason.")
        if button is not GrantButton.APPROVE:  # Extend is the requester's (see extend): only Approve approves
            return self._refused(grant, clicker_id, "not a decision", "This button does not decide on a request.")
        return self._approve(grant, cluster, clicker)

    def deny(self, grant_id: str, clicker_id: str, message: MessageRef | None, reason: str) -> ClickResult:
        """The Deny dialog was submitted with a reason."""
        checked = self._checked(grant_id, clicker_id, message)
        if isinstance(checked, ClickResult):
            return checked
        grant, _, clicker = checked
        reason = _one_line(reason)[:MAX_REASON_CHARS]
        if not reason:
            return ClickResult(ClickAnswer.REFUSED, "A denial needs a reason the requester can act on.")
        now = self._clock()
        event = grant_event(grant, "grant.denied", clicker.label, now, reason=reason, **_decider(clicker))
        changes = {"decided_by": clicker.label, "decided_at": now, "decision_reason": reason}
        return self._decide(grant, GrantState.DENIED, event, changes, f"denied by {clicker.label}")

    # --- steps ------------------------------------------------------------------------------------------

    def _record(
        self,
        cluster: ClusterConfig,
        role: AccessRole,
        namespace: str | None,
        seconds: int,
        reason: str,
        asker: SlackUser,
        identity: ClusterIdentity,
        extends: str | None = None,
    ) -> Grant | None:
        """The grant recorded and queued for its review message; None when the asker has no place left."""
        grant = Grant(
            grant_id=_extension_id(extends) if extends else self._new_id(),
            cluster=cluster.name,
            role=role.name,
            cluster_role=role.cluster_role,
            namespace=namespace,
            username=identity.username,
            slack_user=asker.slack_id,
            slack_name=asker.name,
            email=asker.email or "",
            duration_seconds=seconds,
            reason=reason,
            asked_at=self._clock(),
            approvals_needed=cluster.grant_approvals(role),
            privileged=role.is_privileged,
            extends=extends,
            session_name=identity.session_name,
        )
        details: dict[str, object] = {"duration_seconds": seconds, "reason": reason}
        if extends:
            details["extends"] = extends
        if identity.session_name is not None:  # the name CloudTrail shows for what the person does in AWS
            details["session_name"] = identity.session_name
        event = grant_event(grant, "grant.requested", asker.label, grant.asked_at, **details)
        if not self._limit.recorded(
            asker.slack_id, grant.grant_id, grant.asked_at, lambda: self._grants.create(grant, event)
        ):
            return None
        self._audit.write(event)
        self._jobs.enqueue(PostGrant(grant.grant_id))
        return grant

    def _checked(
        self, grant_id: str, clicker_id: str, message: MessageRef | None
    ) -> tuple[Grant, ClusterConfig, SlackUser] | ClickResult:
        grant = self._grants.get(grant_id)
        if grant is None:
            return self._refused(None, clicker_id, "unknown grant", "csrgate knows no such request.")
        if message is not None and grant.slack_message is None and grant.state is GrantState.AWAITING_REVIEW:
            return ClickResult(ClickAnswer.STALE, "csrgate is still posting this request: click again in a moment.")
        if message is not None and grant.slack_message != message:
            return self._refused(
                grant, clicker_id, "not the grant's message", "This button is not on the request's message."
            )
        cluster = self._clusters.get(grant.cluster)
        if cluster is None or cluster.access is None:
            return self._refused(
                grant, clicker_id, "cluster no longer offers access", f"{grant.cluster} no longer offers access."
            )
        if grant.state is not GrantState.AWAITING_REVIEW:
            return ClickResult(ClickAnswer.STALE, _what_happened(grant))
        if not may_approve(cluster, clicker_id, self._people):
            return self._refused(grant, clicker_id, "not an approver", f"You are not an approver for {cluster.name}.")
        clicker = self._people.user(clicker_id)  # only an approver's: anyone else is refused without asking Slack
        if _is_requester(grant, clicker, cluster.access):
            return self._refused(grant, clicker_id, "self-approval", "You cannot decide on your own access request.")
        return grant, cluster, clicker

    def _approve(self, grant: Grant, cluster: ClusterConfig, clicker: SlackUser) -> ClickResult:
        if any(approval.slack_id == clicker.slack_id for approval in grant.approvals):
            return ClickResult(ClickAnswer.REFUSED, "You have already approved this request.")
        now = self._clock()
        event = grant_event(
            grant,
            "grant.approval_recorded",
            clicker.label,
            now,
            approvals=len(grant.approvals) + 1,
            approvals_needed=grant.approvals_needed,
            **_decider(clicker),
        )
        try:
            self._grants.add_approval(grant, Approval(clicker.slack_id, clicker.name, now), event)
        except Conflict:
            return self._stale(grant.grant_id)
        self._audit.write(event)
        # decide on the stored approvals: two approvers clicking at once must see each other
        grant = self._grants.get(grant.grant_id) or grant
        if grant.state is not GrantState.AWAITING_REVIEW:
            return ClickResult(ClickAnswer.STALE, _what_happened(grant))
        counted, lapsed = still_counted(grant.approvals, cluster, clicker.slack_id, self._people)
        for approval in lapsed:
            self._record_event(
                grant_event(
                    grant,
                    "grant.approval_lapsed",
                    clicker.label,
                    now,
                    approver=f"{approval.name} ({approval.slack_id})",
                    reason=f"no longer an approver for {cluster.name}",
                )
            )
        if len(counted) < grant.approvals_needed:
            shown = replace(grant, approvals=counted)
            self._redraw(shown)
            left = grant.approvals_needed - len(counted)
            return ClickResult(ClickAnswer.RECORDED, f"Approval recorded; {left} more needed.")
        approvers = ", ".join(f"{a.name} ({a.slack_id})" for a in counted)
        decided = grant_event(grant, "grant.approved", clicker.label, now, approvers=approvers, **_decider(clicker))
        changes = {"decided_by": approvers, "decided_at": now, "decision_reason": "approved in Slack"}
        return self._decide(grant, GrantState.APPROVED, decided, changes, f"approved by {approvers}")

    def _decide(
        self, grant: Grant, state: GrantState, event: AuditEvent, changes: dict[str, object], summary: str
    ) -> ClickResult:
        try:
            grant = self._grants.move(grant, state, event, changes)
        except Conflict:
            return self._stale(grant.grant_id)
        self._audit.write(event)
        # stored as the worker's to do (the sweeper queues it again if this send is lost)
        self._jobs.enqueue(ApplyGrant(grant.grant_id))
        self._redraw(grant)
        doing = "granting it" if state is GrantState.APPROVED else "telling the requester"
        return ClickResult(ClickAnswer.DECIDED, f"Done: {summary}. csrgate is {doing}.")

    def _revoke(self, grant_id: str, clicker_id: str, message: MessageRef | None) -> ClickResult:
        grant = self._grants.get(grant_id)
        if grant is None:
            return self._refused(None, clicker_id, "unknown grant", "csrgate knows no such access.")
        if message is not None and grant.slack_message != message:
            return self._refused(grant, clicker_id, "not the grant's message", "This button is not on its message.")
        cluster = self._clusters.get(grant.cluster)
        is_approver = cluster is not None and may_approve(cluster, clicker_id, self._people)
        if clicker_id != grant.slack_user and not is_approver:
            return self._refused(
                grant, clicker_id, "not an approver", "Only the requester and the approvers may revoke access."
            )
        if grant.state not in LIVE:
            return ClickResult(ClickAnswer.STALE, _what_happened(grant))
        clicker = self._people.user(clicker_id)
        now = self._clock()
        event = grant_event(grant, "grant.revoked", clicker.label, now, **_decider(clicker))
        try:
            grant = self._grants.move(grant, GrantState.ENDING, event, {"ended_by": clicker.label, "ended_at": now})
        except Conflict:
            return self._stale(grant_id)
        self._audit.write(event)
        self._jobs.enqueue(EndGrant(grant.grant_id))
        self._redraw(grant)
        self._revoke_extended(grant, clicker, now)
        return ClickResult(ClickAnswer.DECIDED, f"Revoked: csrgate is removing the binding in {grant.cluster}.")

    def _revoke_extended(self, grant: Grant, clicker: SlackUser, now: datetime) -> None:
        """An extension is the same access under a binding of its own: a Revoke ends the grants it extends and that
        extend it too, revoked while they are live and denied while they await review."""
        seen, linked = {grant.grant_id}, [grant.extends, _extension_id(grant.grant_id)]
        while linked:
            grant_id = linked.pop()
            other = self._grants.get(grant_id) if grant_id and grant_id not in seen else None
            if other is None:
                continue
            seen.add(other.grant_id)
            linked += [other.extends, _extension_id(other.grant_id)]
            for _ in range(3):  # an approval landing meanwhile is seen on the next read, and its access ended
                job: ApplyGrant | EndGrant
                if other.state is GrantState.AWAITING_REVIEW:
                    reason = f"the access it extends was revoked by {clicker.label}"
                    event = grant_event(other, "grant.denied", clicker.label, now, reason=reason, **_decider(clicker))
                    changes = {"decided_by": clicker.label, "decided_at": now, "decision_reason": reason}
                    state, job = GrantState.DENIED, ApplyGrant(other.grant_id)
                elif other.state in LIVE:
                    event = grant_event(other, "grant.revoked", clicker.label, now, **_decider(clicker))
                    changes = {"ended_by": clicker.label, "ended_at": now}
                    state, job = GrantState.ENDING, EndGrant(other.grant_id)
                else:
                    break
                try:
                    moved = self._grants.move(other, state, event, changes)
                except Conflict:
                    other = self._grants.get(other.grant_id) or other
                    continue
                self._audit.write(event)
                self._jobs.enqueue(job)
                self._redraw(moved)
                break

    def _redraw(self, grant: Grant) -> None:
        """Redraw the grant's channel message; Slack trouble is recorded, and the worker redraws it again."""
        if grant.slack_message is None:
            return
        try:
            self._notifier.update_grant(grant.slack_message, grant_message(grant))
        except (RetryLater, PermanentFailure) as exc:
            self._audit.write(grant_event(grant, "slack.update_failed", Actor.SERVICE, self._clock(), reason=str(exc)))

    def _stale(self, grant_id: str) -> ClickResult:
        current = self._grants.get(grant_id)
        return ClickResult(ClickAnswer.STALE, _what_happened(current) if current else "csrgate knows no such request.")

    def _refused(self, grant: Grant | None, clicker_id: str, reason: str, text: str) -> ClickResult:
        now = self._clock()
        details = {"slack_user": clicker_id, "reason": reason}
        if grant is None:
            self._audit.write(AuditEvent("slack.request_rejected", "", "", "", "", clicker_id, now, details))
        else:
            self._record_event(grant_event(grant, "slack.request_rejected", clicker_id, now, **details))
        return ClickResult(ClickAnswer.REFUSED, text)

    def _record_event(self, event: AuditEvent) -> None:
        self._grants.add_event(event)
        self._audit.write(event)


def _what_happened(grant: Grant) -> str:
    by = f" by {grant.decided_by}" if grant.decided_by else ""
    until = f", until {grant.ends_at.strftime(_TIME)}" if grant.ends_at else ""
    return {
        GrantState.APPROVED: f"Already approved{by}; csrgate is granting it.",
        GrantState.ACTIVE: f"Already granted{by}{until}.",
        GrantState.ENDING: f"This access was ended by {grant.ended_by}; csrgate is removing it.",
        GrantState.ENDED: f"This access has ended ({grant.ended_by}).",
        GrantState.DENIED: f"Already denied{by}.",
        GrantState.EXPIRED: "This request expired before anyone decided.",
        GrantState.FAILED: "This access could not be granted; see the message for why.",
    }.get(grant.state, f"This request is {grant.state.value.replace('_', ' ')}.")


_EXTENDED_ALREADY = "You asked to extend it already: the approvers have your request."


def offered_role(grant: Grant, cluster: ClusterConfig | None) -> AccessRole | str:
    """The role a grant binds while its cluster still offers it as it was asked for (the same ClusterRole, cluster-wide
    or in that namespace), else why not: the configuration may change between a request, its binding and Extend."""
    if cluster is None or cluster.access is None:
        return f"{grant.cluster} no longer offers access"
    role = cluster.access.role(grant.role)
    if role is None or role.cluster_role != grant.cluster_role:
        return f"{grant.cluster} no longer offers {grant.role} as ClusterRole {grant.cluster_role}"
    if (grant.namespace is None) != (role.scope == "cluster"):
        where = "cluster-wide" if grant.namespace is None else "in a namespace"
        return f"{grant.cluster} no longer offers {grant.role} {where}"
    if grant.namespace is not None and not namespace_offered(grant.namespace, cluster.access.namespaces):
        return f"{grant.cluster} no longer offers access in {grant.namespace}"
    return role


def _is_requester(grant: Grant, clicker: SlackUser, naming: PersonNaming) -> bool:
    """Whether the clicker asked for the grant, or is the Kubernetes user it binds (the user their own Slack email is on
    the cluster): access for oneself is one's own request, whichever Slack account asked for it.

    Names are compared loosely, as for certificate requests (csrgate.domain.approvals): a second Slack account of the
    requester's, with a plus-addressed alias of their mailbox, their name at another domain or their Slack name, is
    refused; refusing a colleague who shares a name is a small cost."""
    if clicker.slack_id == grant.slack_user:
        return True
    claimed = {name for value in (grant.username, grant.email, grant.slack_name) if value for name in names_of(value)}
    mine = names_of(clicker.name)
    if clicker.email:
        mine |= names_of(clicker.email) | names_of(naming.identity_for(clicker.email).username)
    return bool(claimed & mine)


def _extension_id(grant_id: str) -> str:
    return str(uuid.uuid5(_EXTENSIONS, grant_id))


def _decider(clicker: SlackUser) -> dict[str, str]:
    return {"slack_user": clicker.slack_id, "slack_name": clicker.name}


def _seconds(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else 0


def _one_line(text: str) -> str:
    return " ".join(text.encode("utf-8", errors="replace").decode("utf-8").split())


def mark_due(grant: Grant, grants: GrantStore, audit: AuditLog, now: datetime) -> Grant:
    """An active grant whose time is up, ending by csrgate's hand; as stored after (re-read when it moved meanwhile)."""
    ends_at = grant.ends_at.isoformat() if grant.ends_at else ""
    event = grant_event(grant, "grant.due", Actor.SERVICE, now, ends_at=ends_at)
    try:
        grant = grants.move(grant, GrantState.ENDING, event, {"ended_by": Actor.SERVICE, "ended_at": now})
    except Conflict:
        return grants.get(grant.grant_id) or grant
    audit.write(event)
    return grant
