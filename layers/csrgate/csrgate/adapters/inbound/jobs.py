"""The queue consumer every queue-fed function uses: read the job, run it, and give up loudly on the last attempt.

A job that fails for good (PermanentFailure, or a step the life cycle forbids, which every delivery would refuse the
same way) is given up at once. One that may succeed later (RetryLater) is raised, so SQS delivers it again after the
visibility timeout; on the last delivery the request is given up too, and the message still ends in the dead letters,
where the alarm sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.jobs import Job, decode_job, subject_of
from csrgate.domain.lifecycle import InvalidTransition


@dataclass(frozen=True)
class JobHandler:
    """How one kind of job runs, and how its request is given up when the job cannot be done."""

    run: Callable[[Any], object]
    give_up: Callable[[str, str], object]  # (the id of the request or ask, why)
    failure: str  # what could not be done, for people: "the decision cannot be applied"


class JobConsumer:
    """Handles one queue message by its job's kind; raising makes SQS deliver it again."""

    def __init__(self, handlers: Mapping[type[Job], JobHandler], logger: Logger, max_receives: int) -> None:
        self._handlers = handlers
        self._logger = logger
        self._max_receives = max_receives  # the queue's maxReceiveCount in template.yaml

    def handle(self, body: str, receive_count: int) -> None:
        """Run the job in a message; a message that holds none of this consumer's jobs is dropped, and logged."""
        job = decode_job(body)
        handler = self._handlers.get(type(job)) if job is not None else None
        if job is None or handler is None:
            self._logger.error("queue.message_dropped", extra={"reason": "not a job this queue carries"})
            return
        try:
            handler.run(job)
        except (PermanentFailure, InvalidTransition) as exc:
            if isinstance(exc, InvalidTransition):
                self._logger.error("queue.transition_refused", extra={"subject": subject_of(job), "reason": str(exc)})
            handler.give_up(subject_of(job), f"{handler.failure}: {exc}")
        except RetryLater as exc:
            if receive_count >= self._max_receives:
                handler.give_up(subject_of(job), f"gave up after {receive_count} attempts: {exc}")
            raise
