"""Clicks in Slack on the docs' CSR's approval request (or another request's), as the interactions function gets
them, and the decisions they queue for the worker."""

from __future__ import annotations

import json
from typing import Any

from stack import Stack

from csrgate.domain.records import request_id_for
from devstack.harness import LambdaContext
from devstack.lambda_events import DOCS_REQUEST
from devstack.lambda_events import click as click_payload

REQUEST_ID = request_id_for("lab", DOCS_REQUEST["metadata"]["uid"])


def click(user: str, message: Any, action: str = "csrgate_approve", request_id: str = REQUEST_ID) -> dict[str, Any]:
    """A click on a csrgate button of the docs' CSR's message (or another request's)."""
    return click_payload(user, message, request_id, action)


def answer(function: Any, event: dict[str, Any]) -> tuple[int, str]:
    response = function.lambda_handler(event, LambdaContext())
    return response["statusCode"], response.get("body") or ""


def decisions(stack: Stack) -> list[dict[str, Any]]:
    """The decisions queued for the worker, each as the stored request the job names says it."""
    decided = []
    for message in stack.queue_messages("DecisionQueue"):
        job = json.loads(message["Body"])
        if job["kind"] == "show_in_cluster":  # the review's Event on the CSR, queued as its message was posted
            continue
        assert job == {"kind": "apply_decision", "request_id": job["request_id"]}  # the worker reads nothing else
        item = stack.request_item(job["request_id"]) or {}
        decision = {"approved": "approve", "denied": "deny"}.get(item.get("state", ""), item.get("state"))
        decided.append(
            {"decision": decision, "decided_by": item.get("decided_by"), "reason": item.get("decision_reason")}
        )
    return decided
