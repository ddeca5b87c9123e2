"""The worker applies a stored decision in the cluster: never overwriting, telling apart a CSR decided elsewhere,
deleted or replaced, and repeating nothing when a job comes twice."""

from __future__ import annotations

import pytest
from memory import KUBELET_SERVING, Csrgate, client_csr, codes, serving_csr

from csrgate.domain.conditions import APPROVED, DENIED, Condition
from csrgate.domain.errors import RetryLater
from csrgate.domain.jobs import ApplyDecision, CheckIssuance
from csrgate.domain.lifecycle import State
from csrgate.domain.outcome import Outcome


def approved_by_alice(gate: Csrgate) -> str:
    request_id = gate.submit()
    gate.click(request_id, "U0ALICE")
    return request_id


def test_an_approval_is_written_into_the_cluster_as_csrgates_and_followed_to_the_requester() -> None:
    # GIVEN alice approved dana's request
    gate = Csrgate()
    request_id = approved_by_alice(gate)
    # WHEN the worker takes the job
    gate.work()
    # THEN the CSR carries csrgate's Approved condition naming alice, and dana got her kubeconfig
    assert gate.cluster.condition("dana") == Condition(
        APPROVED, "True", "CsrgateApproved", "Approved by alice (U0ALICE) via csrgate: approved in Slack"
    )
    record = gate.record(request_id)
    assert record.state is State.DELIVERED and record.decision_applied and record.requester_told
    assert gate.audit.names(request_id)[-5:] == [
        "csr.decision_applied",
        "csr.issued",
        "csr.certificate_remembered",
        "csr.requester_told",
        "csr.delivered",
    ]
    applied = gate.audit.events[-5]
    assert (applied.actor, dict(applied.details)) == ("alice (U0ALICE)", {"decision": "approve"})
    assert gate.store.pending_mark(request_id) is None


def test_a_policy_denial_is_written_with_the_policys_reason_and_the_findings() -> None:
    # GIVEN dana's request for system:masters, denied by the policy
    gate = Csrgate()
    request_id = gate.submit(client_csr("dana", orgs=["system:masters"]))
    finding = gate.record(request_id).findings[0]
    # WHEN the worker takes the job
    gate.work()
    # THEN the CSR carries csrgate's policy denial with the finding, and the lab's digest lists it
    assert gate.cluster.condition("dana") == Condition(
        DENIED,
        "True",
        "CsrgatePolicyDenied",
        f"Denied by csrgate:policy via csrgate: forbidden-group: {finding.message}",
    )
    record = gate.record(request_id)
    assert record.state is State.DENIED_BY_POLICY and record.outcome_note == "denied in the cluster"
    assert gate.audit.events[-2].actor == "csrgate:policy"
    facts = {fact.label: fact.value for fact in gate.digest().facts}
    assert facts["Denied dana"] == f"asked by dana: forbidden-group: {finding.message}"


def test_a_persons_denial_is_written_with_their_reason_and_the_requester_told() -> None:
    # GIVEN bob denied dana's request with a reason
    gate = Csrgate()
    request_id = gate.submit()
    gate.deny(request_id, "U0BOB", "use the platform group")
    # WHEN the worker takes the job
    gate.work()
    # THEN the CSR carries bob's denial and reason, and dana is told by direct message
    assert gate.cluster.condition("dana") == Condition(
        DENIED, "True", "CsrgateDenied", "Denied by bob (U0BOB) via csrgate: use the platform group"
    )
    assert gate.requesters.told == [
        ("U0DANA", "Your certificate request dana on lab was denied by bob (U0BOB):\n- use the platform group")
    ]
    told = gate.audit.events[-1]
    assert (told.event, told.actor, dict(told.details)) == ("csr.requester_told", "csrgate", {"slack_user": "U0DANA"})
    assert gate.record(request_id).requester_told


def test_a_policy_denial_for_a_requester_slack_does_not_know_is_told_in_the_digest_alone() -> None:
    # GIVEN zoe, whom Slack does not know, was denied by the policy
    gate = Csrgate()
    request_id = gate.submit(client_csr("dana", orgs=["system:masters"]), username="zoe")
    # WHEN the worker takes the job
    gate.work()
    # THEN nobody is told in private, the miss is recorded, and the channel's digest lists the denial
    record = gate.record(request_id)
    assert gate.requesters.replies == [] and gate.requesters.looked_up == [("zoe@example.com",)]
    failed = gate.audit.events[-1]
    assert (failed.event, dict(failed.details)) == ("csr.delivery_failed", {"reason": "requester not found in Slack"})
    assert record.requester_told and record.state is State.DENIED_BY_POLICY
    facts = {fact.label: fact.value for fact in gate.digest().facts}
    assert facts["Denied dana"].startswith("asked by zoe: forbidden-group: ")


