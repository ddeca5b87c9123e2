"""Every alarm and every dashboard widget on csrgate's own metrics watches a metric the code really writes, with the
dimensions it is written with: CloudWatch matches an alarm (or a SEARCH's schema) to one exact set of dimensions, so
one that names another set never fires, or draws an empty graph. The metrics are written as the functions write them,
with the environment template.yaml gives them. The dashboard's body is JSON once Fn::Sub has filled it in."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aws_lambda_powertools import Logger

from csrgate.adapters.aws.audit import NAMESPACE, LoggedAuditTrail
from csrgate.domain.outcome import Outcome
from csrgate.domain.records import AuditEvent
from csrgate.domain.sweeper import SILENT_CLUSTERS
from devstack.aws import load_template

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "csrgate" / "csrgate"

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
            # the policy's verdict is counted per outcome: write one of each
            for verdict in Outcome if name == "csr.policy_verdict" else [Outcome.DENY]:
                details = {"verdict": verdict.value, "seconds_to_decision": 5, "seconds_to_issue": 3}
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


# --- the dashboard ------------------------------------------------------------------------------------------------

# What CloudFormation puts for its pseudo parameters (the values are any a deployment could have).
PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::StackName": "csrgate",
    "AWS::URLSuffix": "amazonaws.com",
}
_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")
_SEARCH = re.compile(r"SEARCH\('\{(\w+)((?:,\w+)*)\} MetricName=\"(\w+)\"', '(\w+)', (\d+)\)")


class Drawn(NamedTuple):
    """One metric a dashboard widget draws; a SEARCH's dimensions have no values (it draws each one it finds)."""

    namespace: str
    name: str
    dimensions: dict[str, str | None]
    stat: str

    def written_as(self) -> tuple[str, str, frozenset[str]]:
        return (self.namespace, self.name, frozenset(self.dimensions))


def substituted(text: str, template: dict[str, Any]) -> str:
    """What Fn::Sub makes of `text`: `${!x}` is `${x}` as written; a pseudo parameter its value; a resource or a
    parameter its logical ID (standing for its Ref), `Resource.Attribute` as written. A name the template does not
    declare fails, as it would fail the stack."""

    def one(match: re.Match[str]) -> str:
        literal, name = match.groups()
        if literal:
            return "${" + name + "}"
        if name in PSEUDO:
            return PSEUDO[name]
        resource, _, attribute = name.partition(".")
        declared = resource in template["Resources"] or (not attribute and resource in template["Parameters"])
        assert declared, f"Fn::Sub names {name!r}, which the template does not declare"
        return name

    return _VARIABLE.sub(one, text)


def dashboard(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dashboard's body as CloudWatch receives it."""
    template = template or load_template()
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return dict(json.loads(substituted(body, template)))


def drawn(widgets: list[dict[str, Any]]) -> list[Drawn]:
    """Every metric the widgets draw: each written out in full, and each a SEARCH expression finds."""
    found = []
    for widget in widgets:
        properties = widget["properties"]
        for line in properties.get("metrics", []) if widget["type"] == "metric" else []:
            options = line[-1] if isinstance(line[-1], dict) else {}
            stat = options.get("stat", properties.get("stat", "Average"))
            if "expression" in options:
                expression = options["expression"]
                searches = _SEARCH.findall(expression)
                assert len(searches) == expression.count("SEARCH("), f"a SEARCH this test cannot read: {expression}"
                for namespace, dimensions, name, search_stat, _ in searches:
                    names = dict.fromkeys(dimensions.strip(",").split(",") if dimensions else [])
                    found.append(Drawn(namespace, name, names, search_stat))
                continue
            fields = line[:-1] if options else line
            assert "." not in fields, f"a metric repeating the one above ('.'), which this test cannot read: {line}"
            namespace, name, *pairs = fields
            found.append(Drawn(namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True)), stat))
    return found


def test_the_dashboard_body_is_json_once_fn_sub_has_filled_it_in() -> None:
    body = dashboard()
    taken: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24, widget  # CloudWatch's grid is 24 wide
        cells = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not cells & taken, f"widgets overlap: {widget['properties'].get('title')}"
        taken |= cells
        if widget["type"] != "text":
            assert widget["properties"]["region"] == PSEUDO["AWS::Region"], widget["properties"]["title"]
    # CloudWatch's own ${...} (a SEARCH result's label) reaches it as written
    assert "${PROP('Dim.cluster')}" in json.dumps(body)


