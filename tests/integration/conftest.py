"""The dev cluster for integration tests: one per session, in this process, on a free port; and kubectl."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.cluster import DevCluster
from devstack.harness import Kubectl


@pytest.fixture(scope="session")
def dev_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    """A running dev cluster shared by the session; tests give their CSRs unique names."""
    cluster = DevCluster(tmp_path_factory.mktemp("dev-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def kubectl(dev_cluster: DevCluster, tmp_path: Path) -> Kubectl:
    """kubectl as the cluster admin, working in a fresh directory with a copy of the admin kubeconfig."""
    return Kubectl.with_copy_of(dev_cluster.admin_kubeconfig, tmp_path / "home")


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A CSR name no other test in the session uses."""
    stem = request.node.name.removeprefix("test_").replace("_", "-")[:40].strip("-")
    return f"{stem}-{uuid.uuid4().hex[:6]}"