def test_a_job_delivered_twice_applies_and_delivers_once() -> None:
    # GIVEN an approval applied and delivered
    gate = Csrgate()
    request_id = approved_by_alice(gate)
    gate.work()
    events = list(gate.audit.events)
    # WHEN its jobs come again
    gate.worker.apply(request_id)
    gate.worker.check_issuance(request_id, 2)
    # THEN nothing is decided or delivered twice, nor logged again
    assert len(gate.cluster.decisions) == 1 and len(gate.requesters.delivered) == 1
    assert gate.audit.events == events


def test_a_decision_already_in_the_cluster_is_recorded_applied_without_a_second_condition() -> None:
    # GIVEN the worker wrote the approval, then stopped before recording it
    gate = Csrgate()
    request_id = approved_by_alice(gate)
    gate.cluster.decide("dana", gate.cluster.csrs_by_name["dana"].uid, Outcome.APPROVE, "alice (U0ALICE)", "approved")
    # WHEN the job comes again
    gate.work()
    # THEN csrgate's condition is found, not appended twice
    assert [c.type for c in gate.cluster.csrs_by_name["dana"].conditions] == [APPROVED]
    assert gate.record(request_id).state is State.DELIVERED


def test_a_csr_denied_with_kubectl_before_the_approval_is_applied_is_decided_elsewhere() -> None:
    # GIVEN alice's approval, and a kubectl denial before the worker applies it
    gate = Csrgate()
    request_id = approved_by_alice(gate)
    gate.cluster.deny_outside("dana")
    # WHEN the worker takes the job
    gate.work()
    # THEN the denial stands, csrgate appends nothing, and nothing is delivered
    record = gate.record(request_id)
    assert record.state is State.DECIDED_ELSEWHERE
    assert record.outcome_note == "Denied in the cluster first: KubectlDeny denied by kubectl"
    assert [c.type for c in gate.cluster.csrs_by_name["dana"].conditions] == [DENIED]
    assert gate.requesters.delivered == [] and gate.requesters.told == []


def test_a_csr_deleted_before_the_decision_is_applied_withdraws_the_request() -> None:
    # GIVEN alice's approval, and the CSR deleted before the worker applies it
    gate = Csrgate()
    request_id = approved_by_alice(gate)
    gate.cluster.delete("dana")
    # WHEN the worker takes the job
    gate.work()
    # THEN the request is withdrawn
    record = gate.record(request_id)
    assert (record.state, record.outcome_note) == (State.WITHDRAWN, "the CSR was deleted")
    withdrawn = gate.audit.events[-1]
    assert (withdrawn.event, withdrawn.actor) == ("csr.withdrawn", "csrgate:cluster")


def test_a_csr_recreated_under_the_same_name_is_not_decided() -> None:
    # GIVEN alice's approval, and the CSR recreated under its name asking for ops
    gate = Csrgate()
    request_id = approved_by_alice(gate)
    gate.cluster.recreate("dana", client_csr("dana", orgs=["ops"]))
    # WHEN the worker takes the job
    gate.work()
    # THEN the new CSR is left alone, and the request withdrawn, saying why
    record = gate.record(request_id)
    assert record.state is State.WITHDRAWN
    assert record.outcome_note == (
        "the CSR in the cluster is not the one reviewed (recreated, or not what the forwarder sent)"
    )
    assert gate.cluster.condition("dana") is None


def test_a_csr_whose_spec_is_not_the_one_reviewed_is_not_decided() -> None:
    # GIVEN the CSR in the cluster asks for another lifetime than the forwarder showed the approvers
    # GIVEN alice's approval, and the CSR in the cluster asking for another lifetime than the one reviewed
    gate = Csrgate()
    request_id = approved_by_alice(gate)
    gate.cluster.csrs_by_name["dana"].spec["expirationSeconds"] = 2592000
    # WHEN the worker takes the job
    gate.work()
    # THEN the CSR is left undecided
    assert gate.record(request_id).state is State.WITHDRAWN
    assert gate.cluster.condition("dana") is None


def test_a_node_asking_for_its_own_addresses_is_approved_after_its_node_is_read() -> None:
    # GIVEN node-1 asking for its own name and address
    gate = Csrgate()
    request_id = gate.submit_serving()
    # WHEN the worker takes the job
    gate.work()
    # THEN it read node-1's Node, then approved
    assert gate.cluster.node_reads == ["node-1"]
    assert gate.cluster.condition("node-1-serving").reason == "CsrgateApproved"
    assert gate.record(request_id).state is State.ISSUED


