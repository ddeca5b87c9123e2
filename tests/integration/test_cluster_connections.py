"""How the worker reaches a cluster: an unreachable cluster, a wrong token or CA, and Node reads under the approver's
RBAC are told apart; cluster credentials are data, never code.
"""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from csrgate.adapters.cluster import (
    KubeconfigConnection,
    KubernetesCsrs,
    KubernetesNodes,
    SecretConnection,
    TokenConnection,
)
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.kubeconfig import ClusterEndpoint
from csrgate.domain.nodes import NodeAddress
from devstack.cluster import DevCluster
from devstack.cluster.kubeconfigs import client_certificate_credentials, kubeconfig
from devstack.cluster.nodes import node_manifest
from devstack.harness import Kubectl, kubeconfig_connection


def test_an_unreachable_cluster_is_retry_later(dev_cluster: DevCluster) -> None:
    endpoint = ClusterEndpoint("gone", "https://127.0.0.1:9", dev_cluster.ca_path.read_bytes())
    csrs = KubernetesCsrs(TokenConnection(endpoint, "token"), request_timeout=(0.5, 0.5))

    with pytest.raises(RetryLater, match="reading CSR anything: the cluster cannot be reached"):
        csrs.wait_for_certificate("anything", "uid", timeout=0)


def test_a_wrong_token_and_a_forbidden_identity_are_permanent_failures(dev_cluster: DevCluster, tmp_path: Path) -> None:
    endpoint = ClusterEndpoint("dev", dev_cluster.url, dev_cluster.ca_path.read_bytes())
    nobody = dev_cluster.ca.client_key_pair("nobody", [], datetime.datetime.now(datetime.UTC))
    config = kubeconfig(
        dev_cluster.url,
        dev_cluster.ca_path.read_bytes(),
        "nobody",
        client_certificate_credentials(nobody.certificate_pem, nobody.key_pem),
    )

    with pytest.raises(PermanentFailure, match="answered 401 Unauthorized"):
        KubernetesCsrs(TokenConnection(endpoint, "not-the-token")).wait_for_certificate("anything", "uid", timeout=0)
    with pytest.raises(PermanentFailure, match='answered 403 Forbidden .*User "nobody" cannot get'):
        KubernetesCsrs(KubeconfigConnection(config)).wait_for_certificate("anything", "uid", timeout=0)


def test_a_cluster_ca_that_does_not_match_is_a_permanent_failure(dev_cluster: DevCluster) -> None:
    other_ca = dev_cluster.ca.serving_key_pair(datetime.datetime.now(datetime.UTC)).certificate_pem
    endpoint = ClusterEndpoint("dev", dev_cluster.url, other_ca)

    with pytest.raises(PermanentFailure, match="TLS certificate does not verify"):
        KubernetesCsrs(TokenConnection(endpoint, dev_cluster.approver_token)).wait_for_certificate(
            "anything", "uid", timeout=0
        )


def test_the_worker_reads_a_nodes_addresses_with_the_approver_identity(
    dev_cluster: DevCluster, kubectl: Kubectl, name: str
) -> None:
    # GIVEN a Node with an IP address and a host name, created by the admin
    kubectl("apply", "-f", "-", stdin=node_manifest(name, [("InternalIP", "10.0.0.5"), ("Hostname", name)]))
    nodes = KubernetesNodes(kubeconfig_connection(dev_cluster.approver_kubeconfig))
    # WHEN the worker reads it, and a node that is not there
    found, missing = nodes.addresses(name), nodes.addresses(f"{name}-missing")
    # THEN it gets the addresses as listed, and None for the missing node
    assert found == (NodeAddress("InternalIP", "10.0.0.5"), NodeAddress("Hostname", name))
    assert missing is None


def test_a_node_read_without_rbac_fails_for_good_and_an_outage_for_now(dev_cluster: DevCluster, name: str) -> None:
    # a kubelet's identity may not read Nodes in the dev cluster: the worker's RBAC would lack `get` on nodes
    as_node = KubernetesNodes(kubeconfig_connection(dev_cluster.node_kubeconfig("node-1")))
    endpoint = ClusterEndpoint("gone", "https://127.0.0.1:9", dev_cluster.ca_path.read_bytes())
    unreachable = KubernetesNodes(TokenConnection(endpoint, "token"), request_timeout=(0.5, 0.5))

    with pytest.raises(PermanentFailure, match=f'reading Node {name}: the cluster answered 403 Forbidden .*"nodes"'):
        as_node.addresses(name)
    with pytest.raises(RetryLater, match=f"reading Node {name}: the cluster cannot be reached"):
        unreachable.addresses(name)


# --- cluster credentials are data, never code ---------------------------------------------------------------

CA_DATA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()


