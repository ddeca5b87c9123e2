"""A local stack for the functions' tests: the lab (devstack.lab) in moto, and the Slack stand-in.

Unit and integration tests both use it (`from stack import ...`); each suite's conftest turns it into a fixture.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.aws import dynamodb_served_one_at_a_time
from devstack.iam import RoleCheck, enforced_roles
from devstack.lab import provision_lab
from devstack.slack import SlackStandIn, running_slack


@dataclass
class Stack:
    """The running stand-ins and what was created in them."""

    session: Any
    resources: dict[str, str]
    slack: SlackStandIn
    env: dict[str, str] = field(default_factory=dict)
    roles: RoleCheck = field(default_factory=RoleCheck)  # what each function's role was asked for

    def queue_messages(self, logical_id: str) -> list[dict[str, Any]]:
        """Every message waiting in a queue (received and left for others: visibility timeout 0)."""
        sqs = self.session.client("sqs")
        response = sqs.receive_message(
            QueueUrl=self.resources[logical_id], MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
        )
        return response.get("Messages", [])

    def work_messages(self, logical_id: str = "DecisionQueue") -> list[dict[str, Any]]:
        """The queue's messages but the jobs that show a request on its CSR as an Event (`show_in_cluster`), which
        each review posted and each expiry also queue."""
        return [m for m in self.queue_messages(logical_id) if json.loads(m["Body"]).get("kind") != "show_in_cluster"]

    def delayed_messages(self, logical_id: str) -> list[dict[str, Any]]:
        """The messages of a queue once the first is visible (sent with a delay), waiting for it as long as SQS lets
        a receive wait (20 s)."""
        sqs = self.session.client("sqs")
        response = sqs.receive_message(
            QueueUrl=self.resources[logical_id],
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            AttributeNames=["All"],
            WaitTimeSeconds=20,
        )
        messages = response.get("Messages", [])
        assert messages, f"nothing arrived in {logical_id} within 20 s"
        return messages

    def request_item(self, request_id: str) -> dict[str, Any] | None:
        """The stored request item, as plain values."""
        from csrgate.adapters.aws.store import plain

        item = self.session.client("dynamodb").get_item(
            TableName=self.resources["RequestTable"],
            Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
            ConsistentRead=True,
        )
        return plain(item["Item"]) if "Item" in item else None

    def items(self) -> list[dict[str, Any]]:
        """Every item in the table, as plain values (a scan: for small test tables)."""
        from csrgate.adapters.aws.store import plain

        answer = self.session.client("dynamodb").scan(TableName=self.resources["RequestTable"], ConsistentRead=True)
        return [plain(item) for item in answer.get("Items", [])]

    def stored_events(self, request_id: str) -> list[dict[str, Any]]:
        """The request's stored audit events, oldest first, as plain values."""
        from csrgate.adapters.aws.store import plain

        answer = self.session.client("dynamodb").query(
            TableName=self.resources["RequestTable"],
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"REQUEST#{request_id}"}, ":prefix": {"S": "EVENT#"}},
            ConsistentRead=True,
        )
        return [plain(item) for item in answer.get("Items", [])]

    def put_cluster(self, name: str, document: dict[str, Any] | str) -> None:
        """Write a cluster's settings parameter."""
        value = document if isinstance(document, str) else json.dumps(document)
        self.session.client("ssm").put_parameter(
            Name=f"/csrgate/clusters/{name}", Value=value, Type="String", Overwrite=True
        )


@contextmanager
def running_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """moto with the template's table, queues and secrets, two clusters configured, and the Slack stand-in; a
    function's call that its role in template.yaml does not allow fails the test (devstack.iam)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "csrgate")
    with mock_aws(), dynamodb_served_one_at_a_time(), running_slack() as slack:
        session = boto3.session.Session(region_name="eu-west-1")
        resources, env = provision_lab(session, slack)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with enforced_roles(resources, session.region_name) as roles:
            yield Stack(session, resources, slack, env, roles)
        assert not roles.refused, "AWS would refuse these calls, which template.yaml does not allow:\n" + roles.report()
