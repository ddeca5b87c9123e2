"""The HMAC scheme forwarders outside AWS use to sign what they send: v1=HMAC-SHA256("v1:{ts}:{body}")."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from csrgate.domain.errors import CsrgateError

VERSION = "v1"
TIMESTAMP_HEADER = "X-Csrgate-Timestamp"
SIGNATURE_HEADER = "X-Csrgate-Signature"
WINDOW_SECONDS = 300  # as Slack's request signing: five minutes either way


class SignatureRejected(CsrgateError):
    """A request whose HMAC signature or timestamp does not hold; the message says which, never the secret."""


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-Csrgate-Signature value for a body sent at `timestamp` (Unix seconds)."""
    digest = hmac.new(secret, _basestring(timestamp, body), hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def signed_headers(secret: bytes, body: bytes, now: Callable[[], float]) -> dict[str, str]:
    """The two headers a sender adds to a request."""
    timestamp = int(now())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify_any(
    secrets: list[bytes], timestamp: str | None, signature: str | None, body: bytes, now: Callable[[], float]
) -> None:
    """Like verify, accepting a signature made with any of the keys (the new and the old one during a rotation)."""
    if not secrets:
        raise SignatureRejected("no key is configured for this cluster")
    for secret in secrets[:-1]:
        try:
            verify(secret, timestamp, signature, body, now)
        except SignatureRejected:
            continue
        return
    verify(secrets[-1], timestamp, signature, body, now)


def verify(secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: Callable[[], float]) -> None:
    """Raise SignatureRejected unless the signature is ours and the timestamp is inside the window."""
    if not timestamp or not signature:
        raise SignatureRejected(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureRejected(f"{TIMESTAMP_HEADER} must be Unix seconds")
    if abs(now() - int(timestamp)) > WINDOW_SECONDS:
        raise SignatureRejected(f"{TIMESTAMP_HEADER} is more than {WINDOW_SECONDS} seconds from now")
    expected = sign(secret, int(timestamp), body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", errors="replace")):
        raise SignatureRejected("signature does not match")


def _basestring(timestamp: int, body: bytes) -> bytes:
    return f"{VERSION}:{timestamp}:".encode("ascii") + body
