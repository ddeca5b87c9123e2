"""The work csrgate leaves for later, and how each job is written into and read back from a queue message.

A job carries only what its consumer reads: the request's id (everything else is read from the stored request, which
is the truth) and, for the jobs that are tried again, which attempt this is. Encoder and decoder live together here,
so the two sides cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeAlias


@dataclass(frozen=True)
class ApplyDecision:
    """Apply the request's stored decision in its cluster, then follow it through (the worker)."""

    request_id: str


@dataclass(frozen=True)
class ShowInCluster:
    """Show on the request's CSR, as a Kubernetes Event, that it waits for review or has expired (the worker)."""

    request_id: str


@dataclass(frozen=True)
class CheckIssuance:
    """Look at the signer again for the request's certificate (the worker, after a delay)."""

    request_id: str
    attempt: int = 1


@dataclass(frozen=True)
class PostMessage:
    """Post the request's Slack message, which intake could not (the notifier, after a delay)."""

    request_id: str
    attempt: int = 1


@dataclass(frozen=True)
class PostDigest:
    """Post or redraw a cluster's digest of automatic decisions for one window (the notifier, after a short delay)."""

    cluster: str
    window: int  # the window's start, in seconds since the epoch


@dataclass(frozen=True)
class CreateCsr:
    """Create the CSR for a certificate asked for in Slack, in the ask's cluster (the worker)."""

    ask_id: str


@dataclass(frozen=True)
class PostGrant:
    """Post a grant's review message in its cluster's channel (the worker)."""

    grant_id: str


@dataclass(frozen=True)
class ApplyGrant:
    """Do what a grant's decision asks: bind its role, or tell the requester the denial (the worker)."""

    grant_id: str


@dataclass(frozen=True)
class EndGrant:
    """Remove a grant's binding once it is revoked or due; early, queue itself again for later (the worker)."""

    grant_id: str


@dataclass(frozen=True)
class SweepBindings:
    """Remove the bindings labelled as csrgate's in a cluster that no live grant accounts for (the worker)."""

    cluster: str


Job: TypeAlias = (
    ApplyDecision
    | CheckIssuance
    | PostMessage
    | PostDigest
    | CreateCsr
    | PostGrant
    | ApplyGrant
    | EndGrant
    | SweepBindings
    | ShowInCluster
)
_KINDS: dict[str, type[Job]] = {
    "apply_decision": ApplyDecision,
    "show_in_cluster": ShowInCluster,
    "check_issuance": CheckIssuance,
    "post_message": PostMessage,
    "post_digest": PostDigest,
    "create_csr": CreateCsr,
    "post_grant": PostGrant,
    "apply_grant": ApplyGrant,
    "end_grant": EndGrant,
    "sweep_bindings": SweepBindings,
}
# The jobs about one thing named by one field, other than a request
_ONE_FIELD: dict[type[Job], str] = {
    CreateCsr: "ask_id",
    PostGrant: "grant_id",
    ApplyGrant: "grant_id",
    EndGrant: "grant_id",
    SweepBindings: "cluster",
}
_NAMES = {kind: name for name, kind in _KINDS.items()}
MAX_ID_CHARS = 64


def subject_of(job: Job) -> str:
    """The id of what a job is about: a request, an ask whose CSR is not made yet, a grant, a cluster, or a digest
    (`<cluster>@<window>`)."""
    if isinstance(job, PostDigest):
        return f"{job.cluster}@{job.window}"
    field = _ONE_FIELD.get(type(job), "request_id")
    return str(getattr(job, field))


def encode_job(job: Job) -> str:
    """The queue message body."""
    return json.dumps({"kind": _NAMES[type(job)], **vars(job)}, sort_keys=True)


def decode_job(body: str) -> Job | None:
    """The job in a queue message, or None when the message is not one of csrgate's jobs.

    Fields a job does not carry are ignored, so a message written by an older version still reads.
    """
    try:
        message: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
        return None
    kind = _KINDS.get(message["kind"])
    if kind is PostDigest:
        return _digest_job(message)
    if kind in _ONE_FIELD:
        subject = message.get(_ONE_FIELD[kind])
        if not isinstance(subject, str) or not 0 < len(subject) <= MAX_ID_CHARS:
            return None
        return kind(subject)  # type: ignore[call-arg]  # each kind in _ONE_FIELD takes that one field
    request_id, attempt = message.get("request_id"), message.get("attempt", 1)
    if kind is None or not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_ID_CHARS:
        return None
    if kind is ApplyDecision:
        return ApplyDecision(request_id)
    if kind is ShowInCluster:
        return ShowInCluster(request_id)
    if type(attempt) is not int or attempt < 1:
        return None
    return CheckIssuance(request_id, attempt) if kind is CheckIssuance else PostMessage(request_id, attempt)


def _digest_job(message: dict[str, Any]) -> PostDigest | None:
    cluster, window = message.get("cluster"), message.get("window")
    if not isinstance(cluster, str) or not 0 < len(cluster) <= MAX_ID_CHARS:
        return None
    return PostDigest(cluster, window) if type(window) is int and window >= 0 else None
