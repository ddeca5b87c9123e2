"""Attacks on the digest of automatic decisions and on observe mode, by whoever may create CSRs (any name, subject,
SANs, annotation; the API server sets the user), send queue messages, click in Slack, or make Slack, SQS and DynamoDB
fail at the worst moment.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from memory import START, Csrgate, MemoryDigests, client_csr, serving_csr

from csrgate.domain.approvals import ClickAnswer
from csrgate.domain.asks import CertificateAsk
from csrgate.domain.digests import WINDOW_SECONDS, DigestEntry, window_of
from csrgate.domain.errors import RetryLater
from csrgate.domain.intake import EventType
from csrgate.domain.jobs import ApplyDecision, CheckIssuance, PostDigest, ShowInCluster, decode_job
from csrgate.domain.lifecycle import State
from csrgate.domain.messages import Notice
from csrgate.domain.nodes import NodeAddress
from csrgate.domain.outcome import Outcome
from csrgate.domain.records import MessageRef

LIFETIME = 10 * 86400  # a delivered certificate's: renewal by policy is offered from day eight
WAIT = 10  # seconds a racing thread may take to reach its step before the test gives up on it


def lines(notice: Notice) -> list[tuple[str, str]]:
    """The digest's labelled lines, in order (labels may repeat: a dict would hide a forged duplicate)."""
    return [(fact.label, fact.value) for fact in notice.facts]


def observing(**changes: object) -> Csrgate:
    gate = Csrgate()
    gate.reconfigure(mode="observe", **changes)
    return gate


def without_its_ip(gate: Csrgate, node: str = "node-1") -> None:
    """The node's Node object lists its host name only: the worker turns its serving CSR's approval into a denial."""
    gate.cluster.node_addresses[node] = (NodeAddress("Hostname", node),)


def conditions(gate: Csrgate) -> dict[str, object]:
    """Every CSR's deciding condition in the cluster, by name (None: undecided)."""
    return {name: gate.cluster.condition(name) for name in gate.cluster.csrs_by_name}


# --- what a CSR's text can do to the digest ---------------------------------------------------------------------

HOSTILE_NAMES = (
    "<!channel>",
    "<@U0ALICE>",
    "*approved*",
    "evil\nDenied forged: asked by alice: looks fine",
    "evil\u2028Also listed: nothing",
    "evil\u202e delivered",
    "admin\u200b",
)


def test_a_csr_name_or_user_forges_no_line_mention_or_formatting_in_the_digest() -> None:
    # GIVEN CSRs whose names and requesting users hold mentions, markup, line breaks and invisible characters, each
    # asking for system:masters (denied by policy, so each is listed)
    gate = Csrgate()
    for n, name in enumerate(HOSTILE_NAMES):
        gate.submit(client_csr(f"user-{n}", orgs=["system:masters"]), name=name, username=f"<!here> {name}")
    # WHEN the notifier draws the digest
    notice = gate.digest()
    # THEN the digest has exactly one line per denial and one for the signer, each on one line
    shown = lines(notice)
    assert len(shown) == 1 + len(HOSTILE_NAMES)
    assert sum(label.startswith("Denied ") for label, _ in shown) == len(HOSTILE_NAMES)
    for text in [notice.headline, *(part for line in shown for part in line)]:
        assert not any(char in text for char in "\n\r\u2028\u2029\u202e\u200b"), text
    # AND the headline says only what csrgate counted, nothing a requester wrote
    assert (
        notice.headline == "0 certificate requests approved and 7 denied by policy on lab between 09:00 and 09:01 UTC"
    )
    # AND a name is shown with what hides in it made visible
    labels = [label for label, _ in shown]
    assert "Denied evil\\nDenied forged: asked by alice: looks fine" in labels
    assert "Denied admin\\u200b" in labels


# --- counted once, lost never ---------------------------------------------------------------------------------------


