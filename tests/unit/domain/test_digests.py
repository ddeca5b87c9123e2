"""Automatic decisions told in one message per cluster and minute: a node group scaling up is one message updated in
place, not a notice per CSR; every decision counted once, none lost when flushes cross, Slack fails or a queue does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from memory import START, Csrgate, client_csr

from csrgate.domain.digests import (
    FLUSH_DELAY_SECONDS,
    FLUSH_LEASE_SECONDS,
    MAX_LISTED,
    RETRY_DELAY_SECONDS,
    STALE_ASK_SECONDS,
    WINDOW_SECONDS,
    DigestEntry,
    digest_notice,
    window_of,
)
from csrgate.domain.errors import RetryLater
from csrgate.domain.intake import EventType
from csrgate.domain.jobs import PostDigest, decode_job, encode_job, subject_of
from csrgate.domain.messages import Notice
from csrgate.domain.nodes import NodeAddress
from csrgate.domain.outcome import Outcome


def facts(notice: Notice) -> dict[str, str]:
    return {fact.label: fact.value for fact in notice.facts}


def scale_up(gate: Csrgate, nodes: int, per_node: int = 2) -> list[str]:
    """`nodes` kubelets, each with its Node object, asking for `per_node` serving certificates; the request ids."""
    for n in range(nodes):
        gate.cluster.node_addresses[f"node-{n}"] = (
            NodeAddress("InternalIP", "10.0.0.5"),
            NodeAddress("Hostname", f"node-{n}"),
        )
    return [
        gate.submit_serving(f"node-{n}-serving-{k}", f"node-{n}", dns=(f"node-{n}",))
        for n in range(nodes)
        for k in range(per_node)
    ]


def test_a_node_group_scaling_up_is_one_message_updated_in_place() -> None:
    # GIVEN 40 new nodes each asking for two serving certificates within the minute
    gate = Csrgate()
    scale_up(gate, 20)
    # WHEN the notifier draws the digest, then more arrive and it draws again
    first = gate.digest()
    scale_up_more = [gate.submit_serving(f"late-{n}", f"node-{20 + n}", dns=(f"node-{20 + n}",)) for n in range(20)]
    second = gate.digest()
    # THEN the channel has one message, posted once and redrawn once, counting each request once
    assert len(gate.channel.posts) == 1 and len(gate.channel.updates) == 1
    assert first.headline.startswith("40 certificate requests approved and 0 denied by policy on lab")
    assert second.headline.startswith(f"{40 + len(scale_up_more)} certificate requests approved and 0 denied")
    assert facts(second) == {"kubernetes.io/kubelet-serving": "60 approved for 40 nodes, 0 denied"}
    # AND while a flush was waiting, no second one was queued for the same window
    assert gate.slack_retries.jobs == [PostDigest("lab", window_of(START))] * 2


def test_each_decision_is_counted_once_however_often_its_event_comes() -> None:
    gate = Csrgate()
    scale_up(gate, 3)
    # WHEN the forwarder re-sends every CSR (a resync) and the worker applies them
    for n in range(3):
        for k in range(2):
            gate.forward(f"node-{n}-serving-{k}", EventType.ADDED)
    gate.work()
    # THEN the digest still counts six
    assert gate.digest().headline.startswith("6 certificate requests approved and 0 denied")


def test_the_next_minute_is_a_new_message() -> None:
    gate = Csrgate()
    gate.submit_serving("a", "node-1")
    gate.digest()
    # WHEN a request arrives in the next window
    gate.clock.advance(seconds=WINDOW_SECONDS)
    gate.submit_serving("b", "node-1")
    gate.retry_posts()
    # THEN it is a second message, saying one
    assert len(gate.channel.posts) == 2
    assert gate.channel.posts[1][1].headline.startswith("1 certificate request approved and 0 denied")
    assert "between 09:01 and 09:02 UTC" in gate.channel.posts[1][1].headline


def test_a_flush_that_finds_another_drawing_follows_it_instead_of_dropping_its_entries() -> None:
    gate = Csrgate()
    gate.submit_serving("a", "node-1")
    window = window_of(START)
    # GIVEN another flush holds the lease (it read before the next entry arrived)
    assert gate.digest_store.claim("lab", window, START, FLUSH_LEASE_SECONDS)
    gate.digest_store.take_flush("lab", window)
    gate.submit_serving("b", "node-2", dns=("node-2",))
    # WHEN the flush queued by the new entry runs
    gate.slack_retries.take()
    gate.digests.flush("lab", window)
    # THEN it queued itself again for after the other, and draws both once the lease is free
    assert gate.slack_retries.delays[-1] == FLUSH_DELAY_SECONDS and gate.channel.posts == []
    gate.digest_store.release("lab", window)
    assert gate.digest().headline.startswith("2 certificate requests approved")


def test_a_crashed_flush_is_recovered_when_its_lease_lapses() -> None:
    gate = Csrgate()
    gate.submit_serving("a", "node-1")
    window = window_of(START)
    assert gate.digest_store.claim("lab", window, START, FLUSH_LEASE_SECONDS)  # and then it died
    gate.clock.advance(seconds=FLUSH_LEASE_SECONDS + 1)
    assert gate.digest().headline.startswith("1 certificate request approved")


def test_a_flush_that_could_not_be_queued_is_asked_again_by_the_retried_event() -> None:
    # GIVEN the Slack queue refusing the digest's flush
    gate = Csrgate()
    gate.slack_retries.failure = RetryLater("SQS is unreachable")
    # WHEN intake takes node-1's request, THEN it raises, so the forwarder sends the event again
    with pytest.raises(RetryLater):
        gate.submit_serving()
    # WHEN it does, with the queue back
    gate.slack_retries.failure = None
    gate.forward("node-1-serving", EventType.ADDED)
    # THEN the flush is queued and the decision told
    assert gate.slack_retries.jobs == [PostDigest("lab", window_of(START))]
    assert gate.digest().headline.startswith("1 certificate request approved")


def test_an_ask_whose_job_was_lost_is_asked_again_once_stale() -> None:
    gate = Csrgate()
    gate.submit_serving("a", "node-1")
    gate.slack_retries.take()  # the flush's message was lost
    gate.clock.advance(seconds=STALE_ASK_SECONDS)
    gate.submit_serving("b", "node-2", dns=("node-2",))
    assert gate.slack_retries.take() == []  # still counted as waiting
    gate.clock.advance(seconds=1)
    gate.submit_serving("c", "node-3", dns=("node-3",))
    assert gate.digest().headline.startswith("3 certificate requests approved")


def test_slack_down_while_drawing_raises_for_the_queue_and_keeps_everything() -> None:
    gate = Csrgate()
    gate.submit_serving("a", "node-1")
    [job] = gate.slack_retries.take()
    assert isinstance(job, PostDigest)
    gate.channel.failure = RetryLater("Slack answered ratelimited to chat_postMessage")
    with pytest.raises(RetryLater):
        gate.digests.flush(job.cluster, job.window)
    # WHEN the queue delivers the job again, Slack being back
    gate.channel.failure = None
    gate.digests.flush(job.cluster, job.window)
    # THEN it is posted once, and logged
    assert len(gate.channel.posts) == 1
    assert gate.audit.names()[-1] == "slack.digest_posted"
    assert dict(gate.audit.events[-1].details) == {"window": job.window, "approve": 1, "deny": 0, "review": 0}


def test_denials_are_listed_with_who_asked_and_why_and_the_rest_counted() -> None:
    gate = Csrgate()
    for n in range(MAX_LISTED + 2):
        gate.submit(client_csr(f"user-{n:02d}", orgs=["system:masters"]), name=f"masters-{n:02d}")
    notice = gate.digest()
    assert notice.headline.startswith(f"0 certificate requests approved and {MAX_LISTED + 2} denied")
    shown = facts(notice)
    listed = [label for label in shown if label.startswith("Denied ")]
    assert listed == [f"Denied masters-{n:02d}" for n in range(MAX_LISTED)]
    assert shown["Denied masters-00"].startswith("asked by dana: forbidden-group: ")
    assert shown["Also listed"].startswith("2 more: ")
    assert shown["kubernetes.io/kube-apiserver-client"] == "0 approved, 12 denied"


def test_text_from_a_csr_is_shown_literally_never_as_a_look_alike() -> None:
    entry = DigestEntry("r-1", "mаllory\u200b", "example.com/<!channel>", "system:node:x", Outcome.DENY, "why")
    notice = digest_notice("lab", 0, [entry])
    assert facts(notice) == {
        "example.com/<!channel>": "0 approved, 1 denied",
        "Denied m\u0430llory\\u200b [U+0430]": "asked by system:node:x: why",
    }


def test_a_cluster_no_longer_configured_is_abandoned_not_retried() -> None:
    gate = Csrgate()
    gate.submit_serving()
    gate.directory.clusters.clear()
    gate.retry_posts()
    assert gate.channel.posts == [] and gate.audit.names()[-1] == "slack.digest_abandoned"


def test_a_recent_digest_slack_refused_through_every_try_is_drawn_once_slack_is_back() -> None:
    # GIVEN a kubelet's approval whose digest Slack refused until its job was given up
    gate = Csrgate()
    gate.submit_serving("a", "node-1")
    [job] = gate.slack_retries.take()
    gate.channel.failure = RetryLater("Slack answered ratelimited to chat_postMessage")
    with pytest.raises(RetryLater):
        gate.digests.flush(job.cluster, job.window)
    gate.clock.advance(minutes=30)
    gate.digests.give_up(subject_of(job), "gave up after 6 attempts: Slack is down")
    # THEN it is deferred a quarter of an hour, not abandoned
    event = gate.audit.events[-1]
    assert (event.event, event.cluster, event.details["window"]) == ("slack.digest_deferred", "lab", str(job.window))
    assert gate.slack_retries.jobs == [job, job] and gate.slack_retries.delays[-1] == RETRY_DELAY_SECONDS
    # WHEN Slack is back by then, THEN the digest is posted, though no entry came to its window since
    gate.channel.failure = None
    gate.retry_posts()
    assert len(gate.channel.posts) == 1 and gate.audit.names()[-1] == "slack.digest_posted"


@pytest.mark.parametrize(
    ("digest", "minutes_later"),
    [
        ("lab@1772442000", 61),  # Slack was down for more than an hour
        ("lab@1772442000", 0 - 2),  # a window after the clock's time: none of csrgate's
        ("lab@nine", 0),
        ("lab@" + "9" * 40, 0),
        ("lab@-60", 0),
        ("", 0),
    ],
)
def test_an_old_or_unreadable_digest_given_up_is_abandoned_and_queued_no_more(digest: str, minutes_later: int) -> None:
    gate = Csrgate()
    gate.clock.advance(minutes=minutes_later)
    gate.digests.give_up(digest, "gave up after 6 attempts: Slack is down")
    event = gate.audit.events[-1]
    assert (event.event, dict(event.details)) == (
        "slack.digest_abandoned",
        {"window": digest.rpartition("@")[2], "reason": "gave up after 6 attempts: Slack is down"},
    )
    assert gate.slack_retries.jobs == []


def test_a_digest_that_cannot_be_queued_again_is_abandoned() -> None:
    gate = Csrgate()
    gate.slack_retries.failure = RetryLater("SQS is unreachable")
    gate.digests.give_up("lab@1772442000", "gave up after 6 attempts: Slack is down")
    assert gate.audit.names()[-1] == "slack.digest_abandoned"


def test_a_digest_job_reads_back_as_written_and_a_forged_one_is_dropped() -> None:
    job = PostDigest("lab", window_of(START + timedelta(seconds=59)))
    assert decode_job(encode_job(job)) == job and subject_of(job) == f"lab@{window_of(START)}"
    for forged in (
        '{"kind": "post_digest", "cluster": "lab", "window": true}',
        '{"kind": "post_digest", "cluster": "lab", "window": -60}',
        '{"kind": "post_digest", "cluster": "lab", "window": "60"}',
        '{"kind": "post_digest", "cluster": "", "window": 60}',
        '{"kind": "post_digest", "cluster": ["lab"], "window": 60}',
        '{"kind": "post_digest", "window": 60}',
    ):
        assert decode_job(forged) is None, forged
