"""The worker's part of a grant: post its review, bind its role once approved, remove the binding on time or on
Revoke, and remove any binding labelled as csrgate's that no live grant accounts for.

Each step reads the stored grant first and records what it did, so a redelivered job repeats nothing. A binding is
made only for an approved grant and kept only while the grant is live: a Revoke that lands while the binding is being
made is seen at the conditional write that follows, and the binding is removed at once.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace
from datetime import datetime

from csrgate.domain.cluster import ClusterConfig, ClusterKind
from csrgate.domain.delivery import Delivery
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.grant_messages import denied_text, ended_text, failed_text, grant_message, granted_text
from csrgate.domain.granting import mark_due, offered_role
from csrgate.domain.grants import LIVE, Binding, Grant, GrantState, grant_event
from csrgate.domain.jobs import EndGrant
from csrgate.domain.kubeconfig import EksCluster, build_access_kubeconfig, eks_profile
from csrgate.domain.messages import MESSAGE_LEASE_SECONDS
from csrgate.domain.ports import (
    AuditLog,
    Clock,
    ClusterAccess,
    ClusterDirectory,
    Conflict,
    GrantStore,
    JobQueue,
    Notifier,
    Requesters,
)
from csrgate.domain.records import Actor, AuditEvent

_ALTERED = "it differs from its grant"  # another role, user or subjects than approved: replaced by the approved one
MAX_DELAY_SECONDS = 900  # SQS's longest delay: a longer grant's end is looked at again every 15 minutes


class GrantWorker:
    """Consumes the grant jobs of the decision queue."""

    def __init__(
        self,
        clusters: ClusterDirectory,
        access: ClusterAccess,
        grants: GrantStore,
        notifier: Notifier,
        requesters: Requesters,
        jobs: JobQueue,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._clusters = clusters
        self._access = access
        self._grants = grants
        self._notifier = notifier
        self._requesters = requesters
        self._jobs = jobs
        self._audit = audit
        self._clock = clock

    def post(self, grant_id: str) -> None:
        """Post the grant's review message in its cluster's channel, once."""
        grant = self._grants.get(grant_id)
        cluster = self._clusters.get(grant.cluster) if grant else None
        if grant is None or grant.slack_message is not None or grant.state is not GrantState.AWAITING_REVIEW:
            return
        if cluster is None:
            raise PermanentFailure(f"cluster {grant.cluster} is no longer configured")
        if not self._grants.claim_message(grant.grant_id, self._clock(), MESSAGE_LEASE_SECONDS):
            return  # posted meanwhile, or another delivery of this job is posting it right now
        try:
            message = self._notifier.post_grant(cluster.slack_channel, grant_message(grant))
        except (RetryLater, PermanentFailure):
            self._grants.release_message(grant.grant_id)  # so that the job's next delivery may post it
            raise
        event = grant_event(
            grant, "slack.grant_posted", Actor.SERVICE, self._clock(), channel=message.channel, ts=message.ts
        )
        try:
            self._grants.save_message(grant, message, event)
        except Conflict:
            return  # saved by an earlier try of this job
        self._audit.write(event)

    def apply(self, grant_id: str) -> None:
        """Bind an approved grant's role and give the requester their kubeconfig; tell a denial. Safe to repeat."""
        grant = self._grants.get(grant_id)
        if grant is None:
            return
        if grant.state is GrantState.DENIED and not grant.told:
            self._tell(grant, denied_text(grant))
        elif grant.state is GrantState.ACTIVE and not grant.told:
            self._deliver(grant)
        elif grant.state is GrantState.APPROVED:
            self._bind(grant)

    def end(self, grant_id: str) -> None:
        """Remove the binding of a revoked grant, or of one whose time is up; an active grant not yet due is looked
        at again later."""
        grant = self._grants.get(grant_id)
        if grant is None:
            return
        now = self._clock()
        if grant.state is GrantState.ACTIVE and grant.ends_at is not None and grant.ends_at > now:
            self._look_again_at(grant, now)
            return
        if grant.state is GrantState.ACTIVE:
            grant = mark_due(grant, self._grants, self._audit, now)
        if grant.state is GrantState.ENDING:
            self._unbind(grant)

    def sweep_bindings(self, cluster_name: str) -> int:
        """Remove every binding labelled as csrgate's in the cluster that is not exactly a live grant's; how many."""
        cluster = self._clusters.get(cluster_name)
        if cluster is None or cluster.access is None:
            return 0
        bindings = self._access.bindings(cluster)
        removed = 0
        for found in bindings.managed():
            why = self._orphaned(found, cluster)
            # one binding the cluster will not let csrgate settle (a finalizer keeping it, a name taken again at once,
            # an object changed on every read) is audited, and never keeps the sweep from the others
            try:
                if why is None or not bindings.unbind(found):
                    continue
                grant = self._grants.get(found.grant_id) if why == _ALTERED else None
                wanted = grant.binding() if grant is not None and grant.state is GrantState.ACTIVE else None
                # only the grant's own binding, altered where it is, is made again: a copy labelled as the grant's
                # elsewhere must not bring back access removed by hand
                if wanted is not None and (found.name, found.namespace) == (wanted.name, wanted.namespace):
                    bindings.bind(wanted)  # the grant's own binding again, exactly as approved
            except (Conflict, PermanentFailure, RetryLater) as exc:
                self._audit.write(
                    AuditEvent(
                        "grant.orphan_not_removed",
                        "",
                        cluster.name,
                        "",
                        "",
                        Actor.SERVICE,
                        self._clock(),
                        {
                            "grant_id": found.grant_id,
                            "binding": found.name,
                            "kind": found.kind,
                            "namespace": found.namespace or "",
                            "reason": f"{why}: {exc}",
                        },
                    )
                )
                continue
            removed += 1
            self._audit.write(
                AuditEvent(
                    "grant.orphan_removed",
                    "",
                    cluster.name,
                    "",
                    "",
                    Actor.SERVICE,
                    self._clock(),
                    {
                        "grant_id": found.grant_id,
                        "binding": found.name,
                        "kind": found.kind,
                        "namespace": found.namespace or "",
                        "cluster_role": found.cluster_role,
                        "username": found.username,
                        "reason": why,
                    },
                )
            )
        return removed

    def fail(self, grant_id: str, reason: str) -> None:
        """The grant's job failed for good: an approved grant is not granted, and its requester is told; a denial that
        could not be told is given up, or the sweeper would queue it again every time."""
        grant = self._grants.get(grant_id)
        if grant is not None and grant.state is GrantState.APPROVED:
            self._fail(grant, reason)
        elif grant is not None and grant.state is GrantState.DENIED and not grant.told:
            event = grant_event(grant, "grant.delivery_failed", Actor.SERVICE, self._clock(), reason=reason)
            with suppress(Conflict):
                self._grants.mark(grant, "told", event)
                self._audit.write(event)

    # --- steps ------------------------------------------------------------------------------------------

    def _bind(self, grant: Grant) -> None:
        cluster = self._clusters.get(grant.cluster)
        offered = offered_role(grant, cluster)
        if isinstance(offered, str) or cluster is None:
            self._fail(grant, str(offered))
            return
        now = self._clock()
        timed = replace(grant, starts_at=now, ends_at=grant.ends_after(now))
        binding = timed.binding()
        bindings = self._access.bindings(cluster)
        try:
            bindings.bind(binding)
        except (PermanentFailure, Conflict) as exc:
            self._fail(grant, f"{cluster.name} refused the {binding.kind} {binding.name}: {exc}")
            return
        event = grant_event(
            grant,
            "grant.bound",
            Actor.SERVICE,
            now,
            binding=binding.name,
            kind=binding.kind,
            starts_at=_iso(timed.starts_at),
            ends_at=_iso(timed.ends_at),
            approved_by=grant.decided_by or "",
        )
        try:
            grant = self._grants.move(grant, GrantState.ACTIVE, event, {"starts_at": now, "ends_at": timed.ends_at})
        except Conflict:  # revoked (or failed) while it was being bound: the binding goes at once
            current = self._grants.get(grant.grant_id)
            if current is not None and current.state is GrantState.ENDING:
                self._unbind(current)
            elif current is not None and current.state not in LIVE:
                bindings.unbind(binding)
            return
        self._audit.write(event)
        self._look_again_at(grant, now)
        self._redraw(grant)
        self._deliver(grant)

    def _deliver(self, grant: Grant) -> None:
        cluster = self._clusters.get(grant.cluster)
        if cluster is None:
            return
        eks = _eks_sign_in(cluster, grant)
        endpoint = self._access.bindings(cluster).endpoint()
        text = build_access_kubeconfig(endpoint, grant.username, grant.namespace, eks)
        filename = f"{cluster.name}-{grant.namespace or 'cluster'}.kubeconfig"
        profile = eks_profile(eks) if eks is not None and eks.role_arn and eks.session_name else None
        comment = granted_text(grant, None if eks else filename, profile)
        delivery = Delivery(filename=filename, content=text, comment=comment)
        self._requesters.deliver(grant.slack_user, delivery)  # then remembered: a failed send is tried again
        event = grant_event(grant, "grant.delivered", Actor.SERVICE, self._clock())
        with suppress(Conflict):  # remembered by an earlier try of this job
            self._grants.mark(grant, "told", event)
            self._audit.write(event)

    def _unbind(self, grant: Grant) -> None:
        cluster = self._clusters.get(grant.cluster)
        now = self._clock()
        if cluster is None:
            note = f"cluster {grant.cluster} is no longer configured: csrgate could not remove {grant.binding().name}"
            removed = False
        else:
            removed = self._access.bindings(cluster).unbind(grant.binding())
            note = None
        event = grant_event(
            grant,
            "grant.ended",
            Actor.SERVICE,
            now,
            binding=grant.binding().name,
            removed=removed,
            starts_at=_iso(grant.starts_at),
            ended_at=_iso(grant.ended_at or now),
            ended_by=grant.ended_by or Actor.SERVICE,
            approved_by=grant.decided_by or "",
        )
        try:
            grant = self._grants.move(grant, GrantState.ENDED, event, {"note": note} if note else None)
        except Conflict:
            return  # ended by an earlier try of this job
        self._audit.write(event)
        self._redraw(grant)
        if grant.starts_at is not None and note is None:  # it was granted: the requester is told it is gone
            self._tell_quietly(grant, ended_text(grant))

    def _fail(self, grant: Grant, reason: str) -> None:
        event = grant_event(grant, "grant.failed", Actor.SERVICE, self._clock(), reason=reason)
        try:
            grant = self._grants.move(grant, GrantState.FAILED, event, {"note": reason})
        except Conflict:
            return
        self._audit.write(event)
        self._redraw(grant)
        self._tell_quietly(grant, failed_text(grant))

    def _tell(self, grant: Grant, text: str) -> None:
        self._requesters.tell(grant.slack_user, text)  # then remembered: a failed send is tried again
        event = grant_event(grant, "grant.requester_told", Actor.SERVICE, self._clock())
        with suppress(Conflict):
            self._grants.mark(grant, "told", event)
            self._audit.write(event)

    def _tell_quietly(self, grant: Grant, text: str) -> None:
        """A direct message whose failure changes nothing stored: it is recorded, and nobody retries it."""
        try:
            self._requesters.tell(grant.slack_user, text)
        except (RetryLater, PermanentFailure) as exc:
            self._audit.write(grant_event(grant, "slack.dm_failed", Actor.SERVICE, self._clock(), reason=str(exc)))

    def _redraw(self, grant: Grant) -> None:
        if grant.slack_message is None:
            return
        try:
            self._notifier.update_grant(grant.slack_message, grant_message(grant))
        except (RetryLater, PermanentFailure) as exc:
            self._audit.write(grant_event(grant, "slack.update_failed", Actor.SERVICE, self._clock(), reason=str(exc)))

    def _look_again_at(self, grant: Grant, now: datetime) -> None:
        """Queue the grant's end for when it is due, or in 15 minutes, whichever is first."""
        remaining = int(((grant.ends_at or now) - now).total_seconds()) + 1
        self._jobs.enqueue(EndGrant(grant.grant_id), delay_seconds=max(0, min(remaining, MAX_DELAY_SECONDS)))

    def _orphaned(self, found: Binding, cluster: ClusterConfig) -> str | None:
        """Why a binding labelled as csrgate's must go, or None when it is exactly a live grant's."""
        grant = self._grants.get(found.grant_id) if found.grant_id else None
        if grant is None or grant.cluster != cluster.name:
            return "no such grant"
        if grant.state not in LIVE:
            return f"its grant is {grant.state.value}"
        wanted = grant.binding()
        same = (found.name, found.namespace, found.cluster_role, found.username)
        if same != (wanted.name, wanted.namespace, wanted.cluster_role, wanted.username):
            return _ALTERED
        return None


def _eks_sign_in(cluster: ClusterConfig, grant: Grant) -> EksCluster | None:
    """How the grant's kubeconfig signs in on an EKS cluster: as the session the grant was recorded for, of the role
    the cluster's people assume (access.eks), or with the person's own credentials when it names none."""
    if cluster.kind is not ClusterKind.EKS or not (cluster.connection.eks_cluster_name and cluster.connection.region):
        return None
    signs_in = cluster.access.eks if cluster.access is not None else None
    if signs_in is None or grant.session_name is None:
        return EksCluster(cluster.connection.eks_cluster_name, cluster.connection.region)
    return EksCluster(
        cluster.connection.eks_cluster_name, cluster.connection.region, signs_in.role_arn, grant.session_name
    )


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at else ""