def test_a_request_at_the_last_instant_of_a_minute_stays_in_that_minute_whoever_handles_it_later() -> None:
    # GIVEN a kubelet's CSR received at 09:00:59.999, whose Node object does not list its IP address
    gate = Csrgate()
    without_its_ip(gate)
    gate.clock.now = START + timedelta(seconds=WINDOW_SECONDS - 1, milliseconds=999)
    request_id = gate.submit_serving()
    # WHEN the worker denies it in the next minute, the forwarder reports the denial and then resyncs an hour later
    gate.clock.advance(seconds=1)
    gate.work()
    gate.forward("node-1-serving")
    gate.clock.advance(hours=1)
    gate.forward("node-1-serving", EventType.ADDED)
    # THEN it is one denial in the 09:00 digest, and no other minute has an entry or a message
    assert gate.record(request_id).state is State.DENIED_BY_POLICY
    assert gate.digest().headline.startswith(
        "0 certificate requests approved and 1 denied by policy on lab between 09:00"
    )
    assert list(gate.digest_store.entries) == [("lab", window_of(START))]
    assert len(gate.channel.posts) == 1


def test_duplicate_events_duplicate_jobs_and_a_resync_count_each_request_once() -> None:
    gate = Csrgate()
    first = gate.submit_serving("a", "node-1")
    second = gate.submit(client_csr("root", orgs=["system:masters"]), name="root")
    # WHEN every event comes twice, the decision queue delivers every job twice, and the forwarder resyncs
    gate.forward("a", EventType.ADDED)
    gate.forward("root", EventType.ADDED)
    jobs = gate.decisions.take()
    for job in jobs + jobs:
        gate.decisions.enqueue(job)
    gate.work()
    for _ in range(2):
        gate.forward("a")
        gate.forward("root")
    gate.clock.advance(minutes=30)
    gate.forward("a", EventType.ADDED)
    gate.forward("root", EventType.ADDED)
    # THEN one message, counting one approval and one denial
    notice = gate.digest()
    assert {gate.record(first).state, gate.record(second).state} == {State.ISSUED, State.DENIED_BY_POLICY}
    assert notice.headline.startswith("1 certificate request approved and 1 denied by policy")
    assert len(gate.channel.posts) == 1


def test_slack_failing_after_a_flush_took_the_ask_loses_no_entry() -> None:
    gate = Csrgate()
    gate.submit_serving("a", "node-1")
    [first] = gate.slack_retries.take()
    assert isinstance(first, PostDigest)
    # GIVEN a flush that took the ask and then found Slack down
    gate.channel.failure = RetryLater("Slack answered service_unavailable to chat_postMessage")
    with pytest.raises(RetryLater):
        gate.digests.flush(first.cluster, first.window)
    # AND another entry that arrived meanwhile, which asked for its own flush
    gate.cluster.node_addresses["node-2"] = (NodeAddress("InternalIP", "10.0.0.5"), NodeAddress("Hostname", "node-2"))
    gate.submit_serving("b", "node-2", dns=("node-2",))
    # WHEN Slack is back and the queue delivers both jobs (the failed one again)
    gate.channel.failure = None
    gate.slack_retries.enqueue(first)
    gate.retry_posts()
    # THEN one message shows both
    assert len(gate.channel.posts) == 1
    assert gate.digest().headline.startswith("2 certificate requests approved")


def test_a_node_denial_whose_flush_could_not_be_queued_is_drawn_once_the_forwarder_reports_it() -> None:
    # GIVEN a kubelet's serving CSR approved by policy, already drawn as an approval
    gate = Csrgate()
    without_its_ip(gate)
    gate.submit_serving()
    assert gate.digest().headline.startswith("1 certificate request approved and 0 denied")
    # WHEN the worker turns it into a denial while the Slack queue refuses the digest's flush
    gate.slack_retries.failure = RetryLater("SQS is unreachable")
    gate.work()
    gate.slack_retries.failure = None
    assert gate.cluster.condition("node-1-serving").type == "Denied"  # type: ignore[union-attr]
    # AND the forwarder reports the Denied condition
    gate.forward("node-1-serving")
    # THEN the digest is redrawn with the denial
    notice = gate.digest()
    assert notice.headline.startswith("0 certificate requests approved and 1 denied")
    assert dict(lines(notice))["Denied node-1-serving"].startswith("asked by system:node:node-1: san-not-allowed")


