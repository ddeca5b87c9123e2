"""The cluster adapter against the dev cluster: decisions, waiting for the signer, kubeconfigs that work, and the
Node reads that bind a kubelet's serving certificate to its node."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from kubernetes.client import CertificatesV1Api, V1CertificateSigningRequestCondition
from moto import mock_aws

from csrgate.adapters.cluster import (
    KubeconfigConnection,
    KubernetesCsrs,
    KubernetesNodes,
    SecretConnection,
    TokenConnection,
)
from csrgate.adapters.cluster.connections import json_secret
from csrgate.domain.conditions import DecisionOutcome, IssuanceOutcome
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.kubeconfig import ClusterEndpoint
from csrgate.domain.nodes import NodeAddress
from devstack.cluster import DevCluster
from devstack.cluster.kubeconfigs import client_certificate_credentials, kubeconfig
from devstack.cluster.nodes import node_manifest
from devstack.csrs import make_csr, private_key
from devstack.harness import KUBECTL, Kubectl


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def admin(dev_cluster: DevCluster) -> CertificatesV1Api:
    """The cluster admin, through the official Python client (who creates and tampers with CSRs here)."""
    return CertificatesV1Api(KubeconfigConnection.from_file(dev_cluster.admin_kubeconfig).api_client())


@pytest.fixture
def approver(dev_cluster: DevCluster) -> KubernetesCsrs:
    """The adapter as csrgate's worker runs it: the approver identity (bearer token), nothing more."""
    return KubernetesCsrs(KubeconfigConnection.from_file(dev_cluster.approver_kubeconfig))


Create = Callable[..., str]


@pytest.fixture
def create(admin: CertificatesV1Api) -> Create:
    """Create a CSR as the admin; returns its uid."""

    def created(name: str, common_name: str = "alice", **spec: object) -> str:
        body = {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {
                "request": base64.b64encode(make_csr(common_name)).decode(),
                "signerName": "kubernetes.io/kube-apiserver-client",
                "expirationSeconds": 3600,
                "usages": ["client auth"],
                **spec,
            },
        }
        return str(admin.create_certificate_signing_request(body).metadata.uid)

    return created


def conditions(admin: CertificatesV1Api, name: str) -> list[tuple[str, str, str]]:
    csr = admin.read_certificate_signing_request(name)
    return [(c.type, c.reason, c.message) for c in (csr.status.conditions or [])]


def test_approve_adds_one_condition_naming_who_and_why_then_the_certificate_is_issued(
    approver: KubernetesCsrs, admin: CertificatesV1Api, create: Create, name: str
) -> None:
    uid = create(name)

    decided = approver.approve(name, uid, "alice@example.com", "on-call access for INC-1234")
    issued = approver.wait_for_certificate(name, uid, timeout=10, poll_interval=0.02)

    assert decided.outcome is DecisionOutcome.APPLIED
    assert conditions(admin, name) == [
        ("Approved", "CsrgateApproved", "Approved by alice@example.com via csrgate: on-call access for INC-1234")
    ]
    assert issued.outcome is IssuanceOutcome.ISSUED
    assert issued.certificate_pem is not None and issued.certificate_pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_deny_adds_a_denied_condition_and_waiting_reports_denied(
    approver: KubernetesCsrs, admin: CertificatesV1Api, create: Create, name: str
) -> None:
    uid = create(name)

    decided = approver.deny(name, uid, "bob@example.com", "asks for cluster-admin", reason="CsrgatePolicyDenied")
    waited = approver.wait_for_certificate(name, uid, timeout=5, poll_interval=0.02)

    assert decided.outcome is DecisionOutcome.APPLIED
    assert conditions(admin, name) == [
        ("Denied", "CsrgatePolicyDenied", "Denied by bob@example.com via csrgate: asks for cluster-admin")
    ]
    assert waited.outcome is IssuanceOutcome.DENIED
    assert waited.condition is not None and waited.condition.reason == "CsrgatePolicyDenied"


