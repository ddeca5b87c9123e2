"""Fixtures of the integration tests: the dev cluster (one per session, in this process, on a free port) and kubectl;
the local stack of the functions (moto provisioned from template.yaml, the Slack stand-in) and the functions on it;
Go's reading of CSRs."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from go_parity import GO_MISSING, Parity, ParitySummary
from stack import Stack, running_stack

from devstack.cluster import DevCluster
from devstack.gocsr import GoCsrReader
from devstack.harness import Kubectl, LambdaContext, load_function
from devstack.lab import CLUSTERS, PEOPLE
from devstack.lambda_events import DOCS_REQUEST, hmac_event


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


# --- the functions on moto and the Slack stand-in -----------------------------------------------------------------


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The local stack: moto provisioned from template.yaml, clusters configured, the Slack stand-in."""
    with running_stack(monkeypatch) as running:
        yield running


@pytest.fixture
def intake(stack: Stack, capsys: pytest.CaptureFixture[str]) -> Any:
    """The intake function, cold-started with capsys active so its log lines can be read."""
    return load_function("intake")


@pytest.fixture
def posted(stack: Stack, capsys: pytest.CaptureFixture[str]) -> Any:
    """The docs' CSR forwarded through intake, its approval request posted; Slack knows the people."""
    stack.slack.users.update(PEOPLE)
    stack.slack.groups["S0PLATFORM"] = ["U0BOB"]
    stack.put_cluster(
        "lab", {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE", "U0ANGELA"], "groups": ["S0PLATFORM"]}}
    )
    intake = load_function("intake")
    intake.lambda_handler(hmac_event(DOCS_REQUEST), LambdaContext())
    [message] = stack.slack.messages
    capsys.readouterr()
    return message


@pytest.fixture
def interactions(posted: Any) -> Any:
    """The interactions function, cold-started once the docs' CSR's approval request is posted."""
    return load_function("interactions")


# --- Go's reading of spec.request -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def parity(request: pytest.FixtureRequest) -> Iterator[Parity]:
    """Go's reader, one for the session; without Go the tests skip locally (see the test modules) and fail in CI."""
    if not GoCsrReader.available():
        pytest.fail(GO_MISSING)
    version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    reader = GoCsrReader().start()
    compared = Parity(reader, version)
    request.config.pluginmanager.register(ParitySummary(compared), "csrgate-go-parity-summary")
    yield compared
    reader.close()
