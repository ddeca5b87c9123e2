"""A local Kubernetes API for CertificateSigningRequests: kube-apiserver plus the csrsigning controller, in small."""

from devstack.cluster.server import DevCluster, run_dev_cluster

__all__ = ["DevCluster", "run_dev_cluster"]
