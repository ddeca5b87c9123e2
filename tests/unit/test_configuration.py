"""A bad configuration fails the cold start loudly, naming what is wrong; a good one in YAML or JSON loads."""

from __future__ import annotations

import json

import pytest
from stack import CLUSTERS, Stack, load_function

from csrgate.adapters.config import ConfigError, Settings


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
    ["CSRGATE_TABLE", "CSRGATE_DECISION_QUEUE_URL", "CSRGATE_SLACK_RETRY_QUEUE_URL", "CSRGATE_SLACK_SECRET_ID"],
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
    ],
)
def test_a_bad_environment_value_is_named(variable: str, value: str, message: str) -> None:
    environ = {
        "CSRGATE_TABLE": "t",
        "CSRGATE_DECISION_QUEUE_URL": "q",
        "CSRGATE_SLACK_RETRY_QUEUE_URL": "r",
        "CSRGATE_SLACK_SECRET_ID": "s",
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
    [("not json", "cannot be read"), (json.dumps({"signing_secret": "s"}), "lacks bot_token"), ("[]", "JSON object")],
)
def test_a_bad_slack_secret_is_named_without_its_value(stack: Stack, secret: str, message: str) -> None:
    stack.session.client("secretsmanager").put_secret_value(
        SecretId=stack.resources["SlackSecret"], SecretString=secret
    )
    with pytest.raises(ConfigError) as raised:
        load_function("intake")
    assert message in str(raised.value) and "SlackSecret" in str(raised.value)
    assert 'signing_secret": "s' not in str(raised.value)


def test_a_bad_policy_does_not_stop_functions_that_never_read_policies(stack: Stack) -> None:
    # the interactions function answers Slack within three seconds: it reads no policy at cold start
    stack.session.client("ssm").put_parameter(
        Name="/csrgate/policies/strict", Value="not: [valid", Type="String", Overwrite=True
    )
    assert load_function("interactions").api is not None
    with pytest.raises(ConfigError, match="policy /csrgate/policies/strict"):
        load_function("intake")
