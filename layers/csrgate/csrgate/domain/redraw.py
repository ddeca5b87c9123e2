"""Redrawing a request's Slack message as its story moves on, in one place for every use case.

The message shows the request as it is stored: an approval request with its buttons while a person may still decide
(with the approvals so far), an account of what happened once it is decided. What was stored stands whatever Slack
does: its trouble costs only the redraw, which is recorded as failed, never raised.
"""

from __future__ import annotations

from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.lifecycle import State
from csrgate.domain.messages import decided_message, review_message
from csrgate.domain.ports import AuditLog, Clock, Notifier, RequestStore
from csrgate.domain.records import Actor, AuditEvent, RequestRecord


class MessageRedraw:
    """Shows a request's current state on its Slack message."""

    def __init__(self, notifier: Notifier, store: RequestStore, audit: AuditLog, clock: Clock) -> None:
        self._notifier = notifier
        self._store = store
        self._audit = audit
        self._clock = clock

    def show(self, record: RequestRecord) -> None:
        """Redraw the request's message, if it has one; Slack trouble is recorded as `slack.update_failed`."""
        if record.slack_message is None:
            # Intake posts the message after queuing the decision: if it saved the message since this record was
            # read, redraw it now; if it has not yet, intake redraws what it finds once it has saved it.
            record = self._store.get(record.request_id) or record
        if record.slack_message is None:
            return
        now = self._clock()
        try:
            if record.state is State.AWAITING_REVIEW:
                self._notifier.update_review(record.slack_message, review_message(record, now))
            else:
                self._notifier.update_notice(record.slack_message, decided_message(record, now))
        except (RetryLater, PermanentFailure) as exc:
            event = AuditEvent.about(record, "slack.update_failed", Actor.SERVICE, now, reason=str(exc))
            self._store.add_event(event)
            self._audit.write(event)
