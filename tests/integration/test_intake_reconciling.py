"""The intake function reconciles what happened in the cluster: CSRs decided outside csrgate, deleted, or first seen
already decided.

AWS is moto provisioned from template.yaml; Slack is the stand-in, reached by the real WebClient over HTTP.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from intake_calls import csr_object, invoke
from stack import Stack

from devstack.lambda_events import DOCS_REQUEST, hmac_event


def test_a_csr_approved_outside_csrgate_is_recorded_as_decided_elsewhere(stack: Stack, intake: Any) -> None:
    invoke(intake, hmac_event(DOCS_REQUEST))
    approved = copy.deepcopy(DOCS_REQUEST)
    approved["status"] = {
        "conditions": [
            {"type": "Approved", "status": "True", "reason": "KubectlApprove", "message": "approved by kubectl"}
        ]
    }
    status, body = invoke(intake, hmac_event(approved, event_type="MODIFIED"))
    assert status == 200 and body["state"] == "decided_elsewhere"
    # the approval request shows it, with the condition's reason and message, and loses its buttons
    [message] = stack.slack.messages
    assert message.updated and not [b for b in message.blocks if b["type"] == "actions"]
    assert "approved in the cluster outside csrgate: KubectlApprove approved by kubectl" in json.dumps(message.blocks)


def test_a_deleted_csr_withdraws_its_request(stack: Stack, intake: Any) -> None:
    invoke(intake, hmac_event(DOCS_REQUEST))
    status, body = invoke(intake, hmac_event(DOCS_REQUEST, event_type="DELETED"))
    assert status == 200 and body["state"] == "withdrawn"
    assert "the CSR was deleted in the cluster" in json.dumps(stack.slack.messages[0].blocks)
    again = invoke(intake, hmac_event(DOCS_REQUEST, event_type="DELETED"))
    assert again == (200, {**body, "created": False})


def test_deleting_a_csr_csrgate_never_saw_is_harmless(stack: Stack, intake: Any) -> None:
    status, body = invoke(intake, hmac_event(csr_object(uid="never-seen"), event_type="DELETED"))
    assert status == 200 and body["state"] is None and body["created"] is False


def test_a_csr_first_seen_already_decided_posts_nothing(stack: Stack, intake: Any) -> None:
    decided = csr_object(uid="uid-done", status={"conditions": [{"type": "Denied", "status": "True", "reason": "X"}]})
    status, body = invoke(intake, hmac_event(decided, event_type="MODIFIED"))
    assert status == 200 and body["state"] == "decided_elsewhere"
    assert stack.slack.messages == []


def test_an_approval_written_elsewhere_with_csrgates_reason_is_a_decision_made_elsewhere(
    stack: Stack, intake: Any
) -> None:
    # GIVEN a request waiting for review
    invoke(intake, hmac_event(csr_object(uid="uid-forged")))
    # WHEN someone with approve rights in the cluster approves it, writing csrgate's reason and an approver's name
    forged = {
        "type": "Approved",
        "status": "True",
        "reason": "CsrgateApproved",
        "message": "Approved by bob via csrgate",
    }
    status, body = invoke(
        intake, hmac_event(csr_object(uid="uid-forged", status={"conditions": [forged]}), event_type="MODIFIED")
    )
    # THEN csrgate does not take it for its own: it was decided outside csrgate, and says so
    assert status == 200 and body["state"] == "decided_elsewhere"


@pytest.mark.parametrize("conditions", [5, True, "Approved", {"type": "Approved"}])
def test_conditions_that_are_not_a_list_are_no_conditions(stack: Stack, intake: Any, conditions: object) -> None:
    status, body = invoke(intake, hmac_event(csr_object(uid="uid-odd", status={"conditions": conditions})))
    assert status == 200 and body["state"] == "awaiting_review"
