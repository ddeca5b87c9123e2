"""Slack's interactions endpoint: verify the request, hand the click to the domain, answer within 3 seconds.

This module and everything it imports must stay light: it runs in Slack's three-second budget, cold starts
included, so it never imports the Kubernetes client.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier

from csrgate.adapters.aws.config import ConfigError
from csrgate.adapters.slack.blocks import APPROVE_ACTION, DENY_ACTION, DENY_CALLBACK, REASON_ACTION, REASON_BLOCK
from csrgate.adapters.slack.channel import SlackNotifier
from csrgate.domain.approvals import Approvals, ClickAnswer, ClickResult
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.outcome import Decision, Outcome
from csrgate.domain.ports import Conflict
from csrgate.domain.records import MessageRef

ROUTE = "/v1/slack/interactions"
MAX_BODY_BYTES = 512 * 1024
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
SLACK_WINDOW_SECONDS = 300  # as slack_sdk's SignatureVerifier: five minutes either way
_SLACK_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # request_id_for's uuid5
_ACTIONS: dict[str, Decision] = {APPROVE_ACTION: Outcome.APPROVE, DENY_ACTION: Outcome.DENY}


class _Clock(SlackClock):
    """slack_sdk's SignatureVerifier asks its clock for `now()`; this one asks ours."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._read = now

    def now(self) -> float:
        return self._read()


