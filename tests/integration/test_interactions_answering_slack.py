"""The interactions function answers Slack within its three seconds, whatever Slack or AWS do: rate limits and
outages after or before the decision, short AWS timeouts, a lean cold start.

AWS is moto provisioned from template.yaml; Slack is the stand-in, reached by the real WebClient over HTTP.
"""

from __future__ import annotations

import inspect
import logging
import sys
from typing import Any

import pytest
from botocore.client import BaseClient
from slack_clicks import REQUEST_ID, answer, click, decisions
from slack_sdk.models.blocks import HeaderBlock, PlainTextObject
from stack import Stack

from csrgate.adapters.slack.client import call_slack, web_client
from csrgate.domain.errors import PermanentFailure
from csrgate.wiring.interactions import build_interactions_api
from devstack.cold_start import cold_lab, run_cold
from devstack.harness import LambdaContext, load_function
from devstack.lambda_events import DOCS_REQUEST, hmac_event, interaction_event


def test_slack_rate_limiting_the_reply_does_not_lose_the_decision(stack: Stack, posted: Any, interactions: Any) -> None:
    # GIVEN Slack knows the clicker already (users.info cached by an earlier click)
    answer(interactions, interaction_event(click("U0MALLORY", posted)))
    answer(interactions, interaction_event(click("U0ALICE", posted, action="csrgate_deny")))
    # WHEN Slack rate-limits everything after the decision is stored (chat.update and chat.postEphemeral)
    stack.slack.fail_next(429, retry_after=30, times=10)
    status, _ = answer(interactions, interaction_event(click("U0ALICE", posted)))
    # THEN the click still answers 200 in time and the decision stands; the worker will redraw the message
    assert status == 200
    assert stack.request_item(REQUEST_ID)["state"] == "approved"  # type: ignore[index]
    assert len(decisions(stack)) == 1


def test_slack_down_before_anything_is_decided_asks_slack_to_show_an_error(
    stack: Stack, posted: Any, interactions: Any
) -> None:
    stack.slack.fail_next(500, times=10)  # users.info for an unknown clicker fails
    status, _ = answer(interactions, interaction_event(click("U0ALICE", posted)))
    assert status == 503
    assert stack.request_item(REQUEST_ID)["state"] == "awaiting_review"  # type: ignore[index]


def test_every_aws_client_of_the_interactions_function_gives_up_inside_slacks_three_seconds(stack: Stack) -> None:
    # GIVEN the interactions function's objects, as its cold start builds them
    api = build_interactions_api(logging.getLogger("timeouts"), stack.session)
    # WHEN we look at every AWS client they hold
    clients = _aws_clients(api)
    # THEN each one (DynamoDB, SQS, Secrets Manager, SSM) times out and retries briefly
    assert {client.meta.service_model.service_name for client in clients} == {
        "dynamodb",
        "sqs",
        "secretsmanager",
        "ssm",
    }
    for client in clients:
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (0.5, 0.8), client.meta.service_model.service_name
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}  # the call and one retry
        # a call that hangs twice: two attempts, and standard mode's backoff after a timeout (at most 50 ms)
        assert 2 * (config.connect_timeout + config.read_timeout) + 0.05 < 3


