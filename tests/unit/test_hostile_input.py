"""Whatever arrives, the engine answers with a verdict or a typed error, and the HTTP APIs with an answer below
500: never an exception."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import urlencode

import hypothesis
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stack import Stack

from csrgate.domain.cluster import ClusterKind
from csrgate.domain.errors import InputError
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import default_policy
from csrgate.domain.request import MAX_INPUT_BYTES, SigningRequest, read_csr_object, read_signing_request
from csrgate.domain.verdict import Verdict, evaluate
from devstack.csrs import make_csr, manifest, pem
from devstack.harness import LambdaContext, load_function
from devstack.lambda_events import api_event, hmac_event, slack_event

POLICY = default_policy()
SIGNERS = [*POLICY.signers, "example.com/unmanaged", None]
REAL_PEM = make_csr("alice", orgs=["dev"], dns=["a.example.com"], key="p256")
REAL_DER = x509.load_pem_x509_csr(REAL_PEM).public_bytes(serialization.Encoding.DER)
SUBJECT_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=80)


def verdicts_for(request: SigningRequest) -> list[Verdict]:
    """The request judged under every signer and cluster kind."""
    return [
        evaluate(request.with_overrides(signer_name=signer, expiration_seconds=3600), POLICY, kind)
        for signer in SIGNERS
        for kind in ClusterKind
    ]


def read_and_judge(data: bytes) -> None:
    """Read the input; a typed InputError is an acceptable answer, anything else raised is a bug."""
    try:
        request = read_signing_request(data, "fuzz")
    except InputError as exc:
        assert str(exc).startswith("fuzz: ")
        return
    for verdict in verdicts_for(request):
        assert verdict.outcome in Outcome
        if request.csr is None and verdict.outcome is not Outcome.IGNORE:
            assert verdict.codes == ("malformed-request",)


@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    read_and_judge(data)


@given(st.integers(min_value=0, max_value=len(REAL_PEM)))
def test_truncated_pem(cut: int) -> None:
    read_and_judge(REAL_PEM[:cut])


@given(st.integers(min_value=0, max_value=len(REAL_DER) - 1), st.integers(min_value=1, max_value=255))
@example(position=1, flip=0x7F)  # the outer SEQUENCE length
@example(position=9, flip=0x01)  # the version: cryptography raises InvalidVersion, not ValueError
def test_corrupted_der_in_a_valid_pem_block(position: int, flip: int) -> None:
    der = bytearray(REAL_DER)
    der[position] ^= flip
    read_and_judge(pem(bytes(der)))
    read_and_judge(manifest(pem(bytes(der))))


@given(st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789"), min_size=1, max_size=40))
def test_pem_with_any_label(label: str) -> None:
    read_and_judge(pem(REAL_DER, label=label))


@given(st.text(max_size=2000))
def test_random_text_and_its_base64(text: str) -> None:
    read_and_judge(text.encode("utf-8", errors="surrogatepass"))
    read_and_judge(base64.b64encode(text.encode("utf-8", errors="surrogatepass")))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@given(
    st.dictionaries(
        st.sampled_from(["request", "signerName", "usages", "expirationSeconds", "username", "groups", "extra"]),
        JSON_VALUES,
    ),
    JSON_VALUES,
    st.booleans(),
)
def test_objects_with_any_spec(spec: dict[str, Any], metadata: Any, from_cluster: bool) -> None:
    obj = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": metadata}
    obj["spec"] = spec
    try:
        request = read_csr_object(obj, "event", from_cluster=from_cluster).signing_request
    except InputError:
        return
    assert all(verdict.outcome in Outcome for verdict in verdicts_for(request))


@given(
    st.lists(SUBJECT_TEXT, min_size=0, max_size=3),
    st.lists(SUBJECT_TEXT, max_size=4),
)
def test_random_subjects(common_names: list[str], organizations: list[str]) -> None:
    request = read_signing_request(make_csr(common_names, orgs=organizations, key="p256"), "fuzz")
    assert request.csr is not None
    assert request.csr.subject.common_names == tuple(common_names)
    assert request.csr.subject.organizations == tuple(organizations)
    for verdict in verdicts_for(request):
        assert verdict.outcome in Outcome


@settings(max_examples=5, deadline=None)
@given(st.sampled_from([b"A", b"[", b"{a: ", b"-----BEGIN CERTIFICATE REQUEST-----\n", b"\n"]))
def test_huge_inputs(unit: bytes) -> None:
    for size in (MAX_INPUT_BYTES - 1, MAX_INPUT_BYTES, MAX_INPUT_BYTES * 4):
        read_and_judge((unit * (size // len(unit) + 1))[:size])


def test_deeply_nested_yaml_is_an_input_error() -> None:
    read_and_judge(b"[" * 50_000 + b"]" * 50_000)


# --- the HTTP APIs: whatever arrives from the internet is answered, never raised, never a 5xx ------------------

INTERACTIONS, HMAC_ROUTE, IAM_ROUTE = "POST /v1/slack/interactions", "POST /v1/hmac/csr-events", "POST /v1/csr-events"
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
                "callback_id": st.just("csrgate_deny_reason") | JSON_VALUES,
                "private_metadata": JSON_VALUES
                | UUIDS.map(lambda request_id: json.dumps({"request_id": request_id, "channel": "C0", "ts": "1.2"})),
                "state": JSON_VALUES,
            },
        ),
        "trigger_id": JSON_VALUES,
    },
)
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