class InteractionsApi:
    """Routes Slack's block_actions and view_submission payloads to the Approvals use case."""

    def __init__(
        self,
        approvals: Approvals,
        notifier: SlackNotifier,
        signing_secret: Callable[[], str],
        logger: Logger,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._approvals = approvals
        self._notifier = notifier
        self._signing_secret = signing_secret
        self._logger = logger
        self._now = now
        self.resolver = APIGatewayHttpResolver()
        self.resolver.post(ROUTE)(self._interaction)
        self.resolver.exception_handler(_Refused)(self._refused)
        self.resolver.exception_handler(RetryLater)(self._unavailable)
        self.resolver.exception_handler(Conflict)(self._unavailable)
        self.resolver.exception_handler(PermanentFailure)(self._failed)
        self.resolver.exception_handler(ConfigError)(self._failed)

    def _interaction(self) -> Response[str]:
        payload = _payload(self._verified_body())
        kind = payload.get("type")
        if kind == "block_actions":
            self._block_actions(payload)
            return _text(200, "")
        if kind == "view_submission" and _mapping(payload, "view").get("callback_id") == DENY_CALLBACK:
            return self._deny_submitted(payload)
        self._logger.info("slack.interaction_ignored", extra={"type": str(kind)[:40]})
        return _text(200, "")

    def _verified_body(self) -> bytes:
        """The raw body, once Slack's signature over it holds; _Refused says why not (401) or what is wrong (4xx)."""
        event = self.resolver.current_event
        body = event.body or ""
        if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
            raise _Refused(413, "the body is too large", "request too large")
        if event.is_base64_encoded:
            try:
                raw = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise _Refused(400, "the body is not valid base64", "the body is not valid base64") from None
        else:
            raw = body.encode("utf-8", errors="surrogatepass")  # a lone surrogate: not UTF-8, refused below
        headers = event.headers
        timestamp, signature = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
        if not timestamp or not signature:
            raise _Refused(401, "missing X-Slack-Request-Timestamp or X-Slack-Signature header")
        # slack_sdk's verifier would raise on these (int() of a word, compare_digest of non-ASCII text)
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise _Refused(401, "X-Slack-Request-Timestamp is not Unix seconds")
        if not _SLACK_SIGNATURE.fullmatch(signature):
            raise _Refused(401, "X-Slack-Signature is malformed (Slack sends v0= and 64 hex digits)")
        if abs(self._now() - int(timestamp)) > SLACK_WINDOW_SECONDS:
            raise _Refused(401, f"X-Slack-Request-Timestamp is more than {SLACK_WINDOW_SECONDS} seconds from now")
        try:
            raw.decode("utf-8")  # Slack's bodies are form-encoded text; the verifier decodes before it hashes
        except UnicodeDecodeError:
            raise _Refused(401, "the body is not UTF-8 text, so not Slack's") from None
        verifier = SignatureVerifier(self._signing_secret(), clock=_Clock(self._now))
        if not verifier.is_valid(raw, timestamp, signature):
            raise _Refused(401, "the Slack signature does not match")
        return raw

    def _block_actions(self, payload: dict[str, Any]) -> None:
        actions = payload.get("actions")
        action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
        kind = _ACTIONS.get(str(action.get("action_id")))
        user = _text_field(_mapping(payload, "user"), "id")
        container = _mapping(payload, "container")
        message = MessageRef(_text_field(container, "channel_id"), _text_field(container, "message_ts"))
        request_id = _text_field(action, "value")
        if kind is None or not user or not _REQUEST_ID.fullmatch(request_id):
            self._logger.info("slack.interaction_ignored", extra={"reason": "not a csrgate button"})
            return
        result = self._approvals.click(request_id, kind, user, message)
        if result.answer is ClickAnswer.ASK_REASON:
            self._notifier.ask_deny_reason(str(payload.get("trigger_id") or ""), request_id, message)
            return
        self._show(result, message, user)

    def _deny_submitted(self, payload: dict[str, Any]) -> Response[str]:
        view = _mapping(payload, "view")
        try:
            context = json.loads(view.get("private_metadata") or "{}")
            message = MessageRef(str(context["channel"]), str(context["ts"]))
            request_id = str(context["request_id"])
        except (ValueError, KeyError, TypeError, RecursionError):
            return _text(400, "the dialog carries no request")
        if not _REQUEST_ID.fullmatch(request_id):
            return _text(400, "the dialog carries no request")
        values = _mapping(_mapping(_mapping(view, "state"), "values"), REASON_BLOCK)
        reason = _text_field(_mapping(values, REASON_ACTION), "value")
        user = _text_field(_mapping(payload, "user"), "id")
        result = self._approvals.deny(request_id, user, message, reason)
        if result.answer is ClickAnswer.REFUSED and not reason.strip():
            return _json(200, {"response_action": "errors", "errors": {REASON_BLOCK: result.text}})
        self._show(result, message, user)
        return _json(200, {"response_action": "clear"})

    def _show(self, result: ClickResult, message: MessageRef, user: str) -> None:
        """Tell the clicker (Approvals has redrawn the message); Slack trouble here is not fatal."""
        try:
            self._notifier.tell(message.channel, user, result.text)
        except (RetryLater, PermanentFailure) as exc:
            self._logger.warning("slack.reply_failed", extra={"reason": str(exc), "answer": result.answer.value})

    def _refused(self, refused: _Refused) -> Response[str]:
        http = _mapping(_mapping(self.resolver.current_event.raw_event, "requestContext"), "http")
        self._logger.warning(
            "slack.request_rejected",
            extra={
                "event": "slack.request_rejected",
                "actor": "slack" if refused.verified else "unverified",
                "reason": refused.reason,
                "source_ip": _text_field(http, "sourceIp"),
            },
        )
        return _text(refused.status, refused.answer)

    def _unavailable(self, exc: Exception) -> Response[str]:
        self._logger.warning("slack.interaction_failed", extra={"reason": str(exc)})
        return _text(503, "csrgate is briefly unavailable; try again")

    def _failed(self, exc: Exception) -> Response[str]:
        self._logger.error("slack.interaction_failed", extra={"reason": str(exc)})
        return _text(500, "csrgate could not handle this click")


class _Refused(Exception):
    """A request answered without reaching the domain: its status, the audit reason and what the caller is told."""

    def __init__(
        self, status: int, reason: str, answer: str = "invalid request signature", *, verified: bool = False
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.answer = answer
        self.verified = verified  # whether Slack's signature held (the audit line's actor)


def _payload(raw: bytes) -> dict[str, Any]:
    """The JSON object in the form field `payload`, as Slack posts interactions."""
    expected = "expected a form field `payload` holding a JSON object"
    try:
        form = parse_qs(raw.decode("utf-8"), strict_parsing=True, max_num_fields=20)
    except ValueError:
        raise _Refused(400, "the body is not a form with a payload field", expected, verified=True) from None
    if len(form.get("payload", ())) != 1:
        raise _Refused(400, "the body is not a form with a payload field", expected, verified=True)
    try:
        payload = json.loads(form["payload"][0])
    except (ValueError, RecursionError):
        raise _Refused(400, "the payload is not JSON", expected, verified=True) from None
    if not isinstance(payload, dict):
        raise _Refused(400, "the payload is not a JSON object", expected, verified=True)
    return payload


def _mapping(value: Any, key: str) -> dict[str, Any]:
    """value[key] when both are JSON objects, else an empty one: a field of another type reads as absent."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def _text_field(value: dict[str, Any], key: str) -> str:
    """value[key] when it is a string (Slack's ids and texts are), else ''."""
    found = value.get(key)
    return found if isinstance(found, str) else ""


def _text(status: int, body: str) -> Response[str]:
    return Response(status_code=status, content_type=content_types.TEXT_PLAIN, body=body)


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))
