"""Fixtures for the unit tests of the functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from stack import Stack


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The local stack: moto provisioned from template.yaml, clusters configured, the Slack stand-in."""
    from stack import running_stack  # imported here: the fast domain tier (tests/unit/domain) never loads moto

    with running_stack(monkeypatch) as running:
        yield running
