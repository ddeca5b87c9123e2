"""The heartbeat: a signed "this cluster's forwarder is running", so csrgate can alarm when a cluster stops reporting.

The first is sent as soon as the forwarder is ready (its first list queued), then one every CSRGATE_HEARTBEAT_SECONDS,
counted from when the one before began. It posts through the events' Sender (the same route, signing, connections
and retries) but on a thread of its own and never through the delivery queue, so it neither waits behind CSR events
nor holds one up. An answer csrgate will not change its mind about (a 4xx) is not retried; one that may change (5xx,
timeout, no connection) is retried as an event is, but only until the next heartbeat is due, which takes its place.
An older csrgate refuses the unknown type with 400 invalid-event: that is logged once and the heartbeat goes on, so
it is accepted as soon as csrgate is upgraded. docs/forwarder-protocol.md describes the heartbeat and its answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from csrgate.forwarder.metrics import ForwarderMetrics
from csrgate.forwarder.sender import Answer, Sender

LOG = logging.getLogger("csrgate.forwarder.heartbeat")
ACCEPTED, UNSUPPORTED, FAILED = "accepted", "unsupported", "failed"


class Heartbeat:
    """Sends heartbeats on a cadence until `wait` (which sleeps) returns True: the forwarder is stopping."""

    def __init__(
        self,
        sender: Sender,
        interval: float,
        metrics: ForwarderMetrics,
        wait: Callable[[float], bool],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sender = sender
        self._interval = interval
        self._counted = metrics.heartbeats
        self._wait = wait
        self._monotonic = monotonic
        self._stopping = False
        self._told_unsupported = False
        for outcome in (ACCEPTED, UNSUPPORTED, FAILED):  # every outcome shows from the start, at 0
            self._counted.labels(outcome=outcome)

    def run(self) -> None:
        """Send one now, then one every interval, until stopped; call it once the forwarder is ready."""
        while True:
            began = self._monotonic()
            due = began + self._interval
            try:
                self._beat(due)
            except Exception as exc:  # a bug in one heartbeat must not end the next: csrgate would alarm
                LOG.exception("heartbeat.failed", extra={"reason": f"{type(exc).__name__}: {exc}"})
                self._counted.labels(outcome=FAILED).inc()
            if self._stopping or self._wait(max(0.0, due - self._monotonic())):
                return

    def _beat(self, due: float) -> None:
        answer = self._sender.send_heartbeat(self._retry_wait(due))
        if answer.outcome == "sent":
            self._counted.labels(outcome=ACCEPTED).inc()
            LOG.debug("heartbeat.sent", extra={"status": answer.reason})
        elif answer.outcome == "refused" and (answer.reason, answer.error) == ("400", "invalid-event"):
            self._unsupported(answer)
        elif answer.outcome == "refused":
            self._counted.labels(outcome=FAILED).inc()
            LOG.error(
                "heartbeat.failed",
                extra={"reason": answer.reason, "error": answer.error, "api_message": answer.message},
            )
        elif not self._stopping:  # given up for the next heartbeat; one cut short by a stop is no failure
            self._counted.labels(outcome=FAILED).inc()
            LOG.warning(
                "heartbeat.failed",
                extra={"reason": answer.reason, "detail": "not accepted before the next heartbeat was due"},
            )

    def _retry_wait(self, due: float) -> Callable[[float], bool]:
        """The sender's sleep between retries: give up when a retry would come after the next heartbeat is due."""

        def wait(delay: float) -> bool:
            if self._monotonic() + delay >= due:
                return True
            self._stopping = self._wait(delay)
            return self._stopping

        return wait

    def _unsupported(self, answer: Answer) -> None:
        self._counted.labels(outcome=UNSUPPORTED).inc()
        if self._told_unsupported:
            return
        self._told_unsupported = True
        LOG.warning(
            "heartbeat.unsupported",
            extra={
                "reason": "csrgate does not know heartbeats yet: upgrade it to be alarmed when this cluster stops "
                "reporting (logged once; heartbeats go on)",
                "status": answer.reason,
                "error": answer.error,
                "api_message": answer.message,
            },
        )
