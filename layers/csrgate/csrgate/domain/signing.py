"""The HMAC scheme forwarders outside AWS use to sign what they send: v2=HMAC-SHA256("v2:{ts}:{cluster}:{body}").

The cluster is named in a header and covered by the signature, so the receiver picks the key before it reads the
body, and a request signed for one cluster cannot be presented as another's.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable

from csrgate.domain.cluster import CLUSTER_NAME
from csrgate.domain.errors import CsrgateError

VERSION = "v2"
CLUSTER_HEADER = "X-Csrgate-Cluster"
TIMESTAMP_HEADER = "X-Csrgate-Timestamp"
SIGNATURE_HEADER = "X-Csrgate-Signature"
WINDOW_SECONDS = 300  # as Slack's request signing: five minutes either way
MIN_KEY_BYTES = 32  # docs/forwarder-protocol.md: at least 32 random bytes
_MAX_SIGNATURE_CHARS = 100


class SignatureRejected(CsrgateError):
    """A request whose HMAC signature or timestamp does not hold; the message says which, never the secret."""


def sign(secret: bytes, timestamp: int, cluster: str, body: bytes) -> str:
    """The X-Csrgate-Signature value for a body sent for `cluster` at `timestamp` (Unix seconds)."""
    digest = hmac.new(secret, _basestring(timestamp, cluster, body), hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def signed_headers(secret: bytes, cluster: str, body: bytes, now: Callable[[], float]) -> dict[str, str]:
    """The three headers a sender adds to a request."""
    timestamp = int(now())
    return {
        CLUSTER_HEADER: cluster,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, cluster, body),
    }


class FreshSigner:
    """Signs so that no two requests carry the same signature, even the same body sent twice in one second.

    The receiver refuses a signature it has already accepted (a replay), so a retry must never repeat one: a body
    signed again within the second it was last signed in gets the next second, which stays inside the window.
    Safe to share between threads.
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._second = 0
        self._last: dict[bytes, int] = {}  # digest of a recently signed body -> the timestamp it was given

    def headers(self, secret: bytes, cluster: str, body: bytes) -> dict[str, str]:
        """Signed headers for one request, with a timestamp this body has not been signed with before."""
        digest = hashlib.sha256(cluster.encode("utf-8") + b"\0" + body).digest()
        with self._lock:
            second = int(self._now())
            if second != self._second:  # forget bodies whose last timestamp is already in the past
                self._second = second
                self._last = {key: stamp for key, stamp in self._last.items() if stamp >= second}
            timestamp = max(second, self._last.get(digest, second - 1) + 1)
            self._last[digest] = timestamp
        return signed_headers(secret, cluster, body, lambda: timestamp)


def verify_any(
    secrets: list[bytes],
    cluster: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: Callable[[], float],
) -> None:
    """Like verify, accepting a signature made with any of the keys (the new and the old one during a rotation)."""
    if not secrets:
        raise SignatureRejected("no key is configured for this cluster")
    for secret in secrets[:-1]:
        try:
            verify(secret, cluster, timestamp, signature, body, now)
        except SignatureRejected:
            continue
        return
    verify(secrets[-1], cluster, timestamp, signature, body, now)


def verify(
    secret: bytes,
    cluster: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: Callable[[], float],
) -> None:
    """Raise SignatureRejected unless the signature is ours for this cluster and the timestamp is inside the window."""
    if not timestamp or not signature:
        raise SignatureRejected(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not CLUSTER_NAME.fullmatch(cluster):
        raise SignatureRejected(f"{CLUSTER_HEADER} is not a cluster name")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureRejected(f"{TIMESTAMP_HEADER} must be Unix seconds")
    if not signature.isascii() or len(signature) > _MAX_SIGNATURE_CHARS:
        raise SignatureRejected(f"{SIGNATURE_HEADER} is malformed")
    if not signature.startswith(f"{VERSION}="):
        raise SignatureRejected(f"{SIGNATURE_HEADER} is not a {VERSION} signature")
    if abs(now() - int(timestamp)) > WINDOW_SECONDS:
        raise SignatureRejected(f"{TIMESTAMP_HEADER} is more than {WINDOW_SECONDS} seconds from now")
    expected = sign(secret, int(timestamp), cluster, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        raise SignatureRejected("signature does not match")


def _basestring(timestamp: int, cluster: str, body: bytes) -> bytes:
    return f"{VERSION}:{timestamp}:{cluster}:".encode() + body
