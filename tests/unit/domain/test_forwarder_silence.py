"""A forwarder that stopped reporting: its heartbeats remembered by intake, its silence found by the sweeper, told once
in the cluster's channel, logged every sweep, and counted (zero included) for the alarm."""

from __future__ import annotations

from datetime import timedelta

from memory import START, Csrgate, cluster_config

from csrgate.domain.errors import RetryLater
from csrgate.domain.messages import Notice
from csrgate.domain.sweeper import SILENT_CLUSTERS, Sweeper, SweepResult, SweepTimings

SILENCE_HEADLINE = (
    "csrgate has not heard from lab's forwarder since 09:00 UTC: CSRs made there are not reaching csrgate"
)


def heard(gate: Csrgate, cluster: str = "lab") -> None:
    """The cluster's forwarder sends its heartbeat now."""
    config = gate.directory.get(cluster)
    assert config is not None, f"no cluster {cluster} configured"
    gate.intake.heartbeat(config)


def notices(gate: Csrgate) -> list[tuple[str, Notice]]:
    """The notices posted so far, with their channels."""
    return [(channel, message) for channel, message in gate.channel.posts if isinstance(message, Notice)]


def lines(gate: Csrgate, event: str) -> list[dict[str, object]]:
    """The audit lines of one event, in the order written."""
    return [line for line in gate.audit.lines if line["event"] == event]


def test_a_heartbeat_is_remembered_for_its_cluster_and_logged() -> None:
    # WHEN lab's forwarder sends its heartbeat
    gate = Csrgate()
    heard(gate)
    # THEN csrgate remembers when, for lab, and the audit line says so
    assert gate.heartbeats.last("lab") == START
    assert lines(gate, "forwarder.heartbeat") == [
        {
            "event": "forwarder.heartbeat",
            "cluster": "lab",
            "csr_name": "",
            "csr_uid": "",
            "request_id": "",
            "actor": "forwarder",
        }
    ]
    # AND nothing else is stored, posted or queued
    assert gate.store.items == {} and gate.store.events == []
    assert gate.channel.posts == [] and gate.decisions.sent == []


def test_a_forwarder_heard_within_fifteen_minutes_is_not_silent() -> None:
    # GIVEN lab's forwarder was heard fifteen minutes ago, exactly
    gate = Csrgate()
    heard(gate)
    gate.clock.advance(minutes=15)
    # WHEN the sweeper runs, THEN lab is not silent, and the count says so
    assert gate.sweeper.sweep() == SweepResult()
    assert lines(gate, "forwarder.silent") == [] and notices(gate) == []
    assert gate.gauges.values == [(SILENT_CLUSTERS, 0)]


def test_a_forwarder_silent_for_more_than_fifteen_minutes_is_told_once_and_counted_every_sweep() -> None:
    # GIVEN lab's forwarder was last heard at 09:00
    gate = Csrgate()
    heard(gate)
    # WHEN the sweeper runs at 09:15:01
    gate.clock.advance(minutes=15, seconds=1)
    result = gate.sweeper.sweep()
    # THEN lab is silent: counted, logged with its last heartbeat, and told in lab's channel
    assert result == SweepResult(silent_clusters=1)
    assert gate.gauges.values == [(SILENT_CLUSTERS, 1)]
    [silent] = lines(gate, "forwarder.silent")
    assert (silent["cluster"], silent["last_heartbeat"], silent["silent_minutes"]) == ("lab", START.isoformat(), 15)
    [(channel, notice)] = notices(gate)
    assert channel == "C0LAB"
    assert notice.headline == SILENCE_HEADLINE
    assert {fact.label: fact.value for fact in notice.facts}["Last heard from"] == "2026-03-02 09:00:00 UTC"
    # WHEN it stays silent through the next sweeps
    for _ in range(3):
        gate.clock.advance(minutes=10)
        assert gate.sweeper.sweep() == SweepResult(silent_clusters=1)
    # THEN every sweep counts and logs it, and the channel was told once
    assert gate.gauges.values == [(SILENT_CLUSTERS, 1)] * 4
    assert len(lines(gate, "forwarder.silent")) == 4
    assert len(notices(gate)) == 1


