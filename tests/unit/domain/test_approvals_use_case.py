"""Approvers' clicks: who may decide, how many must agree, and what a clicker is told when their click does nothing."""

from __future__ import annotations

import pytest
from memory import Csrgate, client_csr

from csrgate.domain.approvals import MAX_REASON_CHARS, ClickAnswer
from csrgate.domain.errors import RetryLater
from csrgate.domain.jobs import ApplyDecision
from csrgate.domain.lifecycle import State
from csrgate.domain.outcome import Outcome
from csrgate.domain.records import SlackUser


def test_one_approvers_click_decides_a_request_that_needs_one() -> None:
    # GIVEN dana's request, waiting for one approval for a minute and a half
    gate = Csrgate()
    request_id = gate.submit()
    gate.clock.advance(seconds=90)
    # WHEN alice approves
    result = gate.click(request_id, "U0ALICE")
    # THEN it is approved, queued for the worker, and the message shows who approved it
    assert (result.answer, result.text) == (
        ClickAnswer.DECIDED,
        "Done: approved by alice (U0ALICE). csrgate is applying it in lab.",
    )
    record = gate.record(request_id)
    assert record.state is State.APPROVED and record.decision_queued
    assert (record.decided_by, record.decided_at, record.decision_reason) == (
        "alice (U0ALICE)",
        gate.clock(),
        "approved in Slack",
    )
    assert result.record == record
    assert gate.decisions.jobs == [ApplyDecision(request_id)]
    assert gate.store.pending_mark(request_id) is None
    recorded, approved, queued = gate.audit.events[-3:]
    assert (recorded.event, recorded.actor) == ("csr.approval_recorded", "alice (U0ALICE)")
    assert dict(recorded.details) == {
        "slack_user": "U0ALICE",
        "slack_name": "alice",
        "approvals": 1,
        "approvals_needed": 1,
    }
    assert (approved.event, approved.actor) == ("csr.approved", "alice (U0ALICE)")
    assert dict(approved.details) == {
        "slack_user": "U0ALICE",
        "slack_name": "alice",
        "approvers": "alice (U0ALICE)",
        "seconds_to_decision": 90,
    }
    assert (queued.event, queued.actor, dict(queued.details)) == (
        "csr.decision_queued",
        "alice (U0ALICE)",
        {"decision": "approve"},
    )
    assert gate.store.event_names(request_id)[-3:] == ["csr.approval_recorded", "csr.approved", "csr.decision_queued"]
    facts = gate.channel.facts(record.slack_message)
    assert gate.channel.headline(record.slack_message) == "Certificate request dana on lab was approved"
    assert (facts["Decided by"], facts["Decided at"]) == ("alice (U0ALICE)", "2026-03-02 09:01:30 UTC")


def test_a_member_of_an_approver_group_may_approve() -> None:
    # GIVEN erin, an approver through the S0PLATFORM group
    gate = Csrgate()
    request_id = gate.submit()
    # WHEN she approves, THEN her approval decides
    assert gate.click(request_id, "U0ERIN").answer is ClickAnswer.DECIDED


def test_someone_who_is_not_an_approver_is_refused_and_the_refusal_audited() -> None:
    # GIVEN dana's review
    gate = Csrgate()
    request_id = gate.submit()
    # WHEN mallory, no approver, clicks Approve
    result = gate.click(request_id, "U0MALLORY")
    # THEN she is refused, nothing changes, and the refusal is audited
    assert (result.answer, result.text) == (ClickAnswer.REFUSED, "You are not an approver for lab.")
    assert result.record == gate.record(request_id)
    assert gate.record(request_id).state is State.AWAITING_REVIEW and gate.decisions.jobs == []
    rejected = gate.audit.events[-1]
    assert (rejected.event, rejected.actor, rejected.request_id) == (
        "slack.request_rejected",
        "mallory (U0MALLORY)",
        request_id,
    )
    assert dict(rejected.details) == {"slack_user": "U0MALLORY", "slack_name": "mallory", "reason": "not an approver"}
    assert gate.store.event_names(request_id)[-1] == "slack.request_rejected"


