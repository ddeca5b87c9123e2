"""The dev cluster for integration tests: one per session, in this process, on a free port; and kubectl."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_access import Kubectl

from devstack.cluster import DevCluster


@pytest.fixture(scope="session")
def dev_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    """A running dev cluster shared by the session; tests give their CSRs unique names."""
    cluster = DevCluster(tmp_path_factory.mktemp("dev-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def kubectl(dev_cluster: DevCluster, tmp_path: Path) -> Kubectl:
    """kubectl as the cluster admin, working in a fresh directory with a copy of the admin kubeconfig."""
    home = tmp_path / "home"
    home.mkdir()
    config = home / "config"
    shutil.copy(dev_cluster.admin_kubeconfig, config)
    return Kubectl(home, config)


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A CSR name no other test in the session uses."""
    stem = request.node.name.removeprefix("test_").replace("_", "-")[:40].strip("-")
    return f"{stem}-{uuid.uuid4().hex[:6]}"
