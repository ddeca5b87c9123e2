"""The decision queue's consumer: apply decisions, look at signers again, fail loudly on the last attempt."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.lifecycle import InvalidTransition
from csrgate.domain.worker import DecisionWorker

MAX_RECEIVES = 5  # matches DecisionQueue's redrive policy in template.yaml


class DecisionConsumer:
    """Handles one message; raising makes SQS deliver it again, and after the last time, to the dead letters."""

    def __init__(self, worker: DecisionWorker, logger: Logger, max_receives: int = MAX_RECEIVES) -> None:
        self._worker = worker
        self._logger = logger
        self._max_receives = max_receives

    def handle(self, body: str, receive_count: int) -> None:
        """Apply a decision or check a certificate, as the message says."""
        message = _message(body)
        if message is None:
            self._logger.error("worker.message_dropped", extra={"reason": "not a csrgate decision queue message"})
            return
        kind, request_id, attempt = message
        try:
            if kind == "apply_decision":
                self._worker.apply(request_id)
            else:
                self._worker.check_issuance(request_id, attempt)
        except (PermanentFailure, InvalidTransition) as exc:
            # A step the life cycle forbids is refused the same way on every delivery: retrying it would only end in
            # the dead-letter queue with nothing recorded. Fail the request where that is allowed, and say so.
            if isinstance(exc, InvalidTransition):
                self._logger.error("worker.transition_refused", extra={"request_id": request_id, "reason": str(exc)})
            self._worker.fail(request_id, f"the decision cannot be applied: {exc}")
        except RetryLater as exc:
            if receive_count >= self._max_receives:
                self._worker.fail(request_id, f"gave up after {receive_count} attempts: {exc}")
            raise  # SQS retries with the visibility timeout; the last failure lands in the dead-letter queue


def _message(body: str) -> tuple[str, str, int] | None:
    try:
        message: Any = json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(message, dict) or message.get("kind") not in ("apply_decision", "check_issuance"):
        return None
    request_id, attempt = message.get("request_id"), message.get("attempt", 1)
    if not isinstance(request_id, str) or not isinstance(attempt, int):
        return None
    return str(message["kind"]), request_id, attempt