def test_a_node_asking_for_an_address_its_node_does_not_list_is_denied_by_policy() -> None:
    # GIVEN node-1's Node lists 10.0.0.5 only, and a CSR from node-1 asks for 10.0.0.9 too
    gate = Csrgate()
    request_id = gate.submit_serving(ips=("10.0.0.5", "10.0.0.9"))
    # WHEN the worker applies the automatic approval
    gate.work()
    # THEN it became a policy denial, written into the cluster and told in the digest instead of the approval
    record = gate.record(request_id)
    assert (record.state, record.outcome) == (State.DENIED_BY_POLICY, Outcome.DENY)
    assert codes(record) == ["san-not-allowed"]
    assert record.findings[-1].message == "the IP address 10.0.0.9 is not among node-1's addresses in its Node object"
    verdict = [e for e in gate.audit.events if e.event == "csr.policy_verdict"][-1]
    assert dict(verdict.details) == {
        "verdict": "deny",
        "finding_codes": ["san-not-allowed"],
        "privileged": False,
        "node": "node-1",
    }
    assert gate.cluster.condition("node-1-serving").reason == "CsrgatePolicyDenied"
    assert gate.store.transitions[-1] == (State.AUTO_APPROVED, State.DENIED_BY_POLICY)
    digest = gate.digest()
    assert digest.headline.startswith("0 certificate requests approved and 1 denied by policy on lab")
    denied = {fact.label: fact.value for fact in digest.facts}["Denied node-1-serving"]
    assert denied == f"asked by system:node:node-1: san-not-allowed: {record.findings[-1].message}"


def test_a_node_the_cluster_does_not_have_gets_nothing_approved() -> None:
    # GIVEN node-2, which the cluster has no Node for, asking for a serving certificate
    gate = Csrgate()
    request_id = gate.submit_serving("node-2-serving", node="node-2", dns=("node-2",))
    # WHEN the worker takes the job
    gate.work()
    # THEN the policy's approval becomes a denial, saying why
    record = gate.record(request_id)
    assert record.state is State.DENIED_BY_POLICY
    assert record.findings[0].message == "the DNS name node-2 cannot be checked: the cluster has no Node object node-2"


def test_a_node_binding_racing_the_csrs_deletion_leaves_the_withdrawal_standing() -> None:
    # GIVEN node-1 asking for an address its Node does not list, and its CSR deleted as the worker denies it
    gate = Csrgate()
    request_id = gate.submit_serving(ips=("10.0.0.9",))
    last_seen = gate.cluster.event("node-1-serving")
    gate.store.before("transition", lambda: gate.forward_deleted("node-1-serving", last_seen))
    # WHEN the worker takes the job
    gate.work()
    # THEN the withdrawal stands and nothing is written into the cluster
    assert gate.record(request_id).state is State.WITHDRAWN
    assert gate.cluster.decisions == []


def test_the_api_down_leaves_the_decision_to_the_next_delivery() -> None:
    # GIVEN alice's approval, and the cluster's API not answering
    gate = Csrgate()
    request_id = approved_by_alice(gate)
    gate.cluster.failure = RetryLater("reading CSR dana: the API server did not answer")
    [job] = [job for job in gate.decisions.take() if isinstance(job, ApplyDecision)]
    # WHEN the worker takes the job, THEN it raises for the queue to deliver it again
    with pytest.raises(RetryLater):
        gate.worker.apply(job.request_id)
    # AND nothing is recorded as applied
    assert not gate.record(request_id).decision_applied
    # WHEN the job comes again with the API back
    gate.cluster.failure = None
    gate.worker.apply(job.request_id)
    # THEN the approval is applied and delivered
    assert gate.record(request_id).state is State.DELIVERED


def test_another_look_at_a_decision_not_yet_applied_applies_it_first() -> None:
    # GIVEN alice's approval whose ApplyDecision job was lost
    gate = Csrgate()
    request_id = approved_by_alice(gate)
    gate.decisions.take()
    # WHEN a CheckIssuance job comes for it
    gate.worker.check_issuance(request_id, 3)
    # THEN the worker applies the approval before it follows the signer
    assert gate.cluster.condition("dana").reason == "CsrgateApproved"
    assert gate.record(request_id).state is State.DELIVERED


def test_jobs_for_requests_with_nothing_left_to_do_do_nothing() -> None:
    # GIVEN an ignored request
    gate = Csrgate()
    ignored = gate.submit(signer="example.com/custom")
    # WHEN jobs come for a request csrgate does not know, or for the ignored one, THEN nothing happens
    assert gate.worker.apply("no-such-request") is None
    assert gate.worker.check_issuance("no-such-request", 2) is None
    assert gate.worker.apply(ignored) == gate.record(ignored)
    assert gate.worker.check_issuance(ignored, 2) == gate.record(ignored)
    assert gate.cluster.decisions == [] and gate.decisions.jobs == []