class FlakyDigests(MemoryDigests):
    """The digests' table throttling the write that remembers a posted message, `failures` times."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def save_message(self, cluster: str, window: int, message: MessageRef) -> None:
        if self.failures:
            self.failures -= 1
            raise RetryLater("DynamoDB answered ProvisionedThroughputExceededException to UpdateItem")
        super().save_message(cluster, window, message)


def test_a_digest_posted_but_not_remembered_is_not_posted_again() -> None:
    # GIVEN the table throttling the write of the digest's message once, after Slack took the post
    gate = Csrgate()
    gate.digest_store = FlakyDigests(failures=1)
    gate.submit_serving()
    [job] = gate.slack_retries.take()
    assert isinstance(job, PostDigest)
    # WHEN the notifier draws it, THEN the write is tried again at once, and the channel has one digest
    gate.digests.flush(job.cluster, job.window)
    # AND a later delivery of the job redraws that one, never posting a second counting the same request
    gate.digests.flush(job.cluster, job.window)
    assert len(gate.channel.posts) == 1 and len(gate.channel.updates) == 1


class RacingDigests(MemoryDigests):
    """Holds the worker's denial entry until intake's entry from its older reading is written."""

    def __init__(self) -> None:
        super().__init__()
        self.denying = threading.Event()  # the worker has stored its denial and is writing its entry
        self.intake_wrote = threading.Event()
        self.worker_done = threading.Event()
        self.racing = False

    def add(self, cluster: str, window: int, entry: DigestEntry) -> None:
        if not self.racing:
            super().add(cluster, window, entry)
        elif entry.outcome is Outcome.DENY:  # the worker's thread
            self.denying.set()
            assert self.intake_wrote.wait(WAIT), "intake never wrote its entry"
            super().add(cluster, window, entry)
        else:  # intake's
            super().add(cluster, window, entry)
            self.intake_wrote.set()
            assert self.worker_done.wait(WAIT), "the worker never finished"


def worker_denies_while_intake_queues(gate: Csrgate) -> str:
    """A kubelet's CSR the worker denies (its Node lacks the IP) between intake storing the approval and intake
    marking it queued, intake's entry written first: the request's id."""
    racing = RacingDigests()
    gate.digest_store = racing
    without_its_ip(gate)
    gate.cluster.create_as(
        serving_csr(),
        "node-1-serving",
        username="system:node:node-1",
        groups=("system:nodes", "system:authenticated"),
        signer="kubernetes.io/kubelet-serving",
        usages=("digital signature", "server auth"),
        expiration_seconds=None,
    )
    request_id = gate.request_id("node-1-serving")

    def work() -> None:
        try:
            gate.worker.apply(request_id)
        finally:
            racing.worker_done.set()

    def worker_runs_now() -> None:  # the ApplyDecision is queued; intake has not yet marked it so
        racing.racing = True
        threading.Thread(target=work, daemon=True).start()
        assert racing.denying.wait(WAIT), "the worker never denied the request"

    gate.store.before("mark", worker_runs_now)
    gate.forward("node-1-serving", EventType.ADDED)
    racing.racing = False
    assert gate.record(request_id).state is State.DENIED_BY_POLICY
    assert gate.cluster.condition("node-1-serving").type == "Denied"  # type: ignore[union-attr]
    return request_id


def test_the_denial_the_worker_raced_past_intake_is_drawn_once_the_forwarder_reports_it() -> None:
    gate = Csrgate()
    worker_denies_while_intake_queues(gate)
    gate.forward("node-1-serving")  # the Denied condition, as the forwarder sees it
    assert gate.digest().headline.startswith("0 certificate requests approved and 1 denied")


def test_an_older_reading_never_replaces_the_workers_denial_in_the_digest() -> None:
    gate = Csrgate()
    worker_denies_while_intake_queues(gate)
    # WHEN the notifier draws the digest, before the forwarder has reported anything more
    # THEN it tells the denial the cluster has, not the approval intake read before it
    assert gate.digest().headline.startswith("0 certificate requests approved and 1 denied")


# --- forged queue messages --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cluster", ["LAB", "lab ", "lab\n", "lab@1772442000", "eks-prod", "DIGEST#lab", "x" * 64])
def test_a_forged_digest_job_for_a_cluster_csrgate_does_not_have_posts_nowhere(cluster: str) -> None:
    gate = Csrgate()
    gate.submit_serving()
    job = decode_job(json.dumps({"kind": "post_digest", "cluster": cluster, "window": window_of(START)}))
    assert job == PostDigest(cluster, window_of(START))
    gate.digests.flush(job.cluster, job.window)
    assert gate.channel.posts == []
    assert gate.audit.names()[-1] == "slack.digest_abandoned"


@pytest.mark.parametrize(
    "window",
    [window_of(START) - 3600, window_of(START) + 1, window_of(START) + 86400 * 365, 0],
    ids=["an-hour-ago", "not-a-window-start", "next-year", "1970"],
)
def test_a_forged_digest_job_for_a_window_with_nothing_in_it_posts_nothing(window: int) -> None:
    # GIVEN lab's real digest, drawn
    gate = Csrgate()
    gate.submit_serving()
    gate.digest()
    # WHEN someone who may send to the Slack queue sends a digest job for another window of lab
    job = decode_job(f'{{"kind": "post_digest", "cluster": "lab", "window": {window}}}')
    if job is not None:
        gate.digests.flush("lab", window)
    # THEN the channel has only the real digest
    assert len(gate.channel.posts) == 1


@pytest.mark.parametrize("window", [10**12, 2**62, 10**40])
def test_a_forged_digest_job_far_in_the_future_is_dropped_not_raised(window: int) -> None:
    gate = Csrgate()
    job = decode_job(f'{{"kind": "post_digest", "cluster": "lab", "window": {window}}}')
    if isinstance(job, PostDigest):
        gate.digests.flush(job.cluster, job.window)
    assert gate.channel.posts == []


# --- observe mode: nothing decided in the cluster ------------------------------------------------------------------


def test_forged_worker_jobs_and_the_sweeper_decide_nothing_for_an_observed_request() -> None:
    # GIVEN an observed kubelet CSR csrgate would approve, and one it would deny
    gate = observing(denyExpired=True)
    serving = gate.submit_serving()
    masters = gate.submit(client_csr("root", orgs=["system:masters"]), name="root")
    # WHEN someone sends the worker every job about them, and the sweeper runs while they wait, then after a day
    for request_id in (serving, masters):
        gate.decisions.enqueue(ApplyDecision(request_id))
        gate.decisions.enqueue(CheckIssuance(request_id, 1))
        gate.decisions.enqueue(ShowInCluster(request_id))
    gate.work()
    for hours in (0.1, 2, 30):
        gate.clock.now = START + timedelta(hours=hours)
        gate.sweeper.sweep()
        gate.work()
    # THEN both stay observed: no condition, no Event, no certificate, nobody told
    assert {gate.record(r).state for r in (serving, masters)} == {State.OBSERVED}
    assert conditions(gate) == {"node-1-serving": None, "root": None}
    assert gate.cluster.kube_events.by_name == {}
    assert gate.requesters.delivered == [] and gate.requesters.told == []


def test_a_click_or_deny_dialog_for_an_observed_request_is_refused_from_any_message_or_the_home_tab() -> None:
    gate = observing()
    request_id = gate.submit()
    forged = MessageRef("C0LAB", "1772442000.000001")
    for message in (None, forged):
        assert gate.approvals.click(request_id, Outcome.APPROVE, "U0ALICE", message).answer is not ClickAnswer.DECIDED
        assert gate.approvals.deny(request_id, "U0ALICE", message, "no").answer is not ClickAnswer.DECIDED
    gate.work()
    assert gate.record(request_id).state is State.OBSERVED and gate.record(request_id).approvals == ()
    assert conditions(gate) == {"dana": None}


def first_certificate(gate: Csrgate) -> bytes:
    """dana's certificate, approved by alice and delivered."""
    request_id = gate.submit(client_csr("dana"), "dana", username="dana", expiration_seconds=LIFETIME)
    gate.click(request_id, "U0ALICE")
    gate.work()
    certificate = gate.cluster.csrs_by_name["dana"].certificate
    assert gate.record(request_id).state is State.DELIVERED and certificate is not None
    return certificate


