"""Intake and Slack: the request's message is posted once, under a lease; Slack's trouble goes to the retry queue
and never loses the request."""

from __future__ import annotations

import pytest
from memory import Csrgate

from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.intake import EventType
from csrgate.domain.jobs import ApplyDecision, PostMessage
from csrgate.domain.lifecycle import State
from csrgate.domain.messages import MESSAGE_LEASE_SECONDS


def test_slack_down_at_intake_leaves_the_post_to_the_retry_queue() -> None:
    # GIVEN Slack is rate limiting
    gate = Csrgate()
    gate.channel.failure = RetryLater("Slack answered ratelimited to chat_postMessage")
    # WHEN a review arrives
    request_id = gate.submit()
    # THEN it is stored and the post is queued for the notifier, with the lease given back
    assert gate.record(request_id).state is State.AWAITING_REVIEW
    assert gate.slack_retries.jobs == [PostMessage(request_id, 2)]
    failed = gate.audit.events[-1]
    assert failed.event == "slack.post_failed"
    assert dict(failed.details) == {"attempt": 1, "reason": "Slack answered ratelimited to chat_postMessage"}
    assert gate.store.items[request_id].lease_until is None
    # WHEN Slack is back and the notifier retries
    gate.channel.failure = None
    gate.retry_posts()
    # THEN the approval request is posted
    assert gate.record(request_id).slack_message is not None
    assert gate.audit.names()[-1] == "csr.review_requested"


def test_the_notifier_raises_while_slack_stays_down_and_queues_nothing_itself() -> None:
    # GIVEN Slack refusing every post
    gate = Csrgate()
    gate.channel.failure = PermanentFailure("Slack refused chat_postMessage: channel_not_found")
    request_id = gate.submit()
    # WHEN the notifier retries, THEN it raises, so the queue delivers the job again
    with pytest.raises(PermanentFailure):
        gate.retry_posts()
    # AND it queues nothing itself; the attempt is recorded
    assert gate.slack_retries.jobs == [PostMessage(request_id, 2)]
    assert gate.audit.events[-1].details["attempt"] == 2


def test_the_notifier_has_nothing_to_do_for_a_request_with_its_message_or_none_at_all() -> None:
    # GIVEN a request whose message was posted
    gate = Csrgate()
    request_id = gate.submit()
    # WHEN the notifier gets a job for it, or for a request csrgate does not know, THEN nothing is posted
    assert gate.intake.post_message(request_id, 2) == gate.record(request_id)
    assert gate.intake.post_message("no-such-request", 2) is None
    assert len(gate.channel.posts) == 1


def test_the_notifier_abandons_a_post_for_a_cluster_no_longer_configured() -> None:
    # GIVEN a post waiting for Slack, and its cluster removed from the configuration
    gate = Csrgate()
    gate.channel.failure = RetryLater("down")
    request_id = gate.submit()
    gate.directory.clusters.clear()
    # WHEN the notifier retries, THEN it gives the post up, saying why
    assert gate.intake.post_message(request_id, 2) == gate.record(request_id)
    assert gate.audit.events[-1].event == "slack.post_abandoned"
    assert gate.audit.events[-1].details == {"reason": "the cluster is no longer configured"}


def test_a_review_nobody_could_see_fails_when_slack_never_came_back() -> None:
    # GIVEN a review whose approval request could never be posted
    gate = Csrgate()
    gate.channel.failure = RetryLater("down")
    request_id = gate.submit()
    # WHEN the notifier gives up
    gate.intake.give_up_message(request_id, "gave up after 5 attempts")
    # THEN the request fails, so the failure is alarmed, saying why
    record = gate.record(request_id)
    assert record.state is State.FAILED and record.outcome_note == "nobody could review it: gave up after 5 attempts"
    assert gate.audit.names()[-2:] == ["csr.failed", "slack.post_abandoned"]
    assert [dict(event.details) for event in gate.audit.events[-2:]] == [{"reason": "gave up after 5 attempts"}] * 2
    assert gate.store.event_names(request_id)[-1] == "slack.post_abandoned"


def test_giving_up_a_notice_keeps_the_policys_decision() -> None:
    # GIVEN a policy's notice that could never be posted
    gate = Csrgate()
    gate.channel.failure = RetryLater("down")
    request_id = gate.submit_serving()
    # WHEN the notifier gives up
    gate.intake.give_up_message(request_id, "gave up")
    # THEN the decision stands; only the post is abandoned
    assert gate.record(request_id).state is State.AUTO_APPROVED
    assert gate.audit.names()[-1] == "slack.post_abandoned"


