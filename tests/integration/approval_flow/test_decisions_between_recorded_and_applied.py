"""A decision recorded but not yet applied in the cluster is neither lost nor undone: the sweeper queues what could not
be queued, an expiry the cluster moved on from is recorded, and a certificate seen early does not erase the approval.

AWS is moto provisioned from template.yaml, Slack is the stand-in, the cluster is the dev cluster driven by the
real kubectl; the functions are the real handlers. The worker reaches the cluster with the approver identity
(get/list/watch CSRs, approve and deny), kept in Secrets Manager as production keeps it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flow_steps import condition_types, run_worker, submit
from stack import Stack

from csrgate.wiring import kit as wiring
from devstack.harness import Kubectl, LambdaContext, load_function
from devstack.lab import CLUSTERS
from devstack.lambda_events import click as click_payload
from devstack.lambda_events import hmac_event, interaction_event


@contextmanager
def decisions_refused(stack: Stack) -> Iterator[None]:
    """The decision queue refuses every message for a while, as SQS refuses one longer than the queue allows."""
    sqs = stack.session.client("sqs")
    url = stack.resources["DecisionQueue"]
    # moto takes a MaximumMessageSize below SQS's floor of 1024 bytes, so that every send is refused
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "1"})
    try:
        yield
    finally:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "262144"})


def approve(stack: Stack, request_id: str) -> list[int]:
    """Alice approves, and bob too when the request needs a second approver; the interactions function's statuses."""
    stack.slack.users.update({"U0BOB": {"name": "bob", "email": "bob@example.com"}})
    stack.put_cluster("lab", {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE", "U0BOB"]}})
    [message] = [m for m in stack.slack.messages if request_id in json.dumps(m.blocks)]
    statuses = []
    for approver in ("U0ALICE", "U0BOB"):
        if stack.request_item(request_id)["state"] != "awaiting_review":  # type: ignore[index]
            break
        response = load_function("interactions").lambda_handler(
            interaction_event(click_payload(approver, message, request_id)), LambdaContext()
        )
        statuses.append(response["statusCode"])
    return statuses


def sweep(monkeypatch: pytest.MonkeyPatch, minutes_later: int = 0) -> dict[str, int]:
    """The sweeper function run `minutes_later` minutes from now (its clock is set when it is built)."""
    with monkeypatch.context() as patch:
        patch.setattr(wiring, "utc_now", lambda: datetime.now(UTC) + timedelta(minutes=minutes_later))
        sweeper = load_function("sweeper")
    return sweeper.lambda_handler({}, LambdaContext())  # type: ignore[no-any-return]


def test_an_approval_whose_queueing_failed_is_queued_by_the_sweeper_and_applied(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN dana's CSR awaiting review
    name = requester["user"]
    intake = submit(stack, kubectl, requester, email="dana@example.com")
    request_id = intake["request_id"]
    # WHEN it is approved while the decision queue refuses the message
    with decisions_refused(stack):
        statuses = approve(stack, request_id)
    # THEN the approval is recorded, though nothing reached the worker (and the deciding approver is asked to retry)
    assert statuses[-1] == 503
    item = stack.request_item(request_id)
    assert item is not None and item["state"] == "approved" and not item["decision_queued"]
    assert stack.work_messages() == []
    # WHEN the sweeper runs at once, it leaves a decision just recorded to the function recording it
    sweep(monkeypatch)
    assert stack.work_messages() == []
    # AND when it runs ten minutes later, it queues the decision
    sweep(monkeypatch, minutes_later=10)
    [queued] = stack.work_messages()
    assert json.loads(queued["Body"]) == {"kind": "apply_decision", "request_id": request_id}
    assert stack.request_item(request_id)["decision_queued"]  # type: ignore[index]
    # THEN the worker approves the CSR in the cluster, and it is issued
    run_worker(stack)
    assert "Approved" in condition_types(kubectl, name)
    assert kubectl("get", "csr", name, "-o", "jsonpath={.status.certificate}").stdout
    assert stack.request_item(request_id)["state"] in ("issued", "delivered")  # type: ignore[index]
    # AND later sweeps queue nothing more
    sweep(monkeypatch, minutes_later=20)
    assert stack.work_messages() == []


def test_an_expiry_whose_denial_could_not_be_queued_is_denied_after_a_later_sweep(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a cluster that denies expired CSRs, and a review nobody decided
    stack.put_cluster("lab", {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE"]}, "denyExpired": True})
    name = requester["user"]
    intake = submit(stack, kubectl, requester)
    monkeypatch.setenv("CSRGATE_REMIND_AFTER_MINUTES", "0")
    monkeypatch.setenv("CSRGATE_EXPIRE_AFTER_MINUTES", "0")
    # WHEN the sweep that expires it cannot queue the denial
    with decisions_refused(stack):
        assert sweep(monkeypatch)["expired"] == 1
    # THEN the expiry is stored all the same
    assert stack.request_item(intake["request_id"])["state"] == "expired"  # type: ignore[index]
    assert stack.work_messages() == []
    # AND a later sweep queues the denial, which the worker applies with csrgate's reason
    sweep(monkeypatch, minutes_later=10)
    run_worker(stack)
    assert kubectl("get", "csr", name, "-o", "jsonpath={.status.conditions[0].reason}").stdout == "CsrgateExpired"


@pytest.mark.parametrize(
    ("kubectl_args", "told"),
    [(("delete", "csr"), "the CSR was deleted"), (("certificate", "approve"), "Approved in the cluster first")],
)
def test_an_expired_review_the_cluster_moved_on_from_is_recorded_and_never_retried(
    stack: Stack,
    kubectl: Kubectl,
    requester: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    kubectl_args: tuple[str, str],
    told: str,
) -> None:
    # GIVEN a cluster that denies expired CSRs, and a review that expired
    stack.put_cluster("lab", {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE"]}, "denyExpired": True})
    name = requester["user"]
    intake = submit(stack, kubectl, requester)
    monkeypatch.setenv("CSRGATE_REMIND_AFTER_MINUTES", "0")
    monkeypatch.setenv("CSRGATE_EXPIRE_AFTER_MINUTES", "0")
    assert sweep(monkeypatch)["expired"] == 1
    # WHEN the requester deletes the CSR, or someone approves it with kubectl, before the worker denies it
    kubectl(*kubectl_args, name)
    answers = run_worker(stack)
    # THEN the message is done with (not handed back until it reaches the dead-letter queue)
    assert answers == [{"batchItemFailures": []}]
    # AND the request stays expired, saying what happened in the cluster, here and in Slack
    item = stack.request_item(intake["request_id"])
    assert item is not None and item["state"] == "expired" and told in item["outcome_note"]
    [message] = [m for m in stack.slack.messages if intake["request_id"] in json.dumps(m.blocks)]
    assert message.text.endswith("was left undecided until it expired") and told in json.dumps(message.blocks)


def test_a_certificate_seen_before_the_approval_is_applied_does_not_erase_the_approval(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any]
) -> None:
    # GIVEN dana's CSR approved in Slack, the decision queued and not yet applied
    name = requester["user"]
    intake = submit(stack, kubectl, requester, email="dana@example.com")
    assert approve(stack, intake["request_id"])[-1] == 200
    # WHEN intake hears of the CSR with a certificate already in its status
    obj = json.loads(kubectl("get", "csr", name, "-o", "json").stdout)
    obj.setdefault("status", {})["certificate"] = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
    forwarded = load_function("intake").lambda_handler(hmac_event(obj, event_type="MODIFIED"), LambdaContext())
    assert forwarded["statusCode"] == 200
    # THEN the request is still approved: only a decision applied in the cluster becomes issued
    assert stack.request_item(intake["request_id"])["state"] == "approved"  # type: ignore[index]
    # AND the worker applies it, and follows it to the certificate the signer issues
    run_worker(stack)
    assert "Approved" in condition_types(kubectl, name)
    assert kubectl("get", "csr", name, "-o", "jsonpath={.status.certificate}").stdout
    assert stack.request_item(intake["request_id"])["state"] in ("issued", "delivered")  # type: ignore[index]
