"""What csrgate tells people about a grant: its message in the cluster's channel (the words and its buttons, not how
Slack draws them) and the requester's direct messages. The reason and names are someone's text: drawn literally.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from csrgate.domain.asks import file_safe
from csrgate.domain.grants import Grant, GrantState
from csrgate.domain.messages import Fact
from csrgate.domain.records import Actor

_TIME = "%Y-%m-%d %H:%M UTC"


class GrantButton(StrEnum):
    """The buttons a grant's messages carry."""

    APPROVE = "approve"
    DENY = "deny"
    REVOKE = "revoke"  # on the channel message while access may exist: for the requester and the approvers
    EXTEND = "extend"  # in the requester's reminder: a new grant through the same approval


@dataclass(frozen=True)
class GrantMessage:
    """A grant's message in the cluster's channel, as it stands."""

    grant_id: str
    headline: str
    facts: tuple[Fact, ...]
    buttons: tuple[GrantButton, ...]
    approvals_needed: int
    privileged: bool


_HEADLINES = {
    GrantState.AWAITING_REVIEW: "needs review",
    GrantState.APPROVED: "approved: binding it",
    GrantState.ACTIVE: "granted",
    GrantState.ENDING: "ending: removing it",
    GrantState.ENDED: "ended",
    GrantState.DENIED: "denied",
    GrantState.EXPIRED: "expired: nobody decided",
    GrantState.FAILED: "not granted",
}


def grant_message(grant: Grant) -> GrantMessage:
    """The grant's channel message: a review with Approve and Deny, then what became of it, with Revoke while access
    may exist."""
    facts = [
        Fact("Requested in Slack by", f"{grant.asker}, verified by Slack"),
        Fact("Access", f"{grant.role} (ClusterRole {grant.cluster_role}), {_where(grant)}"),
        Fact("Kubernetes user", grant.username),
        Fact("For", grant.duration),
        Fact("Reason", grant.reason),
    ]
    if grant.extends:
        facts.append(Fact("Extends", f"grant {grant.extends}"))
    if grant.state is GrantState.AWAITING_REVIEW:
        privileged = " (privileged role)" if grant.privileged else ""
        facts.append(Fact("Needs", f"{grant.approvals_needed} approval{_s(grant.approvals_needed)}{privileged}"))
        if grant.approvals:
            names = ", ".join(approval.name for approval in grant.approvals)
            facts.append(Fact("Approved so far", f"{len(grant.approvals)} of {grant.approvals_needed}: {names}"))
    if grant.decided_by:
        verb = "Denied by" if grant.state is GrantState.DENIED else "Approved by"
        facts.append(Fact(verb, grant.decided_by))
    if grant.state is GrantState.DENIED and grant.decision_reason:
        facts.append(Fact("Why", grant.decision_reason))
    if grant.starts_at and grant.ends_at:
        facts.append(Fact("From", f"{grant.starts_at.strftime(_TIME)} until {grant.ends_at.strftime(_TIME)}"))
    if grant.ended_by:
        facts.append(Fact("Ended", f"{grant.ended_at.strftime(_TIME) if grant.ended_at else ''} by {grant.ended_by}"))
    if grant.note:
        facts.append(Fact("Note", grant.note))
    buttons: tuple[GrantButton, ...] = ()
    if grant.state is GrantState.AWAITING_REVIEW:
        buttons = (GrantButton.APPROVE, GrantButton.DENY)
    elif grant.state in (GrantState.APPROVED, GrantState.ACTIVE):
        buttons = (GrantButton.REVOKE,)
    return GrantMessage(
        grant_id=grant.grant_id,
        headline=f"Access {grant.what} for {grant.username}: {_HEADLINES[grant.state]}",
        facts=tuple(facts),
        buttons=buttons,
        approvals_needed=grant.approvals_needed,
        privileged=grant.privileged,
    )


def granted_text(grant: Grant, kubeconfig: str | None = None, profile: str | None = None) -> str:
    """The requester's direct message once the binding exists; with the kubeconfig's file name when the person adds
    their own credentials to it (elsewhere than EKS, whose kubeconfig signs in with IAM: through `profile`, the AWS
    profile section that assumes the people's role with the grant's session name, when the cluster names one)."""
    until = grant.ends_at.strftime(_TIME) if grant.ends_at else "its end"
    text = (
        f"You have {grant.role} (ClusterRole {grant.cluster_role}) {_where(grant)} on {grant.cluster} as "
        f"{grant.username}, until {until}; csrgate removes it then. Approved by {grant.decided_by}.\n"
    )
    if kubeconfig is None and profile:
        return text + (
            f"The attached kubeconfig signs you in with `aws eks get-token`, as session {grant.session_name} of the "
            "role below. Add this profile to ~/.aws/config once (source_profile: the profile you sign in to AWS "
            f"with, which must be allowed to assume the role):\n```\n{profile}```"
        )
    if kubeconfig is None:
        return text + "The attached kubeconfig signs you in with `aws eks get-token`."
    user = shlex.quote(grant.username)
    return text + (
        "The attached kubeconfig points at the cluster; add the credentials you sign in with, such as your client "
        f"certificate:\n`kubectl --kubeconfig {shlex.quote(kubeconfig)} config set-credentials {user} "
        f"--client-certificate={file_safe(grant.username)}.crt --client-key={file_safe(grant.username)}.key "
        "--embed-certs=true`"
    )


def denied_text(grant: Grant) -> str:
    """The requester's direct message when an approver denied the grant."""
    return f"Your request for {grant.what} was denied by {grant.decided_by}: {grant.decision_reason}"


def ended_text(grant: Grant) -> str:
    """The requester's direct message once the binding is gone."""
    if grant.ended_by and grant.ended_by != Actor.SERVICE:
        return f"Your access {grant.what} was revoked by {grant.ended_by}; the binding is removed."
    return f"Your access {grant.what} has ended; the binding is removed. Ask again with /csrgate access."


def failed_text(grant: Grant) -> str:
    """The requester's direct message when the access could not be granted (what the cluster said stays in the
    audit trail)."""
    return f"Your access {grant.what} was approved but could not be granted; the cluster's administrators can see why."


def extension_text(grant: Grant, now: datetime) -> str:
    """The reminder before a grant ends, above its Extend button."""
    minutes = max(0, int(((grant.ends_at or now) - now).total_seconds() // 60))
    return (
        f"Your access {grant.what} ends in {minutes} minute{_s(minutes)}. Extend asks the approvers again for "
        f"another {grant.duration}."
    )


def _where(grant: Grant) -> str:
    return f"in namespace {grant.namespace}" if grant.namespace else "in the whole cluster"


def _s(count: int) -> str:
    return "" if count == 1 else "s"
