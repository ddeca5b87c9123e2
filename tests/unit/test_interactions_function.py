"""Slack clicks end to end: signed interaction events into the interactions function, DynamoDB, SQS and Slack out."""

from __future__ import annotations

import base64
import copy
import inspect
import json
import logging
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from botocore.client import BaseClient
from slack_sdk.models.blocks import HeaderBlock, PlainTextObject
from slack_sdk.signature import SignatureVerifier
from stack import Stack
from test_intake_function import audit_events

from csrgate.adapters.aws.store import DynamoRequestStore
from csrgate.adapters.slack.client import call_slack, web_client
from csrgate.adapters.slack.people import GROUP_CACHE_SECONDS, SlackPeople
from csrgate.domain.approvals import ClickAnswer
from csrgate.domain.errors import PermanentFailure
from csrgate.domain.outcome import Outcome
from csrgate.domain.records import MessageRef, request_id_for
from csrgate.wiring.interactions import build_interactions_api
from devstack.harness import LambdaContext, load_function
from devstack.lab import CLUSTERS, PEOPLE, SLACK_SIGNING_SECRET
from devstack.lambda_events import DOCS_REQUEST, api_event, deny_submission, hmac_event, interaction_event, slack_event
from devstack.lambda_events import click as click_payload

REQUEST_ID = request_id_for("lab", DOCS_REQUEST["metadata"]["uid"])


def click(user: str, message: Any, action: str = "csrgate_approve", request_id: str = REQUEST_ID) -> dict[str, Any]:
    """A click on a csrgate button of the docs' CSR's message (or another request's)."""
    return click_payload(user, message, request_id, action)


def answer(function: Any, event: dict[str, Any]) -> tuple[int, str]:
    response = function.lambda_handler(event, LambdaContext())
    return response["statusCode"], response.get("body") or ""


