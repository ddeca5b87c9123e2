"""The dev cluster authenticates as an EKS cluster does. A person assumes an IAM role in the local AWS and runs what
`aws eks get-token` runs; kubectl sends the token; the cluster asks the local STS (which checks the signature, as STS
does) who signed it, and the access entry for that role names the user. `kubectl auth whoami` shows who that is, and
answers Unauthorized for every token EKS would refuse."""

from __future__ import annotations

import datetime
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from eks_tokens import decode_token, eks_token, encode_token, presigned_url, query_of, token_client, with_query

from csrgate.adapters.cluster.eks import EksTokenSource
from devstack.aws import LocalAws, sts_caller_identity
from devstack.cluster import DevCluster
from devstack.cluster.eks_auth import AccessEntry, EksAuthentication
from devstack.cluster.kubeconfigs import kubeconfig, token_credentials, write_kubeconfig
from devstack.harness import Kubectl, free_port

CLUSTER_ID = "dev-eks"
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # the account moto serves when no other is asked for
PEOPLE_ROLE = "k8s-people"
STRANGERS_ROLE = "k8s-strangers"  # a role with no access entry
DEPLOYER = "deployer"  # an IAM user with an access entry of its own
UNAUTHORIZED = "error: You must be logged in to the server (Unauthorized)"


class ShiftedClock:
    """The cluster's clock: the wall clock (tokens are signed with it), moved by `shift` for a test."""

    def __init__(self) -> None:
        self.shift = datetime.timedelta()

    def __call__(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + self.shift


@dataclass
class LocalAccount:
    """The local AWS, and a person in it: Dana, an IAM user whose keys may assume the account's roles."""

    endpoint: str
    dana: Any  # a boto3 session with Dana's keys
    dana_key_id: str
    deployer: Any  # a boto3 session with the deployer user's keys

    def assume(self, role: str, session_name: str) -> Any:
        """A boto3 session with the credentials AssumeRole gives Dana for `role`."""
        credentials = self.dana.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName=session_name
        )["Credentials"]
        return boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )


@pytest.fixture(scope="module")
def account() -> Iterator[LocalAccount]:
    """The local AWS on a free port, this process's AWS settings pointing at it, the roles and users made."""
    port = free_port()
    local = LocalAws(port).start()
    endpoint = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as patch:
        settings = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "dev",
            "AWS_SECRET_ACCESS_KEY": "dev",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
        for name, value in settings.items():
            patch.setenv(name, value)
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        iam = boto3.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
        for role in (PEOPLE_ROLE, STRANGERS_ROLE):
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
        sessions = {}
        for user in ("dana", DEPLOYER):
            iam.create_user(UserName=user)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            sessions[user] = boto3.session.Session(
                aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION
            )
        dana_key_id = sessions["dana"].get_credentials().access_key
        try:
            yield LocalAccount(endpoint, sessions["dana"], dana_key_id, sessions[DEPLOYER])
        finally:
            local.stop()


@pytest.fixture(scope="module")
def eks_cluster(account: LocalAccount, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevCluster, Any]]:
    """A dev cluster that authenticates EKS tokens for cluster id dev-eks against the local STS, with two access
    entries: the role k8s-people (username sso:{{SessionName}}, no groups) and the user deployer."""
    clock = ShiftedClock()
    eks = EksAuthentication(
        cluster_id=CLUSTER_ID,
        sts_endpoint=account.endpoint,
        caller_identity=sts_caller_identity,
        access_entries={
            f"arn:aws:iam::{ACCOUNT}:role/{PEOPLE_ROLE}": AccessEntry("sso:{{SessionName}}"),
            f"arn:aws:iam::{ACCOUNT}:user/{DEPLOYER}": AccessEntry(DEPLOYER, ("deployers",)),
        },
        clock=clock,
    )
    cluster = DevCluster(tmp_path_factory.mktemp("eks-cluster"), eks=eks).start()
    yield cluster, clock
    cluster.stop()


@pytest.fixture
def cluster(eks_cluster: tuple[DevCluster, ShiftedClock]) -> DevCluster:
    return eks_cluster[0]


@pytest.fixture
def clock(eks_cluster: tuple[DevCluster, ShiftedClock]) -> Iterator[ShiftedClock]:
    """The cluster's clock, put back after the test."""
    yield eks_cluster[1]
    eks_cluster[1].shift = datetime.timedelta()


@pytest.fixture
def dana_token(account: LocalAccount) -> str:
    """What `aws eks get-token --cluster-name dev-eks` prints for Dana in role k8s-people, session dana@example.com."""
    return eks_token(token_client(account.assume(PEOPLE_ROLE, "dana@example.com")), CLUSTER_ID)


def whoami(cluster: DevCluster, home: Path, token: str, *output: str) -> subprocess.CompletedProcess[str]:
    """`kubectl auth whoami` with a kubeconfig whose user has `token: <token>`."""
    home.mkdir(exist_ok=True)
    config = home / f"{uuid.uuid4().hex[:8]}.kubeconfig"
    write_kubeconfig(config, kubeconfig(cluster.url, cluster.ca.certificate_pem, "eks-user", token_credentials(token)))
    return Kubectl(home)("auth", "whoami", *output, kubeconfig=config, check=False)


def user_info(cluster: DevCluster, home: Path, token: str) -> dict[str, Any]:
    answer = whoami(cluster, home, token, "-o", "json")
    assert answer.returncode == 0, answer.stderr
    return dict(json.loads(answer.stdout)["status"]["userInfo"])


def assert_refused(cluster: DevCluster, home: Path, token: str) -> None:
    answer = whoami(cluster, home, token)
    assert answer.returncode == 1
    assert UNAUTHORIZED in answer.stderr


def test_a_person_in_an_assumed_role_is_the_user_the_role_s_access_entry_names(
    cluster: DevCluster, account: LocalAccount, dana_token: str, tmp_path: Path
) -> None:
    # GIVEN Dana's token, made as `aws eks get-token` makes it, after assuming k8s-people as dana@example.com
    # WHEN kubectl sends it
    shown = whoami(cluster, tmp_path, dana_token)

    # THEN the cluster knows her by the entry's template, the `@` of her session name made a `-`
    assert shown.returncode == 0, shown.stderr
    rows = [line.split(None, 1) for line in shown.stdout.splitlines()]
    assert ["Username", "sso:dana-example.com"] in rows
    assert ["Groups", "[system:authenticated]"] in rows
    info = user_info(cluster, tmp_path, dana_token)
    key_id = query_of(decode_token(dana_token))["X-Amz-Credential"].split("/")[0]
    assert info["extra"] == {
        "accessKeyId": [key_id],
        "arn": [f"arn:aws:sts::{ACCOUNT}:assumed-role/{PEOPLE_ROLE}/dana@example.com"],
        "canonicalArn": [f"arn:aws:iam::{ACCOUNT}:role/{PEOPLE_ROLE}"],
        "sessionName": ["dana@example.com"],
    }


def test_an_iam_user_is_mapped_by_its_own_arn_with_the_entry_s_groups(
    cluster: DevCluster, account: LocalAccount, tmp_path: Path
) -> None:
    # GIVEN a token made with the deployer user's own keys (no role, no session token)
    token = eks_token(token_client(account.deployer), CLUSTER_ID)

    # WHEN kubectl sends it THEN the user's access entry names it, with its groups
    info = user_info(cluster, tmp_path, token)
    assert (info["username"], info["groups"]) == (DEPLOYER, ["deployers", "system:authenticated"])
    assert info["extra"]["canonicalArn"] == [f"arn:aws:iam::{ACCOUNT}:user/{DEPLOYER}"]
    assert info["extra"]["sessionName"] == [""]


def test_csrgate_s_own_eks_token_source_is_accepted(cluster: DevCluster, account: LocalAccount, tmp_path: Path) -> None:
    # GIVEN csrgate's worker in role k8s-people, making its tokens as it does for a real EKS cluster
    worker = account.assume(PEOPLE_ROLE, "csrgate-worker")
    token = EksTokenSource(worker.client("sts"), CLUSTER_ID).token()

    # WHEN it calls the cluster THEN it is the user its access entry names
    assert user_info(cluster, tmp_path, token)["username"] == "sso:csrgate-worker"


def test_a_token_made_for_another_cluster_is_refused(
    cluster: DevCluster, account: LocalAccount, tmp_path: Path
) -> None:
    # GIVEN Dana's token for another cluster: x-k8s-aws-id prod-eks is signed into it
    token = eks_token(token_client(account.assume(PEOPLE_ROLE, "dana@example.com")), "prod-eks")

    # WHEN she sends it here THEN STS finds the signature wrong for this cluster's id, and the cluster answers 401
    assert_refused(cluster, tmp_path, token)


def test_a_token_is_good_for_fifteen_minutes_after_it_was_signed(
    cluster: DevCluster, clock: ShiftedClock, dana_token: str, tmp_path: Path
) -> None:
    # GIVEN a token, fourteen minutes later, it still works
    clock.shift = datetime.timedelta(minutes=14)
    assert whoami(cluster, tmp_path, dana_token).returncode == 0

    # WHEN sixteen minutes have passed THEN it is refused
    clock.shift = datetime.timedelta(minutes=16)
    assert_refused(cluster, tmp_path, dana_token)


def test_a_token_signed_in_the_cluster_s_future_is_refused(
    cluster: DevCluster, clock: ShiftedClock, dana_token: str, tmp_path: Path
) -> None:
    # GIVEN a token whose X-Amz-Date is ten minutes ahead of the cluster's clock
    clock.shift = -datetime.timedelta(minutes=10)

    # WHEN it is sent THEN it is refused
    assert_refused(cluster, tmp_path, dana_token)


def _ten_seconds_earlier(query: dict[str, str]) -> dict[str, str]:
    signed_at = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    return {"X_Amz_Date": (signed_at - datetime.timedelta(seconds=10)).strftime("%Y%m%dT%H%M%SZ")}


def _flip_last_signature_character(query: dict[str, str]) -> dict[str, str]:
    signature = query["X-Amz-Signature"]
    return {"X_Amz_Signature": signature[:-1] + ("0" if signature[-1] != "0" else "1")}


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_ten_seconds_earlier, id="another-date"),
        pytest.param(_flip_last_signature_character, id="a-signature-character-flipped"),
        pytest.param("another-key", id="another-access-key-in-the-credential"),
    ],
)
def test_a_tampered_url_is_refused(
    cluster: DevCluster, account: LocalAccount, dana_token: str, tamper: Any, tmp_path: Path
) -> None:
    # GIVEN Dana's token, which works
    assert whoami(cluster, tmp_path, dana_token).returncode == 0
    url = decode_token(dana_token)
    query = query_of(url)
    if tamper == "another-key":
        _, *scope = query["X-Amz-Credential"].split("/")
        changes = {"X_Amz_Credential": "/".join([account.dana_key_id, *scope])}
    else:
        changes = tamper(query)

    # WHEN one thing in its URL is changed and the URL encoded again
    tampered = encode_token(with_query(url, **changes))

    # THEN the cluster refuses it
    assert tampered != dana_token
    assert_refused(cluster, tmp_path, tampered)


def test_the_url_encoded_again_unchanged_still_works(cluster: DevCluster, dana_token: str, tmp_path: Path) -> None:
    # (so the tampered tokens above are refused for what was changed, not for how they were encoded)
    again = encode_token(with_query(decode_token(dana_token)))
    assert user_info(cluster, tmp_path, again)["username"] == "sso:dana-example.com"


def test_a_role_without_an_access_entry_is_refused(cluster: DevCluster, account: LocalAccount, tmp_path: Path) -> None:
    # GIVEN Dana in a role the cluster has no access entry for: STS knows her, the cluster does not
    token = eks_token(token_client(account.assume(STRANGERS_ROLE, "dana@example.com")), CLUSTER_ID)

    # WHEN she sends its token THEN it is refused
    assert_refused(cluster, tmp_path, token)


def test_a_key_the_local_aws_never_issued_is_refused(
    cluster: DevCluster, account: LocalAccount, tmp_path: Path
) -> None:
    # GIVEN a well-formed token signed with made-up keys
    made_up = boto3.session.Session(
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region_name=REGION,
    )
    # WHEN it is sent THEN it is refused
    assert_refused(cluster, tmp_path, eks_token(token_client(made_up), CLUSTER_ID))


def test_tokens_that_are_not_a_presigned_get_caller_identity_url_for_the_local_sts_are_refused(
    cluster: DevCluster, account: LocalAccount, tmp_path: Path
) -> None:
    person = account.assume(PEOPLE_ROLE, "dana@example.com")
    port = account.endpoint.rsplit(":", 1)[1]
    refused = {
        "not base64": "k8s-aws-v1.not*base64!",
        "not a URL": encode_token("just some words"),
        # properly signed for this cluster, but for STS GetSessionToken
        "another action": encode_token(
            presigned_url(token_client(person, "GetSessionToken"), CLUSTER_ID, "get_session_token")
        ),
        # properly signed GetCallerIdentity, but for another host (the same local STS under another name)
        "another host": eks_token(token_client(person, endpoint_url=f"http://localhost:{port}"), CLUSTER_ID),
    }
    for what, token in refused.items():
        answer = whoami(cluster, tmp_path, token)
        assert (what, answer.returncode, UNAUTHORIZED in answer.stderr) == (what, 1, True)


def test_the_static_approver_token_still_works(cluster: DevCluster, tmp_path: Path) -> None:
    # GIVEN the approver's kubeconfig (a bearer token from the cluster's token list)
    kubectl = Kubectl.with_copy_of(cluster.approver_kubeconfig, tmp_path / "home")

    # WHEN the approver asks who they are THEN the token list still answers
    info = json.loads(kubectl("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert (info["username"], info["groups"]) == ("csrgate-approver", ["csrgate:approvers", "system:authenticated"])
