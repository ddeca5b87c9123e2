"""The dev cluster's EKS token authentication in parts: reading a token and its presigned URL as aws-iam-authenticator's
Verify does, the 15-minute window, mapping a caller to a user as EKS access entries do (the username template filled
as renderTemplate fills it), and the local STS that checks the SigV4 signature moto does not."""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from eks_tokens import decode_token as url_in
from eks_tokens import eks_token, encode_token, query_of, token_client, with_query, without
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from devstack.aws import sts_caller_identity
from devstack.cluster.auth import Authenticator, UserInfo
from devstack.cluster.eks_auth import (
    AccessEntry,
    Caller,
    EksAuthentication,
    EksTokenAuthenticator,
    RefusedToken,
    caller_from_arn,
    check_age,
    decode_token,
    principal_key,
    read_presigned_url,
    render_username,
)

ENDPOINT = "http://127.0.0.1:4566"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/k8s-people"
ASSUMED = f"arn:aws:sts::{ACCOUNT}:assumed-role/k8s-people/dana@example.com"
SIGNED_AT = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)


def made_up_session() -> Any:
    return boto3.session.Session(
        aws_access_key_id="ASIAEXAMPLEEXAMPLE01",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        aws_session_token="session-token",
        region_name="eu-west-1",
    )


def presigned(cluster_id: str = "dev-eks") -> str:
    """A presigned GetCallerIdentity URL for ENDPOINT, made offline (presigning sends nothing)."""
    return url_in(eks_token(token_client(made_up_session(), endpoint_url=ENDPOINT), cluster_id))


class Sts:
    """STS in memory: answers `arn` and remembers what it was asked."""

    def __init__(self, arn: str | None = ASSUMED) -> None:
        self.arn = arn
        self.asked: list[tuple[str, dict[str, str]]] = []

    def __call__(self, url: str, headers: Mapping[str, str]) -> str | None:
        self.asked.append((url, dict(headers)))
        return self.arn


def authenticator(sts: Any, entries: Mapping[str, AccessEntry] | None = None, **settings: Any) -> EksTokenAuthenticator:
    entries = {ROLE_ARN: AccessEntry("sso:{{SessionName}}")} if entries is None else entries
    settings.setdefault("clock", lambda: datetime.datetime.now(datetime.UTC))
    return EksTokenAuthenticator(EksAuthentication("dev-eks", ENDPOINT, sts, entries, **settings))


# --- the token and its URL -----------------------------------------------------------------------------------------


def test_a_token_holds_the_presigned_url_in_unpadded_base64url() -> None:
    url = presigned()
    assert decode_token(encode_token(url)) == url


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("k8s-aws-v2." + encode_token("https://x/").split(".", 1)[1], id="another-prefix"),
        pytest.param("Bearer k8s-aws-v1.aHR0cHM6Ly94Lw", id="not-at-the-start"),
        pytest.param("k8s-aws-v1.aHR0cHM6Ly94Lw==", id="padded"),
        pytest.param("k8s-aws-v1.aHR0c+M6Ly94Lw", id="standard-alphabet"),
        pytest.param("k8s-aws-v1.aHR0c HM6Ly94Lw", id="a-space"),
        pytest.param("k8s-aws-v1.", id="empty"),
        pytest.param("k8s-aws-v1.aHR0cHM6L", id="a-length-base64-never-has"),
        pytest.param(encode_token("https://x/?é"), id="not-ascii"),
        pytest.param(encode_token("https://sts.amazonaws.com/?" + "a" * 4096), id="too-long"),
    ],
)
def test_a_token_not_exactly_of_that_form_is_refused(token: str) -> None:
    with pytest.raises(RefusedToken):
        decode_token(token)