def _aws_clients(root: Any) -> list[BaseClient]:
    """Every botocore client reachable from an object through its attributes, bound methods and closures."""
    found: dict[int, BaseClient] = {}
    seen: set[int] = set()
    todo = [root]
    while todo:
        item = todo.pop()
        if id(item) in seen or isinstance(item, str | bytes | int | float | type) or item is None:
            continue
        seen.add(id(item))
        if isinstance(item, BaseClient):
            found[id(item)] = item
            continue
        if isinstance(item, dict):
            todo += list(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            todo += list(item)
        elif inspect.ismethod(item):
            todo.append(item.__self__)
        elif inspect.isfunction(item):
            todo += [cell.cell_contents for cell in item.__closure__ or ()]
        elif hasattr(item, "__dict__") and type(item).__module__.split(".")[0] in ("csrgate", "aws_lambda_powertools"):
            todo += list(vars(item).values())
    return list(found.values())


def test_a_message_slack_would_refuse_is_a_permanent_failure_not_an_outage(stack: Stack) -> None:
    # GIVEN a message whose blocks break Block Kit's rules (a header holds at most 150 characters)
    client = web_client(stack.slack.token, stack.slack.api_url)
    blocks = [HeaderBlock(text=PlainTextObject(text="x" * 151))]
    # WHEN it is sent
    with pytest.raises(PermanentFailure) as failed:
        call_slack(client, "chat_postMessage", channel="C0LAB", text="x", blocks=blocks)
    # THEN it is refused for good with its own reason: retrying would send the same malformed message again
    assert str(failed.value).startswith("invalid-message: chat_postMessage")
    assert "150 characters" in str(failed.value)
    assert stack.slack.calls == []  # slack_sdk refused to send it at all


# What an Approve click may bring into a cold interactions function besides the standard library and csrgate: each
# package is paid for inside Slack's three seconds (bench/cold_start.py measures how much).
CLICK_PACKAGES = frozenset(
    {
        "aws_lambda_powertools",  # the logger, the HTTP resolver, the parameters providers
        "jmespath",
        "boto3",
        "botocore",
        "s3transfer",
        "urllib3",
        "dateutil",
        "six",
        "certifi",
        "slack_sdk",
        "pydantic",  # the clusters' settings are validated at cold start
        "pydantic_core",
        "annotated_types",
        "typing_extensions",
        "typing_inspection",
        "pydantic_settings",  # the function's CSRGATE_* settings
        "dotenv",  # imported by pydantic_settings, never used: csrgate reads no .env file
        "yaml",  # the settings may be YAML
        "cython_runtime",  # registered by PyYAML's C extension
    }
)
# csrgate's modules no Approve click needs: the other functions' paths (the Kubernetes client, the CSR decoder, the
# policy engine, the intake API) and the interactions function's halves built on first use (forms, App Home, access)
NOT_ON_A_CLICK = (
    "csrgate.adapters.cluster",
    "csrgate.adapters.inbound.intake_api",
    "csrgate.adapters.inbound.jobs",
    "csrgate.adapters.inbound.asking_api",
    "csrgate.adapters.inbound.access_api",
    "csrgate.adapters.slack.forms",
    "csrgate.adapters.slack.views",
    "csrgate.adapters.slack.delivery",
    "csrgate.domain.csr",
    "csrgate.domain.checks",
    "csrgate.domain.pkcs10",
    "csrgate.domain.der",
    "csrgate.domain.kubeconfig",
    "csrgate.domain.conditions",
    "csrgate.domain.intake",
    "csrgate.domain.worker",
    "csrgate.domain.asking",
    "csrgate.domain.self_service",
    "csrgate.domain.granting",
    "csrgate.domain.grant_worker",
    "csrgate.wiring.intake",
    "csrgate.wiring.worker",
    "csrgate.wiring.sweeper",
    "csrgate.wiring.notifier",
)


def test_a_cold_approve_click_imports_only_what_a_click_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the docs' CSR waiting for review, on AWS and Slack a fresh interpreter can reach (moto's server)
    with cold_lab(monkeypatch.setenv) as lab:
        load_function("intake").lambda_handler(hmac_event(DOCS_REQUEST), LambdaContext())
        [message] = lab.slack.messages
        # WHEN a cold interactions function, in a fresh interpreter, takes alice's Approve click
        cold = run_cold("interactions", interaction_event(click("U0ALICE", message)), lab.env, "modules")
        # THEN the click is decided
        assert cold["response"]["statusCode"] == 200
        stack = Stack(lab.session, lab.resources, lab.slack, lab.env)
        assert stack.request_item(REQUEST_ID)["state"] == "approved"  # type: ignore[index]
    # AND the interpreter holds no package a click does not need (neither the Kubernetes client nor cryptography)
    modules = cold["modules"]
    packages = {name.split(".")[0] for name in modules} - set(sys.stdlib_module_names) - {"csrgate"}
    assert sorted(p for p in packages if not p.startswith("_")) == sorted(packages & CLICK_PACKAGES)
    # AND none of csrgate's modules for other paths, or for the halves a click does not touch
    assert [m for m in modules if any(m == name or m.startswith(f"{name}.") for name in NOT_ON_A_CLICK)] == []
