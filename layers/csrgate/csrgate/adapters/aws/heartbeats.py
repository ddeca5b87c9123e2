"""Forwarders' heartbeats, in the requests' table: one small item per cluster (`CLUSTER#<name>` / `HEARTBEAT`), updated
in place by each heartbeat, never an audit event.

`received_at` is when the forwarder was last heard; `silence_told` is the `received_at` whose following silence was
told. A later heartbeat moves `received_at` on, so the next silence is a new one and may be told in its turn. The item
has no `pending`, so it never enters the sweeper's sparse index although it has a `received_at`; it has no TTL either:
there is one per cluster ever configured, a few dozen bytes each.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from csrgate.adapters.aws.store import call, dynamo, plain
from csrgate.domain.ports import Conflict

HEARTBEAT_SK = "HEARTBEAT"


class DynamoHeartbeats:
    """Heartbeats on the requests' DynamoDB table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def beat(self, cluster: str, at: datetime) -> None:
        """Move `received_at` on to `at`; a beat older than the one stored (two deliveries crossing) changes nothing."""
        with suppress(Conflict):
            call(
                self._client.update_item,
                TableName=self._table,
                Key=_key(cluster),
                UpdateExpression="SET received_at = :at",
                ConditionExpression="attribute_not_exists(received_at) OR received_at < :at",
                ExpressionAttributeValues=dynamo({":at": _text(at)}),
            )

    def last(self, cluster: str) -> datetime | None:
        """When the cluster's forwarder was last heard from, read strongly consistent; None when it never was."""
        item = call(self._client.get_item, TableName=self._table, Key=_key(cluster), ConsistentRead=True).get("Item")
        if not item:
            return None
        return datetime.fromisoformat(plain(item)["received_at"]).astimezone(UTC)

    def told_silent(self, cluster: str, since: datetime) -> bool:
        """Mark the silence after the beat at `since` told, only while that beat is still the last one and its silence
        was not told before: False otherwise."""
        try:
            call(
                self._client.update_item,
                TableName=self._table,
                Key=_key(cluster),
                UpdateExpression="SET silence_told = :since",
                ConditionExpression="received_at = :since AND "
                "(attribute_not_exists(silence_told) OR silence_told <> :since)",
                ExpressionAttributeValues=dynamo({":since": _text(since)}),
            )
        except Conflict:
            return False
        return True


def _key(cluster: str) -> dict[str, Any]:
    return dynamo({"pk": f"CLUSTER#{cluster}", "sk": HEARTBEAT_SK})


def _text(at: datetime) -> str:
    # One fixed form, always with microseconds, so that the stored times compare as text in the order of time.
    return at.astimezone(UTC).isoformat(timespec="microseconds")
