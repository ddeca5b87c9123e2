"""Each function's calls against its role in template.yaml (devstack.iam): every test on the local stack fails when a
function calls what its role does not allow; these tests show that the check sees the calls, reads them as IAM
authorizes them, and fails."""

from __future__ import annotations

from typing import Any

import pytest
from slack_clicks import answer, click
from stack import Stack, running_stack

from devstack.harness import LambdaContext, load_function
from devstack.iam import ACCOUNT, Need, allowed, function_roles
from devstack.lambda_events import DOCS_REQUEST, hmac_event, interaction_event

TABLE = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/RequestTable"


def authorized(stack: Stack, function: str) -> set[str]:
    return {action for name, action, _ in stack.roles.allowed if name == f"functions/{function}"}


def test_what_intake_and_a_click_call_is_checked_action_by_action(stack: Stack, posted: Any, interactions: Any) -> None:
    assert {"dynamodb:PutItem", "dynamodb:GetItem", "secretsmanager:GetSecretValue", "sqs:SendMessage"} <= (
        authorized(stack, "intake")
    )
    status, _ = answer(interactions, interaction_event(click("U0ALICE", posted)))
    assert status == 200
    # the click's approval is written in transactions (test_calls_per_request pins three): IAM authorizes each of
    # their entries as its own action, and has no action named for the transaction
    assert {"dynamodb:UpdateItem", "ssm:GetParametersByPath", "sqs:SendMessage"} <= authorized(stack, "interactions")
    assert "dynamodb:TransactWriteItems" not in authorized(stack, "interactions")
    assert not stack.roles.refused


def test_a_sweep_queries_the_pending_index_its_role_names(stack: Stack, posted: Any) -> None:
    load_function("sweeper").lambda_handler({"source": "aws.scheduler"}, LambdaContext())
    queried = {resource for name, action, resource in stack.roles.allowed if action == "dynamodb:Query"}
    assert queried and all(resource.startswith(f"{TABLE}/index/") for resource in queried)


def test_a_call_the_role_lacks_fails_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Intake's code deleting an item, which its role does not allow: the stack's test fails and names the call."""
    refused = pytest.raises(AssertionError, match=f"functions/intake: dynamodb:DeleteItem on {TABLE}$")
    with refused, running_stack(monkeypatch) as stack:
        intake = load_function("intake")
        intake.lambda_handler(hmac_event(DOCS_REQUEST), LambdaContext())
        # run as intake's own code: a frame whose globals are the function module's
        code = "__import__('boto3').client('dynamodb').delete_item(TableName=table, Key=key)"
        key = {"pk": {"S": "nothing"}, "sk": {"S": "nothing"}}
        eval(code, vars(intake), {"table": stack.resources["RequestTable"], "key": key})  # noqa: S307
        assert ("functions/intake", "dynamodb:DeleteItem", TABLE) in stack.roles.refused


def test_the_roles_are_read_as_iam_matches_them() -> None:
    secret = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:SlackBotToken-AbCdEf"
    roles = function_roles({"SlackBotToken": secret}, "eu-west-1")
    prefix = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:csrgate"
    parameter = f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/csrgate"
    # cluster credentials are the worker's alone; forwarder keys intake's alone
    assert allowed(roles["functions/worker"], Need("secretsmanager:GetSecretValue", f"{prefix}/clusters/a/k-AbCdEf"))
    assert not allowed(roles["functions/intake"], Need("secretsmanager:GetSecretValue", f"{prefix}/clusters/a/k-x"))
    assert allowed(roles["functions/intake"], Need("secretsmanager:GetSecretValue", f"{prefix}/forwarders/a-AbCdEf"))
    assert not allowed(roles["functions/worker"], Need("secretsmanager:GetSecretValue", f"{prefix}/forwarders/a-x"))
    # the Slack signing secret is the interactions function's alone
    signing = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:SlackSigningSecret-AbCdEf"
    roles = function_roles({"SlackBotToken": secret, "SlackSigningSecret": signing}, "eu-west-1")
    assert allowed(roles["functions/interactions"], Need("secretsmanager:GetSecretValue", signing))
    assert not allowed(roles["functions/intake"], Need("secretsmanager:GetSecretValue", signing))
    # settings under ConfigPath only; the table but no index for the notifier; no function deletes
    assert allowed(roles["functions/sweeper"], Need("ssm:GetParametersByPath", f"{parameter}/clusters"))
    assert not allowed(roles["functions/sweeper"], Need("ssm:GetParametersByPath", f"{parameter}-other/clusters"))
    assert not allowed(roles["functions/notifier"], Need("dynamodb:Query", f"{TABLE}/index/pending"))
    assert not any(allowed(role, Need("dynamodb:DeleteItem", TABLE)) for role in roles.values())
