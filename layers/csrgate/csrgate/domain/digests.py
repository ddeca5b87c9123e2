"""Decisions made without a person, told in one message per cluster and minute instead of one each.

A node group scaling up makes hundreds of kubelet CSRs within a minute, and Slack takes about one message per second
in a channel: a notice per decision would flood the channel and queue for minutes. Instead each automatic decision is
an entry of its cluster's digest for the minute its CSR arrived in. The digest's one message is posted a few seconds
after its first entry and redrawn in place as entries arrive, at most once per flush. Every decision keeps its own
audit trail; the digest is what people read.

Whoever adds an entry asks for a flush; only the first ask while none is waiting queues one (`PostDigest`). A flush
holds the digest's lease, takes the ask back before it reads, then draws what it read: an entry added meanwhile asks
again, so the last entry is always drawn.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from csrgate.domain.errors import RetryLater
from csrgate.domain.findings import Severity
from csrgate.domain.jobs import PostDigest
from csrgate.domain.lifecycle import State
from csrgate.domain.messages import Fact, Notice
from csrgate.domain.outcome import Outcome
from csrgate.domain.ports import AuditLog, Clock, ClusterDirectory, DigestStore, JobQueue, Notifier
from csrgate.domain.records import Actor, AuditEvent, MessageRef, RequestRecord
from csrgate.domain.text import shown

WINDOW_SECONDS = 60
FLUSH_DELAY_SECONDS = 5  # what one message gathers before it is drawn: a burst is drawn a dozen times a minute at most
SAVE_ATTEMPTS = 3  # saving a posted digest's message, before the job is left to the queue (and may post twice)
FLUSH_LEASE_SECONDS = 60  # one flush's Slack call with its retries; a crashed flush is recovered after it
# An ask no flush has taken for this long lost its job (a crash between the ask and the queue): the next entry asks
# again. Asking again too early only draws the digest once more.
STALE_ASK_SECONDS = 30
MAX_LISTED = 10  # denials (and, observing, reviews) listed; the rest are counted, and each is in the audit trail
MAX_REASON_CHARS = 200  # of a listed request's first finding
# What one digest lists at most, in characters: its lines are at most this and the counts, well within what Slack
# takes in one message (about 12,000 characters of blocks)
LISTING_BUDGET_CHARS = 6000
# A job for a window this far back (the entries' retention) or ahead is none of csrgate's
OLDEST_WINDOW = timedelta(days=7)
# A digest Slack refused through every try is tried again this much later (SQS's longest delay), while its window
# is this recent: a Slack outage of up to an hour still ends with every digest shown.
RETRY_DELAY_SECONDS = 900
RETRY_DIGESTS_FOR = timedelta(hours=1)

DIGESTED_STATES = frozenset({State.AUTO_APPROVED, State.DENIED_BY_POLICY, State.OBSERVED})


@dataclass(frozen=True)
class DigestEntry:
    """One automatic decision, or in a cluster csrgate observes, what it would have done. The only change an entry
    takes is an approval becoming a denial (the worker denies an approval after reading the Node; never the other way),
    so a late writer of an older reading never undoes it."""

    request_id: str
    csr_name: str
    signer: str
    requester: str
    outcome: Outcome  # approve, deny, or (observed only) review
    reason: str
    observed: bool = False


@dataclass(frozen=True)
class Digest:
    """A window's entries and, once posted, its message."""

    entries: tuple[DigestEntry, ...]
    message: MessageRef | None


def window_of(at: datetime) -> int:
    """The start of the digest window `at` falls in, in seconds since the epoch."""
    seconds = int(at.timestamp())
    return seconds - seconds % WINDOW_SECONDS


def entry_for(record: RequestRecord) -> DigestEntry:
    """The entry for a request the policy decided, or judged in a cluster csrgate observes."""
    observed = record.state is State.OBSERVED
    outcome = record.outcome if observed else Outcome.APPROVE if record.state is State.AUTO_APPROVED else Outcome.DENY
    weighed = [
        f for f in record.findings if f.severity is (Severity.WARNING if outcome is Outcome.REVIEW else Severity.ERROR)
    ]
    # the codes, and the first finding's words, short: the digest lists many requests in one message (Slack refuses
    # one of more than about 12,000 characters), and the whole reason is in the CSR's condition and the audit trail
    reason = ", ".join(dict.fromkeys(f.code.value for f in weighed))
    if weighed:
        first = weighed[0].message
        reason += f": {first if len(first) <= MAX_REASON_CHARS else first[: MAX_REASON_CHARS - 1] + '…'}"
    if outcome is Outcome.REVIEW:
        needs = f"{_counted(record.approvals_needed, 'approval')}{' (privileged)' if record.privileged else ''}"
        reason = f"would need {needs}" + (f": {reason}" if reason else "")
    return DigestEntry(
        request_id=record.request_id,
        csr_name=record.csr_name,
        signer=record.request.signer_name or "",
        requester=record.request.username or "",
        outcome=outcome,
        reason=reason,
        observed=observed,
    )


