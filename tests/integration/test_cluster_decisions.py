"""The cluster adapter against the dev cluster: decisions, waiting for the signer, and kubeconfigs that work with
kubectl, through the approver identity as the worker holds it (a kubeconfig or a Secrets Manager secret).
"""

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

from csrgate.adapters.cluster import KubernetesCsrs, SecretConnection
from csrgate.domain.conditions import DecisionOutcome, IssuanceOutcome
from csrgate.domain.outcome import Outcome
from devstack.cluster import DevCluster
from devstack.csrs import make_csr, private_key
from devstack.harness import KUBECTL, Kubectl, kubeconfig_connection


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
    return CertificatesV1Api(kubeconfig_connection(dev_cluster.admin_kubeconfig).api_client())


@pytest.fixture
def approver(dev_cluster: DevCluster) -> KubernetesCsrs:
    """The adapter as csrgate's worker runs it: the approver identity (bearer token), nothing more."""
    return KubernetesCsrs(kubeconfig_connection(dev_cluster.approver_kubeconfig))


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

    decided = approver.decide(name, uid, Outcome.APPROVE, "alice@example.com", "on-call access for INC-1234")
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

    decided = approver.decide(
        name, uid, Outcome.DENY, "bob@example.com", "asks for cluster-admin", reason="CsrgatePolicyDenied"
    )
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
    approver.decide(name, uid, Outcome.APPROVE, "alice@example.com", "first delivery")

    again = approver.decide(name, uid, Outcome.APPROVE, "alice@example.com", "second delivery of the same message")

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

    decided = approver.decide(name, uid, Outcome.APPROVE, "alice@example.com", "looks fine")

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

    decided = approver.decide(name, uid, Outcome.APPROVE, "alice@example.com", "ok")

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

    decided = approver.decide(name, uid, Outcome.APPROVE, "alice@example.com", "ok")

    assert decided.outcome is DecisionOutcome.DECIDED_ELSEWHERE
    assert [c[:2] for c in conditions(admin, name)] == [("Denied", "SecurityTeam")]


def test_a_csr_deleted_and_recreated_under_the_same_name_is_reported_replaced_and_untouched(
    approver: KubernetesCsrs, admin: CertificatesV1Api, create: Create, name: str
) -> None:
    reviewed_uid = create(name, common_name="alice")
    admin.delete_certificate_signing_request(name)
    create(name, common_name="mallory")

    decided = approver.decide(name, reviewed_uid, Outcome.APPROVE, "alice@example.com", "approving what I reviewed")
    waited = approver.wait_for_certificate(name, reviewed_uid, timeout=5)

    assert decided.outcome is DecisionOutcome.REPLACED
    assert waited.outcome is IssuanceOutcome.REPLACED
    assert conditions(admin, name) == []


def test_a_deleted_csr_is_reported_gone(
    approver: KubernetesCsrs, admin: CertificatesV1Api, create: Create, name: str
) -> None:
    uid = create(name)
    admin.delete_certificate_signing_request(name)

    assert approver.decide(name, uid, Outcome.APPROVE, "alice@example.com", "ok").outcome is DecisionOutcome.GONE
    assert approver.wait_for_certificate(name, uid, timeout=5).outcome is IssuanceOutcome.GONE


def test_a_signer_failure_is_reported_with_its_reason(approver: KubernetesCsrs, create: Create, name: str) -> None:
    uid = create(name, usages=["client auth", "server auth"])

    approver.decide(name, uid, Outcome.APPROVE, "alice@example.com", "ok")
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
        kubeconfig_connection(dev_cluster.approver_kubeconfig), monotonic=clock.monotonic, sleep=clock.sleep
    )
    # No controller signs a custom signer's requests, as on a real cluster without that signer running.
    uid = create(name, signerName="example.com/never-issued")
    csrs.decide(name, uid, Outcome.APPROVE, "alice@example.com", "ok")

    waited = csrs.wait_for_certificate(name, uid, timeout=30, poll_interval=0.5)

    assert waited.outcome is IssuanceOutcome.NOT_ISSUED
    assert sum(clock.sleeps) == pytest.approx(30)
    assert clock.sleeps[:4] == [0.5, 1.0, 2.0, 4.0]


def test_a_pending_csr_times_out_as_not_approved(dev_cluster: DevCluster, create: Create, name: str) -> None:
    clock = FakeTime()
    csrs = KubernetesCsrs(
        kubeconfig_connection(dev_cluster.approver_kubeconfig), monotonic=clock.monotonic, sleep=clock.sleep
    )
    uid = create(name)

    assert csrs.wait_for_certificate(name, uid, timeout=10).outcome is IssuanceOutcome.NOT_APPROVED


def test_the_kubeconfig_built_for_the_requester_works_with_kubectl_auth_whoami(
    approver: KubernetesCsrs, create: Create, name: str, tmp_path: Path
) -> None:
    uid = create(name, common_name="carol")
    approver.decide(name, uid, Outcome.APPROVE, "alice@example.com", "ok")
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
        seen = by_token.wait_for_certificate(name, uid, timeout=0)
        decided = by_kubeconfig.decide(name, uid, Outcome.APPROVE, "alice@example.com", "ok")

    assert seen.outcome is IssuanceOutcome.NOT_APPROVED  # found, by its uid, and still pending
    assert decided.outcome is DecisionOutcome.APPLIED
    assert by_token.kubeconfig_for(_any_certificate(dev_cluster)).text.count(dev_cluster.url) == 1


def _any_certificate(cluster: DevCluster) -> bytes:
    return cluster.ca.client_key_pair("dave", [], datetime.datetime.now(datetime.UTC)).certificate_pem


def json_secret(server: str, ca_pem: bytes, token: str, name: str) -> str:
    """A cluster secret as operators store it for a token-based cluster (README: giving the worker access)."""
    ca = base64.b64encode(ca_pem).decode("ascii")
    return json.dumps({"server": server, "certificateAuthorityData": ca, "token": token, "name": name})


def test_the_worker_creates_an_asks_csr_once_and_recognises_only_its_own(
    approver: KubernetesCsrs, admin: CertificatesV1Api, create: Create, name: str
) -> None:
    spec = {
        "request": base64.b64encode(make_csr("dana")).decode(),
        "signerName": "kubernetes.io/kube-apiserver-client",
        "usages": ["client auth"],
        "expirationSeconds": 3600,
    }
    annotations = {"csrgate.io/ask": "ask-1"}
    uid = approver.create(name, spec, annotations)
    # a retried job finds the CSR it created, and creates nothing
    assert uid is not None and approver.create(name, spec, annotations) == uid
    created = admin.read_certificate_signing_request(name)
    assert created.metadata.annotations == annotations
    assert created.spec.username == "csrgate-approver"  # the API server names who created it: csrgate's worker
    # a CSR of another's under the name: not this ask's
    create(f"{name}-theirs")
    assert approver.create(f"{name}-theirs", spec, annotations) is None
    assert approver.create(name, {**spec, "expirationSeconds": 7200}, annotations) is None
