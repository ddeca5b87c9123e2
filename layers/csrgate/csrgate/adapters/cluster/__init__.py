"""The cluster adapter: connections to EKS and other clusters, the CSR operations csrgate performs there, and
the Node reads that bind a kubelet's serving certificate to its node."""

from csrgate.adapters.cluster.connections import (
    ClusterConnection,
    EksConnection,
    KubeconfigConnection,
    SecretConnection,
    TokenConnection,
)
from csrgate.adapters.cluster.csrs import ClusterCsrs, CsrSnapshot
from csrgate.adapters.cluster.nodes import ClusterNodes

__all__ = [
    "ClusterConnection",
    "ClusterCsrs",
    "ClusterNodes",
    "CsrSnapshot",
    "EksConnection",
    "KubeconfigConnection",
    "SecretConnection",
    "TokenConnection",
]
