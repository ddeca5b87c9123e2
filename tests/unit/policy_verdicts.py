"""The verdict of the default policy (or another) on a real CSR, as the policy-rule tests ask for it, and the CSR of a
node's kubelet asking for its serving certificate; app-serving's verdict as on EKS."""

from __future__ import annotations

from pathlib import Path

from csrgate.domain.cluster import ClusterKind
from csrgate.domain.policy import Policy, default_policy
from csrgate.domain.request import read_signing_request
from csrgate.domain.verdict import Verdict, evaluate
from devstack.csrs import make_csr, manifest

FIXTURES = Path(__file__).parent.parent / "fixtures"
CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET = "kubernetes.io/kubelet-serving"
APP_SERVING = "beta.eks.amazonaws.com/app-serving"
NODE = "system:node:ip-10-0-1-23.ec2.internal"


def verdict_for(
    csr_pem: bytes,
    *,
    signer: str = CLIENT,
    usages: tuple[str, ...] = ("client auth",),
    expiration_seconds: int | None = 86400,
    username: str | None = None,
    groups: tuple[str, ...] = (),
    cluster_kind: ClusterKind = ClusterKind.GENERIC,
    policy: Policy | None = None,
) -> Verdict:
    document = manifest(
        csr_pem,
        signer=signer,
        usages=usages,
        expiration_seconds=expiration_seconds,
        username=username,
        groups=groups,
    )
    request = read_signing_request(document, "test")
    return evaluate(request, policy or default_policy(), cluster_kind)


def node_csr(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "cn": NODE,
        "orgs": ["system:nodes"],
        "dns": ["ip-10-0-1-23.ec2.internal"],
        "ips": ["10.0.1.23"],
        "key": "p256",
    }
    fields.update(changes)
    return make_csr(**fields)  # type: ignore[arg-type]


def kubelet_verdict(csr_pem: bytes, **changes: object) -> Verdict:
    fields: dict[str, object] = {
        "signer": KUBELET,
        "usages": ("digital signature", "server auth"),
        "expiration_seconds": None,
        "username": NODE,
        "groups": ("system:nodes", "system:authenticated"),
    }
    fields.update(changes)
    return verdict_for(csr_pem, **fields)  # type: ignore[arg-type]


def app_verdict(csr_pem: bytes, **changes: object) -> Verdict:
    fields: dict[str, object] = {
        "signer": APP_SERVING,
        "usages": ("digital signature", "key encipherment", "server auth"),
        "expiration_seconds": None,
        "cluster_kind": ClusterKind.EKS,
    }
    fields.update(changes)
    return verdict_for(csr_pem, **fields)  # type: ignore[arg-type]
