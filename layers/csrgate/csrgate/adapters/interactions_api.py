"""Slack's interactions endpoint: verify the request, hand the click to the domain, answer within 3 seconds.

This module and everything it imports must stay light: it runs in Slack's three-second budget, cold starts
included, so it never imports the Kubernetes client.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier

from csrgate.adapters.config import ConfigError
from csrgate.adapters.slack import (
    APPROVE_ACTION,
    DENY_ACTION,
    DENY_CALLBACK,
    REASON_ACTION,
    REASON_BLOCK,
    SlackNotifier,
)
from csrgate.domain.approvals import Action, Approvals, ClickAnswer, ClickResult
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.messages import decided_message, review_message
from csrgate.domain.ports import Clock, Conflict
from csrgate.domain.records import MessageRef

ROUTE = "/v1/slack/interactions"
MAX_BODY_BYTES = 512 * 1024
_ACTIONS = {APPROVE_ACTION: Action.APPROVE, DENY_ACTION: Action.DENY}


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
        clock: Clock,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._approvals = approvals
        self._notifier = notifier
        self._signing_secret = signing_secret
        self._logger = logger
        self._clock = clock
        self._now = now
        self.resolver = APIGatewayHttpResolver()
        self.resolver.post(ROUTE)(self._interaction)
        self.resolver.exception_handler(RetryLater)(self._unavailable)
        self.resolver.exception_handler(Conflict)(self._unavailable)
        self.resolver.exception_handler(PermanentFailure)(self._failed)
        self.resolver.exception_handler(ConfigError)(self._failed)

    def _interaction(self) -> Response[str]:
        raw = self._verified_body()
        if raw is None:
            return _text(401, "invalid request signature")
        payload = _payload(raw)
        if payload is None:
            return _text(400, "expected a form field `payload` holding JSON")
        kind = payload.get("type")
        if kind == "block_actions":
            self._block_actions(payload)
            return _text(200, "")
        if kind == "view_submission" and (payload.get("view") or {}).get("callback_id") == DENY_CALLBACK:
            return self._deny_submitted(payload)
        self._logger.info("slack.interaction_ignored", extra={"type": str(kind)[:40]})
        return _text(200, "")

    def _verified_body(self) -> bytes | None:
        event = self.resolver.current_event
        body = event.body or ""
        if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
            self._rejected("body too large")
            return None
        try:
            raw = base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode("utf-8")
        except (binascii.Error, ValueError):
            self._rejected("body is not valid base64")
            return None
        headers = event.headers
        verifier = SignatureVerifier(self._signing_secret(), clock=_Clock(self._now))
        if not verifier.is_valid(raw, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")):
            self._rejected("bad or stale Slack signature")
            return None
        return raw

    def _block_actions(self, payload: dict[str, Any]) -> None:
        action = (payload.get("actions") or [{}])[0]
        kind = _ACTIONS.get(str(action.get("action_id")))
        user = str((payload.get("user") or {}).get("id") or "")
        container = payload.get("container") or {}
        message = MessageRef(str(container.get("channel_id") or ""), str(container.get("message_ts") or ""))
        request_id = str(action.get("value") or "")
        if kind is None or not user or not request_id:
            self._logger.info("slack.interaction_ignored", extra={"reason": "not a csrgate button"})
            return
        result = self._approvals.click(request_id, kind, user, message)
        if result.answer is ClickAnswer.ASK_REASON:
            self._notifier.ask_deny_reason(str(payload.get("trigger_id") or ""), request_id, message)
            return
        self._show(result, message, user)

    def _deny_submitted(self, payload: dict[str, Any]) -> Response[str]:
        view = payload.get("view") or {}
        try:
            context = json.loads(view.get("private_metadata") or "{}")
            message = MessageRef(str(context["channel"]), str(context["ts"]))
            request_id = str(context["request_id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            return _text(400, "the dialog carries no request")
        values = ((view.get("state") or {}).get("values") or {}).get(REASON_BLOCK) or {}
        reason = str((values.get(REASON_ACTION) or {}).get("value") or "")
        user = str((payload.get("user") or {}).get("id") or "")
        result = self._approvals.deny(request_id, user, message, reason)
        if result.answer is ClickAnswer.REFUSED and not reason.strip():
            return _json(200, {"response_action": "errors", "errors": {REASON_BLOCK: result.text}})
        self._show(result, message, user)
        return _json(200, {"response_action": "clear"})

    def _show(self, result: ClickResult, message: MessageRef, user: str) -> None:
        """Tell the clicker, and redraw the message when the click changed it; Slack trouble here is not fatal."""
        try:
            if result.record is not None and result.answer is ClickAnswer.DECIDED:
                self._notifier.update_notice(message, decided_message(result.record, self._clock()))
            elif result.record is not None and result.answer is ClickAnswer.RECORDED:
                self._notifier.update_review(message, review_message(result.record, self._clock()))
            self._notifier.tell(message.channel, user, result.text)
        except (RetryLater, PermanentFailure) as exc:
            self._logger.warning("slack.reply_failed", extra={"reason": str(exc), "answer": result.answer.value})

    def _rejected(self, reason: str) -> None:
        event = self.resolver.current_event
        self._logger.warning(
            "slack.request_rejected",
            extra={
                "event": "slack.request_rejected",
                "actor": "unverified",
                "reason": reason,
                "source_ip": event.request_context.http.source_ip,
            },
        )

    def _unavailable(self, exc: Exception) -> Response[str]:
        self._logger.warning("slack.interaction_failed", extra={"reason": str(exc)})
        return _text(503, "csrgate is briefly unavailable; try again")

    def _failed(self, exc: Exception) -> Response[str]:
        self._logger.error("slack.interaction_failed", extra={"reason": str(exc)})
        return _text(500, "csrgate could not handle this click")


def _payload(raw: bytes) -> dict[str, Any] | None:
    try:
        form = parse_qs(raw.decode("utf-8"), strict_parsing=False, max_num_fields=20)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def _text(status: int, body: str) -> Response[str]:
    return Response(status_code=status, content_type=content_types.TEXT_PLAIN, body=body)


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))
