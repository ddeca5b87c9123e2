"""The delivery queue: a CSR's events stay in order, a full queue blocks the watch, nothing is dropped."""

from __future__ import annotations

import threading
import time
import zlib
from typing import Any

from csrgate.forwarder.changes import CsrEvent
from csrgate.forwarder.queue import DeliveryQueue


def event(kind: str, name: str) -> CsrEvent:
    obj: dict[str, Any] = {"metadata": {"name": name, "uid": f"uid-{name}"}}
    return CsrEvent(kind, obj)


def drain(queue: DeliveryQueue) -> list[list[tuple[str, str]]]:
    queue.close()
    lanes: list[list[tuple[str, str]]] = []
    for lane in range(queue.lanes):
        got = []
        while (item := queue.get(lane)) is not None:
            got.append((item.type, item.name))
        lanes.append(got)
    return lanes


def test_one_csrs_events_share_a_lane_and_keep_their_order() -> None:
    queue = DeliveryQueue(lanes=4, capacity=100)
    for name in ("alice", "bob", "carol", "dave", "erin"):
        queue.put(event("ADDED", name))
    for name in ("alice", "bob", "carol", "dave", "erin"):
        queue.put(event("DELETED", name))

    lanes = drain(queue)

    for name in ("alice", "bob", "carol", "dave", "erin"):
        own = [kind for lane in lanes for kind, seen in lane if seen == name]
        assert own == ["ADDED", "DELETED"]
        assert sum(1 for lane in lanes if any(seen == name for _, seen in lane)) == 1


def test_a_full_queue_blocks_the_producer_until_a_sender_takes_one() -> None:
    depths: list[int] = []
    queue = DeliveryQueue(lanes=1, capacity=2, on_depth=depths.append)
    queue.put(event("ADDED", "a"))
    queue.put(event("ADDED", "b"))
    third = threading.Thread(target=queue.put, args=(event("ADDED", "c"),))

    third.start()
    third.join(0.2)
    blocked = third.is_alive()
    taken = queue.get(0)
    third.join(5)

    assert blocked and taken is not None and taken.name == "a"
    assert not third.is_alive()
    assert queue.depth == 2
    assert drain(queue) == [[("ADDED", "b"), ("ADDED", "c")]]
    assert max(depths) == 2


def test_closing_releases_a_blocked_producer_and_lets_senders_drain() -> None:
    queue = DeliveryQueue(lanes=1, capacity=1)
    queue.put(event("ADDED", "a"))
    results: list[bool] = []
    producer = threading.Thread(target=lambda: results.append(queue.put(event("ADDED", "b"))))
    producer.start()
    time.sleep(0.05)

    queue.close()
    producer.join(5)

    assert results == [False]
    taken = queue.get(0)
    assert taken is not None and taken.name == "a"
    assert queue.get(0) is None
    assert queue.put(event("ADDED", "c")) is False


def test_an_idle_lane_waits_until_its_timeout() -> None:
    queue = DeliveryQueue(lanes=2, capacity=10)

    assert queue.get(0, timeout=0.01) is None


def test_lanes_are_stable_across_processes() -> None:
    # crc32, not hash(): Python salts str hashes per process, and a restarted forwarder must keep each CSR's lane.
    assert DeliveryQueue(lanes=4, capacity=1).lane_of("alice") == zlib.crc32(b"alice") % 4
