"""A bad configuration fails the cold start loudly, naming what is wrong; a good one in YAML or JSON loads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stack import Stack

from csrgate.adapters.aws.config import ConfigError, Settings
from devstack.aws import load_template
from devstack.harness import load_function
from devstack.lab import CLUSTERS

TEMPLATE = load_template()
SLACK_POSTERS = ("IntakeFunction", "InteractionsFunction", "WorkerFunction", "SweeperFunction", "NotifierFunction")


def test_a_good_configuration_loads(stack: Stack) -> None:
    assert load_function("intake").api is not None


def test_cluster_settings_may_be_yaml(stack: Stack) -> None:
    stack.put_cluster(
        "staging",
        "name: staging\nkind: generic\nauth: hmac\nhmacSecretId: csrgate/forwarders/staging\n"
        "connection: {secretId: csrgate/clusters/staging/kubeconfig}\nslackChannel: C0STAGE\n"
        "approvers: {users: [U0ALICE]}\n",
    )
    assert load_function("intake").api is not None


@pytest.mark.parametrize(
    "variable",
    [
        "CSRGATE_TABLE",
        "CSRGATE_DECISION_QUEUE_URL",
        "CSRGATE_SLACK_RETRY_QUEUE_URL",
        "CSRGATE_SLACK_BOT_TOKEN_SECRET_ID",
        "CSRGATE_STACK_NAME",
    ],
)
def test_a_missing_environment_variable_is_named(stack: Stack, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.delenv(variable)
    with pytest.raises(ConfigError, match=f"the environment variable {variable} is not set"):
        load_function("intake")


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


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "blue"}, "/csrgate/clusters/lab: colour: unknown key"),
        ({"kind": "gke"}, "/csrgate/clusters/lab: kind: Input should be 'generic' or 'eks'"),
        ({"auth": "iam"}, "auth: iam needs forwarderRoleArn"),
        ({"hmacSecretId": None}, "auth: hmac needs hmacSecretId"),
        ({"slackChannel": "#platform"}, "/csrgate/clusters/lab: slackChannel: String should match pattern"),
        ({"approvers": {}}, "approvers needs at least one user or group"),
        ({"requiredApprovals": 0}, "requiredApprovals: Input should be greater than or equal to 1"),
        ({"requiredApprovals": 3}, "privilegedRequiredApprovals cannot be below requiredApprovals"),
        ({"name": "other"}, "name is 'other' but the parameter is named 'lab'"),
        ({"name": "Lab!"}, "name: String should match pattern"),
        (
            {"kind": "eks", "connection": {"secretId": "csrgate/clusters/x"}},
            "kind: eks needs connection.eksClusterName",
        ),
        ({"forwarderRoleArn": "arn:aws:iam::1:user/x"}, "forwarderRoleArn: String should match pattern"),
        ({"policy": "missing"}, "its policy parameter /csrgate/policies/missing cannot be read"),
        (
            {"hmacSecretId": "csrgate/clusters/lab/kubeconfig"},
            "hmacSecretId must be a secret under csrgate/forwarders/",
        ),
        (
            {"connection": {"secretId": "prod/kubeconfig"}},
            "connection.secretId must be a secret under csrgate/clusters/",
        ),
    ],
)
def test_a_bad_cluster_parameter_is_named_with_its_key(stack: Stack, change: dict[str, object], message: str) -> None:
    stack.put_cluster("lab", {key: value for key, value in {**CLUSTERS["lab"], **change}.items() if value is not None})
    with pytest.raises(ConfigError) as raised:
        load_function("intake")
    assert message in str(raised.value)


@pytest.mark.parametrize("text", ["{not yaml: [", "- a\n- list\n", "a: &x 1\nb: *x\n"])
def test_an_unreadable_cluster_parameter_is_named(stack: Stack, text: str) -> None:
    stack.put_cluster("lab", text)
    with pytest.raises(ConfigError, match="/csrgate/clusters/lab: "):
        load_function("intake")


def test_a_bad_policy_parameter_is_named_with_its_key(stack: Stack) -> None:
    stack.session.client("ssm").put_parameter(
        Name="/csrgate/policies/strict", Value="signers: {x.io/y: {maxExpiration: 1}}", Type="String", Overwrite=True
    )
    with pytest.raises(ConfigError, match=r'policy /csrgate/policies/strict: signers."x.io/y".maxExpiration: unknown'):
        load_function("intake")


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (json.dumps({"bot_token": "xoxb-1", "signing_secret": "s"}), "must hold the bot token alone"),
        ("   ", "is empty"),
    ],
)
def test_a_bad_bot_token_secret_is_named_without_its_value(stack: Stack, secret: str, message: str) -> None:
    stack.session.client("secretsmanager").put_secret_value(
        SecretId=stack.resources["SlackBotToken"], SecretString=secret
    )
    with pytest.raises(ConfigError) as raised:
        load_function("intake")
    assert message in str(raised.value) and "SlackBotToken" in str(raised.value)
    assert "xoxb-1" not in str(raised.value)


def test_only_the_interactions_function_needs_the_signing_secret(stack: Stack) -> None:
    # GIVEN functions configured as the template configures them: only interactions is told where the secret is
    secrets = stack.session.client("secretsmanager")
    secrets.put_secret_value(SecretId=stack.resources["SlackSigningSecret"], SecretString=" ")
    # THEN the functions that only post to Slack start without it, and interactions refuses to start
    assert load_function("intake").api is not None
    with pytest.raises(ConfigError, match="SlackSigningSecret.* is empty"):
        load_function("interactions")


def test_the_prefix_of_cluster_secrets_is_the_stacks_own(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a stack deployed with its own secret prefix
    monkeypatch.setenv("CSRGATE_SECRET_PREFIX", "team-a")
    # WHEN a cluster names secrets under another stack's prefix
    # THEN the cold start refuses it, naming the prefix this stack may read
    with pytest.raises(ConfigError, match="hmacSecretId must be a secret under team-a/forwarders/"):
        load_function("intake")
    stack.put_cluster(
        "lab",
        {**CLUSTERS["lab"], "hmacSecretId": "team-a/forwarders/lab", "connection": {"secretId": "csrgate/clusters/l"}},
    )
    with pytest.raises(ConfigError, match="connection.secretId must be a secret under team-a/clusters/"):
        load_function("intake")
    # AND secrets under its own prefix are accepted
    stack.put_cluster(
        "lab",
        {**CLUSTERS["lab"], "hmacSecretId": "team-a/forwarders/lab", "connection": {"secretId": "team-a/clusters/l"}},
    )
    assert load_function("intake").api is not None


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


def secrets_readable_by(function: str) -> list[Any]:
    """The Resource of every statement that allows the function secretsmanager:GetSecretValue."""
    statements = [
        statement
        for policy in TEMPLATE["Resources"][function]["Properties"].get("Policies", [])
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


def test_slacks_clicks_have_their_own_throttle_apart_from_the_forwarders_routes() -> None:
    settings = TEMPLATE["Resources"]["CsrgateApi"]["Properties"]["RouteSettings"]
    assert set(settings) == {"POST /v1/csr-events", "POST /v1/hmac/csr-events", "POST /v1/slack/interactions"}
    for route in settings.values():
        assert route["ThrottlingBurstLimit"] > 0 and route["ThrottlingRateLimit"] > 0


def test_a_bad_policy_does_not_stop_functions_that_never_read_policies(stack: Stack) -> None:
    # the interactions function answers Slack within three seconds: it reads no policy at cold start
    stack.session.client("ssm").put_parameter(
        Name="/csrgate/policies/strict", Value="not: [valid", Type="String", Overwrite=True
    )
    assert load_function("interactions").api is not None
    with pytest.raises(ConfigError, match="policy /csrgate/policies/strict"):
        load_function("intake")


@pytest.mark.parametrize(("queue", "module"), [("DecisionQueue", "worker"), ("SlackRetryQueue", "notifier")])
def test_each_consumer_gives_up_on_the_delivery_its_queue_dead_letters(queue: str, module: str) -> None:
    # a consumer that counted differently would give up too early, or never, before SQS moved the message away
    import importlib

    wiring = importlib.import_module(f"csrgate.wiring.{module}")
    redrive = TEMPLATE["Resources"][queue]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == wiring.MAX_RECEIVES
