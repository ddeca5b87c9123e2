"""The forwarder's HMAC scheme: what verifies, and everything forged, stale or malformed that must not."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from csrgate.domain.signing import SignatureRejected, sign, signed_headers, verify, verify_any

SECRET = b"cluster-key"
BODY = b'{"cluster": "prod", "type": "ADDED"}'
NOW = 1_800_000_000.0


def clock() -> float:
    return NOW


def test_the_signature_is_hmac_sha256_over_version_timestamp_and_body() -> None:
    expected = hmac.new(SECRET, b"v1:1800000000:" + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1_800_000_000, BODY) == f"v1={expected}"


def test_signed_headers_verify() -> None:
    headers = signed_headers(SECRET, BODY, clock)
    verify(SECRET, headers["X-Csrgate-Timestamp"], headers["X-Csrgate-Signature"], BODY, clock)


@pytest.mark.parametrize("skew", [-300, 299, 300])
def test_clocks_may_differ_by_five_minutes(skew: int) -> None:
    timestamp = int(NOW) + skew
    verify(SECRET, str(timestamp), sign(SECRET, timestamp, BODY), BODY, clock)


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "problem"),
    [
        (None, sign(SECRET, int(NOW), BODY), BODY, "missing"),
        (str(int(NOW)), None, BODY, "missing"),
        (str(int(NOW)), sign(b"other-key", int(NOW), BODY), BODY, "does not match"),
        (str(int(NOW)), sign(SECRET, int(NOW), BODY), BODY + b" ", "does not match"),
        (str(int(NOW)), sign(SECRET, int(NOW), BODY).upper(), BODY, "does not match"),
        (str(int(NOW)), "v0=" + sign(SECRET, int(NOW), BODY)[3:], BODY, "does not match"),
        (str(int(NOW)), "v1=", BODY, "does not match"),
        (str(int(NOW)), "v1=\u00e9\u00e9", BODY, "does not match"),
        (str(int(NOW) - 301), sign(SECRET, int(NOW) - 301, BODY), BODY, "more than 300 seconds"),
        (str(int(NOW) + 301), sign(SECRET, int(NOW) + 301, BODY), BODY, "more than 300 seconds"),
        ("-5", sign(SECRET, -5, BODY), BODY, "Unix seconds"),
        ("1e9", "v1=00", BODY, "Unix seconds"),
        ("\u0661\u0662", "v1=00", BODY, "Unix seconds"),  # Arabic-Indic digits pass str.isdigit
        ("9" * 40, "v1=00", BODY, "Unix seconds"),
    ],
)
def test_forged_stale_and_malformed_signatures_are_rejected(
    timestamp: str | None, signature: str | None, body: bytes, problem: str
) -> None:
    with pytest.raises(SignatureRejected, match=problem):
        verify(SECRET, timestamp, signature, body, clock)


def test_the_secret_never_appears_in_a_rejection() -> None:
    with pytest.raises(SignatureRejected) as raised:
        verify(SECRET, str(int(NOW)), "v1=00", BODY, clock)
    assert SECRET.decode() not in str(raised.value)


def test_during_a_rotation_either_key_verifies_and_no_other() -> None:
    old, new = b"old-key", b"new-key"
    for key in (old, new):
        headers = signed_headers(key, BODY, clock)
        verify_any([new, old], headers["X-Csrgate-Timestamp"], headers["X-Csrgate-Signature"], BODY, clock)
    forged = signed_headers(b"someone-else", BODY, clock)
    with pytest.raises(SignatureRejected, match="does not match"):
        verify_any([new, old], forged["X-Csrgate-Timestamp"], forged["X-Csrgate-Signature"], BODY, clock)
    with pytest.raises(SignatureRejected, match="no key"):
        verify_any([], forged["X-Csrgate-Timestamp"], forged["X-Csrgate-Signature"], BODY, clock)
