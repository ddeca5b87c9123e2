"""Slack's interactions endpoint: verify the request, hand the click to the domain, answer within 3 seconds.

This module and everything it imports must stay light: it runs in Slack's three-second budget, cold starts
included, so it never imports the Kubernetes client. The self-service and access halves (forms, the App Home, grant
buttons) are built when first used, so an Approve or Deny click never pays for them (a test pins what a click imports).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from csrgate.adapters.aws.config import ConfigError
from csrgate.adapters.inbound.slack_signature import Refused, form_payload, verified_body
from csrgate.adapters.slack.blocks import (
    APPROVE_ACTION,
    DENY_ACTION,
    DENY_CALLBACK,
    GRANT_ACTIONS,
    REASON_ACTION,
    REASON_BLOCK,
)
from csrgate.adapters.slack.channel import SlackNotifier
from csrgate.domain.approvals import Approvals, ClickAnswer, ClickResult
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.outcome import Decision, Outcome
from csrgate.domain.ports import Conflict
from csrgate.domain.records import MessageRef

if TYPE_CHECKING:
    from csrgate.adapters.inbound.access_api import AccessApi
    from csrgate.adapters.inbound.asking_api import AskingApi

ROUTE = "/v1/slack/interactions"
COMMANDS_ROUTE = "/v1/slack/commands"
EVENTS_ROUTE = "/v1/slack/events"
# request_id_for's uuid5, and a grant's uuid4
_REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ACTIONS: dict[str, Decision] = {APPROVE_ACTION: Outcome.APPROVE, DENY_ACTION: Outcome.DENY}


class InteractionsApi:
    """Slack's three routes: interactions (clicks, dialogs, shortcuts), the /csrgate command, and events.

    `asking` and `access` make their halves when first asked (and keep them).
    """

    def __init__(
        self,
        approvals: Approvals,
        notifier: SlackNotifier,
        asking: Callable[[], AskingApi],
        access: Callable[[], AccessApi],
        signing_secret: Callable[[], str],
        logger: Logger,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._approvals = approvals
        self._notifier = notifier
        self._asking = asking
        self._access = access
        self._signing_secret = signing_secret
        self._logger = logger
        self._now = now
        self.resolver = APIGatewayHttpResolver()
        self.resolver.post(ROUTE)(self._interaction)
        self.resolver.post(COMMANDS_ROUTE)(self._command)
        self.resolver.post(EVENTS_ROUTE)(self._event)
        self.resolver.exception_handler(Refused)(self._refused)
        self.resolver.exception_handler(RetryLater)(self._unavailable)
        self.resolver.exception_handler(Conflict)(self._unavailable)
        self.resolver.exception_handler(PermanentFailure)(self._failed)
        self.resolver.exception_handler(ConfigError)(self._failed)

    def _interaction(self) -> Response[str]:
        payload = form_payload(self._verified_body())
        kind = payload.get("type")
        callback = _text_field(_mapping(payload, "view"), "callback_id") or _text_field(payload, "callback_id")
        if kind == "block_actions":
            self._block_actions(payload)
            return _text(200, "")
        if kind == "view_submission" and callback == DENY_CALLBACK:
            return self._deny_submitted(payload)
        # the forms' ids, here: a click on Approve or Deny (above) never loads the forms
        from csrgate.adapters.slack.forms import (
            ACCESS_FORM,
            CERTIFICATE_FORM,
            REQUEST_ACCESS_SHORTCUT,
            REQUEST_CERTIFICATE_SHORTCUT,
        )

        if kind == "view_submission" and callback == CERTIFICATE_FORM:
            return _json(200, self._asking().submitted(_slack_user(payload), _form_values(payload)))
        if kind == "view_submission" and callback == ACCESS_FORM:
            return _json(200, self._access().submitted(_slack_user(payload), _form_values(payload)))
        if kind == "shortcut" and callback in (REQUEST_CERTIFICATE_SHORTCUT, REQUEST_ACCESS_SHORTCUT):
            opener = self._asking().open_form if callback == REQUEST_CERTIFICATE_SHORTCUT else self._access().open_form
            refused = opener(_text_field(payload, "trigger_id"), _slack_user(payload))
            if refused is not None:
                self._logger.warning("slack.form_not_opened", extra={"reason": refused})
            return _text(200, "")
        self._logger.info("slack.interaction_ignored", extra={"type": str(kind)[:40], "callback": callback[:60]})
        return _text(200, "")

    def _command(self) -> Response[str]:
        from csrgate.adapters.inbound.asking_api import COMMAND, ephemeral  # the command's half, not a click's

        try:
            form = parse_qs(self._verified_body().decode("utf-8"), strict_parsing=True, max_num_fields=40)
        except ValueError:
            raise Refused(400, "the body is not a form", "expected a slash command's form", verified=True) from None
        fields = {key: values[0] for key, values in form.items() if len(values) == 1}
        user, trigger = fields.get("user_id", ""), fields.get("trigger_id", "")
        if fields.get("command") != COMMAND or not user:
            raise Refused(400, "not the /csrgate command", "csrgate answers /csrgate only", verified=True)
        words = fields.get("text", "").split()
        if words and words[0].casefold() == "access":
            refused = self._access().open_form(trigger, user)
            return _text(200, "") if refused is None else _json(200, ephemeral("csrgate could not open the form."))
        answer = self._asking().command(fields.get("text", ""), user, trigger)
        return _text(200, "") if answer is None else _json(200, answer)

    def _event(self) -> Response[str]:
        try:
            body = json.loads(self._verified_body())
        except (ValueError, RecursionError):
            raise Refused(400, "the event is not JSON", "expected a JSON event", verified=True) from None
        if not isinstance(body, dict):
            raise Refused(400, "the event is not a JSON object", "expected a JSON event", verified=True)
        if body.get("type") == "url_verification":  # Slack checks the URL when the app is configured
            return _text(200, _text_field(body, "challenge")[:200])
        event = _mapping(body, "event")
        if event.get("type") == "app_home_opened" and event.get("tab") == "home" and _text_field(event, "user"):
            try:
                self._asking().publish_home(_text_field(event, "user"))
            except PermanentFailure as exc:  # Slack would retry the event; the next opening draws it anew
                self._logger.warning("slack.home_not_published", extra={"reason": str(exc)})
        return _text(200, "")

    def _verified_body(self) -> bytes:
        return verified_body(self.resolver.current_event, self._signing_secret(), self._now)

    def _block_actions(self, payload: dict[str, Any]) -> None:
        actions = payload.get("actions")
        action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
        kind = _ACTIONS.get(str(action.get("action_id")))
        button = GRANT_ACTIONS.get(str(action.get("action_id")))
        user = _slack_user(payload)
        container = _mapping(payload, "container")
        from_home = container.get("type") == "view" and _mapping(payload, "view").get("type") == "home"
        message = (
            None
            if from_home
            else MessageRef(_text_field(container, "channel_id"), _text_field(container, "message_ts"))
        )
        request_id = _text_field(action, "value")
        if (kind is None and button is None) or not user or not _REQUEST_ID.fullmatch(request_id):
            self._logger.info("slack.interaction_ignored", extra={"reason": "not a csrgate button"})
            return
        if button is not None:
            if message is None:  # grants have no buttons on the App Home
                self._logger.info("slack.interaction_ignored", extra={"reason": "a grant button outside a message"})
                return
            answer = self._access().clicked(request_id, button, user, message, str(payload.get("trigger_id") or ""))
            if answer is not None:
                self._show(answer, message, user)
            return
        assert kind is not None  # noqa: S101 - one of the two was found above
        result = self._approvals.click(request_id, kind, user, message)
        if result.answer is ClickAnswer.ASK_REASON:
            self._notifier.ask_deny_reason(str(payload.get("trigger_id") or ""), request_id, message)
            return
        self._show(result, message, user)

    def _deny_submitted(self, payload: dict[str, Any]) -> Response[str]:
        view = _mapping(payload, "view")
        try:
            context = json.loads(view.get("private_metadata") or "{}")
            message = MessageRef(str(context["channel"]), str(context["ts"])) if "channel" in context else None
            grant = "grant_id" in context
            request_id = str(context["grant_id"] if grant else context["request_id"])
        except (ValueError, KeyError, TypeError, RecursionError):
            return _text(400, "the dialog carries no request")
        if not _REQUEST_ID.fullmatch(request_id):
            return _text(400, "the dialog carries no request")
        values = _mapping(_mapping(_mapping(view, "state"), "values"), REASON_BLOCK)
        reason = _text_field(_mapping(values, REASON_ACTION), "value")
        user = _slack_user(payload)
        if grant:
            result = self._access().deny_submitted(request_id, user, message, reason)
        else:
            result = self._approvals.deny(request_id, user, message, reason)
        if result.answer is ClickAnswer.REFUSED and not reason.strip():
            return _json(200, {"response_action": "errors", "errors": {REASON_BLOCK: result.text}})
        self._show(result, message, user)
        return _json(200, {"response_action": "clear"})

    def _show(self, result: ClickResult, message: MessageRef | None, user: str) -> None:
        """Tell the clicker (Approvals has redrawn the message): beside the message, or on their App Home when they
        clicked there. Slack trouble here is not fatal."""
        try:
            if message is None:
                self._asking().publish_home(user, result.text)
            else:
                self._notifier.tell(message.channel, user, result.text)
        except (RetryLater, PermanentFailure) as exc:
            self._logger.warning("slack.reply_failed", extra={"reason": str(exc), "answer": result.answer.value})

    def _refused(self, refused: Refused) -> Response[str]:
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


def _slack_user(payload: dict[str, Any]) -> str:
    """The user Slack's signed payload names."""
    return _text_field(_mapping(payload, "user"), "id")


def _form_values(payload: dict[str, Any]) -> dict[str, str]:
    """Each input of a submitted view as text, by block id: a text input's value, a select's option value."""
    values: dict[str, str] = {}
    for block_id, actions in _mapping(_mapping(_mapping(payload, "view"), "state"), "values").items():
        element = _mapping(actions, block_id) if isinstance(actions, dict) else {}
        option = _mapping(element, "selected_option")
        values[str(block_id)] = _text_field(option, "value") if option else _text_field(element, "value")
    return values


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
