"""The cluster adapter: connections to EKS and other clusters, the CSR operations csrgate performs there, and
the Node reads that bind a kubelet's serving certificate to its node."""

from csrgate.adapters.cluster.connections import (
    ClusterConnection,
    EksConnection,
    KubeconfigConnection,
    SecretConnection,
    TokenConnection,
)
from csrgate.adapters.cluster.csrs import KubernetesCsrs
from csrgate.adapters.cluster.nodes import KubernetesNodes

__all__ = [
    "ClusterConnection",
    "KubernetesCsrs",
    "KubernetesNodes",
    "EksConnection",
    "KubeconfigConnection",
    "SecretConnection",
    "TokenConnection",
]