def test_a_job_for_a_cluster_no_longer_configured_fails_its_request() -> None:
    # GIVEN alice's approval, and its cluster removed from the configuration
    gate = Csrgate()
    request_id = approved_by_alice(gate)
    gate.directory.clusters.clear()
    # WHEN the worker takes the job
    assert gate.worker.apply(request_id) is None
    # THEN the request fails, saying why
    record = gate.record(request_id)
    assert (record.state, record.outcome_note) == (State.FAILED, "cluster lab is no longer configured")
    failed = gate.audit.events[-1]
    assert (failed.event, failed.actor, dict(failed.details)) == (
        "csr.failed",
        "csrgate",
        {"reason": "cluster lab is no longer configured"},
    )
    assert gate.worker.check_issuance(request_id, 2) is None


def test_failing_a_request_that_is_over_or_unknown_does_nothing() -> None:
    # GIVEN a delivered request
    gate = Csrgate()
    request_id = approved_by_alice(gate)
    gate.work()
    # WHEN the queue gives up on a late job for it, or for a request csrgate does not know
    gate.worker.fail(request_id, "gave up")
    gate.worker.fail("no-such-request", "gave up")
    # THEN nothing changes
    assert gate.record(request_id).state is State.DELIVERED


def test_the_worker_queues_its_next_look_on_the_decision_queue() -> None:
    # GIVEN a signer that has not issued yet
    gate = Csrgate()
    gate.cluster.signs_on_approval = False
    request_id = approved_by_alice(gate)
    # WHEN the worker applies alice's approval
    gate.work()
    # THEN its next look is a job on the decision queue
    assert gate.decisions.jobs == [ApplyDecision(request_id), CheckIssuance(request_id, 2)]


def test_a_denial_for_several_reasons_gives_each_in_the_clusters_condition() -> None:
    # GIVEN a policy denial for two reasons
    gate = Csrgate()
    request_id = gate.submit(client_csr("dana", orgs=["system:masters"]), expiration_seconds=40 * 86400)
    first, second = gate.record(request_id).findings
    # WHEN the worker takes the job
    gate.work()
    # THEN the CSR's Denied condition gives both
    assert gate.cluster.condition("dana").message == (
        f"Denied by csrgate:policy via csrgate: forbidden-group: {first.message}; expiration-too-long: {second.message}"
    )


def test_a_serving_certificate_a_careless_policy_let_anyone_ask_for_is_still_bound_to_a_node() -> None:
    # GIVEN a policy letting any user ask for a kubelet's serving certificate, and dana asking for node-1's
    gate = Csrgate(policy="loose")
    request_id = gate.submit(
        serving_csr(),
        "node-1-serving",
        username="dana",
        signer=KUBELET_SERVING,
        usages=("digital signature", "server auth"),
        expiration_seconds=None,
    )
    assert gate.record(request_id).state is State.AUTO_APPROVED
    # WHEN the worker would apply the approval
    gate.work()
    # THEN dana is no node: nothing is read, nothing approved
    record = gate.record(request_id)
    assert record.state is State.DENIED_BY_POLICY and gate.cluster.node_reads == []
    assert record.findings[-1].message == (
        "the requester dana is not a node (system:node:<name>), so its SANs cannot be checked against a Node object"
    )


def test_slack_down_while_the_worker_redraws_changes_nothing_it_did() -> None:
    # GIVEN alice's approval, and Slack down
    gate = Csrgate()
    request_id = approved_by_alice(gate)
    gate.channel.failure = RetryLater("Slack is unreachable: URLError")
    # WHEN the worker applies and delivers it
    gate.work()
    # THEN the request is delivered all the same, and each failed redraw recorded
    assert gate.record(request_id).state is State.DELIVERED
    failed = [e for e in gate.audit.events if e.event == "slack.update_failed"]
    assert len(failed) == 3 and failed[0].actor == "csrgate"
    assert dict(failed[0].details) == {"reason": "Slack is unreachable: URLError"}


def test_a_nodes_own_certificate_is_left_to_the_node_with_no_slack_lookup_and_no_failure() -> None:
    # GIVEN two of node-1's serving CSRs: one the policy approves, one it denies (an address its Node does not list)
    gate = Csrgate()
    served = gate.submit_serving()
    denied = gate.submit_serving("node-1-other", ips=("10.0.0.9",))
    # WHEN the worker applies them and the signer issues the approved one
    gate.work()
    gate.work()
    # THEN neither is looked for in Slack nor counted a failed delivery: the kubelet reads its CSR
    assert gate.requesters.looked_up == [] and gate.requesters.replies == []
    for request_id in (served, denied):
        names = gate.audit.names(request_id)
        assert gate.record(request_id).requester_told and "csr.delivery_failed" not in names
        assert names.count("csr.requester_is_kubernetes") == 1
    assert gate.record(served).state is State.ISSUED