@pytest.mark.parametrize(
    ("username", "cn"),
    [
        ("alice", "alice"),  # her own user
        ("dana", "alice"),  # dana asks for alice's user
        ("oidc:Alice", "alice"),  # the API server's OIDC prefix, another case
        ("Alice@Example.com", "ops-robot"),  # her email as an OIDC user name
        ("alice+k8s@example.com", "ops-robot"),  # a plus alias of her email
        ("https://issuer.example.com#alice", "ops-robot"),  # an OIDC issuer and subject
        ("arn:aws:iam::123456789012:user/alice", "ops-robot"),  # an IAM user's ARN
        ("svc-alice", "ops-robot"),  # the cluster maps svc-alice to her email
        ("alice@corp.example", "ops-robot"),  # her name at another domain
        ("alice+k8s+ci@example.com", "ops-robot"),  # an alias of an alias
        ("alice@evil@example.com", "ops-robot"),  # what comes before the first @
    ],
)
def test_nobody_decides_on_their_own_request_under_any_spelling(username: str, cn: str) -> None:
    # GIVEN a request alice made, or one for alice's user
    gate = Csrgate(requesterEmails={"svc-alice": "alice@example.com"})
    request_id = gate.submit(client_csr(cn), "mine", username=username)
    # WHEN alice clicks Approve, or Deny
    approve = gate.click(request_id, "U0ALICE")
    deny = gate.deny(request_id, "U0ALICE", "changed my mind")
    # THEN she is refused both ways
    assert (approve.answer, approve.text) == (ClickAnswer.REFUSED, "You cannot decide on your own certificate request.")
    assert deny.answer is ClickAnswer.REFUSED
    assert gate.record(request_id).approvals == () and gate.record(request_id).state is State.AWAITING_REVIEW
    refused = gate.audit.events[-1]
    assert (refused.actor, dict(refused.details)) == (
        "alice (U0ALICE)",
        {"slack_user": "U0ALICE", "slack_name": "alice", "reason": "self-approval"},
    )
    assert approve.record == gate.record(request_id)


def test_an_approver_known_to_slack_under_another_name_is_still_the_requester_by_email() -> None:
    # GIVEN dana's Slack name is d.smith, her profile email dana@example.com, and she is an approver
    gate = Csrgate(approvers={"users": ["U0DS", "U0ALICE"]})
    gate.people.users["U0DS"] = SlackUser("U0DS", "d.smith", "dana@example.com")
    request_id = gate.submit()
    # THEN she cannot approve her own request
    assert gate.click(request_id, "U0DS").answer is ClickAnswer.REFUSED


def test_an_approver_without_an_email_in_slack_may_approve_others() -> None:
    # GIVEN frank, an approver whose Slack profile shows no email
    gate = Csrgate(approvers={"users": ["U0NOMAIL"]})
    gate.people.users["U0NOMAIL"] = SlackUser("U0NOMAIL", "frank")
    request_id = gate.submit()
    # WHEN he approves dana's request, THEN it is decided
    assert gate.click(request_id, "U0NOMAIL").answer is ClickAnswer.DECIDED


def test_slack_down_while_a_decision_is_redrawn_keeps_the_decision() -> None:
    # GIVEN Slack rate limiting message updates
    gate = Csrgate()
    request_id = gate.submit()
    gate.channel.failure = RetryLater("Slack answered ratelimited to chat_update")
    # WHEN alice approves, THEN the decision is made all the same
    assert gate.click(request_id, "U0ALICE").answer is ClickAnswer.DECIDED
    # AND the failed redraw is recorded
    assert gate.record(request_id).state is State.APPROVED
    assert gate.audit.names()[-1] == "slack.update_failed"