def test_a_repeated_decision_is_reported_as_already_applied_and_not_written_twice(
    approver: KubernetesCsrs, admin: CertificatesV1Api, create: Create, name: str
) -> None:
    uid = create(name)
    approver.approve(name, uid, "alice@example.com", "first delivery")

    again = approver.approve(name, uid, "alice@example.com", "second delivery of the same message")

    assert again.outcome is DecisionOutcome.ALREADY_APPLIED
    assert again.condition is not None and again.condition.message.endswith("first delivery")
    assert conditions(admin, name) == [
        ("Approved", "CsrgateApproved", "Approved by alice@example.com via csrgate: first delivery")
    ]


def test_a_csr_decided_by_someone_else_is_reported_and_left_alone(
    approver: KubernetesCsrs, admin: CertificatesV1Api, create: Create, name: str, kubectl: Kubectl
) -> None:
    uid = create(name)
    kubectl("certificate", "deny", name)

    decided = approver.approve(name, uid, "alice@example.com", "looks fine")

    assert decided.outcome is DecisionOutcome.DECIDED_ELSEWHERE
    assert decided.condition is not None
    assert (decided.condition.type, decided.condition.reason) == ("Denied", "KubectlDeny")
    assert [c[:2] for c in conditions(admin, name)] == [("Denied", "KubectlDeny")]


def test_a_conflict_is_retried_on_a_fresh_read_and_keeps_the_other_change(
    approver: KubernetesCsrs, admin: CertificatesV1Api, create: Create, name: str, dev_cluster: DevCluster
) -> None:
    uid = create(name)
    # Between the adapter's read and its write, someone else annotates the CSR: the write gets 409.
    assert dev_cluster.api is not None
    dev_cluster.api.on_next_request(
        "PUT",
        f"/{name}/approval",
        lambda: admin.patch_certificate_signing_request(name, {"metadata": {"annotations": {"team": "payments"}}}),
    )

    decided = approver.approve(name, uid, "alice@example.com", "ok")

    csr = admin.read_certificate_signing_request(name)
    assert decided.outcome is DecisionOutcome.APPLIED
    assert csr.metadata.annotations == {"team": "payments"}
    assert [c.reason for c in csr.status.conditions] == ["CsrgateApproved"]


def test_a_conflict_caused_by_another_decision_is_never_overwritten(
    approver: KubernetesCsrs, admin: CertificatesV1Api, create: Create, name: str, dev_cluster: DevCluster
) -> None:
    uid = create(name)

    def someone_denies() -> None:
        csr = admin.read_certificate_signing_request(name)
        csr.status.conditions = [
            V1CertificateSigningRequestCondition(type="Denied", status="True", reason="SecurityTeam", message="no")
        ]
        admin.replace_certificate_signing_request_approval(name, csr)

    assert dev_cluster.api is not None
    dev_cluster.api.on_next_request("PUT", f"/{name}/approval", someone_denies)

    decided = approver.approve(name, uid, "alice@example.com", "ok")

    assert decided.outcome is DecisionOutcome.DECIDED_ELSEWHERE
    assert [c[:2] for c in conditions(admin, name)] == [("Denied", "SecurityTeam")]


def test_a_csr_deleted_and_recreated_under_the_same_name_is_reported_replaced_and_untouched(
    approver: KubernetesCsrs, admin: CertificatesV1Api, create: Create, name: str
) -> None:
    reviewed_uid = create(name, common_name="alice")
    admin.delete_certificate_signing_request(name)
    create(name, common_name="mallory")

    decided = approver.approve(name, reviewed_uid, "alice@example.com", "approving what I reviewed")
    waited = approver.wait_for_certificate(name, reviewed_uid, timeout=5)

    assert decided.outcome is DecisionOutcome.REPLACED
    assert waited.outcome is IssuanceOutcome.REPLACED
    assert conditions(admin, name) == []


def test_a_deleted_csr_is_reported_gone(
    approver: KubernetesCsrs, admin: CertificatesV1Api, create: Create, name: str
) -> None:
    uid = create(name)
    admin.delete_certificate_signing_request(name)

    assert approver.approve(name, uid, "alice@example.com", "ok").outcome is DecisionOutcome.GONE
    assert approver.wait_for_certificate(name, uid, timeout=5).outcome is IssuanceOutcome.GONE
    assert approver.read(name) is None


