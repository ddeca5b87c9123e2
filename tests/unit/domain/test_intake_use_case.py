"""Intake: a forwarded CSR event becomes a stored request, a queued decision and a Slack message, once."""

from __future__ import annotations

import pytest
from memory import CLIENT, START, Csrgate, client_csr, codes

from csrgate.domain.conditions import APPROVED, FAILED, Condition
from csrgate.domain.digests import FLUSH_DELAY_SECONDS, window_of
from csrgate.domain.intake import EventType
from csrgate.domain.jobs import ApplyDecision, PostDigest
from csrgate.domain.lifecycle import State
from csrgate.domain.messages import ReviewMessage
from csrgate.domain.outcome import Outcome
from csrgate.domain.ports import Conflict


def test_a_clean_client_request_waits_for_a_person_with_its_approval_request_posted() -> None:
    # GIVEN dana asks for a client certificate for herself
    gate = Csrgate()
    # WHEN the forwarder sends the new CSR
    gate.cluster.create_as(client_csr(), "dana")
    result = gate.forward("dana", EventType.ADDED)
    # THEN it awaits review, with Approve and Deny buttons in the cluster's channel, and no decision queued
    record = gate.record(result.request_id)
    assert (result.state, result.created) == (State.AWAITING_REVIEW, True)
    assert record.approvals_needed == 1 and record.privileged is False and record.outcome is Outcome.REVIEW
    assert record.csr_name == "dana" and record.csr_uid == gate.cluster.csrs_by_name["dana"].uid
    assert record.spec_fingerprint == gate.cluster.event("dana").spec_fingerprint
    assert gate.store.pending_mark(result.request_id) == "PENDING"
    [(channel, message)] = gate.channel.posts
    assert channel == "C0LAB" and isinstance(message, ReviewMessage)
    assert message.headline == "Certificate request dana on lab needs review"
    assert gate.decisions.jobs == [] and gate.slack_retries.jobs == [] and gate.channel.updates == []
    assert gate.audit.names() == ["csr.received", "csr.policy_verdict", "csr.review_requested"]
    assert gate.store.event_names(result.request_id) == gate.audit.names()
    received, verdict, posted = gate.audit.events
    assert received.actor == "csrgate:cluster"
    assert dict(received.details) == {"signer": CLIENT, "username": "dana"}
    assert verdict.actor == "csrgate:policy"
    assert dict(verdict.details) == {"verdict": "review", "finding_codes": [], "privileged": False}
    assert posted.actor == "csrgate"
    assert dict(posted.details) == {"channel": "C0LAB", "ts": record.slack_message.ts, "approvals_needed": 1}


def test_a_node_serving_request_is_approved_by_policy_and_queued_for_the_worker() -> None:
    # GIVEN node-1's kubelet asks for its serving certificate
    gate = Csrgate()
    # WHEN intake receives it
    request_id = gate.submit_serving()
    # THEN the policy approved it: the decision is queued once, and told in the lab's digest for this minute, which
    # the notifier draws a few seconds later
    record = gate.record(request_id)
    assert record.state is State.AUTO_APPROVED and record.decision_queued
    assert gate.decisions.jobs == [ApplyDecision(request_id)]
    assert gate.store.pending_mark(request_id) is None
    assert gate.channel.posts == [] and gate.slack_retries.jobs == [PostDigest("lab", window_of(START))]
    assert gate.slack_retries.delays == [FLUSH_DELAY_SECONDS]
    assert gate.audit.names() == ["csr.received", "csr.policy_verdict", "csr.decision_queued"]
    queued = gate.audit.events[2]
    assert (queued.actor, dict(queued.details)) == ("csrgate:policy", {"decision": "approve"})
    digest = gate.digest()
    assert digest.headline == "1 certificate request approved and 0 denied by policy on lab between 09:00 and 09:01 UTC"
    assert dict((fact.label, fact.value) for fact in digest.facts) == {
        "kubernetes.io/kubelet-serving": "1 approved for 1 node, 0 denied"
    }


