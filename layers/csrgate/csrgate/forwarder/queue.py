"""The delivery queue: bounded, blocking when full (never dropping), in order per CSR.

Events are spread over lanes by CSR name; each lane has exactly one sender, which sends its events one after the
other. So a CSR's events arrive in the order they were seen (a DELETED never overtakes the ADDED of the same
CSR), while other CSRs' events go out on the other lanes. The capacity is shared by all lanes: when it is used
up, `put` blocks, and with it the watch, which then resumes from where it stopped.
"""

from __future__ import annotations

import threading
import zlib
from collections import deque
from collections.abc import Callable

from csrgate.forwarder.changes import CsrEvent


class DeliveryQueue:
    """Lanes of events waiting to be sent; close() lets the senders drain what is left."""

    def __init__(self, lanes: int, capacity: int, on_depth: Callable[[int], None] = lambda depth: None) -> None:
        self._lanes: list[deque[CsrEvent]] = [deque() for _ in range(max(1, lanes))]
        self._capacity = max(1, capacity)
        self._depth = 0
        self._closed = False
        self._on_depth = on_depth
        self._changed = threading.Condition()

    @property
    def lanes(self) -> int:
        """How many lanes (and senders) there are."""
        return len(self._lanes)

    @property
    def depth(self) -> int:
        """Events waiting, in all lanes."""
        with self._changed:
            return self._depth

    def lane_of(self, name: str) -> int:
        """The lane a CSR's events go to: the same lane for the same name, in every process."""
        return zlib.crc32(name.encode("utf-8")) % len(self._lanes)

    def put(self, event: CsrEvent) -> bool:
        """Queue an event, waiting while the queue is full; False if the queue was closed instead."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._depth < self._capacity)
            if self._closed:
                return False
            self._lanes[self.lane_of(event.name)].append(event)
            self._set_depth(self._depth + 1)
            return True

    def get(self, lane: int, timeout: float | None = None) -> CsrEvent | None:
        """The next event of a lane, waiting for one; None once closed and empty (or after `timeout`)."""
        with self._changed:
            waiting = self._lanes[lane]
            self._changed.wait_for(lambda: self._closed or bool(waiting), timeout)
            if not waiting:
                return None
            event = waiting.popleft()
            self._set_depth(self._depth - 1)
            return event

    def close(self) -> None:
        """Accept nothing more; blocked puts return False, senders get what is left, then None."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _set_depth(self, depth: int) -> None:
        self._depth = depth
        self._on_depth(depth)
        self._changed.notify_all()