def test_the_owner_of_a_vouched_requester_email_cannot_approve() -> None:
    # GIVEN an administrator asks for angela's user with angela's email (the lab maps angela to it)
    # GIVEN an administrator asks for angela's user with angela's email (the lab maps angela to it)
    gate = Csrgate(approvers={"users": ["U0ALICE", "U0ANGELA"]})
    request_id = gate.submit(
        client_csr("angela"),
        "angela",
        username="admin",
        annotations={"csrgate.io/requester-email": "angela@example.com"},
    )
    # WHEN angela approves, THEN she is refused: the certificate is hers
    assert gate.click(request_id, "U0ANGELA").answer is ClickAnswer.REFUSED


def test_an_email_anyone_could_write_into_a_csr_does_not_lock_its_owner_out() -> None:
    # GIVEN dana annotates her request with alice's email, which nothing vouches for
    gate = Csrgate()
    request_id = gate.submit(annotations={"csrgate.io/requester-email": "alice@example.com"})
    # THEN alice may still approve it
    assert gate.click(request_id, "U0ALICE").answer is ClickAnswer.DECIDED


def test_names_that_end_in_a_separator_are_not_taken_for_each_other() -> None:
    # GIVEN a request from the user name "deploy:", and an approver whose Slack name is "platform/"
    gate = Csrgate(approvers={"users": ["U0PLAT"]})
    gate.people.users["U0PLAT"] = SlackUser("U0PLAT", "platform/")
    request_id = gate.submit(client_csr("web-robot"), "robot", username="deploy:")
    # WHEN the approver approves, THEN the empty names after the separators make neither the other
    assert gate.click(request_id, "U0PLAT").answer is ClickAnswer.RECORDED


def test_a_colleague_whose_name_only_starts_like_the_requesters_may_approve() -> None:
    # GIVEN alicea's request
    gate = Csrgate()
    request_id = gate.submit(client_csr("alicea"), "alicea", username="alicea")
    # WHEN alice approves, THEN she may: a name that merely starts like hers is not hers
    assert gate.click(request_id, "U0ALICE").answer is ClickAnswer.DECIDED


def test_a_privileged_request_needs_two_approvers_and_shows_the_first() -> None:
    # GIVEN a request for the privileged group ops
    gate = Csrgate()
    request_id = gate.submit(client_csr("dana", orgs=["ops"]))
    # WHEN alice approves, then again
    first = gate.click(request_id, "U0ALICE")
    again = gate.click(request_id, "U0ALICE")
    # THEN one more approval is needed, and the message says whose is counted
    assert (first.answer, first.text) == (ClickAnswer.RECORDED, "Approval recorded; 1 more needed.")
    assert (again.answer, again.text) == (ClickAnswer.REFUSED, "You have already approved this request.")
    assert again.record == gate.record(request_id)
    record = gate.record(request_id)
    assert record.state is State.AWAITING_REVIEW and [a.slack_id for a in record.approvals] == ["U0ALICE"]
    assert gate.channel.facts(record.slack_message)["Approved so far"] == "1 of 2: alice"
    assert gate.decisions.jobs == []
    # WHEN bob approves too
    second = gate.click(request_id, "U0BOB")
    # THEN it is decided by both
    assert second.text == "Done: approved by alice (U0ALICE), bob (U0BOB). csrgate is applying it in lab."
    assert gate.record(request_id).decided_by == "alice (U0ALICE), bob (U0BOB)"
    assert gate.audit.events[-3].details == {
        "slack_user": "U0BOB",
        "slack_name": "bob",
        "approvals": 2,
        "approvals_needed": 2,
    }


def test_a_request_csrgate_cannot_tie_to_a_person_needs_two_approvers() -> None:
    # GIVEN a service account's request
    gate = Csrgate()
    request_id = gate.submit(username="system:serviceaccount:ci:deployer")
    # WHEN alice approves, THEN one more is needed; WHEN erin approves too, THEN it is decided
    assert gate.click(request_id, "U0ALICE").text == "Approval recorded; 1 more needed."
    assert gate.click(request_id, "U0ERIN").answer is ClickAnswer.DECIDED


