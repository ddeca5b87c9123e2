"""What the functions logged in the dev stack: Powertools JSON lines in `csrgate dev up`'s output."""

from __future__ import annotations

import json
from typing import Any

from devstack.client import DevStackClient


def audit_events(stack: DevStackClient, event: str) -> list[dict[str, Any]]:
    """The functions' log lines (Powertools JSON in dev up's output) for one audit event."""
    lines = []
    for line in (stack.home / "dev-up.log").read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("message") == event:
                lines.append(entry)
    return lines
