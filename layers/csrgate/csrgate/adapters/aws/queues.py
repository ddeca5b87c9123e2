"""SQS queues of jobs: decisions and signer checks for the worker, Slack posts for the notifier."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from csrgate.domain.errors import RetryLater
from csrgate.domain.jobs import Job, encode_job

MAX_DELAY_SECONDS = 900  # SQS delays a message at most 15 minutes


class SqsJobQueue:
    """A JobQueue on SQS; the queue's redrive policy bounds the attempts and keeps the last in its dead letters."""

    def __init__(self, client: Any, queue_url: str, delay_seconds: int = 0) -> None:
        self._client = client
        self._url = queue_url
        self._delay = delay_seconds

    def enqueue(self, job: Job, delay_seconds: int | None = None) -> None:
        """Queue the job after this queue's delay, or `delay_seconds`."""
        delay = self._delay if delay_seconds is None else delay_seconds
        try:
            self._client.send_message(
                QueueUrl=self._url,
                MessageBody=encode_job(job),
                DelaySeconds=max(0, min(delay, MAX_DELAY_SECONDS)),
            )
        except (ClientError, BotoCoreError) as exc:
            raise RetryLater(f"SQS did not take the message: {type(exc).__name__}") from exc
