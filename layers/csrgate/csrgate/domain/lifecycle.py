"""A request's life as an explicit state machine: which state may follow which."""

from __future__ import annotations

from enum import StrEnum

from csrgate.domain.errors import CsrgateError
from csrgate.domain.outcome import Outcome


class State(StrEnum):
    """Where a request stands. Terminal states never change again."""

    RECEIVED = "received"
    IGNORED = "ignored"
    DENIED_BY_POLICY = "denied_by_policy"
    AUTO_APPROVED = "auto_approved"
    AWAITING_REVIEW = "awaiting_review"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    DECIDED_ELSEWHERE = "decided_elsewhere"
    ISSUED = "issued"
    DELIVERED = "delivered"
    FAILED = "failed"
    OBSERVED = "observed"  # in a cluster csrgate only observes: judged and told, never decided


# Every allowed step. A decision not yet applied in the cluster can still be overtaken there (withdrawn,
# decided elsewhere) or fail to apply; an issued certificate can only be delivered or fail to be. An automatic
# approval whose SANs the requesting node's Node object does not list becomes a policy denial before it is applied.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.RECEIVED: frozenset(
        {
            State.IGNORED,
            State.DENIED_BY_POLICY,
            State.AUTO_APPROVED,
            State.AWAITING_REVIEW,
            State.DECIDED_ELSEWHERE,
            State.OBSERVED,
        }
    ),
    # An observed request is only watched: whoever decides it in the cluster, or deletes it, ends it.
    State.OBSERVED: frozenset({State.DECIDED_ELSEWHERE, State.WITHDRAWN}),
    State.AWAITING_REVIEW: frozenset(
        {State.APPROVED, State.DENIED, State.EXPIRED, State.WITHDRAWN, State.DECIDED_ELSEWHERE, State.FAILED}
    ),
    State.AUTO_APPROVED: frozenset(
        {State.ISSUED, State.WITHDRAWN, State.DECIDED_ELSEWHERE, State.FAILED, State.DENIED_BY_POLICY}
    ),
    State.APPROVED: frozenset({State.ISSUED, State.WITHDRAWN, State.DECIDED_ELSEWHERE, State.FAILED}),
    State.DENIED_BY_POLICY: frozenset({State.WITHDRAWN, State.DECIDED_ELSEWHERE, State.FAILED}),
    State.DENIED: frozenset({State.WITHDRAWN, State.DECIDED_ELSEWHERE, State.FAILED}),
    State.ISSUED: frozenset({State.DELIVERED, State.FAILED}),
    State.IGNORED: frozenset(),
    State.EXPIRED: frozenset(),
    State.WITHDRAWN: frozenset(),
    State.DECIDED_ELSEWHERE: frozenset(),
    State.DELIVERED: frozenset(),
    State.FAILED: frozenset(),
}

# The decisions the worker applies in the cluster: entering one of these states leaves a decision to queue, and the
# request is not done with until it is queued. An expiry is one too when its cluster denies expired CSRs.
TO_APPLY = frozenset({State.APPROVED, State.AUTO_APPROVED, State.DENIED, State.DENIED_BY_POLICY})

# The states no later change of the CSR in the cluster moves, but its deletion: those nothing leaves, and an issued
# certificate, which only the worker delivers (or fails to). A decision csrgate applied joins them once it is in the
# cluster (RequestRecord.settled): Kubernetes never lets another decision replace it.
SETTLED = frozenset({State.ISSUED}) | frozenset(state for state, following in TRANSITIONS.items() if not following)

_AFTER_VERDICT = {
    Outcome.IGNORE: State.IGNORED,
    Outcome.DENY: State.DENIED_BY_POLICY,
    Outcome.APPROVE: State.AUTO_APPROVED,
    Outcome.REVIEW: State.AWAITING_REVIEW,
}


class InvalidTransition(CsrgateError):
    """A state change the life cycle does not allow."""

    def __init__(self, current: State, wanted: State) -> None:
        super().__init__(f"a request that is {current.value} cannot become {wanted.value}")
        self.current = current
        self.wanted = wanted


def can_transition(current: State, wanted: State) -> bool:
    """Whether `wanted` may follow `current`."""
    return wanted in TRANSITIONS[current]


def ensure_transition(current: State, wanted: State) -> None:
    """Raise InvalidTransition unless `wanted` may follow `current`."""
    if not can_transition(current, wanted):
        raise InvalidTransition(current, wanted)


def state_after_verdict(outcome: Outcome) -> State:
    """The state a received request enters once the policy has spoken."""
    state = _AFTER_VERDICT[outcome]
    ensure_transition(State.RECEIVED, state)
    return state
