"""The forwarder's HMAC scheme: what verifies, and everything forged, stale or malformed that must not."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest

from csrgate.domain.signing import FreshSigner, SignatureRejected, signed_headers, verify_any
from csrgate.domain.signing import sign as sign_for
from csrgate.domain.signing import verify as verify_for

SECRET = b"cluster-key"
CLUSTER = "prod"
BODY = b'{"cluster": "prod", "type": "ADDED"}'
NOW = 1_800_000_000.0


def clock() -> float:
    return NOW


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    return sign_for(secret, timestamp, CLUSTER, body)


def verify(
    secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: Callable[[], float] = clock
) -> None:
    verify_for(secret, CLUSTER, timestamp, signature, body, now)


def test_the_signature_is_hmac_sha256_over_version_timestamp_cluster_and_body() -> None:
    expected = hmac.new(SECRET, b"v2:1800000000:prod:" + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1_800_000_000, BODY) == f"v2={expected}"


def test_signed_headers_name_the_cluster_and_verify() -> None:
    headers = signed_headers(SECRET, CLUSTER, BODY, clock)
    assert headers["X-Csrgate-Cluster"] == CLUSTER
    verify(SECRET, headers["X-Csrgate-Timestamp"], headers["X-Csrgate-Signature"], BODY, clock)


def test_a_signature_made_for_one_cluster_does_not_hold_for_another() -> None:
    headers = signed_headers(SECRET, "staging", BODY, clock)
    with pytest.raises(SignatureRejected, match="does not match"):
        verify_for(SECRET, CLUSTER, headers["X-Csrgate-Timestamp"], headers["X-Csrgate-Signature"], BODY, clock)


def test_a_v1_signature_is_no_longer_accepted() -> None:
    v1 = hmac.new(SECRET, b"v1:1800000000:" + BODY, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureRejected, match="not a v2 signature"):
        verify(SECRET, "1800000000", f"v1={v1}", BODY, clock)


@pytest.mark.parametrize("cluster", ["", "Prod", "prod:1800000000", "-prod", "p" * 64, "pr\u00f6d", "prod\n"])
def test_a_cluster_header_that_is_not_a_cluster_name_is_rejected(cluster: str) -> None:
    with pytest.raises(SignatureRejected, match="not a cluster name"):
        verify_for(SECRET, cluster, str(int(NOW)), sign(SECRET, int(NOW), BODY), BODY, clock)


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
        (str(int(NOW)), sign(SECRET, int(NOW), BODY).upper(), BODY, "not a v2 signature"),
        (str(int(NOW)), "v0=" + sign(SECRET, int(NOW), BODY)[3:], BODY, "not a v2 signature"),
        (str(int(NOW)), "v2=", BODY, "does not match"),
        (str(int(NOW)), "v2=\u00e9\u00e9", BODY, "malformed"),
        (str(int(NOW)), "v2=" + "0" * 5000, BODY, "malformed"),
        (str(int(NOW) - 301), sign(SECRET, int(NOW) - 301, BODY), BODY, "more than 300 seconds"),
        (str(int(NOW) + 301), sign(SECRET, int(NOW) + 301, BODY), BODY, "more than 300 seconds"),
        ("-5", sign(SECRET, -5, BODY), BODY, "Unix seconds"),
        ("1e9", "v2=00", BODY, "Unix seconds"),
        ("\u0661\u0662", "v2=00", BODY, "Unix seconds"),  # Arabic-Indic digits pass str.isdigit
        ("9" * 40, "v2=00", BODY, "Unix seconds"),
    ],
)
def test_forged_stale_and_malformed_signatures_are_rejected(
    timestamp: str | None, signature: str | None, body: bytes, problem: str
) -> None:
    with pytest.raises(SignatureRejected, match=problem):
        verify(SECRET, timestamp, signature, body, clock)


def test_the_secret_never_appears_in_a_rejection() -> None:
    with pytest.raises(SignatureRejected) as raised:
        verify(SECRET, str(int(NOW)), "v2=00", BODY, clock)
    assert SECRET.decode() not in str(raised.value)


def test_during_a_rotation_either_key_verifies_and_no_other() -> None:
    old, new = b"old-key", b"new-key"
    for key in (old, new):
        headers = signed_headers(key, CLUSTER, BODY, clock)
        verify_any([new, old], CLUSTER, headers["X-Csrgate-Timestamp"], headers["X-Csrgate-Signature"], BODY, clock)
    forged = signed_headers(b"someone-else", CLUSTER, BODY, clock)
    with pytest.raises(SignatureRejected, match="does not match"):
        verify_any([new, old], CLUSTER, forged["X-Csrgate-Timestamp"], forged["X-Csrgate-Signature"], BODY, clock)
    with pytest.raises(SignatureRejected, match="no key"):
        verify_any([], CLUSTER, forged["X-Csrgate-Timestamp"], forged["X-Csrgate-Signature"], BODY, clock)


def test_a_body_signed_again_within_the_same_second_never_repeats_a_signature() -> None:
    # GIVEN a signer whose clock stands still (a retry right after a timeout, within one second)
    signer = FreshSigner(clock)
    # WHEN the same body is signed three times, and another body once
    first, second, third = (signer.headers(SECRET, CLUSTER, BODY) for _ in range(3))
    other = signer.headers(SECRET, CLUSTER, b"another body")
    # THEN every signature differs, each verifies, and only the repeated body moved past the current second
    signatures = {h["X-Csrgate-Signature"] for h in (first, second, third)}
    assert len(signatures) == 3
    assert [int(h["X-Csrgate-Timestamp"]) for h in (first, second, third, other)] == [NOW, NOW + 1, NOW + 2, NOW]
    for headers in (first, second, third):
        verify(SECRET, headers["X-Csrgate-Timestamp"], headers["X-Csrgate-Signature"], BODY, clock)


def test_a_fresh_signer_keeps_to_the_clock_once_the_second_has_passed() -> None:
    now = [NOW]
    signer = FreshSigner(lambda: now[0])
    signer.headers(SECRET, CLUSTER, BODY)
    signer.headers(SECRET, CLUSTER, BODY)  # given NOW + 1
    now[0] = NOW + 5
    assert signer.headers(SECRET, CLUSTER, BODY)["X-Csrgate-Timestamp"] == str(int(NOW) + 5)