@pytest.fixture
def posted(stack: Stack, capsys: pytest.CaptureFixture[str]) -> Any:
    """The docs' CSR forwarded through intake, its approval request posted; Slack knows the people."""
    stack.slack.users.update(PEOPLE)
    stack.slack.groups["S0PLATFORM"] = ["U0BOB"]
    stack.put_cluster(
        "lab", {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE", "U0ANGELA"], "groups": ["S0PLATFORM"]}}
    )
    intake = load_function("intake")
    intake.lambda_handler(hmac_event(DOCS_REQUEST), LambdaContext())
    [message] = stack.slack.messages
    capsys.readouterr()
    return message


@pytest.fixture
def interactions(posted: Any) -> Any:
    return load_function("interactions")


def decisions(stack: Stack) -> list[dict[str, Any]]:
    """The decisions queued for the worker, each as the stored request the job names says it."""
    decided = []
    for message in stack.queue_messages("DecisionQueue"):
        job = json.loads(message["Body"])
        assert job == {"kind": "apply_decision", "request_id": job["request_id"]}  # the worker reads nothing else
        item = stack.request_item(job["request_id"]) or {}
        decision = {"approved": "approve", "denied": "deny"}.get(item.get("state", ""), item.get("state"))
        decided.append(
            {"decision": decision, "decided_by": item.get("decided_by"), "reason": item.get("decision_reason")}
        )
    return decided


def test_an_approvers_click_approves_and_queues_the_decision(
    stack: Stack, posted: Any, interactions: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN an approver clicks Approve
    status, _ = answer(interactions, interaction_event(click("U0ALICE", posted)))
    # THEN Slack gets its 200, the request is approved and queued for the cluster
    assert status == 200
    assert stack.request_item(REQUEST_ID)["state"] == "approved"  # type: ignore[index]
    [decision] = decisions(stack)
    assert decision["decision"] == "approve" and decision["decided_by"] == "alice (U0ALICE)"
    # AND the message loses its buttons and says who decided; the clicker is told
    assert posted.updated and not [b for b in posted.blocks if b["type"] == "actions"]
    assert posted.text == "Certificate request myuser on lab was approved"
    assert "Decided by: " in json.dumps(posted.blocks) and "alice (U0ALICE)" in json.dumps(posted.blocks)
    assert stack.slack.ephemeral[-1]["user"] == "U0ALICE" and "Done: approved" in stack.slack.ephemeral[-1]["text"]
    events = [line["event"] for line in audit_events(capsys)]
    assert events == ["csr.approval_recorded", "csr.approved", "csr.decision_queued"]


def test_decisions_are_counted_and_timed_per_cluster(
    stack: Stack, posted: Any, interactions: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    answer(interactions, interaction_event(click("U0ALICE", posted)))
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]: m for m in metrics}
    assert names["Approved"]["cluster"] == "lab"
    timed = names["TimeToDecision"]
    assert timed["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] == "Seconds" and timed["TimeToDecision"][0] >= 0


def test_audit_lines_name_the_slack_user(
    stack: Stack, posted: Any, interactions: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    answer(interactions, interaction_event(click("U0ALICE", posted)))
    approved = next(line for line in audit_events(capsys) if line["event"] == "csr.approved")
    assert (approved["slack_user"], approved["slack_name"], approved["actor"]) == (
        "U0ALICE",
        "alice",
        "alice (U0ALICE)",
    )


def test_a_member_of_an_approver_group_may_approve(stack: Stack, posted: Any, interactions: Any) -> None:
    answer(interactions, interaction_event(click("U0BOB", posted)))
    assert decisions(stack)[0]["decided_by"] == "bob (U0BOB)"


def test_someone_who_is_not_an_approver_is_refused_and_audited(
    stack: Stack, posted: Any, interactions: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _ = answer(interactions, interaction_event(click("U0MALLORY", posted)))
    assert status == 200
    assert stack.request_item(REQUEST_ID)["state"] == "awaiting_review"  # type: ignore[index]
    assert decisions(stack) == [] and not posted.updated
    assert stack.slack.ephemeral == [
        {"channel": "C0LAB", "user": "U0MALLORY", "text": "You are not an approver for lab."}
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
    from test_intake_function import csr_object

    from devstack.csrs import make_csr

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
    from test_intake_function import csr_object

    from devstack.csrs import make_csr

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


def test_two_clicks_at_the_same_moment_make_one_decision(stack: Stack, posted: Any) -> None:
    # GIVEN two approvers whose clicks both read the request while it still awaited review
    approvals = build_interactions_api(logging.getLogger("race"))._approvals  # type: ignore[arg-type]
    store = approvals._store
    # each click's first read sees the request as it was before either click
    stale, real_get, reads = store.get(REQUEST_ID), store.get, iter(range(4))
    store.get = lambda request_id: stale if next(reads, 1) in (0, 2) else real_get(request_id)  # type: ignore[method-assign]
    message = MessageRef(posted.channel, posted.ts)
    # WHEN both click Approve
    first = approvals.click(REQUEST_ID, Outcome.APPROVE, "U0ALICE", message)
    second = approvals.click(REQUEST_ID, Outcome.APPROVE, "U0BOB", message)
    # THEN one conditional write wins: one decision, and the other clicker learns who was first
    assert (first.answer, second.answer) == (ClickAnswer.DECIDED, ClickAnswer.STALE)
    assert second.text.startswith("Already approved by alice (U0ALICE)")
    assert len(decisions(stack)) == 1


def test_deny_asks_for_a_reason_then_denies_with_it(stack: Stack, posted: Any, interactions: Any) -> None:
    status, _ = answer(interactions, interaction_event(click("U0ALICE", posted, action="csrgate_deny")))
    assert status == 200 and stack.request_item(REQUEST_ID)["state"] == "awaiting_review"  # type: ignore[index]
    [view] = stack.slack.views
    assert json.loads(view["private_metadata"]) == {
        "request_id": REQUEST_ID,
        "channel": posted.channel,
        "ts": posted.ts,
    }
    # an empty reason is refused in the dialog itself
    status, body = answer(interactions, interaction_event(deny_submission("U0ALICE", view, "   ")))
    assert status == 200 and json.loads(body)["response_action"] == "errors"
    # a reason denies
    status, body = answer(
        interactions, interaction_event(deny_submission("U0ALICE", view, "use your team's group, not a personal cert"))
    )
    assert status == 200 and json.loads(body) == {"response_action": "clear"}
    assert stack.request_item(REQUEST_ID)["state"] == "denied"  # type: ignore[index]
    [decision] = decisions(stack)
    assert decision["decision"] == "deny" and decision["reason"] == "use your team's group, not a personal cert"
    assert "Reason" in json.dumps(posted.blocks) and "personal cert" in json.dumps(posted.blocks)


def test_a_click_after_the_csr_was_deleted_says_so(stack: Stack, posted: Any, interactions: Any) -> None:
    load_function("intake").lambda_handler(hmac_event(DOCS_REQUEST, event_type="DELETED"), LambdaContext())
    answer(interactions, interaction_event(click("U0ALICE", posted)))
    assert stack.slack.ephemeral[-1]["text"] == "This CSR was deleted in the cluster."
    assert decisions(stack) == []


def test_a_click_after_approval_elsewhere_says_so(stack: Stack, posted: Any, interactions: Any) -> None:
    approved = copy.deepcopy(DOCS_REQUEST)
    approved["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "KubectlApprove"}]}
    load_function("intake").lambda_handler(hmac_event(approved, event_type="MODIFIED"), LambdaContext())
    answer(interactions, interaction_event(click("U0ALICE", posted)))
    assert stack.slack.ephemeral[-1]["text"] == "This CSR was decided in the cluster, outside csrgate."


def test_a_click_on_a_second_approval_says_who_was_first(stack: Stack, posted: Any, interactions: Any) -> None:
    answer(interactions, interaction_event(click("U0ALICE", posted)))
    answer(interactions, interaction_event(click("U0BOB", posted)))
    assert stack.slack.ephemeral[-1]["user"] == "U0BOB"
    assert stack.slack.ephemeral[-1]["text"].startswith("Already approved by alice (U0ALICE) just now")
    assert len(decisions(stack)) == 1


def test_a_button_from_another_message_is_refused(stack: Stack, posted: Any, interactions: Any) -> None:
    other = copy.copy(posted)
    other.ts = "1699999999.000100"
    answer(interactions, interaction_event(click("U0ALICE", other)))
    assert stack.request_item(REQUEST_ID)["state"] == "awaiting_review"  # type: ignore[index]
    assert stack.slack.ephemeral[-1]["text"] == "This button is not on the request's message."


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda e: e | {"headers": e["headers"] | {"x-slack-signature": "v0=" + "0" * 64}}, id="forged"),
        pytest.param(lambda e: e | {"body": e["body"].replace("U0ALICE", "U0BOB")}, id="altered body"),
        pytest.param(lambda e: e | {"headers": {"content-type": "application/x-www-form-urlencoded"}}, id="unsigned"),
    ],
)
def test_forged_and_altered_requests_are_refused_and_audited(
    stack: Stack, posted: Any, interactions: Any, capsys: pytest.CaptureFixture[str], tamper: Any
) -> None:
    status, _ = answer(interactions, tamper(interaction_event(click("U0ALICE", posted))))
    assert status == 401
    assert stack.request_item(REQUEST_ID)["state"] == "awaiting_review"  # type: ignore[index]
    assert "slack.request_rejected" in [line["event"] for line in audit_events(capsys)]


def test_a_replayed_request_is_refused(stack: Stack, posted: Any, interactions: Any) -> None:
    old = interaction_event(click("U0ALICE", posted), at=time.time() - 6 * 60)
    assert answer(interactions, old)[0] == 401
    assert decisions(stack) == []


def test_a_request_signed_with_another_secret_is_refused(stack: Stack, posted: Any, interactions: Any) -> None:
    assert answer(interactions, interaction_event(click("U0ALICE", posted), secret="not-ours"))[0] == 401


@pytest.mark.parametrize(
    ("body", "status"),
    [("payload=not-json", 400), ("nothing=here", 400), ("", 400), ("payload=%5B%5D", 400)],
)
def test_malformed_payloads_get_a_clear_answer(
    stack: Stack, posted: Any, interactions: Any, body: str, status: int
) -> None:
    event = interaction_event({})
    timestamp = event["headers"]["x-slack-request-timestamp"]
    event["body"] = body
    event["headers"]["x-slack-signature"] = SignatureVerifier(SLACK_SIGNING_SECRET).generate_signature(
        timestamp=timestamp, body=body
    )
    assert answer(interactions, event)[0] == status


# --- who may decide: requesters csrgate cannot tie to a Slack user, annotations, approvers who were removed --------


def forwarded(
    stack: Stack, cn: str, username: str, *, uid: str, annotation: str | None = None, orgs: tuple[str, ...] = ()
) -> tuple[Any, str]:
    """A CSR for user `cn` created by `username` (optionally annotated), through intake: its message and request id."""
    from test_intake_function import csr_object

    from devstack.csrs import make_csr

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


# --- what comes from outside: malformed requests are refused, never crash -------------------------------------


@pytest.fixture
def cold_interactions(stack: Stack, capsys: pytest.CaptureFixture[str]) -> Any:
    """The interactions function cold-started with nothing posted yet (capsys active, so its lines can be read)."""
    return load_function("interactions")


def rejections(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The reasons of the slack.request_rejected audit lines written so far."""
    return [line["reason"] for line in audit_events(capsys) if line["event"] == "slack.request_rejected"]


def _slack_headers(changes: dict[str, str | None] | None = None) -> dict[str, str]:
    """A signed interaction's headers, signed now, with some replaced (None: left out)."""
    headers = dict(interaction_event({"type": "block_actions"})["headers"])
    for name, value in (changes or {}).items():
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    return headers


TIMESTAMP, SIGNATURE = "x-slack-request-timestamp", "x-slack-signature"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({TIMESTAMP: "yesterday"}, "not Unix seconds", id="word timestamp"),
        pytest.param({TIMESTAMP: "9" * 5000}, "not Unix seconds", id="huge timestamp"),
        pytest.param({TIMESTAMP: "\u0661\u0662"}, "not Unix seconds", id="arabic digits"),
        pytest.param({TIMESTAMP: " 1 "}, "not Unix seconds", id="spaced timestamp"),
        pytest.param({SIGNATURE: "v0=\u00e9" * 30}, "malformed", id="non-ascii signature"),
        pytest.param({SIGNATURE: "v0=" + "0" * 5000}, "malformed", id="huge signature"),
        pytest.param({SIGNATURE: "sha256=abc"}, "malformed", id="other scheme"),
        pytest.param({SIGNATURE: None}, "missing", id="no signature"),
        pytest.param({TIMESTAMP: None}, "missing", id="no timestamp"),
        pytest.param({TIMESTAMP: None, SIGNATURE: None}, "missing", id="neither"),
    ],
)
def test_malformed_signature_headers_are_refused_and_audited(
    cold_interactions: Any, capsys: pytest.CaptureFixture[str], changes: dict[str, str | None], reason: str
) -> None:
    # GIVEN a request whose Slack headers are missing or are not what Slack sends
    event = interaction_event({"type": "block_actions"}) | {"headers": _slack_headers(changes)}
    # WHEN it arrives
    status, _ = answer(cold_interactions, event)
    # THEN it is refused as unauthenticated, and the audit line says why
    assert status == 401
    [rejected] = rejections(capsys)
    assert reason in rejected


def test_a_body_that_is_not_utf8_is_refused_as_not_slacks(
    cold_interactions: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = api_event("POST /v1/slack/interactions", _slack_headers(), b"payload=\xff\xfe")
    assert event["isBase64Encoded"] is True
    assert answer(cold_interactions, event)[0] == 401
    assert "not UTF-8" in rejections(capsys)[0]


def test_a_base64_body_that_does_not_decode_is_a_bad_request(
    cold_interactions: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = interaction_event({"type": "block_actions"}) | {"body": "%%%not base64", "isBase64Encoded": True}
    assert answer(cold_interactions, event)[0] == 400
    assert rejections(capsys) == ["the body is not valid base64"]


def test_a_signed_base64_body_is_read(cold_interactions: Any, capsys: pytest.CaptureFixture[str]) -> None:
    event = interaction_event({"type": "shortcut"})
    event |= {"body": base64.b64encode(event["body"].encode()).decode(), "isBase64Encoded": True}
    assert answer(cold_interactions, event)[0] == 200
    assert rejections(capsys) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"type": "block_actions"}', "not a form"),
        ("nothing=here", "not a form"),
        ("", "not a form"),
        ("payload=not-json", "not JSON"),
        ("payload=" + "1" * 5000, "not JSON"),
        ("payload=" + "%5B" * 100_000, "not JSON"),
        ("payload=%5B%5D", "not a JSON object"),
        ("payload=%22text%22", "not a JSON object"),
    ],
)
def test_signed_bodies_of_the_wrong_shape_are_bad_requests_and_audited(
    cold_interactions: Any, capsys: pytest.CaptureFixture[str], body: str, reason: str
) -> None:
    # GIVEN a request Slack signed (the signature holds) whose body is not a form holding a JSON object
    status, _ = answer(cold_interactions, slack_event(body))
    # THEN it is a bad request, audited as such
    assert status == 400
    [rejected] = rejections(capsys)
    assert reason in rejected


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "block_actions", "actions": "csrgate_approve"},
        {"type": "block_actions", "actions": {"0": {}}},
        {"type": "block_actions", "actions": [7], "user": "U0ALICE"},
        {"type": "block_actions", "actions": [{"action_id": "csrgate_approve", "value": "x"}], "user": ["U0ALICE"]},
        {"type": "block_actions", "user": {"id": "U0ALICE"}, "container": "C0LAB", "actions": [{"value": {}}]},
        {"type": "block_actions", "user": {"id": "U0ALICE"}, "actions": [{"action_id": "csrgate_approve",
                                                                          "value": "9" * 10_000}]},
        {"type": "view_submission", "view": ["csrgate_deny_reason"]},
        {"type": "view_submission", "view": {"callback_id": "csrgate_deny_reason", "state": "x"}},
        {"type": "view_submission", "view": {"callback_id": "csrgate_deny_reason", "private_metadata": 7}},
        {"type": "view_submission", "view": {"callback_id": "csrgate_deny_reason", "state": {"values": []}}},
        {"type": ["block_actions"]},
    ],
)  # fmt: skip
def test_signed_payloads_with_fields_of_the_wrong_type_never_crash(
    cold_interactions: Any, payload: dict[str, Any]
) -> None:
    status, _ = answer(cold_interactions, interaction_event(payload))
    assert status in (200, 400)


