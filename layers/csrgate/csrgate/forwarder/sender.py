"""Delivery of one event to csrgate's API: sign, POST with a timeout, and retry until it is accepted.

What an answer means is docs/forwarder-protocol.md's table: 2xx is done; 5xx, 408, 429, a timeout or a broken
connection is retried forever with backoff ("zero times is the bug"); any other 4xx is final, because sending the
same bytes again gets the same answer, and is logged with the API's error code and counted as failed.
Heartbeats (`send_heartbeat`) take the same route, signing, connections and retries; what their answer means is
csrgate.forwarder.heartbeat's to say.

HTTP is urllib3 rather than the standard library: it is already installed (botocore and kubernetes use it), its
PoolManager is thread-safe and keeps connections alive across sends, verifies TLS by default and takes a
connect and total timeout per request; with retries and redirects off, every decision to retry stays here.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError

from csrgate import __version__
from csrgate.domain.errors import RetryLater
from csrgate.domain.signing import FreshSigner
from csrgate.forwarder.backoff import Backoff
from csrgate.forwarder.changes import DELETED, CsrEvent
from csrgate.forwarder.config import ConfigError, read_hmac_key
from csrgate.forwarder.metrics import ForwarderMetrics

LOG = logging.getLogger("csrgate.forwarder.sender")
MAX_BODY_BYTES = 256 * 1024  # docs/forwarder-protocol.md
# CSRs remembered as settled: about 18 MB when full (measured), where a cluster holds a few thousand CSRs at once
MAX_SETTLED = 100_000
CONTENT_TYPE = {"Content-Type": "application/json"}
USER_AGENT = f"csrgate-forwarder/{__version__}"
_RETRIED_4XX = (408, 429)
HEARTBEAT = "HEARTBEAT"


class Signer(Protocol):
    """Adds the authentication headers of one route to a request."""

    def headers(self, url: str, body: bytes) -> dict[str, str]:
        """Headers for POSTing `body` to `url` now; RetryLater when the credentials are not available yet."""
        ...


class HmacSigner:
    """X-Csrgate-Cluster, X-Csrgate-Timestamp and X-Csrgate-Signature with the cluster's key, read from a file (a
    mounted Secret).

    The file is read again when it changes, so rotating the Secret needs no restart.
    """

    def __init__(self, key_file: Path, cluster: str, now: Callable[[], float] = time.time) -> None:
        self._key_file = key_file
        self._cluster = cluster
        self._signatures = FreshSigner(now)
        self._stamp: tuple[int, int, int] | None = None
        self._key = b""
        self._lock = threading.Lock()

    def headers(self, url: str, body: bytes) -> dict[str, str]:
        """Signed headers, made afresh for each attempt: csrgate refuses a signature it has seen (a replay), so a
        retry, even one within the same second, never repeats the last attempt's signature."""
        return {**CONTENT_TYPE, **self._signatures.headers(self._current_key(), self._cluster, body)}

    def _current_key(self) -> bytes:
        with self._lock:
            try:
                info = os.stat(self._key_file)
            except OSError as exc:
                raise RetryLater(f"CSRGATE_HMAC_KEY_FILE cannot be read ({type(exc).__name__})") from None
            stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
            if stamp != self._stamp:
                try:
                    self._key = read_hmac_key(self._key_file)
                except ConfigError as exc:
                    raise RetryLater(str(exc)) from None
                self._stamp = stamp
            return self._key


class SigV4Signer:
    """AWS Signature Version 4 for `execute-api` with the pod's credentials (Pod Identity or IRSA).

    `credentials` is botocore's default chain; refreshable credentials renew themselves before they expire.
    """

    def __init__(self, region: str, credentials: Callable[[], Any]) -> None:
        self._region = region
        self._resolve = credentials
        self._credentials: Any = None

    def headers(self, url: str, body: bytes) -> dict[str, str]:
        """Authorization, X-Amz-Date and, for temporary credentials, X-Amz-Security-Token."""
        try:
            if self._credentials is None:
                self._credentials = self._resolve()
            if self._credentials is None:
                raise RetryLater("no AWS credentials found (is the pod's role associated with its service account?)")
            frozen = self._credentials.get_frozen_credentials()
        except BotoCoreError as exc:
            raise RetryLater(f"AWS credentials: {type(exc).__name__}") from None
        request = AWSRequest(method="POST", url=url, data=body, headers=dict(CONTENT_TYPE))
        SigV4Auth(frozen, "execute-api", self._region).add_auth(request)
        return dict(request.headers.items())


