"""A cluster's settings as an operator writes them: what a consistent document needs, the message for each
inconsistency, and how many approvers a request needs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from csrgate.domain.cluster import SECRET_PREFIX_CONTEXT, ClusterConfig, ClusterKind

GENERIC: dict[str, Any] = {
    "name": "staging",
    "kind": "generic",
    "auth": "hmac",
    "hmacSecretId": "csrgate/forwarders/staging",
    "connection": {"secretId": "csrgate/clusters/staging/kubeconfig"},
    "slackChannel": "C0STAGE",
    "approvers": {"users": ["U0ALICE"]},
}
EKS: dict[str, Any] = {
    "name": "prod-eu",
    "kind": "eks",
    "auth": "iam",
    "forwarderRoleArn": "arn:aws:iam::123456789012:role/csrgate-forwarder",
    "connection": {"eksClusterName": "prod-eu", "region": "eu-west-1"},
    "slackChannel": "C0PROD",
    "approvers": {"groups": ["S0PLATFORM"]},
}


def problem(document: dict[str, Any], context: dict[str, str] | None = None) -> str:
    """What the operator reads about the document (the first error, as the configuration loader shows it)."""
    with pytest.raises(ValidationError) as raised:
        ClusterConfig.model_validate(document, context=context)
    return str(raised.value.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")


@pytest.mark.parametrize("document", [GENERIC, EKS], ids=["generic", "eks"])
def test_a_consistent_cluster_document_is_read(document: dict[str, Any]) -> None:
    cluster = ClusterConfig.model_validate(document)
    assert (cluster.name, cluster.required_approvals, cluster.privileged_required_approvals) == (document["name"], 1, 2)


@pytest.mark.parametrize(
    ("document", "changes", "message"),
    [
        (EKS, {"forwarderRoleArn": None}, "auth: iam needs forwarderRoleArn, the role the forwarder signs with"),
        (
            GENERIC,
            {"hmacSecretId": None},
            "auth: hmac needs hmacSecretId, the Secrets Manager secret holding the key",
        ),
        (
            GENERIC,
            {"hmacSecretId": "csrgate/clusters/staging/kubeconfig"},
            "hmacSecretId must be a secret under csrgate/forwarders/, which intake may read",
        ),
        (
            GENERIC,
            {"connection": {"secretId": "csrgate/forwarders/staging"}},
            "connection.secretId must be a secret under csrgate/clusters/, which the worker may read",
        ),
        (
            EKS,
            {"connection": {"eksClusterName": "prod-eu"}},
            "kind: eks needs connection.eksClusterName and connection.region",
        ),
        (
            EKS,
            {"connection": {"region": "eu-west-1"}},
            "kind: eks needs connection.eksClusterName and connection.region",
        ),
        (
            GENERIC,
            {"connection": {"eksClusterName": "staging", "region": "eu-west-1"}},
            "kind: generic needs connection.secretId, the secret with its kubeconfig",
        ),
        (GENERIC, {"approvers": {"users": [], "groups": []}}, "approvers needs at least one user or group"),
        (
            GENERIC,
            {"requiredApprovals": 3, "privilegedRequiredApprovals": 2},
            "privilegedRequiredApprovals cannot be below requiredApprovals",
        ),
    ],
)
def test_an_inconsistent_cluster_document_is_refused_saying_what_it_needs(
    document: dict[str, Any], changes: dict[str, Any], message: str
) -> None:
    assert problem({**document, **changes}) == message


def test_the_same_number_of_approvers_for_privileged_requests_is_enough() -> None:
    cluster = ClusterConfig.model_validate({**GENERIC, "requiredApprovals": 3, "privilegedRequiredApprovals": 3})
    assert cluster.approvals_needed(privileged=True) == 3


def test_secrets_live_under_the_stacks_prefix() -> None:
    # GIVEN a stack whose secrets live under shop/ rather than csrgate/
    context = {SECRET_PREFIX_CONTEXT: "shop"}
    ours = {
        **GENERIC,
        "hmacSecretId": "shop/forwarders/staging",
        "connection": {"secretId": "shop/clusters/staging/kubeconfig"},
    }
    assert ClusterConfig.model_validate(ours, context=context).hmac_secret_id == "shop/forwarders/staging"
    # THEN a secret under the default prefix is one the stack's functions may not read
    assert problem(GENERIC, context) == "hmacSecretId must be a secret under shop/forwarders/, which intake may read"
    # AND a loader that names no prefix gets the default one
    assert ClusterConfig.model_validate(GENERIC, context={}).kind is ClusterKind.GENERIC


@pytest.mark.parametrize(
    ("required", "privileged_required", "privileged", "unlinked", "needed"),
    [
        (1, 2, False, False, 1),
        (1, 2, True, False, 2),
        (1, 2, False, True, 2),  # one more than usual, and never fewer than two
        (1, 2, True, True, 2),
        (3, 5, False, False, 3),
        (3, 5, False, True, 4),
        (3, 5, True, False, 5),
        (3, 5, True, True, 5),  # a privileged request keeps its higher number
        (3, 3, True, True, 4),
    ],
)
def test_how_many_approvers_a_request_needs(
    required: int, privileged_required: int, privileged: bool, unlinked: bool, needed: int
) -> None:
    cluster = ClusterConfig.model_validate(
        {**GENERIC, "requiredApprovals": required, "privilegedRequiredApprovals": privileged_required}
    )
    assert cluster.approvals_needed(privileged, unlinked) == needed
