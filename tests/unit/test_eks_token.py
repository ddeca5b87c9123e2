"""EKS bearer tokens made as `aws eks get-token` makes them, checked by decoding the presigned URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from csrgate.adapters.cluster import EksConnection
from csrgate.adapters.cluster.eks import EksTokenSource, describe_eks_cluster
from csrgate.domain.errors import PermanentFailure

ACCESS_KEY, SECRET_KEY = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def sts_client(region: str = "eu-west-1") -> Any:
    return boto3.client("sts", region_name=region, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def presigned_url(token: str) -> urllib.parse.SplitResult:
    encoded = token.removeprefix("k8s-aws-v1.")
    return urllib.parse.urlsplit(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())


def sigv4_query_signature(url: urllib.parse.SplitResult, signed_headers: dict[str, str], region: str) -> str:
    """The SigV4 signature of a presigned GET, computed from the AWS documentation's algorithm, not botocore."""
    query = urllib.parse.parse_qsl(url.query)
    canonical_query = "&".join(
        f"{urllib.parse.quote(key, safe='-_.~')}={urllib.parse.quote(value, safe='-_.~')}"
        for key, value in sorted(query)
        if key != "X-Amz-Signature"
    )
    headers = "".join(f"{name}:{value}\n" for name, value in sorted(signed_headers.items()))
    empty_payload = hashlib.sha256(b"").hexdigest()
    canonical = "\n".join(["GET", "/", canonical_query, headers, ";".join(sorted(signed_headers)), empty_payload])
    date = dict(query)["X-Amz-Date"]
    scope = f"{date[:8]}/{region}/sts/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (date[:8], region, "sts", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_the_token_is_a_presigned_get_caller_identity_url_for_sixty_seconds() -> None:
    token = EksTokenSource(sts_client(), "prod-cluster").token()

    url = presigned_url(token)
    query = dict(urllib.parse.parse_qsl(url.query))
    assert token.startswith("k8s-aws-v1.")
    assert "=" not in token and "+" not in token and "/" not in token  # base64url without padding
    assert (url.scheme, url.netloc, url.path) == ("https", "sts.eu-west-1.amazonaws.com", "/")
    assert query["Action"] == "GetCallerIdentity"
    assert query["Version"] == "2011-06-15"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-Credential"].startswith(f"{ACCESS_KEY}/")


def test_the_cluster_name_header_is_signed_into_the_url() -> None:
    token = EksTokenSource(sts_client("ap-southeast-2"), "prod-cluster").token()

    url = presigned_url(token)
    query = dict(urllib.parse.parse_qsl(url.query))
    signed = {"host": url.netloc, "x-k8s-aws-id": "prod-cluster"}
    assert query["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    assert query["X-Amz-Signature"] == sigv4_query_signature(url, signed, "ap-southeast-2")
    # the same URL claiming another cluster would not verify
    assert query["X-Amz-Signature"] != sigv4_query_signature(url, {**signed, "x-k8s-aws-id": "other"}, "ap-southeast-2")


def test_a_token_is_reused_within_ten_minutes_and_made_again_after() -> None:
    clock, sts = Clock(), sts_client()
    signings: list[str] = []
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", lambda **kwargs: signings.append("signed"))
    tokens = EksTokenSource(sts, "prod-cluster", clock)

    first = tokens.token()
    clock.now += 9 * 60 + 59
    second = tokens.token()
    clock.now += 1
    tokens.token()

    assert second == first
    assert len(signings) == 2


def test_the_eks_connection_describes_the_cluster_once_and_sends_a_fresh_token() -> None:
    with mock_aws():
        eks = boto3.client("eks", region_name="eu-west-1")
        eks.create_cluster(name="prod", roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={})
        described = eks.describe_cluster(name="prod")["cluster"]
        clock = Clock()
        connection = EksConnection("prod", eks, sts_client(), clock)

        endpoint = connection.endpoint()
        configuration = connection.api_client().configuration
        first = configuration.get_api_key_with_prefix("authorization")
        clock.now += 11 * 60
        later = configuration.get_api_key_with_prefix("authorization")

    assert endpoint.server == described["endpoint"] == configuration.host
    assert endpoint.ca_pem == base64.b64decode(described["certificateAuthority"]["data"])
    assert Path(configuration.ssl_ca_cert).read_bytes() == endpoint.ca_pem
    assert first.startswith("Bearer k8s-aws-v1.")
    assert presigned_url(later.removeprefix("Bearer ")).netloc == "sts.eu-west-1.amazonaws.com"


def test_a_cluster_eks_does_not_know_is_a_permanent_failure() -> None:
    with mock_aws():
        eks = boto3.client("eks", region_name="eu-west-1")
        with pytest.raises(PermanentFailure, match="describing EKS cluster missing: AWS answered ResourceNotFound"):
            describe_eks_cluster(eks, "missing")