def test_an_approval_from_someone_no_longer_an_approver_stops_counting() -> None:
    # GIVEN alice approved a privileged request, then left the approvers
    gate = Csrgate()
    request_id = gate.submit(client_csr("dana", orgs=["ops"]))
    gate.click(request_id, "U0ALICE")
    gate.directory.clusters["lab"] = gate.config.model_copy(
        update={"approvers": gate.config.approvers.model_copy(update={"users": ("U0BOB", "U0CAROL")})}
    )
    # WHEN bob approves
    result = gate.click(request_id, "U0BOB")
    # THEN only bob counts: one more is needed, and the lapse is audited
    assert (result.answer, result.text) == (
        ClickAnswer.RECORDED,
        "Approval recorded; 1 more needed. No longer counted: alice, who may no longer approve.",
    )
    assert [a.name for a in result.record.approvals] == ["bob"]
    assert gate.channel.facts(gate.record(request_id).slack_message)["Approved so far"] == "1 of 2: bob"
    lapsed = [event for event in gate.audit.events if event.event == "csr.approval_lapsed"]
    assert [(e.actor, dict(e.details)) for e in lapsed] == [
        ("bob (U0BOB)", {"slack_user": "U0ALICE", "slack_name": "alice", "reason": "no longer an approver for lab"})
    ]
    assert "csr.approval_lapsed" in gate.store.event_names(request_id)
    # WHEN carol approves
    assert gate.click(request_id, "U0CAROL").answer is ClickAnswer.DECIDED
    assert gate.record(request_id).decided_by == "bob (U0BOB), carol (U0CAROL)"


def test_leaving_an_approver_group_lapses_an_approval_too() -> None:
    # GIVEN erin approved a privileged request, then left the approver group
    gate = Csrgate()
    request_id = gate.submit(client_csr("dana", orgs=["ops"]))
    gate.click(request_id, "U0ERIN")
    gate.people.groups["S0PLATFORM"] = frozenset()
    # WHEN bob approves, THEN only his approval counts
    assert gate.click(request_id, "U0BOB").answer is ClickAnswer.RECORDED


def test_of_two_approvers_clicking_at_once_one_decides_and_the_other_is_told_who() -> None:
    # GIVEN bob's click lands between alice's approval and her decision
    gate = Csrgate()
    request_id = gate.submit()
    gate.store.before("transition", lambda: gate.click(request_id, "U0BOB"))
    # WHEN alice approves
    result = gate.click(request_id, "U0ALICE")
    # THEN bob's decision stands, alice is told, and the worker gets it once
    assert (result.answer, result.text) == (
        ClickAnswer.STALE,
        "Already approved by alice (U0ALICE), bob (U0BOB) just now.",
    )
    assert gate.decisions.jobs == [ApplyDecision(request_id)]
    assert gate.audit.names().count("csr.approved") == 1


def test_an_approval_racing_a_denial_is_told_the_request_was_denied() -> None:
    # GIVEN bob denies the request just before alice's approval is stored
    gate = Csrgate()
    request_id = gate.submit()
    gate.store.before("add_approval", lambda: gate.deny(request_id, "U0BOB", "wrong team"))
    # WHEN alice's click goes on
    result = gate.click(request_id, "U0ALICE")
    # THEN she is told it was denied, and by whom
    assert (result.answer, result.text) == (ClickAnswer.STALE, "Already denied by bob (U0BOB) just now.")
    assert result.record.state is State.DENIED


