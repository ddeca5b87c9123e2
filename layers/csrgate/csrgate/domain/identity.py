"""Which Kubernetes user a Slack person is on a cluster: their Slack email through the cluster's usernameTemplate,
once the email may be that user. Certificates and access asked for in Slack are both checked here."""

from __future__ import annotations

from csrgate.domain.asks import username_for
from csrgate.domain.cluster import ClusterConfig, PersonNaming
from csrgate.domain.delivery import linked_email


def identity_problem(email: str | None, naming: PersonNaming, cluster: ClusterConfig) -> str | None:
    """Why the asker's Slack email cannot be the person a user name of this cluster is, or None when it can.

    A template dropping the domain (`{email_local}`) must not make alice@elsewhere.example the cluster's alice: the
    email's domain must be one the cluster names, and where the cluster's own mapping says who a user name is, the
    email must be that one."""
    # one @ only: the template takes the part before the first, the domain check the part after the last
    if not email or email.count("@") != 1:
        return "csrgate cannot read your email in Slack, so it cannot tell which Kubernetes user you are."
    domain = email.rpartition("@")[2].casefold()
    if naming.email_domains and domain not in {d.casefold() for d in naming.email_domains}:
        return f"{cluster.name} takes requests from Slack only for emails at {', '.join(naming.email_domains)}."
    mapped = linked_email(username_for(naming.username_template, email), cluster)
    if mapped is not None and mapped.casefold() != email.casefold():
        return f"On {cluster.name}, that user name belongs to another email; ask an administrator."
    return None
