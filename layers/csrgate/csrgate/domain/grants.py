"""Time-boxed access asked for in Slack: the grant a person asked for, its life from review to the RBAC binding csrgate
removes on time, and the binding itself.

Kubernetes' own authentication says who someone is (a certificate, OIDC, IAM through an EKS access entry); csrgate
grants and removes authorization only, as a RoleBinding (or ClusterRoleBinding) to a ClusterRole the cluster offers.
A client certificate cannot be revoked; a binding can, so access ends on time whatever credentials the person holds.

Light (no X.509, no YAML): the interactions function opens the form and records clicks with it in Slack's 3 seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from csrgate.domain.asks import CLUSTER, REASON
from csrgate.domain.errors import CsrgateError
from csrgate.domain.records import Approval, AuditEvent, MessageRef
from csrgate.domain.summary import describe_lifetime

# The access form's block ids (each input's action id is the same name), a public contract: scripts fill it by them.
ROLE, NAMESPACE, DURATION = "role", "namespace", "duration"
FORM_FIELDS = (CLUSTER, ROLE, NAMESPACE, DURATION, REASON)
# What marks a binding as csrgate's, and which grant it is: the sweeper removes any so marked with no live grant.
MANAGED_BY_LABEL, MANAGED_BY = "app.kubernetes.io/managed-by", "csrgate"
GRANT_LABEL = "csrgate.io/grant"
ENDS_ANNOTATION = "csrgate.io/ends-at"
APPROVERS_ANNOTATION = "csrgate.io/approved-by"
REASON_ANNOTATION = "csrgate.io/reason"
REQUESTER_ANNOTATION = "csrgate.io/requested-by"
# Kubernetes' own namespaces are offered only by name: a pattern such as `*` never reaches them.
_SYSTEM_NAMESPACES = re.compile(r"kube-.*|default")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # an RFC 1123 label, as Kubernetes names namespaces
_DURATION = re.compile(r"([1-9][0-9]{0,3})([mhd])")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
_NAME_PART = re.compile(r"[^a-z0-9-]+")
MIN_DURATION_SECONDS = 60
MAX_DURATION_SECONDS = 31 * 86400


def parse_duration(text: str) -> int | None:
    """Seconds in '15m', '8h', '7d'; None for anything else."""
    found = _DURATION.fullmatch(text)
    return int(found[1]) * _UNIT_SECONDS[found[2]] if found else None


def namespace_offered(namespace: str, patterns: tuple[str, ...]) -> bool:
    """Whether a namespace may be asked for: a valid name matching one of the cluster's patterns (`team-*`);
    Kubernetes' own (kube-*, default) only when listed by name."""
    if not _NAMESPACE.fullmatch(namespace):
        return False
    if _SYSTEM_NAMESPACES.fullmatch(namespace):
        return namespace in patterns
    return any(fnmatchcase(namespace, pattern) for pattern in patterns)


@dataclass(frozen=True)
class GrantForm:
    """What the requester picked and typed, as Slack sent it: untrusted text, every field possibly empty."""

    cluster: str
    role: str
    namespace: str
    duration: str
    reason: str


class GrantState(StrEnum):
    """Where a grant stands. Ended, denied, expired and failed ones never change again."""

    AWAITING_REVIEW = "awaiting_review"
    APPROVED = "approved"  # decided: the worker creates the binding
    ACTIVE = "active"  # the binding exists until ends_at
    ENDING = "ending"  # revoked or due: the worker removes the binding
    ENDED = "ended"  # the binding is gone
    DENIED = "denied"
    EXPIRED = "expired"  # nobody decided within the review window
    FAILED = "failed"  # the cluster refused the binding, or it could not be reached in time


GRANT_TRANSITIONS: dict[GrantState, frozenset[GrantState]] = {
    GrantState.AWAITING_REVIEW: frozenset({GrantState.APPROVED, GrantState.DENIED, GrantState.EXPIRED}),
    # revoked before the binding was made: ENDING, and the worker makes none
    GrantState.APPROVED: frozenset({GrantState.ACTIVE, GrantState.ENDING, GrantState.FAILED}),
    GrantState.ACTIVE: frozenset({GrantState.ENDING}),
    GrantState.ENDING: frozenset({GrantState.ENDED}),
    GrantState.ENDED: frozenset(),
    GrantState.DENIED: frozenset(),
    GrantState.EXPIRED: frozenset(),
    GrantState.FAILED: frozenset(),
}
LIVE = frozenset({GrantState.APPROVED, GrantState.ACTIVE})  # a binding for these may exist and must stay


class InvalidGrantTransition(CsrgateError):
    """A grant state change its life does not allow."""

    def __init__(self, current: GrantState, wanted: GrantState) -> None:
        super().__init__(f"a grant that is {current.value} cannot become {wanted.value}")


