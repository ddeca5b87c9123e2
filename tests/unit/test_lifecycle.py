"""The request life cycle: every allowed step, and the steps that must never happen."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools import Logger

from csrgate.adapters.inbound.jobs import JobConsumer, JobHandler
from csrgate.domain.jobs import ApplyDecision
from csrgate.domain.lifecycle import (
    TRANSITIONS,
    InvalidTransition,
    State,
    can_transition,
    ensure_transition,
    state_after_verdict,
)
from csrgate.domain.outcome import Outcome
from csrgate.domain.worker import DecisionWorker


def test_every_state_has_its_transitions_listed() -> None:
    assert set(TRANSITIONS) == set(State)


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (Outcome.IGNORE, State.IGNORED),
        (Outcome.DENY, State.DENIED_BY_POLICY),
        (Outcome.APPROVE, State.AUTO_APPROVED),
        (Outcome.REVIEW, State.AWAITING_REVIEW),
    ],
)
def test_a_verdict_decides_the_first_state(outcome: Outcome, state: State) -> None:
    assert state_after_verdict(outcome) is state


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (State.AWAITING_REVIEW, State.APPROVED),
        (State.AWAITING_REVIEW, State.DENIED),
        (State.AWAITING_REVIEW, State.EXPIRED),
        (State.AWAITING_REVIEW, State.WITHDRAWN),
        (State.AWAITING_REVIEW, State.DECIDED_ELSEWHERE),
        (State.APPROVED, State.ISSUED),
        (State.AUTO_APPROVED, State.ISSUED),
        (State.ISSUED, State.DELIVERED),
        (State.ISSUED, State.FAILED),
        (State.APPROVED, State.FAILED),
        (State.DENIED_BY_POLICY, State.WITHDRAWN),
    ],
)
def test_allowed_steps(current: State, wanted: State) -> None:
    assert can_transition(current, wanted)
    ensure_transition(current, wanted)


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (State.DENIED, State.APPROVED),  # a denial is never turned into an approval
        (State.DENIED_BY_POLICY, State.APPROVED),
        (State.APPROVED, State.DENIED),
        (State.AWAITING_REVIEW, State.ISSUED),  # nothing is issued without a decision
        (State.IGNORED, State.AWAITING_REVIEW),
        (State.EXPIRED, State.APPROVED),
        (State.DELIVERED, State.ISSUED),
        (State.WITHDRAWN, State.AWAITING_REVIEW),
        (State.RECEIVED, State.APPROVED),
    ],
)
def test_forbidden_steps(current: State, wanted: State) -> None:
    assert not can_transition(current, wanted)
    with pytest.raises(InvalidTransition, match=f"{current.value} cannot become {wanted.value}"):
        ensure_transition(current, wanted)


def test_terminal_states_go_nowhere() -> None:
    terminal = {state for state in State if not TRANSITIONS[state]}
    assert terminal == {
        State.IGNORED,
        State.EXPIRED,
        State.WITHDRAWN,
        State.DECIDED_ELSEWHERE,
        State.DELIVERED,
        State.FAILED,
    }


def test_every_state_is_reachable_from_received() -> None:
    seen, frontier = {State.RECEIVED}, [State.RECEIVED]
    while frontier:
        for following in TRANSITIONS[frontier.pop()]:
            if following not in seen:
                seen.add(following)
                frontier.append(following)
    assert seen == set(State)


class _ForbiddenStep(DecisionWorker):
    """A worker whose every decision asks for a step the life cycle forbids."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def apply(self, request_id: str) -> None:  # type: ignore[override]
        raise InvalidTransition(State.EXPIRED, State.WITHDRAWN)

    def fail(self, request_id: str, reason: str) -> None:
        self.failed.append(reason)


def test_a_step_the_life_cycle_forbids_is_never_retried_by_the_decision_queue() -> None:
    # GIVEN a decision whose handling asks for a step the life cycle forbids
    worker = _ForbiddenStep()
    handler = JobHandler(lambda job: worker.apply(job.request_id), worker.fail, "the decision cannot be applied")
    consumer = JobConsumer({ApplyDecision: handler}, Logger(service="csrgate-test"), max_receives=5)
    body = json.dumps({"kind": "apply_decision", "request_id": "r-1"})
    # WHEN the queue delivers it, the first time of five
    consumer.handle(body, receive_count=1)
    # THEN it is done with at once, as a permanent failure: no retry, no dead letter; the request fails where it can
    assert worker.failed == ["the decision cannot be applied: a request that is expired cannot become withdrawn"]
