"""Finding the requester in Slack: the annotation, the cluster's mapping, its template; never for a node."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from csrgate.domain.cluster import ClusterConfig
from csrgate.domain.delivery import requester_emails
from csrgate.domain.findings import Code, Finding, Severity
from csrgate.domain.lifecycle import State
from csrgate.domain.records import RequestRecord
from csrgate.domain.verdict import Outcome

CLUSTER = ClusterConfig.model_validate(
    {
        "name": "lab",
        "kind": "generic",
        "auth": "hmac",
        "hmacSecretId": "csrgate/forwarders/lab",
        "connection": {"secretId": "csrgate/clusters/lab"},
        "slackChannel": "C0LAB",
        "approvers": {"users": ["U0ALICE"]},
        "requesterEmailTemplate": "{username}@example.com",
    }
)


def record(username: str) -> RequestRecord:
    return RequestRecord(
        request_id="lab#uid",
        cluster="lab",
        csr_name="csr",
        csr_uid="uid",
        state=State.APPROVED,
        outcome=Outcome.REVIEW,
        findings=(Finding(Code.SIGNER_NOT_MANAGED, Severity.INFO, "x"),),
        request={"username": username},
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize("username", ["dana", "oidc:dana"])
def test_the_template_finds_people(username: str) -> None:
    assert requester_emails(record(username), CLUSTER) == ("dana@example.com",)


@pytest.mark.parametrize("username", ["system:node:node-1", "system:serviceaccount:ci:deployer", "system:admin"])
def test_nodes_and_service_accounts_are_never_made_into_someones_email(username: str) -> None:
    assert requester_emails(record(username), CLUSTER) == ()
