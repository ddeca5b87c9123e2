"""The dev stack's stand-ins for API Gateway and Lambda's event sources, each on its own and in this process."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from devstack.aws import load_template
from devstack.functions import parameter_defaults, resolve, template_functions
from devstack.gateway import LocalGateway, Route, template_routes
from devstack.pump import Pump, QueueSource, rate_seconds, template_sources


class Echo:
    """A function that answers with the event it was given (as an API Gateway response)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 202, "headers": {"x-seen": "yes"}, "body": "ok"}


class Batch:
    """A queue consumer that fails the messages whose body is "bad", or the whole batch if told to raise."""

    def __init__(self, explode: bool = False) -> None:
        self.explode = explode
        self.batches: list[list[str]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.batches.append([record["body"] for record in event["Records"]])
        if self.explode:
            raise RuntimeError("the function crashed")
        return {
            "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"]
        }


class FakeSqs:
    """One queue's messages, and what was deleted."""

    def __init__(self, bodies: list[str]) -> None:
        self.messages = [
            {
                "MessageId": f"m{i}",
                "ReceiptHandle": f"r{i}",
                "Body": body,
                "Attributes": {"ApproximateReceiveCount": "1"},
            }
            for i, body in enumerate(bodies)
        ]
        self.deleted: list[str] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        return {"Messages": self.messages[: kwargs["MaxNumberOfMessages"]]}

    def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:DecisionQueue"}}

    def delete_message_batch(self, **kwargs: Any) -> None:
        self.deleted += [entry["ReceiptHandle"] for entry in kwargs["Entries"]]


def test_the_template_gives_the_routes_queues_and_schedule_the_stack_serves() -> None:
    template = load_template()
    routes = {route.key: route.function for route in template_routes(template)}
    assert routes == {
        "POST /v1/csr-events": "IntakeFunction",
        "POST /v1/hmac/csr-events": "IntakeFunction",
        "POST /v1/slack/interactions": "InteractionsFunction",
        "POST /v1/slack/commands": "InteractionsFunction",
        "POST /v1/slack/events": "InteractionsFunction",
    }
    queues, schedules = template_sources(template)
    assert {(q.function, q.queue, q.batch_size) for q in queues} == {
        ("WorkerFunction", "DecisionQueue", 1),
        ("NotifierFunction", "SlackRetryQueue", 5),
    }
    assert [(s.function, s.seconds) for s in schedules] == [("SweeperFunction", 600)]


def test_each_function_gets_the_globals_and_its_own_environment_with_refs_resolved() -> None:
    template = load_template()
    refs = {**parameter_defaults(template), "RequestTable": "T", "DecisionQueue": "dq", "SlackRetryQueue": "sq"}
    refs |= {"SlackBotToken": "arn:token", "SlackSigningSecret": "arn:signing", "AWS::StackName": "csrgate"}
    functions = template_functions(template, refs, {"CSRGATE_SLACK_API_URL": "http://slack/"})
    worker = functions["WorkerFunction"]
    assert worker.environment["CSRGATE_TABLE"] == "T"
    assert worker.environment["CSRGATE_CONFIG_PATH"] == "/csrgate"
    assert worker.environment["POWERTOOLS_SERVICE_NAME"] == "csrgate-worker"
    assert worker.environment["CSRGATE_SLACK_API_URL"] == "http://slack/"
    assert worker.timeout_seconds == 60
    assert functions["InteractionsFunction"].memory_mb == 1769
    with pytest.raises(ValueError, match="cannot resolve"):
        resolve({"Fn::GetAtt": ["X", "Arn"]}, refs)


@pytest.mark.parametrize(
    ("content_type", "body", "encoded"),
    [
        ("application/json", b'{"a": 1}', False),
        ("application/octet-stream", b"\x00\xff", True),
        ("application/json", b"\x00\xff", True),  # a text type whose bytes are not UTF-8: base64, as API Gateway does
        ("application/x-www-form-urlencoded; charset=utf-8", b"\x00\xff", True),
    ],
)
def test_the_gateway_builds_payload_format_2_events(content_type: str, body: bytes, encoded: bool) -> None:
    echo = Echo()
    gateway = LocalGateway([Route("POST", "/v1/hmac/csr-events", "Intake")], {"Intake": echo}).start()  # type: ignore[dict-item]
    try:
        request = urllib.request.Request(
            f"{gateway.url}/v1/hmac/csr-events?x=1", data=body, headers={"Content-Type": content_type, "X-Two": "b"}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert (answer.status, answer.headers["x-seen"], answer.read()) == (202, "yes", b"ok")
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{gateway.url}/nowhere", timeout=5)
        assert missing.value.code == 404
    finally:
        gateway.stop()
    [event] = echo.events
    assert event["version"] == "2.0" and event["routeKey"] == "POST /v1/hmac/csr-events"
    assert event["rawPath"] == "/v1/hmac/csr-events" and event["rawQueryString"] == "x=1"
    assert event["headers"]["x-two"] == "b"  # lower-cased, as HTTP APIs pass them
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["isBase64Encoded"] is encoded
    assert event["body"] == (json.dumps({"a": 1}) if not encoded else "AP8=")


def test_the_pump_deletes_what_succeeded_and_leaves_failed_messages_for_redelivery() -> None:
    sqs = FakeSqs(["good", "bad", "good"])
    consumer = Batch()
    pump = Pump(sqs, {"DecisionQueue": "url"}, {"Worker": consumer}, [], [])  # type: ignore[dict-item]
    assert pump.deliver_once(QueueSource("Worker", "DecisionQueue", 10)) == 3
    assert consumer.batches == [["good", "bad", "good"]]
    assert sqs.deleted == ["r0", "r2"]


def test_a_function_that_crashes_leaves_the_whole_batch() -> None:
    sqs = FakeSqs(["a", "b"])
    pump = Pump(sqs, {"DecisionQueue": "url"}, {"Worker": Batch(explode=True)}, [], [])  # type: ignore[dict-item]
    assert pump.deliver_once(QueueSource("Worker", "DecisionQueue", 1)) == 1
    assert sqs.deleted == []


def test_only_rate_schedules_are_understood() -> None:
    assert rate_seconds("rate(10 minutes)") == 600 and rate_seconds("rate(1 hour)") == 3600
    with pytest.raises(ValueError, match="rate"):
        rate_seconds("cron(0 * * * ? *)")
