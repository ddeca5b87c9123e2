"""How a forwarder outside AWS signs what it sends (docs/forwarder-protocol.md), and every way a request that is
forged, replayed late, meant for another cluster or malformed is rejected, saying which header is wrong."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from csrgate.domain.errors import CsrgateError
from csrgate.domain.signing import FreshSigner, SignatureRejected, sign, signed_headers, verify, verify_any

KEY = b"k" * 32
CLUSTER = "lab"
BODY = b'{"type": "ADDED", "csr": "csr-1"}'
NOW = 1_800_000_000


def clock() -> float:
    return NOW


def headers_for(key: bytes = KEY, cluster: str = CLUSTER, body: bytes = BODY) -> tuple[str, str]:
    headers = signed_headers(key, cluster, body, clock)
    return headers["X-Csrgate-Timestamp"], headers["X-Csrgate-Signature"]


def test_a_signature_is_hmac_sha256_of_version_timestamp_cluster_and_body() -> None:
    digest = hmac.new(KEY, b"v2:1800000000:lab:" + BODY, hashlib.sha256).hexdigest()
    assert sign(KEY, NOW, CLUSTER, BODY) == f"v2={digest}"


def test_a_sender_names_the_cluster_the_second_and_the_signature() -> None:
    # GIVEN a clock half-way through a second
    # WHEN a forwarder signs a body THEN the three headers carry the cluster, whole Unix seconds and the signature
    assert signed_headers(KEY, CLUSTER, BODY, lambda: NOW + 0.9) == {
        "X-Csrgate-Cluster": CLUSTER,
        "X-Csrgate-Timestamp": "1800000000",
        "X-Csrgate-Signature": sign(KEY, NOW, CLUSTER, BODY),
    }


def test_what_a_forwarder_signs_verifies() -> None:
    timestamp, signature = headers_for()
    verify(KEY, CLUSTER, timestamp, signature, BODY, clock)


@pytest.mark.parametrize("now", [NOW - 300, NOW + 300, NOW + 299.9])
def test_the_clocks_may_differ_by_up_to_five_minutes(now: float) -> None:
    timestamp, signature = headers_for()
    verify(KEY, CLUSTER, timestamp, signature, BODY, lambda: now)


@pytest.mark.parametrize("now", [NOW - 301, NOW + 301, NOW + 300.5])
def test_a_request_more_than_five_minutes_off_is_rejected(now: float) -> None:
    timestamp, signature = headers_for()
    with pytest.raises(SignatureRejected, match="^X-Csrgate-Timestamp is more than 300 seconds from now$"):
        verify(KEY, CLUSTER, timestamp, signature, BODY, lambda: now)


def test_leading_zeros_keep_a_timestamp_of_twelve_digits_readable() -> None:
    _, signature = headers_for()
    verify(KEY, CLUSTER, "001800000000", signature, BODY, clock)


@pytest.mark.parametrize(
    ("cluster", "key", "body", "sent_cluster", "sent_body"),
    [
        (CLUSTER, b"another key of thirty-two bytes!", BODY, CLUSTER, BODY),  # signed with another key
        ("staging", KEY, BODY, CLUSTER, BODY),  # signed for another cluster, presented as lab's
        (CLUSTER, KEY, BODY, CLUSTER, BODY + b" "),  # the body changed on the way
    ],
)
def test_a_forged_or_altered_request_does_not_match(
    cluster: str, key: bytes, body: bytes, sent_cluster: str, sent_body: bytes
) -> None:
    timestamp, signature = headers_for(key, cluster, body)
    with pytest.raises(SignatureRejected, match="^signature does not match$"):
        verify(KEY, sent_cluster, timestamp, signature, sent_body, clock)


def test_a_signature_over_another_timestamp_does_not_match() -> None:
    with pytest.raises(SignatureRejected, match="^signature does not match$"):
        verify(KEY, CLUSTER, str(NOW), sign(KEY, NOW - 1, CLUSTER, BODY), BODY, clock)


@pytest.mark.parametrize(
    ("timestamp", "signature", "problem"),
    [
        (None, "v2=00", "missing X-Csrgate-Timestamp or X-Csrgate-Signature header"),
        ("", "v2=00", "missing X-Csrgate-Timestamp or X-Csrgate-Signature header"),
        (str(NOW), None, "missing X-Csrgate-Timestamp or X-Csrgate-Signature header"),
        (str(NOW), "", "missing X-Csrgate-Timestamp or X-Csrgate-Signature header"),
        ("-1800000000", "v2=00", "X-Csrgate-Timestamp must be Unix seconds"),
        ("1.8e9", "v2=00", "X-Csrgate-Timestamp must be Unix seconds"),
        ("\u0661\u0662\u0663", "v2=00", "X-Csrgate-Timestamp must be Unix seconds"),  # digits, but not ASCII ones
        ("0001800000000", "v2=00", "X-Csrgate-Timestamp must be Unix seconds"),  # thirteen characters
        (str(NOW), "v2=" + "0" * 98, "X-Csrgate-Signature is malformed"),  # 101 characters
        (str(NOW), "v2=\u00e9", "X-Csrgate-Signature is malformed"),
        (str(NOW), "v1=00", "X-Csrgate-Signature is not a v2 signature"),
        (str(NOW), "V2=00", "X-Csrgate-Signature is not a v2 signature"),
        (str(NOW), "v2" + "0" * 64, "X-Csrgate-Signature is not a v2 signature"),
        (str(NOW), "v2=" + "0" * 97, "signature does not match"),  # 100 characters: long, but not too long
    ],
)
def test_missing_and_malformed_headers_are_rejected_naming_the_header(
    timestamp: str | None, signature: str | None, problem: str
) -> None:
    with pytest.raises(SignatureRejected) as raised:
        verify(KEY, CLUSTER, timestamp, signature, BODY, clock)
    assert str(raised.value) == problem


@pytest.mark.parametrize("cluster", ["", "Lab", "lab:1800000000", "-lab", "l" * 64, "l\u00e4b", "lab\n"])
def test_a_cluster_header_that_is_no_cluster_name_is_rejected(cluster: str) -> None:
    timestamp, signature = headers_for()
    with pytest.raises(SignatureRejected, match="^X-Csrgate-Cluster is not a cluster name$"):
        verify(KEY, cluster, timestamp, signature, BODY, clock)


def test_a_rejection_is_a_csrgate_error_that_never_shows_the_key() -> None:
    with pytest.raises(CsrgateError) as raised:
        verify(KEY, CLUSTER, str(NOW), "v2=00", BODY, clock)
    assert KEY.decode() not in str(raised.value)


@pytest.mark.parametrize("signing_key", [b"new" * 11, b"old" * 11, b"older" * 7])
def test_during_a_rotation_any_configured_key_verifies(signing_key: bytes) -> None:
    timestamp, signature = headers_for(signing_key)
    verify_any([b"new" * 11, b"old" * 11, b"older" * 7], CLUSTER, timestamp, signature, BODY, clock)


def test_a_key_that_is_not_configured_does_not_verify_during_a_rotation() -> None:
    timestamp, signature = headers_for(b"someone else's key, 32 bytes ok")
    with pytest.raises(SignatureRejected, match="^signature does not match$"):
        verify_any([b"new" * 11, b"old" * 11], CLUSTER, timestamp, signature, BODY, clock)


def test_a_malformed_header_is_rejected_whatever_the_keys() -> None:
    with pytest.raises(SignatureRejected, match="^X-Csrgate-Signature is not a v2 signature$"):
        verify_any([b"new" * 11, b"old" * 11], CLUSTER, str(NOW), "v1=00", BODY, clock)


def test_a_cluster_without_keys_rejects_everything() -> None:
    timestamp, signature = headers_for()
    with pytest.raises(SignatureRejected, match="^no key is configured for this cluster$"):
        verify_any([], CLUSTER, timestamp, signature, BODY, clock)


def test_a_body_sent_again_within_a_second_gets_the_next_second() -> None:
    # GIVEN a fresh signer whose clock stands still (retries right after a timeout)
    signer = FreshSigner(lambda: NOW + 0.5)
    # WHEN the same body is signed three times, and another body and another cluster's same body once each
    again = [signer.headers(KEY, CLUSTER, BODY) for _ in range(3)]
    other_body = signer.headers(KEY, CLUSTER, b"{}")
    other_cluster = signer.headers(KEY, "staging", BODY)
    # THEN only the repeated body moved on, one second at a time, and every one of them verifies
    stamps = [int(headers["X-Csrgate-Timestamp"]) for headers in [*again, other_body, other_cluster]]
    assert stamps == [NOW, NOW + 1, NOW + 2, NOW, NOW]
    for headers in again:
        verify(KEY, CLUSTER, headers["X-Csrgate-Timestamp"], headers["X-Csrgate-Signature"], BODY, clock)
    assert other_cluster["X-Csrgate-Cluster"] == "staging"


def test_a_cluster_and_body_that_run_together_alike_are_told_apart() -> None:
    signer = FreshSigner(clock)
    first = signer.headers(KEY, "lab", b"1{}")
    second = signer.headers(KEY, "lab1", b"{}")
    assert first["X-Csrgate-Timestamp"] == second["X-Csrgate-Timestamp"] == str(NOW)


def test_a_body_signed_ahead_of_the_clock_is_not_signed_with_that_second_again() -> None:
    # GIVEN a body signed twice in one second: the retry was given the next second, ahead of the clock
    now = [NOW]
    signer = FreshSigner(lambda: now[0])
    signer.headers(KEY, CLUSTER, BODY)
    signer.headers(KEY, CLUSTER, BODY)
    # WHEN the clock reaches that second and the body is sent once more
    now[0] = NOW + 1
    # THEN it gets the second after, never the one it already used
    assert signer.headers(KEY, CLUSTER, BODY)["X-Csrgate-Timestamp"] == str(NOW + 2)


def test_a_signer_keeps_to_the_clock_once_its_seconds_have_passed() -> None:
    now = [NOW]
    signer = FreshSigner(lambda: now[0])
    signer.headers(KEY, CLUSTER, BODY)
    signer.headers(KEY, CLUSTER, BODY)
    now[0] = NOW + 5
    assert signer.headers(KEY, CLUSTER, BODY)["X-Csrgate-Timestamp"] == str(NOW + 5)
    assert signer.headers(KEY, CLUSTER, BODY)["X-Csrgate-Timestamp"] == str(NOW + 6)
