"""What reaches the interactions route from outside: forged, altered, replayed and malformed requests are refused and
audited, and never crash the function.

AWS is moto provisioned from template.yaml; Slack is the stand-in, reached by the real WebClient over HTTP.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from audit_records import audit_events
from slack_clicks import REQUEST_ID, answer, click, decisions
from slack_sdk.signature import SignatureVerifier
from stack import Stack

from devstack.harness import load_function
from devstack.lab import SLACK_SIGNING_SECRET
from devstack.lambda_events import api_event, interaction_event, slack_event


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
