"""The policy's four outcomes: a leaf module, so what records and the state machine say needs no policy engine."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """approve: auto-approve; review: a person decides; deny: refuse; ignore: not ours, never touch it."""

    APPROVE = "approve"
    REVIEW = "review"
    DENY = "deny"
    IGNORE = "ignore"
