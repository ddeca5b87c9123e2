"""Fixtures for the unit tests of the functions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stack import Stack, running_stack


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The local stack: moto provisioned from template.yaml, clusters configured, the Slack stand-in."""
    with running_stack(monkeypatch) as running:
        yield running
