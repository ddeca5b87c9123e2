"""Delivery: signed POSTs to a local receiver that answers as scripted, with retries timed by a fake clock."""

from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from http_stand_in import Answer, Posted, answering

from csrgate.domain.signing import CLUSTER_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from csrgate.forwarder.backoff import Backoff
from csrgate.forwarder.changes import CsrEvent
from csrgate.forwarder.metrics import ForwarderMetrics
from csrgate.forwarder.sender import HmacSigner, Sender, SettledCsrs, Signer, SigV4Signer

KEY = "4f" * 32
CSR = {
    "apiVersion": "certificates.k8s.io/v1",
    "kind": "CertificateSigningRequest",
    "metadata": {"name": "alice", "uid": "uid-alice", "resourceVersion": "7"},
    "spec": {"request": "LS0tLS1CRUdJTi", "signerName": "kubernetes.io/kube-apiserver-client"},
    "status": {},
}


@dataclass
class Receiver:
    """Answers each POST with the next scripted (status, body, headers, delay); 200 once the script is done."""

    script: deque[tuple[int, dict[str, Any] | bytes, dict[str, str], float]] = field(default_factory=deque)
    arrivals: list[Posted] = field(default_factory=list)
    url: str = ""

    def answer(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
               delay: float = 0.0) -> None:  # fmt: skip
        self.script.append((status, body or {}, headers or {}, delay))

    def __call__(self, posted: Posted) -> Answer:
        self.arrivals.append(posted)
        status, body, headers, delay = self.script.popleft() if self.script else (200, {}, {}, 0.0)
        time.sleep(delay)
        return status, body or {"request_id": "r", "state": "awaiting_review", "created": True}, headers


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    with answering(state) as url:
        state.url = f"{url}/v1/hmac/csr-events"
        yield state


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    return path


@dataclass
class Harness:
    sender: Sender
    metrics: ForwarderMetrics
    waits: list[float]
    wait: Callable[[float], bool]

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(f"csrgate_forwarder_{name}_total", labels) or 0.0

    def timed(self, part: str, outcome: str, **labels: str) -> float:
        """A sample of the send-duration histogram: its `count`, `sum` or a `bucket` (with le=...)."""
        name = f"csrgate_forwarder_send_duration_seconds_{part}"
        return self.metrics.registry.get_sample_value(name, {"outcome": outcome, **labels}) or 0.0


