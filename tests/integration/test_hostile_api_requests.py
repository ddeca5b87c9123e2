"""Whatever arrives from the internet, the HTTP APIs answer below 500: never an exception.

The functions run on moto provisioned from template.yaml, with the Slack stand-in; hypothesis draws the requests.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import urlencode

import hypothesis
import pytest
from hostile_values import JSON_VALUES, REAL_DER, REAL_PEM, SIGNERS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stack import Stack

from devstack.csrs import pem
from devstack.harness import LambdaContext, load_function
from devstack.lambda_events import api_event, hmac_event, slack_event

INTERACTIONS, HMAC_ROUTE, IAM_ROUTE = "POST /v1/slack/interactions", "POST /v1/hmac/csr-events", "POST /v1/csr-events"
COMMANDS, EVENTS = "POST /v1/slack/commands", "POST /v1/slack/events"
UNTRUSTED = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # one stack for all examples
HEADER_NAMES = st.sampled_from(
    [
        "content-type",
        "x-slack-request-timestamp",
        "x-slack-signature",
        "x-csrgate-cluster",
        "x-csrgate-timestamp",
        "x-csrgate-signature",
        "x-other",
    ]
)
HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["lab", "eks-prod", "nowhere", "v0=" + "0" * 64, "v2=" + "0" * 64, "application/json", "9" * 5000]),
    st.integers(min_value=-400, max_value=400).map(lambda skew: str(int(time.time()) + skew)),  # drawn when run
)
PRINTABLE = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)  # what a signer can encode
BODIES = st.one_of(
    st.binary(max_size=2048),
    PRINTABLE.map(str.encode),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    JSON_VALUES.map(lambda value: urlencode({"payload": json.dumps(value)}).encode()),
)


@st.composite
def requests_to(draw: st.DrawFn, route: str) -> dict[str, Any]:
    """Any headers and body on a route, passed on as API Gateway does, or base64 flags it could never set."""
    event = api_event(route, draw(st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=6)), draw(BODIES))
    encoding = draw(st.sampled_from(["as API Gateway does", "always base64", "text flagged as base64"]))
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event["isBase64Encoded"] else body.encode("utf-8", errors="surrogatepass")
    if encoding == "always base64":
        event |= {"body": base64.b64encode(raw).decode("ascii"), "isBase64Encoded": True}
    elif encoding == "text flagged as base64":
        event |= {"body": raw.decode("utf-8", errors="replace"), "isBase64Encoded": True}
    return event


UUIDS = st.uuids().map(str)
SLACK_PAYLOADS = st.fixed_dictionaries(
    {"type": st.sampled_from(["block_actions", "view_submission", "shortcut"]) | JSON_VALUES},
    optional={
        "user": JSON_VALUES | st.fixed_dictionaries({"id": st.just("U0ALICE") | JSON_VALUES}),
        "actions": JSON_VALUES
        | st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "action_id": st.sampled_from(["csrgate_approve", "csrgate_deny"]) | JSON_VALUES,
                    "value": UUIDS | JSON_VALUES,
                },
            ),
            max_size=2,
        ),
        "container": JSON_VALUES | st.fixed_dictionaries({"channel_id": JSON_VALUES, "message_ts": JSON_VALUES}),
        "view": JSON_VALUES
        | st.fixed_dictionaries(
            {},
            optional={
                "callback_id": st.sampled_from(["csrgate_deny_reason", "csrgate_certificate_request"]) | JSON_VALUES,
                "type": st.sampled_from(["home", "modal"]) | JSON_VALUES,
                "private_metadata": JSON_VALUES
                | UUIDS.map(lambda request_id: json.dumps({"request_id": request_id, "channel": "C0", "ts": "1.2"})),
                "state": JSON_VALUES
                | st.fixed_dictionaries(
                    {
                        "values": st.dictionaries(
                            st.sampled_from(["cluster", "csr", "lifetime", "reason", "other"]),
                            JSON_VALUES
                            | st.dictionaries(
                                st.sampled_from(["cluster", "csr", "lifetime", "reason"]),
                                JSON_VALUES
                                | st.fixed_dictionaries(
                                    {},
                                    optional={
                                        "value": st.sampled_from(["lab", "eks-prod", REAL_PEM.decode(), "3600"])
                                        | PRINTABLE
                                        | JSON_VALUES,
                                        "selected_option": JSON_VALUES
                                        | st.fixed_dictionaries({"value": st.sampled_from(["lab", "3600"])}),
                                    },
                                ),
                            ),
                        )
                    }
                ),
            },
        ),
        "trigger_id": JSON_VALUES,
    },
)
COMMAND_FORMS = st.fixed_dictionaries(
    {},
    optional={
        "command": st.sampled_from(["/csrgate", "/other"]) | PRINTABLE,
        "text": st.sampled_from(["help", "request", "status", "access", "", "STATUS now"]) | PRINTABLE,
        "user_id": st.sampled_from(["U0ALICE", "U0ANGELA", ""]) | PRINTABLE,
        "trigger_id": PRINTABLE,
    },
).map(urlencode)
SLACK_EVENTS = st.fixed_dictionaries(
    {"type": st.sampled_from(["url_verification", "event_callback"]) | JSON_VALUES},
    optional={
        "challenge": JSON_VALUES,
        "event": JSON_VALUES
        | st.fixed_dictionaries(
            {"type": st.just("app_home_opened") | JSON_VALUES},
            optional={"user": st.sampled_from(["U0ALICE", "U0NOBODY"]) | JSON_VALUES, "tab": st.just("home")},
        ),
    },
).map(json.dumps)
EVENT_BODIES = st.fixed_dictionaries(  # events of the right shape around CSRs good, broken and absurd
    {
        "cluster": st.just("lab"),
        "type": st.sampled_from(["ADDED", "MODIFIED", "DELETED"]),
        "object": st.fixed_dictionaries(
            {
                "metadata": st.fixed_dictionaries({"name": PRINTABLE, "uid": UUIDS}),
                "spec": st.fixed_dictionaries(
                    {
                        "request": st.sampled_from([REAL_PEM, pem(REAL_DER[:-9]), b"hello"]).map(
                            lambda data: base64.b64encode(data).decode()
                        )
                        | JSON_VALUES,
                        "signerName": st.sampled_from([s for s in SIGNERS if s]) | JSON_VALUES,
                    },
                    optional={name: JSON_VALUES for name in ("usages", "expirationSeconds", "username", "groups")},
                ),
                "status": st.just({}) | JSON_VALUES,
            }
        ),
    }
).map(lambda body: json.dumps(body).encode())


def answered(function: Any, event: dict[str, Any]) -> int:
    """Invoke the handler: it must answer, below 500 (a 5xx here would be an error metric anyone can trigger)."""
    response = function.lambda_handler(event, LambdaContext())
    assert response["statusCode"] < 500, (response, event)
    hypothesis.event(f"answered {response['statusCode']}")  # --hypothesis-show-statistics shows what was reached
    return int(response["statusCode"])


@pytest.fixture
def functions(stack: Stack) -> dict[str, Any]:
    """The two functions behind the API, cold-started once for all of a test's examples."""
    return {"interactions": load_function("interactions"), "intake": load_function("intake")}


