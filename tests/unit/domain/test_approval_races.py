"""Clicks that race each other, or the sweeper, between an approval being stored and the decision being taken: the
clicker who came second is told what happened, never shown an error, and the decision is taken once."""

from __future__ import annotations

from memory import Csrgate

from csrgate.domain.approvals import ClickAnswer
from csrgate.domain.jobs import ApplyDecision
from csrgate.domain.lifecycle import State
from csrgate.domain.outcome import Outcome


def test_a_decision_taken_between_an_approval_and_its_count_is_told_not_raised() -> None:
    # GIVEN bob's whole click lands after alice's approval is stored and before her click reads the request again
    gate = Csrgate()
    request_id = gate.submit()
    gate.store.before("add_approval", lambda: gate.store.before("get", lambda: gate.click(request_id, "U0BOB")))
    # WHEN alice approves
    result = gate.click(request_id, "U0ALICE")
    # THEN she is told bob's approval decided it; it is queued for the worker once
    assert result.answer is ClickAnswer.STALE and result.text.startswith("Already approved by")
    assert gate.record(request_id).state is State.APPROVED
    assert gate.decisions.jobs == [ApplyDecision(request_id)]


def test_a_denial_between_an_approval_and_its_count_is_told_as_a_denial() -> None:
    # GIVEN bob denies the request after alice's approval is stored and before her click reads it again
    gate = Csrgate()
    request_id = gate.submit()
    gate.store.before(
        "add_approval", lambda: gate.store.before("get", lambda: gate.deny(request_id, "U0BOB", "wrong team"))
    )
    # WHEN alice's click goes on
    result = gate.click(request_id, "U0ALICE")
    # THEN she learns it was denied, and the denial stands
    assert (result.answer, result.text) == (ClickAnswer.STALE, "Already denied by bob (U0BOB) just now.")
    assert gate.record(request_id).state is State.DENIED


def test_an_expiry_between_an_approval_and_its_count_is_told_as_an_expiry() -> None:
    # GIVEN the sweeper expires the request after alice's approval is stored and before her click reads it again
    gate = Csrgate()
    request_id = gate.submit()

    def expire() -> None:
        gate.clock.advance(hours=13)
        gate.sweeper.sweep()

    gate.store.before("add_approval", lambda: gate.store.before("get", expire))
    # WHEN alice's click goes on
    result = gate.click(request_id, "U0ALICE")
    # THEN she is told it expired
    assert (result.answer, result.text) == (ClickAnswer.STALE, "This request expired before anyone decided.")
    assert gate.record(request_id).state is State.EXPIRED


def test_a_click_between_the_message_being_posted_and_saved_is_asked_to_come_again() -> None:
    # GIVEN alice clicks the approval request the moment Slack shows it, before csrgate saved which message it is
    gate = Csrgate()
    answers = []

    def click_now() -> None:
        message = list(gate.channel.shown)[-1]  # the message Slack shows
        answers.append(gate.approvals.click(gate.request_id(), Outcome.APPROVE, "U0ALICE", message))

    gate.store.before("save_message", click_now)
    request_id = gate.submit()
    # THEN she is told to click again, nothing is recorded or refused, and her next click counts
    [early] = answers
    assert early.answer is ClickAnswer.STALE and "click again" in early.text
    assert gate.record(request_id).approvals == () and "slack.request_rejected" not in gate.store.event_names()
    assert gate.click(request_id, "U0ALICE").answer is ClickAnswer.DECIDED
