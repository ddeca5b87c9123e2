"""Watch streams: the events after a resourceVersion, bookmarks, and 410 Gone, as the watch cache serves them.

- resourceVersion unset or "0": synthetic ADDED events for every current object, then changes.
- resourceVersion N: every change after N; if the history no longer reaches N, one ERROR event holding a
  Status 410 Expired ("too old resource version"), then the stream ends and the client must re-list.
- sendInitialEvents=true: the current objects as ADDED, then a BOOKMARK annotated k8s.io/initial-events-end.
- allowWatchBookmarks: a BOOKMARK with the latest resourceVersion every `bookmark_interval` seconds.
The stream ends at timeoutSeconds, or when the server shuts down.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from devstack.cluster.selectors import Predicate
from devstack.cluster.status import gone
from devstack.cluster.store import Store, TooOld, matching

API_VERSION, KIND = "certificates.k8s.io/v1", "CertificateSigningRequest"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(frozen=True)
class WatchRequest:
    """What the client asked for."""

    resource_version: str
    predicate: Predicate
    allow_bookmarks: bool
    send_initial_events: bool
    timeout: float


def stream(
    store: Store,
    request: WatchRequest,
    bookmark_interval: float,
    monotonic: Callable[[], float] = time.monotonic,
    kind: tuple[str, str] = (API_VERSION, KIND),
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (event type, object) until the timeout, a 410, or the server closing; bookmarks are of `kind`
    (apiVersion, kind)."""
    deadline = monotonic() + request.timeout
    if request.send_initial_events or request.resource_version in ("", "0"):
        items, sent = store.snapshot(copies=False)  # the stored objects, as the events after them are
        for item in items:
            if request.predicate(item):
                yield "ADDED", item
        if request.send_initial_events:
            yield "BOOKMARK", _bookmark(sent, kind, initial_events_end=True)
    else:
        sent = int(request.resource_version)
    next_bookmark = monotonic() + bookmark_interval
    while True:
        now = monotonic()
        if now >= deadline:
            return
        with store.changed:
            if store.closed:
                return
            try:
                events = store.events_after(sent)
            except TooOld as exc:
                yield "ERROR", gone(str(exc)).status()
                return
            if not events:
                wake = min(deadline, next_bookmark) if request.allow_bookmarks else deadline
                store.wait(sent, wake - now)
                events = store.events_after(sent) if not store.closed else []
            latest = max([sent, *(event.resource_version for event in events)])
        for event in events:
            seen = matching(request.predicate, event)
            if seen is not None:
                yield seen.type, seen.object
        sent = latest
        if request.allow_bookmarks and monotonic() >= next_bookmark:
            yield "BOOKMARK", _bookmark(sent, kind)
            next_bookmark = monotonic() + bookmark_interval


def _bookmark(version: int, kind: tuple[str, str], initial_events_end: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": str(version), "creationTimestamp": None}
    if initial_events_end:
        metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": kind[1], "apiVersion": kind[0], "metadata": metadata}
