"""Exponential backoff with full jitter: wait a random time between zero and min(cap, base * 2**attempt).

Full jitter spreads the retries of many forwarders (or many lanes of one) after a shared outage, so csrgate's API
is not hit by all of them at the same instant when it comes back ("Exponential Backoff And Jitter", AWS
Architecture Blog).
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """The delays of one retry sequence; reset() after a success starts the next from the base again."""

    def __init__(self, base: float, cap: float, uniform: Callable[[float, float], float] = random.uniform) -> None:
        self._base = base
        self._cap = max(cap, base)
        self._uniform = uniform
        self.attempt = 0

    def next_delay(self, at_least: float = 0.0) -> float:
        """The wait before the next attempt; `at_least` (a server's Retry-After) raises it, up to the cap."""
        ceiling = min(self._cap, self._base * 2 ** min(self.attempt, 62))
        self.attempt += 1
        return max(self._uniform(0.0, ceiling), min(at_least, self._cap))

    def reset(self) -> None:
        """Start again from the base delay."""
        self.attempt = 0