def ensure_grant_transition(current: GrantState, wanted: GrantState) -> None:
    """Raise InvalidGrantTransition unless `wanted` may follow `current`."""
    if wanted not in GRANT_TRANSITIONS[current]:
        raise InvalidGrantTransition(current, wanted)


@dataclass(frozen=True)
class Binding:
    """The RBAC binding a grant is: a RoleBinding in `namespace`, or a ClusterRoleBinding when it is None."""

    name: str
    namespace: str | None
    cluster_role: str
    username: str
    grant_id: str
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def kind(self) -> str:
        """RoleBinding or ClusterRoleBinding."""
        return "RoleBinding" if self.namespace else "ClusterRoleBinding"

    @property
    def where(self) -> str:
        """'namespace payments' or 'the whole cluster'."""
        return f"namespace {self.namespace}" if self.namespace else "the whole cluster"

    @property
    def labels(self) -> dict[str, str]:
        """What marks it as csrgate's, and whose grant it is."""
        return {MANAGED_BY_LABEL: MANAGED_BY, GRANT_LABEL: self.grant_id}


@dataclass(frozen=True)
class Grant:
    """Access asked for in Slack: one offered role, in one namespace (or cluster-wide), for a while."""

    grant_id: str
    cluster: str
    role: str  # the offered role's name, as the cluster's access settings name it
    cluster_role: str  # the ClusterRole it binds
    namespace: str | None  # None: cluster-wide
    username: str  # the Kubernetes user bound: who the asker's Slack email is on the cluster (csrgate.domain.identity)
    slack_user: str  # who asked: the user in Slack's signed payload, who may never approve it
    slack_name: str
    email: str
    duration_seconds: int
    reason: str  # untrusted text
    asked_at: datetime
    approvals_needed: int
    privileged: bool = False
    extends: str | None = None  # the grant this one extends, when asked for with Extend
    session_name: str | None = None  # on EKS with access.eks: the IAM role session EKS makes `username` of
    state: GrantState = GrantState.AWAITING_REVIEW
    version: int = 1
    slack_message: MessageRef | None = None
    approvals: tuple[Approval, ...] = ()
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    starts_at: datetime | None = None  # when the binding was made
    ends_at: datetime | None = None  # when it is removed (set when it is made)
    ended_by: str | None = None  # who revoked it, or csrgate at its end
    ended_at: datetime | None = None
    told: bool = False  # the requester was told the decision (their access, or the denial)
    reminded: bool = False  # the requester was offered Extend
    note: str | None = None  # why it failed, for people

    @property
    def asker(self) -> str:
        """'@dana (U0DANA)': the asker as messages name them."""
        return f"@{self.slack_name} ({self.slack_user})"

    @property
    def what(self) -> str:
        """'edit in namespace payments on dev'."""
        where = f"in namespace {self.namespace}" if self.namespace else "cluster-wide"
        return f"{self.role} {where} on {self.cluster}"

    @property
    def duration(self) -> str:
        """'1 hour'."""
        return describe_lifetime(self.duration_seconds)

    def binding(self) -> Binding:
        """The binding this grant is, annotated with who asked, who approved, why and until when."""
        annotations = {
            GRANT_LABEL: self.grant_id,
            REQUESTER_ANNOTATION: f"{self.slack_name} ({self.slack_user}) <{self.email}>",
            APPROVERS_ANNOTATION: self.decided_by or "",
            REASON_ANNOTATION: self.reason,
        }
        if self.ends_at is not None:
            annotations[ENDS_ANNOTATION] = self.ends_at.isoformat()
        return Binding(
            name=binding_name_for(self.username, self.grant_id),
            namespace=self.namespace,
            cluster_role=self.cluster_role,
            username=self.username,
            grant_id=self.grant_id,
            annotations=tuple(annotations.items()),
        )

    def ends_after(self, start: datetime) -> datetime:
        """When access that starts at `start` ends."""
        return start + timedelta(seconds=self.duration_seconds)


def binding_name_for(username: str, grant_id: str) -> str:
    """`csrgate-dana-1f2e3d4c`: readable in `kubectl get rolebindings`, unique by the grant's id."""
    part = _NAME_PART.sub("-", username.casefold()).strip("-")[:40].strip("-") or "user"
    return f"csrgate-{part}-{grant_id.replace('-', '')[:8]}"


def grant_event(grant: Grant, event: str, actor: str, at: datetime, **details: Any) -> AuditEvent:
    """An audit event about a grant (`grant.<what happened>`): the fixed keys, then who has what, where, and why."""
    facts = {
        "grant_id": grant.grant_id,
        "role": grant.role,
        "cluster_role": grant.cluster_role,
        "namespace": grant.namespace or "",
        "username": grant.username,
        "requester": grant.slack_user,  # the Slack user who asked; `slack_user` in details is whoever acted
    }
    return AuditEvent(event, "", grant.cluster, "", "", actor, at, {**facts, **details})
