"""What the functions record for auditors: the audit lines they log, the metrics they write (EMF lines), and the audit
events stored with a request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stack import Stack


def audit_events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The structured log lines the function wrote that carry an audit `event` key."""
    return audit_lines(capsys.readouterr().out)


def audit_lines(output: str) -> list[dict[str, Any]]:
    """The structured log lines in captured output that carry an audit `event` key."""
    lines = []
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "event" in record and "_aws" not in record:
            lines.append(record)
    return lines


def metric_lines(output: str, metric: str) -> list[dict[str, Any]]:
    """The EMF lines in captured output that write `metric`."""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    return [line for line in lines if metric in line]


def audit_trail(stack: Stack, request_id: str) -> list[dict[str, Any]]:
    """The request's stored audit events, oldest first."""
    return stack.stored_events(request_id)
