"""The lab the functions' tests and the cold-start benchmark run against: the template's resources in a local AWS
(moto), the Slack stand-in's secrets, two clusters (`lab` outside AWS with an HMAC key, `eks-prod` on EKS with IAM)
and the people Slack knows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.slack import SlackStandIn

HMAC_KEY = "lab-forwarder-key-of-at-least-32-bytes"  # csrgate refuses shorter keys
SLACK_SIGNING_SECRET = "s"
FORWARDER_ROLE = "arn:aws:iam::123456789012:role/platform/csrgate-forwarder"
CLUSTERS: dict[str, dict[str, Any]] = {
    "lab": {
        "name": "lab",
        "kind": "generic",
        "auth": "hmac",
        "hmacSecretId": "csrgate/forwarders/lab",
        "connection": {"secretId": "csrgate/clusters/lab/kubeconfig"},
        "slackChannel": "C0LAB",
        "approvers": {"users": ["U0ALICE", "U0BOB"]},
        "requesterEmails": {"angela": "angela@example.com"},  # the sample CSR asks for angela, as angela
        "selfService": {"usernameTemplate": "{email_local}", "emailDomains": ["example.com"]},  # angela: user angela
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
        "selfService": {"usernameTemplate": "sso:{email}"},  # offered, and explained: EKS signs no client certificate
    },
}
STRICT_POLICY = "signers:\n  kubernetes.io/kube-apiserver-client:\n    privilegedGroups: [ops]\n"
POLICIES = {"strict": STRICT_POLICY}
PEOPLE = {
    "U0ALICE": {"name": "alice", "email": "alice@example.com"},
    "U0BOB": {"name": "bob", "email": "bob@example.com"},
    "U0MALLORY": {"name": "mallory", "email": "mallory@example.com"},
    "U0ANGELA": {"name": "angela", "email": "angela@example.com"},
}


def provision_lab(
    session: Any,
    slack: SlackStandIn,
    clusters: Mapping[str, dict[str, Any]] = CLUSTERS,
    policies: Mapping[str, str] = POLICIES,
) -> tuple[dict[str, str], dict[str, str]]:
    """Create the template's resources in `session`'s AWS, with Slack's secrets, the lab forwarder's HMAC key, and the
    clusters' and policies' parameters; the resources (logical id to name or URL) and the functions' environment."""
    from devstack.aws import provision  # here: the lab's data alone (the fast domain tier's) needs no AWS

    resources = provision(session)
    secrets = session.client("secretsmanager")
    secrets.put_secret_value(SecretId=resources["SlackBotToken"], SecretString=slack.token)
    secrets.put_secret_value(SecretId=resources["SlackSigningSecret"], SecretString=SLACK_SIGNING_SECRET)
    secrets.create_secret(Name="csrgate/forwarders/lab", SecretString=HMAC_KEY)
    ssm = session.client("ssm")
    for name, document in clusters.items():
        ssm.put_parameter(Name=f"/csrgate/clusters/{name}", Value=json.dumps(document), Type="String")
    for name, policy in policies.items():
        ssm.put_parameter(Name=f"/csrgate/policies/{name}", Value=policy, Type="String")
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
    return resources, env
