"""What to send: turns what the cluster shows (lists and watch events) into the protocol's events.

- ADDED for a CSR without an Approved or Denied condition; every list (a start or a re-list after 410 Gone)
  sends it again, since re-sending is safe and a restart may have lost what was queued.
- MODIFIED when its conditions or status.certificate differ from what was last sent, and for a CSR first seen
  already decided (decided while no forwarder was watching: csrgate still hears of it once).
- DELETED when a watch says so, when a re-list no longer holds a CSR that was known, or when a CSR came back
  under the same name with a new uid (the old one was deleted in between).
Other changes (labels, annotations, managed fields) send nothing: csrgate reads none of them after intake.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from csrgate.domain.conditions import CsrStatus

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


@dataclass(frozen=True)
class CsrEvent:
    """One event for csrgate: its type and the CSR object exactly as the Kubernetes API returned it."""

    type: str
    object: Mapping[str, Any]

    @property
    def name(self) -> str:
        """metadata.name."""
        return str((self.object.get("metadata") or {}).get("name") or "")

    @property
    def uid(self) -> str:
        """metadata.uid."""
        return str((self.object.get("metadata") or {}).get("uid") or "")


@dataclass(frozen=True)
class _Known:
    uid: str
    state: str  # digest of conditions and certificate: what csrgate reacts to
    object: Mapping[str, Any]  # the last version seen, for a DELETED that only a re-list can detect


def is_pending(obj: Mapping[str, Any]) -> bool:
    """Neither approved nor denied, read as intake reads it (csrgate.domain.conditions.CsrStatus)."""
    return not CsrStatus.of(obj.get("status")).decided


def signer_of(obj: Mapping[str, Any]) -> str:
    """spec.signerName."""
    return str((obj.get("spec") or {}).get("signerName") or "")


class ChangeTracker:
    """Remembers the last state of each CSR it passed on, to send changes once and detect deletions."""

    def __init__(self, signers: frozenset[str] | None) -> None:
        self._signers = signers
        self._known: dict[str, _Known] = {}

    def wanted(self, obj: Mapping[str, Any]) -> bool:
        """Whether the CSR's signer is one the forwarder sends (all when no filter is configured)."""
        return self._signers is None or signer_of(obj) in self._signers

    def listed(self, items: Iterable[Mapping[str, Any]]) -> list[CsrEvent]:
        """The events a full list calls for: every pending CSR, decisions not yet sent, and deletions."""
        events: list[CsrEvent] = []
        present: set[str] = set()
        for obj in items:
            if not self.wanted(obj):
                continue
            name = _name(obj)
            present.add(name)
            events += self._replaced(name, obj)
            known = self._known.get(name)
            state = _state(obj)
            if is_pending(obj):
                events.append(CsrEvent(ADDED, obj))
            elif known is None or known.state != state:
                events.append(CsrEvent(MODIFIED, obj))
            self._known[name] = _Known(_uid(obj), state, obj)
        for name in [name for name in self._known if name not in present]:
            events.append(CsrEvent(DELETED, self._known.pop(name).object))
        return events

    def changed(self, event_type: str, obj: Mapping[str, Any]) -> list[CsrEvent]:
        """The events one watch event calls for (none when nothing csrgate reads has changed)."""
        if not self.wanted(obj):
            return []
        name = _name(obj)
        if event_type == DELETED:
            self._known.pop(name, None)
            return [CsrEvent(DELETED, obj)]
        events = self._replaced(name, obj)
        known = self._known.get(name)
        state = _state(obj)
        self._known[name] = _Known(_uid(obj), state, obj)
        if known is None:
            events.append(CsrEvent(ADDED if is_pending(obj) else MODIFIED, obj))
        elif known.state != state:
            events.append(CsrEvent(MODIFIED, obj))
        return events

    def __len__(self) -> int:
        return len(self._known)

    def _replaced(self, name: str, obj: Mapping[str, Any]) -> list[CsrEvent]:
        """A DELETED for the CSR that had this name before, if the watch missed its deletion."""
        known = self._known.get(name)
        if known is None or known.uid == _uid(obj):
            return []
        del self._known[name]
        return [CsrEvent(DELETED, known.object)]


def _conditions(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = obj.get("status")
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    return [c for c in conditions or [] if isinstance(c, Mapping)]


def _state(obj: Mapping[str, Any]) -> str:
    status = obj.get("status")
    certificate = status.get("certificate") if isinstance(status, Mapping) else None
    seen = [[c.get(key) for key in ("type", "status", "reason", "message")] for c in _conditions(obj)]
    text = json.dumps([seen, certificate or ""], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _uid(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")
