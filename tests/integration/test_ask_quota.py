"""How often one person may ask, in the requests' table: places taken by puts conditional on what was read, so that
asks arriving at the same moment (Lambda invocations at once, threads here) never take more places than the limit."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from stack import Stack

from csrgate.adapters.aws.quota import DynamoAskQuota

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def quota(stack: Stack) -> DynamoAskQuota:
    return DynamoAskQuota(stack.session.client("dynamodb"), stack.resources["RequestTable"])


def test_a_key_has_its_limit_of_places_in_any_window(quota: DynamoAskQuota) -> None:
    # GIVEN five places taken ten minutes apart
    assert all(quota.take("grants#U0DANA", 5, HOUR, AT + timedelta(minutes=10 * n)) for n in range(5))
    # THEN a sixth is refused while all five are in the window
    assert not quota.take("grants#U0DANA", 5, HOUR, AT + timedelta(minutes=59))
    # WHEN the first is an hour old, THEN one place is free again, and only one
    assert quota.take("grants#U0DANA", 5, HOUR, AT + HOUR)
    assert not quota.take("grants#U0DANA", 5, HOUR, AT + HOUR + timedelta(minutes=5))
    assert quota.take("grants#U0DANA", 5, HOUR, AT + HOUR + timedelta(minutes=10))


def test_keys_are_counted_apart(quota: DynamoAskQuota) -> None:
    for key in ("grants#U0DANA", "asks#U0DANA", "grants#U0ERIN"):
        assert [quota.take(key, 2, HOUR, AT) for _ in range(3)] == [True, True, False]


def test_places_are_gone_with_the_tables_ttl_once_their_window_is_over(stack: Stack, quota: DynamoAskQuota) -> None:
    quota.take("asks#U0DANA", 5, HOUR, AT)
    quota.take("asks#U0DANA", 5, HOUR, AT + timedelta(minutes=30))
    (places,) = [item for item in stack.items() if item["pk"] == "QUOTA#asks#U0DANA"]
    assert int(places["expires_at"]) > (AT + timedelta(minutes=90)).timestamp()


def test_asks_arriving_at_once_take_no_more_places_than_the_limit(stack: Stack) -> None:
    # GIVEN twelve invocations, each with its own client, all asking for dana at the same moment
    quotas = [DynamoAskQuota(stack.session.client("dynamodb"), stack.resources["RequestTable"]) for _ in range(12)]
    start = threading.Barrier(len(quotas))

    def ask(quota: DynamoAskQuota) -> bool:
        start.wait()
        return quota.take("grants#U0DANA", 5, HOUR, AT)

    with ThreadPoolExecutor(max_workers=len(quotas)) as pool:
        taken = list(pool.map(ask, quotas))
    # THEN exactly five were let through, and the table holds those five
    assert taken.count(True) == 5
    (places,) = [item for item in stack.items() if item["pk"] == "QUOTA#grants#U0DANA"]
    assert len(places["taken"]) == 5 and places["version"] == 5
