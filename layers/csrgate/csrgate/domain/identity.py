"""Which Kubernetes user a Slack person is on a cluster: their Slack email through the cluster's usernameTemplate, or
on EKS the IAM role session named after it and the user EKS makes of that session, once the email may be that user.
Certificates and access asked for in Slack are both checked here."""

from __future__ import annotations

from csrgate.domain.cluster import (
    ClusterConfig,
    ClusterIdentity,
    PersonNaming,
    is_reserved_username,
    is_session_name,
)
from csrgate.domain.delivery import linked_email


def identify(email: str | None, naming: PersonNaming, cluster: ClusterConfig) -> ClusterIdentity | str:
    """Who the asker is on this cluster (the Kubernetes user, and on EKS the role session signing in as it), from their
    Slack email; or why that email cannot be anyone there, as the form's inline error.

    A template dropping the domain (`{email_local}`) must not make alice@elsewhere.example the cluster's alice: the
    email's domain must be one the cluster names, and where the cluster's own mapping says who a user name is, the
    email must be that one. On EKS the session name must be one STS takes, or nobody could sign in as that user."""
    # one @ only: the template takes the part before the first, the domain check the part after the last
    if not email or email.count("@") != 1:
        return "csrgate cannot read your email in Slack, so it cannot tell which Kubernetes user you are."
    domain = _domain_key(email.rpartition("@")[2])
    if naming.email_domains and domain not in {_domain_key(d) for d in naming.email_domains}:
        return f"{cluster.name} takes requests from Slack only for emails at {', '.join(naming.email_domains)}."
    identity = naming.identity_for(email)
    # a template putting the email first ({email_local}:x) makes system@example.com system:x
    if is_reserved_username(identity.username, cluster.kind):
        return (
            f"On {cluster.name} your email makes the user name {identity.username}, which is reserved for the "
            "cluster's own identities; ask an administrator."
        )
    if identity.session_name is not None and not is_session_name(identity.session_name):
        return (
            f"On {cluster.name} you sign in with an AWS role session named after your email, and AWS takes only 2 to "
            "64 letters, digits and _+=,.@- as a session name; ask an administrator."
        )
    # requesterEmailTemplate reads a plain user name as a certificate user's (dana -> dana@example.com): a user name EKS
    # makes of a session named after the email is no such name, so only the cluster's own list may say otherwise
    if identity.session_name is None:
        mapped = linked_email(identity.username, cluster)
    else:
        mapped = cluster.requester_emails.get(identity.username)
    if mapped is not None and mapped.casefold() != email.casefold():
        return f"On {cluster.name}, that user name belongs to another email; ask an administrator."
    return identity


def _domain_key(domain: str) -> str:
    """A domain as compared with the cluster's: ASCII letters in any case, as DNS compares them, and anything else
    exactly: Unicode case folding makes the Kelvin sign (U+212A) a k, so a look-alike of kube.example written with it
    would pass for kube.example."""
    return domain.lower() if domain.isascii() else domain


def identity_problem(email: str | None, naming: PersonNaming, cluster: ClusterConfig) -> str | None:
    """Why the asker's Slack email cannot be the person a user name of this cluster is, or None when it can."""
    found = identify(email, naming, cluster)
    return found if isinstance(found, str) else None
