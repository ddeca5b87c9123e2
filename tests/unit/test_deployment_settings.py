"""The settings a deployment gives the functions: environment values are checked and named when wrong, and the
template lets each function read only the secrets it needs, throttles Slack's route apart and dead-letters where
the consumers give up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from csrgate.adapters.aws.config import ConfigError, Settings
from devstack.aws import load_template

TEMPLATE = load_template()
ROOT = Path(__file__).resolve().parents[2]
SLACK_POSTERS = ("IntakeFunction", "InteractionsFunction", "WorkerFunction", "SweeperFunction", "NotifierFunction")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CSRGATE_RETENTION_DAYS", "forever", "CSRGATE_RETENTION_DAYS must be a number of days"),
        ("CSRGATE_RETENTION_DAYS", "0", "CSRGATE_RETENTION_DAYS must be a number of days"),
        ("CSRGATE_CONFIG_PATH", "csrgate", "CSRGATE_CONFIG_PATH must start with /"),
        ("CSRGATE_SLACK_RETRY_DELAY_SECONDS", "3600", "CSRGATE_SLACK_RETRY_DELAY_SECONDS must be"),
        ("CSRGATE_SECRET_PREFIX", "team/csrgate", "CSRGATE_SECRET_PREFIX must be"),
        ("CSRGATE_SECRET_PREFIX", "csrgate/", "CSRGATE_SECRET_PREFIX must be"),
        ("CSRGATE_STACK_NAME", "a*b", "CSRGATE_STACK_NAME must be"),
    ],
)
def test_a_bad_environment_value_is_named(variable: str, value: str, message: str) -> None:
    environ = {
        "CSRGATE_TABLE": "t",
        "CSRGATE_DECISION_QUEUE_URL": "q",
        "CSRGATE_SLACK_RETRY_QUEUE_URL": "r",
        "CSRGATE_SLACK_BOT_TOKEN_SECRET_ID": "s",
        "CSRGATE_STACK_NAME": "csrgate",
        variable: value,
    }
    with pytest.raises(ConfigError, match=message):
        Settings.from_environment(environ)


def test_without_a_secret_prefix_the_stack_name_is_the_prefix() -> None:
    environ = {
        "CSRGATE_TABLE": "t",
        "CSRGATE_DECISION_QUEUE_URL": "q",
        "CSRGATE_SLACK_RETRY_QUEUE_URL": "r",
        "CSRGATE_SLACK_BOT_TOKEN_SECRET_ID": "s",
        "CSRGATE_STACK_NAME": "csrgate-staging",
        "CSRGATE_SECRET_PREFIX": "",
    }
    assert Settings.from_environment(environ).secret_prefix == "csrgate-staging"
    assert Settings.from_environment(environ | {"CSRGATE_SECRET_PREFIX": "ops"}).secret_prefix == "ops"


# --- what the template lets each function read ------------------------------------------------------------------


def policies_of(function: str) -> list[Any]:
    """The function's policy documents: its SAM Policies, or those of the role it names (the worker's role)."""
    properties = TEMPLATE["Resources"][function]["Properties"]
    if "Role" in properties:
        role = TEMPLATE["Resources"][properties["Role"]["Fn::GetAtt"][0]]["Properties"]
        return [policy["PolicyDocument"] for policy in role.get("Policies", [])]
    return list(properties.get("Policies", []))


def secrets_readable_by(function: str) -> list[Any]:
    """The Resource of every statement that allows the function secretsmanager:GetSecretValue."""
    statements = [
        statement
        for policy in policies_of(function)
        for statement in policy.get("Statement", [])
        if "secretsmanager:GetSecretValue" in json.dumps(statement.get("Action"))
    ]
    resources: list[Any] = []
    for statement in statements:
        found = statement["Resource"]
        resources += found if isinstance(found, list) else [found]
    return resources


def test_only_the_interactions_function_may_read_the_signing_secret() -> None:
    signing = {"Ref": "SlackSigningSecret"}
    assert signing in secrets_readable_by("InteractionsFunction")
    for function in set(SLACK_POSTERS) - {"InteractionsFunction"}:
        assert signing not in secrets_readable_by(function), function
    environment = TEMPLATE["Resources"]["InteractionsFunction"]["Properties"]["Environment"]["Variables"]
    assert environment["CSRGATE_SLACK_SIGNING_SECRET_ID"] == signing
    assert "CSRGATE_SLACK_SIGNING_SECRET_ID" not in TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]


def test_every_function_that_posts_to_slack_reads_the_bot_token() -> None:
    for function in SLACK_POSTERS:
        assert {"Ref": "SlackBotToken"} in secrets_readable_by(function), function
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["CSRGATE_SLACK_BOT_TOKEN_SECRET_ID"] == {
        "Ref": "SlackBotToken"
    }


def test_forwarder_keys_and_cluster_credentials_are_read_under_the_stacks_prefix_only() -> None:
    # the prefix is a parameter, the stack's name when left empty: two stacks never read each other's secrets
    assert TEMPLATE["Parameters"]["SecretPrefix"]["Default"] == ""
    assert "/" not in TEMPLATE["Parameters"]["SecretPrefix"]["AllowedPattern"].replace("\\/", "")
    prefix = {"Fn::If": ["SecretPrefixIsStackName", {"Ref": "AWS::StackName"}, {"Ref": "SecretPrefix"}]}
    by_function = {name: json.dumps(secrets_readable_by(name)) for name in SLACK_POSTERS}
    assert "csrgate/" not in "".join(by_function.values())  # no fixed prefix any stack could share
    assert "${Prefix}/forwarders/*" in by_function["IntakeFunction"]
    assert "${Prefix}/clusters/*" in by_function["WorkerFunction"]
    assert json.dumps(prefix) in by_function["IntakeFunction"] and json.dumps(prefix) in by_function["WorkerFunction"]
    for function in SLACK_POSTERS:
        assert ("clusters/" in by_function[function]) == (function == "WorkerFunction"), function
        assert ("forwarders/" in by_function[function]) == (function == "IntakeFunction"), function


def test_every_route_has_its_own_throttle_so_the_forwarders_never_use_up_slacks() -> None:
    settings = TEMPLATE["Resources"]["CsrgateApi"]["Properties"]["RouteSettings"]
    routes = {
        f"{event['Properties']['Method'].upper()} {event['Properties']['Path']}"
        for resource in TEMPLATE["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }
    assert set(settings) == routes
    assert {"POST /v1/slack/interactions", "POST /v1/slack/commands", "POST /v1/slack/events"} <= routes
    for route in settings.values():
        assert route["ThrottlingBurstLimit"] > 0 and route["ThrottlingRateLimit"] > 0


@pytest.mark.parametrize(("queue", "module"), [("DecisionQueue", "worker"), ("SlackRetryQueue", "notifier")])
def test_each_consumer_gives_up_on_the_delivery_its_queue_dead_letters(queue: str, module: str) -> None:
    # a consumer that counted differently would give up too early, or never, before SQS moved the message away
    import importlib

    wiring = importlib.import_module(f"csrgate.wiring.{module}")
    redrive = TEMPLATE["Resources"][queue]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == wiring.MAX_RECEIVES


def test_the_slack_apps_manifest_calls_what_csrgate_serves() -> None:
    from csrgate.adapters.inbound.asking_api import COMMAND
    from csrgate.adapters.slack.forms import REQUEST_ACCESS_SHORTCUT, REQUEST_CERTIFICATE_SHORTCUT

    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yaml").read_text())
    routes = {
        event["Properties"]["Path"]
        for resource in TEMPLATE["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }
    features, settings = manifest["features"], manifest["settings"]
    urls = [
        settings["interactivity"]["request_url"],
        settings["event_subscriptions"]["request_url"],
        *(command["url"] for command in features["slash_commands"]),
    ]
    assert {"/" + url.split("/", 3)[3] for url in urls} <= routes
    assert [command["command"] for command in features["slash_commands"]] == [COMMAND]
    assert [shortcut["callback_id"] for shortcut in features["shortcuts"]] == [
        REQUEST_CERTIFICATE_SHORTCUT,
        REQUEST_ACCESS_SHORTCUT,
    ]
    assert "commands" in manifest["oauth_config"]["scopes"]["bot"]
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]


def test_every_log_group_outlives_the_stack_and_keeps_the_retention_asked_for() -> None:
    # retained as the table is; no fixed name, so a stack deployed again under the same name makes new ones
    groups = {key: r for key, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert groups
    for name, group in groups.items():
        assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Retain", "Retain"), name
        assert "LogGroupName" not in group["Properties"], name
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    assert TEMPLATE["Parameters"]["LogRetentionDays"]["Default"] >= 365


def test_every_function_that_fails_raises_an_alarm() -> None:
    resources = TEMPLATE["Resources"]
    functions = {name for name, resource in resources.items() if resource["Type"] == "AWS::Serverless::Function"}
    alarmed = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for alarm in resources.values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm"
        and alarm["Properties"].get("Namespace") == "AWS/Lambda"
        and alarm["Properties"].get("MetricName") == "Errors"
        and alarm["Properties"].get("AlarmActions")
    }
    assert functions and alarmed == functions