def test_a_name_the_template_does_not_declare_would_be_caught() -> None:
    template = load_template()
    with pytest.raises(AssertionError, match="IntakeLog"):
        substituted('{"query": "SOURCE \'${IntakeLog}\'"}', template)


def test_every_dashboard_metric_of_csrgates_is_one_the_code_writes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    written = emitted(capsys, monkeypatch)
    ours = [metric for metric in drawn(dashboard()["widgets"]) if metric.namespace == NAMESPACE]
    assert ours
    for metric in ours:
        assert metric.written_as() in written, f"the dashboard draws {metric}, which nothing writes"
        # a cluster is a dimension value nobody knows when deploying: such metrics are found by SEARCH
        assert all(value is None for value in metric.dimensions.values()), f"{metric} names one cluster"


def test_a_search_over_other_dimensions_would_be_caught(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expression = "SEARCH('{csrgate} MetricName=\"SlackPostsAbandoned\"', 'Sum', 300)"
    widget = {"type": "metric", "properties": {"metrics": [[{"id": "a", "expression": expression}]]}}
    assert drawn([widget])[0].written_as() not in emitted(capsys, monkeypatch)


def test_every_aws_metric_on_the_dashboard_is_one_of_the_stacks_own() -> None:
    resources = load_template()["Resources"]
    for metric in drawn(dashboard()["widgets"]):
        if metric.namespace == "AWS/Lambda":
            assert list(metric.dimensions) == ["FunctionName"], metric
            assert resources[str(metric.dimensions["FunctionName"])]["Type"] == "AWS::Serverless::Function"
        elif metric.namespace == "AWS/SQS":
            queue, _, attribute = str(metric.dimensions["QueueName"]).partition(".")
            assert (resources[queue]["Type"], attribute) == ("AWS::SQS::Queue", "QueueName"), metric
        else:
            assert metric.namespace == NAMESPACE, metric


def test_the_dashboard_shows_what_an_operator_looks_for() -> None:
    metrics = drawn(dashboard()["widgets"])
    ours = {metric.name for metric in metrics if metric.namespace == NAMESPACE}
    verdicts = {f"Verdict{outcome.value.capitalize()}" for outcome in Outcome}
    assert verdicts | {"RequestsReceived", "Approved", "Denied", "Expired", "TimeToDecision"} <= ours
    assert {"SlackPostFailures", "SlackPostsAbandoned", "ForwarderHeartbeats", SILENT_CLUSTERS} <= ours
    clicks = {
        m.stat for m in metrics if m.name == "Duration" and m.dimensions == {"FunctionName": "InteractionsFunction"}
    }
    assert clicks == {"p50", "p99"}


def test_the_waiting_reviews_widget_reads_the_functions_logs_for_events_they_write() -> None:
    template = load_template()
    resources = template["Resources"]
    (widget,) = [widget for widget in dashboard(template)["widgets"] if widget["type"] == "log"]
    query = widget["properties"]["query"]
    function_logs = {
        resource["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    sources = re.findall(r"SOURCE '([^']+)'", query)
    assert sources and set(sources) <= function_logs
    # the same events as the saved query csrgate/requests-still-pending, each one the code writes
    listed = re.compile(r"filter event in (\[[^]]*\])")
    events = json.loads(listed.findall(query)[0])
    assert events == json.loads(listed.findall(resources["StillPendingQuery"]["Properties"]["QueryString"])[0])
    package = "\n".join(path.read_text() for path in PACKAGE.rglob("*.py"))
    for event in events:
        assert f'"{event}"' in package, f"nothing in csrgate writes {event}"
    assert 'last_event = "csr.review_requested"' in query


def test_the_concurrency_widget_tells_each_functions_reserve() -> None:
    resources = load_template()["Resources"]
    (widget,) = [
        widget
        for widget in dashboard()["widgets"]
        if any("ConcurrentExecutions" in line for line in widget["properties"].get("metrics", []))
    ]
    shown = {line[3]: line[-1]["label"] for line in widget["properties"]["metrics"]}
    functions = {name for name, resource in resources.items() if resource["Type"] == "AWS::Serverless::Function"}
    assert set(shown) == functions
    for function, label in shown.items():
        reserve = resources[function]["Properties"]["ReservedConcurrentExecutions"]
        assert label.endswith(f"(reserve {reserve})"), (function, label)