def renewal(gate: Csrgate, name: str, made_with: bytes) -> str:
    """dana applies for the same certificate again with the one she holds: the request's id."""
    gate.cluster.create_as(client_csr("dana"), name, made_with=made_with, username="dana", expiration_seconds=LIFETIME)
    gate.forward(name, EventType.ADDED)
    return gate.request_id(name)


def test_a_renewal_by_policy_in_an_observed_cluster_is_only_observed() -> None:
    gate = Csrgate()
    held = first_certificate(gate)
    gate.clock.advance(days=8)
    gate.reconfigure(mode="observe")
    request_id = renewal(gate, "dana-renewed", held)
    gate.work()
    record = gate.record(request_id)
    assert (record.state, record.outcome) == (State.OBSERVED, Outcome.APPROVE)
    assert gate.cluster.condition("dana-renewed") is None
    assert len(gate.requesters.delivered) == 1  # the first certificate only


def test_observing_does_not_use_up_a_certificates_renewal_by_policy() -> None:
    # GIVEN dana's renewal observed, then deleted undecided
    gate = Csrgate()
    held = first_certificate(gate)
    gate.clock.advance(days=8)
    gate.reconfigure(mode="observe")
    renewal(gate, "dana-observed", held)
    last_seen = gate.cluster.event("dana-observed")
    gate.cluster.delete("dana-observed")
    gate.forward_deleted("dana-observed", last_seen)
    # WHEN csrgate decides again and she renews with the same certificate
    gate.reconfigure()
    request_id = renewal(gate, "dana-renewed", held)
    # THEN it is the renewal by policy csrgate offers, not a review
    assert gate.record(request_id).state is State.AUTO_APPROVED


