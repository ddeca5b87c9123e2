"""The list-then-watch loop, as client-go's reflector runs it.

List every CSR, then watch from the list's resourceVersion with bookmarks. Every event moves the remembered
resourceVersion forward only after its changes are queued, so a lost connection resumes where nothing is
missing; BOOKMARK events move it too (the `kubernetes` client's Watch does not). A watch ending at its timeout
resumes at once; a broken one resumes after a backoff; 410 Gone (the version fell out of the API server's
history) lists again, and the re-list finds whatever the gap hid.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from csrgate.domain.errors import RetryLater
from csrgate.forwarder.backoff import Backoff
from csrgate.forwarder.changes import ChangeTracker, CsrEvent
from csrgate.forwarder.metrics import ForwarderMetrics

LOG = logging.getLogger("csrgate.forwarder.source")
BOOKMARK = "BOOKMARK"


class Expired(Exception):
    """410 Gone: the resourceVersion (or a list's continue token) is too old; list again."""


@dataclass(frozen=True)
class CsrList:
    """Every CSR, as one consistent snapshot at `resource_version`."""

    items: list[dict[str, Any]]
    resource_version: str


@dataclass(frozen=True)
class WatchEvent:
    """One event of a watch stream: ADDED, MODIFIED, DELETED or BOOKMARK, and its object as JSON."""

    type: str
    object: Mapping[str, Any]

    @property
    def resource_version(self) -> str:
        """metadata.resourceVersion of the object (of the whole store, for a BOOKMARK)."""
        return str((self.object.get("metadata") or {}).get("resourceVersion") or "")


class CsrApi(Protocol):
    """The two reads the forwarder makes; raise Expired on 410 Gone and RetryLater when the API is unreachable."""

    def list(self) -> CsrList:
        """Every CSR, all pages."""
        ...

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[WatchEvent]:
        """Changes after `resource_version`, with bookmarks, until the server ends the watch."""
        ...


class CsrSource:
    """Feeds every CSR change to `publish` (which blocks while the delivery queue is full), until stopped."""

    def __init__(
        self,
        api: CsrApi,
        tracker: ChangeTracker,
        publish: Callable[[CsrEvent], bool],
        metrics: ForwarderMetrics,
        backoff: Backoff,
        stopping: threading.Event,
        watch_timeout: int,
        wait: Callable[[float], bool] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._tracker = tracker
        self._publish = publish
        self._metrics = metrics
        self._backoff = backoff
        self._stopping = stopping
        self._watch_timeout = watch_timeout
        self._wait = wait or stopping.wait  # returns True when stopping: a backoff ends early on SIGTERM
        self._monotonic = monotonic
        self.ready = threading.Event()
        self.resource_version: str | None = None  # None: the next step is a (re-)list

    def run(self) -> None:
        """List and watch until `stopping` is set."""
        while not self._stopping.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                self._watch()
            except Expired as exc:
                LOG.info("watch.expired", extra={"reason": str(exc), "resource_version": self.resource_version})
                self._metrics.watch_restarts.labels(reason="expired").inc()
                self.resource_version = None
            except RetryLater as exc:
                self._pause("error", str(exc))
            except Exception as exc:  # a bug must not end the loop silently: log it, back off, list again
                LOG.exception("watch.failed", extra={"reason": f"{type(exc).__name__}: {exc}"})
                self.resource_version = None
                self._pause("error", type(exc).__name__)

    def _list(self) -> None:
        listed = self._api.list()
        self._metrics.events_seen.labels(type="LISTED").inc(len(listed.items))
        events = self._tracker.listed(listed.items)
        LOG.info(
            "csrs.listed",
            extra={"csrs": len(listed.items), "events": len(events), "resource_version": listed.resource_version},
        )
        if not self._publish_all(events):
            return
        self.resource_version = listed.resource_version
        self._backoff.reset()
        self.ready.set()

    def _watch(self) -> None:
        if self.resource_version is None or self._stopping.is_set():
            return
        started, events = self._monotonic(), 0
        for event in self._api.watch(self.resource_version, self._watch_timeout):
            if self._stopping.is_set():
                return
            events += 1
            self._metrics.events_seen.labels(type=event.type).inc()
            if event.type != BOOKMARK and not self._publish_all(self._tracker.changed(event.type, event.object)):
                return
            self.resource_version = event.resource_version or self.resource_version
            self._backoff.reset()
        if self._stopping.is_set():
            return
        # The server ended the watch: at its timeout, resume at once from the last version seen. Ended empty
        # long before it (a restarting server, a proxy cutting streams), back off first, as client-go's
        # reflector does for "very short watches", rather than hammer the API server.
        if events == 0 and self._monotonic() - started < self._watch_timeout / 2:
            self._pause("closed", "the watch ended early with no events")
        else:
            self._metrics.watch_restarts.labels(reason="closed").inc()

    def _publish_all(self, events: list[CsrEvent]) -> bool:
        # all() stops at the first False: the queue closed because the forwarder is shutting down.
        return all(self._publish(event) for event in events)

    def _pause(self, reason: str, detail: str) -> None:
        delay = self._backoff.next_delay()
        LOG.warning(
            "watch.retrying",
            extra={"reason": detail, "retry_in_seconds": round(delay, 3), "resource_version": self.resource_version},
        )
        self._metrics.watch_restarts.labels(reason=reason).inc()
        self._wait(delay)
