"""The intake function's answer to events it cannot read: a clear 4xx, and nothing posted.

AWS is moto provisioned from template.yaml; Slack is the stand-in, reached by the real WebClient over HTTP.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from intake_calls import csr_object, invoke
from stack import Stack

from devstack.lambda_events import DOCS_REQUEST, hmac_event


def test_an_oversized_body_is_refused(stack: Stack, intake: Any) -> None:
    obj = csr_object()
    obj["metadata"]["annotations"] = {"padding": "x" * 300_000}
    status, body = invoke(intake, hmac_event(obj))
    assert (status, body["error"]) == (413, "payload-too-large")


@pytest.mark.parametrize(
    ("body", "error", "detail"),
    [
        (b"not json", "invalid-json", "not JSON"),
        (b"\xff\xfe", "invalid-json", "not UTF-8"),
        (b'{"cluster": "lab", "type": "ADDED", "object": {}, "n": ' + b"1" * 5000 + b"}", "invalid-json", "not JSON"),
        (b"[" * 100_000, "invalid-json", "not JSON"),
        (b"[]", "invalid-event", "(body)"),
        (b'{"cluster": "lab"}', "invalid-event", "type"),
        (b'{"cluster": "lab", "type": "BOOKMARK", "object": {}}', "invalid-event", "type"),
        (b'{"cluster": 7, "type": "ADDED", "object": {}}', "invalid-event", "cluster"),
        (b'{"cluster": "lab", "type": "ADDED", "object": {}, "extra": 1}', "invalid-event", "extra"),
        (b'{"cluster": "lab", "type": "ADDED", "object": {}}', "invalid-event", "metadata is missing"),
    ],
)
def test_malformed_bodies_get_a_clear_4xx(stack: Stack, intake: Any, body: bytes, error: str, detail: str) -> None:
    status, answer = invoke(intake, hmac_event(body=body))
    assert status == 400 and answer["error"] == error and detail in answer["message"]


@pytest.mark.parametrize(
    ("spec", "error", "detail"),
    [
        ({"usages": "client auth"}, "invalid-event", "spec.usages"),
        ({"expirationSeconds": "86400"}, "invalid-event", "spec.expirationSeconds"),
        ({"signerName": None}, "invalid-event", "spec.signerName"),
        # values no API server sends (an int32 lifetime, bounded identities), which once crashed after storing
        ({"expirationSeconds": 10**14}, "invalid-event", "spec.expirationSeconds must be at most"),
        ({"username": "u" * 200_000}, "invalid-event", "spec.username must be at most"),
    ],
)
def test_bad_csr_objects_get_a_clear_4xx(
    stack: Stack, intake: Any, spec: dict[str, Any], error: str, detail: str
) -> None:
    obj = csr_object(uid="uid-x")
    obj["spec"].update(spec)
    status, answer = invoke(intake, hmac_event(obj))
    assert (status, answer["error"]) == (400, error) and detail in answer["message"]
    assert stack.slack.messages == []


def test_an_object_from_a_list_without_apiversion_and_kind_is_accepted(stack: Stack, intake: Any) -> None:
    listed = {key: value for key, value in DOCS_REQUEST.items() if key not in ("apiVersion", "kind")}
    status, body = invoke(intake, hmac_event(listed))
    assert status == 200 and body["state"] == "awaiting_review"


def test_a_base64_body_that_does_not_decode_is_a_bad_request(stack: Stack, intake: Any) -> None:
    event = hmac_event(DOCS_REQUEST) | {"body": "%%% not base64", "isBase64Encoded": True}
    assert invoke(intake, event) == (400, {"error": "invalid-json", "message": "the body is not valid base64"})


def test_a_base64_encoded_body_is_read(stack: Stack, intake: Any) -> None:
    event = hmac_event(DOCS_REQUEST)
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert invoke(intake, event)[0] == 200
