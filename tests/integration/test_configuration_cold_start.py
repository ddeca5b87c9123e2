"""A bad configuration fails the cold start loudly, naming what is wrong; a good one in YAML or JSON loads.

The functions cold-start on moto provisioned from template.yaml, with the clusters and secrets of the lab.
"""

from __future__ import annotations

import json

import pytest
from stack import Stack

from csrgate.adapters.aws.config import ConfigError
from devstack.harness import load_function
from devstack.lab import CLUSTERS


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


def test_cluster_settings_and_policies_stored_as_securestring_are_read_decrypted(stack: Stack) -> None:
    ssm = stack.session.client("ssm")
    secret_cluster = {**CLUSTERS["lab"], "name": "vault", "policy": "sealed"}
    ssm.put_parameter(Name="/csrgate/clusters/vault", Value=json.dumps(secret_cluster), Type="SecureString")
    ssm.put_parameter(Name="/csrgate/policies/sealed", Value="version: 1\n", Type="SecureString")
    directory = load_function("intake").api._clusters  # as the cold start read them
    vault = directory.get("vault")
    assert vault is not None and vault.slack_channel == "C0LAB"
    assert directory.policy_for(vault).rules_for("kubernetes.io/kube-apiserver-client") is not None


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


def test_a_bad_policy_does_not_stop_functions_that_never_read_policies(stack: Stack) -> None:
    # the interactions function answers Slack within three seconds: it reads no policy at cold start
    stack.session.client("ssm").put_parameter(
        Name="/csrgate/policies/strict", Value="not: [valid", Type="String", Overwrite=True
    )
    assert load_function("interactions").api is not None
    with pytest.raises(ConfigError, match="policy /csrgate/policies/strict"):
        load_function("intake")