def test_a_heartbeat_ends_the_silence_and_the_next_silence_is_told_again() -> None:
    # GIVEN lab's silence was told
    gate = Csrgate()
    heard(gate)
    gate.clock.advance(minutes=20)
    gate.sweeper.sweep()
    assert len(notices(gate)) == 1
    # WHEN its forwarder is heard again at 09:20
    heard(gate)
    gate.clock.advance(minutes=10)
    # THEN it is no longer silent
    assert gate.sweeper.sweep().silent_clusters == 0
    # WHEN it falls silent again
    gate.clock.advance(minutes=10)
    assert gate.sweeper.sweep().silent_clusters == 1
    # THEN the new silence is told, with its own last heartbeat, once
    gate.clock.advance(minutes=10)
    gate.sweeper.sweep()
    assert [notice.headline for _, notice in notices(gate)] == [
        SILENCE_HEADLINE,
        SILENCE_HEADLINE.replace("09:00", "09:20"),
    ]
    assert gate.gauges.values == [(SILENT_CLUSTERS, value) for value in (1, 0, 1, 1)]


def test_a_cluster_never_heard_from_is_logged_every_sweep_but_not_alarmed() -> None:
    # GIVEN lab's forwarder has never sent a heartbeat (not deployed yet, or older than heartbeats)
    gate = Csrgate()
    # WHEN the sweeper runs twice
    assert gate.sweeper.sweep() == SweepResult()
    gate.clock.advance(minutes=10)
    assert gate.sweeper.sweep() == SweepResult()
    # THEN each sweep logs it once, nothing is posted and nothing counted
    assert [line["cluster"] for line in lines(gate, "forwarder.never_heard")] == ["lab", "lab"]
    assert notices(gate) == [] and lines(gate, "forwarder.silent") == []
    assert gate.gauges.values == [(SILENT_CLUSTERS, 0), (SILENT_CLUSTERS, 0)]


def test_the_count_is_of_the_silent_clusters_among_every_configured_one() -> None:
    # GIVEN four clusters: two silent, one heard lately, one never heard
    gate = Csrgate()
    for name, channel in (("staging", "C0STAGING"), ("edge", "C0EDGE"), ("fresh", "C0FRESH")):
        gate.directory.clusters[name] = cluster_config(name=name, slackChannel=channel)
    heard(gate, "lab")
    heard(gate, "staging")
    gate.clock.advance(minutes=30)
    heard(gate, "edge")
    # WHEN the sweeper runs
    result = gate.sweeper.sweep()
    # THEN two are counted and told, each in its own channel; the one never heard is only logged
    assert result.silent_clusters == 2
    assert gate.gauges.values == [(SILENT_CLUSTERS, 2)]
    assert sorted(channel for channel, _ in notices(gate)) == ["C0LAB", "C0STAGING"]
    assert [line["cluster"] for line in lines(gate, "forwarder.never_heard")] == ["fresh"]


def test_a_silence_slack_would_not_take_is_recorded_and_still_counted() -> None:
    # GIVEN lab is silent, and Slack is down when the sweeper tells it
    gate = Csrgate()
    heard(gate)
    gate.clock.advance(minutes=20)
    gate.channel.failure = RetryLater("Slack answered ratelimited to chat_postMessage")
    # WHEN the sweeper runs
    result = gate.sweeper.sweep()
    # THEN it is still counted (the alarm does not depend on Slack), and the failed post is recorded
    assert result.silent_clusters == 1 and gate.gauges.values == [(SILENT_CLUSTERS, 1)]
    [failed] = lines(gate, "slack.post_failed")
    assert (failed["cluster"], failed["reason"]) == ("lab", "Slack answered ratelimited to chat_postMessage")
    # AND the silence was claimed before the post: told at most once, the alarm being the other way to hear of it
    gate.channel.failure = None
    gate.clock.advance(minutes=10)
    assert gate.sweeper.sweep().silent_clusters == 1
    assert notices(gate) == []


def test_the_silence_threshold_is_a_sweep_timing() -> None:
    # GIVEN a sweeper that calls a forwarder silent after five minutes
    gate = Csrgate()
    sweeper = Sweeper(
        clusters=gate.directory,
        store=gate.store,
        decisions=gate.decisions,
        notifier=gate.channel,
        requesters=gate.requesters,
        people=gate.people,
        certificates=gate.certificates,
        grants=gate.grants,
        heartbeats=gate.heartbeats,
        audit=gate.audit,
        gauges=gate.gauges,
        clock=gate.clock,
        timings=SweepTimings(silent_after=timedelta(minutes=5)),
    )
    heard(gate)
    # WHEN lab's forwarder has not been heard for six minutes, THEN it is silent
    gate.clock.advance(minutes=6)
    assert sweeper.sweep().silent_clusters == 1
    assert len(notices(gate)) == 1