@dataclass(frozen=True)
class Answer:
    """What one attempt came to: `sent`, `retry` or `refused`, and why."""

    outcome: str
    reason: str
    retry_after: float = 0.0
    error: str = ""  # the API's error code, for a refusal
    message: str = ""  # and its message (API Gateway's own refusals have only this)
    settled: bool = False  # accepted, and csrgate needs none of the CSR's changes but its deletion


def encode(cluster: str, event: CsrEvent) -> bytes:
    """The request body: {"cluster", "type", "object"} as compact JSON."""
    body = {"cluster": cluster, "type": event.type, "object": event.object}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_heartbeat(cluster: str) -> bytes:
    """The heartbeat's body: {"cluster", "type": "HEARTBEAT"} as compact JSON, with no object."""
    return json.dumps({"cluster": cluster, "type": HEARTBEAT}, separators=(",", ":"), ensure_ascii=False).encode()


class SettledCsrs:
    """The CSRs csrgate's answers called settled, by uid: it needs no more of their changes but their deletion.
    Shared by the lanes; bounded, the oldest forgotten first (a forgotten one costs an event more, answered the same);
    a deletion sent forgets its CSR."""

    def __init__(self, limit: int = MAX_SETTLED) -> None:
        self._limit = limit
        self._uids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, uid: str) -> None:
        """Remember the CSR as settled."""
        with self._lock:
            self._uids[uid] = None
            self._uids.move_to_end(uid)
            if len(self._uids) > self._limit:
                self._uids.popitem(last=False)

    def holds(self, uid: str) -> bool:
        """Whether the CSR is remembered as settled."""
        with self._lock:
            return uid in self._uids

    def forget(self, uid: str) -> None:
        """Its deletion is being sent: nothing more will come of it."""
        with self._lock:
            self._uids.pop(uid, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._uids)


