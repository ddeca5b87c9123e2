"""Slack clicks end to end: an approver's click or denial decides the request, queues the decision and redraws the
message; a click on a request already decided, withdrawn or on another message is told why.

AWS is moto provisioned from template.yaml; Slack is the stand-in, reached by the real WebClient over HTTP.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from audit_records import audit_events
from slack_clicks import REQUEST_ID, answer, click, decisions
from stack import Stack

from csrgate.domain.approvals import ClickAnswer
from csrgate.domain.outcome import Outcome
from csrgate.domain.records import MessageRef
from csrgate.wiring.interactions import build_interactions_api
from devstack.harness import LambdaContext, load_function
from devstack.lambda_events import DOCS_REQUEST, deny_submission, hmac_event, interaction_event


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


def test_other_interactions_and_buttons_are_ignored(stack: Stack, posted: Any, interactions: Any) -> None:
    assert answer(interactions, interaction_event({"type": "shortcut", "user": {"id": "U0ALICE"}}))[0] == 200
    assert answer(interactions, interaction_event(click("U0ALICE", posted, action="something_else")))[0] == 200
    assert stack.request_item(REQUEST_ID)["state"] == "awaiting_review"  # type: ignore[index]