_OUTCOMES = (Outcome.APPROVE, Outcome.DENY, Outcome.REVIEW)
_LISTED = {  # how an entry is listed, by whether csrgate observed it and its outcome; approvals are counted only
    (False, Outcome.DENY): "Denied",
    (True, Outcome.DENY): "Would deny",
    (True, Outcome.REVIEW): "Would ask about",
}


def digest_notice(cluster: str, window: int, entries: Iterable[DigestEntry]) -> Notice:
    """The digest's message: what the policy approved and denied in the window (or, observing, what it would have),
    by signer, denials and reviews listed."""
    entries = sorted(entries, key=lambda entry: (entry.observed, entry.signer, entry.csr_name, entry.request_id))
    decided = [entry for entry in entries if not entry.observed]
    observed = [entry for entry in entries if entry.observed]
    start = datetime.fromtimestamp(window, UTC)
    span = f"on {cluster} between {start:%H:%M} and {start + timedelta(seconds=WINDOW_SECONDS):%H:%M} UTC"
    parts = []
    if decided or not observed:
        approved, denied = _count(decided, Outcome.APPROVE), _count(decided, Outcome.DENY)
        parts.append(f"{_counted(approved, 'certificate request')} approved and {denied} denied by policy {span}")
    if observed:
        would = (_count(observed, outcome) for outcome in _OUTCOMES)
        parts.append(
            "csrgate would have approved {}, denied {} and sent to review {} of {} {} (observe mode: it decided "
            "none)".format(*would, _counted(len(observed), "certificate request"), span)
        )
    facts = [Fact(shown(signer) or "(no signer)", _signer_line(group)) for signer, group in _by_signer(decided)]
    facts += [
        Fact(f"{shown(signer) or '(no signer)'} (observed)", _observed_line(group))
        for signer, group in _by_signer(observed)
    ]
    listed = [entry for entry in entries if (entry.observed, entry.outcome) in _LISTED]
    lines, budget = [], LISTING_BUDGET_CHARS
    for entry in listed[:MAX_LISTED]:
        line = Fact(
            f"{_LISTED[(entry.observed, entry.outcome)]} {shown(entry.csr_name)}",
            f"asked by {shown(entry.requester) or 'an unknown user'}: {entry.reason}",
        )
        budget -= len(line.label) + len(line.value)
        if budget < 0:
            break
        lines.append(line)
    facts += lines
    if len(listed) > len(lines):
        facts.append(
            Fact("Also listed", f"{len(listed) - len(lines)} more: csr.policy_verdict in the intake function's logs")
        )
    return Notice(request_id="", headline="; ".join(parts), facts=tuple(facts), findings=())


