"""Delivering the outcome to the requester: how to find them, and what their direct message says."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from csrgate.domain.cluster import ClusterConfig
from csrgate.domain.records import RequestRecord

if TYPE_CHECKING:  # only annotated: the interactions function decides who asked without loading X.509
    from csrgate.domain.kubeconfig import RequesterKubeconfig

_NAME_IN_TEMPLATE = "{username}"
# What links a user name to one person: after one API-server prefix (`oidc:`), a plain name or a plain email.
# Anything else (OIDC's https://issuer#subject, an AWS ARN, alice+alias@...) could be anyone's, or a second
# name of an approver's: it links to nobody, and the request needs a second approver.
_PREFIX = re.compile(r"^[A-Za-z0-9_-]+:")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PLAIN_EMAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
# Nodes and service accounts (system:node:node-1, system:serviceaccount:ns:sa) are never people: a template would
# turn node-1 into node-1@example.com, whoever that is, and a service account's token is shared by whoever runs
# the job. Not even the cluster's mapping makes one of them a person.
_KUBERNETES_IDENTITIES = "system:"


@dataclass(frozen=True)
class Delivery:
    """A file for the requester and the message that comes with it."""

    filename: str
    content: str
    comment: str


class Voucher(StrEnum):
    """What vouches for a CSR's requester-email annotation: the person it names is the one asking or the one the
    certificate is for, by the cluster's own mapping."""

    COMMON_NAME = "cn"
    REQUESTER = "requester"


def linked_email(user: str | None, cluster: ClusterConfig) -> str | None:
    """The email of the person a Kubernetes user name is, by the cluster's settings: its `requesterEmails`, the name
    itself when it is an email (an OIDC user), then its `requesterEmailTemplate`; None for `system:` identities."""
    if not user or user.startswith(_KUBERNETES_IDENTITIES):
        return None
    mapped = cluster.requester_emails.get(user)
    if mapped:
        return mapped if "@" in mapped else None
    local = _PREFIX.sub("", user, count=1)  # e.g. oidc:alice -> alice, the API server's prefix dropped
    if _PLAIN_EMAIL.fullmatch(local):
        return local
    if cluster.requester_email_template and _PLAIN_NAME.fullmatch(local):
        return cluster.requester_email_template.replace(_NAME_IN_TEMPLATE, local)
    return None  # an issuer#subject, an ARN, a plus-addressed alias: nobody can tell which person it is


def annotation_vouched_by(
    claim: str, username: str | None, common_name: str | None, cluster: ClusterConfig
) -> Voucher | None:
    """What makes the `csrgate.io/requester-email` annotation more than a claim, if anything.

    Anyone who may create a CSR may write any annotation. It is trusted only when the cluster's own mapping ties
    that email to the certificate's user (an administrator asking for dana's user with dana's email, as the
    Kubernetes docs' task goes) or to the user who asked (the API server vouches for them).
    """
    wanted = claim.strip().casefold()
    if _same(linked_email(common_name, cluster), wanted):
        return Voucher.COMMON_NAME
    if _same(linked_email(username, cluster), wanted):
        return Voucher.REQUESTER
    return None


def machines_own(record: RequestRecord) -> bool:
    """Asked for by a node or a service account, for itself, with no person linked: it reads the certificate (or the
    denial) from its CSR, and there is nobody to tell."""
    person = record.asker_slack_id or record.holder_slack_id or record.requester_email
    return not person and (record.request.username or "").startswith(_KUBERNETES_IDENTITIES)


def requester_emails(record: RequestRecord, cluster: ClusterConfig) -> tuple[str, ...]:
    """Where to look for the requester, in order: the annotation (kept only when vouched for), then the email the
    cluster's settings tie the requesting user to."""
    candidates = [record.requester_email, linked_email(record.request.username, cluster)]
    return tuple(dict.fromkeys(email for email in candidates if email and "@" in email))


def kubeconfig_delivery(record: RequestRecord, kubeconfig: RequesterKubeconfig) -> Delivery:
    """The kubeconfig, with the one command that adds the requester's private key and a check that it works."""
    comment = (
        f"Your certificate request {record.csr_name} on {record.cluster} was approved by {_decider(record)}. "
        f"Here is your kubeconfig for user {kubeconfig.user}, valid until "
        f"{kubeconfig.not_after.strftime('%Y-%m-%d %H:%M UTC')}.\n"
        "It does not hold your private key, which never left your machine. Add it with:\n"
        f"{kubeconfig.set_credentials_command}\n"
        "Then check who the cluster thinks you are:\n"
        f"kubectl --kubeconfig {shlex.quote(kubeconfig.filename)} auth whoami"
    )
    return Delivery(kubeconfig.filename, kubeconfig.text, comment)


def bundle_delivery(record: RequestRecord, bundle: str) -> Delivery:
    """A serving certificate: the PEM chain to install next to the private key."""
    comment = (
        f"Your certificate request {record.csr_name} on {record.cluster} was approved by {_decider(record)}. "
        "Here is the certificate chain (PEM) to serve with the private key you made the CSR from."
    )
    return Delivery(f"{record.cluster}-{record.csr_name}.pem", bundle, comment)


def denial_text(record: RequestRecord) -> str:
    """What a requester is told when their request is denied, and how to fix it."""
    reasons = [f"{finding.code.value}: {finding.message}" for finding in record.findings if finding.severity == "error"]
    if record.decision_reason and record.decided_by and not record.decided_by.startswith("csrgate"):
        reasons = [record.decision_reason]
    why = "\n".join(f"- {reason}" for reason in reasons) or "- no reason was given"
    return f"Your certificate request {record.csr_name} on {record.cluster} was denied by {_decider(record)}:\n{why}"


def _decider(record: RequestRecord) -> str:
    """Who decided, for the requester: the approvers, or the policy when nobody clicked."""
    return record.decided_by or "csrgate's policy"


def fetch_command(record: RequestRecord) -> str:
    """The command that fetches the issued certificate, for a requester csrgate could not find in Slack."""
    return (
        f"kubectl get csr {shlex.quote(record.csr_name)} -o jsonpath='{{.status.certificate}}' "
        f"| base64 -d > {shlex.quote(record.csr_name)}.crt"
    )


def _same(email: str | None, wanted: str) -> bool:
    return email is not None and email.strip().casefold() == wanted