def hostile_kubeconfig(cluster: dict[str, object], user: dict[str, object]) -> dict[str, object]:
    """A kubeconfig whose current context uses `cluster` (its server https://127.0.0.1:9) and `user`."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9", **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }


def hostile_cases(marker: Path) -> list[tuple[str, dict[str, object], dict[str, object]]]:
    """(the field refused, the cluster entry, the user entry): each one runs code, reads files or skips TLS."""
    touch = ["-c", f"touch {marker}"]
    return [
        (
            "exec",
            {"certificate-authority-data": CA_DATA},
            {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "/bin/sh", "args": touch}},
        ),
        (
            "auth-provider",
            {"certificate-authority-data": CA_DATA},
            {"auth-provider": {"name": "gcp", "config": {"cmd-path": "/bin/sh", "cmd-args": f"-c 'touch {marker}'"}}},
        ),
        ("tokenFile", {"certificate-authority-data": CA_DATA}, {"tokenFile": "/proc/self/environ"}),
        ("client-certificate", {"certificate-authority-data": CA_DATA}, {"client-certificate": "/etc/hostname"}),
        ("client-key", {"certificate-authority-data": CA_DATA}, {"client-key": "/etc/hostname", "token": "t"}),
        ("certificate-authority", {"certificate-authority": "/etc/hostname"}, {"token": "t"}),
        ("insecure-skip-tls-verify", {"insecure-skip-tls-verify": True}, {"token": "t"}),
        ("proxy-url", {"certificate-authority-data": CA_DATA, "proxy-url": "http://evil.example:3128"}, {"token": "t"}),
        ("password", {"certificate-authority-data": CA_DATA}, {"username": "admin", "password": "x"}),
        ("as", {"certificate-authority-data": CA_DATA}, {"token": "t", "as": "system:admin"}),
    ]


@pytest.mark.parametrize("field", [case[0] for case in hostile_cases(Path("ran"))])
def test_a_cluster_secret_that_would_run_code_read_files_or_skip_tls_is_refused_naming_the_field(
    tmp_path: Path, field: str
) -> None:
    # GIVEN a cluster secret holding a kubeconfig that would run a command, read a file of the worker's or skip TLS
    marker = tmp_path / "ran"
    [(cluster, user)] = [(cluster, user) for name, cluster, user in hostile_cases(marker) if name == field]
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="eu-west-1")
        secrets.create_secret(
            Name="csrgate/clusters/hostile", SecretString=yaml.safe_dump(hostile_kubeconfig(cluster, user))
        )
        # WHEN the worker connects with it
        with pytest.raises(PermanentFailure) as refused:
            SecretConnection(secrets, "csrgate/clusters/hostile").api_client()
    # THEN it is refused, naming the field and the secret, and nothing ran
    assert f"the cluster secret csrgate/clusters/hostile: {field} " in str(refused.value)
    assert "is not accepted" in str(refused.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"server": "http://127.0.0.1:9", "certificateAuthorityData": CA_DATA, "token": "t"}, "server"),
        ({"server": "https://127.0.0.1:9", "certificateAuthorityData": CA_DATA, "tokenFile": "/etc/x"}, "tokenFile"),
        ({"server": "https://127.0.0.1:9", "certificateAuthorityData": CA_DATA, "token": "t", "proxy": "x"}, "proxy"),
    ],
)
def test_a_token_secret_holds_nothing_but_its_fields(document: dict[str, str], field: str) -> None:
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="eu-west-1")
        secrets.create_secret(Name="csrgate/clusters/t", SecretString=json.dumps(document))
        with pytest.raises(PermanentFailure, match=f"the cluster secret csrgate/clusters/t: {field}"):
            SecretConnection(secrets, "csrgate/clusters/t").api_client()


def test_a_kubeconfig_over_plain_http_or_without_an_inline_ca_is_refused() -> None:
    plain = hostile_kubeconfig({"certificate-authority-data": CA_DATA}, {"token": "t"})
    plain["clusters"] = [
        {"name": "c", "cluster": {"server": "http://127.0.0.1:9", "certificate-authority-data": CA_DATA}}
    ]
    without_ca = hostile_kubeconfig({}, {"token": "t"})
    no_credentials = hostile_kubeconfig({"certificate-authority-data": CA_DATA}, {})

    with pytest.raises(PermanentFailure, match="kubeconfig: server must be an https:// URL"):
        KubeconfigConnection(plain)
    with pytest.raises(PermanentFailure, match="kubeconfig: certificate-authority-data .* is missing"):
        KubeconfigConnection(without_ca)
    with pytest.raises(PermanentFailure, match="kubeconfig: the user needs a token or client-certificate-data"):
        KubeconfigConnection(no_credentials)
