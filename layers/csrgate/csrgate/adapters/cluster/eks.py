"""Reaching an EKS cluster: endpoint and CA from DescribeCluster, and the bearer token `aws eks get-token` makes.

The token is `k8s-aws-v1.` followed by the unpadded base64url of an STS GetCallerIdentity URL, presigned for
60 seconds with the `x-k8s-aws-id: <cluster name>` header signed in (awscli customizations/eks/get_token.py).
EKS accepts such a token for 15 minutes after it was signed; it is kept per warm container and made again
well before that.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Any

from csrgate.adapters.cluster.errors import translated
from csrgate.domain.errors import PermanentFailure
from csrgate.domain.kubeconfig import ClusterEndpoint

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - the token format's fixed prefix, not a token
CLUSTER_ID_HEADER = "x-k8s-aws-id"
URL_EXPIRES_SECONDS = 60
TOKEN_LIFETIME_SECONDS = 15 * 60
REFRESH_MARGIN_SECONDS = 5 * 60  # make a new token once the current one has less than this left


class EksTokenSource:
    """Bearer tokens for one EKS cluster, made with the given STS client (its region picks the STS endpoint)."""

    def __init__(self, sts_client: Any, cluster_name: str, clock: Callable[[], float] = time.time) -> None:
        self._sts = sts_client
        self._cluster_name = cluster_name
        self._clock = clock
        self._token = ""
        self._made_at = 0.0
        self._lock = threading.Lock()
        # As `aws eks get-token` does: carry the cluster name from the call's parameters to the request, and
        # add it as a header before signing, so the signature covers it.
        # unique_id keeps a client shared by several token sources from getting the handlers twice.
        events = sts_client.meta.events
        events.register(
            "provide-client-params.sts.GetCallerIdentity", _take_cluster_id, unique_id="csrgate-eks-take-cluster-id"
        )
        events.register(
            "before-sign.sts.GetCallerIdentity", _add_cluster_id_header, unique_id="csrgate-eks-add-cluster-id-header"
        )

    def token(self) -> str:
        """A token with at least REFRESH_MARGIN_SECONDS of life left."""
        with self._lock:
            now = self._clock()
            if not self._token or now - self._made_at >= TOKEN_LIFETIME_SECONDS - REFRESH_MARGIN_SECONDS:
                self._token = self._make_token()
                self._made_at = now
            return self._token

    def _make_token(self) -> str:
        with translated(f"presigning an STS GetCallerIdentity URL for EKS cluster {self._cluster_name}"):
            url = self._sts.generate_presigned_url(
                "get_caller_identity",
                Params={CLUSTER_ID_HEADER: self._cluster_name},
                ExpiresIn=URL_EXPIRES_SECONDS,
                HttpMethod="GET",
            )
        return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


def describe_eks_cluster(eks_client: Any, cluster_name: str) -> ClusterEndpoint:
    """The cluster's API endpoint and CA, from eks:DescribeCluster."""
    with translated(f"describing EKS cluster {cluster_name}"):
        cluster = eks_client.describe_cluster(name=cluster_name)["cluster"]
    endpoint = cluster.get("endpoint")
    ca_data = (cluster.get("certificateAuthority") or {}).get("data")
    if not endpoint or not ca_data:
        status = cluster.get("status", "unknown")
        raise PermanentFailure(f"EKS cluster {cluster_name} has no endpoint or CA yet (status {status})")
    return ClusterEndpoint(cluster_name, endpoint, base64.b64decode(ca_data))


def _take_cluster_id(params: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
    if CLUSTER_ID_HEADER in params:
        context[CLUSTER_ID_HEADER] = params.pop(CLUSTER_ID_HEADER)


def _add_cluster_id_header(request: Any, **kwargs: Any) -> None:
    if CLUSTER_ID_HEADER in request.context:
        request.headers[CLUSTER_ID_HEADER] = request.context[CLUSTER_ID_HEADER]