def test_a_request_for_a_forbidden_group_is_denied_by_policy_and_the_denial_queued() -> None:
    gate = Csrgate()
    # WHEN dana asks for system:masters
    request_id = gate.submit(client_csr("dana", orgs=["system:masters"]))
    # THEN the policy denied it, and the worker will write the denial into the cluster
    record = gate.record(request_id)
    assert record.state is State.DENIED_BY_POLICY and codes(record) == ["forbidden-group"]
    assert gate.decisions.jobs == [ApplyDecision(request_id)]
    assert gate.audit.events[2].details["decision"] == "deny"
    # AND the digest lists the denial: which CSR, who asked, and why
    facts = {fact.label: fact.value for fact in gate.digest().facts}
    assert facts["Denied dana"].startswith("asked by dana: forbidden-group: ")


def test_a_request_whose_spec_request_cannot_be_read_is_denied_as_malformed() -> None:
    # GIVEN a CSR whose spec.request is not base64
    gate = Csrgate()
    gate.cluster.create_as(client_csr(), "dana")
    gate.cluster.csrs_by_name["dana"].spec["request"] = "not base64 at all!"
    # WHEN intake receives it
    request_id = gate.forward("dana", EventType.ADDED).request_id
    # THEN it is a request to deny, saying why, not an error
    record = gate.record(request_id)
    assert record.state is State.DENIED_BY_POLICY and codes(record) == ["malformed-request"]
    assert record.request.malformed == "spec.request is not base64"


def test_a_request_for_a_signer_csrgate_does_not_manage_is_recorded_and_left_alone() -> None:
    # GIVEN a CSR for a signer the policy does not name
    gate = Csrgate()
    # WHEN intake receives it
    request_id = gate.submit(signer="example.com/custom")
    # THEN it is recorded as ignored: no message, no decision
    assert gate.record(request_id).state is State.IGNORED
    assert gate.channel.posts == [] and gate.decisions.jobs == []
    assert gate.audit.names() == ["csr.received", "csr.policy_verdict"]


def test_the_same_event_twice_changes_nothing_the_second_time() -> None:
    # GIVEN a request intake has already stored and announced
    gate = Csrgate()
    request_id = gate.submit_serving()
    events = gate.store.event_names()
    # WHEN the forwarder sends the same CSR again (a resync, a re-sent batch)
    again = gate.forward("node-1-serving", EventType.ADDED)
    # THEN the request is found, not created: no second message, no second decision
    assert (again.request_id, again.state, again.created) == (request_id, State.AUTO_APPROVED, False)
    assert len(gate.slack_retries.jobs) == 1 and len(gate.decisions.jobs) == 1
    assert gate.store.event_names() == events


def test_two_intakes_creating_the_same_request_at_once_store_and_announce_it_once() -> None:
    gate = Csrgate()
    gate.cluster.create_as(client_csr(), "dana")
    # GIVEN another intake stores the request between this one's read and its write
    gate.store.before("create", lambda: gate.forward("dana", EventType.ADDED))
    # WHEN this one receives the same event
    result = gate.forward("dana", EventType.ADDED)
    # THEN it finds the other's request, and nobody posts twice
    assert (result.state, result.created) == (State.AWAITING_REVIEW, False)
    assert len(gate.channel.posts) == 1
    assert gate.audit.names().count("csr.received") == 1


def test_a_request_deleted_while_another_intake_created_it_is_a_conflict() -> None:
    # GIVEN another intake creates the request, and it is gone before this one reads it back
    gate = Csrgate()
    gate.cluster.create_as(client_csr(), "dana")

    def created_and_gone() -> None:
        gate.forward("dana", EventType.ADDED)
        gate.store.before("get", gate.store.items.clear)

    gate.store.before("create", created_and_gone)
    # WHEN this intake stores the same CSR, THEN it reports the conflict for the forwarder to retry
    with pytest.raises(Conflict, match="vanished while being created"):
        gate.forward("dana", EventType.ADDED)


