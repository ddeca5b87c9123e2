"""Nothing lost through `csrgate dev up`: an approval recorded is an approval applied, even when queueing it failed.

The failure is SQS's own: the stack's decision queue refuses the message the click sends. The sweeper's pass that
finds the approval is the template's SweeperFunction, loaded in this process against the stack's AWS and Slack as
`dev up` loads it, with its clock ten minutes ahead (the stack's own schedule runs it every ten minutes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from e2e_support import condition, current
from test_through_the_stack import apply_csr

from csrgate.wiring import kit as wiring
from devstack.aws import load_template
from devstack.client import DevStackClient, wait_for
from devstack.functions import LocalFunction, parameter_defaults, template_functions
from devstack.up import STACK_NAME

REGION = "us-east-1"


def aws(stack: DevStackClient, service: str) -> Any:
    """A client of the stack's AWS (moto), as its functions reach it."""
    return boto3.client(
        service,
        endpoint_url=stack.stack["aws_endpoint_url"],
        region_name=REGION,
        aws_access_key_id="dev",
        aws_secret_access_key="dev",
    )


@contextmanager
def decisions_refused(stack: DevStackClient) -> Iterator[None]:
    """The decision queue refuses every message for a while, as SQS refuses one longer than the queue allows."""
    sqs = aws(stack, "sqs")
    url = sqs.get_queue_url(QueueName="DecisionQueue")["QueueUrl"]
    # moto takes a MaximumMessageSize below SQS's floor of 1024 bytes, so that every send is refused
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "1"})
    try:
        yield
    finally:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "262144"})


def sweeper_later(stack: DevStackClient, monkeypatch: pytest.MonkeyPatch, minutes: int) -> LocalFunction:
    """The template's SweeperFunction against the stack, built with a clock `minutes` ahead."""
    template = load_template()
    sqs, secrets = aws(stack, "sqs"), aws(stack, "secretsmanager")
    # the names devstack.aws.provision gives what it creates: the logical id, as a queue URL or a secret ARN
    created: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::SQS::Queue":
            created[logical_id] = sqs.get_queue_url(QueueName=logical_id)["QueueUrl"]
        elif resource["Type"] == "AWS::DynamoDB::Table":
            created[logical_id] = logical_id
        elif resource["Type"] == "AWS::SecretsManager::Secret":
            created[logical_id] = secrets.describe_secret(SecretId=logical_id)["ARN"]
    reach = {
        "AWS_ENDPOINT_URL": stack.stack["aws_endpoint_url"],
        "AWS_ACCESS_KEY_ID": "dev",
        "AWS_SECRET_ACCESS_KEY": "dev",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "csrgate",
        "CSRGATE_SLACK_API_URL": stack.stack["slack_url"] + "api/",
    }
    for variable, value in reach.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    refs = {**parameter_defaults(template), "AWS::StackName": STACK_NAME, **created}  # as dev up resolves them
    function = template_functions(template, refs, reach)["SweeperFunction"]
    with monkeypatch.context() as patch:
        patch.setattr(wiring, "utc_now", lambda: datetime.now(UTC) + timedelta(minutes=minutes))
        return function.load()


def approved_message(stack: DevStackClient, message: dict[str, Any]) -> dict[str, Any] | None:
    """The message as Slack shows it now, once it says the request was approved."""
    shown = current(stack, message)
    return shown if "was approved" in str(shown["text"]) else None


def test_a_click_whose_decision_could_not_be_queued_still_ends_approved_and_issued(
    stack: DevStackClient, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN dana's CSR applied with kubectl, and its approval request in Slack
    apply_csr(stack, name)
    message = stack.review_message(name)
    # WHEN alice and bob click Approve (as many approvers as it needs) while the decision queue refuses every message
    with decisions_refused(stack):
        answers = [stack.click(message, "csrgate_approve", stack.user(who)) for who in ("alice", "bob")]
    # THEN Slack shows the approver whose click decided an error, and the CSR is still pending in the cluster
    assert 503 in [answer["status"] for answer in answers], answers
    assert stack.condition(name) == "Pending"
    # WHEN the sweeper's pass runs ten minutes later
    sweeper_later(stack, monkeypatch, minutes=10).invoke({})
    # THEN the approval recorded by the deciding click is applied: the CSR ends approved by csrgate, and issued
    wait_for(f"{name} Approved,Issued", lambda: stack.condition(name) == "Approved,Issued")
    assert condition(stack, name, "Approved")["reason"] == "CsrgateApproved"
    # AND dana gets her kubeconfig in her DM
    dana = stack.user("dana")
    wait_for("the DM", lambda: next((f for f in stack.files() if f["user"] == dana and name in f["name"]), None))
    # AND the approval request in Slack says so, with no buttons left
    shown = wait_for("the message redrawn as approved", lambda: approved_message(stack, message))
    assert "csrgate_approve" not in json.dumps(shown["blocks"])
