"""SQS queues: decisions for the worker, and Slack posts to try again."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from csrgate.domain.errors import RetryLater
from csrgate.domain.ports import QueuedDecision

SLACK_RETRY_DELAY_SECONDS = 30


class SqsDecisionQueue:
    """The worker's decision queue."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def send(self, decision: QueuedDecision) -> None:
        """Queue a decision for the worker."""
        _send(self._client, QueueUrl=self._url, MessageBody=json.dumps(decision.as_message()))


class SqsSlackRetryQueue:
    """Slack posts to try again; SQS's redrive policy bounds the attempts and keeps the last in a DLQ."""

    def __init__(self, client: Any, queue_url: str, delay_seconds: int = SLACK_RETRY_DELAY_SECONDS) -> None:
        self._client = client
        self._url = queue_url
        self._delay = delay_seconds

    def send(self, request_id: str, attempt: int) -> None:
        """Ask for the request's Slack message again after a pause."""
        body = json.dumps({"kind": "post_message", "request_id": request_id, "attempt": attempt})
        _send(self._client, QueueUrl=self._url, MessageBody=body, DelaySeconds=self._delay)


def _send(client: Any, **kwargs: Any) -> None:
    try:
        client.send_message(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise RetryLater(f"SQS did not take the message: {type(exc).__name__}") from exc


class SqsIssuanceChecks:
    """Another look at a certificate later: a message on the decision queue, delayed."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def send(self, request_id: str, attempt: int, delay_seconds: int) -> None:
        """Queue a check of the signer after `delay_seconds` (SQS allows up to 15 minutes)."""
        body = json.dumps({"kind": "check_issuance", "request_id": request_id, "attempt": attempt})
        _send(self._client, QueueUrl=self._url, MessageBody=body, DelaySeconds=max(0, min(delay_seconds, 900)))
