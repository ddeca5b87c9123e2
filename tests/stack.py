"""A local stack for the functions' tests: moto AWS provisioned from template.yaml, and the Slack stand-in.

Unit and integration tests both use it (`from stack import ...`); each suite's conftest turns it into a fixture.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.aws import provision
from devstack.slack import SlackStandIn, running_slack

ROOT = Path(__file__).resolve().parents[1]
HMAC_KEY = "lab-forwarder-key-of-at-least-32-bytes"  # csrgate refuses shorter keys
FORWARDER_ROLE = "arn:aws:iam::123456789012:role/platform/csrgate-forwarder"
CLUSTERS = {
    "lab": {
        "name": "lab",
        "kind": "generic",
        "auth": "hmac",
        "hmacSecretId": "csrgate/forwarders/lab",
        "connection": {"secretId": "csrgate/clusters/lab/kubeconfig"},
        "slackChannel": "C0LAB",
        "approvers": {"users": ["U0ALICE", "U0BOB"]},
        "requesterEmails": {"angela": "angela@example.com"},  # the sample CSR asks for angela, as angela
    },
    "eks-prod": {
        "name": "eks-prod",
        "kind": "eks",
        "auth": "iam",
        "forwarderRoleArn": FORWARDER_ROLE,
        "connection": {"eksClusterName": "prod", "region": "eu-west-1"},
        "slackChannel": "C0PROD",
        "approvers": {"groups": ["S0PLATFORM"]},
        "policy": "strict",
    },
}
STRICT_POLICY = "signers:\n  kubernetes.io/kube-apiserver-client:\n    privilegedGroups: [ops]\n"


@dataclass
class LambdaContext:
    """What Powertools reads from Lambda's context object."""

    function_name: str = "csrgate-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:csrgate-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


@dataclass
class Stack:
    """The running stand-ins and what was created in them."""

    session: Any
    resources: dict[str, str]
    slack: SlackStandIn
    env: dict[str, str] = field(default_factory=dict)

    def queue_messages(self, logical_id: str) -> list[dict[str, Any]]:
        """Every message waiting in a queue (received and left for others: visibility timeout 0)."""
        sqs = self.session.client("sqs")
        response = sqs.receive_message(
            QueueUrl=self.resources[logical_id], MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
        )
        return response.get("Messages", [])

    def request_item(self, request_id: str) -> dict[str, Any] | None:
        """The stored request item, as plain values."""
        from csrgate.adapters.aws.store import _plain

        item = self.session.client("dynamodb").get_item(
            TableName=self.resources["RequestTable"],
            Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
            ConsistentRead=True,
        )
        return _plain(item["Item"]) if "Item" in item else None

    def put_cluster(self, name: str, document: dict[str, Any] | str) -> None:
        """Write a cluster's settings parameter."""
        value = document if isinstance(document, str) else json.dumps(document)
        self.session.client("ssm").put_parameter(
            Name=f"/csrgate/clusters/{name}", Value=value, Type="String", Overwrite=True
        )


@contextmanager
def running_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """moto with the template's table, queues and secrets, two clusters configured, and the Slack stand-in."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "csrgate")
    with mock_aws(), running_slack() as slack:
        session = boto3.session.Session(region_name="eu-west-1")
        resources = provision(session)
        secrets = session.client("secretsmanager")
        secrets.put_secret_value(SecretId=resources["SlackBotToken"], SecretString=slack.token)
        secrets.put_secret_value(SecretId=resources["SlackSigningSecret"], SecretString="s")
        secrets.create_secret(Name="csrgate/forwarders/lab", SecretString=HMAC_KEY)
        ssm = session.client("ssm")
        for name, document in CLUSTERS.items():
            ssm.put_parameter(Name=f"/csrgate/clusters/{name}", Value=json.dumps(document), Type="String")
        ssm.put_parameter(Name="/csrgate/policies/strict", Value=STRICT_POLICY, Type="String")
        env = {
            "CSRGATE_TABLE": resources["RequestTable"],
            "CSRGATE_DECISION_QUEUE_URL": resources["DecisionQueue"],
            "CSRGATE_SLACK_RETRY_QUEUE_URL": resources["SlackRetryQueue"],
            "CSRGATE_CONFIG_PATH": "/csrgate",
            "CSRGATE_SLACK_BOT_TOKEN_SECRET_ID": resources["SlackBotToken"],
            # only the interactions function has it in the template; here every function shares one environment
            "CSRGATE_SLACK_SIGNING_SECRET_ID": resources["SlackSigningSecret"],
            "CSRGATE_SECRET_PREFIX": "",
            "CSRGATE_STACK_NAME": "csrgate",
            "CSRGATE_SLACK_API_URL": slack.api_url,
            "CSRGATE_SLACK_RETRY_DELAY_SECONDS": "0",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Stack(session, resources, slack, env)


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py afresh, as a new Lambda container would (cold start included)."""
    path = ROOT / "functions" / name / "app.py"
    module_name = f"csrgate_function_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    # Powertools keeps one logging.Logger per service, with the stream handler it made the first time: make it
    # write to whatever stdout is at the time, which pytest's capsys replaces for every test
    for handler in logging.getLogger(f"csrgate-{name}").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = _CurrentStdout()
    return module


class _CurrentStdout:
    """A stream that is always the current sys.stdout."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()
