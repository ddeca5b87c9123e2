"""Every step the state machine allows, taken through the use cases (intake, clicks, the worker, the sweeper) as it
happens in production; a step added to lifecycle.TRANSITIONS without a way here to take it fails this module."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from memory import Csrgate, client_csr

from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.intake import EventType
from csrgate.domain.lifecycle import (
    SETTLED,
    TO_APPLY,
    TRANSITIONS,
    InvalidTransition,
    State,
    can_transition,
    ensure_transition,
    state_after_verdict,
)
from csrgate.domain.outcome import Outcome

Scenario = Callable[[Csrgate], str]  # drives a fresh csrgate along one path; the request's id


def review(gate: Csrgate) -> str:
    return gate.submit()


def policy_denial(gate: Csrgate) -> str:
    return gate.submit(client_csr("dana", orgs=["system:masters"]))


def approval(gate: Csrgate) -> str:
    request_id = gate.submit()
    gate.click(request_id, "U0ALICE")
    return request_id


def denial(gate: Csrgate) -> str:
    request_id = gate.submit()
    gate.deny(request_id, "U0BOB", "wrong team")
    return request_id


def observed(gate: Csrgate) -> str:
    gate.reconfigure(mode="observe")
    return gate.submit()


def unsigned(start: Scenario) -> Scenario:
    def scenario(gate: Csrgate) -> str:
        gate.cluster.signs_on_approval = False
        request_id = start(gate)
        gate.work()
        return request_id

    return scenario


def then(start: Scenario, *steps: Callable[[Csrgate, str], object]) -> Scenario:
    def scenario(gate: Csrgate) -> str:
        request_id = start(gate)
        for step in steps:
            step(gate, request_id)
        return request_id

    return scenario


def work(gate: Csrgate, request_id: str) -> None:
    gate.work()


def deleted(gate: Csrgate, request_id: str) -> None:
    name = gate.record(request_id).csr_name
    last_seen = gate.cluster.event(name)
    gate.cluster.delete(name)
    gate.forward_deleted(name, last_seen)


def deleted_quietly(gate: Csrgate, request_id: str) -> None:
    gate.cluster.delete(gate.record(request_id).csr_name)  # the forwarder's DELETED event not there yet


def approved_with_kubectl(gate: Csrgate, request_id: str) -> None:
    gate.cluster.approve_outside(gate.record(request_id).csr_name)


def denied_with_kubectl(gate: Csrgate, request_id: str) -> None:
    gate.cluster.deny_outside(gate.record(request_id).csr_name)


def forwarded(gate: Csrgate, request_id: str) -> None:
    gate.forward(gate.record(request_id).csr_name)


def signing_failed(gate: Csrgate, request_id: str) -> None:
    gate.cluster.fail_signing(gate.record(request_id).csr_name)


def given_up(gate: Csrgate, request_id: str) -> None:
    gate.worker.fail(request_id, "gave up after 5 attempts")  # the queue consumer's last delivery failed


def slack_down(gate: Csrgate) -> None:
    gate.channel.failure = RetryLater("Slack is unreachable")


def decided_before_first_sight(gate: Csrgate) -> str:
    gate.cluster.create_as(client_csr(), "dana")
    gate.cluster.approve_outside("dana")
    return gate.forward("dana", EventType.ADDED).request_id


def review_nobody_saw(gate: Csrgate) -> str:
    slack_down(gate)
    request_id = gate.submit()
    gate.intake.give_up_message(request_id, "gave up after 5 attempts")
    return request_id


def expired(gate: Csrgate, request_id: str) -> None:
    gate.clock.advance(hours=12)
    gate.sweeper.sweep()


def node_binding_denied(gate: Csrgate) -> str:
    request_id = gate.submit_serving(ips=("10.0.0.9",))
    gate.work()
    return request_id


def cluster_down_for_good(gate: Csrgate, request_id: str) -> None:
    gate.cluster.failure = RetryLater("the API server did not answer")
    with pytest.raises(RetryLater):
        gate.work()
    given_up(gate, request_id)


def delivery_refused(gate: Csrgate, request_id: str) -> None:
    gate.requesters.failure = PermanentFailure("Slack refused files_upload_v2: not_allowed")
    with pytest.raises(PermanentFailure):
        gate.work()
    given_up(gate, request_id)


R, W = State.RECEIVED, State.AWAITING_REVIEW
PATHS: list[tuple[State, State, Scenario]] = [
    (R, State.IGNORED, lambda gate: gate.submit(signer="example.com/custom")),
    (R, State.DENIED_BY_POLICY, policy_denial),
    (R, State.AUTO_APPROVED, lambda gate: gate.submit_serving()),
    (R, W, review),
    (R, State.DECIDED_ELSEWHERE, decided_before_first_sight),
    (W, State.APPROVED, approval),
    (W, State.DENIED, denial),
    (W, State.EXPIRED, then(review, expired)),
    (W, State.WITHDRAWN, then(review, deleted)),
    (W, State.DECIDED_ELSEWHERE, then(review, approved_with_kubectl, forwarded)),
    (W, State.FAILED, review_nobody_saw),
    (State.AUTO_APPROVED, State.ISSUED, then(lambda gate: gate.submit_serving(), work)),
    (State.AUTO_APPROVED, State.WITHDRAWN, then(lambda gate: gate.submit_serving(), deleted)),
    (State.AUTO_APPROVED, State.DECIDED_ELSEWHERE, then(lambda gate: gate.submit_serving(), denied_with_kubectl, work)),
    (State.AUTO_APPROVED, State.FAILED, then(unsigned(lambda gate: gate.submit_serving()), signing_failed, forwarded)),
    (State.AUTO_APPROVED, State.DENIED_BY_POLICY, node_binding_denied),
    (State.APPROVED, State.ISSUED, then(unsigned(approval), lambda gate, _: gate.cluster.sign("dana"), forwarded)),
    (State.APPROVED, State.WITHDRAWN, then(approval, deleted_quietly, work)),
    (State.APPROVED, State.DECIDED_ELSEWHERE, then(approval, denied_with_kubectl, work)),
    (State.APPROVED, State.FAILED, then(unsigned(approval), signing_failed, work)),
    (State.DENIED_BY_POLICY, State.WITHDRAWN, then(policy_denial, deleted)),
    (State.DENIED_BY_POLICY, State.DECIDED_ELSEWHERE, then(policy_denial, approved_with_kubectl, work)),
    (State.DENIED_BY_POLICY, State.FAILED, then(policy_denial, cluster_down_for_good)),
    (State.DENIED, State.WITHDRAWN, then(denial, deleted_quietly, work)),
    (State.DENIED, State.DECIDED_ELSEWHERE, then(denial, approved_with_kubectl, forwarded)),
    (State.DENIED, State.FAILED, then(denial, cluster_down_for_good)),
    (State.ISSUED, State.DELIVERED, then(approval, work)),
    (State.ISSUED, State.FAILED, then(approval, delivery_refused)),
    (R, State.OBSERVED, observed),
    (State.OBSERVED, State.DECIDED_ELSEWHERE, then(observed, approved_with_kubectl, forwarded)),
    (State.OBSERVED, State.WITHDRAWN, then(observed, deleted)),
]


@pytest.mark.parametrize(
    ("before", "after", "scenario"), PATHS, ids=[f"{before.value}->{after.value}" for before, after, _ in PATHS]
)
def test_each_step_the_state_machine_allows_is_taken_by_a_use_case(
    before: State, after: State, scenario: Scenario
) -> None:
    # GIVEN csrgate on memory ports, WHEN a request goes down this path
    gate = Csrgate()
    request_id = scenario(gate)
    # THEN the store took the step, and the request ended where the step leads
    assert (before, after) in gate.store.transitions
    assert gate.record(request_id).state is after
    # AND every step taken on the way was one the state machine allows
    assert all(can_transition(start, end) for start, end in gate.store.transitions)


def test_every_transition_has_a_path_here_and_every_path_is_a_transition() -> None:
    allowed = {(before, after) for before, afters in TRANSITIONS.items() for after in afters}
    driven = [(before, after) for before, after, _ in PATHS]
    assert len(driven) == len(set(driven)), "a step is driven twice"
    assert set(driven) == allowed, (
        f"steps without a use-case path: {sorted(allowed - set(driven))}; "
        f"paths to steps the state machine forbids: {sorted(set(driven) - allowed)}"
    )


def test_every_state_has_its_transitions_written_down() -> None:
    assert set(TRANSITIONS) == set(State)


def test_a_final_state_never_changes_again() -> None:
    final = {state for state in State if not TRANSITIONS[state]}
    assert final == {
        State.IGNORED,
        State.EXPIRED,
        State.WITHDRAWN,
        State.DECIDED_ELSEWHERE,
        State.DELIVERED,
        State.FAILED,
    }
    assert not any(can_transition(state, other) for state in final for other in State)


def test_a_forbidden_step_is_refused_saying_which() -> None:
    with pytest.raises(InvalidTransition, match="^a request that is delivered cannot become approved$") as refused:
        ensure_transition(State.DELIVERED, State.APPROVED)
    assert (refused.value.current, refused.value.wanted) == (State.DELIVERED, State.APPROVED)
    ensure_transition(State.ISSUED, State.DELIVERED)


def test_the_verdict_decides_where_a_received_request_goes() -> None:
    assert {outcome: state_after_verdict(outcome) for outcome in Outcome} == {
        Outcome.IGNORE: State.IGNORED,
        Outcome.DENY: State.DENIED_BY_POLICY,
        Outcome.APPROVE: State.AUTO_APPROVED,
        Outcome.REVIEW: State.AWAITING_REVIEW,
    }


def test_the_store_refuses_a_step_the_state_machine_forbids() -> None:
    # GIVEN a delivered request
    gate = Csrgate()
    request_id = approval(gate)
    gate.work()
    record = gate.record(request_id)
    # WHEN the worker is told to fail it, nothing moves; the store itself refuses a forbidden step
    gate.worker.fail(request_id, "late")
    assert gate.record(request_id).state is State.DELIVERED
    event = gate.audit.events[-1]
    with pytest.raises(InvalidTransition):
        gate.store.transition(record, State.APPROVED, event)


def test_only_states_no_change_in_the_cluster_moves_are_settled_by_their_state() -> None:
    # a decision to apply is settled only once applied (RequestRecord.settled); the rest must reach intake
    assert set(State) - SETTLED == {State.RECEIVED, State.AWAITING_REVIEW, State.OBSERVED} | TO_APPLY


def test_a_policys_approval_is_settled_only_once_applied_so_a_kubectl_decision_before_reaches_the_trail() -> None:
    # GIVEN a kubelet's CSR the policy approves: intake's answer to its creation does not call it settled
    gate = Csrgate()
    request_id = gate.submit_serving()
    assert not gate.forward("node-1-serving", EventType.ADDED).settled
    # WHEN someone approves it with kubectl while the worker cannot reach the cluster, and the forwarder sends it
    gate.cluster.approve_outside("node-1-serving", message="approved by kubectl (on-call bob)")
    result = gate.forward("node-1-serving")
    # THEN intake records who decided, and only now is it settled
    assert result.state is State.DECIDED_ELSEWHERE and result.settled
    event = [event for event in gate.audit.events if event.request_id == request_id][-1]
    assert (event.event, event.details["condition"]) == (
        "csr.decided_elsewhere",
        "KubectlApprove approved by kubectl (on-call bob)",
    )


def test_csrgates_decision_applied_in_the_cluster_is_settled() -> None:
    gate = Csrgate()
    gate.submit_serving()
    gate.work()
    assert gate.forward("node-1-serving").settled


def test_the_worker_finding_a_kubectl_decision_tells_it_as_intake_does() -> None:
    # GIVEN a kubelet's CSR the policy approves, denied with kubectl before the worker applies the approval
    gate = Csrgate()
    request_id = gate.submit_serving()
    gate.cluster.deny_outside("node-1-serving")
    # WHEN the worker applies it, THEN it records who decided, with the same details intake would
    gate.work()
    event = next(e for e in gate.audit.events if e.request_id == request_id and e.event == "csr.decided_elsewhere")
    assert dict(event.details) == {"outcome": "denied", "condition": "KubectlDeny denied by kubectl"}
