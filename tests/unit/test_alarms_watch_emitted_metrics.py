"""Every alarm on csrgate's own metrics watches a metric the code really writes, with the dimensions it is written
with: CloudWatch matches an alarm to one exact set of dimensions, so an alarm that names another set never fires.
The metrics are written as the functions write them, with the environment template.yaml gives them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from csrgate.adapters.aws.audit import NAMESPACE, LoggedAuditTrail
from csrgate.domain.records import AuditEvent
from csrgate.domain.sweeper import SILENT_CLUSTERS
from devstack.aws import load_template

# Every audit event the functions write, as intake, approvals, the worker, the notifier and the sweeper name them.
EVENTS = [
    "csr.received",
    "csr.policy_verdict",
    "csr.review_requested",
    "csr.approved",
    "csr.denied",
    "csr.expired",
    "csr.issued",
    "csr.delivered",
    "csr.delivery_failed",
    "csr.failed",
    "csr.event_rejected",
    "slack.post_failed",
    "slack.post_abandoned",
    "slack.update_failed",
    "forwarder.heartbeat",
    "forwarder.silent",
    "forwarder.never_heard",
]
# Every gauge the functions write, as the sweeper names them.
GAUGES = [SILENT_CLUSTERS]
_INSIGHTS = re.compile(r"SELECT (?:SUM|MAX|AVG|MIN|COUNT)\((\w+)\) FROM SCHEMA\(\s*(\w+)((?:\s*,\s*\w+)*)\s*\)")


def functions_environment() -> dict[str, str]:
    """What template.yaml sets in each function's environment that Powertools reads (the metrics' namespace, and the
    service name it would add to every metric as a dimension of its own), by function."""
    template = load_template()
    common = template["Globals"]["Function"]["Environment"]["Variables"]
    return {
        name: {**common, **resource["Properties"]["Environment"]["Variables"]}
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def emitted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> set[tuple[str, str, frozenset[str]]]:
    """(namespace, metric, dimension names) of every metric the audit trail writes for csrgate's events, and of every
    gauge, in each function's environment."""
    capsys.readouterr()
    now = datetime.now(UTC)
    for environment in functions_environment().values():
        for variable in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
            monkeypatch.setenv(variable, str(environment[variable]))
        trail = LoggedAuditTrail(Logger())
        for name in EVENTS:
            details = {"verdict": "deny", "seconds_to_decision": 5, "seconds_to_issue": 3}
            trail.write(AuditEvent(name, "r-1", "lab", "csr", "uid", "csrgate", now, details))
        for gauge in GAUGES:
            trail.gauge(gauge, 0)
    found = set()
    for line in capsys.readouterr().out.splitlines():
        record: dict[str, Any] = json.loads(line)
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                for dimensions in directive["Dimensions"]:
                    found.add((directive["Namespace"], metric["Name"], frozenset(dimensions)))
    return found


def watched(alarm: dict[str, Any]) -> list[tuple[str, str, frozenset[str]]]:
    """(namespace, metric, dimension names) an alarm watches: its metric, or each Metrics Insights query's."""
    if "MetricName" in alarm:
        names = frozenset(dimension["Name"] for dimension in alarm.get("Dimensions", []))
        return [(alarm["Namespace"], alarm["MetricName"], names)]
    queries = [_INSIGHTS.fullmatch(query["Expression"]) for query in alarm["Metrics"] if "Expression" in query]
    assert all(queries), f"an alarm expression this test cannot read: {alarm['Metrics']}"
    return [
        (match.group(2), match.group(1), frozenset(re.findall(r"\w+", match.group(3))))
        for match in queries
        if match is not None
    ]


def test_every_alarm_on_csrgates_metrics_watches_one_that_is_written(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    written = emitted(capsys, monkeypatch)
    alarms = {
        name: watched(resource["Properties"])
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    ours = {name: metrics for name, metrics in alarms.items() if any(m[0] == NAMESPACE for m in metrics)}
    assert ours, "no alarm watches csrgate's own metrics"
    for name, metrics in ours.items():
        for metric in metrics:
            assert metric in written, f"{name} watches {metric}, which nothing writes; written: {sorted(written)}"


def test_an_alarm_naming_no_dimension_would_be_caught(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the alarm as it once was: no dimensions, on a metric only ever written per cluster
    before = {"Namespace": NAMESPACE, "MetricName": "SlackPostsAbandoned", "Statistic": "Sum"}
    assert watched(before)[0] not in emitted(capsys, monkeypatch)
    assert (NAMESPACE, "SlackPostsAbandoned", frozenset({"cluster"})) in emitted(capsys, monkeypatch)


def test_no_metric_carries_the_service_dimension_powertools_would_add(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every function sets POWERTOOLS_SERVICE_NAME (for its log lines): a metric carrying it as a dimension would be a
    # metric per function, which no alarm on the metric's own dimensions would see.
    written = emitted(capsys, monkeypatch)
    assert written and all("service" not in dimensions for _, _, dimensions in written)
    assert (NAMESPACE, SILENT_CLUSTERS, frozenset()) in written
    assert (NAMESPACE, "ForwarderHeartbeats", frozenset({"cluster"})) in written
