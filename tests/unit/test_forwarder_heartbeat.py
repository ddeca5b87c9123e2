"""The heartbeat on an injected clock: one at once, then one per interval, each through the events' Sender to a local
intake; what a refusal, an older csrgate, an outage, a bug and a stop do to it. Nothing here sleeps for wall time:
the test moves the clock to the end of the heartbeat's wait, and waits for what that makes happen."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import urllib3
from http_stand_in import Answer, Posted, answering

from csrgate.domain.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from csrgate.forwarder.backoff import Backoff
from csrgate.forwarder.heartbeat import Heartbeat
from csrgate.forwarder.metrics import ForwarderMetrics
from csrgate.forwarder.sender import HmacSigner, Sender, Signer

KEY = "6d" * 32
RECEIVED = {"heartbeat": "received"}
OLDER_CSRGATE = {"error": "invalid-event", "message": "type: Input should be 'ADDED', 'MODIFIED' or 'DELETED'"}


class FakeClock:
    """monotonic() and wait() for the heartbeat. A wait lasts until the test moves the clock to its end (wake), or
    ends at once with True after stop(), as the forwarder's stop event ends a real one."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self._changed = threading.Condition()
        self._asleep_until: float | None = None
        self._stopped = False

    def monotonic(self) -> float:
        with self._changed:
            return self.now

    def wait(self, seconds: float) -> bool:
        with self._changed:
            end = self.now + seconds
            self._asleep_until = end
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._stopped or self.now >= end)
            return self._stopped

    def next_sleep(self, within: float = 10.0) -> float:
        """Wait (in real time, for at most `within`) until the heartbeat waits; the clock time its wait ends."""
        with self._changed:
            assert self._changed.wait_for(lambda: self._asleep_until is not None, within), "the heartbeat never waited"
            assert self._asleep_until is not None
            return self._asleep_until

    def wake(self) -> None:
        """Move the clock to the end of the wait under way."""
        with self._changed:
            assert self._asleep_until is not None, "the heartbeat is not waiting"
            self.now, self._asleep_until = self._asleep_until, None
            self._changed.notify_all()

    def advance(self, seconds: float) -> None:
        """Time passing while the heartbeat is busy (a slow answer)."""
        with self._changed:
            self.now += seconds
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()


@dataclass
class Beat:
    at: float  # on the fake clock
    headers: dict[str, str]
    body: bytes


@dataclass
class Intake:
    """csrgate's intake in small: records each heartbeat at the fake clock's time, answers with the next scripted
    (status, body, seconds the answer takes on the fake clock), then 200 {"heartbeat": "received"}."""

    clock: FakeClock
    script: deque[tuple[int, dict[str, Any], float]] = field(default_factory=deque)
    beats: list[Beat] = field(default_factory=list)
    url: str = ""

    def answer(self, status: int, body: dict[str, Any], takes: float = 0.0, times: int = 1) -> None:
        self.script.extend([(status, body, takes)] * times)

    def __call__(self, posted: Posted) -> Answer:
        self.beats.append(Beat(self.clock.monotonic(), posted.headers, posted.body))
        status, body, takes = self.script.popleft() if self.script else (200, RECEIVED, 0.0)
        self.clock.advance(takes)
        return status, body, {}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def intake(clock: FakeClock) -> Iterator[Intake]:
    state = Intake(clock)
    with answering(state) as url:
        state.url = f"{url}/v1/hmac/csr-events"
        yield state


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "hmac-key"
    path.write_text(KEY + "\n")
    return path


@dataclass
class Running:
    clock: FakeClock
    metrics: ForwarderMetrics
    thread: threading.Thread

    def count(self, outcome: str) -> float:
        return self.metrics.registry.get_sample_value("csrgate_forwarder_heartbeats_total", {"outcome": outcome}) or 0

    def stop(self) -> None:
        self.clock.stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the heartbeat did not stop"


def start(intake: Intake, signer: Signer, interval: float = 300.0) -> Running:
    """A heartbeat on its own thread, as the forwarder runs it once ready; retries wait 1, 2, 4, 4, ... seconds."""
    clock, metrics = intake.clock, ForwarderMetrics()
    backoff = lambda: Backoff(1.0, 4.0, uniform=lambda low, high: high)  # noqa: E731 - the upper bound, to check it
    sender = Sender(intake.url, "lab", signer, urllib3.PoolManager(retries=False), 5.0, backoff, metrics, clock.wait)
    heartbeat = Heartbeat(sender, interval, metrics, clock.wait, clock.monotonic)
    thread = threading.Thread(target=heartbeat.run, name="heartbeat", daemon=True)
    thread.start()
    return Running(clock, metrics, thread)


def heartbeat_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage().startswith("heartbeat.")]


def test_the_first_heartbeat_goes_at_once_and_the_next_after_each_interval(
    intake: Intake, clock: FakeClock, key_file: Path
) -> None:
    running = start(intake, HmacSigner(key_file, "lab"))

    waits = [clock.next_sleep()]
    clock.wake()
    waits.append(clock.next_sleep())
    clock.wake()
    waits.append(clock.next_sleep())
    running.stop()

    assert [beat.at for beat in intake.beats] == [1000, 1300, 1600]
    assert waits == [1300, 1600, 1900]
    for beat in intake.beats:
        assert json.loads(beat.body) == {"cluster": "lab", "type": "HEARTBEAT"}
        signature = beat.headers[SIGNATURE_HEADER]
        verify(KEY.encode(), "lab", beat.headers[TIMESTAMP_HEADER], signature, beat.body, time.time)
    assert running.count("accepted") == 3
    assert (running.count("unsupported"), running.count("failed")) == (0, 0)


