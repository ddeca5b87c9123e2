"""The settings a deployment gives the functions: environment values are checked and named when wrong, and the
template lets each function read only the secrets it needs, throttles Slack's route apart and dead-letters where
the consumers give up."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from csrgate.adapters.aws.config import ConfigError, Settings
from devstack.aws import load_template

TEMPLATE = load_template()
ROOT = Path(__file__).resolve().parents[2]
SLACK_POSTERS = ("IntakeFunction", "InteractionsFunction", "WorkerFunction", "SweeperFunction", "NotifierFunction")


# What the template gives every function (template.yaml's Globals), the optional and defaulted variables left out.
GIVEN = {
    "CSRGATE_TABLE": "t",
    "CSRGATE_DECISION_QUEUE_URL": "q",
    "CSRGATE_SLACK_RETRY_QUEUE_URL": "r",
    "CSRGATE_SLACK_BOT_TOKEN_SECRET_ID": "s",
    "CSRGATE_STACK_NAME": "csrgate",
}


def test_the_environment_is_read_into_typed_settings_with_the_defaults_for_what_is_not_given() -> None:
    settings = Settings.from_environment(
        GIVEN
        | {
            "CSRGATE_RETENTION_DAYS": "30",
            "CSRGATE_SIGNER_LOOK_SECONDS": "0",
            "CSRGATE_SLACK_API_URL": "",  # the template's empty parameter: no stand-in, the real Slack
            "CSRGATE_SLACK_SIGNING_SECRET_ID": "arn:aws:secretsmanager:eu-west-1:1:secret:signing",
            "OTHER": "ignored",
        }
    )

    assert (settings.table, settings.decision_queue_url, settings.slack_retry_queue_url) == ("t", "q", "r")
    assert settings.retention == timedelta(days=30)
    assert settings.signer_look_seconds == 0
    assert settings.slack_api_url is None
    assert settings.slack_signing_secret_id == "arn:aws:secretsmanager:eu-west-1:1:secret:signing"
    assert (settings.config_path, settings.secret_prefix) == ("/csrgate", "csrgate")
    assert Settings.from_environment(GIVEN).retention == timedelta(days=400)
    assert (settings.slack_retry_delay_seconds, settings.signer_wait_seconds) == (30, 900)
    assert (settings.remind_after_minutes, settings.expire_after_minutes) == (60, 720)


def test_the_process_environment_is_read_unless_another_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a process whose environment has another table and a bad retention
    for name, value in GIVEN.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CSRGATE_TABLE", "the-process-table")
    monkeypatch.setenv("CSRGATE_RETENTION_DAYS", "0")
    # WHEN the settings are read from a mapping, THEN the process's environment plays no part
    assert Settings.from_environment(GIVEN).table == "t"
    # WHEN they are read without one, as a function's cold start does, THEN the process's is read
    with pytest.raises(ConfigError, match="^CSRGATE_RETENTION_DAYS must be a number of days from 1 to 3650, not '0'$"):
        Settings.from_environment()
    monkeypatch.delenv("CSRGATE_RETENTION_DAYS")
    assert Settings.from_environment().table == "the-process-table"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CSRGATE_RETENTION_DAYS", "forever", "CSRGATE_RETENTION_DAYS must be a number of days from 1 to 3650, not 'f"),
        ("CSRGATE_RETENTION_DAYS", "0", "CSRGATE_RETENTION_DAYS must be a number of days"),
        ("CSRGATE_RETENTION_DAYS", "3651", "CSRGATE_RETENTION_DAYS must be a number of days"),
        ("CSRGATE_RETENTION_DAYS", " 30", "CSRGATE_RETENTION_DAYS must be a number of days"),
        ("CSRGATE_CONFIG_PATH", "csrgate", "CSRGATE_CONFIG_PATH must start with /"),
        ("CSRGATE_CONFIG_PATH", "/csrgate/", "CSRGATE_CONFIG_PATH must start with / and not end with one"),
        ("CSRGATE_SLACK_RETRY_DELAY_SECONDS", "3600", "CSRGATE_SLACK_RETRY_DELAY_SECONDS must be"),
        ("CSRGATE_SIGNER_WAIT_SECONDS", "86401", "CSRGATE_SIGNER_WAIT_SECONDS must be a number of seconds from 0 to"),
        ("CSRGATE_SIGNER_LOOK_SECONDS", "-1", "CSRGATE_SIGNER_LOOK_SECONDS must be a number of seconds from 0 to 40"),
        ("CSRGATE_SIGNER_LOOK_SECONDS", "1.5", "CSRGATE_SIGNER_LOOK_SECONDS must be a number of seconds"),
        ("CSRGATE_REMIND_AFTER_MINUTES", "1381", "CSRGATE_REMIND_AFTER_MINUTES must be a number of minutes from 0"),
        ("CSRGATE_EXPIRE_AFTER_MINUTES", "٣٠", "CSRGATE_EXPIRE_AFTER_MINUTES must be a number of minutes"),
        ("CSRGATE_SECRET_PREFIX", "team/csrgate", "CSRGATE_SECRET_PREFIX must be"),
        ("CSRGATE_SECRET_PREFIX", "csrgate/", "CSRGATE_SECRET_PREFIX must be"),
        ("CSRGATE_STACK_NAME", "a*b", "CSRGATE_STACK_NAME must be"),
        ("CSRGATE_TABLE", "", "the environment variable CSRGATE_TABLE is empty"),
        ("CSRGATE_SIGNER_WAIT_SECONDS", "", "the environment variable CSRGATE_SIGNER_WAIT_SECONDS is empty"),
    ],
)
def test_a_bad_environment_value_is_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_environment(GIVEN | {variable: value})


def test_every_bad_value_is_named_at_once_in_one_line_an_operator_can_read() -> None:
    environ = {key: value for key, value in GIVEN.items() if key != "CSRGATE_TABLE"}
    with pytest.raises(ConfigError) as raised:
        Settings.from_environment(environ | {"CSRGATE_RETENTION_DAYS": "0", "CSRGATE_SIGNER_LOOK_SECONDS": "9" * 5000})

    message = str(raised.value)
    assert message.split("; ") == [
        "the environment variable CSRGATE_TABLE is not set",
        "CSRGATE_RETENTION_DAYS must be a number of days from 1 to 3650, not '0'",
        f"CSRGATE_SIGNER_LOOK_SECONDS must be a number of seconds from 0 to 40, not '{'9' * 80}'... (5000 characters)",
    ]
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no pydantic traceback behind it


def test_without_a_secret_prefix_the_stack_name_is_the_prefix() -> None:
    environ = GIVEN | {"CSRGATE_STACK_NAME": "csrgate-staging", "CSRGATE_SECRET_PREFIX": ""}
    assert Settings.from_environment(environ).secret_prefix == "csrgate-staging"
    assert Settings.from_environment(environ | {"CSRGATE_SECRET_PREFIX": "ops"}).secret_prefix == "ops"
    without = {key: value for key, value in environ.items() if key != "CSRGATE_STACK_NAME"}
    with pytest.raises(
        ConfigError, match="^the environment variable CSRGATE_STACK_NAME is not set, nor CSRGATE_SECRET"
    ):
        Settings.from_environment(without)


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
