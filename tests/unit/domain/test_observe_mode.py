"""A cluster csrgate only observes (`mode: observe`): every CSR judged as ever and told in the digest as what csrgate
would have done, none decided in the cluster, none offered to click, and what the team's own approver did recorded
beside what csrgate would have done."""

from __future__ import annotations

import pytest
from memory import Csrgate, client_csr, cluster_config

from csrgate.domain.cluster import ClusterConfigError, read_cluster
from csrgate.domain.lifecycle import State
from csrgate.domain.outcome import Outcome


def observing() -> Csrgate:
    gate = Csrgate()
    gate.reconfigure(mode="observe")
    return gate


def facts(gate: Csrgate) -> dict[str, str]:
    return {fact.label: fact.value for fact in gate.digest().facts}


def test_an_observed_cluster_is_told_what_csrgate_would_do_and_nothing_is_decided() -> None:
    gate = observing()
    # WHEN a kubelet, a person and someone asking for system:masters make CSRs
    serving = gate.submit_serving()
    review = gate.submit()
    masters = gate.submit(client_csr("root", orgs=["system:masters"]), name="root")
    gate.work()
    # THEN each is judged and recorded as observed, nothing is queued for the worker, nothing is in the cluster
    for request_id, would in ((serving, Outcome.APPROVE), (review, Outcome.REVIEW), (masters, Outcome.DENY)):
        record = gate.record(request_id)
        assert (record.state, record.outcome, record.decision_queued) == (State.OBSERVED, would, False)
    assert gate.decisions.jobs == []
    assert [gate.cluster.condition(name) for name in ("node-1-serving", "dana", "root")] == [None, None, None]
    # AND the channel gets no approval request, only the digest of what csrgate would have done
    assert gate.channel.posts == []
    digest = gate.digest()
    assert digest.headline == (
        "csrgate would have approved 1, denied 1 and sent to review 1 of 3 certificate requests on lab between "
        "09:00 and 09:01 UTC (observe mode: it decided none)"
    )
    shown = facts(gate)
    assert shown["kubernetes.io/kubelet-serving (observed)"] == "would approve 1 for 1 node, deny 0, send to review 0"
    assert shown["Would deny root"].startswith("asked by dana: forbidden-group: ")
    assert shown["Would ask about dana"] == "asked by dana: would need 1 approval"
    # AND the audit trail says what csrgate would have done, request by request
    observed = [event for event in gate.audit.events if event.event == "csr.observed"]
    assert [event.details["would"] for event in observed] == ["approve", "review", "deny"]


def test_what_the_teams_own_approver_did_is_recorded_beside_what_csrgate_would_have_done() -> None:
    gate = observing()
    request_id = gate.submit(client_csr("root", orgs=["system:masters"]), name="root")
    # WHEN the approver the team runs today approves it
    gate.cluster.approve_outside("root")
    gate.forward("root")
    # THEN the request is decided elsewhere, and the event says csrgate would have denied it
    assert gate.record(request_id).state is State.DECIDED_ELSEWHERE
    [decided] = [event for event in gate.audit.events if event.event == "csr.decided_elsewhere"]
    assert (decided.details["outcome"], decided.details["csrgate_would"]) == ("approved", "deny")


def test_an_observed_request_is_never_expired_nor_denied_by_the_sweeper() -> None:
    gate = observing()
    gate.reconfigure(mode="observe", denyExpired=True)
    request_id = gate.submit()
    gate.clock.advance(hours=30)
    gate.sweeper.sweep()
    gate.work()
    assert gate.record(request_id).state is State.OBSERVED and gate.cluster.condition("dana") is None


def test_a_click_for_an_observed_request_is_refused() -> None:
    gate = observing()
    request_id = gate.submit()
    result = gate.approvals.click(request_id, Outcome.APPROVE, "U0ALICE", None)
    assert result.text == "This request is observed."
    assert gate.record(request_id).approvals == () and gate.decisions.jobs == []


def test_switching_to_enforce_mid_minute_tells_both_in_the_one_message() -> None:
    gate = observing()
    gate.submit_serving("a")
    gate.reconfigure()  # enforce
    gate.submit_serving("b")
    assert gate.digest().headline == (
        "1 certificate request approved and 0 denied by policy on lab between 09:00 and 09:01 UTC; csrgate would "
        "have approved 1, denied 0 and sent to review 0 of 1 certificate request on lab between 09:00 and 09:01 UTC "
        "(observe mode: it decided none)"
    )


def test_mode_is_enforce_unless_set_and_nothing_else_is_taken() -> None:
    assert not cluster_config().observing
    assert cluster_config(mode="observe").observing
    with pytest.raises(ClusterConfigError, match="mode: Input should be 'enforce' or 'observe'"):
        read_cluster(cluster_config().model_dump_json(by_alias=True).replace('"enforce"', '"watch"'), "lab")
