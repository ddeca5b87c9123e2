"""Digests of automatic decisions, in the requests' table: one partition per cluster (`DIGEST#<cluster>`), and in it
per window a head item (`WINDOW#<start>`: the message, the flush asked for, the lease) and an entry per decision
(`WINDOW#<start>#<request id>`), so one query reads a window whole.

An entry is a put keyed by its request, so a repeat changes nothing, and conditional: only an approval may be
replaced, by a denial, so an older reading never undoes the worker's denial. Items expire a week after their window:
the audit trail keeps each decision; the digest only tells them.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from csrgate.adapters.aws.store import call, dynamo, plain
from csrgate.domain.digests import STALE_ASK_SECONDS, Digest, DigestEntry
from csrgate.domain.outcome import Outcome
from csrgate.domain.ports import Conflict
from csrgate.domain.records import MessageRef

RETENTION = timedelta(days=7)


class DynamoDigests:
    """DigestStore on the requests' DynamoDB table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def add(self, cluster: str, window: int, entry: DigestEntry) -> None:
        """Keep the request's first entry, or a denial over its approval."""
        item = {
            "pk": _pk(cluster),
            "sk": f"{_head(window)}#{entry.request_id}",
            "csr_name": entry.csr_name,
            "signer": entry.signer,
            "requester": entry.requester,
            "outcome": entry.outcome.value,
            "observed": entry.observed,
            "reason": entry.reason,
            "request_id": entry.request_id,
            "expires_at": _expiry(window),
        }
        with suppress(Conflict):
            call(
                self._client.put_item,
                TableName=self._table,
                Item=dynamo(item),
                **_replacing(entry),
            )

    def ask_flush(self, cluster: str, window: int, now: datetime) -> bool:
        """Set the ask, unless one is waiting that is not stale."""
        at = int(now.timestamp())
        try:
            self._update_head(
                cluster,
                window,
                sets="flush_asked_at = :at",
                condition="attribute_not_exists(flush_asked_at) OR flush_asked_at < :stale",
                values={":at": at, ":stale": at - STALE_ASK_SECONDS},
            )
        except Conflict:
            return False
        return True

    def drop_flush(self, cluster: str, window: int) -> None:
        """Remove the ask."""
        self._update_head(cluster, window, remove="flush_asked_at")

    def claim(self, cluster: str, window: int, now: datetime, lease_seconds: int) -> bool:
        """Lease the head, unless another flush's lease is still running."""
        at = int(now.timestamp())
        try:
            self._update_head(
                cluster,
                window,
                sets="lease_until = :until",
                condition="attribute_not_exists(lease_until) OR lease_until < :now",
                values={":until": at + lease_seconds, ":now": at},
            )
        except Conflict:
            return False
        return True

    def take_flush(self, cluster: str, window: int) -> None:
        """Remove the ask (the lease holder does this before reading)."""
        self._update_head(cluster, window, remove="flush_asked_at")

    def read(self, cluster: str, window: int) -> Digest:
        """Query the window's partition range: the head and every entry."""
        head, entries = None, []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :window)",
            "ExpressionAttributeValues": dynamo({":pk": _pk(cluster), ":window": _head(window)}),
            "ConsistentRead": True,
        }
        while True:
            page = call(self._client.query, **arguments)
            for item in map(plain, page.get("Items", [])):
                if item["sk"] == _head(window):
                    head = item
                elif item["sk"].startswith(f"{_head(window)}#"):
                    entries.append(_entry(item))
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        message = MessageRef(head["slack_channel"], head["slack_ts"]) if head and "slack_ts" in head else None
        return Digest(tuple(entries), message)

    def save_message(self, cluster: str, window: int, message: MessageRef) -> None:
        """Keep the first message only."""
        with suppress(Conflict):
            self._update_head(
                cluster,
                window,
                sets="slack_channel = :channel, slack_ts = :ts",
                condition="attribute_not_exists(slack_ts)",
                values={":channel": message.channel, ":ts": message.ts},
            )

    def release(self, cluster: str, window: int) -> None:
        """Remove the lease."""
        self._update_head(cluster, window, remove="lease_until")

    def _update_head(
        self,
        cluster: str,
        window: int,
        *,
        sets: str = "",
        remove: str = "",
        condition: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        # Any write may be the one that makes the head, so each sets its expiry.
        assignments = ", ".join(part for part in (sets, "expires_at = :expires") if part)
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "Key": dynamo({"pk": _pk(cluster), "sk": _head(window)}),
            "UpdateExpression": f"SET {assignments}" + (f" REMOVE {remove}" if remove else ""),
            "ExpressionAttributeValues": dynamo({**(values or {}), ":expires": _expiry(window)}),
        }
        if condition:
            arguments["ConditionExpression"] = condition
        call(self._client.update_item, **arguments)


def _replacing(entry: DigestEntry) -> dict[str, Any]:
    if entry.outcome is Outcome.DENY and not entry.observed:
        return {
            "ConditionExpression": "attribute_not_exists(sk) OR (outcome = :approve AND observed = :false)",
            "ExpressionAttributeValues": dynamo({":approve": Outcome.APPROVE.value, ":false": False}),
        }
    return {"ConditionExpression": "attribute_not_exists(sk)"}


def _pk(cluster: str) -> str:
    return f"DIGEST#{cluster}"


def _head(window: int) -> str:
    return f"WINDOW#{window:011d}"  # fixed width, so windows sort in the order of time


def _expiry(window: int) -> int:
    return window + int(RETENTION.total_seconds())


def _entry(item: dict[str, Any]) -> DigestEntry:
    return DigestEntry(
        request_id=str(item["request_id"]),
        csr_name=str(item["csr_name"]),
        signer=str(item["signer"]),
        requester=str(item["requester"]),
        outcome=Outcome(item["outcome"]),
        observed=bool(item.get("observed", False)),
        reason=str(item["reason"]),
    )
