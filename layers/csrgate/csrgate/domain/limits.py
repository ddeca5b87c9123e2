"""How often one person may ask: each ask is a message to a cluster's approvers (and a certificate ask a CSR in the
cluster), so each Slack user has a few places an hour, per kind of ask, taken as the ask is recorded."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.ports import AskQuota

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class AskingLimit:
    """`per_hour` asks of one kind (`asks`, `grants`) per Slack user in any hour."""

    quota: AskQuota
    kind: str
    per_hour: int

    @property
    def refusal(self) -> str:
        """What the asker is told when they have no place left."""
        return f"You asked {self.per_hour} times in the last hour: wait for those to be decided."

    def recorded(self, slack_user: str, ask_id: str, now: datetime, record: Callable[[], None]) -> bool:
        """Run `record` in a place of the asker's named by the ask: False, recording nothing, when they have none left.

        The same ask recorded twice at once (two clicks, one id) holds one place. A place whose ask could not be
        stored is given back, so that a throttled store never counts against the asker; a Conflict (the same ask
        stored by the other click) keeps it, as it is that ask's."""
        key = f"{self.kind}#{slack_user}"
        if not self.quota.take(key, ask_id, self.per_hour, WINDOW, now):
            return False
        try:
            record()
        except (RetryLater, PermanentFailure):
            with suppress(RetryLater, PermanentFailure):  # left taken, it frees itself within the hour
                self.quota.give_back(key, ask_id)
            raise
        return True
