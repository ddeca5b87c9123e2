"""Who may decide a request in Slack: approvers, and not the requester under any spelling; how many approvals a
request needs when csrgate cannot tie it to one person; annotations; approvers who were removed.

AWS is moto provisioned from template.yaml; Slack is the stand-in, reached by the real WebClient over HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from audit_records import audit_events
from intake_calls import csr_object
from slack_clicks import REQUEST_ID, answer, click, decisions
from stack import Stack

from csrgate.adapters.slack.client import web_client
from csrgate.adapters.slack.people import GROUP_CACHE_SECONDS, SlackPeople
from csrgate.domain.records import request_id_for
from devstack.csrs import make_csr
from devstack.harness import LambdaContext, load_function
from devstack.lab import CLUSTERS, PEOPLE
from devstack.lambda_events import hmac_event, interaction_event


def test_someone_who_is_not_an_approver_is_refused_and_audited(
    stack: Stack, posted: Any, interactions: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _ = answer(interactions, interaction_event(click("U0MALLORY", posted)))
    assert status == 200
    assert stack.request_item(REQUEST_ID)["state"] == "awaiting_review"  # type: ignore[index]
    assert decisions(stack) == [] and not posted.updated
    assert [(e["channel"], e["user"], e["text"]) for e in stack.slack.ephemeral] == [
        ("C0LAB", "U0MALLORY", "You are not an approver for lab.")
    ]
    [rejected] = audit_events(capsys)
    assert (rejected["event"], rejected["reason"], rejected["slack_user"]) == (
        "slack.request_rejected",
        "not an approver",
        "U0MALLORY",
    )
    stored = [e for e in _stored_events(stack) if e["event"] == "slack.request_rejected"]
    assert len(stored) == 1


def test_nobody_approves_their_own_request(stack: Stack, posted: Any, interactions: Any) -> None:
    # angela is an approver of lab, and the requester of this CSR (by email and CN)
    answer(interactions, interaction_event(click("U0ANGELA", posted)))
    assert stack.request_item(REQUEST_ID)["state"] == "awaiting_review"  # type: ignore[index]
    assert stack.slack.ephemeral[-1]["text"] == "You cannot decide on your own certificate request."


@pytest.mark.parametrize(
    ("username", "cn", "annotation"),
    [
        ("oidc:alice", "service-bot", None),  # the requester, behind an OIDC prefix
        ("ALICE@example.com", "service-bot", None),  # the requester's email, in other case
        ("system:serviceaccount:ci:deployer", "alice", None),  # the certificate would be hers
        ("csrgate-admin", "alice-admin", "Alice@Example.com"),  # hers by the cluster's mapping, as the annotation says
        ("https://dex.example.com#alice", "service-bot", None),  # OIDC's default issuer#subject user name
        ("alice+k8s@example.com", "service-bot", None),  # a plus-addressed alias of her email
        ("arn:aws:sts::123456789012:assumed-role/Admin/alice@example.com", "service-bot", None),  # EKS session
    ],
)
def test_an_approver_cannot_decide_a_request_that_is_theirs_under_another_spelling(
    stack: Stack, username: str, cn: str, annotation: str | None
) -> None:
    stack.slack.users.update(PEOPLE)
    stack.put_cluster("lab", {**CLUSTERS["lab"], "requesterEmails": {"alice-admin": "alice@example.com"}})
    obj = csr_object(make_csr(cn), uid="uid-spelled", name="spelled", username=username)
    obj["metadata"]["annotations"] = {"csrgate.io/requester-email": annotation} if annotation else {}
    load_function("intake").lambda_handler(hmac_event(obj), LambdaContext())
    [message] = stack.slack.messages
    request_id = request_id_for("lab", "uid-spelled")
    load_function("interactions").lambda_handler(
        interaction_event(click("U0ALICE", message, request_id=request_id)), LambdaContext()
    )
    assert stack.request_item(request_id)["state"] == "awaiting_review"  # type: ignore[index]
    assert stack.slack.ephemeral[-1]["text"] == "You cannot decide on your own certificate request."


def test_a_privileged_request_needs_two_distinct_approvers(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.slack.users.update(PEOPLE)
    stack.put_cluster("lab", {**CLUSTERS["lab"], "policy": "strict", "approvers": {"users": ["U0ALICE", "U0BOB"]}})
    obj = csr_object(make_csr("carol", orgs=["ops"]), uid="uid-ops", name="carol", username="carol@example.com")
    load_function("intake").lambda_handler(hmac_event(obj), LambdaContext())
    [message] = stack.slack.messages
    request_id = request_id_for("lab", "uid-ops")
    interactions = load_function("interactions")
    answer(interactions, interaction_event(click("U0ALICE", message, request_id=request_id)))
    assert stack.request_item(request_id)["state"] == "awaiting_review"  # type: ignore[index]
    assert "1 of 2: alice" in json.dumps(message.blocks) and [b for b in message.blocks if b["type"] == "actions"]
    answer(interactions, interaction_event(click("U0ALICE", message, request_id=request_id)))
    assert stack.slack.ephemeral[-1]["text"] == "You have already approved this request."
    answer(interactions, interaction_event(click("U0BOB", message, request_id=request_id)))
    assert stack.request_item(request_id)["state"] == "approved"  # type: ignore[index]
    [decision] = decisions(stack)
    assert decision["decided_by"] == "alice (U0ALICE), bob (U0BOB)"


# --- who may decide: requesters csrgate cannot tie to a Slack user, annotations, approvers who were removed --------


def forwarded(
    stack: Stack, cn: str, username: str, *, uid: str, annotation: str | None = None, orgs: tuple[str, ...] = ()
) -> tuple[Any, str]:
    """A CSR for user `cn` created by `username` (optionally annotated), through intake: its message and request id."""
    obj = csr_object(make_csr(cn, orgs=list(orgs)), uid=uid, name=uid, username=username)
    obj["metadata"]["annotations"] = {"csrgate.io/requester-email": annotation} if annotation else {}
    load_function("intake").lambda_handler(hmac_event(obj), LambdaContext())
    request_id = request_id_for("lab", uid)
    [message] = [m for m in stack.slack.messages if request_id in json.dumps(m.blocks)]
    return message, request_id


def facts(message: Any) -> str:
    """The message's text as an approver reads it."""
    return json.dumps(message.blocks)


