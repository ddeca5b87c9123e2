"""Per-person limits in the requests' table: one item per key (`QUOTA#<key>` / `QUOTA`) holding when each of its
places was taken (Unix seconds) and a version, gone with the table's TTL once its last window is over.

Taking a place is a put conditional on the version read (or on the item's absence), so of two asks made at the same
moment that read the same places, one writes and the other reads again: no more than `limit` are taken in any
window, as DynamoDB decides, not a count each ask read before the other wrote. It needs only GetItem and PutItem on
the table, which the interactions function has already.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from csrgate.adapters.aws.store import call, dynamo, plain
from csrgate.domain.ports import Conflict

_SK = "QUOTA"


class DynamoAskQuota:
    """AskQuota on the requests' DynamoDB table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def take(self, key: str, limit: int, window: timedelta, now: datetime) -> bool:
        """Take a place when fewer than `limit` were taken within `window` before `now`; re-read when another ask
        took one meanwhile (each such loss is a place taken, so `limit` losses mean no place is left)."""
        at, cutoff = int(now.timestamp()), int((now - window).timestamp())
        item_key = {"pk": f"QUOTA#{key}", "sk": _SK}
        for _ in range(limit):
            stored = call(self._client.get_item, TableName=self._table, Key=dynamo(item_key), ConsistentRead=True)
            read = plain(stored["Item"]) if "Item" in stored else None
            held = sorted(int(taken) for taken in (read or {}).get("taken", []) if int(taken) > cutoff)
            if len(held) >= limit:
                return False
            version = int(read["version"]) if read else 0
            item = item_key | {
                "taken": [*held, at],
                "version": version + 1,
                "expires_at": at + int(window.total_seconds()) + 1,
            }
            condition = "version = :version" if read else "attribute_not_exists(pk)"
            values = {"ExpressionAttributeValues": dynamo({":version": version})} if read else {}
            try:
                call(
                    self._client.put_item,
                    TableName=self._table,
                    Item=dynamo(item),
                    ConditionExpression=condition,
                    **values,
                )
            except Conflict:
                continue
            return True
        return False
