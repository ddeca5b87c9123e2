"""A node group joining the dev cluster as kubelets do, seen with the real kubectl: each node's identity minted from
the dev cluster's CA, its Node object with its addresses, the serving CSR its kubelet makes from them, and the
kubelet-serving signer a dev cluster runs when asked (as a kubeadm cluster's controller manager does)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devstack.client import wait_for
from devstack.cluster import DevCluster
from devstack.cluster.kubelets import Kubelet, node_group
from devstack.harness import Kubectl


@pytest.fixture(scope="module")
def signing_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    """A dev cluster that signs kubelet-serving certificates too."""
    with DevCluster(tmp_path_factory.mktemp("signing-cluster"), kubelet_serving_signer=True) as running:
        yield running


@pytest.fixture
def admin(signing_cluster: DevCluster, tmp_path: Path) -> Kubectl:
    return Kubectl.with_copy_of(signing_cluster.admin_kubeconfig, tmp_path / "home")


@pytest.fixture
def prefix() -> str:
    """Node names no other test of the module uses."""
    return f"node-{uuid.uuid4().hex[:6]}"


def whoami(admin: Kubectl, kubelet: Kubelet) -> dict[str, object]:
    answer = admin("auth", "whoami", "-o", "json", kubeconfig=kubelet.kubeconfig)
    return dict(json.loads(answer.stdout)["status"]["userInfo"])


def test_each_node_of_a_minted_group_is_itself_to_kubectl(
    signing_cluster: DevCluster, admin: Kubectl, prefix: str
) -> None:
    # GIVEN three nodes minted from the dev cluster's CA
    kubelets = node_group(signing_cluster.data_dir, signing_cluster.url, 3, prefix=prefix)
    # WHEN each asks the cluster who it is, with its own kubeconfig
    seen = [whoami(admin, kubelet) for kubelet in kubelets]
    # THEN each is its node, in system:nodes, as a kubelet after TLS bootstrap is
    assert [user["username"] for user in seen] == [f"system:node:{prefix}-{n}" for n in (1, 2, 3)]
    assert all(user["groups"] == ["system:nodes", "system:authenticated"] for user in seen)
    # AND each has an address of its own
    assert [kubelet.addresses for kubelet in kubelets] == [
        (("InternalIP", f"10.64.0.{n}"), ("Hostname", f"{prefix}-{n}")) for n in (1, 2, 3)
    ]


def test_a_kubelets_serving_csr_names_what_its_node_object_lists(
    signing_cluster: DevCluster, admin: Kubectl, prefix: str
) -> None:
    # GIVEN a node whose Node object lists a hostname that is an IP, an internal IP (the same), and a DNS name
    [minted] = node_group(signing_cluster.data_dir, signing_cluster.url, 1, prefix=prefix)
    addresses = (("Hostname", "10.64.9.9"), ("InternalIP", "10.64.9.9"), ("ExternalDNS", f"{prefix}.example.com"))
    kubelet = Kubelet(minted.name, addresses, minted.kubeconfig)
    admin("apply", "-f", "-", stdin=yaml.safe_dump(kubelet.node()))
    # WHEN its kubelet creates its serving CSR with its own credentials
    name = f"{prefix}-serving"
    admin("create", "-f", "-", stdin=yaml.safe_dump(kubelet.serving_csr(name)), kubeconfig=kubelet.kubeconfig)
    # THEN the cluster has it as the node's, for the kubelet-serving signer
    csr = json.loads(admin("get", "csr", name, "-o", "json").stdout)
    assert csr["spec"]["username"] == f"system:node:{prefix}-1"
    assert csr["spec"]["signerName"] == "kubernetes.io/kubelet-serving"
    assert csr["spec"]["usages"] == ["digital signature", "server auth"]
    # AND its SANs are the Node's addresses, each once, as the kubelet derives them
    node = json.loads(admin("get", "node", kubelet.name, "-o", "json").stdout)
    assert [entry["address"] for entry in node["status"]["addresses"]] == [
        "10.64.9.9",
        "10.64.9.9",
        f"{prefix}.example.com",
    ]
    request = x509.load_pem_x509_csr(base64.b64decode(csr["spec"]["request"]))
    sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [f"{prefix}.example.com"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.64.9.9"]


def test_the_kubelet_serving_signer_issues_a_server_certificate_once_approved(
    signing_cluster: DevCluster, admin: Kubectl, prefix: str
) -> None:
    # GIVEN a node's serving CSR
    [kubelet] = node_group(signing_cluster.data_dir, signing_cluster.url, 1, prefix=prefix)
    name = f"{prefix}-serving"
    admin("create", "-f", "-", stdin=yaml.safe_dump(kubelet.serving_csr(name)), kubeconfig=kubelet.kubeconfig)
    # WHEN an admin approves it
    admin("certificate", "approve", name)
    # THEN the cluster issues it: a server certificate for the node's name and address, from the cluster's CA
    wait_for(
        f"{name} to be issued",
        lambda: admin("get", "csr", name, "--no-headers").stdout.split()[-1] == "Approved,Issued",
    )
    issued = admin("get", "csr", name, "-o", "jsonpath={.status.certificate}").stdout
    certificate = x509.load_pem_x509_certificate(base64.b64decode(issued))
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"system:node:{prefix}-1"
    assert certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:nodes"
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [f"{prefix}-1"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.64.0.1"]
    assert certificate.issuer == signing_cluster.ca.certificate.subject


def test_the_kubelet_serving_signer_refuses_what_kubernetes_refuses(
    signing_cluster: DevCluster, admin: Kubectl, prefix: str
) -> None:
    # GIVEN a node's serving CSR that also asks for client auth
    [kubelet] = node_group(signing_cluster.data_dir, signing_cluster.url, 1, prefix=prefix)
    name = f"{prefix}-client-too"
    document = kubelet.serving_csr(name)
    document["spec"]["usages"] = ["digital signature", "server auth", "client auth"]
    admin("create", "-f", "-", stdin=yaml.safe_dump(document), kubeconfig=kubelet.kubeconfig)
    # WHEN it is approved
    admin("certificate", "approve", name)
    # THEN the signer fails it, with Kubernetes' reason and message, and issues nothing
    wait_for(
        f"{name} to fail", lambda: admin("get", "csr", name, "--no-headers").stdout.split()[-1] == "Approved,Failed"
    )
    failed = json.loads(admin("get", "csr", name, "-o", "json").stdout)
    [condition] = [c for c in failed["status"]["conditions"] if c["type"] == "Failed"]
    assert (condition["reason"], condition["message"]) == (
        "SignerValidationFailure",
        "usages did not match [digital signature key encipherment server auth]",
    )
    assert "certificate" not in failed["status"]
