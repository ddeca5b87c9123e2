"""The dev stack's clock: real time, except for one function run at a time of the caller's choosing.

The functions all run in the dev stack's process and read the time through csrgate.wiring.kit.utc_now. Installed
there before they load, this clock lets a script run the sweeper "eight days from now" in one thread, while every
other function in every other thread keeps the real time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta


class DevClock:
    """utc_now, shifted in the current thread only while `at` is in effect."""

    def __init__(self) -> None:
        self._shift = threading.local()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + getattr(self._shift, "by", timedelta())

    @contextmanager
    def at(self, when: datetime) -> Iterator[None]:
        """Within the block, this thread's time runs from `when`."""
        self._shift.by = when - datetime.now(UTC)
        try:
            yield
        finally:
            del self._shift.by


def install() -> DevClock:
    """Make the clock the functions read (before they are loaded: their kits keep the function they found)."""
    import csrgate.wiring.kit as kit

    clock = DevClock()
    kit.utc_now = clock
    return clock
