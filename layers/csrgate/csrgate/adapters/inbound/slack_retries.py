"""The Slack retry queue's consumer: post what intake could not, give up loudly when Slack stays down."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.intake import Intake

MAX_RECEIVES = 6  # matches the queue's redrive policy in template.yaml


class SlackRetryConsumer:
    """Handles one queue message; raising makes SQS deliver it again after the visibility timeout."""

    def __init__(self, intake: Intake, logger: Logger, max_receives: int = MAX_RECEIVES) -> None:
        self._intake = intake
        self._logger = logger
        self._max_receives = max_receives

    def handle(self, body: str, receive_count: int) -> None:
        """Post the request's message, or on the last delivery mark the request failed."""
        job = _job(body)
        if job is None:
            self._logger.error("slack.retry_dropped", extra={"reason": "not a csrgate Slack retry message"})
            return
        request_id, attempt = job
        try:
            self._intake.post_message(request_id, attempt)
        except PermanentFailure as exc:
            self._intake.give_up_message(request_id, str(exc))
        except RetryLater as exc:
            if receive_count >= self._max_receives:
                self._intake.give_up_message(request_id, f"Slack stayed unavailable: {exc}")
                return
            raise


def _job(body: str) -> tuple[str, int] | None:
    try:
        message: Any = json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(message, dict) or message.get("kind") != "post_message":
        return None
    request_id, attempt = message.get("request_id"), message.get("attempt", 1)
    if not isinstance(request_id, str) or not isinstance(attempt, int):
        return None
    return request_id, attempt