def test_a_csr_already_decided_when_first_seen_is_recorded_as_decided_elsewhere() -> None:
    # GIVEN a CSR approved with kubectl before csrgate saw it
    gate = Csrgate()
    gate.cluster.create_as(client_csr(), "dana")
    gate.cluster.approve_outside("dana")
    # WHEN intake receives it
    result = gate.forward("dana", EventType.ADDED)
    # THEN it is decided elsewhere: nothing to post, nothing to apply
    assert result.state is State.DECIDED_ELSEWHERE
    assert gate.audit.names()[-1] == "csr.decided_elsewhere"
    assert gate.channel.posts == [] and gate.decisions.jobs == []


@pytest.mark.parametrize(
    ("decide", "note"),
    [
        ("approve_outside", "approved in the cluster outside csrgate: KubectlApprove approved by kubectl"),
        ("deny_outside", "denied in the cluster outside csrgate: KubectlDeny denied by kubectl"),
    ],
)
def test_a_review_decided_with_kubectl_is_decided_elsewhere_and_its_message_says_so(decide: str, note: str) -> None:
    # GIVEN a review, decided with kubectl
    gate = Csrgate()
    request_id = gate.submit()
    getattr(gate.cluster, decide)("dana")
    # WHEN the forwarder reports the change
    result = gate.forward("dana")
    # THEN the request says who decided, and so does its message
    record = gate.record(request_id)
    assert result.state is State.DECIDED_ELSEWHERE and record.outcome_note == note
    event = gate.audit.events[-1]
    assert (event.event, event.actor) == ("csr.decided_elsewhere", "csrgate:cluster")
    assert dict(event.details) == {"outcome": note.split()[0], "condition": note.split(": ", 1)[1]}
    assert gate.channel.headline(record.slack_message).endswith("was decided in the cluster, outside csrgate")


def test_a_condition_without_reason_or_message_still_reads_as_decided_elsewhere() -> None:
    # GIVEN a review approved by a condition with neither reason nor message
    gate = Csrgate()
    request_id = gate.submit()
    gate.cluster.csrs_by_name["dana"].conditions.append(Condition(APPROVED, "True"))
    # WHEN the forwarder reports it
    gate.forward("dana")
    # THEN the note says it was approved outside csrgate, without a reason to quote
    assert gate.record(request_id).outcome_note == "approved in the cluster outside csrgate"


def test_csrgates_reason_written_by_someone_else_is_not_csrgates_decision() -> None:
    # GIVEN a review nobody has decided in Slack
    gate = Csrgate()
    request_id = gate.submit()
    # WHEN someone approves it with kubectl under csrgate's own reason
    gate.cluster.approve_outside("dana", reason="CsrgateApproved", message="Approved by alice via csrgate")
    gate.forward("dana")
    # THEN it does not pass for an approval given through csrgate
    assert gate.record(request_id).state is State.DECIDED_ELSEWHERE


def test_csrgates_own_decision_seen_in_the_cluster_changes_nothing() -> None:
    # GIVEN a request approved in Slack, its approval applied by the worker, the signer not done yet
    gate = Csrgate()
    request_id = gate.submit()
    gate.cluster.signs_on_approval = False
    gate.click(request_id, "U0ALICE")
    gate.work()
    # WHEN the forwarder reports the CSR with csrgate's condition on it
    result = gate.forward("dana")
    # THEN the request stays approved, waiting for the signer
    assert result.state is State.APPROVED
    assert gate.record(request_id).outcome_note == "approved in the cluster; waiting for the signer"


