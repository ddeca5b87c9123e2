"""The sweeper: reminders for reviews left waiting, expiry before Kubernetes garbage-collects the CSR."""

from __future__ import annotations

import json
from typing import Any

import pytest
from audit_records import audit_trail
from intake_calls import csr_object
from stack import Stack

from csrgate.domain.records import request_id_for
from devstack.harness import LambdaContext, load_function
from devstack.lab import CLUSTERS, PEOPLE
from devstack.lambda_events import DOCS_REQUEST, click, hmac_event, interaction_event

REQUEST_ID = request_id_for("lab", DOCS_REQUEST["metadata"]["uid"])


@pytest.fixture
def waiting(stack: Stack) -> Any:
    """The docs' CSR awaiting review in lab's channel."""
    stack.slack.users.update(PEOPLE)
    load_function("intake").lambda_handler(hmac_event(DOCS_REQUEST), LambdaContext())
    [message] = stack.slack.messages
    return message


@pytest.fixture
def second(stack: Stack, waiting: Any) -> Any:
    """Another CSR awaiting review, received after the docs' one."""
    load_function("intake").lambda_handler(hmac_event(csr_object(uid="uid-2", name="second")), LambdaContext())
    return next(m for m in stack.slack.messages if m.ts != waiting.ts and not m.thread_ts)


def sweep(monkeypatch: pytest.MonkeyPatch, remind: int, expire: int) -> dict[str, int]:
    """The reviews a sweep reminded about and expired (it also says what it requeued and which holders it reminded)."""
    monkeypatch.setenv("CSRGATE_REMIND_AFTER_MINUTES", str(remind))
    monkeypatch.setenv("CSRGATE_EXPIRE_AFTER_MINUTES", str(expire))
    swept = load_function("sweeper").lambda_handler({"source": "aws.scheduler"}, LambdaContext())
    return {key: swept[key] for key in ("reminded", "expired")}


def test_a_review_left_waiting_is_reminded_once_in_its_thread(
    stack: Stack, waiting: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sweep(monkeypatch, remind=0, expire=720) == {"reminded": 1, "expired": 0}
    [reminder] = [m for m in stack.slack.messages if m.thread_ts == waiting.ts]
    assert reminder.text.startswith("Reminder: this request has waited 0 hours and needs 1 more approval.")
    assert sweep(monkeypatch, remind=0, expire=720) == {"reminded": 0, "expired": 0}
    assert len([m for m in stack.slack.messages if m.thread_ts]) == 1


def test_nothing_is_reminded_before_its_time(stack: Stack, waiting: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sweep(monkeypatch, remind=60, expire=720) == {"reminded": 0, "expired": 0}


def test_a_review_nobody_decided_expires_and_says_so(
    stack: Stack, waiting: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sweep(monkeypatch, remind=0, expire=0) == {"reminded": 0, "expired": 1}
    assert stack.request_item(REQUEST_ID)["state"] == "expired"  # type: ignore[index]
    assert waiting.updated and waiting.text.endswith("was left undecided until it expired")
    assert not [b for b in waiting.blocks if b["type"] == "actions"]
    # lab does not deny expired CSRs: the worker only shows the expiry on the CSR (as it showed the review waiting)
    shown = [json.loads(message["Body"]) for message in stack.queue_messages("DecisionQueue")]
    assert shown == [{"kind": "show_in_cluster", "request_id": REQUEST_ID}] * 2
    # a late click is told what happened
    load_function("interactions").lambda_handler(
        interaction_event(click("U0ALICE", waiting, REQUEST_ID)), LambdaContext()
    )
    assert stack.slack.ephemeral[-1]["text"] == "This request expired before anyone decided."


def test_a_cluster_may_also_deny_expired_csrs(stack: Stack, waiting: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.put_cluster("lab", {**CLUSTERS["lab"], "denyExpired": True})
    sweep(monkeypatch, remind=0, expire=0)
    [queued] = stack.work_messages()
    job = json.loads(queued["Body"])
    assert job == {"kind": "apply_decision", "request_id": job["request_id"]}
    item = stack.request_item(job["request_id"]) or {}
    assert item["state"] == "expired" and item["outcome_note"].startswith("expired")


def test_decided_requests_are_not_swept(stack: Stack, waiting: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    load_function("interactions").lambda_handler(
        interaction_event(click("U0ALICE", waiting, REQUEST_ID)), LambdaContext()
    )
    assert stack.request_item(REQUEST_ID)["state"] == "approved"  # type: ignore[index]
    assert sweep(monkeypatch, remind=0, expire=0) == {"reminded": 0, "expired": 0}


def test_slack_trouble_while_expiring_one_review_neither_stops_the_sweep_nor_loses_the_expiry(
    stack: Stack, waiting: Any, second: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Slack rate-limits the sweep's first call: the update of the older review's message
    stack.slack.fail_next(429, retry_after=30)
    # WHEN both reviews have waited too long
    assert sweep(monkeypatch, remind=0, expire=0) == {"reminded": 0, "expired": 2}
    # THEN both are expired, the message Slack refused is recorded as not updated, and the other one shows it
    assert stack.request_item(REQUEST_ID)["state"] == "expired"  # type: ignore[index]
    assert stack.request_item(request_id_for("lab", "uid-2"))["state"] == "expired"  # type: ignore[index]
    assert "slack.update_failed" in [event["event"] for event in audit_trail(stack, REQUEST_ID)]
    assert not waiting.updated
    assert second.updated and second.text.endswith("was left undecided until it expired")


def test_slack_trouble_while_reminding_one_review_leaves_its_reminder_to_the_next_sweep(
    stack: Stack, waiting: Any, second: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Slack rate-limits the sweep's first call: the reminder in the older review's thread
    stack.slack.fail_next(429, retry_after=30)
    # WHEN both reviews are due a reminder
    assert sweep(monkeypatch, remind=0, expire=720) == {"reminded": 1, "expired": 0}
    # THEN the other review is reminded, and the next sweep reminds the one Slack refused, once each
    assert sweep(monkeypatch, remind=0, expire=720) == {"reminded": 1, "expired": 0}
    assert sweep(monkeypatch, remind=0, expire=720) == {"reminded": 0, "expired": 0}
    for message in (waiting, second):
        assert len([m for m in stack.slack.messages if m.thread_ts == message.ts]) == 1
