"""The dev cluster reads spec.request as kube-apiserver and the csrsigning controller do: the first block Go's
pem.Decode finds, a signature that must verify, and a certificate whose subject is the parsed pkix.Name. It does so
through Go when it is installed and through its port of pem.Decode otherwise; both are exercised here."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from kubernetes.client import CertificatesV1Api, V1CertificateSigningRequestCondition
from kubernetes.client.exceptions import ApiException

from devstack.cluster import DevCluster, spec_request
from devstack.csrs import der_string, make_csr, pem, rdn, signed_csr, subject_name
from devstack.gocsr import GoCsrReader
from devstack.harness import kubeconfig_connection

NOW = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)


# Without Go only the port is exercised; tests/integration/test_go_parity.py says how to install Go.
@pytest.fixture(params=["go", "pem.Decode port"] if GoCsrReader.available() else ["pem.Decode port"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which reader the dev cluster uses: Go itself, or the Python port it falls back to without Go."""
    if request.param != "go":
        monkeypatch.setattr(spec_request, "shared_reader", lambda: None)
    return str(request.param)


@pytest.fixture
def cluster(tmp_path: Path, reader: str) -> Iterator[DevCluster]:
    with DevCluster(tmp_path / "cluster", clock=lambda: NOW) as running:
        yield running


@pytest.fixture
def api(cluster: DevCluster) -> CertificatesV1Api:
    return CertificatesV1Api(kubeconfig_connection(cluster.admin_kubeconfig).api_client())


def create(api: CertificatesV1Api, name: str, request: bytes) -> None:
    api.create_certificate_signing_request(
        {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {
                "request": base64.b64encode(request).decode(),
                "signerName": "kubernetes.io/kube-apiserver-client",
                "usages": ["client auth"],
            },
        }
    )


def approve_and_sign(api: CertificatesV1Api, cluster: DevCluster, name: str) -> x509.Certificate:
    csr = api.read_certificate_signing_request(name)
    csr.status.conditions = [V1CertificateSigningRequestCondition(type="Approved", status="True", reason="Test")]
    api.replace_certificate_signing_request_approval(name, csr)
    cluster.run_controllers()
    issued = api.read_certificate_signing_request(name).status.certificate
    assert issued, f"{name} was not issued"
    return x509.load_pem_x509_certificate(base64.b64decode(issued))


def refusal(api: CertificatesV1Api, request: bytes) -> str:
    with pytest.raises(ApiException) as refused:
        create(api, "refused", request)
    assert refused.value.status == 422
    return str(refused.value.body)


def test_a_smuggled_second_block_is_what_the_signer_signs(api: CertificatesV1Api, cluster: DevCluster) -> None:
    # GIVEN a stray byte, a clean request A, and a request B for system:masters, as one spec.request
    smuggled = b"x" + make_csr("alice", orgs=["developers"]) + make_csr("alice", orgs=["system:masters"])
    # WHEN it is created and approved
    create(api, "smuggled", smuggled)
    certificate = approve_and_sign(api, cluster, "smuggled")
    # THEN the certificate is B's, as a real cluster's signer would issue it: A's BEGIN does not start a line
    assert [o.value for o in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:masters"
    ]


def test_a_block_whose_begin_does_not_start_a_line_is_not_a_csr(api: CertificatesV1Api) -> None:
    # WHEN the only block follows text on its BEGIN line
    message = refusal(api, b"see " + make_csr("alice"))
    # THEN the API server refuses it as ParseCSR does
    assert "PEM block type must be CERTIFICATE REQUEST" in message


def test_a_request_whose_signature_does_not_verify_is_refused_at_creation(api: CertificatesV1Api) -> None:
    # WHEN a request's self-signature does not verify
    message = refusal(api, make_csr("alice", tamper=True))
    # THEN the API server refuses it, as its validateCSR checks the signature
    assert "spec.request: Invalid value" in message


def test_the_certificate_subject_keeps_only_the_fields_pkix_name_has(
    api: CertificatesV1Api, cluster: DevCluster
) -> None:
    # GIVEN a request with a DC and a UID besides the CN and O
    subject = subject_name(
        rdn(("0.9.2342.19200300.100.1.25", der_string("example", "ia5"))),
        rdn(("2.5.4.10", der_string("developers"))),
        rdn(("0.9.2342.19200300.100.1.1", der_string("alice-uid"))),
        rdn(("2.5.4.3", der_string("alice"))),
    )
    create(api, "extra-names", pem(signed_csr(subject, key="p256")))
    # WHEN it is approved and signed
    certificate = approve_and_sign(api, cluster, "extra-names")
    # THEN the certificate names O and CN only, in ToRDNSequence's order, as Go's x509.CreateCertificate writes it
    assert certificate.subject.rfc4514_string() == "CN=alice,O=developers"
