"""Fixtures of the approval flow: the local stack (moto from template.yaml, the Slack stand-in) with cluster lab reached
through the dev cluster's approver kubeconfig, kept in Secrets Manager as production keeps it; and dana, who asks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from stack import Stack, running_stack

from devstack.cluster import DevCluster
from devstack.lab import CLUSTERS

PEOPLE = {
    "U0ALICE": {"name": "alice", "email": "alice@example.com"},
    "U0BOB": {"name": "bob", "email": "bob@example.com"},
    "U0DANA": {"name": "dana", "email": "dana@example.com"},
}


@pytest.fixture
def lab(name: str) -> dict[str, Any]:
    """Lab's settings here: alice approves; dana runs kubectl as the admin (csrgate-admin), and the user each test
    asks for is hers, so csrgate ties the request to one person and one approval decides."""
    people = {"csrgate-admin": "dana@example.com", name: "dana@example.com"}
    return {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE"]}, "requesterEmails": people}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, dev_cluster: DevCluster, lab: dict[str, Any]) -> Iterator[Stack]:
    """The local stack, with cluster `lab` reached through the dev cluster's approver kubeconfig."""
    with running_stack(monkeypatch) as running:
        running.session.client("secretsmanager").create_secret(
            Name="csrgate/clusters/lab/kubeconfig", SecretString=dev_cluster.approver_kubeconfig.read_text()
        )
        running.slack.users.update(PEOPLE)
        running.put_cluster("lab", lab)
        yield running


@pytest.fixture
def requester(tmp_path: Path, name: str) -> dict[str, Any]:
    """Dana's key and CSR, as the docs task makes them (CN is the user she asks to be)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "dana.key"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return {"user": name, "key_file": key_file, "csr_pem": csr.public_bytes(serialization.Encoding.PEM)}