@UNTRUSTED
@given(requests_to(INTERACTIONS))
def test_anything_sent_to_the_interactions_route(functions: dict[str, Any], event: dict[str, Any]) -> None:
    assert answered(functions["interactions"], event) in (400, 401, 413)


@UNTRUSTED
@given(st.one_of(PRINTABLE, SLACK_PAYLOADS.map(lambda payload: urlencode({"payload": json.dumps(payload)}))))
def test_anything_slack_signs_for_the_interactions_route(functions: dict[str, Any], body: str) -> None:
    answered(functions["interactions"], slack_event(body))


@UNTRUSTED
@given(st.sampled_from([COMMANDS, EVENTS]).flatmap(requests_to))
def test_anything_sent_to_the_command_and_event_routes(functions: dict[str, Any], event: dict[str, Any]) -> None:
    assert answered(functions["interactions"], event) in (400, 401, 413)


@UNTRUSTED
@given(st.one_of(PRINTABLE, COMMAND_FORMS))
def test_anything_slack_signs_for_the_command_route(functions: dict[str, Any], body: str) -> None:
    answered(functions["interactions"], slack_event(body, route=COMMANDS))


@UNTRUSTED
@given(st.one_of(PRINTABLE, SLACK_EVENTS))
def test_anything_slack_signs_for_the_event_route(functions: dict[str, Any], body: str) -> None:
    answered(functions["interactions"], slack_event(body, route=EVENTS, content_type="application/json"))


@UNTRUSTED
@given(requests_to(HMAC_ROUTE))
def test_anything_sent_to_the_hmac_route(functions: dict[str, Any], event: dict[str, Any]) -> None:
    assert answered(functions["intake"], event) in (400, 401, 413)


@UNTRUSTED
@given(st.one_of(BODIES, EVENT_BODIES))
def test_anything_a_cluster_signs_for_the_hmac_route(functions: dict[str, Any], body: bytes) -> None:
    answered(functions["intake"], hmac_event(body=body))


@UNTRUSTED
@given(requests_to(IAM_ROUTE), st.one_of(BODIES, EVENT_BODIES))
def test_anything_an_iam_caller_sends_to_the_iam_route(
    functions: dict[str, Any], event: dict[str, Any], body: bytes
) -> None:
    answered(functions["intake"], event)
    answered(functions["intake"], api_event(IAM_ROUTE, {"content-type": "application/json"}, body))
