"""The dev stack's second cluster, `dev-eks`, authenticated as EKS does: people and csrgate's functions are IAM
identities in the local AWS, and the cluster maps them through access entries (csrgate's functions to its worker's
group, the people's role to `sso:{{SessionName}}` with no permission of its own), as the README's "On EKS" sets up.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack.aws import sts_caller_identity
from devstack.cluster import DevCluster
from devstack.cluster.auth import APPROVER_USER, APPROVERS_GROUP
from devstack.cluster.eks_auth import AccessEntry, EksAuthentication

ACCOUNT = "123456789012"  # moto's account
EKS_CLUSTER = "dev-eks"
PEOPLE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/k8s-people"  # people assume it with their email as the session name
FUNCTIONS_USER = "csrgate-functions"  # the identity csrgate's functions run as here (their role on AWS)
# Who may assume the people's role, and only with their own IAM user name as the session name (README: On EKS)
_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:RoleSessionName": "${aws:username}"}},
            }
        ],
    }
)


def eks_cluster(data_dir: Path, aws_port: int) -> DevCluster:
    """The cluster, its STS the local AWS on `aws_port` (which need not run yet: STS is asked per token)."""
    return DevCluster(
        data_dir,
        eks=EksAuthentication(
            cluster_id=EKS_CLUSTER,
            sts_endpoint=f"http://127.0.0.1:{aws_port}",
            caller_identity=sts_caller_identity,
            access_entries={
                f"arn:aws:iam::{ACCOUNT}:user/{FUNCTIONS_USER}": AccessEntry(APPROVER_USER, groups=(APPROVERS_GROUP,)),
                PEOPLE_ROLE: AccessEntry("sso:{{SessionName}}"),  # no group, no policy: csrgate's grants only
            },
        ),
    )


def become_functions(session: Any) -> None:
    """From now on, csrgate's functions (in this process) sign as the IAM user the cluster maps to its worker."""
    iam = session.client("iam")
    iam.create_user(UserName=FUNCTIONS_USER)
    key = iam.create_access_key(UserName=FUNCTIONS_USER)["AccessKey"]
    os.environ.update({"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})


def people_environments(
    session: Any, people: Mapping[str, Mapping[str, Any]], endpoint: str, region: str
) -> dict[str, dict[str, str]]:
    """Each person an IAM user allowed to assume the people's role; the environment under which their `aws` acts as
    them, by Slack user id."""
    iam = session.client("iam")
    iam.create_role(RoleName=PEOPLE_ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=_TRUST)
    environments = {}
    for slack_id, person in people.items():
        name = str(person["email"])
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        environments[slack_id] = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": region,
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
    return environments


def register(session: Any, cluster: DevCluster, region: str) -> None:
    """The cluster in the local AWS's EKS, so that DescribeCluster gives its endpoint and CA (moto makes up both)."""
    from moto.eks.models import eks_backends

    session.client("eks").create_cluster(
        name=EKS_CLUSTER,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": []},
    )
    described = eks_backends[ACCOUNT][region].clusters[EKS_CLUSTER]
    described.endpoint = cluster.url
    described.certificate_authority = {"data": base64.b64encode(cluster.ca_path.read_bytes()).decode("ascii")}


def cluster_document(channel: str, approvers: list[str], stack_name: str, region: str) -> dict[str, Any]:
    """csrgate's settings for dev-eks: access only (EKS signs no client certificate), people by IAM."""
    return {
        "name": EKS_CLUSTER,
        "kind": "eks",
        "auth": "iam",
        "forwarderRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{stack_name}-forwarder",  # no forwarder runs for it here
        "connection": {"eksClusterName": EKS_CLUSTER, "region": region},
        "slackChannel": channel,
        "approvers": {"users": approvers},
        "access": {
            "eks": {"roleArn": PEOPLE_ROLE, "sessionName": "{email}", "username": "sso:{{SessionName}}"},
            "emailDomains": ["example.com"],
            "namespaces": ["payments", "team-*"],
            "durations": ["1m", "15m", "1h", "8h"],
            "roles": [{"name": "view", "clusterRole": "view"}, {"name": "edit", "clusterRole": "edit"}],
        },
    }
