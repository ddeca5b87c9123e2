"""The steps of the approval flow as its event sources take them: the forwarder sending a CSR to the intake function,
clicks in Slack, and SQS delivering the decisions to the worker function."""

from __future__ import annotations

import json
from typing import Any

from cluster_access import csr_manifest
from stack import Stack

from devstack.harness import Kubectl, LambdaContext, load_function
from devstack.lambda_events import click as click_payload
from devstack.lambda_events import hmac_event, interaction_event, sqs_event


def forward(stack: Stack, kubectl: Kubectl, csr_name: str, event_type: str = "ADDED") -> dict[str, Any]:
    """What the forwarder does: send the CSR as the API server returns it to the intake function."""
    obj = json.loads(kubectl("get", "csr", csr_name, "-o", "json").stdout)
    response = load_function("intake").lambda_handler(hmac_event(obj, event_type=event_type), LambdaContext())
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])


def submit(stack: Stack, kubectl: Kubectl, requester: dict[str, Any], email: str | None = None) -> dict[str, Any]:
    """The requester's CSR created in the cluster as the docs do (optionally with their email), then forwarded."""
    manifest = csr_manifest(requester["user"], requester["csr_pem"], expirationSeconds=3600)
    if email:
        annotation = f"metadata:\n  annotations:\n    csrgate.io/requester-email: {email}\n"
        manifest = manifest.replace("metadata:\n", annotation, 1)
    kubectl("apply", "-f", "-", stdin=manifest)
    return forward(stack, kubectl, requester["user"])


def run_worker(stack: Stack) -> list[dict[str, Any]]:
    """Deliver every waiting decision-queue message to the worker function, as Lambda's event source would."""
    worker = load_function("worker")
    answers = []
    for _ in range(10):
        messages = stack.queue_messages("DecisionQueue")
        if not messages:
            break
        answers.append(worker.lambda_handler(sqs_event(messages, receive_count=1), LambdaContext()))
        sqs = stack.session.client("sqs")
        for message in messages:
            sqs.delete_message(QueueUrl=stack.resources["DecisionQueue"], ReceiptHandle=message["ReceiptHandle"])
    return answers


def click(stack: Stack, user: str, action: str, request_id: str) -> None:
    [message] = [m for m in stack.slack.messages if request_id in json.dumps(m.blocks)]
    response = load_function("interactions").lambda_handler(
        interaction_event(click_payload(user, message, request_id, action)), LambdaContext()
    )
    assert response["statusCode"] == 200


def condition_types(kubectl: Kubectl, csr_name: str) -> str:
    return kubectl("get", "csr", csr_name, "-o", "jsonpath={.status.conditions[*].type}").stdout
