"""EKS tokens made as `aws eks get-token` makes them (awscli customizations/eks/get_token.py: STSClientFactory adds the
`x-k8s-aws-id` header before signing, TokenGenerator presigns GetCallerIdentity for 60 s and encodes the URL), and the
edits someone holding a token could make to it. Unit and integration tests both use it (`from eks_tokens import ...`).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
URL_TIMEOUT = 60


def token_client(session: Any, operation: str = "GetCallerIdentity", **client_args: Any) -> Any:
    """An STS client from a boto3 session that signs `x-k8s-aws-id` into `operation`'s requests, as
    STSClientFactory._register_k8s_aws_id_handlers does for GetCallerIdentity."""
    sts = session.client("sts", **client_args)
    sts.meta.events.register(f"provide-client-params.sts.{operation}", _take_cluster_id)
    sts.meta.events.register(f"before-sign.sts.{operation}", _add_cluster_id_header)
    return sts


def presigned_url(sts: Any, cluster_id: str, operation: str = "get_caller_identity") -> str:
    """TokenGenerator._get_presigned_url: a GET of `operation`, presigned for 60 s, for cluster `cluster_id`."""
    return str(
        sts.generate_presigned_url(
            operation, Params={CLUSTER_ID_HEADER: cluster_id}, ExpiresIn=URL_TIMEOUT, HttpMethod="GET"
        )
    )


def encode_token(url: str) -> str:
    """TokenGenerator.get_token: the prefix and the URL in base64url without padding."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


def eks_token(sts: Any, cluster_id: str) -> str:
    """A token for `cluster_id`, exactly as `aws eks get-token --cluster-name <cluster_id>` prints it."""
    return encode_token(presigned_url(sts, cluster_id))


def decode_token(token: str) -> str:
    """The presigned URL inside a token."""
    encoded = token.removeprefix(TOKEN_PREFIX)
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("ascii")


def query_of(url: str) -> dict[str, str]:
    """The URL's query parameters."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def with_query(url: str, **changes: str) -> str:
    """The URL with some query parameters given other values (`X_Amz_Date` for X-Amz-Date), the order kept."""
    wanted = {name.replace("_", "-"): value for name, value in changes.items()}
    parts = urlsplit(url)
    pairs = [(key, wanted.get(key, value)) for key, value in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe="")))


def without(url: str, name: str) -> str:
    """The URL without query parameter `name`."""
    parts = urlsplit(url)
    pairs = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != name]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe="")))


def _take_cluster_id(params: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
    if CLUSTER_ID_HEADER in params:
        context[CLUSTER_ID_HEADER] = params.pop(CLUSTER_ID_HEADER)


def _add_cluster_id_header(request: Any, **kwargs: Any) -> None:
    if CLUSTER_ID_HEADER in request.context:
        request.headers[CLUSTER_ID_HEADER] = request.context[CLUSTER_ID_HEADER]