def test_an_approval_racing_the_requests_disappearance_is_told_so() -> None:
    # GIVEN the request is gone just before alice's approval is stored
    gate = Csrgate()
    request_id = gate.submit()
    gate.store.before("add_approval", gate.store.items.clear)
    # WHEN her click goes on
    result = gate.click(request_id, "U0ALICE")
    # THEN she is told csrgate knows no such request
    assert (result.answer, result.text, result.record) == (ClickAnswer.STALE, "csrgate knows no such request.", None)


def test_a_denial_racing_an_approval_is_told_the_request_was_approved() -> None:
    # GIVEN alice approves just before bob's denial is stored
    gate = Csrgate()
    request_id = gate.submit()
    gate.store.before("transition", lambda: gate.click(request_id, "U0ALICE"))
    # WHEN bob's denial goes on
    result = gate.deny(request_id, "U0BOB", "wrong team")
    # THEN he is told it was approved, and by whom
    assert (result.answer, result.text) == (ClickAnswer.STALE, "Already approved by alice (U0ALICE) just now.")


def test_deny_asks_for_a_reason_first_and_refuses_a_blank_one() -> None:
    # GIVEN dana's review
    gate = Csrgate()
    request_id = gate.submit()
    # WHEN bob clicks Deny, then submits a blank reason
    asked = gate.click(request_id, "U0BOB", Outcome.DENY)
    blank = gate.deny(request_id, "U0BOB", " \n\t ")
    # THEN he is asked why, then refused, and nothing changes
    assert (asked.answer, asked.text) == (ClickAnswer.ASK_REASON, "Why deny it? The requester will see your reason.")
    assert (blank.answer, blank.text) == (ClickAnswer.REFUSED, "A denial needs a reason the requester can act on.")
    assert asked.record == gate.record(request_id) and blank.record == gate.record(request_id)
    assert gate.record(request_id).state is State.AWAITING_REVIEW and gate.decisions.jobs == []


def test_a_denial_with_a_reason_is_decided_with_the_reason_tidied() -> None:
    # GIVEN dana's review, two minutes old
    gate = Csrgate()
    request_id = gate.submit()
    gate.clock.advance(minutes=2)
    # WHEN bob denies it with a long, untidy reason
    result = gate.deny(request_id, "U0BOB", "  use the\n  platform   group " + "x" * MAX_REASON_CHARS)
    # THEN it is denied with the reason on one line and cut to length, and queued for the worker
    reason = ("use the platform group " + "x" * MAX_REASON_CHARS)[:MAX_REASON_CHARS]
    assert (result.answer, result.text) == (
        ClickAnswer.DECIDED,
        "Done: denied by bob (U0BOB). csrgate is applying it in lab.",
    )
    record = gate.record(request_id)
    assert (record.state, record.decided_by, record.decision_reason) == (State.DENIED, "bob (U0BOB)", reason)
    denied, queued = gate.audit.events[-2:]
    assert (denied.event, denied.actor) == ("csr.denied", "bob (U0BOB)")
    assert dict(denied.details) == {
        "slack_user": "U0BOB",
        "slack_name": "bob",
        "reason": reason,
        "seconds_to_decision": 120,
    }
    assert (queued.actor, dict(queued.details)) == ("bob (U0BOB)", {"decision": "deny"})
    assert gate.decisions.jobs == [ApplyDecision(request_id)]
    assert gate.channel.facts(record.slack_message)["Reason"] == reason


def test_every_approval_that_lapsed_is_named() -> None:
    # GIVEN alice and bob approved a request needing three, then both left the approvers
    gate = Csrgate(privilegedRequiredApprovals=3)
    request_id = gate.submit(client_csr("dana", orgs=["ops"]))
    gate.click(request_id, "U0ALICE")
    gate.click(request_id, "U0BOB")
    gate.reconfigure(privilegedRequiredApprovals=3, approvers={"users": ["U0CAROL"]})
    # WHEN carol approves
    result = gate.click(request_id, "U0CAROL")
    # THEN both lapsed approvals are named
    assert result.text == "Approval recorded; 2 more needed. No longer counted: alice, bob, who may no longer approve."
