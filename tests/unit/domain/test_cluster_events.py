"""The requester's view in the cluster: `kubectl describe csr NAME` lists, as Events on the CSR, that the request waits
for review in the cluster's channel, who approved or denied it, that it expired, and that the certificate was
delivered. Events are best effort: a cluster that refuses one changes nothing else, and writing one again is harmless.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from memory import Csrgate, client_csr

from csrgate.domain.cluster_events import MAX_MESSAGE_BYTES, decided, event_name
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.jobs import ApplyDecision, CheckIssuance, ShowInCluster, decode_job, encode_job
from csrgate.domain.lifecycle import State
from csrgate.domain.records import SlackUser
from csrgate.domain.sweeper import SweepResult

WAITING = ("Normal", "CsrgateReviewRequested", "waiting for review in Slack channel C0LAB: 1 approval needed")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def shown_waiting(gate: Csrgate, name: str = "dana") -> str:
    """dana's CSR forwarded and posted for review; the worker shows it waiting (the job intake queues for a review)."""
    request_id = gate.submit(name=name)
    assert gate.decisions.shows == [ShowInCluster(request_id)]
    gate.work()
    return request_id


def test_a_review_shows_waiting_in_the_channel_then_who_approved_then_the_delivery() -> None:
    # GIVEN dana's CSR waiting for review
    gate = Csrgate()
    request_id = shown_waiting(gate)
    # THEN describe shows it waiting in the lab's channel
    assert gate.cluster.kube_events.on("dana") == [WAITING]
    # WHEN alice approves it a minute later and the worker applies it
    gate.clock.advance(minutes=1)
    gate.click(request_id, "U0ALICE")
    gate.work()
    # THEN describe tells the rest: approved by alice in Slack, and the certificate delivered
    assert gate.record(request_id).state is State.DELIVERED
    assert gate.cluster.kube_events.on("dana") == [
        WAITING,
        ("Normal", "CsrgateApproved", "approved by alice (U0ALICE) in Slack"),
        ("Normal", "CsrgateDelivered", "certificate issued and delivered to the requester in a Slack direct message"),
    ]


def test_each_event_is_about_the_reviewed_csr_and_written_as_csrgate() -> None:
    # GIVEN dana's CSR shown waiting
    gate = Csrgate()
    request_id = shown_waiting(gate)
    # THEN the Event names the CSR by name and uid, and has an action and a name of its own
    [event] = gate.cluster.kube_events.by_name.values()
    record = gate.record(request_id)
    assert (event.csr_name, event.csr_uid, event.action, event.at) == ("dana", record.csr_uid, "Review", gate.clock())
    assert event.name == event_name(record, "CsrgateReviewRequested") and DNS_SUBDOMAIN.fullmatch(event.name)


def test_a_requests_events_are_named_in_the_order_of_its_facts() -> None:
    # GIVEN dana's CSR shown waiting, approved and delivered, all within the same second
    gate = Csrgate()
    request_id = shown_waiting(gate)
    gate.click(request_id, "U0ALICE")
    gate.work()
    # THEN their names sort as the facts came: the API server lists Events by name, and `kubectl describe` keeps
    # that order for Events of the same second
    written = list(gate.cluster.kube_events.by_name.values())
    assert [event.reason for event in written] == ["CsrgateReviewRequested", "CsrgateApproved", "CsrgateDelivered"]
    assert sorted(event.name for event in written) == [event.name for event in written]


def test_an_automatic_approval_is_shown_by_the_decisions_own_job_so_a_burst_queues_nothing_more() -> None:
    # GIVEN twenty kubelet serving CSRs from node-1, each approved by the policy
    gate = Csrgate()
    request_ids = [gate.submit_serving(f"node-1-serving-{n}") for n in range(20)]
    # THEN the decision queue holds one job per request, as before: nothing queued to show them
    assert gate.decisions.jobs == [ApplyDecision(request_id) for request_id in request_ids]
    # WHEN the worker applies them
    gate.work()
    # THEN each CSR shows its approval by policy, written as the decision was applied
    for n in range(20):
        assert gate.cluster.kube_events.on(f"node-1-serving-{n}")[0] == (
            "Normal",
            "CsrgateApproved",
            "approved by policy, without review",
        )
    assert not [job for job in gate.decisions.jobs if not isinstance(job, ApplyDecision | CheckIssuance)]


def test_a_policy_denial_shows_as_a_warning_with_the_finding() -> None:
    # GIVEN dana's CSR for system:masters, denied by the policy
    gate = Csrgate()
    request_id = gate.submit(client_csr("dana", orgs=["system:masters"]))
    finding = gate.record(request_id).findings[0]
    # WHEN the worker applies the denial
    gate.work()
    # THEN describe shows a Warning naming the finding, as the Denied condition does
    assert gate.cluster.kube_events.on("dana") == [
        ("Warning", "CsrgatePolicyDenied", f"denied by policy: forbidden-group: {finding.message}")
    ]