class Sender:
    """Sends events (and heartbeats) one at a time, each until it is accepted, refused for good, or given up on."""

    def __init__(
        self,
        url: str,
        cluster: str,
        signer: Signer,
        http: urllib3.PoolManager,
        timeout: float,
        new_backoff: Callable[[], Backoff],
        metrics: ForwarderMetrics,
        wait: Callable[[float], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._cluster = cluster
        self._signer = signer
        self._http = http
        self._timeout = urllib3.Timeout(connect=min(timeout, 5.0), read=timeout, total=timeout)
        self._new_backoff = new_backoff
        self._metrics = metrics
        self._wait = wait  # sleeps; True means give up now (the drain deadline has passed)
        self._clock = clock  # times each POST (send_duration_seconds)
        self.settled = SettledCsrs()

    def deliver(self, event: CsrEvent) -> bool:
        """Send until accepted (True) or refused for good or abandoned at shutdown (False); an event of a CSR csrgate
        called settled is not sent, but its deletion (a CSR's events reach its lane in order, so its earlier events'
        answers are in when a later one is looked at)."""
        if event.type == DELETED:
            self.settled.forget(event.uid)
        elif self.settled.holds(event.uid):
            self._metrics.events_skipped.labels(reason="settled").inc()
            return True
        body = encode(self._cluster, event)
        if len(body) > MAX_BODY_BYTES:
            self._give_up(event, Answer("refused", "payload-too-large", error="payload-too-large"))
            return False
        answer, attempts = self._send(body, self._wait, "event.retrying", _about(event))
        if answer.outcome == "sent":
            if answer.settled and event.type != DELETED and event.uid:
                self.settled.add(event.uid)
            self._metrics.events_sent.labels(type=event.type).inc()
            LOG.debug("event.sent", extra=_about(event, attempts=attempts))
            return True
        if answer.outcome == "refused":
            self._give_up(event, answer)
            return False
        self._metrics.events_failed.labels(reason="shutdown").inc()
        LOG.error("event.abandoned", extra=_about(event, reason="shutting down", attempts=attempts))
        return False

    def send_heartbeat(self, wait: Callable[[float], bool]) -> Answer:
        """Send the cluster's heartbeat, retried as events are until `wait` (which sleeps) returns True; the last
        answer: `sent`, `refused`, or `retry` when `wait` gave up."""
        answer, _ = self._send(encode_heartbeat(self._cluster), wait, "heartbeat.retrying", {})
        return answer

    def _send(
        self, body: bytes, wait: Callable[[float], bool], retrying: str, about: dict[str, Any]
    ) -> tuple[Answer, int]:
        """POST until the answer is final, or `wait` gives up on a retry; that answer and the attempts made."""
        backoff = self._new_backoff()
        while True:
            answer = self.attempt(body)
            if answer.outcome != "retry":
                return answer, backoff.attempt + 1
            delay = backoff.next_delay(at_least=answer.retry_after)
            self._metrics.send_retries.labels(reason=answer.reason).inc()
            LOG.warning(
                retrying,
                extra={
                    **about,
                    "reason": answer.reason,
                    "attempt": backoff.attempt,
                    "retry_in_seconds": round(delay, 3),
                },
            )
            if wait(delay):
                return answer, backoff.attempt

    def attempt(self, body: bytes) -> Answer:
        """One signed POST and what its answer means; the POST's duration is observed by its outcome."""
        try:
            headers = {"User-Agent": USER_AGENT, **self._signer.headers(self._url, body)}
        except RetryLater as exc:
            LOG.warning("signing.unavailable", extra={"reason": str(exc)})
            return Answer("retry", "credentials")  # nothing was sent, so there is no POST to time
        started = self._clock()
        answer = self._post(body, headers)
        self._metrics.send_duration.labels(outcome=answer.outcome).observe(self._clock() - started)
        return answer

    def _post(self, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            response = self._http.request(
                "POST", self._url, body=body, headers=headers, timeout=self._timeout, retries=False, redirect=False
            )
        except urllib3.exceptions.NewConnectionError:  # before TimeoutError: urllib3 derives it from that
            return Answer("retry", "connection")
        except urllib3.exceptions.TimeoutError:
            return Answer("retry", "timeout")
        except urllib3.exceptions.HTTPError as exc:
            LOG.debug("send.connection_failed", extra={"reason": f"{type(exc).__name__}: {exc}"})
            return Answer("retry", "connection")
        status = response.status
        if 200 <= status < 300:
            return Answer("sent", str(status), settled=_settled(response.data))
        if status >= 500 or status in _RETRIED_4XX:
            return Answer("retry", str(status), retry_after=_retry_after(response.headers.get("Retry-After")))
        error, message = _error(response.data)
        return Answer("refused", str(status), error=error, message=message)

    def _give_up(self, event: CsrEvent, answer: Answer) -> None:
        self._metrics.events_failed.labels(reason=answer.reason).inc()
        LOG.error(
            "event.refused",
            extra=_about(event, status=answer.reason, error=answer.error, api_message=answer.message),
        )


def _about(event: CsrEvent, **fields: Any) -> dict[str, Any]:
    return {"type": event.type, "csr": event.name, "uid": event.uid, **fields}


def _retry_after(value: str | None) -> float:
    """Retry-After in seconds (the HTTP-date form is not used by API Gateway and is ignored)."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _settled(data: bytes) -> bool:
    """Whether an accepted event's answer says `"settled": true` (anything else, or no JSON, says no)."""
    try:
        answer = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(answer, dict) and answer.get("settled") is True


def _error(data: bytes) -> tuple[str, str]:
    """The `error` code and `message` of the API's JSON answer (shortened; they never hold secrets)."""
    try:
        answer = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "(not JSON)", ""
    if not isinstance(answer, dict):
        return "(no error code)", ""
    return str(answer.get("error") or "(no error code)")[:100], str(answer.get("message") or "")[:300]
