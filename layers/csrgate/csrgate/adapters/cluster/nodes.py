"""Reading Node objects: the addresses a node's kubelet may put in its serving certificate.

What comes back is a domain value (csrgate.domain.nodes.NodeAddress), never a Kubernetes client object; a Node
that does not exist is None, every other failure leaves as RetryLater or PermanentFailure.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from csrgate.adapters.cluster.connections import ClusterConnection
from csrgate.adapters.cluster.csrs import REQUEST_TIMEOUT
from csrgate.adapters.cluster.errors import translated
from csrgate.domain.errors import RetryLater
from csrgate.domain.nodes import NodeAddress


class KubernetesNodes:
    """Node reads on one cluster (the worker needs `get` on `nodes`)."""

    def __init__(self, connection: ClusterConnection, request_timeout: tuple[float, float] = REQUEST_TIMEOUT) -> None:
        self._connection = connection
        self._timeout = request_timeout

    def addresses(self, name: str) -> tuple[NodeAddress, ...] | None:
        """The Node's status.addresses in the order listed, or None when the cluster has no Node of that name."""
        doing = f"reading Node {name}"
        with translated(doing):
            try:
                # Read as JSON rather than V1Node: the client's models raise ValueError on an address without a
                # type, which would leave this edge untranslated; such an entry is simply not an address here.
                answer = CoreV1Api(self._connection.api_client()).read_node(
                    name, _request_timeout=self._timeout, _preload_content=False
                )
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            try:
                body = answer.data
            finally:
                answer.release_conn()
        try:
            node = json.loads(body)
        except ValueError as exc:
            raise RetryLater(f"{doing}: the cluster answered something that is not JSON") from exc
        return _addresses(node)


def _addresses(node: Any) -> tuple[NodeAddress, ...]:
    status = node.get("status") if isinstance(node, dict) else None
    listed = status.get("addresses") if isinstance(status, dict) else None
    return tuple(
        NodeAddress(entry["type"], entry["address"])
        for entry in listed or []
        if isinstance(entry, dict) and isinstance(entry.get("type"), str) and isinstance(entry.get("address"), str)
    )
