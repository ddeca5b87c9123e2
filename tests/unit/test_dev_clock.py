"""The dev stack's clock moves for one function run in one thread, and for nothing else."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from devstack.clock import DevClock


def test_the_clock_moves_in_the_thread_that_asked_only_and_comes_back() -> None:
    clock = DevClock()
    later = datetime.now(UTC) + timedelta(days=8)
    seen_elsewhere: list[datetime] = []
    with clock.at(later):
        assert clock() - later < timedelta(seconds=5)
        other = threading.Thread(target=lambda: seen_elsewhere.append(clock()))
        other.start()
        other.join()
    assert seen_elsewhere[0] < later - timedelta(days=7)
    assert clock() < later - timedelta(days=7)
