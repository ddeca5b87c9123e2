"""The sweeper function and forwarders gone silent: the notice in the cluster's channel (drawn and checked by the
Slack stand-in), told once; the audit lines; the SilentClusters metric, written every sweep, zero included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from audit_records import audit_events, audit_lines, metric_lines
from intake_calls import heartbeat_body, invoke
from stack import Stack

from csrgate.adapters.aws.heartbeats import DynamoHeartbeats
from devstack.harness import LambdaContext, load_function
from devstack.lambda_events import hmac_event


def sweep() -> dict[str, Any]:
    """One run of the sweeper function, as the schedule starts it."""
    result: dict[str, Any] = load_function("sweeper").lambda_handler({"source": "aws.scheduler"}, LambdaContext())
    return result


def silent_clusters_written(output: str) -> list[tuple[list[float], list[list[str]]]]:
    """Every SilentClusters value written in the output, with its dimension sets."""
    return [
        (line["SilentClusters"], line["_aws"]["CloudWatchMetrics"][0]["Dimensions"])
        for line in metric_lines(output, "SilentClusters")
    ]


def test_a_forwarder_silent_for_twenty_minutes_is_told_once_in_its_channel(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN lab's forwarder was last heard twenty minutes ago
    last = datetime.now(UTC) - timedelta(minutes=20)
    DynamoHeartbeats(stack.session.client("dynamodb"), stack.resources["RequestTable"]).beat("lab", last)
    # WHEN the sweeper runs twice
    first, second = sweep(), sweep()
    # THEN each sweep counts lab silent, and lab's channel was told once
    assert (first["silent_clusters"], second["silent_clusters"]) == (1, 1)
    [notice] = stack.slack.messages
    assert notice.channel == "C0LAB"
    assert notice.text == (
        f"csrgate has not heard from lab's forwarder since {last.strftime('%H:%M')} UTC: "
        "CSRs made there are not reaching csrgate"
    )
    # AND each sweep logged it, with its last heartbeat; eks-prod, never heard from, is logged but not counted
    output = capsys.readouterr().out
    lines = audit_lines(output)
    silent = [line for line in lines if line["event"] == "forwarder.silent"]
    assert [(line["cluster"], line["last_heartbeat"]) for line in silent] == [("lab", last.isoformat())] * 2
    assert [line["cluster"] for line in lines if line["event"] == "forwarder.never_heard"] == ["eks-prod"] * 2
    # AND SilentClusters was written by each sweep, with no dimensions: what ForwarderSilentAlarm watches
    assert silent_clusters_written(output) == [([1.0], [[]]), ([1.0], [[]])]


def test_a_forwarder_heard_through_intake_is_not_silent_and_zero_is_written(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN lab's forwarder just sent its heartbeat through intake
    assert invoke(load_function("intake"), hmac_event(body=heartbeat_body("lab"))) == (200, {"heartbeat": "received"})
    capsys.readouterr()
    # WHEN the sweeper runs, THEN nothing is silent, nothing is posted, and the count 0 is written all the same
    assert sweep()["silent_clusters"] == 0
    assert stack.slack.messages == []
    output = capsys.readouterr().out
    assert silent_clusters_written(output) == [([0.0], [[]])]
    assert [line["cluster"] for line in audit_lines(output) if line["event"] == "forwarder.never_heard"] == ["eks-prod"]


def test_the_audit_lines_name_the_cluster(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    DynamoHeartbeats(stack.session.client("dynamodb"), stack.resources["RequestTable"]).beat(
        "eks-prod", datetime.now(UTC) - timedelta(hours=2)
    )
    sweep()
    [silent] = [line for line in audit_events(capsys) if line["event"] == "forwarder.silent"]
    assert (silent["cluster"], silent["actor"], silent["silent_minutes"]) == ("eks-prod", "csrgate", 120)
