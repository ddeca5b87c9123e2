"""Events as Lambda hands them to csrgate's functions: API Gateway requests (forwarder, Slack) and SQS batches."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier
from stack import HMAC_KEY

from csrgate.domain.signing import signed_headers

EVENTS = Path(__file__).resolve().parents[1] / "events"
SLACK_SIGNING_SECRET = "s"  # what the local stack keeps in the Slack secret


def hmac_event(
    obj: dict[str, Any] | None = None,
    *,
    cluster: str = "lab",
    event_type: str = "ADDED",
    body: bytes | None = None,
    key: str = HMAC_KEY,
    at: float | None = None,
) -> dict[str, Any]:
    """A forwarder's event from a cluster outside AWS, signed now with the cluster's key."""
    event = json.loads((EVENTS / "csr-added-hmac.json").read_text())
    raw = body if body is not None else json.dumps({"cluster": cluster, "type": event_type, "object": obj}).encode()
    headers = signed_headers(key.encode(), raw, lambda: at if at is not None else time.time())
    event["headers"].update({name.lower(): value for name, value in headers.items()})
    event["body"] = raw.decode("utf-8", errors="surrogateescape")
    return event


def sqs_event(messages: list[dict[str, Any]], receive_count: int = 1) -> dict[str, Any]:
    """An SQS batch of received messages, as the event source mapping delivers it."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": str(receive_count)},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:queue",
                "awsRegion": "eu-west-1",
            }
            for message in messages
        ]
    }


def interaction_event(
    payload: dict[str, Any], *, secret: str = SLACK_SIGNING_SECRET, at: float | None = None
) -> dict[str, Any]:
    """A Slack interaction through API Gateway, signed as Slack signs it."""
    body = urlencode({"payload": json.dumps(payload)})
    timestamp = str(int(at if at is not None else time.time()))
    event = json.loads((EVENTS / "csr-added-hmac.json").read_text())
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /v1/slack/interactions"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/slack/interactions"
    event["headers"] = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body),
    }
    event["body"] = body
    return event


def click(user: str, message: Any, request_id: str, action: str = "csrgate_approve") -> dict[str, Any]:
    """A block_actions payload: `user` clicked a csrgate button on a posted message."""
    return {
        "type": "block_actions",
        "user": {"id": user, "team_id": "T0"},
        "trigger_id": "1234.5678.abcd",
        "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel},
        "channel": {"id": message.channel},
        "actions": [{"action_id": action, "block_id": f"decide:{request_id}", "value": request_id, "type": "button"}],
    }


def deny_submission(user: str, view: dict[str, Any], reason: str) -> dict[str, Any]:
    """The Deny dialog, submitted with a reason."""
    submitted = copy.deepcopy(view)
    submitted["state"] = {"values": {"reason": {"reason_text": {"type": "plain_text_input", "value": reason}}}}
    return {"type": "view_submission", "user": {"id": user}, "view": submitted}
