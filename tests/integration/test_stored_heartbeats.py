"""What DynamoHeartbeats stores reads back as written: the last beat of each cluster's forwarder, never moved back by
a late one, and each silence told once, on the table template.yaml makes (moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from stack import Stack

from csrgate.adapters.aws.heartbeats import DynamoHeartbeats

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def heartbeats(stack: Stack) -> DynamoHeartbeats:
    return DynamoHeartbeats(stack.session.client("dynamodb"), stack.resources["RequestTable"])


def test_a_beat_reads_back_to_the_microsecond_and_only_for_its_cluster(stack: Stack) -> None:
    beats = heartbeats(stack)
    assert beats.last("lab") is None
    beats.beat("lab", AT + timedelta(microseconds=250))
    assert beats.last("lab") == AT + timedelta(microseconds=250)
    assert beats.last("lab").tzinfo is not None  # type: ignore[union-attr]
    assert beats.last("eks-prod") is None
    [item] = stack.items()
    assert (item["pk"], item["sk"]) == ("CLUSTER#lab", "HEARTBEAT")


def test_a_later_beat_moves_it_on_and_a_late_older_one_does_not_move_it_back(stack: Stack) -> None:
    beats = heartbeats(stack)
    beats.beat("lab", AT)
    beats.beat("lab", AT + timedelta(seconds=1))
    assert beats.last("lab") == AT + timedelta(seconds=1)
    # two deliveries crossing: the older arrives last
    beats.beat("lab", AT + timedelta(microseconds=500_000))
    assert beats.last("lab") == AT + timedelta(seconds=1)
    # a time in another zone is the same instant, stored in UTC, and compared as such
    beats.beat("lab", (AT + timedelta(seconds=2)).astimezone(timezone(timedelta(hours=2))))
    assert beats.last("lab") == AT + timedelta(seconds=2)
    assert len(stack.items()) == 1


def test_a_silence_is_told_once_and_the_next_one_after_a_beat(stack: Stack) -> None:
    beats = heartbeats(stack)
    beats.beat("lab", AT)
    # the silence after the 09:00 beat: told once
    assert beats.told_silent("lab", AT) is True
    assert beats.told_silent("lab", AT) is False
    # a beat ends it; the silence read before that beat is not told
    beats.beat("lab", AT + timedelta(minutes=30))
    assert beats.told_silent("lab", AT) is False
    # the next silence is told, once
    assert beats.told_silent("lab", AT + timedelta(minutes=30)) is True
    assert beats.told_silent("lab", AT + timedelta(minutes=30)) is False
    assert beats.last("lab") == AT + timedelta(minutes=30)


def test_a_cluster_never_heard_from_has_no_silence_to_tell_and_gets_no_item(stack: Stack) -> None:
    beats = heartbeats(stack)
    assert beats.told_silent("lab", AT) is False
    assert stack.items() == []