def test_a_presigned_url_gives_its_access_key_and_signing_time() -> None:
    url = presigned()
    request = read_presigned_url(url, ENDPOINT)
    signed_at = datetime.datetime.strptime(query_of(url)["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    assert (request.url, request.access_key_id, request.signed_at) == (url, "ASIAEXAMPLEEXAMPLE01", signed_at)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda url: url.replace("http://", "https://"), "unexpected STS endpoint"),
        (lambda url: url.replace("127.0.0.1:4566", "sts.amazonaws.com"), "unexpected STS endpoint"),
        (lambda url: url.replace("127.0.0.1:4566", "user@127.0.0.1:4566"), "unexpected STS endpoint"),
        (lambda url: url.replace("4566/?", "4566/other?"), "unexpected path"),
        (lambda url: url + "#fragment", "unexpected path"),
        (lambda url: url + "&RoleArn=x", "not allowed"),
        (lambda url: url + "&Action=GetCallerIdentity", "more than once"),
        (lambda url: url + "&action=GetCallerIdentity", "more than once"),
        (lambda url: url + ";x=y", "cannot be read|semicolon"),
        (lambda url: url.replace("Action=GetCallerIdentity", "Action=AssumeRole"), "not GetCallerIdentity"),
        (lambda url: url.replace("Version=2011-06-15", "Version=2012-01-01"), "not GetCallerIdentity"),
        (lambda url: url.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), "algorithm"),
        (lambda url: with_query(url, X_Amz_SignedHeaders="host"), "not both signed"),
        (lambda url: with_query(url, X_Amz_SignedHeaders="x-k8s-aws-id"), "not both signed"),
        (lambda url: with_query(url, X_Amz_Expires="901"), "X-Amz-Expires"),
        (lambda url: with_query(url, X_Amz_Expires="-1"), "X-Amz-Expires"),
        (lambda url: with_query(url, X_Amz_Expires="9" * 5000), "cannot be read|X-Amz-Expires"),
        (lambda url: with_query(url, X_Amz_Date="2026-03-02T09:30:00Z"), "X-Amz-Date"),
        (lambda url: with_query(url, X_Amz_Date="20261302T093000Z"), "not a time"),
        (lambda url: with_query(url, X_Amz_Credential="/20260302/eu-west-1/sts/aws4_request"), "no access key"),
        (lambda url: without(url, "X-Amz-Signature"), "missing: x-amz-signature"),
        (lambda url: without(url, "Version"), "missing: version"),
    ],
)
def test_a_url_verify_would_refuse_is_refused(change: Any, reason: str) -> None:
    with pytest.raises(RefusedToken, match=reason):
        read_presigned_url(change(presigned()), ENDPOINT)


@pytest.mark.parametrize(
    ("shift", "accepted"),
    [
        (datetime.timedelta(minutes=15), True),  # Verify refuses only once now is after X-Amz-Date + 15 minutes
        (datetime.timedelta(minutes=15, seconds=1), False),
        (datetime.timedelta(), True),
        (-datetime.timedelta(minutes=5), True),  # a clock up to five minutes behind the signer's
        (-datetime.timedelta(minutes=5, seconds=1), False),
    ],
)
def test_a_url_is_good_for_fifteen_minutes_after_its_date(shift: datetime.timedelta, accepted: bool) -> None:
    if accepted:
        check_age(SIGNED_AT, SIGNED_AT + shift)
    else:
        with pytest.raises(RefusedToken):
            check_age(SIGNED_AT, SIGNED_AT + shift)


# --- who the caller is and what their access entry makes them -------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "caller"),
    [
        (ASSUMED, Caller(ASSUMED, ROLE_ARN, ACCOUNT, "dana@example.com")),
        (
            f"arn:aws:iam::{ACCOUNT}:user/ops/deployer",
            Caller(f"arn:aws:iam::{ACCOUNT}:user/ops/deployer", f"arn:aws:iam::{ACCOUNT}:user/ops/deployer", ACCOUNT),
        ),
        (
            f"arn:aws:iam::{ACCOUNT}:root",
            Caller(f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT),
        ),
        (
            "arn:aws-cn:sts::210987654321:assumed-role/admin/i-0123",
            Caller(
                "arn:aws-cn:sts::210987654321:assumed-role/admin/i-0123",
                "arn:aws-cn:iam::210987654321:role/admin",
                "210987654321",
                "i-0123",
            ),
        ),
    ],
)
def test_an_assumed_role_is_its_iam_role_in_a_session_and_anyone_else_is_their_own_principal(
    arn: str, caller: Caller
) -> None:
    assert caller_from_arn(arn) == caller


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "arn:aws:sts::123456789012:assumed-role/k8s-people",
        "arn:aws:sts::123456789012:assumed-role//dana",
        "arn:aws:s3:::bucket/key",
        "arn:aws:iam::123456789012:group/admins",
        "arn:aws:iam::12345:user/short-account",
        "arn:aws:iam:eu-west-1:123456789012:user/regional",
        "arn:other:iam::123456789012:user/bob",
    ],
)
def test_an_arn_that_names_no_iam_identity_is_refused(arn: str) -> None:
    with pytest.raises(RefusedToken):
        caller_from_arn(arn)


def test_a_role_entry_matches_without_its_path_and_whatever_the_case() -> None:
    assert principal_key(f"arn:aws:iam::{ACCOUNT}:role/teams/platform/K8s-People") == principal_key(ROLE_ARN)
    assert principal_key(f"arn:aws:iam::{ACCOUNT}:user/ops/deployer") != principal_key(
        f"arn:aws:iam::{ACCOUNT}:user/deployer"
    )


@pytest.mark.parametrize(
    ("template", "username"),
    [
        ("sso:{{SessionName}}", "sso:dana-example.com"),
        ("{{SessionNameRaw}}", "dana@example.com"),
        ("{{AccountID}}:{{SessionName}}", f"{ACCOUNT}:dana-example.com"),
        ("key-{{AccessKeyID}}", "key-ASIAEXAMPLE"),
        ("plain", "plain"),
    ],
)
def test_the_username_template_is_filled_as_aws_iam_authenticator_fills_it(template: str, username: str) -> None:
    caller = Caller(ASSUMED, ROLE_ARN, ACCOUNT, "dana@example.com")
    assert render_username(template, caller, "ASIAEXAMPLE") == username


def test_a_session_name_is_never_read_as_a_placeholder() -> None:
    caller = Caller(ASSUMED, ROLE_ARN, ACCOUNT, "{{AccountID}}")
    assert render_username("{{SessionNameRaw}}", caller, "ASIAEXAMPLE") == "{{AccountID}}"


def test_an_entry_with_a_placeholder_the_cluster_cannot_fill_fails_when_the_cluster_is_set_up() -> None:
    with pytest.raises(ValueError, match="EC2PrivateDNSName"):
        authenticator(Sts(), {ROLE_ARN: AccessEntry("system:node:{{EC2PrivateDNSName}}")})


# --- the authenticator, with STS in memory ---------------------------------------------------------------------------


def test_sts_is_asked_with_this_cluster_s_id_and_the_entry_names_the_user() -> None:
    sts = Sts()
    url = presigned()

    user = authenticator(sts, {ROLE_ARN: AccessEntry("sso:{{SessionName}}", ("people",))}).authenticate_token(
        encode_token(url)
    )

    assert sts.asked == [(url, {"x-k8s-aws-id": "dev-eks"})]
    assert user == UserInfo(
        "sso:dana-example.com",
        ("people",),
        extra=(
            ("accessKeyId", ("ASIAEXAMPLEEXAMPLE01",)),
            ("arn", (ASSUMED,)),
            ("canonicalArn", (ROLE_ARN,)),
            ("sessionName", ("dana@example.com",)),
        ),
    )


def test_the_cluster_adds_system_authenticated_to_an_eks_user_and_keeps_its_extra() -> None:
    eks = authenticator(Sts())
    user = Authenticator({}, eks).authenticate(None, "Bearer " + encode_token(presigned()))
    assert user is not None
    assert (user.username, user.groups) == ("sso:dana-example.com", ("system:authenticated",))
    assert dict(user.extra)["sessionName"] == ("dana@example.com",)


def test_a_cluster_without_eks_authentication_does_not_know_eks_tokens() -> None:
    assert Authenticator({}).authenticate(None, "Bearer " + encode_token(presigned())) is None


class Unreachable:
    def __call__(self, url: str, headers: Mapping[str, str]) -> str | None:
        raise ConnectionError("STS is down")


@pytest.mark.parametrize(
    ("sts", "entries"),
    [
        pytest.param(Sts(None), None, id="sts-refuses"),
        pytest.param(Unreachable(), None, id="sts-unreachable"),
        pytest.param(Sts("not an arn"), None, id="sts-answers-nonsense"),
        pytest.param(Sts(), {f"arn:aws:iam::{ACCOUNT}:role/other": AccessEntry("x")}, id="no-access-entry"),
        pytest.param(
            Sts(f"arn:aws:iam::{ACCOUNT}:user/deployer"),
            {f"arn:aws:iam::{ACCOUNT}:user/deployer": AccessEntry("{{SessionName}}")},
            id="empty-username",
        ),
    ],
)
def test_a_token_sts_or_the_access_entries_do_not_vouch_for_is_refused(sts: Any, entries: Any) -> None:
    assert authenticator(sts, entries).authenticate_token(encode_token(presigned())) is None


def test_an_expired_token_is_refused_without_asking_sts() -> None:
    sts = Sts()
    url = presigned()
    signed_at = read_presigned_url(url, ENDPOINT).signed_at
    later = authenticator(sts, clock=lambda: signed_at + datetime.timedelta(minutes=16))
    assert later.authenticate_token(encode_token(url)) is None
    assert sts.asked == []


@functools.cache
def sample_url() -> str:
    """One presigned URL for the property tests, made the first time one asks (never at collection)."""
    return presigned()


def at_signing(sts: Any) -> EksTokenAuthenticator:
    """An authenticator whose clock stands at the sample URL's X-Amz-Date, so every example is in its window."""
    signed_at = read_presigned_url(sample_url(), ENDPOINT).signed_at
    return authenticator(sts, clock=lambda: signed_at)


PARAMETERS = ["Action", "Version", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
              "X-Amz-Security-Token", "X-Amz-SignedHeaders", "X-Amz-Signature"]  # fmt: skip


@given(st.text(max_size=600))
def test_no_text_after_the_prefix_makes_the_authenticator_raise(text: str) -> None:
    assert at_signing(Sts()).authenticate_token("k8s-aws-v1." + text) is None


@given(st.text(max_size=600))
def test_no_url_in_a_well_formed_token_makes_the_authenticator_raise(url: str) -> None:
    assert at_signing(Sts()).authenticate_token(encode_token(url)) is None


@given(st.dictionaries(st.sampled_from(PARAMETERS), st.text(max_size=40)))
def test_no_query_values_make_the_authenticator_raise(changes: dict[str, str]) -> None:
    url = with_query(sample_url(), **{name.replace("-", "_"): value for name, value in changes.items()})
    at_signing(Sts()).authenticate_token(encode_token(url))


@given(st.text(max_size=200))
def test_no_answer_from_sts_makes_the_authenticator_raise(arn: str) -> None:
    at_signing(Sts(arn)).authenticate_token(encode_token(sample_url()))


# --- the local STS checks the signature ------------------------------------------------------------------------------


@pytest.fixture
def aws() -> Any:
    """moto in this process, with a role and an IAM user whose keys may assume it."""
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_role(RoleName="k8s-people", Path="/teams/", AssumeRolePolicyDocument=json.dumps({"Statement": []}))
        iam.create_user(UserName="dana")
        key = iam.create_access_key(UserName="dana")["AccessKey"]
        yield boto3.session.Session(
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name="eu-west-1"
        )


def assumed(session: Any) -> Any:
    credentials = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/teams/k8s-people", RoleSessionName="dana@example.com"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="eu-west-1",
    )


def signed_url(session: Any, cluster_id: str = "dev-eks") -> str:
    return url_in(eks_token(token_client(session), cluster_id))


def test_the_local_sts_names_the_signer_of_a_presigned_request_as_moto_would(aws: Any) -> None:
    headers = {"x-k8s-aws-id": "dev-eks"}
    assert sts_caller_identity(signed_url(aws), headers) == f"arn:aws:iam::{ACCOUNT}:user/dana"
    # an assumed role's ARN names the role without its path, as STS's does
    assert sts_caller_identity(signed_url(assumed(aws)), headers) == ASSUMED


def test_the_local_sts_refuses_a_request_whose_signature_does_not_hold(aws: Any) -> None:
    role = assumed(aws)
    url = signed_url(role)
    other_session = assumed(aws)
    date = query_of(url)["X-Amz-Date"]
    refused = {
        "another cluster id": (url, {"x-k8s-aws-id": "prod-eks"}),
        "no cluster id": (url, {}),
        "another date": (with_query(url, X_Amz_Date=date[:-2] + ("00" if date[-2:] != "00" else "01")), None),
        "another session token": (
            with_query(url, X_Amz_Security_Token=other_session.get_credentials().token),
            None,
        ),
        "no session token": (without(url, "X-Amz-Security-Token"), None),
        "an unknown key": (signed_url(made_up_session()), None),
        "a header signed but not sent": (with_query(url, X_Amz_SignedHeaders="host;x-k8s-aws-id;x-other"), None),
        "host not signed": (with_query(url, X_Amz_SignedHeaders="x-k8s-aws-id"), None),
        "another action": (url.replace("GetCallerIdentity", "GetSessionToken"), None),
    }
    for what, (changed, headers) in refused.items():
        sent = {"x-k8s-aws-id": "dev-eks"} if headers is None else headers
        assert (what, sts_caller_identity(changed, sent)) == (what, None)


def test_the_local_sts_refuses_a_user_key_once_it_is_made_inactive(aws: Any) -> None:
    url = signed_url(aws)
    key_id = aws.get_credentials().access_key
    boto3.client("iam", region_name="us-east-1").update_access_key(
        UserName="dana", AccessKeyId=key_id, Status="Inactive"
    )
    assert sts_caller_identity(url, {"x-k8s-aws-id": "dev-eks"}) is None
