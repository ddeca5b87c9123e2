"""How often one person may ask, in the requests' table: places taken by puts conditional on what was read, so that
asks arriving at the same moment (Lambda invocations at once, threads here) never take more places than the limit."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from stack import Stack

from csrgate.adapters.aws.quota import DynamoAskQuota

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def quota(stack: Stack) -> DynamoAskQuota:
    return DynamoAskQuota(stack.session.client("dynamodb"), stack.resources["RequestTable"])


def stored(stack: Stack, key: str) -> dict[str, Any]:
    (item,) = [item for item in stack.items() if item["pk"] == f"QUOTA#{key}"]
    return item


def test_a_key_has_its_limit_of_places_in_any_window(quota: DynamoAskQuota) -> None:
    # GIVEN five places taken ten minutes apart
    assert all(quota.take("grants#U0DANA", f"g-{n}", 5, HOUR, AT + timedelta(minutes=10 * n)) for n in range(5))
    # THEN a sixth is refused while all five are in the window
    assert not quota.take("grants#U0DANA", "g-5", 5, HOUR, AT + timedelta(minutes=59))
    # WHEN the first is an hour old, THEN one place is free again, and only one
    assert quota.take("grants#U0DANA", "g-6", 5, HOUR, AT + HOUR)
    assert not quota.take("grants#U0DANA", "g-7", 5, HOUR, AT + HOUR + timedelta(minutes=5))
    assert quota.take("grants#U0DANA", "g-8", 5, HOUR, AT + HOUR + timedelta(minutes=10))


def test_the_window_is_kept_to_the_microsecond(quota: DynamoAskQuota) -> None:
    first = AT + timedelta(milliseconds=900)
    assert all(quota.take("asks#U0DANA", f"a-{n}", 5, HOUR, first) for n in range(5))
    assert not quota.take("asks#U0DANA", "a-5", 5, HOUR, first + HOUR - timedelta(microseconds=1))
    assert quota.take("asks#U0DANA", "a-6", 5, HOUR, first + HOUR)


def test_keys_are_counted_apart(quota: DynamoAskQuota) -> None:
    for key in ("grants#U0DANA", "asks#U0DANA", "grants#U0ERIN"):
        assert [quota.take(key, f"x-{n}", 2, HOUR, AT) for n in range(3)] == [True, True, False]


def test_the_same_ask_holds_one_place_and_a_place_given_back_is_free(quota: DynamoAskQuota) -> None:
    assert quota.take("grants#U0DANA", "g-1", 2, HOUR, AT)
    assert quota.take("grants#U0DANA", "g-1", 2, HOUR, AT)  # the other click of the same Extend
    assert quota.take("grants#U0DANA", "g-2", 2, HOUR, AT)
    assert not quota.take("grants#U0DANA", "g-3", 2, HOUR, AT)
    quota.give_back("grants#U0DANA", "g-2")
    quota.give_back("grants#U0DANA", "g-never-taken")
    quota.give_back("grants#U0NOBODY", "g-2")
    assert quota.take("grants#U0DANA", "g-3", 2, HOUR, AT)


def test_the_item_lives_until_the_newest_places_window_is_over(stack: Stack, quota: DynamoAskQuota) -> None:
    # GIVEN a place taken at 09:30, then one by a container whose clock says 09:00
    quota.take("asks#U0DANA", "a-1", 5, HOUR, AT + timedelta(minutes=30))
    quota.take("asks#U0DANA", "a-2", 5, HOUR, AT)
    # THEN the table's TTL keeps the item until 10:30 at least
    assert int(stored(stack, "asks#U0DANA")["expires_at"]) > (AT + timedelta(minutes=90)).timestamp()


class _TtlStrikes:
    """A DynamoDB client on which, just before the first put, the TTL removes the item and others ask meanwhile."""

    def __init__(self, client: Any, strike: Any) -> None:
        self._client, self._strike = client, strike

    def get_item(self, **kwargs: Any) -> Any:
        return self._client.get_item(**kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        strike, self._strike = self._strike, None
        if strike:
            strike(kwargs["Item"])
        return self._client.put_item(**kwargs)


def test_an_ask_that_read_before_the_ttl_removed_the_item_cannot_write_over_places_taken_since(stack: Stack) -> None:
    client, table = stack.session.client("dynamodb"), stack.resources["RequestTable"]
    quota = DynamoAskQuota(client, table)
    for minute in range(3):  # three places, long out of their window: the TTL may remove the item
        assert quota.take("k", f"old-{minute}", 5, HOUR, AT + timedelta(minutes=minute))
    now = AT + 2 * HOUR

    def ttl_and_three_asks(item: dict[str, Any]) -> None:
        client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
        assert all(quota.take("k", f"new-{n}", 5, HOUR, now) for n in range(3))

    slow = DynamoAskQuota(_TtlStrikes(client, ttl_and_three_asks), table)
    assert slow.take("k", "slow", 5, HOUR, now)
    assert sorted(stored(stack, "k")["places"]) == ["new-0", "new-1", "new-2", "slow"]
    assert quota.take("k", "last", 5, HOUR, now) and not quota.take("k", "one-too-many", 5, HOUR, now)


def test_asks_arriving_at_once_take_no_more_places_than_the_limit(stack: Stack) -> None:
    # GIVEN twelve invocations, each with its own client, all asking for dana at the same moment
    quotas = [DynamoAskQuota(stack.session.client("dynamodb"), stack.resources["RequestTable"]) for _ in range(12)]
    start = threading.Barrier(len(quotas))

    def ask(n: int) -> bool:
        start.wait()
        return quotas[n].take("grants#U0DANA", f"g-{n}", 5, HOUR, AT)

    with ThreadPoolExecutor(max_workers=len(quotas)) as pool:
        taken = list(pool.map(ask, range(len(quotas))))
    # THEN exactly five were let through, and the table holds those five
    assert taken.count(True) == 5
    assert sorted(stored(stack, "grants#U0DANA")["places"]) == sorted(f"g-{n}" for n, ok in enumerate(taken) if ok)