def test_a_policy_denial_seen_in_the_cluster_is_csrgates_own() -> None:
    # GIVEN a policy denial the worker wrote into the cluster
    gate = Csrgate()
    request_id = gate.submit(client_csr("dana", orgs=["system:masters"]))
    gate.work()
    # WHEN the forwarder reports it, THEN it is csrgate's own decision, not one made elsewhere
    assert gate.forward("dana").state is State.DENIED_BY_POLICY
    assert gate.cluster.condition("dana").reason == "CsrgatePolicyDenied"
    assert gate.record(request_id).state is State.DENIED_BY_POLICY


def test_a_certificate_seen_before_the_worker_applied_the_approval_leaves_the_request_approved() -> None:
    # GIVEN an approval not yet applied by the worker, and a certificate already in the status
    gate = Csrgate()
    request_id = gate.submit()
    gate.click(request_id, "U0ALICE")
    gate.cluster.sign("dana")
    # WHEN the forwarder reports it
    result = gate.forward("dana")
    # THEN only an applied decision becomes issued: the worker still has to apply it
    assert result.state is State.APPROVED
    assert "csr.issued" not in gate.audit.names()


def test_a_certificate_seen_after_the_worker_applied_the_approval_makes_the_request_issued() -> None:
    # GIVEN an approval the worker applied, and the signer issuing afterwards
    gate = Csrgate()
    request_id = gate.submit()
    gate.cluster.signs_on_approval = False
    gate.click(request_id, "U0ALICE")
    gate.work()
    gate.cluster.sign("dana")
    # WHEN the forwarder reports the certificate
    result = gate.forward("dana")
    # THEN the request is issued, and its message says so
    record = gate.record(request_id)
    assert result.state is State.ISSUED and record.outcome_note == "certificate issued"
    assert (gate.audit.events[-1].event, gate.audit.events[-1].actor) == ("csr.issued", "csrgate:cluster")
    assert gate.channel.headline(record.slack_message).endswith("was approved and issued")


@pytest.mark.parametrize(("reason", "shown"), [("SignerValidationFailure", "SignerValidationFailure"), ("", "Failed")])
def test_a_signer_failing_an_approved_request_fails_it(reason: str, shown: str) -> None:
    # GIVEN an approved request the signer refuses (with or without a reason)
    gate = Csrgate()
    request_id = gate.submit()
    gate.cluster.signs_on_approval = False
    gate.click(request_id, "U0ALICE")
    gate.cluster.csrs_by_name["dana"].conditions.append(Condition(FAILED, "True", reason))
    # WHEN the forwarder reports the Failed condition
    result = gate.forward("dana")
    # THEN the request failed, saying why
    record = gate.record(request_id)
    assert result.state is State.FAILED and record.outcome_note == f"approved but not issued: {shown}"
    assert gate.audit.events[-1].event == "csr.signing_failed"
    assert gate.audit.events[-1].details == {"reason": shown}


def test_a_failed_condition_on_a_review_changes_nothing() -> None:
    # GIVEN a review with a Failed condition nobody asked for
    gate = Csrgate()
    request_id = gate.submit()
    gate.cluster.fail_signing("dana")
    # WHEN the forwarder reports it, THEN the review goes on untouched
    assert gate.forward("dana").state is State.AWAITING_REVIEW
    assert gate.record(request_id).version == 2


def test_a_deleted_csr_withdraws_its_request_and_its_message_says_so() -> None:
    # GIVEN a review whose CSR is deleted
    gate = Csrgate()
    request_id = gate.submit()
    last_seen = gate.cluster.event("dana")
    gate.cluster.delete("dana")
    # WHEN the forwarder reports the deletion
    result = gate.forward_deleted("dana", last_seen)
    # THEN the request is withdrawn, and its message says so
    record = gate.record(request_id)
    assert (result.request_id, result.state, result.created) == (request_id, State.WITHDRAWN, False)
    assert record.outcome_note == "the CSR was deleted in the cluster"
    assert gate.audit.events[-1].event == "csr.withdrawn"
    assert gate.channel.headline(record.slack_message).endswith("was withdrawn: the CSR was deleted")


