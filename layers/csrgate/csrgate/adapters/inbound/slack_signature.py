"""Slack's request signing, checked before anything in a request is read: every route Slack calls uses it."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier

MAX_BODY_BYTES = 512 * 1024
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
SLACK_WINDOW_SECONDS = 300  # as slack_sdk's SignatureVerifier: five minutes either way
_SLACK_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class _Clock(SlackClock):
    """slack_sdk's SignatureVerifier asks its clock for `now()`; this one asks ours."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._read = now

    def now(self) -> float:
        return self._read()


def verified_body(event: Any, signing_secret: str, now: Callable[[], float]) -> bytes:
    """The raw body, once Slack's signature over it holds; Refused says why not (401) or what is wrong (4xx)."""
    body = event.body or ""
    if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise Refused(413, "the body is too large", "request too large")
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, "the body is not valid base64", "the body is not valid base64") from None
    else:
        raw = body.encode("utf-8", errors="surrogatepass")  # a lone surrogate: not UTF-8, refused below
    headers = event.headers
    timestamp, signature = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
    if not timestamp or not signature:
        raise Refused(401, "missing X-Slack-Request-Timestamp or X-Slack-Signature header")
    # slack_sdk's verifier would raise on these (int() of a word, compare_digest of non-ASCII text)
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Refused(401, "X-Slack-Request-Timestamp is not Unix seconds")
    if not _SLACK_SIGNATURE.fullmatch(signature):
        raise Refused(401, "X-Slack-Signature is malformed (Slack sends v0= and 64 hex digits)")
    if abs(now() - int(timestamp)) > SLACK_WINDOW_SECONDS:
        raise Refused(401, f"X-Slack-Request-Timestamp is more than {SLACK_WINDOW_SECONDS} seconds from now")
    try:
        raw.decode("utf-8")  # Slack's bodies are form-encoded text; the verifier decodes before it hashes
    except UnicodeDecodeError:
        raise Refused(401, "the body is not UTF-8 text, so not Slack's") from None
    verifier = SignatureVerifier(signing_secret, clock=_Clock(now))
    if not verifier.is_valid(raw, timestamp, signature):
        raise Refused(401, "the Slack signature does not match")
    return raw


class Refused(Exception):
    """A request answered without reaching the domain: its status, the audit reason and what the caller is told."""

    def __init__(
        self, status: int, reason: str, answer: str = "invalid request signature", *, verified: bool = False
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.answer = answer
        self.verified = verified  # whether Slack's signature held (the audit line's actor)


def form_payload(raw: bytes) -> dict[str, Any]:
    """The JSON object in the form field `payload`, as Slack posts interactions."""
    expected = "expected a form field `payload` holding a JSON object"
    try:
        form = parse_qs(raw.decode("utf-8"), strict_parsing=True, max_num_fields=20)
    except ValueError:
        raise Refused(400, "the body is not a form with a payload field", expected, verified=True) from None
    if len(form.get("payload", ())) != 1:
        raise Refused(400, "the body is not a form with a payload field", expected, verified=True)
    try:
        payload = json.loads(form["payload"][0])
    except (ValueError, RecursionError):
        raise Refused(400, "the payload is not JSON", expected, verified=True) from None
    if not isinstance(payload, dict):
        raise Refused(400, "the payload is not a JSON object", expected, verified=True)
    return payload
