"""After the decision: the worker follows the signer, delivers the certificate (a kubeconfig, or a PEM bundle), and
records what the cluster did when the state machine cannot follow it."""

from __future__ import annotations

import pytest
from memory import Csrgate, client_csr

from csrgate.domain.errors import RetryLater
from csrgate.domain.jobs import CheckIssuance, ShowInCluster
from csrgate.domain.lifecycle import State
from csrgate.domain.sweeper import EXPIRED_REASON
from devstack.csrs import make_csr


def approved_unsigned(gate: Csrgate, **spec: object) -> str:
    """dana's request approved by alice and applied, the signer not done yet."""
    gate.cluster.signs_on_approval = False
    request_id = gate.submit(**spec)
    gate.click(request_id, "U0ALICE")
    gate.work()
    return request_id


def test_a_certificate_issued_later_is_found_by_another_look_and_delivered_as_a_kubeconfig() -> None:
    # GIVEN an approval applied while the signer had not issued yet
    gate = Csrgate()
    request_id = approved_unsigned(gate)
    assert gate.decisions.jobs[-1] == CheckIssuance(request_id, 2) and gate.decisions.delays[-1] == 30
    assert gate.record(request_id).state is State.APPROVED
    # WHEN the signer issues 45 seconds later and the worker looks again
    gate.clock.advance(seconds=45)
    certificate = gate.cluster.sign("dana")
    gate.work()
    # THEN dana has a kubeconfig for her user with the certificate in it
    record = gate.record(request_id)
    assert record.state is State.DELIVERED
    assert record.outcome_note == "certificate delivered to the requester by direct message"
    [(user, delivery)] = gate.requesters.delivered
    assert (user, delivery.filename) == ("U0DANA", "lab-dana.kubeconfig")
    assert gate.cluster.server in delivery.content and "client-key: dana.key" in delivery.content
    assert delivery.comment.startswith(
        "Your certificate request dana on lab was approved by alice (U0ALICE). Here is your kubeconfig for user dana,"
    )
    assert certificate.startswith(b"-----BEGIN CERTIFICATE-----")
    issued, remembered, told, delivered = gate.audit.events[-4:]
    assert remembered.event == "csr.certificate_remembered"  # for its renewal, and to remind dana before it ends
    assert (issued.event, issued.actor, dict(issued.details)) == (
        "csr.issued",
        "csrgate:cluster",
        {"seconds_to_issue": 45},
    )
    assert (told.event, dict(told.details)) == ("csr.requester_told", {"slack_user": "U0DANA"})
    assert gate.cluster.waits == [10.0, 10.0]  # each look at the signer is short: no function held open
    assert (delivered.actor, dict(delivered.details)) == ("csrgate", {"slack_user": "U0DANA"})
    assert gate.channel.headline(record.slack_message).endswith("was approved, issued and delivered")


def test_a_serving_certificate_is_delivered_as_a_pem_bundle() -> None:
    # GIVEN dana's app-serving request, approved by alice
    gate = Csrgate()
    request_id = gate.submit(
        make_csr("web", dns=["web.team.svc"], key="p256"),
        "web",
        signer="beta.eks.amazonaws.com/app-serving",
        usages=["server auth"],
        expiration_seconds=None,
    )
    gate.click(request_id, "U0ALICE")
    # WHEN the worker follows it to the certificate
    gate.work()
    # THEN dana gets the certificate chain to install, not a kubeconfig
    [(_, delivery)] = gate.requesters.delivered
    assert delivery.filename == "lab-web.pem"
    assert delivery.content.startswith("-----BEGIN CERTIFICATE-----")
    assert delivery.comment == (
        "Your certificate request web on lab was approved by alice (U0ALICE). Here is the certificate chain (PEM) "
        "to serve with the private key you made the CSR from."
    )


def test_a_signer_refusing_an_approved_request_fails_it_with_the_signers_reason() -> None:
    # GIVEN an approval applied, and the signer refusing it
    gate = Csrgate()
    request_id = approved_unsigned(gate)
    gate.cluster.fail_signing("dana", "SignerValidationFailure", "bad usages")
    # WHEN the worker looks again
    gate.work()
    # THEN the request failed, with the signer's reason
    record = gate.record(request_id)
    assert (record.state, record.outcome_note) == (
        State.FAILED,
        "approved but not issued: SignerValidationFailure: bad usages",
    )
    failed = gate.audit.events[-1]
    assert (failed.event, failed.actor, dict(failed.details)) == (
        "csr.failed",
        "csrgate:cluster",
        {"reason": "SignerValidationFailure: bad usages"},
    )


def test_a_csr_denied_with_kubectl_after_csrgate_approved_it_is_decided_elsewhere() -> None:
    # GIVEN an approval applied, and the CSR then denied with kubectl
    gate = Csrgate()
    request_id = approved_unsigned(gate)
    gate.cluster.deny_outside("dana")
    # WHEN the worker looks again
    gate.work()
    # THEN the request was decided elsewhere
    record = gate.record(request_id)
    assert (record.state, record.outcome_note) == (
        State.DECIDED_ELSEWHERE,
        "denied in the cluster after csrgate approved it",
    )
    event = gate.audit.events[-1]
    assert (event.event, event.actor) == ("csr.decided_elsewhere", "csrgate:cluster")


@pytest.mark.parametrize("replaced", [False, True])
def test_a_csr_deleted_or_replaced_while_waiting_for_the_signer_withdraws_the_request(replaced: bool) -> None:
    # GIVEN an approval applied, then the CSR deleted or recreated under its name
    gate = Csrgate()
    request_id = approved_unsigned(gate)
    if replaced:
        gate.cluster.recreate("dana", client_csr())
    else:
        gate.cluster.delete("dana")
    # WHEN the worker looks again
    gate.work()
    # THEN the request is withdrawn
    record = gate.record(request_id)
    assert (record.state, record.outcome_note) == (State.WITHDRAWN, "the CSR was deleted")
    event = gate.audit.events[-1]
    assert (event.event, event.actor) == ("csr.withdrawn", "csrgate:cluster")


def test_a_signer_that_issues_nothing_for_fifteen_minutes_fails_the_request() -> None:
    # GIVEN an approval applied 14:59 ago, the signer still silent
    gate = Csrgate()
    request_id = approved_unsigned(gate)
    gate.clock.advance(minutes=14, seconds=59)
    gate.work()
    # THEN the worker looks once more later
    assert gate.decisions.jobs[-1] == CheckIssuance(request_id, 3)
    assert gate.record(request_id).state is State.APPROVED
    # WHEN fifteen minutes have passed
    gate.clock.advance(seconds=1)
    gate.work()
    # THEN it gives up, saying so
    note = "approved but not issued: the signer issued nothing within 15 minutes"
    record = gate.record(request_id)
    assert (record.state, record.outcome_note) == (State.FAILED, note)
    failed = gate.audit.events[-1]
    assert (failed.event, failed.actor, dict(failed.details)) == ("csr.failed", "csrgate", {"reason": note})
    assert len(gate.decisions.jobs) == 3


def test_an_automatic_approval_waits_for_the_signer_from_when_it_arrived() -> None:
    # GIVEN node-1's request approved by the policy, the signer silent for fifteen minutes since it arrived
    gate = Csrgate()
    gate.cluster.signs_on_approval = False
    request_id = gate.submit_serving()
    gate.clock.advance(minutes=15)
    # WHEN the worker looks
    gate.work()
    # THEN it gives up: a policy decision is timed from the request's arrival
    assert gate.record(request_id).state is State.FAILED


def test_an_issued_certificate_for_a_requester_slack_does_not_know_is_left_to_fetch() -> None:
    # GIVEN zoe, whom Slack does not know, was approved
    gate = Csrgate()
    request_id = gate.submit(client_csr("zoe"), "zoe", username="zoe")
    gate.click(request_id, "U0ALICE")
    gate.work()
    # THEN the thread says how to fetch the certificate, and the request stays issued
    [(_, text)] = gate.requesters.replies
    assert text == (
        "csrgate could not find the requester in Slack. the certificate is issued: fetch it with\n"
        "kubectl get csr zoe -o jsonpath='{.status.certificate}' | base64 -d > zoe.crt"
    )
    record = gate.record(request_id)
    assert record.state is State.ISSUED and record.requester_told
    assert record.outcome_note == "certificate issued"
    assert gate.audit.names()[-1] == "csr.delivery_failed"
    gate.worker.check_issuance(request_id, 2)
    assert len(gate.requesters.replies) == 1


def test_a_requester_not_found_for_a_request_without_a_message_is_only_recorded() -> None:
    # GIVEN zoe's denied request, whose message Slack never showed
    gate = Csrgate()
    gate.channel.failure = RetryLater("down")
    request_id = gate.submit(client_csr("zoe", orgs=["system:masters"]), "zoe", username="zoe")
    # WHEN the worker cannot find zoe
    gate.work()
    # THEN there is no thread to reply in: the miss is only recorded
    assert gate.requesters.replies == []
    assert gate.record(request_id).requester_told


def test_slack_down_while_delivering_leaves_the_certificate_issued_for_the_next_try() -> None:
    # GIVEN alice's approval, and Slack down when the certificate is ready
    gate = Csrgate()
    request_id = gate.submit()
    gate.click(request_id, "U0ALICE")
    gate.requesters.failure = RetryLater("Slack is unreachable: URLError")
    # WHEN the worker takes the job, THEN it raises for the queue to deliver it again
    with pytest.raises(RetryLater):
        gate.work()
    # AND the certificate is recorded issued, dana not yet served
    assert gate.record(request_id).state is State.ISSUED and not gate.record(request_id).requester_told
    # WHEN the worker looks again while Slack is still down, it tries to deliver again
    with pytest.raises(RetryLater):
        gate.worker.check_issuance(request_id, 2)
    # WHEN the job is delivered again and Slack is back
    gate.requesters.failure = None
    gate.worker.apply(request_id)
    # THEN dana is served, and the certificate was issued once
    assert gate.record(request_id).state is State.DELIVERED
    assert gate.audit.names(request_id).count("csr.issued") == 1


def expired_review(gate: Csrgate) -> str:
    request_id = gate.submit()
    gate.clock.advance(hours=12)
    gate.sweeper.sweep()
    return request_id


def test_an_expired_review_is_denied_in_a_cluster_that_denies_expired_csrs() -> None:
    # GIVEN an expired review in a cluster that denies expired CSRs
    gate = Csrgate(denyExpired=True)
    request_id = expired_review(gate)
    # WHEN the worker takes the job
    gate.work()
    # THEN the CSR is denied as expired, and nobody is told anything more
    condition = gate.cluster.condition("dana")
    assert (condition.reason, condition.message) == (
        "CsrgateExpired",
        f"Denied by csrgate:policy via csrgate: {EXPIRED_REASON}",
    )
    record = gate.record(request_id)
    assert (record.state, record.outcome_note) == (State.EXPIRED, f"{EXPIRED_REASON}; denied in the cluster")
    assert record.decision_applied and gate.requesters.told == []


def test_an_expired_review_is_left_alone_where_the_cluster_forgets_it() -> None:
    # GIVEN an expired review in a cluster that garbage-collects pending CSRs itself
    gate = Csrgate()
    request_id = expired_review(gate)
    # THEN no decision is queued (only the Event that shows the expiry on the CSR)
    assert gate.decisions.jobs == [] and gate.decisions.shows == [ShowInCluster(request_id)] * 2  # review, expiry
    # WHEN a job comes all the same, THEN nothing is written into the cluster
    gate.worker.apply(request_id)
    assert gate.cluster.decisions == []


@pytest.mark.parametrize(
    ("overtake", "name", "then"),
    [
        ("delete", "csr.withdrawn", "the CSR was deleted"),
        (
            "approve_outside",
            "csr.decided_elsewhere",
            "Approved in the cluster first: KubectlApprove approved by kubectl",
        ),
    ],
)
def test_an_expired_review_the_cluster_moved_on_from_is_kept_expired_with_what_happened(
    overtake: str, name: str, then: str
) -> None:
    # GIVEN an expired review to deny, and the cluster moving on before the worker gets to it
    gate = Csrgate(denyExpired=True)
    request_id = expired_review(gate)
    getattr(gate.cluster, overtake)("dana")
    # WHEN the worker takes the job
    gate.work()
    # THEN the request stays expired, says what happened, and is done with
    record = gate.record(request_id)
    assert record.state is State.EXPIRED and record.overtaken
    assert record.outcome_note == f"{EXPIRED_REASON}; then {then}"
    event = gate.audit.events[-1]
    assert (event.event, event.details["kept_state"]) == (name, "expired")
    assert gate.channel.facts(record.slack_message)["Status"] == record.outcome_note
    assert gate.store.pending_mark(request_id) is None
    decided = len(gate.cluster.decisions)
    assert gate.worker.apply(request_id) == record
    assert gate.worker.check_issuance(request_id, 2) == record
    assert len(gate.cluster.decisions) == decided


def test_a_move_racing_another_writer_leaves_the_other_change_standing() -> None:
    # GIVEN the signer refused an applied approval, and the CSR's deletion is recorded as the worker fails it
    gate = Csrgate()
    request_id = approved_unsigned(gate)
    gate.cluster.fail_signing("dana")
    gate.store.before("transition", lambda: gate.forward_deleted("dana", gate.cluster.event("dana")))
    # WHEN the worker looks again
    result = gate.worker.check_issuance(request_id, 2)
    # THEN the withdrawal stands
    assert result.state is State.WITHDRAWN and gate.record(request_id).state is State.WITHDRAWN
    assert "csr.failed" not in gate.audit.names()


def test_another_look_at_an_expired_review_to_deny_applies_the_denial_first() -> None:
    # GIVEN an expired review to deny whose ApplyDecision job was lost
    gate = Csrgate(denyExpired=True)
    request_id = expired_review(gate)
    gate.decisions.take()
    # WHEN a CheckIssuance job comes for it
    gate.worker.check_issuance(request_id, 2)
    # THEN the worker applies the denial
    assert gate.cluster.condition("dana").reason == "CsrgateExpired"
    assert gate.record(request_id).decision_applied


def test_a_certificate_issued_as_its_csr_was_deleted_is_still_delivered_and_both_are_said() -> None:
    # GIVEN the signer issued dana's certificate, and intake withdraws the request as the worker records the issue
    gate = Csrgate()
    request_id = approved_unsigned(gate)
    gate.cluster.sign("dana")
    last_seen = gate.cluster.event("dana")
    gate.store.before("transition", lambda: gate.forward_deleted("dana", last_seen))
    # WHEN the worker looks again
    gate.work()
    # THEN the certificate, valid whatever became of the CSR, reaches dana; the request stays withdrawn and says so
    record = gate.record(request_id)
    assert len(gate.requesters.delivered) == 1
    assert record.state is State.WITHDRAWN and record.overtaken
    assert record.outcome_note == (
        "the CSR was deleted in the cluster; then certificate delivered to the requester by direct message"
    )
    delivered = gate.audit.events[-1]
    assert (delivered.event, dict(delivered.details)) == (
        "csr.delivered",
        {"kept_state": "withdrawn", "slack_user": "U0DANA"},
    )
