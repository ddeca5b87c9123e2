"""Objects with resourceVersions, a bounded event history for watches, kept in a JSON file like etcd in small.

Every change takes the next resourceVersion (one counter for everything, as etcd's revision) and appends an
event to the history. The history holds the last `history_limit` events; a watch from a version older than
that gets 410 Gone, as after an etcd compaction. The file under the data directory holds the objects, the
counter and the history, so resourceVersions keep increasing across restarts and a watch can resume across one.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
DEFAULT_HISTORY_LIMIT = 1000


@dataclass(frozen=True)
class Event:
    """One change: ADDED, MODIFIED or DELETED, at a resourceVersion; `previous` is the object before it."""

    type: str
    resource_version: int
    object: dict[str, Any]
    previous: dict[str, Any] | None = None


class TooOld(Exception):
    """The history no longer reaches back to the asked resourceVersion."""

    def __init__(self, asked: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {asked} ({oldest})")
        self.asked = asked
        self.oldest = oldest


class VersionMismatch(Exception):
    """A compare-and-swap found another resourceVersion than expected."""


class Store:
    """Thread-safe object store; `changed` is notified after every change and on close."""

    def __init__(
        self, directory: Path | None, history_limit: int = DEFAULT_HISTORY_LIMIT, file_name: str = STATE_FILE
    ) -> None:
        self._path = directory / file_name if directory else None
        self._objects: dict[str, dict[str, Any]] = {}
        self._history: deque[Event] = deque()
        self._history_limit = max(1, history_limit)
        # etcd starts at revision 1, so a list of an empty cluster never says "0" (which means "any" to a watch)
        self._resource_version = 1
        self._compacted = 0  # events at or below this version are no longer in the history
        self.changed = threading.Condition()
        self.closed = False
        if self._path and self._path.exists():
            self._load(self._path)

    @property
    def resource_version(self) -> int:
        """The latest resourceVersion."""
        with self.changed:
            return self._resource_version

    def get(self, name: str) -> dict[str, Any] | None:
        """A copy of the object, or None."""
        with self.changed:
            found = self._objects.get(name)
            return copy.deepcopy(found) if found is not None else None

    def snapshot(self, *, copies: bool = True) -> tuple[list[dict[str, Any]], int]:
        """Copies of all objects sorted by name, and the resourceVersion they are consistent at. With copies=False,
        the stored objects themselves, for a reader that never changes them: a change stores a new object rather
        than changing one, so what it holds stays as it was (watch events hold them the same way)."""
        with self.changed:
            items = [self._objects[name] for name in sorted(self._objects)]
            return [copy.deepcopy(item) for item in items] if copies else items, self._resource_version

    def create(self, name: str, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Store a new object under the next resourceVersion; None when the name is taken."""
        with self._changing():
            if name in self._objects:
                return None
            stored = self._stamp(obj)
            self._objects[name] = stored
            self._record(Event("ADDED", self._resource_version, stored))
            return copy.deepcopy(stored)

    def replace(self, name: str, obj: dict[str, Any], expected_version: str) -> dict[str, Any]:
        """Swap in a new state if the stored one is still at `expected_version`; VersionMismatch otherwise."""
        with self._changing():
            current = self._objects.get(name)
            if current is None or current["metadata"]["resourceVersion"] != expected_version:
                raise VersionMismatch(name)
            stored = self._stamp(obj)
            self._objects[name] = stored
            self._record(Event("MODIFIED", self._resource_version, stored, current))
            return copy.deepcopy(stored)

    def delete(self, name: str, expected_version: str) -> dict[str, Any]:
        """Remove the object if still at `expected_version`; the DELETED event carries the deletion's version."""
        with self._changing():
            current = self._objects.get(name)
            if current is None or current["metadata"]["resourceVersion"] != expected_version:
                raise VersionMismatch(name)
            del self._objects[name]
            gone = self._stamp(current)
            self._record(Event("DELETED", self._resource_version, gone, current))
            return copy.deepcopy(gone)

    def events_after(self, version: int) -> list[Event]:
        """Events newer than `version`; TooOld when the history has been compacted past it. Hold `changed`."""
        if version < self._compacted:
            raise TooOld(version, self._compacted + 1)
        return [event for event in self._history if event.resource_version > version]

    def wait(self, after: int, timeout: float) -> None:
        """Block until a change newer than `after`, a close, or the timeout. Hold `changed`."""
        self.changed.wait_for(lambda: self.closed or self._resource_version > after, timeout=max(0.0, timeout))

    def close(self) -> None:
        """Wake every waiter; watches end."""
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    @contextmanager
    def _changing(self) -> Iterator[None]:
        with self.changed:
            before = self._resource_version
            yield
            if self._resource_version != before:
                self._save()
                self.changed.notify_all()

    def _stamp(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._resource_version += 1
        stamped = copy.deepcopy(obj)
        stamped.setdefault("metadata", {})["resourceVersion"] = str(self._resource_version)
        return stamped

    def _record(self, event: Event) -> None:
        self._history.append(event)
        while len(self._history) > self._history_limit:
            self._compacted = self._history.popleft().resource_version

    def _save(self) -> None:
        if self._path is None:
            return
        state = {
            "resourceVersion": self._resource_version,
            "compactedResourceVersion": self._compacted,
            "objects": self._objects,
            "history": [
                {"type": e.type, "resourceVersion": e.resource_version, "object": e.object, "previous": e.previous}
                for e in self._history
            ],
        }
        temporary = self._path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(state, stream, separators=(",", ":"))
        os.replace(temporary, self._path)

    def _load(self, path: Path) -> None:
        state = json.loads(path.read_text(encoding="utf-8"))
        self._resource_version = int(state["resourceVersion"])
        self._compacted = int(state.get("compactedResourceVersion", 0))
        self._objects = dict(state.get("objects", {}))
        events = [
            Event(e["type"], int(e["resourceVersion"]), e["object"], e.get("previous"))
            for e in state.get("history", [])
        ]
        self._history = deque(events[-self._history_limit :])
        if len(events) > self._history_limit:
            self._compacted = events[-self._history_limit - 1].resource_version


def matching(predicate: Callable[[dict[str, Any]], bool], event: Event) -> Event | None:
    """The event as a watcher with a selector sees it: objects entering or leaving the selection are ADDED
    or DELETED, as the watch cache does for field and label selectors."""
    now = event.type != "DELETED" and predicate(event.object)
    before = event.previous is not None and predicate(event.previous)
    if event.type == "DELETED":
        return event if before else None
    if event.type == "ADDED":
        return event if now else None
    if now and before:
        return event
    if now:
        return Event("ADDED", event.resource_version, event.object, event.previous)
    if before:
        return Event("DELETED", event.resource_version, event.object, event.previous)
    return None
