"""What the end-to-end tests read back from `csrgate dev up`: the audit log, CSR conditions, Slack messages."""

from __future__ import annotations

import json
from typing import Any

from devstack.client import DevStackClient, wait_for


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


def about(events: list[dict[str, Any]], csr_name: str) -> list[dict[str, Any]]:
    """The audit events about one CSR."""
    return [event for event in events if event.get("csr_name") == csr_name]


def condition(stack: DevStackClient, name: str, kind: str) -> dict[str, str]:
    """The CSR's condition of one type (Approved, Denied ...), waited for."""

    def present() -> dict[str, str] | None:
        conditions = (stack.csr(name) or {}).get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == kind), None)

    return wait_for(f"{name} to have a {kind} condition", present)


def current(stack: DevStackClient, message: dict[str, Any]) -> dict[str, Any]:
    """The message as Slack shows it now."""
    return next(m for m in stack.messages(str(message["channel"])) if m["ts"] == message["ts"])
