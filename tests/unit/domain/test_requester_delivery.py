"""Reaching the requester: which person a Kubernetes user name is, what vouches for an annotated email, and what their
direct message says."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from memory import START, Csrgate, client_csr, cluster_config

from csrgate.domain.delivery import (
    Voucher,
    annotation_vouched_by,
    bundle_delivery,
    denial_text,
    fetch_command,
    kubeconfig_delivery,
    linked_email,
    requester_emails,
)
from csrgate.domain.findings import Code, error, warning
from csrgate.domain.kubeconfig import RequesterKubeconfig
from csrgate.domain.lifecycle import State
from csrgate.domain.outcome import Outcome
from csrgate.domain.records import RequestRecord
from csrgate.domain.summary import RequestSummary

LAB = cluster_config(requesterEmails={"angela": "Angela@Example.com", "robot": "not-an-email"})


@pytest.mark.parametrize(
    ("user", "email"),
    [
        ("dana", "dana@example.com"),  # the template
        ("oidc:dana", "dana@example.com"),  # one API-server prefix dropped
        ("dana.smith_2-b", "dana.smith_2-b@example.com"),
        ("angela", "Angela@Example.com"),  # the mapping first
        ("oidc:eve@corp.example", "eve@corp.example"),  # an OIDC email is itself
        ("eve@corp.example", "eve@corp.example"),
        ("robot", None),  # mapped to something that is not an email
        ("system:node:node-1", None),  # nodes are nobody
        ("system:serviceaccount:ci:deployer", None),
        ("https://issuer.example.com#dana", None),  # issuer and subject: could be anyone
        ("arn:aws:iam::123456789012:user/dana", None),
        ("dana+k8s@example.com", None),  # a plus alias
        ("oidc:keycloak:dana", None),  # only one prefix is dropped
        ("-dana", None),
        ("dana@", None),
        ("", None),
        (None, None),
    ],
)
def test_a_user_name_is_tied_to_a_persons_email_only_by_the_clusters_settings(user: str | None, email: str) -> None:
    assert linked_email(user, LAB) == email


def test_without_a_template_a_plain_name_is_nobody() -> None:
    cluster = cluster_config(requesterEmailTemplate=None)
    assert linked_email("dana", cluster) is None
    assert linked_email("angela", cluster) == "angela@example.com"
    assert linked_email("x-{username}", cluster_config(requesterEmailTemplate="k8s-{username}@example.com")) is None
    assert linked_email("dana", cluster_config(requesterEmailTemplate="k8s-{username}@example.com")) == (
        "k8s-dana@example.com"
    )


@pytest.mark.parametrize(
    ("claim", "username", "common_name", "voucher"),
    [
        ("dana@example.com", "admin", "dana", Voucher.COMMON_NAME),
        (" DANA@example.com ", "dana", "dana", Voucher.COMMON_NAME),
        ("dana@example.com", "dana", "dana-robot", Voucher.REQUESTER),
        ("angela@example.com", "angela", None, Voucher.REQUESTER),
        ("boss@example.com", "dana", "dana", None),
        ("dana@example.com", None, None, None),
        ("dana@example.com", "system:node:dana", "system:node:dana", None),
    ],
)
def test_an_annotated_email_is_vouched_for_only_by_the_clusters_mapping(
    claim: str, username: str | None, common_name: str | None, voucher: Voucher | None
) -> None:
    assert annotation_vouched_by(claim, username, common_name, LAB) is voucher


def record(**changes: object) -> RequestRecord:
    summary = RequestSummary(name="dana", username="dana", signer_name="kubernetes.io/kube-apiserver-client")
    base = RequestRecord("r-1", "lab", "dana", "uid-1", State.DENIED, Outcome.REVIEW, (), summary, START)
    return replace(base, **changes)


def test_the_requester_is_looked_for_by_the_vouched_email_then_the_mapping_once_each() -> None:
    assert requester_emails(record(requester_email="dana.s@example.com"), LAB) == (
        "dana.s@example.com",
        "dana@example.com",
    )
    assert requester_emails(record(requester_email="dana@example.com"), LAB) == ("dana@example.com",)
    unknown = record(request=RequestSummary(username="system:node:n1"))
    assert requester_emails(unknown, LAB) == ()
    assert requester_emails(replace(unknown, requester_email="not an email"), LAB) == ()


def test_a_kubeconfig_comes_with_the_command_that_adds_the_key_and_a_check() -> None:
    kubeconfig = RequesterKubeconfig(
        text="apiVersion: v1\n",
        filename="lab dana.kubeconfig",
        user="dana",
        context="dana@lab",
        key_path="dana.key",
        set_credentials_command="kubectl --kubeconfig 'lab dana.kubeconfig' config set-credentials dana ...",
        not_after=datetime(2026, 3, 3, 9, 5, 59),
    )
    delivery = kubeconfig_delivery(record(decided_by="alice (U0ALICE)"), kubeconfig)
    assert (delivery.filename, delivery.content) == ("lab dana.kubeconfig", "apiVersion: v1\n")
    assert delivery.comment == (
        "Your certificate request dana on lab was approved by alice (U0ALICE). Here is your kubeconfig for user "
        "dana, valid until 2026-03-03 09:05 UTC.\n"
        "It does not hold your private key, which never left your machine. Add it with:\n"
        "kubectl --kubeconfig 'lab dana.kubeconfig' config set-credentials dana ...\n"
        "Then check who the cluster thinks you are:\n"
        "kubectl --kubeconfig 'lab dana.kubeconfig' auth whoami"
    )


def test_a_serving_certificate_comes_as_its_chain() -> None:
    delivery = bundle_delivery(record(csr_name="web", decided_by="alice (U0ALICE)"), "-----BEGIN CERTIFICATE-----")
    assert (delivery.filename, delivery.content) == ("lab-web.pem", "-----BEGIN CERTIFICATE-----")
    assert delivery.comment.startswith("Your certificate request web on lab was approved by alice (U0ALICE). ")


def test_a_person_denying_gives_the_requester_their_reason() -> None:
    findings = (error(Code.FORBIDDEN_GROUP, "no masters"),)
    denied = record(decided_by="bob (U0BOB)", decision_reason="use your team's group", findings=findings)
    assert denial_text(denied) == (
        "Your certificate request dana on lab was denied by bob (U0BOB):\n- use your team's group"
    )


def test_a_policy_denial_lists_the_errors_only() -> None:
    findings = (
        error(Code.FORBIDDEN_GROUP, "drop system:masters"),
        warning(Code.REQUESTER_UNKNOWN, "who?"),
        error(Code.EXPIRATION_TOO_LONG, "ask for 30 days at most"),
    )
    denied = record(decided_by="csrgate:policy", decision_reason="policy", findings=findings)
    assert denial_text(denied).splitlines()[1:] == [
        "- forbidden-group: drop system:masters",
        "- expiration-too-long: ask for 30 days at most",
    ]
    assert denial_text(record(decided_by="csrgate:policy")).endswith(":\n- no reason was given")
    assert denial_text(record(decision_reason="a reason nobody gave")).endswith(":\n- no reason was given")


def test_the_fetch_command_quotes_the_csrs_name() -> None:
    assert fetch_command(record(csr_name="dana")) == (
        "kubectl get csr dana -o jsonpath='{.status.certificate}' | base64 -d > dana.crt"
    )
    assert fetch_command(record(csr_name="a;rm -rf")) == (
        "kubectl get csr 'a;rm -rf' -o jsonpath='{.status.certificate}' | base64 -d > 'a;rm -rf'.crt"
    )


def test_a_requester_denied_by_the_policy_is_told_it_was_the_policy() -> None:
    # GIVEN dana's request for system:masters, denied by the policy (nobody clicked)
    gate = Csrgate()
    gate.submit(client_csr("dana", orgs=["system:masters"]))
    # WHEN the worker applies the denial and tells her
    gate.work()
    # THEN her message names the policy as the decider, never "None"
    [(_, text)] = gate.requesters.told
    assert text.startswith("Your certificate request dana on lab was denied by csrgate's policy:\n- forbidden-group: ")


def test_a_certificate_nobody_clicked_for_names_the_policy_as_its_approver() -> None:
    approved = record(state=State.ISSUED, decided_by=None)
    assert bundle_delivery(approved, "PEM").comment.startswith(
        "Your certificate request dana on lab was approved by csrgate's policy. "
    )