@pytest.mark.parametrize(
    ("username", "cn", "codes", "why"),
    [
        pytest.param(
            "system:serviceaccount:ci:deployer",
            "deploy-bot",
            ["requester-unknown", "subject-mismatch"],
            "nobody can tell which Slack user asked for it",
            id="service account",
        ),
        pytest.param(
            "oidc:CiQ4ZjE5NzQ",
            "service-bot",
            ["requester-unknown", "subject-mismatch"],
            "nobody can tell which Slack user asked for it",
            id="opaque OIDC subject",
        ),
        pytest.param(
            "angela@example.com",
            "service-bot",
            ["subject-mismatch"],
            "the certificate is for someone other than who asked for it",
            id="someone else's user",
        ),
    ],
)
def test_a_request_csrgate_cannot_tie_to_one_person_needs_a_second_approver(
    stack: Stack, capsys: pytest.CaptureFixture[str], username: str, cn: str, codes: list[str], why: str
) -> None:
    # GIVEN lab, where one approval usually decides, and a CSR whose requester csrgate cannot tie to the certificate
    stack.slack.users.update(PEOPLE)
    message, request_id = forwarded(stack, cn, username, uid="uid-unlinked")
    # THEN the approval request says why it needs two approvals, with the findings that raised the number
    assert f"2 approvals: {why}" in facts(message)
    item = stack.request_item(request_id)
    assert item is not None and item["approvals_needed"] == 2
    assert [f["code"] for f in item["findings"] if f["severity"] == "warning"] == codes
    [unlinked] = [line for line in audit_events(capsys) if line["event"] == "csr.requester_unlinked"]
    assert unlinked["finding_codes"] == codes and unlinked["approvals_needed"] == 2
    # WHEN one approver approves, it is recorded and nothing is decided
    interactions = load_function("interactions")
    answer(interactions, interaction_event(click("U0ALICE", message, request_id=request_id)))
    assert stack.request_item(request_id)["state"] == "awaiting_review"  # type: ignore[index]
    assert stack.slack.ephemeral[-1]["text"] == "Approval recorded; 1 more needed."
    assert "1 of 2: alice" in facts(message) and decisions(stack) == []
    # WHEN a second approver approves, it is approved, naming both
    answer(interactions, interaction_event(click("U0BOB", message, request_id=request_id)))
    assert stack.request_item(request_id)["state"] == "approved"  # type: ignore[index]
    assert decisions(stack)[0]["decided_by"] == "alice (U0ALICE), bob (U0BOB)"


@pytest.mark.parametrize(
    ("required", "privileged_required", "orgs", "needed"),
    [
        pytest.param(2, 2, (), 3, id="one more than requiredApprovals"),
        pytest.param(1, 4, ("ops",), 4, id="a privileged request keeps its higher number"),
        pytest.param(1, 1, ("ops",), 2, id="never fewer than two"),
    ],
)
def test_a_service_accounts_request_needs_one_more_approver_than_usual(
    stack: Stack, required: int, privileged_required: int, orgs: tuple[str, ...], needed: int
) -> None:
    # GIVEN lab's approval numbers (the strict policy marks group ops privileged)
    settings = {"requiredApprovals": required, "privilegedRequiredApprovals": privileged_required}
    stack.put_cluster("lab", {**CLUSTERS["lab"], **settings, "policy": "strict"})
    # WHEN a service account asks for a certificate
    message, request_id = forwarded(stack, "deploy-bot", "system:serviceaccount:ci:deployer", uid="uid-n", orgs=orgs)
    # THEN it needs that many approvals, and says so
    assert stack.request_item(request_id)["approvals_needed"] == needed  # type: ignore[index]
    assert f"{needed} approvals" in facts(message)


def test_an_annotation_nothing_vouches_for_neither_locks_its_owner_out_nor_counts(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a cluster whose template ties each Kubernetes user to an email
    stack.slack.users.update(PEOPLE)
    stack.put_cluster("lab", {**CLUSTERS["lab"], "requesterEmailTemplate": "{username}@example.com"})
    # WHEN bob asks for his own user, and writes alice's email into the annotation
    message, request_id = forwarded(stack, "bob", "bob", uid="uid-claim", annotation="alice@example.com")
    # THEN approvers see the claim, marked as unverified, and the audit log says nothing vouched for it
    assert "Requester email (annotation, unverified: not used)" in facts(message)
    assert "alice@example.com" in facts(message)
    [claim] = [line for line in audit_events(capsys) if line["event"].startswith("csr.requester_email")]
    assert (claim["event"], claim["email"], claim.get("vouched_by")) == (
        "csr.requester_email_unverified",
        "alice@example.com",
        None,
    )
    assert stack.request_item(request_id).get("requester_email") is None  # type: ignore[union-attr]
    # AND alice, an approver, is not taken for the requester: her approval decides, as for anyone else's request
    answer(load_function("interactions"), interaction_event(click("U0ALICE", message, request_id=request_id)))
    assert stack.request_item(request_id)["state"] == "approved"  # type: ignore[index]


def test_an_annotation_the_cns_user_vouches_for_is_kept_and_audited(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a cluster whose template ties each Kubernetes user to an email
    stack.slack.users.update(PEOPLE)
    stack.put_cluster("lab", {**CLUSTERS["lab"], "requesterEmailTemplate": "{username}@example.com"})
    # WHEN an administrator asks for dana's user with dana's email, as in the Kubernetes docs' task
    message, request_id = forwarded(stack, "dana", "kubernetes-admin", uid="uid-docs", annotation="dana@example.com")
    # THEN the annotation is kept for the requester, shown as matching the mapping, and audited as verified
    assert stack.request_item(request_id)["requester_email"] == "dana@example.com"  # type: ignore[index]
    assert "Requester email (annotation, matches the cluster's mapping)" in facts(message)
    [claim] = [line for line in audit_events(capsys) if line["event"].startswith("csr.requester_email")]
    assert (claim["event"], claim["vouched_by"]) == ("csr.requester_email_verified", "cn")
    # AND the administrator's request for another user still needs two approvers
    assert "2 approvals: the certificate is for someone other than who asked for it" in facts(message)


@pytest.mark.parametrize(
    ("first", "later"),
    [
        pytest.param("U0ALICE", "U0BOB", id="removed from the users"),
        pytest.param("U0BOB", "U0ALICE", id="from a group"),
    ],
)
def test_an_approval_stops_counting_once_its_approver_may_no_longer_approve(
    stack: Stack, capsys: pytest.CaptureFixture[str], first: str, later: str
) -> None:
    # GIVEN approvers alice and angela, and bob through group S0PLATFORM
    stack.slack.users.update(PEOPLE)
    stack.slack.groups["S0PLATFORM"] = ["U0BOB"]
    approvers = {"users": ["U0ALICE", "U0ANGELA"], "groups": ["S0PLATFORM"]}
    lab = {**CLUSTERS["lab"], "approvers": approvers, "policy": "strict", "requesterEmails": {"carol": "carol@x.io"}}
    stack.put_cluster("lab", lab)
    # AND carol's request for her own user in group ops, which the strict policy marks privileged: two approvals
    message, request_id = forwarded(stack, "carol", "carol@x.io", uid="uid-lapse", orgs=("ops",))
    # AND one approver's approval recorded
    answer(load_function("interactions"), interaction_event(click(first, message, request_id=request_id)))
    assert f"1 of 2: {PEOPLE[first]['name']}" in facts(message)
    # WHEN that approver is removed from lab's approvers (or bob from the group), and someone else approves
    if first == "U0BOB":
        stack.slack.groups["S0PLATFORM"] = []
    else:
        stack.put_cluster("lab", {**lab, "approvers": {**approvers, "users": ["U0ANGELA"]}})
    capsys.readouterr()
    interactions = load_function("interactions")  # a container that has read the new settings
    answer(interactions, interaction_event(click(later, message, request_id=request_id)))
    # THEN the first approval no longer counts: nothing is decided, and the message shows only the one that counts
    assert stack.request_item(request_id)["state"] == "awaiting_review"  # type: ignore[index]
    name = PEOPLE[first]["name"]
    assert stack.slack.ephemeral[-1]["text"] == (
        f"Approval recorded; 1 more needed. No longer counted: {name}, who may no longer approve."
    )
    assert f"1 of 2: {PEOPLE[later]['name']}" in facts(message)
    [lapsed] = [line for line in audit_events(capsys) if line["event"] == "csr.approval_lapsed"]
    assert lapsed["slack_user"] == first
    # WHEN angela approves too, the two who may approve decide it
    answer(interactions, interaction_event(click("U0ANGELA", message, request_id=request_id)))
    assert stack.request_item(request_id)["state"] == "approved"  # type: ignore[index]
    assert decisions(stack)[0]["decided_by"] == f"{PEOPLE[later]['name']} ({later}), angela (U0ANGELA)"


def test_group_membership_is_read_again_once_it_is_a_minute_old(stack: Stack) -> None:
    # GIVEN bob in group S0PLATFORM, as Slack first answers
    stack.slack.groups["S0PLATFORM"] = ["U0BOB"]
    now = [1000.0]
    people = SlackPeople(lambda: web_client(stack.slack.token, stack.slack.api_url), now=lambda: now[0])
    assert people.group_members("S0PLATFORM") == {"U0BOB"}
    # WHEN he is removed from it
    stack.slack.groups["S0PLATFORM"] = []
    # THEN a click within the minute may still see him; one after it never does
    now[0] += GROUP_CACHE_SECONDS - 1
    assert people.group_members("S0PLATFORM") == {"U0BOB"}
    now[0] += 2
    assert people.group_members("S0PLATFORM") == frozenset()
    assert GROUP_CACHE_SECONDS == 60  # the minute README's "How a request goes" promises


def _stored_events(stack: Stack) -> list[dict[str, Any]]:
    return stack.stored_events(REQUEST_ID)
