"""Finding the requester in Slack: a vouched-for annotation, the cluster's mapping, its template; never for a node."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from csrgate.domain.cluster import ClusterConfig
from csrgate.domain.delivery import annotation_vouched_by, linked_email, requester_emails
from csrgate.domain.findings import Code, Finding, Severity
from csrgate.domain.lifecycle import State
from csrgate.domain.outcome import Outcome
from csrgate.domain.records import RequestRecord
from csrgate.domain.summary import RequestSummary

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
        request=RequestSummary(username=username),
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "username",
    [
        "https://dex.example.com#dana",  # OIDC's issuer#subject: the template would make //dex...#dana@example.com
        "dana+k8s@example.com",  # an alias: whose Slack user is it?
        "arn:aws:sts::123456789012:assumed-role/Admin/dana",
        "oidc:dana:admin",
    ],
)
def test_user_names_that_are_not_a_plain_name_or_email_link_to_nobody(username: str) -> None:
    # nobody can tell which person they are, so the request needs a second approver instead
    assert linked_email(username, CLUSTER) is None


@pytest.mark.parametrize("username", ["dana", "oidc:dana"])
def test_the_template_finds_people(username: str) -> None:
    assert requester_emails(record(username), CLUSTER) == ("dana@example.com",)


@pytest.mark.parametrize("username", ["system:node:node-1", "system:serviceaccount:ci:deployer", "system:admin"])
def test_nodes_and_service_accounts_are_never_made_into_someones_email(username: str) -> None:
    assert requester_emails(record(username), CLUSTER) == ()


# --- the requester-email annotation: a claim, trusted only when the cluster's own mapping agrees -----------------


@pytest.mark.parametrize(
    ("username", "common_name", "vouched_by"),
    [
        ("csrgate-admin", "dana", "cn"),  # the docs' flow: an administrator asks for dana's user, with her email
        ("dana", "service-bot", "requester"),  # dana asks, by the cluster's template
        ("Dana@Example.com", "service-bot", "requester"),  # dana asks as herself (an OIDC email user name)
        ("oidc:dana@example.com", "service-bot", "requester"),  # the same behind the API server's prefix
    ],
)
def test_an_annotation_is_trusted_when_the_cn_or_the_requester_is_that_person(
    username: str, common_name: str, vouched_by: str
) -> None:
    # GIVEN a cluster whose template makes dana@example.com of the Kubernetes user dana
    # WHEN a CSR claims dana@example.com in its annotation
    voucher = annotation_vouched_by("dana@example.com", username, common_name, CLUSTER)
    # THEN the CN or the requesting user vouches for it
    assert voucher is not None and voucher.value == vouched_by


@pytest.mark.parametrize(
    ("username", "common_name"),
    [
        ("bob", "bob"),  # bob's own certificate, claiming to be alice's
        ("csrgate-admin", "service-bot"),  # nobody the cluster maps to alice
        ("system:serviceaccount:ci:deployer", "deployer"),  # a service account is nobody's
        (None, "bob"),  # nobody knows who asked
    ],
)
def test_an_annotation_nothing_vouches_for_is_not_trusted(username: str | None, common_name: str) -> None:
    assert annotation_vouched_by("alice@example.com", username, common_name, CLUSTER) is None


def test_a_service_account_is_nobodys_even_when_the_mapping_names_someone() -> None:
    # GIVEN a cluster whose mapping ties a service account and a node to people
    cluster = CLUSTER.model_copy(
        update={"requester_emails": {"system:serviceaccount:ci:deployer": "ci@example.com", "system:node:n1": "x@y"}}
    )
    # THEN neither is linked to anyone: their credentials are shared by whoever runs the job or the node
    assert linked_email("system:serviceaccount:ci:deployer", cluster) is None
    assert linked_email("system:node:n1", cluster) is None
    assert requester_emails(record("system:serviceaccount:ci:deployer"), cluster) == ()


def test_only_a_vouched_for_annotation_is_used_for_delivery() -> None:
    # GIVEN bob's request, whose annotation (alice's email) nothing vouched for, so intake did not keep it
    bobs = replace(record("bob"), request=RequestSummary(username="bob", requester_email_claim="alice@example.com"))
    # THEN the kubeconfig goes to bob, found by the template, and never to alice
    assert requester_emails(bobs, CLUSTER) == ("bob@example.com",)