def test_other_interactions_and_buttons_are_ignored(stack: Stack, posted: Any, interactions: Any) -> None:
    assert answer(interactions, interaction_event({"type": "shortcut", "user": {"id": "U0ALICE"}}))[0] == 200
    assert answer(interactions, interaction_event(click("U0ALICE", posted, action="something_else")))[0] == 200
    assert stack.request_item(REQUEST_ID)["state"] == "awaiting_review"  # type: ignore[index]


def test_slack_rate_limiting_the_reply_does_not_lose_the_decision(stack: Stack, posted: Any, interactions: Any) -> None:
    # GIVEN Slack knows the clicker already (users.info cached by an earlier click)
    answer(interactions, interaction_event(click("U0MALLORY", posted)))
    answer(interactions, interaction_event(click("U0ALICE", posted, action="csrgate_deny")))
    # WHEN Slack rate-limits everything after the decision is stored (chat.update and chat.postEphemeral)
    stack.slack.fail_next(429, retry_after=30, times=10)
    status, _ = answer(interactions, interaction_event(click("U0ALICE", posted)))
    # THEN the click still answers 200 in time and the decision stands; the worker will redraw the message
    assert status == 200
    assert stack.request_item(REQUEST_ID)["state"] == "approved"  # type: ignore[index]
    assert len(decisions(stack)) == 1


