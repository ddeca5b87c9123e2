"""What a person sees when they ask in Slack: the form's choices for them, where their certificate asks and access
grants stand, and the reviews waiting for their decision (their App Home). Light: the interactions function answers
with it within 3 seconds."""

from __future__ import annotations

from dataclasses import dataclass

from csrgate.domain.approvals import may_approve
from csrgate.domain.asks import (
    CLIENT_SIGNER,
    AskState,
    CertificateAsk,
    lifetime_choices,
    openssl_command,
    username_for,
)
from csrgate.domain.cluster import ClusterKind
from csrgate.domain.grants import Grant, GrantState
from csrgate.domain.messages import ReviewMessage, review_message
from csrgate.domain.ports import AskStore, Clock, ClusterDirectory, GrantStore, RequestStore, SlackDirectory
from csrgate.domain.summary import describe_lifetime

MAX_SHOWN_ASKS = 10


@dataclass(frozen=True)
class FormChoices:
    """What the certificate form offers one person."""

    clusters: tuple[str, ...]  # the clusters that let people ask, EKS ones included (asking there is explained)
    eks_clusters: tuple[str, ...]
    lifetimes: tuple[int, ...]
    commands: tuple[str, ...]  # the openssl line for each user name they would have


class SelfService:
    """Reads for the person asking: never changes anything."""

    def __init__(
        self,
        clusters: ClusterDirectory,
        store: RequestStore,
        asks: AskStore,
        grants: GrantStore,
        people: SlackDirectory,
        clock: Clock,
    ) -> None:
        self._clusters = clusters
        self._store = store
        self._asks = asks
        self._grants = grants
        self._people = people
        self._clock = clock

    def choices(self, slack_user: str) -> FormChoices:
        """The clusters, lifetimes and openssl lines the form offers this person."""
        offered = [cluster for cluster in self._clusters.all() if cluster.self_service is not None]
        email = self._people.user(slack_user).email
        lifetimes: set[int] = set()
        commands: list[str] = []
        for cluster in offered:
            rules = self._clusters.policy_for(cluster).rules_for(CLIENT_SIGNER)
            lifetimes.update(lifetime_choices(rules.max_expiration_seconds if rules else None))
            if email and cluster.self_service is not None and cluster.kind is not ClusterKind.EKS:
                username = username_for(cluster.self_service.username_template, email)
                commands.append(f"{cluster.name}: {openssl_command(username)}")
        return FormChoices(
            clusters=tuple(cluster.name for cluster in offered),
            eks_clusters=tuple(cluster.name for cluster in offered if cluster.kind is ClusterKind.EKS),
            lifetimes=tuple(sorted(lifetimes)),
            commands=tuple(commands) or ("csrgate cannot read your email in Slack: ask your Slack admin",),
        )

    def status(self, slack_user: str) -> list[str]:
        """One line per recent certificate ask and access grant, newest first: what, where, and where it stands."""
        asks = [(ask.asked_at, self._line(ask)) for ask in self._asks.by_asker(slack_user, MAX_SHOWN_ASKS)]
        grants = [(grant.asked_at, _grant_line(grant)) for grant in self._grants.by_asker(slack_user, MAX_SHOWN_ASKS)]
        return [line for _, line in sorted(asks + grants, key=lambda each: each[0], reverse=True)[:MAX_SHOWN_ASKS]]

    def waiting_for(self, slack_user: str) -> list[ReviewMessage]:
        """The reviews this person may decide, oldest first (not their own: those they may not decide)."""
        now = self._clock()
        waiting = []
        for record in self._store.pending_since(now):
            cluster = self._clusters.get(record.cluster)
            if cluster is None or record.asker_slack_id == slack_user:
                continue
            if may_approve(cluster, slack_user, self._people):
                waiting.append(review_message(record, now))
        return waiting

    def _line(self, ask: CertificateAsk) -> str:
        asked = ask.asked_at.strftime("%Y-%m-%d %H:%M UTC")
        what = f"{ask.csr_name} on {ask.cluster} for {ask.username}, {describe_lifetime(ask.expiration_seconds)}"
        return f"{asked}  {what}: {self._where(ask)}"

    def _where(self, ask: CertificateAsk) -> str:
        if ask.state is AskState.FAILED:
            return "failed: it could not be sent to the cluster (its administrators can see why)"
        if ask.state is AskState.ASKED:
            return "being created in the cluster"
        record = self._store.get(ask.request_id) if ask.request_id else None
        if record is None:
            return "created in the cluster, on its way to the approvers"
        note = f" ({record.outcome_note})" if record.outcome_note else ""
        return record.state.value.replace("_", " ") + note


_GRANT_STATES = {
    GrantState.AWAITING_REVIEW: "waiting for approval",
    GrantState.APPROVED: "approved, being granted",
    GrantState.ENDING: "ending",
    GrantState.DENIED: "denied",
    GrantState.EXPIRED: "expired: nobody decided",
    GrantState.FAILED: "not granted (its administrators can see why)",
}


def _grant_line(grant: Grant) -> str:
    asked = grant.asked_at.strftime("%Y-%m-%d %H:%M UTC")
    if grant.state is GrantState.ACTIVE and grant.ends_at:
        where = f"active until {grant.ends_at.strftime('%Y-%m-%d %H:%M UTC')}"
    elif grant.state is GrantState.ENDED:
        where = f"ended ({grant.ended_by})" if grant.ended_by else "ended"
    else:
        where = _GRANT_STATES.get(grant.state, grant.state.value.replace("_", " "))
    return f"{asked}  access: {grant.what} as {grant.username}, for {grant.duration}: {where}"
