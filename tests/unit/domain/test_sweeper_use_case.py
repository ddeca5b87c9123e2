"""The sweeper: one reminder for a review left waiting, expiry before the cluster forgets the CSR, and the decisions
that never reached the worker queued again; Slack's trouble never undoes what it stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from memory import Csrgate, client_csr

from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.jobs import ApplyDecision, ShowInCluster
from csrgate.domain.lifecycle import State
from csrgate.domain.sweeper import EXPIRED_REASON, Sweeper, SweepResult, SweepTimings


def test_a_review_waiting_an_hour_gets_one_reminder_in_its_thread() -> None:
    # GIVEN dana's request has waited just under an hour
    gate = Csrgate()
    request_id = gate.submit()
    gate.clock.advance(minutes=59, seconds=59)
    assert gate.sweeper.sweep() == SweepResult()
    # WHEN it has waited an hour and a half
    gate.clock.advance(minutes=30, seconds=1)
    result = gate.sweeper.sweep()
    # THEN the approvers are reminded once, in the request's thread
    record = gate.record(request_id)
    assert result == SweepResult(reminded=1)
    assert gate.requesters.replies == [
        (
            record.slack_message,
            "Reminder: this request has waited 1 hours and needs 1 more approval. It expires at 21:00 UTC.",
        )
    ]
    assert record.reminded and record.state is State.AWAITING_REVIEW
    posted = gate.audit.events[-1]
    assert (posted.event, posted.actor) == ("slack.reminder_posted", "csrgate")
    assert gate.store.pending_mark(request_id) == "PENDING"
    # WHEN the sweeper runs again
    gate.clock.advance(hours=3)
    assert gate.sweeper.sweep() == SweepResult()
    assert len(gate.requesters.replies) == 1


def test_a_reminder_counts_the_approvals_still_needed() -> None:
    # GIVEN two privileged requests needing two approvals each, one already approved by erin
    gate = Csrgate()
    gate.submit(client_csr("dana", orgs=["ops"]))
    half = gate.submit(client_csr("frank", orgs=["ops"]), "frank", username="frank")
    gate.click(half, "U0ERIN")  # an approver through her group: still counted
    # WHEN they have waited two hours
    gate.clock.advance(hours=2)
    # THEN each reminder says how many approvals are still missing
    assert gate.sweeper.sweep() == SweepResult(reminded=2)
    assert [text for _, text in gate.requesters.replies] == [
        "Reminder: this request has waited 2 hours and needs 2 more approvals. It expires at 21:00 UTC.",
        "Reminder: this request has waited 2 hours and needs 1 more approval. It expires at 21:00 UTC.",
    ]


def test_a_reminder_says_when_the_configured_window_ends() -> None:
    # GIVEN a sweeper reminding after half an hour and expiring after eight
    gate = Csrgate()
    gate.submit()
    sweeper = Sweeper(
        gate.directory,
        gate.store,
        gate.decisions,
        gate.channel,
        gate.requesters,
        gate.people,
        gate.certificates,
        gate.grants,
        gate.heartbeats,
        gate.audit,
        gate.gauges,
        gate.clock,
        SweepTimings(remind_after=timedelta(minutes=30), expire_after=timedelta(hours=8)),
    )
    # WHEN dana's review has waited 31 minutes
    gate.clock.advance(minutes=31)
    # THEN the reminder gives the end of the eight-hour window
    assert sweeper.sweep() == SweepResult(reminded=1)
    assert gate.requesters.replies[-1][1].endswith("It expires at 17:00 UTC.")
    # WHEN eight more hours pass, THEN it expires
    gate.clock.advance(hours=8)
    assert sweeper.sweep() == SweepResult(expired=1)


def test_a_review_without_a_message_is_not_reminded_and_waits_for_its_message() -> None:
    # GIVEN a review whose message Slack never showed
    gate = Csrgate()
    gate.channel.failure = RetryLater("down")
    request_id = gate.submit()
    # WHEN the sweeper runs two hours later
    gate.clock.advance(hours=2)
    # THEN there is no thread to remind in, and it is left to be reminded later
    assert gate.sweeper.sweep().reminded == 0
    assert not gate.record(request_id).reminded


def test_a_reminder_slack_refuses_for_now_is_tried_by_the_next_sweep() -> None:
    # GIVEN a review two hours old, and Slack rate limiting
    gate = Csrgate()
    request_id = gate.submit()
    gate.clock.advance(hours=2)
    gate.requesters.failure = RetryLater("Slack answered ratelimited to chat_postMessage")
    # WHEN the sweeper runs, THEN nobody is reminded and the failure is recorded
    assert gate.sweeper.sweep().reminded == 0
    failed = gate.audit.events[-1]
    assert (failed.event, dict(failed.details)) == (
        "slack.reminder_failed",
        {"reason": "Slack answered ratelimited to chat_postMessage"},
    )
    assert gate.store.event_names(request_id)[-1] == "slack.reminder_failed"
    assert not gate.record(request_id).reminded
    # WHEN Slack is back, THEN the next sweep reminds
    gate.requesters.failure = None
    assert gate.sweeper.sweep().reminded == 1


def test_a_reminder_slack_refuses_for_good_is_not_tried_again() -> None:
    # GIVEN a review two hours old, and Slack refusing the reminder for good
    gate = Csrgate()
    request_id = gate.submit()
    gate.clock.advance(hours=2)
    gate.requesters.failure = PermanentFailure("Slack refused chat_postMessage: not_in_channel")
    # WHEN the sweeper runs, THEN the failure is recorded and the reminder counted as done
    assert gate.sweeper.sweep().reminded == 0
    assert gate.record(request_id).reminded
    assert gate.audit.events[-1].details == {"reason": "Slack refused chat_postMessage: not_in_channel"}
    assert gate.store.event_names(request_id)[-1] == "slack.reminder_failed"
    # WHEN Slack would take it later, THEN it is not tried again
    gate.requesters.failure = None
    gate.sweeper.sweep()
    assert gate.requesters.replies == []


def test_a_review_left_twelve_hours_expires_and_its_message_says_so() -> None:
    # GIVEN a review reminded once and left undecided
    gate = Csrgate()
    request_id = gate.submit()
    gate.clock.advance(hours=11, minutes=59, seconds=59)
    assert gate.sweeper.sweep() == SweepResult(reminded=1)
    # WHEN twelve hours have passed
    gate.clock.advance(seconds=1)
    result = gate.sweeper.sweep()
    # THEN it expired: no decision for the worker in a cluster that forgets pending CSRs itself, only the expiry to
    # show on the CSR
    record = gate.record(request_id)
    assert result == SweepResult(expired=1)
    assert (record.state, record.outcome_note) == (State.EXPIRED, EXPIRED_REASON)
    expired = gate.audit.events[-1]
    assert (expired.event, expired.actor, dict(expired.details)) == ("csr.expired", "csrgate", {"waited_hours": 12})
    assert gate.decisions.jobs == [] and gate.decisions.shows == [ShowInCluster(request_id)] * 2  # review, expiry
    assert gate.store.pending_mark(request_id) is None
    assert gate.channel.headline(record.slack_message).endswith("was left undecided until it expired")
    assert gate.sweeper.sweep() == SweepResult()


def test_an_expired_review_is_queued_for_denial_where_the_cluster_denies_expired_csrs() -> None:
    # GIVEN a review thirteen hours old in a cluster that denies expired CSRs
    gate = Csrgate(denyExpired=True)
    request_id = gate.submit()
    gate.clock.advance(hours=13)
    # WHEN the sweeper runs, THEN it expires
    assert gate.sweeper.sweep() == SweepResult(expired=1)
    # AND its denial is queued for the worker
    assert gate.decisions.jobs == [ApplyDecision(request_id)]
    queued = gate.audit.events[-1]
    assert (queued.event, queued.actor, dict(queued.details)) == (
        "csr.decision_queued",
        "csrgate",
        {"decision": "deny"},
    )
    assert gate.audit.events[-2].details == {"waited_hours": 13}
    assert gate.record(request_id).decision_queued


def test_an_expiry_whose_queueing_fails_is_queued_by_a_later_sweep() -> None:
    # GIVEN an expiry to deny, and the decision queue unreachable
    gate = Csrgate(denyExpired=True)
    request_id = gate.submit()
    gate.clock.advance(hours=12)
    gate.decisions.failure = RetryLater("SQS is unreachable: EndpointConnectionError")
    # WHEN the sweeper runs, THEN it expires, the failure is recorded, and the denial stays marked to queue
    assert gate.sweeper.sweep() == SweepResult(expired=1)
    failed = gate.audit.events[-1]
    assert (failed.event, dict(failed.details)) == (
        "csr.decision_queue_failed",
        {"reason": "SQS is unreachable: EndpointConnectionError"},
    )
    assert gate.store.event_names(request_id)[-1] == "csr.decision_queue_failed"
    assert gate.store.pending_mark(request_id) == "UNQUEUED"
    # WHEN the queue is back five minutes later, THEN the next sweep queues it, late
    gate.decisions.failure = None
    gate.clock.advance(minutes=5, seconds=1)
    assert gate.sweeper.sweep() == SweepResult(requeued=1)
    assert gate.decisions.jobs == [ApplyDecision(request_id)]
    assert gate.audit.events[-1].details == {"decision": "deny", "late": True, "state": "expired"}


def test_an_expiry_for_a_cluster_no_longer_configured_expires_without_a_denial() -> None:
    # GIVEN a review whose cluster was removed from the configuration
    gate = Csrgate(denyExpired=True)
    request_id = gate.submit()
    gate.directory.clusters.clear()
    gate.clock.advance(hours=12)
    # WHEN it has waited twelve hours, THEN it expires with no denial to apply
    assert gate.sweeper.sweep() == SweepResult(expired=1)
    assert gate.record(request_id).state is State.EXPIRED and gate.decisions.jobs == []


def test_a_review_decided_while_the_sweeper_expires_it_stays_decided() -> None:
    # GIVEN a review twelve hours old that alice approves as the sweeper expires it
    gate = Csrgate()
    request_id = gate.submit()
    gate.clock.advance(hours=12)
    gate.store.before("transition", lambda: gate.click(request_id, "U0ALICE"))
    # WHEN the sweeper runs, THEN nothing is expired
    assert gate.sweeper.sweep() == SweepResult()
    # AND alice's approval stands
    assert gate.record(request_id).state is State.APPROVED
    assert "csr.expired" not in gate.audit.names()


def test_a_decision_that_never_reached_the_queue_is_queued_five_minutes_after_it_was_made() -> None:
    # GIVEN alice's approval was stored, but the queue refused it
    gate = Csrgate()
    request_id = gate.submit()
    gate.decisions.failure = RetryLater("SQS is unreachable")
    with pytest.raises(RetryLater):
        gate.click(request_id, "U0ALICE")
    gate.decisions.failure = None
    assert gate.record(request_id).state is State.APPROVED
    assert gate.store.pending_mark(request_id) == "UNQUEUED"
    # WHEN sweeps run before and after five minutes
    gate.clock.advance(minutes=5)
    assert gate.sweeper.sweep() == SweepResult()
    gate.clock.advance(seconds=1)
    assert gate.sweeper.sweep() == SweepResult(requeued=1)
    # THEN the decision reaches the worker once, late, and is applied
    assert gate.decisions.jobs == [ApplyDecision(request_id)]
    queued = gate.audit.events[-1]
    assert (queued.event, queued.actor, dict(queued.details)) == (
        "csr.decision_queued",
        "csrgate",
        {"decision": "approve", "late": True, "state": "approved"},
    )
    assert gate.sweeper.sweep() == SweepResult()
    gate.work()
    assert gate.record(request_id).state is State.DELIVERED


def test_a_policy_decision_never_queued_is_queued_by_the_sweeper_too() -> None:
    # GIVEN a policy denial stored while the queue was down
    gate = Csrgate()
    gate.decisions.failure = RetryLater("SQS is unreachable")
    with pytest.raises(RetryLater):
        gate.submit(client_csr("dana", orgs=["system:masters"]))
    gate.decisions.failure = None
    # WHEN the sweeper runs six minutes later
    gate.clock.advance(minutes=6)
    # THEN it queues the denial, late
    assert gate.sweeper.sweep() == SweepResult(requeued=1)
    assert gate.audit.events[-1].details == {"decision": "deny", "late": True, "state": "denied_by_policy"}


def test_a_sweep_whose_queue_is_down_records_it_and_stops_nothing() -> None:
    # GIVEN alice's approval never queued, another review waiting, and the queue still down
    gate = Csrgate()
    request_id = gate.submit()
    gate.decisions.failure = RetryLater("SQS is unreachable")
    with pytest.raises(RetryLater):
        gate.click(request_id, "U0ALICE")
    other = gate.submit(client_csr("erin"), "erin", username="erin")
    # WHEN the sweeper runs two hours later
    gate.clock.advance(hours=2)
    # THEN the failed queueing is recorded and the other review is reminded all the same
    assert gate.sweeper.sweep() == SweepResult(reminded=1)
    assert gate.audit.names(request_id)[-1] == "csr.decision_queue_failed"
    assert gate.record(other).reminded


def test_slack_down_during_a_sweep_undoes_nothing_and_every_request_is_swept() -> None:
    # GIVEN two reviews left twelve hours, and Slack down
    gate = Csrgate()
    first = gate.submit()
    second = gate.submit(client_csr("erin"), "erin", username="erin")
    gate.clock.advance(hours=12)
    gate.channel.failure = RetryLater("Slack is unreachable: URLError")
    # WHEN the sweeper runs
    result = gate.sweeper.sweep()
    # THEN both expired, each failed redraw recorded
    assert result == SweepResult(expired=2)
    assert gate.record(first).state is State.EXPIRED and gate.record(second).state is State.EXPIRED
    failed = [e for e in gate.audit.events if e.event == "slack.update_failed"]
    assert [e.request_id for e in failed] == [first, second]
    assert dict(failed[0].details) == {"reason": "Slack is unreachable: URLError"}
    assert gate.store.event_names(first)[-1] == "slack.update_failed"


def test_a_reminder_does_not_count_an_approval_that_lapsed() -> None:
    # GIVEN alice approved a privileged request (two needed), then left the approvers
    gate = Csrgate()
    request_id = gate.submit(client_csr("dana", orgs=["ops"]))
    gate.click(request_id, "U0ALICE")
    gate.reconfigure(approvers={"users": ["U0BOB", "U0CAROL"]})
    # WHEN the sweeper reminds the approvers
    gate.clock.advance(hours=2)
    gate.sweeper.sweep()
    # THEN they are told two approvals are still needed, as Approvals would count them
    assert "needs 2 more approvals" in gate.requesters.replies[-1][1]
