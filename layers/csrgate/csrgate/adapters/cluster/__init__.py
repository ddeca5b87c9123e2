"""The cluster adapter: connections to EKS and other clusters, and the CSR operations csrgate performs there."""

from csrgate.adapters.cluster.connections import (
    ClusterConnection,
    EksConnection,
    KubeconfigConnection,
    SecretConnection,
    TokenConnection,
)
from csrgate.adapters.cluster.csrs import ClusterCsrs, CsrSnapshot

__all__ = [
    "ClusterConnection",
    "ClusterCsrs",
    "CsrSnapshot",
    "EksConnection",
    "KubeconfigConnection",
    "SecretConnection",
    "TokenConnection",
]