def test_a_signer_failure_is_reported_with_its_reason(approver: KubernetesCsrs, create: Create, name: str) -> None:
    uid = create(name, usages=["client auth", "server auth"])

    approver.approve(name, uid, "alice@example.com", "ok")
    waited = approver.wait_for_certificate(name, uid, timeout=10, poll_interval=0.02)

    assert waited.outcome is IssuanceOutcome.FAILED
    assert waited.condition is not None
    assert waited.condition.reason == "SignerValidationFailure"
    assert waited.condition.message == "invalid usage for client certificate: server auth"


def test_an_approved_csr_no_signer_issues_times_out_as_approved_but_not_issued(
    dev_cluster: DevCluster, create: Create, name: str
) -> None:
    clock = FakeTime()
    csrs = KubernetesCsrs(
        KubeconfigConnection.from_file(dev_cluster.approver_kubeconfig), monotonic=clock.monotonic, sleep=clock.sleep
    )
    # No controller signs a custom signer's requests, as on a real cluster without that signer running.
    uid = create(name, signerName="example.com/never-issued")
    csrs.approve(name, uid, "alice@example.com", "ok")

    waited = csrs.wait_for_certificate(name, uid, timeout=30, poll_interval=0.5)

    assert waited.outcome is IssuanceOutcome.NOT_ISSUED
    assert sum(clock.sleeps) == pytest.approx(30)
    assert clock.sleeps[:4] == [0.5, 1.0, 2.0, 4.0]


def test_a_pending_csr_times_out_as_not_approved(dev_cluster: DevCluster, create: Create, name: str) -> None:
    clock = FakeTime()
    csrs = KubernetesCsrs(
        KubeconfigConnection.from_file(dev_cluster.approver_kubeconfig), monotonic=clock.monotonic, sleep=clock.sleep
    )
    uid = create(name)

    assert csrs.wait_for_certificate(name, uid, timeout=10).outcome is IssuanceOutcome.NOT_APPROVED


def test_the_kubeconfig_built_for_the_requester_works_with_kubectl_auth_whoami(
    approver: KubernetesCsrs, create: Create, name: str, tmp_path: Path
) -> None:
    uid = create(name, common_name="carol")
    approver.approve(name, uid, "alice@example.com", "ok")
    issued = approver.wait_for_certificate(name, uid, timeout=10, poll_interval=0.02)
    assert issued.certificate_pem is not None

    built = approver.kubeconfig_for(issued.certificate_pem)
    (tmp_path / built.filename).write_text(built.text)
    key_pem = private_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    (tmp_path / built.key_path).write_bytes(key_pem)

    # The key next to the kubeconfig, where its user entry points...
    whoami = Kubectl(tmp_path, tmp_path / built.filename)("auth", "whoami")
    # ...and the delivered set-credentials line, which embeds the key so the kubeconfig stands alone.
    subprocess.run(
        built.set_credentials_command.replace("kubectl", str(KUBECTL), 1),
        shell=True,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    (tmp_path / built.key_path).unlink()
    whoami_embedded = Kubectl(tmp_path, tmp_path / built.filename)("auth", "whoami")

    assert built.user == "carol"
    assert whoami.stdout.splitlines()[1].split() == ["Username", "carol"]
    assert whoami_embedded.stdout.splitlines()[1].split() == ["Username", "carol"]
    user = yaml.safe_load((tmp_path / built.filename).read_text())["users"][0]["user"]
    assert set(user) == {"client-certificate-data", "client-key-data"}


def test_a_cluster_secret_in_secrets_manager_connects_with_its_token(
    dev_cluster: DevCluster, create: Create, name: str
) -> None:
    uid = create(name)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="eu-west-1")
        secret = json_secret(dev_cluster.url, dev_cluster.ca_path.read_bytes(), dev_cluster.approver_token, "dev")
        secrets.create_secret(Name="csrgate/clusters/dev", SecretString=secret)
        secrets.create_secret(
            Name="csrgate/clusters/dev-kubeconfig", SecretString=dev_cluster.approver_kubeconfig.read_text()
        )

        by_token = KubernetesCsrs(SecretConnection(secrets, "csrgate/clusters/dev"))
        by_kubeconfig = KubernetesCsrs(SecretConnection(secrets, "csrgate/clusters/dev-kubeconfig"))
        seen = by_token.read(name)
        decided = by_kubeconfig.approve(name, uid, "alice@example.com", "ok")

    assert seen is not None and seen.uid == uid
    assert decided.outcome is DecisionOutcome.APPLIED
    assert by_token.kubeconfig_for(_any_certificate(dev_cluster)).text.count(dev_cluster.url) == 1


