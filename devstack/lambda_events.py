"""Events as Lambda hands them to csrgate's functions: API Gateway requests (forwarder, Slack) and SQS batches, built
from the samples in events/ and signed as the forwarder and Slack sign them."""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from csrgate.domain.signing import FreshSigner, signed_headers
from devstack.lab import HMAC_KEY, SLACK_SIGNING_SECRET

EVENTS = Path(__file__).resolve().parents[1] / "events"
# The Kubernetes docs' CSR as the API server returns it, as the sample events carry it.
DOCS_REQUEST = json.loads(json.loads((EVENTS / "csr-added-iam.json").read_text())["body"])["object"]
QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:queue"
CALLER = "arn:aws:sts::123456789012:assumed-role/csrgate-forwarder/eks-pod-identity"  # the forwarder role's session


_FORWARDER = FreshSigner(time.time)  # as the forwarder signs: the same body sent twice never repeats a signature


def hmac_event(
    obj: dict[str, Any] | None = None,
    *,
    cluster: str = "lab",
    event_type: str = "ADDED",
    body: bytes | None = None,
    key: str = HMAC_KEY,
    at: float | None = None,
) -> dict[str, Any]:
    """A forwarder's event from a cluster outside AWS, signed now (or `at`) for `cluster` with the cluster's key."""
    raw = body if body is not None else json.dumps({"cluster": cluster, "type": event_type, "object": obj}).encode()
    if at is None:
        headers = _FORWARDER.headers(key.encode(), cluster, raw)
    else:
        headers = signed_headers(key.encode(), cluster, raw, lambda: at)
    sample = json.loads((EVENTS / "csr-added-hmac.json").read_text())["headers"]
    return api_event("POST /v1/hmac/csr-events", sample | {name.lower(): value for name, value in headers.items()}, raw)


def sqs_event(
    messages: list[dict[str, Any]], queue_arn: str = QUEUE_ARN, *, receive_count: int | None = None
) -> dict[str, Any]:
    """The batch of received messages as the event source mapping hands it to the function; each message's
    attributes as SQS returned them, its ApproximateReceiveCount replaced by `receive_count` when that is given."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": _attributes(message, receive_count),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3],
            }
            for message in messages
        ]
    }


def _attributes(message: dict[str, Any], receive_count: int | None) -> dict[str, str]:
    attributes = dict(message.get("Attributes", {}))
    if receive_count is not None:
        attributes["ApproximateReceiveCount"] = str(receive_count)
    return attributes


def interaction_event(
    payload: dict[str, Any], *, secret: str = SLACK_SIGNING_SECRET, at: float | None = None
) -> dict[str, Any]:
    """A Slack interaction through API Gateway, signed as Slack signs it."""
    return slack_event(urlencode({"payload": json.dumps(payload)}), secret=secret, at=at)


def slack_event(
    body: str,
    *,
    secret: str = SLACK_SIGNING_SECRET,
    at: float | None = None,
    route: str = "POST /v1/slack/interactions",
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, Any]:
    """Any body posted to one of Slack's routes (interactions by default), signed as Slack signs it."""
    timestamp = str(int(at if at is not None else time.time()))
    event = api_event(route)
    event["headers"] = {
        "content-type": content_type,
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body),
    }
    event["body"] = body
    return event


def api_event(route_key: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> dict[str, Any]:
    """A request to one of the API's routes as API Gateway hands it over: a body that is not UTF-8 text is
    base64-encoded, with isBase64Encoded true. Nothing is signed."""
    event: dict[str, Any] = json.loads((EVENTS / "csr-added-hmac.json").read_text())
    path = route_key.partition(" ")[2]
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["headers"] = dict(headers or {})
    event.pop("body", None)
    event["isBase64Encoded"] = False
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
    if path == "/v1/csr-events":
        event["requestContext"]["authorizer"] = {"iam": {"userArn": CALLER}}
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
