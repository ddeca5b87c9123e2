"""Lambda's event sources, locally: SQS event source mappings (batches, partial failures) and the schedule."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from devstack.functions import LocalFunction
from devstack.lambda_events import sqs_event

LOG = logging.getLogger("devstack.pump")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours)\)$")


@dataclass(frozen=True)
class QueueSource:
    """A function fed by a queue, BatchSize messages at a time."""

    function: str
    queue: str  # logical id
    batch_size: int


@dataclass(frozen=True)
class ScheduleSource:
    """A function invoked every `seconds`."""

    function: str
    seconds: float


def template_sources(template: dict[str, Any]) -> tuple[list[QueueSource], list[ScheduleSource]]:
    """The SQS and schedule events of every function in the template."""
    queues, schedules = [], []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            properties = event.get("Properties", {})
            if event["Type"] == "SQS":
                queue = properties["Queue"]["Fn::GetAtt"][0]
                queues.append(QueueSource(logical_id, queue, int(properties.get("BatchSize", 10))))
            elif event["Type"] in ("Schedule", "ScheduleV2"):
                schedules.append(ScheduleSource(logical_id, rate_seconds(str(properties["ScheduleExpression"]))))
    return queues, schedules


def rate_seconds(expression: str) -> float:
    """Seconds between runs of a `rate(N minutes|hours)` expression."""
    match = _RATE.match(expression)
    if match is None:
        raise ValueError(f"the local stack runs rate() schedules only, not {expression!r}")
    return int(match.group(1)) * (3600 if match.group(2).startswith("hour") else 60)


class Pump:
    """Polls each source's queue and runs each schedule in threads of its own until stopped."""

    def __init__(
        self,
        sqs: Any,
        queue_urls: dict[str, str],
        functions: dict[str, LocalFunction],
        queues: list[QueueSource],
        schedules: list[ScheduleSource],
    ) -> None:
        self._sqs = sqs
        self._urls = queue_urls
        self._functions = functions
        self._queues = queues
        self._schedules = schedules
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Pump:
        """Start one poller per queue source and one timer per schedule."""
        for queue in self._queues:
            self._threads.append(threading.Thread(target=self._poll, args=(queue,), name=f"pump-{queue.queue}"))
        for schedule in self._schedules:
            self._threads.append(
                threading.Thread(target=self._tick, args=(schedule,), name=f"schedule-{schedule.function}")
            )
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        return self

    def stop(self) -> None:
        """Stop polling; a batch being handled is finished first."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def deliver_once(self, source: QueueSource, wait_seconds: int = 1) -> int:
        """Receive one batch and hand it to the function; delete what succeeded. Returns how many were received."""
        url = self._urls[source.queue]
        received = self._sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=source.batch_size, WaitTimeSeconds=wait_seconds, AttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            return 0
        arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        try:
            answer = self._functions[source.function].invoke(sqs_event(received, arn))
        except Exception:
            # a function error fails the whole batch: every message becomes visible again after its timeout
            LOG.exception("%s failed a batch of %d", source.function, len(received))
            return len(received)
        failed = {item["itemIdentifier"] for item in (answer or {}).get("batchItemFailures", [])}
        done = [m for m in received if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(received)

    def _poll(self, source: QueueSource) -> None:
        while not self._stopping.is_set():
            try:
                if self.deliver_once(source) == 0:
                    self._stopping.wait(0.05)
            except Exception:
                LOG.exception("polling %s failed", source.queue)
                self._stopping.wait(1)

    def _tick(self, schedule: ScheduleSource) -> None:
        while not self._stopping.wait(schedule.seconds):
            try:
                self._functions[schedule.function].invoke({})
            except Exception:
                LOG.exception("%s failed", schedule.function)
