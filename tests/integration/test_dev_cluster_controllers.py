"""The controllers behind the dev cluster on a clock the test moves: a slow signer, and csrcleaner's deadlines."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import CertificatesV1Api, V1CertificateSigningRequestCondition

from devstack.cluster import DevCluster
from devstack.csrs import make_csr
from devstack.harness import kubeconfig_connection


class Clock:
    def __init__(self) -> None:
        self.now = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += datetime.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cluster(tmp_path: Path, clock: Clock) -> Iterator[DevCluster]:
    with DevCluster(tmp_path / "cluster", signing_delay=30, clock=clock) as running:
        yield running


@pytest.fixture
def api(cluster: DevCluster) -> CertificatesV1Api:
    return CertificatesV1Api(kubeconfig_connection(cluster.admin_kubeconfig).api_client())


def create(api: CertificatesV1Api, name: str) -> None:
    api.create_certificate_signing_request(
        {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {
                "request": base64.b64encode(make_csr("alice")).decode(),
                "signerName": "kubernetes.io/kube-apiserver-client",
                "usages": ["client auth"],
            },
        }
    )


def approve(api: CertificatesV1Api, name: str) -> None:
    csr = api.read_certificate_signing_request(name)
    csr.status.conditions = [V1CertificateSigningRequestCondition(type="Approved", status="True", reason="Test")]
    api.replace_certificate_signing_request_approval(name, csr)


def names(api: CertificatesV1Api) -> list[str]:
    return [item.metadata.name for item in api.list_certificate_signing_request().items]


def test_a_slow_signer_issues_only_once_its_delay_has_passed(
    cluster: DevCluster, api: CertificatesV1Api, clock: Clock
) -> None:
    create(api, "slow")
    approve(api, "slow")

    cluster.run_controllers()
    before = api.read_certificate_signing_request("slow").status.certificate
    clock.advance(seconds=31)
    cluster.run_controllers()
    after = api.read_certificate_signing_request("slow").status.certificate

    assert before is None
    assert after is not None


def test_pending_requests_are_collected_after_a_day_and_decided_ones_after_an_hour(
    cluster: DevCluster, api: CertificatesV1Api, clock: Clock
) -> None:
    create(api, "pending")
    create(api, "approved")
    approve(api, "approved")

    clock.advance(minutes=61)
    cluster.run_controllers()
    after_an_hour = names(api)
    clock.advance(hours=23)
    cluster.run_controllers()

    assert after_an_hour == ["pending"]
    assert names(api) == []