def _by_signer(entries: list[DigestEntry]) -> list[tuple[str, list[DigestEntry]]]:
    groups: dict[str, list[DigestEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.signer, []).append(entry)
    return sorted(groups.items())


def _signer_line(entries: list[DigestEntry]) -> str:
    approved, denied = _count(entries, Outcome.APPROVE), _count(entries, Outcome.DENY)
    if not approved:
        return f"0 approved, {denied} denied"
    return f"{approved} approved for {_requesters(entries)}, {denied} denied"


def _observed_line(entries: list[DigestEntry]) -> str:
    approve, deny, review = (_count(entries, outcome) for outcome in _OUTCOMES)
    for_whom = f" for {_requesters(entries)}" if approve else ""
    return f"would approve {approve}{for_whom}, deny {deny}, send to review {review}"


def _requesters(entries: list[DigestEntry]) -> str:
    """The distinct requesters of the approvals: nodes when every one is a node."""
    requesters = {entry.requester for entry in entries if entry.outcome is Outcome.APPROVE}
    who = "node" if all(requester.startswith("system:node:") for requester in requesters) else "requester"
    return _counted(len(requesters), who)


def _count(entries: list[DigestEntry], outcome: Outcome) -> int:
    return sum(entry.outcome is outcome for entry in entries)


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class Digests:
    """Automatic decisions into their digests (intake, the worker), and digests into Slack (the notifier)."""

    def __init__(
        self,
        store: DigestStore,
        flushes: JobQueue,
        clusters: ClusterDirectory,
        notifier: Notifier,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._store = store
        self._flushes = flushes
        self._clusters = clusters
        self._notifier = notifier
        self._audit = audit
        self._clock = clock

    def add(self, record: RequestRecord) -> None:
        """Tell the request's automatic decision in its digest; safe to repeat. Raises RetryLater when the flush
        cannot be queued (the ask is taken back, so the caller's retry asks again)."""
        if record.state not in DIGESTED_STATES:
            return
        window = window_of(record.received_at)
        self._store.add(record.cluster, window, entry_for(record))
        if not self._store.ask_flush(record.cluster, window, self._clock()):
            return  # a flush is queued and has not started reading: it will draw this entry
        try:
            self._flushes.enqueue(PostDigest(record.cluster, window), FLUSH_DELAY_SECONDS)
        except RetryLater:
            self._store.drop_flush(record.cluster, window)
            raise

    def flush(self, cluster: str, window: int) -> None:
        """Draw the digest as it is now: post it the first time, redraw it after. Raises RetryLater when Slack
        fails (the queue tries again)."""
        now = self._clock()
        config = self._clusters.get(cluster)
        oldest, newest = window_of(now - OLDEST_WINDOW), window_of(now)
        if config is None or window % WINDOW_SECONDS or not oldest <= window <= newest:
            # a cluster no longer configured, or a job none of csrgate's parts wrote: nothing to draw, nothing stored
            self._log(cluster, "slack.digest_abandoned", window=window, reason="no such cluster or window")
            return
        if not self._store.read(cluster, window).entries:
            return  # nothing to tell: a forged job, or one for a window whose entries expired
        if not self._store.claim(cluster, window, now, FLUSH_LEASE_SECONDS):
            # another flush is drawing: it may have read before the entries that queued this one
            self._flushes.enqueue(PostDigest(cluster, window), FLUSH_DELAY_SECONDS)
            return
        try:
            self._store.take_flush(cluster, window)
            digest = self._store.read(cluster, window)
            notice = digest_notice(cluster, window, digest.entries)
            if digest.message is None:
                message = self._notifier.post_notice(config.slack_channel, notice)
                self._remember(cluster, window, message)
                name = "slack.digest_posted"
            else:
                self._notifier.update_notice(digest.message, notice)
                name = "slack.digest_updated"
        finally:
            self._store.release(cluster, window)
        counts = {outcome.value: _count(list(digest.entries), outcome) for outcome in _OUTCOMES}
        self._log(cluster, name, window=window, **counts)

    def _remember(self, cluster: str, window: int, message: MessageRef) -> None:
        """Save the posted message, trying again at once: a retried job finding none saved would post a second."""
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                self._store.save_message(cluster, window, message)
                return
            except RetryLater:
                if attempt == SAVE_ATTEMPTS:
                    raise

    def give_up(self, digest: str, reason: str) -> None:
        """Slack stayed down through every try (`digest`: `<cluster>@<window>`). A recent digest is tried again a
        quarter of an hour later, as no new entry may ever come to its window to ask for it; an older one is not
        shown, and each of its decisions is still in the audit trail."""
        cluster, _, window = digest.rpartition("@")
        start = int(window) if window.isascii() and window.isdigit() and len(window) <= 11 else -1
        age = self._clock() - datetime.fromtimestamp(max(start, 0), UTC)
        if timedelta(0) <= age < RETRY_DIGESTS_FOR:
            with suppress(RetryLater):  # SQS unreachable too: nothing more can be done for it
                self._flushes.enqueue(PostDigest(cluster, start), RETRY_DELAY_SECONDS)
                self._log(cluster, "slack.digest_deferred", window=window, reason=reason, seconds=RETRY_DELAY_SECONDS)
                return
        self._log(cluster, "slack.digest_abandoned", window=window, reason=reason)

    def _log(self, cluster: str, name: str, **details: object) -> None:
        self._audit.write(AuditEvent(name, "", cluster, "", "", Actor.SERVICE, self._clock(), details))