def test_a_deleted_csr_csrgate_never_saw_is_nothing_to_do() -> None:
    # GIVEN a CSR csrgate never saw
    gate = Csrgate()
    gate.cluster.create_as(client_csr(), "dana")
    # WHEN its deletion is reported
    result = gate.forward_deleted("dana", gate.cluster.event("dana"))
    # THEN nothing is stored or logged
    assert (result.request_id, result.state, result.created) == (gate.request_id("dana"), None, False)
    assert gate.store.items == {} and gate.audit.events == []


def test_a_deleted_csr_whose_request_is_over_leaves_it_as_it_ended() -> None:
    # GIVEN an ignored request
    gate = Csrgate()
    request_id = gate.submit(signer="example.com/custom")
    # WHEN its CSR's deletion is reported, THEN the request stays as it ended
    assert gate.forward_deleted("dana", gate.cluster.event("dana")).state is State.IGNORED
    assert gate.record(request_id).state is State.IGNORED


def test_a_deletion_racing_a_decision_is_written_after_it() -> None:
    # GIVEN alice approves between intake's read of the request and its write
    gate = Csrgate()
    request_id = gate.submit()
    gate.store.before("transition", lambda: (gate.clock.advance(seconds=1), gate.click(request_id, "U0ALICE")))
    # WHEN the CSR's deletion arrives
    result = gate.forward_deleted("dana", gate.cluster.event("dana"))
    # THEN the request is read again: an approved request can still be withdrawn, and is, as of now
    assert result.state is State.WITHDRAWN
    assert gate.record(request_id).outcome_note == "the CSR was deleted in the cluster"
    assert gate.store.events[-1].event == "csr.withdrawn" and gate.store.events[-1].at == gate.clock()
    assert gate.store.transitions[-2:] == [(State.AWAITING_REVIEW, State.APPROVED), (State.APPROVED, State.WITHDRAWN)]


def test_a_deletion_racing_a_final_change_leaves_that_change_standing() -> None:
    # GIVEN a decision the worker could not apply (its message failed for good) while the CSR is deleted
    # GIVEN the worker fails the request between intake's read and its write
    gate = Csrgate()
    request_id = gate.submit(client_csr("dana", orgs=["system:masters"]))
    gate.store.before("transition", lambda: gate.worker.fail(request_id, "gave up"))
    # WHEN intake reads the request before the failure and writes after it: FAILED cannot become WITHDRAWN
    # WHEN the deletion arrives, THEN the failure stands: a failed request cannot be withdrawn
    assert gate.forward_deleted("dana", gate.cluster.event("dana")).state is State.FAILED


def test_a_client_certificate_on_eks_is_denied_where_eks_cannot_sign_it() -> None:
    # GIVEN an EKS cluster, whose API server does not sign kube-apiserver-client requests
    # GIVEN an EKS cluster, whose API server does not sign kube-apiserver-client requests
    gate = Csrgate(
        kind="eks",
        auth="iam",
        hmacSecretId=None,
        forwarderRoleArn="arn:aws:iam::123456789012:role/platform/csrgate-forwarder",
        connection={"eksClusterName": "prod", "region": "eu-west-1"},
    )
    # WHEN dana asks for a client certificate there
    request_id = gate.submit()
    # THEN the policy denies it, saying why
    assert codes(gate.record(request_id)) == ["signer-unsupported-on-eks"]
    assert gate.record(request_id).state is State.DENIED_BY_POLICY
    # AND the CSR's Denied condition tells its requester what to ask for instead
    gate.work()
    denied = gate.cluster.condition("dana")
    assert denied is not None and denied.reason == "CsrgatePolicyDenied"
    assert denied.message.endswith(
        "sign in with IAM through an EKS access entry instead, and ask for time-boxed access in Slack with "
        "/csrgate access"
    )