def harness(
    url: str,
    signer: Signer,
    timeout: float = 5.0,
    give_up_after: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Harness:
    waits: list[float] = []
    metrics = ForwarderMetrics()

    def wait(delay: float) -> bool:  # the fake clock: no real sleeping; True ends the retries (shutdown)
        waits.append(delay)
        return give_up_after is not None and len(waits) >= give_up_after

    backoff = lambda: Backoff(0.5, 8.0, uniform=lambda low, high: high)  # noqa: E731 - the upper bound, to check it
    pool = urllib3.PoolManager(retries=False)
    return Harness(Sender(url, "lab", signer, pool, timeout, backoff, metrics, wait, clock), metrics, waits, wait)


def test_an_event_arrives_as_the_protocol_says_signed_with_the_clusters_key(receiver: Receiver, key_file: Path) -> None:
    run = harness(receiver.url, HmacSigner(key_file, "lab"))

    delivered = run.sender.deliver(CsrEvent("ADDED", CSR))

    assert delivered
    [arrival] = receiver.arrivals
    assert arrival.path == "/v1/hmac/csr-events"
    assert json.loads(arrival.body) == {"cluster": "lab", "type": "ADDED", "object": CSR}
    assert arrival.headers["Content-Type"] == "application/json"
    assert arrival.headers["User-Agent"].startswith("csrgate-forwarder/")
    assert arrival.headers[CLUSTER_HEADER] == "lab"
    signature = arrival.headers[SIGNATURE_HEADER]
    verify(KEY.encode(), "lab", arrival.headers[TIMESTAMP_HEADER], signature, arrival.body, time.time)
    assert run.count("events_sent", type="ADDED") == 1


def test_only_a_plain_true_settled_in_an_acceptance_settles_a_csr(receiver: Receiver, key_file: Path) -> None:
    run = harness(receiver.url, HmacSigner(key_file, "lab"))
    for answer in ({"settled": "true"}, {"settled": 1}, {"state": "awaiting_review"}, ["settled"]):
        receiver.answer(200, answer)
    receiver.answer(503, {"settled": True})  # an answer that is no acceptance, then the retry's plain 200
    for _ in range(5):
        assert run.sender.deliver(CsrEvent("ADDED", CSR))
    assert not run.sender.settled.holds("uid-alice") and len(receiver.arrivals) == 6


def test_a_settled_csrs_changes_are_not_sent_and_its_deletion_is(receiver: Receiver, key_file: Path) -> None:
    # GIVEN alice's CSR, which csrgate's answer calls settled (its decision is applied in the cluster)
    run = harness(receiver.url, HmacSigner(key_file, "lab"))
    receiver.answer(200, {"request_id": "r", "state": "auto_approved", "created": False, "settled": True})
    assert run.sender.deliver(CsrEvent("MODIFIED", CSR))
    # WHEN its certificate is issued and a re-list sends it again, THEN nothing is posted, and both are counted
    assert run.sender.deliver(CsrEvent("MODIFIED", CSR)) and run.sender.deliver(CsrEvent("ADDED", CSR))
    assert len(receiver.arrivals) == 1 and run.count("events_skipped", reason="settled") == 2
    # WHEN it is deleted, THEN the deletion is sent, and the CSR is forgotten, whatever the answer says
    receiver.answer(200, {"request_id": "r", "state": "withdrawn", "created": False, "settled": True})
    assert run.sender.deliver(CsrEvent("DELETED", CSR))
    assert [json.loads(arrival.body)["type"] for arrival in receiver.arrivals] == ["MODIFIED", "DELETED"]
    assert not run.sender.settled.holds("uid-alice") and len(run.sender.settled) == 0


def test_what_is_remembered_as_settled_is_bounded_the_oldest_forgotten_first() -> None:
    settled = SettledCsrs(limit=3)
    for n in range(5):
        settled.add(f"uid-{n}")
    assert [settled.holds(f"uid-{n}") for n in range(5)] == [False, False, True, True, True] and len(settled) == 3


def test_an_answer_nested_past_pythons_recursion_limit_is_an_acceptance_nothing_more(
    receiver: Receiver, key_file: Path
) -> None:
    run = harness(receiver.url, HmacSigner(key_file, "lab"))
    receiver.script.append((200, b"[" * 100_000 + b"]" * 100_000, {}, 0.0))
    receiver.script.append((400, b'{"error": ' * 100_000, {}, 0.0))
    assert run.sender.deliver(CsrEvent("ADDED", CSR)) and not run.sender.settled.holds("uid-alice")
    assert not run.sender.deliver(CsrEvent("ADDED", CSR))
    assert run.count("events_failed", reason="400") == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_server_errors_timeouts_and_throttling_are_retried_with_growing_waits(
    receiver: Receiver, key_file: Path, status: int
) -> None:
    for _ in range(4):
        receiver.answer(status, {"error": "retry-later", "message": "a dependency is unavailable"})
    run = harness(receiver.url, HmacSigner(key_file, "lab"))

    delivered = run.sender.deliver(CsrEvent("ADDED", CSR))

    assert delivered
    assert len(receiver.arrivals) == 5
    assert run.waits == [0.5, 1.0, 2.0, 4.0]  # full jitter below these ceilings; the test takes the ceiling
    assert run.count("send_retries", reason=str(status)) == 4
    # each attempt is signed afresh, never repeating a signature (csrgate would refuse it as a replay), though the
    # waits here are not really slept and every attempt falls within the same second
    assert len({arrival.headers[SIGNATURE_HEADER] for arrival in receiver.arrivals}) == 5


def test_retries_go_on_past_the_cap_without_giving_up(receiver: Receiver, key_file: Path) -> None:
    for _ in range(12):
        receiver.answer(503)
    run = harness(receiver.url, HmacSigner(key_file, "lab"))

    assert run.sender.deliver(CsrEvent("ADDED", CSR))
    assert run.waits[-4:] == [8.0, 8.0, 8.0, 8.0]
    assert len(receiver.arrivals) == 13


def test_retry_after_is_honoured(receiver: Receiver, key_file: Path) -> None:
    receiver.answer(429, {"message": "Too Many Requests"}, {"Retry-After": "6"})
    run = harness(receiver.url, HmacSigner(key_file, "lab"))

    assert run.sender.deliver(CsrEvent("ADDED", CSR))
    assert run.waits == [6.0]


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, "invalid-event"), (401, "unauthenticated"), (403, "forbidden"), (404, "unknown-cluster"),
     (413, "payload-too-large")],
)  # fmt: skip
def test_refusals_that_would_never_work_are_logged_with_the_error_code_and_not_retried(
    receiver: Receiver, key_file: Path, status: int, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answer(status, {"error": error, "message": "what to check"})
    run = harness(receiver.url, HmacSigner(key_file, "lab"))

    with caplog.at_level(logging.ERROR, logger="csrgate.forwarder"):
        delivered = run.sender.deliver(CsrEvent("ADDED", CSR))

    assert not delivered
    assert len(receiver.arrivals) == 1
    assert run.waits == []
    assert run.count("events_failed", reason=str(status)) == 1
    [record] = caplog.records
    assert record.getMessage() == "event.refused"
    assert (record.__dict__["error"], record.__dict__["csr"], record.__dict__["uid"]) == (error, "alice", "uid-alice")
    assert record.__dict__["api_message"] == "what to check"


def test_api_gateways_own_refusal_without_an_error_code_is_still_logged(
    receiver: Receiver, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answer(403, {"message": "The security token included in the request is invalid."})
    run = harness(receiver.url, HmacSigner(key_file, "lab"))

    with caplog.at_level(logging.ERROR, logger="csrgate.forwarder"):
        assert not run.sender.deliver(CsrEvent("ADDED", CSR))

    assert caplog.records[0].__dict__["error"] == "(no error code)"
    assert "security token" in caplog.records[0].__dict__["api_message"]


def test_a_refused_connection_is_retried(key_file: Path, receiver: Receiver) -> None:
    closed = "http://127.0.0.1:9/v1/hmac/csr-events"  # the discard port: nothing listens there
    run = harness(closed, HmacSigner(key_file, "lab"), give_up_after=3)

    assert not run.sender.deliver(CsrEvent("ADDED", CSR))
    assert run.count("send_retries", reason="connection") == 3
    assert run.count("events_failed", reason="shutdown") == 1


def test_every_post_is_timed_by_what_its_answer_meant(receiver: Receiver, key_file: Path) -> None:
    # GIVEN an API that answers 503, then 200, then refuses the next event; and a clock the test moves
    receiver.answer(503, {"error": "retry-later", "message": "a dependency is unavailable"})
    receiver.answer(200)
    receiver.answer(403, {"error": "forbidden", "message": "not this cluster's role"})
    readings = iter([10.0, 10.4, 20.0, 20.04, 30.0, 31.5])  # each POST reads the clock before and after
    run = harness(receiver.url, HmacSigner(key_file, "lab"), clock=lambda: next(readings))

    # WHEN one event is retried once and sent, and another refused
    run.sender.deliver(CsrEvent("ADDED", CSR))
    run.sender.deliver(CsrEvent("MODIFIED", CSR))

    # THEN each POST is one observation of its own duration, under its outcome
    assert (run.timed("count", "retry"), run.timed("sum", "retry")) == (1, pytest.approx(0.4))
    assert (run.timed("count", "sent"), run.timed("sum", "sent")) == (1, pytest.approx(0.04))
    assert (run.timed("count", "refused"), run.timed("sum", "refused")) == (1, pytest.approx(1.5))
    assert run.timed("bucket", "sent", le="0.05") == 1
    assert run.timed("bucket", "sent", le="0.025") == 0
    assert run.timed("bucket", "refused", le="1.0") == 0


def test_a_slow_answer_times_out_and_is_retried(receiver: Receiver, key_file: Path) -> None:
    receiver.answer(200, delay=1.0)
    run = harness(receiver.url, HmacSigner(key_file, "lab"), timeout=0.2)

    assert run.sender.deliver(CsrEvent("ADDED", CSR))

    assert run.count("send_retries", reason="timeout") == 1
    assert (run.timed("count", "retry"), run.timed("count", "sent")) == (1, 1)
    assert len(receiver.arrivals) == 2
    # the first attempt reached csrgate and may have been accepted: the retry must not look like its replay
    first, retry = receiver.arrivals
    assert first.headers[SIGNATURE_HEADER] != retry.headers[SIGNATURE_HEADER]


def test_an_event_larger_than_the_api_accepts_is_not_sent(receiver: Receiver, key_file: Path) -> None:
    huge = {**CSR, "spec": {**CSR["spec"], "request": "A" * 300_000}}
    run = harness(receiver.url, HmacSigner(key_file, "lab"))

    assert not run.sender.deliver(CsrEvent("ADDED", huge))
    assert receiver.arrivals == []
    assert run.count("events_failed", reason="payload-too-large") == 1


def test_a_rotated_key_file_is_used_without_a_restart(receiver: Receiver, key_file: Path) -> None:
    run = harness(receiver.url, HmacSigner(key_file, "lab"))
    run.sender.deliver(CsrEvent("ADDED", CSR))
    rotated = "a1" * 32
    replacement = key_file.with_name("new-key")
    replacement.write_text(rotated)
    replacement.replace(key_file)  # as the kubelet swaps a Secret volume's files

    run.sender.deliver(CsrEvent("MODIFIED", CSR))

    second = receiver.arrivals[1]
    signature = second.headers[SIGNATURE_HEADER]
    verify(rotated.encode(), "lab", second.headers[TIMESTAMP_HEADER], signature, second.body, time.time)


def test_a_missing_key_file_is_retried_until_it_is_back(receiver: Receiver, key_file: Path) -> None:
    signer = HmacSigner(key_file, "lab")
    key_file.unlink()
    run = harness(receiver.url, signer, give_up_after=2)

    assert not run.sender.deliver(CsrEvent("ADDED", CSR))
    assert receiver.arrivals == []
    assert run.count("send_retries", reason="credentials") == 2


def test_a_heartbeat_goes_to_the_events_route_signed_afresh_with_the_clusters_key(
    receiver: Receiver, key_file: Path
) -> None:
    receiver.answer(200, {"heartbeat": "received"})
    receiver.answer(200, {"heartbeat": "received"})
    run = harness(receiver.url, HmacSigner(key_file, "lab"))

    first = run.sender.send_heartbeat(run.wait)
    second = run.sender.send_heartbeat(run.wait)

    assert (first.outcome, second.outcome) == ("sent", "sent")
    assert len(receiver.arrivals) == 2
    for arrival in receiver.arrivals:
        assert arrival.path == "/v1/hmac/csr-events"
        assert arrival.body == b'{"cluster":"lab","type":"HEARTBEAT"}'
        assert arrival.headers["Content-Type"] == "application/json"
        assert arrival.headers["User-Agent"].startswith("csrgate-forwarder/")
        assert arrival.headers[CLUSTER_HEADER] == "lab"
        signature = arrival.headers[SIGNATURE_HEADER]
        verify(KEY.encode(), "lab", arrival.headers[TIMESTAMP_HEADER], signature, arrival.body, time.time)
    # the body never changes: only a fresh signature keeps the second heartbeat from being refused as a replay
    assert receiver.arrivals[0].headers[SIGNATURE_HEADER] != receiver.arrivals[1].headers[SIGNATURE_HEADER]
    assert run.count("events_sent", type="HEARTBEAT") == 0  # heartbeats are counted apart (heartbeats_total)


def test_a_heartbeat_is_retried_as_events_are_until_its_wait_gives_up(receiver: Receiver, key_file: Path) -> None:
    for _ in range(3):
        receiver.answer(503, {"error": "retry-later", "message": "a dependency is unavailable"})
    run = harness(receiver.url, HmacSigner(key_file, "lab"), give_up_after=2)

    answer = run.sender.send_heartbeat(run.wait)

    assert (answer.outcome, answer.reason) == ("retry", "503")
    assert len(receiver.arrivals) == 2
    assert run.waits == [0.5, 1.0]
    assert run.count("send_retries", reason="503") == 2
    assert run.count("events_failed", reason="shutdown") == 0  # no CSR event was given up


def test_an_older_csrgates_refusal_of_a_heartbeat_comes_back_with_its_error_code(
    receiver: Receiver, key_file: Path
) -> None:
    receiver.answer(
        400, {"error": "invalid-event", "message": "type: Input should be 'ADDED', 'MODIFIED' or 'DELETED'"}
    )
    run = harness(receiver.url, HmacSigner(key_file, "lab"))

    answer = run.sender.send_heartbeat(run.wait)

    assert (answer.outcome, answer.reason, answer.error) == ("refused", "400", "invalid-event")
    assert "type:" in answer.message
    assert len(receiver.arrivals) == 1
    assert run.count("events_failed", reason="400") == 0


def sigv4_holds(arrival: Posted, url: str, credentials: Credentials, region: str) -> bool:
    """Check a request's SigV4 signature as API Gateway's IAM authorizer would, with botocore's own steps."""
    authorization = arrival.headers["Authorization"]
    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/execute-api/aws4_request, "
        r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})",
        authorization,
    )
    assert match is not None, authorization
    assert (match["key"], match["region"]) == (credentials.access_key, region)
    signed = match["signed"].split(";")
    headers = {name: value for name, value in arrival.headers.items() if name.lower() in signed}
    request = AWSRequest(method="POST", url=url, data=arrival.body, headers=headers)
    request.context["timestamp"] = arrival.headers["X-Amz-Date"]
    auth = SigV4Auth(credentials, "execute-api", region)
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    return bool(expected == match["signature"]) and "host" in signed


