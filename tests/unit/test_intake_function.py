"""The intake function end to end: API Gateway events in, DynamoDB, SQS, Slack and audit lines out.

AWS is moto provisioned from template.yaml; Slack is the stand-in, reached by the real WebClient over HTTP.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from typing import Any

import pytest
from lambda_events import EVENTS, hmac_event, sqs_event
from stack import CLUSTERS, FORWARDER_ROLE, HMAC_KEY, LambdaContext, Stack, load_function

from csrfactory import make_csr, pem
from csrgate.domain.records import request_id_for

DOCS_REQUEST = json.loads(json.loads((EVENTS / "csr-added-iam.json").read_text())["body"])["object"]
CALLER = "arn:aws:sts::123456789012:assumed-role/csrgate-forwarder/eks-pod-identity"


def csr_object(
    csr_pem: bytes | None = None,
    *,
    uid: str = "uid-1",
    name: str = "alice",
    signer: str = "kubernetes.io/kube-apiserver-client",
    usages: tuple[str, ...] = ("client auth",),
    expiration_seconds: int | None = 86400,
    username: str = "alice@example.com",
    groups: tuple[str, ...] = ("developers", "system:authenticated"),
    status: dict[str, Any] | None = None,
    request: str | None = None,
) -> dict[str, Any]:
    """A CertificateSigningRequest as the API server returns it."""
    obj = copy.deepcopy(DOCS_REQUEST)
    obj["metadata"].update(name=name, uid=uid)
    obj["spec"].update(
        request=request if request is not None else base64.b64encode(csr_pem or make_csr("alice")).decode(),
        signerName=signer,
        usages=list(usages),
        username=username,
        groups=list(groups),
    )
    if expiration_seconds is None:
        obj["spec"].pop("expirationSeconds", None)
    else:
        obj["spec"]["expirationSeconds"] = expiration_seconds
    obj["status"] = status or {}
    return obj


def iam_event(
    obj: dict[str, Any], *, cluster: str = "eks-prod", caller: str = CALLER, event_type: str = "ADDED"
) -> dict[str, Any]:
    """An API Gateway event from a forwarder that signed with SigV4, as the IAM authorizer passes it on."""
    event = json.loads((EVENTS / "csr-added-iam.json").read_text())
    event["body"] = json.dumps({"cluster": cluster, "type": event_type, "object": obj})
    event["requestContext"]["authorizer"]["iam"]["userArn"] = caller
    return event


def invoke(function: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = function.lambda_handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def audit_events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The structured log lines the function wrote that carry an audit `event` key."""
    lines = []
    for line in capsys.readouterr().out.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "event" in record and "_aws" not in record:
            lines.append(record)
    return lines


@pytest.fixture
def intake(stack: Stack, capsys: pytest.CaptureFixture[str]) -> Any:
    """The intake function, cold-started with capsys active so its log lines can be read."""
    return load_function("intake")


# --- the main paths -----------------------------------------------------------------------------------------


