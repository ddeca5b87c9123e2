"""The client certificates csrgate delivered, as it remembers them (never their bodies): whose, for which user and
groups, valid when, and when their holder is reminded to renew them. Light: every function may read these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

REMIND_AT = 0.8  # of a certificate's lifetime
LAST_DAY = timedelta(days=1)  # a last reminder a day before expiry, for certificates living longer than:
LONG_LIVED = timedelta(days=3)


@dataclass(frozen=True)
class DeliveredCertificate:
    """A client certificate csrgate delivered: whose, for which user and groups, valid when, from which request."""

    fingerprint: str  # SHA-256 of its DER, in hex: what the API server records as its credential id
    cluster: str
    username: str
    groups: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    slack_user: str  # whom it was delivered to
    request_id: str
    chain_started_at: datetime  # when a person last approved this identity; renewals by policy keep it
    lifetime_seconds: int  # what was asked (the signer backdates not_before): a renewal may ask for no more
    reminders_sent: int = 0
    renewed_by: str | None = None  # the request that renews it: claimed when approved by policy, or once delivered

    def reminder_times(self) -> tuple[datetime, ...]:
        """When its holder is reminded: at 80% of its lifetime, and a day before it ends when it lives longer."""
        lifetime = self.not_after - self.not_before
        times = [self.not_before + lifetime * REMIND_AT]
        if lifetime > LONG_LIVED:
            times.append(self.not_after - LAST_DAY)
        return tuple(sorted(times))

    @property
    def next_reminder(self) -> datetime | None:
        """The next reminder's time; None once every reminder was sent or the certificate was renewed."""
        times = self.reminder_times()
        return None if self.renewed_by or self.reminders_sent >= len(times) else times[self.reminders_sent]