def test_slack_down_before_anything_is_decided_asks_slack_to_show_an_error(
    stack: Stack, posted: Any, interactions: Any
) -> None:
    stack.slack.fail_next(500, times=10)  # users.info for an unknown clicker fails
    status, _ = answer(interactions, interaction_event(click("U0ALICE", posted)))
    assert status == 503
    assert stack.request_item(REQUEST_ID)["state"] == "awaiting_review"  # type: ignore[index]


def test_every_aws_client_of_the_interactions_function_gives_up_inside_slacks_three_seconds(stack: Stack) -> None:
    # GIVEN the interactions function's objects, as its cold start builds them
    api = build_interactions_api(logging.getLogger("timeouts"), stack.session)
    # WHEN we look at every AWS client they hold
    clients = _aws_clients(api)
    # THEN each one (DynamoDB, SQS, Secrets Manager, SSM) times out and retries briefly
    assert {client.meta.service_model.service_name for client in clients} == {
        "dynamodb",
        "sqs",
        "secretsmanager",
        "ssm",
    }
    for client in clients:
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (0.5, 0.8), client.meta.service_model.service_name
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}  # the call and one retry
        # a call that hangs twice: two attempts, and standard mode's backoff after a timeout (at most 50 ms)
        assert 2 * (config.connect_timeout + config.read_timeout) + 0.05 < 3