def test_giving_up_a_message_that_was_posted_or_a_request_unknown_does_nothing() -> None:
    # GIVEN a review whose message was posted
    gate = Csrgate()
    request_id = gate.submit()
    # WHEN a late give-up arrives for it, or for a request csrgate does not know
    gate.intake.give_up_message(request_id, "gave up")
    gate.intake.give_up_message("no-such-request", "gave up")
    # THEN nothing changes
    assert gate.record(request_id).state is State.AWAITING_REVIEW
    assert "slack.post_abandoned" not in gate.audit.names()


def test_a_second_delivery_does_not_post_while_the_first_holds_the_lease() -> None:
    # GIVEN a poster that took the lease and crashed before posting
    # GIVEN a poster that took the lease and stopped before posting
    gate = Csrgate()
    gate.channel.failure = RetryLater("down")
    request_id = gate.submit()
    gate.channel.failure = None
    assert gate.store.claim_message(request_id, gate.clock(), MESSAGE_LEASE_SECONDS)
    # WHEN the event comes again within the lease, nobody posts; once it lapsed, the next delivery posts
    # WHEN the event comes again within the lease, THEN nobody posts
    gate.clock.advance(seconds=MESSAGE_LEASE_SECONDS)
    gate.forward("dana", EventType.ADDED)
    assert gate.channel.posts == []
    # WHEN it comes again once the lease lapsed, THEN the message is posted
    gate.clock.advance(seconds=1)
    gate.forward("dana", EventType.ADDED)
    assert len(gate.channel.posts) == 1


def test_a_decision_that_could_not_be_queued_is_queued_by_the_next_event() -> None:
    # GIVEN the decision queue refusing the policy's approval of node-1's request
    gate = Csrgate()
    gate.decisions.failure = RetryLater("SQS is unreachable")
    # WHEN intake receives it, THEN it raises, so the forwarder sends it again
    with pytest.raises(RetryLater):
        gate.submit_serving()
    # AND the decision is stored, marked as not yet queued, and told nowhere yet
    request_id = gate.request_id("node-1-serving")
    assert gate.store.pending_mark(request_id) == "UNQUEUED" and gate.slack_retries.jobs == []
    # WHEN the event comes again with the queue back
    gate.decisions.failure = None
    gate.forward("node-1-serving", EventType.ADDED)
    # THEN the decision is queued and told in the lab's digest
    assert gate.decisions.jobs == [ApplyDecision(request_id)]
    assert gate.digest().headline.startswith("1 certificate request approved and 0 denied by policy on lab")


def test_a_review_posted_after_the_cluster_decided_it_shows_where_the_request_is() -> None:
    # GIVEN dana's request is approved with kubectl while intake is still saving its approval request
    gate = Csrgate()

    def approved_meanwhile() -> None:
        gate.cluster.approve_outside("dana")
        gate.forward("dana")

    gate.store.before("save_message", approved_meanwhile)
    # WHEN intake saves the message
    request_id = gate.submit()
    # THEN the message is redrawn at once with what happened: no buttons left to click
    record = gate.record(request_id)
    assert record.state is State.DECIDED_ELSEWHERE
    assert gate.channel.headline(record.slack_message).endswith("was decided in the cluster, outside csrgate")


def test_a_review_withdrawn_while_its_post_waits_for_slack_is_never_posted() -> None:
    # GIVEN a review whose post went to the retry queue, then its CSR was deleted
    gate = Csrgate()
    gate.channel.failure = RetryLater("down")
    request_id = gate.submit()
    gate.forward_deleted("dana", gate.cluster.event("dana"))
    # WHEN Slack is back and the notifier retries
    gate.channel.failure = None
    gate.retry_posts()
    # THEN nothing is posted for a request nobody can decide any more
    assert gate.channel.posts == [] and gate.record(request_id).state is State.WITHDRAWN


def test_slack_down_while_intake_redraws_keeps_what_happened_and_says_so() -> None:
    # GIVEN a review decided with kubectl, and Slack rate limiting
    gate = Csrgate()
    request_id = gate.submit()
    gate.cluster.approve_outside("dana")
    gate.channel.failure = RetryLater("Slack answered ratelimited to chat_update")
    # WHEN the forwarder reports the change
    gate.forward("dana")
    # THEN the request is decided elsewhere all the same, and the failed redraw recorded
    assert gate.record(request_id).state is State.DECIDED_ELSEWHERE
    failed = gate.audit.events[-1]
    assert (failed.event, failed.actor, dict(failed.details)) == (
        "slack.update_failed",
        "csrgate",
        {"reason": "Slack answered ratelimited to chat_update"},
    )
    assert gate.store.event_names(request_id)[-1] == "slack.update_failed"
