"""Per-person limits in the requests' table: one item per key (`QUOTA#<key>` / `QUOTA`) holding each place taken,
named by the ask that took it, with when (microseconds since the epoch), a random token changed by every write, and
an expiry for the table's TTL once the newest place's window is over.

Every write is conditional on the token read (or on the item's absence), so of two asks made at the same moment
that read the same places, one writes and the other reads again: no more than `limit` are taken in any window, as
DynamoDB decides, not a count each ask read before the other wrote. A token, unlike a version number, never comes
back when the TTL removes the item and it is made again. It needs only GetItem and PutItem on the table, which the
interactions function has already.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from csrgate.adapters.aws.store import call, dynamo, plain
from csrgate.domain.errors import RetryLater
from csrgate.domain.ports import Conflict

_SK = "QUOTA"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_PER_SECOND = 1_000_000  # microseconds
_ATTEMPTS = 10  # each lost race is another ask's write: ten in a row is contention no person makes


@dataclass(frozen=True)
class _Read:
    places: dict[str, int]  # ask id -> when taken, in microseconds
    token: str | None  # None: no item
    expires_at: int


class DynamoAskQuota:
    """AskQuota on the requests' DynamoDB table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def take(self, key: str, place: str, limit: int, window: timedelta, now: datetime) -> bool:
        """Take `place` when fewer than `limit` places were taken within `window` before `now` (a place held already
        is kept); read again when another ask wrote meanwhile."""
        at, cutoff = _micros(now), _micros(now - window)
        for _ in range(_ATTEMPTS):
            read = self._read(key)
            held = {name: taken for name, taken in read.places.items() if taken > cutoff}
            if place in held:
                return True
            if len(held) >= limit:
                return False
            places = held | {place: at}
            expires_at = math.ceil((max(places.values()) + window // _MICROSECOND) / _PER_SECOND) + 1
            if self._write(key, places, read, max(expires_at, read.expires_at)):
                return True
        raise RetryLater("the asking limit kept changing while it was read")

    def give_back(self, key: str, place: str) -> None:
        """Free `place`, taken by an ask that was not recorded after all."""
        for _ in range(_ATTEMPTS):
            read = self._read(key)
            if place not in read.places:
                return
            if self._write(key, {name: at for name, at in read.places.items() if name != place}, read, read.expires_at):
                return
        raise RetryLater("the asking limit kept changing while it was read")

    def _read(self, key: str) -> _Read:
        answer = call(self._client.get_item, TableName=self._table, Key=dynamo(_key(key)), ConsistentRead=True)
        if "Item" not in answer:
            return _Read({}, None, 0)
        item = plain(answer["Item"])
        places = {str(name): int(at) for name, at in item.get("places", {}).items()}
        return _Read(places, str(item["token"]), int(item["expires_at"]))

    def _write(self, key: str, places: dict[str, int], read: _Read, expires_at: int) -> bool:
        """Put the places, if nobody wrote since `read`; False when someone did."""
        item = _key(key) | {"places": places, "token": str(uuid.uuid4()), "expires_at": expires_at}
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        if read.token is not None:  # TOKEN is one of DynamoDB's reserved words: named by a placeholder
            condition = {
                "ConditionExpression": "#token = :token",
                "ExpressionAttributeNames": {"#token": "token"},
                "ExpressionAttributeValues": dynamo({":token": read.token}),
            }
        try:
            call(self._client.put_item, TableName=self._table, Item=dynamo(item), **condition)
        except Conflict:
            return False
        return True


def _key(key: str) -> dict[str, str]:
    return {"pk": f"QUOTA#{key}", "sk": _SK}


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND
