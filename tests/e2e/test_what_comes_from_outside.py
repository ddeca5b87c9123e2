"""What anyone on the internet can send to the three routes of `csrgate dev up`: each request gets an answer below
500 from the local API Gateway and the functions behind it, however its headers and body are made."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from e2e_support import audit_events
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from devstack.client import DevStackClient, wait_for

ROUTES = ["/v1/slack/interactions", "/v1/hmac/csr-events", "/v1/csr-events"]
HEADER_NAMES = st.sampled_from(
    [
        "X-Slack-Request-Timestamp",
        "X-Slack-Signature",
        "X-Csrgate-Cluster",
        "X-Csrgate-Timestamp",
        "X-Csrgate-Signature",
        "X-Other",
    ]
)
# what http.client can put in a header: Latin-1, no line breaks
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)
HEADER_VALUES = st.one_of(
    HEADER_TEXT,
    st.sampled_from(["dev", "lab", "v0=" + "0" * 64, "v2=" + "0" * 64, "9" * 400]),
    st.integers(min_value=-400, max_value=400).map(lambda skew: str(int(time.time()) + skew)),  # drawn when run
)
CONTENT_TYPES = st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "application/octet-stream", "text/plain", ""]
)
BODIES = st.one_of(
    st.binary(max_size=4096),
    st.text(max_size=400).map(lambda text: text.encode("utf-8", errors="surrogatepass")),
    st.text(max_size=400).map(lambda text: ("payload=" + text).encode("utf-8", errors="surrogatepass")),
)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST and return the HTTP status, whatever it is."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    route=st.sampled_from(ROUTES),
    headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=5),
    content_type=CONTENT_TYPES,
    body=BODIES,
    slack_signs=st.booleans(),
)
def test_a_hundred_random_requests_to_the_three_routes_get_no_5xx(
    stack: DevStackClient, route: str, headers: dict[str, str], content_type: str, body: bytes, slack_signs: bool
) -> None:
    # GIVEN any headers and body, on any route; sometimes signed as Slack signs, to get past the signature
    if content_type:
        headers = {**headers, "Content-Type": content_type}
    if slack_signs and route.endswith("/interactions") and _is_text(body):
        timestamp = str(int(time.time()))
        verifier = SignatureVerifier(stack.stack["slack_signing_secret"])
        headers |= {
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": str(verifier.generate_signature(timestamp=timestamp, body=body)),
        }
    # WHEN it is sent through the local API Gateway
    status = post(stack.stack["api_url"] + route, body, headers)
    # THEN the answer is a refusal or a success, never a server error
    assert status < 500, (route, headers, body)
    event(f"{route} answered {status}")  # --hypothesis-show-statistics shows what was reached


def _is_text(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "9" * 400, "X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "1700000000", "X-Slack-Signature": "v0=\u00e9\u00e9"},
        {"X-Slack-Signature": "v0=" + "0" * 64},
        {},
    ],
)
def test_malformed_slack_signature_headers_are_answered_401_and_audited(
    stack: DevStackClient, headers: dict[str, str]
) -> None:
    # GIVEN a click-shaped body with signature headers that are missing or malformed
    body = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
    rejected_before = len(audit_events(stack, "slack.request_rejected"))
    # WHEN it is posted to the interactions URL
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status = post(stack.stack["interactions_url"], body, {**form, **headers})
    # THEN it is refused as unauthenticated, not a server error, and the refusal is in the audit log
    assert status == 401
    wait_for("the rejection in the log", lambda: len(audit_events(stack, "slack.request_rejected")) > rejected_before)
