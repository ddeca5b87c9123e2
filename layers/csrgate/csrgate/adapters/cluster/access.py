"""Connections to the configured clusters, built once per container and kept while it is warm."""

from __future__ import annotations

import threading
from typing import Any

from csrgate.adapters.cluster.bindings import KubernetesBindings
from csrgate.adapters.cluster.connections import ClusterConnection, EksConnection, SecretConnection
from csrgate.adapters.cluster.csrs import KubernetesCsrs
from csrgate.adapters.cluster.events import KubernetesEvents
from csrgate.adapters.cluster.nodes import KubernetesNodes
from csrgate.domain.cluster import ClusterConfig

_Adapters = tuple[KubernetesCsrs, KubernetesNodes, KubernetesBindings, KubernetesEvents]


class ClusterConnections:
    """ClusterAccess for the worker: EKS clusters by name (DescribeCluster, STS tokens), others from a secret."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._made: dict[tuple[str, str], _Adapters] = {}
        self._lock = threading.Lock()

    def csrs(self, cluster: ClusterConfig) -> KubernetesCsrs:
        """CSR operations on the cluster; a changed connection setting makes a new connection."""
        return self._adapters(cluster)[0]

    def nodes(self, cluster: ClusterConfig) -> KubernetesNodes:
        """Node reads on the cluster, over the same connection as its CSR operations."""
        return self._adapters(cluster)[1]

    def bindings(self, cluster: ClusterConfig) -> KubernetesBindings:
        """RBAC binding operations on the cluster, over the same connection as its CSR operations."""
        return self._adapters(cluster)[2]

    def events(self, cluster: ClusterConfig) -> KubernetesEvents:
        """Event writes on the cluster, over the same connection as its CSR operations."""
        return self._adapters(cluster)[3]

    def _adapters(self, cluster: ClusterConfig) -> _Adapters:
        with self._lock:
            key = (cluster.name, cluster.connection.model_dump_json())
            if key not in self._made:
                self._made = {k: v for k, v in self._made.items() if k[0] != cluster.name}
                connection = self._connection(cluster)
                self._made[key] = (
                    KubernetesCsrs(connection),
                    KubernetesNodes(connection),
                    KubernetesBindings(connection),
                    KubernetesEvents(connection),
                )
            return self._made[key]

    def _connection(self, cluster: ClusterConfig) -> ClusterConnection:
        connection = cluster.connection
        if connection.eks_cluster_name:
            region = connection.region
            return EksConnection(
                connection.eks_cluster_name,
                self._session.client("eks", region_name=region),
                self._session.client("sts", region_name=region),
            )
        return SecretConnection(self._session.client("secretsmanager"), str(connection.secret_id), name=cluster.name)