def test_an_unreachable_cluster_is_retry_later(dev_cluster: DevCluster) -> None:
    endpoint = ClusterEndpoint("gone", "https://127.0.0.1:9", dev_cluster.ca_path.read_bytes())
    csrs = KubernetesCsrs(TokenConnection(endpoint, "token"), request_timeout=(0.5, 0.5))

    with pytest.raises(RetryLater, match="reading CSR anything: the cluster cannot be reached"):
        csrs.read("anything")


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
        KubernetesCsrs(TokenConnection(endpoint, "not-the-token")).read("anything")
    with pytest.raises(PermanentFailure, match='answered 403 Forbidden .*User "nobody" cannot get'):
        KubernetesCsrs(KubeconfigConnection(config)).read("anything")


def test_a_cluster_ca_that_does_not_match_is_a_permanent_failure(dev_cluster: DevCluster) -> None:
    other_ca = dev_cluster.ca.serving_key_pair(datetime.datetime.now(datetime.UTC)).certificate_pem
    endpoint = ClusterEndpoint("dev", dev_cluster.url, other_ca)

    with pytest.raises(PermanentFailure, match="TLS certificate does not verify"):
        KubernetesCsrs(TokenConnection(endpoint, dev_cluster.approver_token)).read("anything")


def test_the_worker_reads_a_nodes_addresses_with_the_approver_identity(
    dev_cluster: DevCluster, kubectl: Kubectl, name: str
) -> None:
    # GIVEN a Node with an IP address and a host name, created by the admin
    kubectl("apply", "-f", "-", stdin=node_manifest(name, [("InternalIP", "10.0.0.5"), ("Hostname", name)]))
    nodes = KubernetesNodes(KubeconfigConnection.from_file(dev_cluster.approver_kubeconfig))
    # WHEN the worker reads it, and a node that is not there
    found, missing = nodes.addresses(name), nodes.addresses(f"{name}-missing")
    # THEN it gets the addresses as listed, and None for the missing node
    assert found == (NodeAddress("InternalIP", "10.0.0.5"), NodeAddress("Hostname", name))
    assert missing is None


def test_a_node_read_without_rbac_fails_for_good_and_an_outage_for_now(dev_cluster: DevCluster, name: str) -> None:
    # a kubelet's identity may not read Nodes in the dev cluster: the worker's RBAC would lack `get` on nodes
    as_node = KubernetesNodes(KubeconfigConnection.from_file(dev_cluster.node_kubeconfig("node-1")))
    endpoint = ClusterEndpoint("gone", "https://127.0.0.1:9", dev_cluster.ca_path.read_bytes())
    unreachable = KubernetesNodes(TokenConnection(endpoint, "token"), request_timeout=(0.5, 0.5))

    with pytest.raises(PermanentFailure, match=f'reading Node {name}: the cluster answered 403 Forbidden .*"nodes"'):
        as_node.addresses(name)
    with pytest.raises(RetryLater, match=f"reading Node {name}: the cluster cannot be reached"):
        unreachable.addresses(name)


def _any_certificate(cluster: DevCluster) -> bytes:
    return cluster.ca.client_key_pair("dave", [], datetime.datetime.now(datetime.UTC)).certificate_pem


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