def test_a_slow_answer_does_not_push_the_next_heartbeat_back(intake: Intake, clock: FakeClock, key_file: Path) -> None:
    intake.answer(200, RECEIVED, takes=7.0)
    running = start(intake, HmacSigner(key_file, "lab"))

    next_one = clock.next_sleep()
    running.stop()

    assert next_one == 1300  # the cadence is kept from when each heartbeat began, not from its answer


def test_a_heartbeat_csrgate_cannot_take_is_retried_until_the_next_is_due_then_logged_as_failed(
    intake: Intake, clock: FakeClock, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    intake.answer(503, {"error": "retry-later", "message": "a dependency is unavailable"}, times=4)
    running = start(intake, HmacSigner(key_file, "lab"), interval=10)

    with caplog.at_level(logging.INFO, logger="csrgate.forwarder"):
        retries = []
        while (end := clock.next_sleep()) < 1010:
            retries.append(end)
            clock.wake()
        clock.wake()  # the next heartbeat
        clock.next_sleep()
    running.stop()

    assert retries == [1001, 1003, 1007]  # the sender's backoff: 1, 2, 4; the next wait (4) would pass 1010
    assert [beat.at for beat in intake.beats] == [1000, 1001, 1003, 1007, 1010]
    [failed] = [record for record in heartbeat_lines(caplog) if record.getMessage() == "heartbeat.failed"]
    assert failed.levelno == logging.WARNING
    assert failed.__dict__["reason"] == "503"
    assert (running.count("failed"), running.count("accepted")) == (1, 1)


@pytest.mark.parametrize(
    ("status", "error"), [(401, "unauthenticated"), (403, "forbidden"), (404, "unknown-cluster"), (400, "invalid-json")]
)
def test_a_refused_heartbeat_is_logged_as_failed_with_the_reason_and_the_next_goes_on_time(
    intake: Intake, clock: FakeClock, key_file: Path, caplog: pytest.LogCaptureFixture, status: int, error: str
) -> None:
    intake.answer(status, {"error": error, "message": "what to check"})
    running = start(intake, HmacSigner(key_file, "lab"))

    with caplog.at_level(logging.INFO, logger="csrgate.forwarder"):
        first_wait = clock.next_sleep()
        clock.wake()
        clock.next_sleep()
    running.stop()

    assert first_wait == 1300  # not retried: the same heartbeat would be refused again
    assert [beat.at for beat in intake.beats] == [1000, 1300]
    [failed] = heartbeat_lines(caplog)
    assert (failed.getMessage(), failed.levelno) == ("heartbeat.failed", logging.ERROR)
    assert (failed.__dict__["reason"], failed.__dict__["error"]) == (str(status), error)
    assert failed.__dict__["api_message"] == "what to check"
    assert (running.count("failed"), running.count("accepted")) == (1, 1)


def test_an_older_csrgate_is_logged_once_and_the_heartbeat_keeps_going(
    intake: Intake, clock: FakeClock, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    intake.answer(400, OLDER_CSRGATE, times=3)
    running = start(intake, HmacSigner(key_file, "lab"))

    with caplog.at_level(logging.INFO, logger="csrgate.forwarder"):
        for _ in range(3):  # csrgate is upgraded after the third
            clock.next_sleep()
            clock.wake()
        clock.next_sleep()
    running.stop()

    assert [beat.at for beat in intake.beats] == [1000, 1300, 1600, 1900]
    [unsupported] = heartbeat_lines(caplog)
    assert (unsupported.getMessage(), unsupported.levelno) == ("heartbeat.unsupported", logging.WARNING)
    assert unsupported.__dict__["api_message"] == OLDER_CSRGATE["message"]
    assert (running.count("unsupported"), running.count("accepted"), running.count("failed")) == (3, 1, 0)


def test_a_stop_between_heartbeats_ends_the_heartbeat_at_once(intake: Intake, clock: FakeClock, key_file: Path) -> None:
    running = start(intake, HmacSigner(key_file, "lab"))
    clock.next_sleep()

    running.stop()  # fails unless the thread ends; the clock never reaches the next heartbeat

    assert clock.now == 1000
    assert len(intake.beats) == 1


def test_a_stop_while_a_heartbeat_is_retried_ends_it_without_calling_it_failed(
    intake: Intake, clock: FakeClock, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    intake.answer(503, {"error": "retry-later"}, times=10)
    running = start(intake, HmacSigner(key_file, "lab"))

    with caplog.at_level(logging.INFO, logger="csrgate.forwarder"):
        retry_at = clock.next_sleep()
        running.stop()

    assert retry_at == 1001
    assert len(intake.beats) == 1
    assert [record.getMessage() for record in heartbeat_lines(caplog)] == ["heartbeat.retrying"]
    assert running.count("failed") == 0


class FailsOnce:
    """A signer with a bug that shows once: the heartbeat must outlive it."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer
        self.calls = 0

    def headers(self, url: str, body: bytes) -> dict[str, str]:
        self.calls += 1
        if self.calls == 1:
            raise KeyError("a bug")
        return self._signer.headers(url, body)


def test_a_bug_in_one_heartbeat_is_logged_and_the_next_goes_on_time(
    intake: Intake, clock: FakeClock, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running = start(intake, FailsOnce(HmacSigner(key_file, "lab")))

    with caplog.at_level(logging.INFO, logger="csrgate.forwarder"):
        first_wait = clock.next_sleep()
        clock.wake()
        clock.next_sleep()
    running.stop()

    assert first_wait == 1300
    assert [beat.at for beat in intake.beats] == [1300]
    [failed] = heartbeat_lines(caplog)
    assert failed.getMessage() == "heartbeat.failed"
    assert failed.__dict__["reason"] == "KeyError: 'a bug'"
    assert failed.exc_info is not None
    assert (running.count("failed"), running.count("accepted")) == (1, 1)