def test_a_persons_denial_shows_who_and_why() -> None:
    # GIVEN dana's CSR shown waiting, then denied by bob with a reason
    gate = Csrgate()
    request_id = shown_waiting(gate)
    gate.deny(request_id, "U0BOB", "use the platform group")
    # WHEN the worker applies it
    gate.work()
    # THEN describe shows the denial as a Warning, with bob's reason
    assert gate.cluster.kube_events.on("dana")[1:] == [
        ("Warning", "CsrgateDenied", "denied by bob (U0BOB) in Slack: use the platform group")
    ]


@pytest.mark.parametrize(
    "hostile",
    ["<!channel> urgent", "<https://evil.example|the docs> & more", "\x1b[2J\x1b]0;pwned\x07ok\r\nNormal Fake line"],
)
def test_outside_text_comes_out_inert_in_the_message(hostile: str) -> None:
    # GIVEN an approver whose Slack name carries mrkdwn or terminal control sequences, who denies with such a reason
    gate = Csrgate()
    gate.people.users["U0EVE"] = SlackUser("U0EVE", hostile, "eve@example.com")
    gate.reconfigure(approvers={"users": ["U0EVE"]})
    request_id = gate.submit()
    gate.deny(request_id, "U0EVE", hostile)
    # WHEN the worker applies the denial
    gate.work()
    # THEN the message has neither control characters (they would reach the reader's terminal) nor `<` or `>`
    # (a tool forwarding Events to Slack would make them mentions and links), and still says who and why
    [(_, _, message)] = gate.cluster.kube_events.on("dana")
    assert message.isprintable() and "<" not in message and ">" not in message
    assert message.startswith("denied by ") and "(U0EVE) in Slack: " in message
    if "<!channel>" in hostile:
        assert "&lt;!channel&gt; urgent" in message
    if "\x1b" in hostile:
        assert "\\x1b[2J\\x1b]0;pwned\\x07ok\\r\\nNormal Fake line" in message


def test_what_a_policy_denial_quotes_from_the_csr_comes_out_inert() -> None:
    # GIVEN a CSR whose user name and subject carry Slack's @here and a terminal escape, denied by the policy
    gate = Csrgate()
    hostile = "<!here> *dana*\x1b[31m"
    request_id = gate.submit(client_csr(hostile, orgs=["system:masters"]), username=hostile)
    assert gate.record(request_id).state is State.DENIED_BY_POLICY
    # WHEN the worker applies the denial
    gate.work()
    # THEN the Warning quotes the findings with nothing live left in them
    [(kind, reason, message)] = gate.cluster.kube_events.on("dana")
    assert (kind, reason) == ("Warning", "CsrgatePolicyDenied") and message.startswith("denied by policy: ")
    assert message.isprintable() and "<" not in message and ">" not in message
    assert "the CN '&lt;!here&gt; *dana*" in message


def test_a_hostile_csr_name_gives_a_valid_event_name_of_its_own() -> None:
    # GIVEN CSRs whose names hold what a DNS name may not (any path segment is a CSR name)
    gate = Csrgate()
    records = [gate.record(gate.submit(name=name)) for name in ("Team_A:dana", "x\x1b[2J", "-.-")]
    records.append(replace(records[0], request_id="r-long", csr_name="A" * 253))  # the longest name there is
    # THEN each Event name is a DNS subdomain Kubernetes accepts, distinct for each request and fact
    made = {
        event_name(record, reason) for record in records for reason in ("CsrgateReviewRequested", "CsrgateApproved")
    }
    assert len(made) == 2 * len(records)
    assert all(DNS_SUBDOMAIN.fullmatch(name) and len(name) <= 253 for name in made), made


def test_a_long_message_is_cut_to_what_the_api_server_takes() -> None:
    # GIVEN a denial whose reason is long and not ASCII
    gate = Csrgate()
    request_id = gate.submit()
    record = replace(gate.record(request_id), state=State.DENIED, decided_by="bob (U0BOB)", decision_reason="é" * 2000)
    # THEN its Event's message fits in 1024 bytes, marked as cut
    event = decided(record, gate.clock())
    assert event is not None and len(event.message.encode()) <= MAX_MESSAGE_BYTES and event.message.endswith("…")


def test_an_expiry_is_shown_as_a_warning_by_its_own_job_where_nothing_is_denied() -> None:
    # GIVEN a review left twelve hours in a cluster that forgets pending CSRs itself
    gate = Csrgate()
    request_id = shown_waiting(gate)
    gate.clock.advance(hours=12)
    # WHEN the sweeper expires it, THEN the only job it queues is the one that shows the expiry
    assert gate.sweeper.sweep() == SweepResult(expired=1)
    assert gate.decisions.take() == [ShowInCluster(request_id)]
    gate.worker.show(request_id)
    # AND describe shows it expired, with what to do
    assert gate.cluster.kube_events.on("dana") == [
        WAITING,
        (
            "Warning",
            "CsrgateExpired",
            "the review expired: nobody decided within the review window; ask again with a new CSR",
        ),
    ]


def test_an_expiry_csrgate_denies_is_shown_once_by_the_denials_job() -> None:
    # GIVEN a review left twelve hours in a cluster that denies expired CSRs
    gate = Csrgate(denyExpired=True)
    request_id = gate.submit()
    gate.clock.advance(hours=12)
    # WHEN the sweeper expires it, THEN only the denial is queued
    gate.sweeper.sweep()
    assert gate.decisions.jobs == [ApplyDecision(request_id)]
    # AND applying it shows the expiry and the denial, in one Event
    gate.work()
    assert gate.cluster.kube_events.on("dana") == [
        (
            "Warning",
            "CsrgateExpired",
            "the review expired: nobody decided within the review window; denied in the cluster; ask again with a new "
            "CSR",
        )
    ]


@pytest.mark.parametrize(
    "refusal",
    [
        PermanentFailure('events is forbidden: User "csrgate" cannot create resource "events"'),
        RetryLater("the cluster cannot be reached (ConnectTimeoutError)"),
    ],
)
def test_an_event_the_cluster_refuses_is_logged_and_the_decision_stands(refusal: Exception) -> None:
    # GIVEN a cluster that refuses Events (no RBAC for them, or down for them alone)
    gate = Csrgate()
    gate.cluster.kube_events.failure = refusal
    request_id = shown_waiting(gate)
    # WHEN alice approves and the worker applies it
    gate.click(request_id, "U0ALICE")
    gate.work()
    # THEN the approval is applied and the certificate delivered, once, as without Events
    record = gate.record(request_id)
    assert record.state is State.DELIVERED and record.decision_applied
    assert gate.audit.names(request_id).count("csr.delivered") == 1
    assert [job for job in gate.decisions.take() if not isinstance(job, CheckIssuance)] == []
    # AND each refused Event is in the log, with the cluster's reason
    failed = [event for event in gate.audit.events if event.event == "csr.cluster_event_failed"]
    assert [event.details["event_reason"] for event in failed] == [
        "CsrgateReviewRequested",
        "CsrgateApproved",
        "CsrgateDelivered",
    ]
    assert {event.details["reason"] for event in failed} == {str(refusal)}


def test_an_expiry_whose_job_cannot_be_queued_is_logged_and_still_expires() -> None:
    # GIVEN a review left twelve hours, and the queue unreachable
    gate = Csrgate()
    request_id = gate.submit()
    gate.clock.advance(hours=12)
    gate.decisions.failure = RetryLater("SQS is unreachable: EndpointConnectionError")
    # WHEN the sweeper runs, THEN the review expires all the same, and the Event that could not be asked for is logged
    assert gate.sweeper.sweep() == SweepResult(expired=1)
    assert gate.record(request_id).state is State.EXPIRED
    assert "csr.cluster_event_failed" in gate.audit.names(request_id)


def test_a_job_delivered_twice_writes_the_same_event_which_the_cluster_keeps_once() -> None:
    # GIVEN dana's CSR shown waiting
    gate = Csrgate()
    request_id = shown_waiting(gate)
    # WHEN SQS delivers the job again
    gate.decisions.enqueue(ShowInCluster(request_id))
    gate.work()
    # THEN the second write is of the same Event (the API server answers 409), so describe lists it once
    assert gate.cluster.kube_events.writes == 2
    assert gate.cluster.kube_events.on("dana") == [WAITING]


def test_a_review_decided_before_its_job_runs_is_not_shown_waiting() -> None:
    # GIVEN dana's CSR approved and applied before the job that would show it waiting ran
    gate = Csrgate()
    request_id = gate.submit()
    gate.click(request_id, "U0ALICE")
    gate.work()
    # WHEN that job runs late
    gate.decisions.enqueue(ShowInCluster(request_id))
    gate.work()
    # THEN describe does not say it waits: the approval's Event is the last word
    assert [reason for _, reason, _ in gate.cluster.kube_events.on("dana")] == ["CsrgateApproved", "CsrgateDelivered"]


def test_a_request_whose_cluster_is_gone_is_neither_shown_nor_failed() -> None:
    # GIVEN a review whose cluster was removed from the configuration
    gate = Csrgate()
    request_id = gate.submit()
    gate.directory.clusters.clear()
    # WHEN the job to show it runs
    gate.worker.show(request_id)
    # THEN nothing is written and the request is as it was
    assert gate.cluster.kube_events.writes == 0 and gate.record(request_id).state is State.AWAITING_REVIEW


def test_the_job_carries_the_request_alone_and_reads_back() -> None:
    body = encode_job(ShowInCluster("r-1"))
    assert body == '{"kind": "show_in_cluster", "request_id": "r-1"}'
    assert decode_job(body) == ShowInCluster("r-1")
    assert decode_job('{"kind": "show_in_cluster", "request_id": ""}') is None
    assert decode_job('{"kind": "show_in_cluster"}') is None
