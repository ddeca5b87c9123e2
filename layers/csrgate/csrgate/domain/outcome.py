"""What can be decided about a request: one vocabulary, in a leaf module, so the records, the state machine, the
policy, the clicks and the cluster's conditions all speak it without importing one another."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, TypeAlias


class Outcome(StrEnum):
    """approve: auto-approve; review: a person decides; deny: refuse; ignore: not ours, never touch it."""

    APPROVE = "approve"
    REVIEW = "review"
    DENY = "deny"
    IGNORE = "ignore"


# A decision is an outcome someone (a person, the policy or the sweeper) settled on: approve or deny.
Decision: TypeAlias = Literal[Outcome.APPROVE, Outcome.DENY]