def test_the_docs_csr_produces_exactly_one_approval_request(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the docs' myuser CSR forwarded from a cluster outside AWS
    # WHEN the forwarder sends it
    status, body = invoke(intake, hmac_event(DOCS_REQUEST))
    # THEN it is stored as awaiting review, and one approval request is in the cluster's channel
    request_id = request_id_for("lab", DOCS_REQUEST["metadata"]["uid"])
    assert (status, body) == (200, {"request_id": request_id, "state": "awaiting_review", "created": True})
    [message] = stack.slack.messages
    assert message.channel == "C0LAB"
    actions = [block for block in message.blocks if block["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions[0]["elements"]] == [
        ("csrgate_approve", request_id),
        ("csrgate_deny", request_id),
    ]
    shown = json.dumps(message.blocks)
    for fact in ("angela", "angela@example.com", "developers", "client auth", "1 day", "RSA 2048", "1 approval"):
        assert fact in shown
    item = stack.request_item(request_id)
    assert item is not None and item["state"] == "awaiting_review" and item["slack_ts"] == message.ts
    events = [line["event"] for line in audit_events(capsys)]
    assert events == ["csr.received", "csr.policy_verdict", "csr.review_requested"]
    assert stack.queue_messages("DecisionQueue") == []


def test_audit_lines_carry_the_fixed_keys(stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    invoke(intake, hmac_event(DOCS_REQUEST))
    verdict = next(line for line in audit_events(capsys) if line["event"] == "csr.policy_verdict")
    assert {key: verdict[key] for key in ("cluster", "csr_name", "csr_uid", "actor", "verdict", "finding_codes")} == {
        "cluster": "lab",
        "csr_name": "myuser",
        "csr_uid": DOCS_REQUEST["metadata"]["uid"],
        "actor": "csrgate:policy",
        "verdict": "review",
        "finding_codes": [],
    }
    assert verdict["request_id"] == request_id_for("lab", DOCS_REQUEST["metadata"]["uid"])


def test_requests_and_verdicts_are_counted_per_cluster(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke(intake, hmac_event(DOCS_REQUEST))
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    counted = {m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]: m["cluster"] for m in metrics}
    assert counted == {"RequestsReceived": "lab", "VerdictReview": "lab", "ReviewsRequested": "lab"}
    assert all(m["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "csrgate" for m in metrics)


def test_the_same_csr_sent_again_creates_nothing_new(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke(intake, hmac_event(DOCS_REQUEST))
    capsys.readouterr()
    # a forwarder restart re-lists and re-sends the CSR with a newer resourceVersion
    resent = copy.deepcopy(DOCS_REQUEST)
    resent["metadata"]["resourceVersion"] = "9999"
    status, body = invoke(intake, hmac_event(resent))
    assert status == 200 and body["created"] is False and body["state"] == "awaiting_review"
    assert len(stack.slack.messages) == 1
    assert audit_events(capsys) == []


def test_a_policy_violation_is_denied_queued_for_the_cluster_and_announced(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = csr_object(make_csr("root", orgs=["system:masters"]), uid="uid-masters", name="root")
    status, body = invoke(intake, hmac_event(obj))
    assert status == 200 and body["state"] == "denied_by_policy"
    [queued] = stack.queue_messages("DecisionQueue")
    decision = json.loads(queued["Body"])
    assert decision["kind"] == "apply_decision" and decision["decision"] == "deny"
    assert decision["csr_name"] == "root" and decision["csr_uid"] == "uid-masters"
    assert decision["decided_by"] == "csrgate:policy" and "forbidden-group" in decision["reason"]
    [notice] = stack.slack.messages
    assert "denied by policy" in notice.text
    assert not [block for block in notice.blocks if block["type"] == "actions"]
    assert "forbidden-group" in json.dumps(notice.blocks)
    events = [line["event"] for line in audit_events(capsys)]
    assert events == ["csr.received", "csr.policy_verdict", "csr.decision_queued", "slack.notice_posted"]
    assert stack.request_item(body["request_id"])["decision_queued"] is True  # type: ignore[index]


def test_a_nodes_own_serving_csr_is_auto_approved(stack: Stack, intake: Any) -> None:
    node = "system:node:ip-10-0-1-23.ec2.internal"
    csr_pem = make_csr(node, orgs=["system:nodes"], dns=["ip-10-0-1-23.ec2.internal"], ips=["10.0.1.23"], key="p256")
    obj = csr_object(
        csr_pem,
        uid="uid-node",
        name="csr-abcde",
        signer="kubernetes.io/kubelet-serving",
        usages=("digital signature", "server auth"),
        expiration_seconds=None,
        username=node,
        groups=("system:nodes", "system:authenticated"),
    )
    status, body = invoke(intake, hmac_event(obj))
    assert status == 200 and body["state"] == "auto_approved"
    [queued] = stack.queue_messages("DecisionQueue")
    assert json.loads(queued["Body"])["decision"] == "approve"
    [notice] = stack.slack.messages
    assert "approved by policy" in notice.text


def test_a_signer_csrgate_does_not_manage_is_recorded_and_left_alone(stack: Stack, intake: Any) -> None:
    obj = csr_object(uid="uid-custom", signer="example.com/serving", usages=("server auth",))
    status, body = invoke(intake, hmac_event(obj))
    assert status == 200 and body["state"] == "ignored"
    assert stack.slack.messages == [] and stack.queue_messages("DecisionQueue") == []
    assert stack.request_item(body["request_id"]) is not None


def test_a_malformed_csr_inside_a_good_event_is_denied_with_the_reason(stack: Stack, intake: Any) -> None:
    garbage = base64.b64encode(pem(b"\x30\x03\x02\x01\x00")).decode()
    status, body = invoke(intake, hmac_event(csr_object(uid="uid-bad", request=garbage)))
    assert status == 200 and body["state"] == "denied_by_policy"
    [queued] = stack.queue_messages("DecisionQueue")
    assert "malformed-request" in json.loads(queued["Body"])["reason"]


def test_client_certificates_on_eks_are_denied_with_the_reason(stack: Stack, intake: Any) -> None:
    status, body = invoke(intake, iam_event(csr_object(uid="uid-eks")))
    assert status == 200 and body["state"] == "denied_by_policy"
    [queued] = stack.queue_messages("DecisionQueue")
    assert "signer-unsupported-on-eks" in json.loads(queued["Body"])["reason"]
    assert stack.slack.messages[0].channel == "C0PROD"


def test_the_sample_iam_event_and_its_resend(stack: Stack, intake: Any) -> None:
    first = invoke(intake, json.loads((EVENTS / "csr-added-iam.json").read_text()))
    again = invoke(intake, json.loads((EVENTS / "csr-added-resent-iam.json").read_text()))
    assert first[0] == again[0] == 200
    assert first[1]["created"] is True and again[1]["created"] is False
    assert len(stack.slack.messages) == 1 and len(stack.queue_messages("DecisionQueue")) == 1


def test_a_privileged_request_needs_more_approvals_and_a_confirmation(stack: Stack, intake: Any) -> None:
    # GIVEN lab uses the "strict" policy, which marks group ops privileged
    stack.put_cluster("lab", {**_cluster("lab"), "policy": "strict"})
    # WHEN a CSR asking for ops arrives
    obj = csr_object(make_csr("carol", orgs=["ops"]), uid="uid-ops", name="carol")
    status, body = invoke(load_function("intake"), hmac_event(obj))
    assert status == 200 and body["state"] == "awaiting_review"
    [message] = stack.slack.messages
    approve = next(b for b in message.blocks if b["type"] == "actions")["elements"][0]
    assert "confirm" in approve and "2 approvals" in approve["confirm"]["text"]["text"]
    assert "2 approvals (privileged request)" in json.dumps(message.blocks)


# --- untrusted text in Slack ----------------------------------------------------------------------------


def test_requester_text_renders_literally_never_as_mentions_or_links(stack: Stack, intake: Any) -> None:
    # GIVEN a CSR whose CN and groups are Slack markup, from a requester named like a link
    csr_pem = make_csr("<!channel>", orgs=["<https://evil.example|click me>", "<@U0ALICE>"])
    obj = csr_object(csr_pem, uid="uid-evil", name="<!here> & <#C0LAB>", username="<https://evil.example|ok>")
    # WHEN it is posted
    invoke(intake, hmac_event(obj))
    [message] = stack.slack.messages
    # THEN the notification text is escaped, and the blocks hold the text only where Slack shows it literally
    assert "<!here>" not in message.text and "&lt;!here&gt; &amp; &lt;#C0LAB&gt;" in message.text
    for value in ("<!channel>", "<https://evil.example|click me>", "<@U0ALICE>", "<https://evil.example|ok>"):
        places = _text_places(message.blocks, value)
        assert places, value
        assert all(kind in ("rich_text", "plain_text") for kind in places), (value, places)


def _text_places(blocks: Any, value: str, kind: str = "") -> list[str]:
    """The kinds of text object (mrkdwn, plain_text, rich_text) in which `value` appears."""
    if isinstance(blocks, list):
        return [place for item in blocks for place in _text_places(item, value, kind)]
    if not isinstance(blocks, dict):
        return []
    here = blocks.get("type") if blocks.get("type") in ("mrkdwn", "plain_text", "rich_text") else kind
    found = [here] if isinstance(blocks.get("text"), str) and value in blocks["text"] else []
    return found + [place for item in blocks.values() for place in _text_places(item, value, here)]


# --- Slack failing --------------------------------------------------------------------------------------------


def test_slack_rate_limiting_is_waited_out(stack: Stack, intake: Any) -> None:
    stack.slack.fail_next(429, retry_after=1)
    status, body = invoke(intake, hmac_event(DOCS_REQUEST))
    assert status == 200 and body["state"] == "awaiting_review"
    assert len(stack.slack.messages) == 1
    assert [call[0] for call in stack.slack.calls] == ["chat.postMessage", "chat.postMessage"]


def test_a_slack_server_error_is_retried(stack: Stack, intake: Any) -> None:
    stack.slack.fail_next(500)
    invoke(intake, hmac_event(DOCS_REQUEST))
    assert len(stack.slack.messages) == 1


def test_a_long_rate_limit_goes_to_the_retry_queue_instead_of_holding_the_forwarder(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.slack.fail_next(429, retry_after=60)
    status, body = invoke(intake, hmac_event(DOCS_REQUEST))
    assert status == 200 and body["state"] == "awaiting_review"
    assert stack.slack.messages == []
    [retry] = stack.queue_messages("SlackRetryQueue")
    assert json.loads(retry["Body"]) == {"kind": "post_message", "request_id": body["request_id"], "attempt": 2}
    assert "slack.post_failed" in [line["event"] for line in audit_events(capsys)]


def test_slack_down_loses_nothing_the_notifier_posts_later(stack: Stack, intake: Any) -> None:
    # GIVEN Slack fails every call while the CSR arrives
    stack.slack.fail_next(500, times=2)  # the first post and its one retry in place
    status, body = invoke(intake, hmac_event(DOCS_REQUEST))
    assert status == 200 and stack.slack.messages == []
    assert stack.request_item(body["request_id"])["state"] == "awaiting_review"  # type: ignore[index]
    # WHEN Slack is back and the notifier takes the retry message
    notifier = load_function("notifier")
    response = notifier.lambda_handler(sqs_event(stack.queue_messages("SlackRetryQueue")), LambdaContext())
    # THEN the approval request is posted once, and remembered
    assert response == {"batchItemFailures": []}
    [message] = stack.slack.messages
    assert stack.request_item(body["request_id"])["slack_ts"] == message.ts  # type: ignore[index]
    # AND a late duplicate of the retry posts nothing more
    notifier.lambda_handler(sqs_event(stack.queue_messages("SlackRetryQueue")), LambdaContext())
    assert len(stack.slack.messages) == 1


def test_the_notifier_retries_then_fails_the_request_loudly(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.slack.fail_next(500, times=100)
    _, body = invoke(intake, hmac_event(DOCS_REQUEST))
    notifier = load_function("notifier")
    messages = stack.queue_messages("SlackRetryQueue")
    capsys.readouterr()
    # an early delivery fails and is reported back to SQS for another try
    first = notifier.lambda_handler(sqs_event(messages, receive_count=2), LambdaContext())
    assert first == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    # the last delivery gives up: the request fails and the failure is counted for the alarm
    last = notifier.lambda_handler(sqs_event(messages, receive_count=6), LambdaContext())
    assert last == {"batchItemFailures": []}
    assert stack.request_item(body["request_id"])["state"] == "failed"  # type: ignore[index]
    output = capsys.readouterr().out
    assert '"SlackPostsAbandoned"' in output and "slack.post_abandoned" in output


def test_the_notifier_drops_messages_that_are_not_its_own(stack: Stack) -> None:
    notifier = load_function("notifier")
    bodies = ["not json", "[]", json.dumps({"kind": "post_message", "request_id": 7}), json.dumps({"kind": "x"})]
    records = [{"MessageId": f"m{i}", "ReceiptHandle": "r", "Body": body} for i, body in enumerate(bodies)]
    assert notifier.lambda_handler(sqs_event(records), LambdaContext()) == {"batchItemFailures": []}


# --- reconciling what happened in the cluster ---------------------------------------------------------------


def test_a_csr_approved_outside_csrgate_is_recorded_as_decided_elsewhere(stack: Stack, intake: Any) -> None:
    invoke(intake, hmac_event(DOCS_REQUEST))
    approved = copy.deepcopy(DOCS_REQUEST)
    approved["status"] = {
        "conditions": [
            {"type": "Approved", "status": "True", "reason": "KubectlApprove", "message": "approved by kubectl"}
        ]
    }
    status, body = invoke(intake, hmac_event(approved, event_type="MODIFIED"))
    assert status == 200 and body["state"] == "decided_elsewhere"
    # the approval request shows it, with the condition's reason and message, and loses its buttons
    [message] = stack.slack.messages
    assert message.updated and not [b for b in message.blocks if b["type"] == "actions"]
    assert "approved in the cluster outside csrgate: KubectlApprove approved by kubectl" in json.dumps(message.blocks)


def test_a_deleted_csr_withdraws_its_request(stack: Stack, intake: Any) -> None:
    invoke(intake, hmac_event(DOCS_REQUEST))
    status, body = invoke(intake, hmac_event(DOCS_REQUEST, event_type="DELETED"))
    assert status == 200 and body["state"] == "withdrawn"
    assert "the CSR was deleted in the cluster" in json.dumps(stack.slack.messages[0].blocks)
    again = invoke(intake, hmac_event(DOCS_REQUEST, event_type="DELETED"))
    assert again == (200, {**body, "created": False})


def test_deleting_a_csr_csrgate_never_saw_is_harmless(stack: Stack, intake: Any) -> None:
    status, body = invoke(intake, hmac_event(csr_object(uid="never-seen"), event_type="DELETED"))
    assert status == 200 and body["state"] is None and body["created"] is False


def test_a_csr_first_seen_already_decided_posts_nothing(stack: Stack, intake: Any) -> None:
    decided = csr_object(uid="uid-done", status={"conditions": [{"type": "Denied", "status": "True", "reason": "X"}]})
    status, body = invoke(intake, hmac_event(decided, event_type="MODIFIED"))
    assert status == 200 and body["state"] == "decided_elsewhere"
    assert stack.slack.messages == []


# --- refused callers and bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "skew"),
    [
        ("another-key", 0),
        (HMAC_KEY, -600),  # signed ten minutes ago
        (HMAC_KEY, +600),  # signed ten minutes from now
    ],
)
def test_forged_and_stale_hmac_signatures_are_refused(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str], key: str, skew: int
) -> None:
    answer = invoke(intake, hmac_event(DOCS_REQUEST, key=key, at=time.time() + skew))
    assert answer[0] == 401 and answer[1]["error"] == "unauthenticated"
    assert (
        stack.slack.messages == []
        and stack.request_item(request_id_for("lab", "5d8f3f64-6b1a-4c43-9a44-0e4b7e4a1c21")) is None
    )
    assert "csr.event_rejected" in capsys.readouterr().out


def test_a_rotated_key_and_the_old_one_both_work_while_both_are_listed(stack: Stack, intake: Any) -> None:
    secrets = stack.session.client("secretsmanager")
    secrets.put_secret_value(SecretId="csrgate/forwarders/lab", SecretString=f"new-lab-key\n{HMAC_KEY}\n")
    rotated = load_function("intake")
    assert invoke(rotated, hmac_event(DOCS_REQUEST, key="new-lab-key"))[0] == 200
    assert invoke(rotated, hmac_event(DOCS_REQUEST, key=HMAC_KEY))[0] == 200
    assert invoke(rotated, hmac_event(DOCS_REQUEST, key="retired-key"))[0] == 401


def test_a_signed_body_cannot_be_altered(stack: Stack, intake: Any) -> None:
    event = hmac_event(DOCS_REQUEST)
    event["body"] = event["body"].replace("angela@example.com", "mallory@example.com")
    assert invoke(intake, event)[0] == 401


def test_missing_signature_headers_are_refused(stack: Stack, intake: Any) -> None:
    event = hmac_event(DOCS_REQUEST)
    del event["headers"]["x-csrgate-signature"]
    assert invoke(intake, event) == (
        401,
        {"error": "unauthenticated", "message": "missing X-Csrgate-Timestamp or X-Csrgate-Signature header"},
    )


def test_a_replayed_request_within_the_window_changes_nothing(stack: Stack, intake: Any) -> None:
    event = hmac_event(DOCS_REQUEST)
    invoke(intake, event)
    status, body = invoke(intake, copy.deepcopy(event))
    assert status == 200 and body["created"] is False and len(stack.slack.messages) == 1


def test_only_the_clusters_forwarder_role_may_send_iam_events(stack: Stack, intake: Any) -> None:
    other = "arn:aws:sts::123456789012:assumed-role/some-other-role/session"
    foreign = "arn:aws:sts::210987654321:assumed-role/csrgate-forwarder/session"
    assert invoke(intake, iam_event(csr_object(), caller=other))[0] == 403
    assert invoke(intake, iam_event(csr_object(), caller=foreign))[0] == 403
    assert invoke(intake, iam_event(csr_object(), caller=""))[0] == 403
    # while any session of the configured role (whatever its path) is let in
    session = f"arn:aws:sts::123456789012:assumed-role/{FORWARDER_ROLE.rsplit('/', 1)[1]}/another-session"
    assert invoke(intake, iam_event(csr_object(), caller=session))[0] == 200


def test_each_cluster_is_refused_on_the_other_route(stack: Stack, intake: Any) -> None:
    assert invoke(intake, iam_event(csr_object(), cluster="lab"))[1]["error"] == "unauthenticated"
    assert invoke(intake, hmac_event(csr_object(), cluster="eks-prod"))[1]["error"] == "unauthenticated"


def test_an_unknown_cluster_is_refused(stack: Stack, intake: Any) -> None:
    status, body = invoke(intake, hmac_event(csr_object(), cluster="nowhere"))
    assert (status, body["error"]) == (404, "unknown-cluster")


def test_an_oversized_body_is_refused(stack: Stack, intake: Any) -> None:
    obj = csr_object()
    obj["metadata"]["annotations"] = {"padding": "x" * 300_000}
    status, body = invoke(intake, hmac_event(obj))
    assert (status, body["error"]) == (413, "payload-too-large")


@pytest.mark.parametrize(
    ("body", "error", "detail"),
    [
        (b"not json", "invalid-json", "not JSON"),
        (b"\xff\xfe", "invalid-json", "not UTF-8"),
        (b"[" * 100_000, "invalid-json", "not JSON"),
        (b"[]", "invalid-event", "(body)"),
        (b'{"cluster": "lab"}', "invalid-event", "type"),
        (b'{"cluster": "lab", "type": "BOOKMARK", "object": {}}', "invalid-event", "type"),
        (b'{"cluster": 7, "type": "ADDED", "object": {}}', "invalid-event", "cluster"),
        (b'{"cluster": "lab", "type": "ADDED", "object": {}, "extra": 1}', "invalid-event", "object"),
    ],
)
def test_malformed_bodies_get_a_clear_4xx(stack: Stack, intake: Any, body: bytes, error: str, detail: str) -> None:
    status, answer = invoke(intake, hmac_event(body=body))
    assert status == 400 and answer["error"] == error and detail in answer["message"]


@pytest.mark.parametrize(
    ("spec", "error", "detail"),
    [
        ({"request": "%%% not base64 %%%"}, "invalid-request", "not the base64 of a PEM"),
        ({"request": base64.b64encode(b"hello").decode()}, "invalid-request", "not the base64 of a PEM"),
        ({"usages": "client auth"}, "invalid-event", "object.spec.usages"),
        ({"expirationSeconds": "86400"}, "invalid-event", "object.spec.expirationSeconds"),
        ({"signerName": None}, "invalid-event", "object.spec.signerName"),
    ],
)
def test_bad_csr_objects_get_a_clear_4xx(
    stack: Stack, intake: Any, spec: dict[str, Any], error: str, detail: str
) -> None:
    obj = csr_object(uid="uid-x")
    obj["spec"].update(spec)
    status, answer = invoke(intake, hmac_event(obj))
    assert (status, answer["error"]) == (400, error) and detail in answer["message"]
    assert stack.slack.messages == []


def test_an_object_from_a_list_without_apiversion_and_kind_is_accepted(stack: Stack, intake: Any) -> None:
    listed = {key: value for key, value in DOCS_REQUEST.items() if key not in ("apiVersion", "kind")}
    status, body = invoke(intake, hmac_event(listed))
    assert status == 200 and body["state"] == "awaiting_review"


def test_a_base64_encoded_body_is_read(stack: Stack, intake: Any) -> None:
    event = hmac_event(DOCS_REQUEST)
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert invoke(intake, event)[0] == 200


def _cluster(name: str) -> dict[str, Any]:
    return dict(CLUSTERS[name])