def test_sigv4_signs_for_execute_api_with_the_pods_temporary_credentials(receiver: Receiver) -> None:
    credentials = Credentials("ASIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "session-token")
    url = receiver.url.replace("/v1/hmac/csr-events", "/v1/csr-events")
    run = harness(url, SigV4Signer("eu-west-1", lambda: credentials))

    assert run.sender.deliver(CsrEvent("ADDED", CSR))

    [arrival] = receiver.arrivals
    assert arrival.headers["X-Amz-Security-Token"] == "session-token"
    assert sigv4_holds(arrival, url, credentials, "eu-west-1")
    assert not sigv4_holds(arrival, url, Credentials("ASIAEXAMPLE", "another-secret", "session-token"), "eu-west-1")


def test_without_aws_credentials_yet_the_send_waits_and_tries_again(receiver: Receiver) -> None:
    found: list[Credentials | None] = [None, None, Credentials("AKIDEXAMPLE", "secret")]
    run = harness(receiver.url, SigV4Signer("eu-west-1", lambda: found.pop(0)))

    assert run.sender.deliver(CsrEvent("ADDED", CSR))
    assert run.count("send_retries", reason="credentials") == 2
    assert (run.timed("count", "retry"), run.timed("count", "sent")) == (0, 1)  # no POST while waiting: none timed
    assert "X-Amz-Security-Token" not in receiver.arrivals[0].headers


def test_a_heartbeat_on_the_iam_route_is_signed_with_sigv4_as_events_are(receiver: Receiver) -> None:
    credentials = Credentials("ASIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "session-token")
    url = receiver.url.replace("/v1/hmac/csr-events", "/v1/csr-events")
    run = harness(url, SigV4Signer("eu-west-1", lambda: credentials))

    assert run.sender.send_heartbeat(run.wait).outcome == "sent"

    [arrival] = receiver.arrivals
    assert arrival.path == "/v1/csr-events"
    assert json.loads(arrival.body) == {"cluster": "lab", "type": "HEARTBEAT"}
    assert arrival.headers["X-Amz-Security-Token"] == "session-token"
    assert sigv4_holds(arrival, url, credentials, "eu-west-1")
    assert not sigv4_holds(arrival, url, Credentials("ASIAEXAMPLE", "another-secret", "session-token"), "eu-west-1")