def _aws_clients(root: Any) -> list[BaseClient]:
    """Every botocore client reachable from an object through its attributes, bound methods and closures."""
    found: dict[int, BaseClient] = {}
    seen: set[int] = set()
    todo = [root]
    while todo:
        item = todo.pop()
        if id(item) in seen or isinstance(item, str | bytes | int | float | type) or item is None:
            continue
        seen.add(id(item))
        if isinstance(item, BaseClient):
            found[id(item)] = item
            continue
        if isinstance(item, dict):
            todo += list(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            todo += list(item)
        elif inspect.ismethod(item):
            todo.append(item.__self__)
        elif inspect.isfunction(item):
            todo += [cell.cell_contents for cell in item.__closure__ or ()]
        elif hasattr(item, "__dict__") and type(item).__module__.split(".")[0] in ("csrgate", "aws_lambda_powertools"):
            todo += list(vars(item).values())
    return list(found.values())


def test_a_message_slack_would_refuse_is_a_permanent_failure_not_an_outage(stack: Stack) -> None:
    # GIVEN a message whose blocks break Block Kit's rules (a header holds at most 150 characters)
    client = web_client(stack.slack.token, stack.slack.api_url)
    blocks = [HeaderBlock(text=PlainTextObject(text="x" * 151))]
    # WHEN it is sent
    with pytest.raises(PermanentFailure) as failed:
        call_slack(client, "chat_postMessage", channel="C0LAB", text="x", blocks=blocks)
    # THEN it is refused for good with its own reason: retrying would send the same malformed message again
    assert str(failed.value).startswith("invalid-message: chat_postMessage")
    assert "150 characters" in str(failed.value)
    assert stack.slack.calls == []  # slack_sdk refused to send it at all


def test_the_interactions_cold_start_imports_neither_the_kubernetes_client_nor_the_intake_path() -> None:
    # the intake schema, the CSR decoder and policy engine, and cryptography's X.509 cost the cold start ~80 ms
    unneeded = ("kubernetes", "cryptography.x509", "csrgate.adapters.inbound.intake_api", "csrgate.domain.csr")
    code = (
        "import sys; import csrgate.wiring.interactions; "
        f"print(sorted(m for m in sys.modules if m.startswith({unneeded!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert result.stdout.strip() == "[]"


def _stored_events(stack: Stack) -> list[dict[str, Any]]:
    store = DynamoRequestStore(stack.session.client("dynamodb"), stack.resources["RequestTable"], timedelta(days=1))
    return store.events(REQUEST_ID)
