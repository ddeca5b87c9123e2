"""Clicks that come too late or from the wrong place: the clicker is told what happened, and nothing changes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from memory import Csrgate, client_csr

from csrgate.domain.approvals import ClickAnswer
from csrgate.domain.lifecycle import State
from csrgate.domain.outcome import Outcome
from csrgate.domain.records import MessageRef


def approved(gate: Csrgate, request_id: str) -> None:
    gate.click(request_id, "U0ALICE")


def denied(gate: Csrgate, request_id: str) -> None:
    gate.deny(request_id, "U0BOB", "wrong team")


def issued(gate: Csrgate, request_id: str) -> None:
    gate.requesters.by_email.clear()  # dana cannot be found: the certificate stays issued
    gate.click(request_id, "U0ALICE")
    gate.work()


def delivered(gate: Csrgate, request_id: str) -> None:
    gate.click(request_id, "U0ALICE")
    gate.work()


def withdrawn(gate: Csrgate, request_id: str) -> None:
    gate.forward_deleted("dana", gate.cluster.event("dana"))


def expired(gate: Csrgate, request_id: str) -> None:
    gate.clock.advance(hours=12)
    gate.sweeper.sweep()


def decided_elsewhere(gate: Csrgate, request_id: str) -> None:
    gate.cluster.approve_outside("dana")
    gate.forward("dana")


def failed(gate: Csrgate, request_id: str) -> None:
    gate.worker.fail(request_id, "gave up")


@pytest.mark.parametrize(
    ("move_on", "state", "text"),
    [
        (approved, State.APPROVED, "Already approved by alice (U0ALICE) just now."),
        (denied, State.DENIED, "Already denied by bob (U0BOB) just now."),
        (issued, State.ISSUED, "Already approved by alice (U0ALICE) just now; the certificate is issued."),
        (delivered, State.DELIVERED, "Already approved by alice (U0ALICE) just now; the certificate was delivered."),
        (withdrawn, State.WITHDRAWN, "This CSR was deleted in the cluster."),
        (expired, State.EXPIRED, "This request expired before anyone decided."),
        (decided_elsewhere, State.DECIDED_ELSEWHERE, "This CSR was decided in the cluster, outside csrgate."),
        (failed, State.FAILED, "This request failed; see the message for why."),
    ],
)
def test_a_click_on_a_request_that_moved_on_tells_what_happened(
    move_on: Callable[[Csrgate, str], None], state: State, text: str
) -> None:
    # GIVEN dana's request has moved on
    gate = Csrgate()
    request_id = gate.submit()
    move_on(gate, request_id)
    before = gate.record(request_id)
    events = len(gate.audit.events)
    # WHEN carol clicks Approve on the message she still sees
    result = gate.click(request_id, "U0CAROL")
    # THEN she is told what happened, and nothing changes
    assert (result.answer, result.text, result.record) == (ClickAnswer.STALE, text, before)
    assert before.state is state and gate.record(request_id) == before
    assert len(gate.audit.events) == events
    # AND a Deny click is answered the same way
    assert gate.click(request_id, "U0CAROL", Outcome.DENY).text == text


@pytest.mark.parametrize(
    ("later", "when"),
    [
        ({"seconds": 59}, "just now"),
        ({"seconds": 60}, "1 minute ago"),
        ({"minutes": 5}, "5 minutes ago"),
        ({"minutes": 119, "seconds": 59}, "119 minutes ago"),
        ({"minutes": 120}, "2 hours ago"),
        ({"hours": 5, "minutes": 59}, "5 hours ago"),
    ],
)
def test_a_late_clicker_is_told_how_long_ago_it_was_decided(later: dict[str, float], when: str) -> None:
    # GIVEN alice approved dana's request
    gate = Csrgate()
    request_id = gate.submit()
    gate.click(request_id, "U0ALICE")
    # WHEN bob clicks some time later
    gate.clock.advance(**later)
    # THEN he is told how long ago it was decided
    assert gate.click(request_id, "U0BOB").text == f"Already approved by alice (U0ALICE) {when}."


def test_a_click_on_a_policys_notice_says_what_the_policy_did() -> None:
    # GIVEN a policy denial and a policy approval
    gate = Csrgate()
    denied_id = gate.submit(client_csr("dana", orgs=["system:masters"]))
    approved_id = gate.submit_serving()
    # WHEN someone clicks Approve for them where no message is (a Home tab drawn before), THEN they are told what the
    # policy did
    assert gate.approvals.click(denied_id, Outcome.APPROVE, "U0ALICE", None).text == "This request is denied by policy."
    assert gate.approvals.click(approved_id, Outcome.APPROVE, "U0ALICE", None).text == "This request is auto approved."


def test_a_click_on_an_automatic_approval_since_issued_names_nobody() -> None:
    # GIVEN node-1's certificate, approved by the policy and issued
    gate = Csrgate()
    request_id = gate.submit_serving()
    gate.work()
    # WHEN alice clicks Approve for it, THEN she is told it is issued, naming no approver
    assert gate.approvals.click(request_id, Outcome.APPROVE, "U0ALICE", None).text == (
        "Already approved; the certificate is issued."
    )


def test_a_click_for_a_request_csrgate_does_not_know_is_refused_and_audited() -> None:
    # GIVEN no request at all
    gate = Csrgate()
    # WHEN alice clicks a button naming one
    result = gate.approvals.click("no-such-request", Outcome.APPROVE, "U0ALICE", MessageRef("C0LAB", "1.2"))
    # THEN she is refused, and the refusal is logged (there is no request to store it with)
    assert (result.answer, result.text, result.record) == (
        ClickAnswer.REFUSED,
        "csrgate knows no such request.",
        None,
    )
    [rejected] = gate.audit.events
    assert (rejected.event, rejected.request_id, rejected.cluster, rejected.actor) == (
        "slack.request_rejected",
        "",
        "",
        "U0ALICE",
    )
    assert gate.audit.lines == [
        {
            "event": "slack.request_rejected",
            "cluster": "",
            "csr_name": "",
            "csr_uid": "",
            "request_id": "",
            "actor": "U0ALICE",
            "slack_user": "U0ALICE",
            "slack_name": None,
            "reason": "unknown request",
        }
    ]
    assert rejected.at == gate.clock()
    assert gate.store.events == []


def test_a_button_from_another_message_is_refused() -> None:
    # GIVEN dana's review
    gate = Csrgate()
    request_id = gate.submit()
    # WHEN a click names another message
    result = gate.approvals.click(request_id, Outcome.APPROVE, "U0ALICE", MessageRef("C0LAB", "1.2"))
    # THEN it is refused, and the refusal stored with the request
    assert (result.answer, result.text) == (ClickAnswer.REFUSED, "This button is not on the request's message.")
    assert gate.record(request_id).approvals == ()
    rejected = gate.audit.events[-1]
    assert (rejected.actor, rejected.details["reason"]) == ("U0ALICE", "not the request's message")
    assert gate.store.event_names(request_id)[-1] == "slack.request_rejected"


def test_a_click_for_a_cluster_no_longer_configured_is_refused() -> None:
    # GIVEN dana's review, and its cluster removed from the configuration
    gate = Csrgate()
    request_id = gate.submit()
    gate.directory.clusters.clear()
    # WHEN alice denies it
    result = gate.deny(request_id, "U0ALICE", "no")
    # THEN she is refused, saying why, and nothing changes
    assert (result.answer, result.text) == (ClickAnswer.REFUSED, "Cluster lab is no longer configured in csrgate.")
    assert gate.audit.events[-1].details["reason"] == "cluster no longer configured"
    assert result.record == gate.record(request_id)
    assert gate.store.event_names(request_id)[-1] == "slack.request_rejected"
    assert gate.record(request_id).state is State.AWAITING_REVIEW
