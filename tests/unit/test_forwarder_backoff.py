"""Retry delays: exponential, fully jittered, capped, and raised by a server's Retry-After."""

from __future__ import annotations

import pytest

from csrgate.forwarder.backoff import Backoff


@pytest.mark.parametrize("attempt", range(12))
def test_backoff_is_full_jitter_below_an_exponential_ceiling_with_a_cap(attempt: int) -> None:
    ceilings: list[float] = []
    backoff = Backoff(0.5, 60.0, uniform=lambda low, high: ceilings.append(high) or high)
    for _ in range(attempt + 1):
        delay = backoff.next_delay()

    assert ceilings[-1] == min(60.0, 0.5 * 2**attempt)
    assert delay == ceilings[-1]


def test_backoff_honours_retry_after_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(0.5, 10.0, uniform=lambda low, high: low)

    assert backoff.next_delay(at_least=3.0) == 3.0
    assert backoff.next_delay(at_least=600.0) == 10.0
    backoff.reset()
    assert backoff.attempt == 0
