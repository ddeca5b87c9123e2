"""The cluster adapter: connections to EKS and other clusters, the CSR operations csrgate performs there, the
Node reads that bind a kubelet's serving certificate to its node, and the Events that show where a CSR stands."""

from csrgate.adapters.cluster.connections import (
    ClusterConnection,
    EksConnection,
    KubeconfigConnection,
    SecretConnection,
    TokenConnection,
)
from csrgate.adapters.cluster.csrs import KubernetesCsrs
from csrgate.adapters.cluster.events import KubernetesEvents
from csrgate.adapters.cluster.nodes import KubernetesNodes

__all__ = [
    "ClusterConnection",
    "KubernetesCsrs",
    "KubernetesEvents",
    "KubernetesNodes",
    "EksConnection",
    "KubeconfigConnection",
    "SecretConnection",
    "TokenConnection",
]
