"""One `csrgate dev up` for the end-to-end suite: a real process, ended with its whole process group at teardown."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.client import DevStackClient, running_dev_up

_names = itertools.count(1)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStackClient]:
    """The whole service on 127.0.0.1, shared by the suite; tests give their CSRs unique names."""
    with running_dev_up(tmp_path_factory.mktemp("dev-up")) as running:
        yield running


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A CSR name of the test's own (the stack and its cluster are shared)."""
    return f"e2e-{next(_names)}-{request.node.name.removeprefix('test_')[:30].replace('_', '-')}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A directory of the test's own for keys and kubeconfigs."""
    return tmp_path