def test_switching_back_to_enforce_decides_none_of_the_requests_observed_before() -> None:
    # GIVEN three requests observed
    gate = observing(denyExpired=True)
    gate.submit_serving()
    gate.submit()
    gate.submit(client_csr("root", orgs=["system:masters"]), name="root")
    # WHEN csrgate decides again, the forwarder resyncs, and the sweeper and worker run for a day
    gate.reconfigure(denyExpired=True)
    for name in ("node-1-serving", "dana", "root"):
        gate.forward(name, EventType.ADDED)
        gate.forward(name)
    for hours in (0.1, 2, 30):
        gate.clock.now = START + timedelta(hours=hours)
        gate.sweeper.sweep()
        gate.work()
    # THEN none is decided in the cluster, none offered to click, and the digest still tells them as observed
    assert conditions(gate) == {"node-1-serving": None, "dana": None, "root": None}
    assert gate.digest().headline.startswith("csrgate would have approved 1, denied 1 and sent to review 1 of 3")
    assert len(gate.channel.posts) == 1


def test_a_review_posted_before_the_switch_to_observe_is_not_decided_in_the_cluster() -> None:
    # GIVEN dana's request posted for review, then lab switched to observe
    gate = Csrgate()
    request_id = gate.submit()
    gate.reconfigure(mode="observe")
    # WHEN alice clicks Approve on the message still in the channel, and the worker runs
    gate.click(request_id, "U0ALICE")
    gate.work()
    # THEN nothing is decided in the cluster csrgate only observes
    assert conditions(gate) == {"dana": None}


def test_a_review_expiring_after_the_switch_to_observe_is_not_denied_in_the_cluster() -> None:
    gate = Csrgate()
    gate.submit()
    gate.reconfigure(mode="observe", denyExpired=True)
    gate.clock.advance(hours=13)
    gate.sweeper.sweep()
    gate.work()
    assert conditions(gate) == {"dana": None}


def test_an_ask_from_before_the_switch_makes_no_csr_in_an_observed_cluster_and_its_asker_is_told() -> None:
    # GIVEN angela asked for a certificate in Slack, and lab switched to observe before the worker made her CSR
    gate = Csrgate()
    ask = gate.ask()
    assert isinstance(ask, CertificateAsk)
    gate.reconfigure(mode="observe")
    # WHEN the worker takes the job
    gate.work()
    # THEN no CSR is made, and she is told why
    assert gate.cluster.csrs_by_name == {}
    assert [user for user, _ in gate.requesters.told] == ["U0ANGELA"]


def test_a_csr_decided_before_csrgate_saw_it_still_records_what_csrgate_would_have_done() -> None:
    # GIVEN the team's own approver, faster than the forwarder, approved a CSR asking for system:masters
    gate = observing()
    gate.cluster.create_as(client_csr("root", orgs=["system:masters"]), "root")
    gate.cluster.approve_outside("root")
    # WHEN the forwarder sends it for the first time
    gate.forward("root", EventType.ADDED)
    # THEN the audit trail says what was done and that csrgate would have denied it
    [decided] = [event for event in gate.audit.events if event.event == "csr.decided_elsewhere"]
    assert (decided.details.get("outcome"), decided.details.get("csrgate_would")) == ("approved", "deny")
