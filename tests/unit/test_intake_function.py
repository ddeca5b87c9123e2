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
from stack import Stack

from csrgate.domain.records import request_id_for
from devstack.csrs import make_csr, pem
from devstack.harness import LambdaContext, load_function
from devstack.lab import CLUSTERS, FORWARDER_ROLE, HMAC_KEY
from devstack.lambda_events import CALLER, DOCS_REQUEST, EVENTS, hmac_event, sqs_event


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
    # (the annotation names angela, who asked and whose user the CN is by lab's requesterEmails)
    assert events == ["csr.received", "csr.policy_verdict", "csr.requester_email_verified", "csr.review_requested"]
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
    assert json.loads(queued["Body"]) == {"kind": "apply_decision", "request_id": body["request_id"]}
    item = stack.request_item(body["request_id"]) or {}
    assert (item["csr_name"], item["csr_uid"], item["state"]) == ("root", "uid-masters", "denied_by_policy")
    assert "forbidden-group" in json.dumps(item["findings"])
    [notice] = stack.slack.messages
    assert "denied by policy" in notice.text
    assert not [block for block in notice.blocks if block["type"] == "actions"]
    assert "forbidden-group" in json.dumps(notice.blocks)
    events = [line["event"] for line in audit_events(capsys)]
    assert events == [
        "csr.received",
        "csr.policy_verdict",
        "csr.requester_email_unverified",  # angela's email, on a CSR for root
        "csr.decision_queued",
        "slack.notice_posted",
    ]
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
    assert json.loads(queued["Body"]) == {"kind": "apply_decision", "request_id": body["request_id"]}
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
    assert json.loads(queued["Body"])["request_id"] == body["request_id"]
    assert "malformed-request" in json.dumps(stack.request_item(body["request_id"])["findings"])  # type: ignore[index]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"x" + make_csr("alice") + make_csr("alice", orgs=["system:masters"]),  # Kubernetes reads the second block
        make_csr("alice") + make_csr("alice", orgs=["system:masters"]),
        b"plain text, no PEM at all",
        b"%%% not base64 %%%",  # as it would be decoded, then encoded again below
    ],
)
def test_a_spec_request_kubernetes_could_read_otherwise_is_denied_never_refused(
    stack: Stack, intake: Any, request_bytes: bytes
) -> None:
    # GIVEN a CSR object the API server accepted, whose spec.request csrgate cannot read exactly as Kubernetes does
    obj = csr_object(uid="uid-smuggled", request=base64.b64encode(request_bytes).decode())
    # WHEN the forwarder sends it
    status, body = invoke(intake, hmac_event(obj))
    # THEN it is recorded and denied (a 400 would make the forwarder drop it, and it would stay pending for anyone)
    assert status == 200 and body["state"] == "denied_by_policy"
    [queued] = stack.queue_messages("DecisionQueue")
    assert json.loads(queued["Body"])["request_id"] == body["request_id"]
    assert "malformed-request" in json.dumps(stack.request_item(body["request_id"])["findings"])  # type: ignore[index]


def test_client_certificates_on_eks_are_denied_with_the_reason(stack: Stack, intake: Any) -> None:
    status, body = invoke(intake, iam_event(csr_object(uid="uid-eks")))
    assert status == 200 and body["state"] == "denied_by_policy"
    [queued] = stack.queue_messages("DecisionQueue")
    assert json.loads(queued["Body"])["request_id"] == body["request_id"]
    assert "signer-unsupported-on-eks" in json.dumps(stack.request_item(body["request_id"])["findings"])  # type: ignore[index]
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
    response = notifier.lambda_handler(
        sqs_event(stack.queue_messages("SlackRetryQueue"), receive_count=1), LambdaContext()
    )
    # THEN the approval request is posted once, and remembered
    assert response == {"batchItemFailures": []}
    [message] = stack.slack.messages
    assert stack.request_item(body["request_id"])["slack_ts"] == message.ts  # type: ignore[index]
    # AND a late duplicate of the retry posts nothing more
    notifier.lambda_handler(sqs_event(stack.queue_messages("SlackRetryQueue"), receive_count=1), LambdaContext())
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
    # the last delivery gives up: the request fails and the failure is counted for the alarm, and the message goes
    # on to the dead letters (SQS moves it there after this last failed receive)
    last = notifier.lambda_handler(sqs_event(messages, receive_count=6), LambdaContext())
    assert last == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert stack.request_item(body["request_id"])["state"] == "failed"  # type: ignore[index]
    output = capsys.readouterr().out
    assert '"SlackPostsAbandoned"' in output and "slack.post_abandoned" in output


def test_the_notifier_drops_messages_that_are_not_its_own(stack: Stack) -> None:
    notifier = load_function("notifier")
    bodies = ["not json", "[]", json.dumps({"kind": "post_message", "request_id": 7}), json.dumps({"kind": "x"})]
    records = [{"MessageId": f"m{i}", "ReceiptHandle": "r", "Body": body} for i, body in enumerate(bodies)]
    assert notifier.lambda_handler(sqs_event(records, receive_count=1), LambdaContext()) == {"batchItemFailures": []}


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


def test_an_approval_written_elsewhere_with_csrgates_reason_is_a_decision_made_elsewhere(
    stack: Stack, intake: Any
) -> None:
    # GIVEN a request waiting for review
    invoke(intake, hmac_event(csr_object(uid="uid-forged")))
    # WHEN someone with approve rights in the cluster approves it, writing csrgate's reason and an approver's name
    forged = {
        "type": "Approved",
        "status": "True",
        "reason": "CsrgateApproved",
        "message": "Approved by bob via csrgate",
    }
    status, body = invoke(
        intake, hmac_event(csr_object(uid="uid-forged", status={"conditions": [forged]}), event_type="MODIFIED")
    )
    # THEN csrgate does not take it for its own: it was decided outside csrgate, and says so
    assert status == 200 and body["state"] == "decided_elsewhere"


@pytest.mark.parametrize("conditions", [5, True, "Approved", {"type": "Approved"}])
def test_conditions_that_are_not_a_list_are_no_conditions(stack: Stack, intake: Any, conditions: object) -> None:
    status, body = invoke(intake, hmac_event(csr_object(uid="uid-odd", status={"conditions": conditions})))
    assert status == 200 and body["state"] == "awaiting_review"


# --- refused callers and bad input -----------------------------------------------------------------------------


NEW_KEY = "new-lab-key-made-with-openssl-rand-hex-32"


def rejected_reasons(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The reasons of the csr.event_rejected audit lines written so far."""
    return [line["reason"] for line in audit_events(capsys) if line["event"] == "csr.event_rejected"]


def nothing_stored(stack: Stack) -> bool:
    """Neither a request for the docs' CSR nor a Slack message."""
    request_id = request_id_for("lab", DOCS_REQUEST["metadata"]["uid"])
    return stack.slack.messages == [] and stack.request_item(request_id) is None


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(lambda: hmac_event(DOCS_REQUEST, key="another-key"), "does not match", id="forged"),
        pytest.param(lambda: hmac_event(DOCS_REQUEST, at=time.time() - 600), "more than 300 seconds", id="stale"),
        pytest.param(lambda: hmac_event(DOCS_REQUEST, at=time.time() + 600), "more than 300 seconds", id="future"),
        pytest.param(lambda: hmac_event(DOCS_REQUEST, cluster="nowhere"), "unknown cluster", id="unknown cluster"),
        pytest.param(lambda: hmac_event(DOCS_REQUEST, cluster="eks-prod"), "signs with AWS IAM", id="iam cluster"),
        pytest.param(lambda: _without(hmac_event(DOCS_REQUEST), "x-csrgate-signature"), "missing", id="unsigned"),
        pytest.param(lambda: _without(hmac_event(DOCS_REQUEST), "x-csrgate-timestamp"), "missing", id="no time"),
        pytest.param(lambda: _without(hmac_event(DOCS_REQUEST), "x-csrgate-cluster"), "missing", id="no cluster"),
        pytest.param(lambda: _altered(hmac_event(DOCS_REQUEST)), "does not match", id="altered body"),
        pytest.param(lambda: _renamed(hmac_event(DOCS_REQUEST), "staging"), "unknown cluster", id="renamed"),
    ],
)
def test_every_failure_to_authenticate_gets_the_same_401_and_an_audit_line_with_the_reason(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str], make: Any, reason: str
) -> None:
    # GIVEN a request that is not authentically from the cluster it names
    # WHEN it reaches the HMAC route
    answer = invoke(intake, make())
    # THEN the caller learns nothing but "unauthenticated", nothing is stored, and the audit line says why
    assert answer == (401, {"error": "unauthenticated"})
    assert nothing_stored(stack)
    [rejected] = rejected_reasons(capsys)
    assert reason in rejected


def rejection_metrics(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The cluster dimension of every EventsRejected metric (an EMF line) written so far."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    return [line["cluster"] for line in lines if "EventsRejected" in line]


@pytest.mark.parametrize(
    ("make", "dimension"),
    [
        pytest.param(lambda: hmac_event(DOCS_REQUEST, key="another-key"), "lab", id="forged, for a served cluster"),
        pytest.param(lambda: hmac_event(DOCS_REQUEST, cluster="x" * 63), "unknown", id="for a cluster nobody serves"),
    ],
)
def test_every_rejected_event_is_counted_for_the_alarm_under_a_cluster_csrgate_serves(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str], make: Any, dimension: str
) -> None:
    # WHEN an event is refused
    assert invoke(intake, make())[0] == 401
    # THEN EventsRejected counts it, under the cluster when csrgate serves it and "unknown" otherwise: names anyone
    # can send never become metric dimensions, each of which would be a metric of its own (and a cost)
    assert rejection_metrics(capsys) == [dimension]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"\xff\xfe", b"[]", b'{"cluster": "nowhere", "type": "ADDED", "object": {}}', b"[" * 100_000],
)
def test_the_hmac_route_authenticates_before_it_reads_the_body(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str], body: bytes
) -> None:
    # GIVEN a body of any shape, signed with a key csrgate does not hold
    event = hmac_event(body=body, key="someone-elses-key-of-at-least-32-bytes")
    # THEN the answer is the 401, not what is wrong with the body: nothing was read before the signature held
    assert invoke(intake, event) == (401, {"error": "unauthenticated"})
    assert "does not match" in rejected_reasons(capsys)[0]


def test_a_body_naming_another_cluster_than_the_signed_header_is_refused(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN lab's forwarder signing (for lab) an event that claims to come from eks-prod
    body = json.dumps({"cluster": "eks-prod", "type": "ADDED", "object": DOCS_REQUEST}).encode()
    status, answer = invoke(intake, hmac_event(body=body, cluster="lab"))
    # THEN it is refused and nothing is stored for either cluster
    assert (status, answer["error"]) == (400, "invalid-event") and "X-Csrgate-Cluster" in answer["message"]
    assert stack.request_item(request_id_for("eks-prod", DOCS_REQUEST["metadata"]["uid"])) is None
    assert nothing_stored(stack)
    assert rejected_reasons(capsys) == ["the body names another cluster than the signed header"]


def test_a_replayed_request_is_refused_and_audited_as_replayed(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a signed request that was accepted
    event = hmac_event(DOCS_REQUEST)
    assert invoke(intake, event)[0] == 200
    capsys.readouterr()
    # WHEN someone who captured it sends the same bytes again within the five minutes
    answer = invoke(intake, copy.deepcopy(event))
    # THEN it is refused, audited as replayed, and changes nothing
    assert answer == (401, {"error": "unauthenticated"})
    assert rejected_reasons(capsys) == ["replayed: this signature was already accepted"]
    assert len(stack.slack.messages) == 1


def test_the_replay_cache_forgets_each_signature_once_it_could_no_longer_verify(stack: Stack, intake: Any) -> None:
    event = hmac_event(DOCS_REQUEST)
    invoke(intake, event)
    items = stack.session.client("dynamodb").scan(TableName=stack.resources["RequestTable"])["Items"]
    [replay] = [item for item in items if item["pk"]["S"].startswith("REPLAY#lab#")]
    signature = event["headers"]["x-csrgate-signature"]
    assert signature.removeprefix("v2=") not in json.dumps(replay)  # only a hash of it is kept
    assert int(replay["expires_at"]["N"]) == int(event["headers"]["x-csrgate-timestamp"]) + 300 + 60


def test_the_same_event_sent_again_by_a_forwarder_is_never_taken_for_a_replay(stack: Stack, intake: Any) -> None:
    # GIVEN a forwarder sending the same body twice within one second (a retry after a timeout)
    first, second = hmac_event(DOCS_REQUEST), hmac_event(DOCS_REQUEST)
    # THEN each is signed afresh and both are accepted: the second finds the request already there
    assert first["headers"]["x-csrgate-signature"] != second["headers"]["x-csrgate-signature"]
    assert invoke(intake, first)[1]["created"] is True
    status, body = invoke(intake, second)
    assert status == 200 and body["created"] is False


def test_a_rotated_key_and_the_old_one_both_work_while_both_are_listed(stack: Stack, intake: Any) -> None:
    secrets = stack.session.client("secretsmanager")
    secrets.put_secret_value(SecretId="csrgate/forwarders/lab", SecretString=f"{NEW_KEY}\n{HMAC_KEY}\n")
    rotated = load_function("intake")
    assert invoke(rotated, hmac_event(DOCS_REQUEST, key=NEW_KEY))[0] == 200
    assert invoke(rotated, hmac_event(DOCS_REQUEST, key=HMAC_KEY))[0] == 200
    assert invoke(rotated, hmac_event(DOCS_REQUEST, key="retired-key-of-at-least-32-bytes!!"))[0] == 401


@pytest.mark.parametrize("secret", ["short-key", f"{NEW_KEY}\nshort-old-key\n"])
def test_a_key_shorter_than_32_bytes_is_refused_naming_the_secret(
    stack: Stack, capsys: pytest.CaptureFixture[str], secret: str
) -> None:
    # GIVEN the lab cluster's secret holds a key too short to be safe
    stack.session.client("secretsmanager").put_secret_value(SecretId="csrgate/forwarders/lab", SecretString=secret)
    intake = load_function("intake")
    # WHEN an event signed with it arrives
    status, answer = invoke(intake, hmac_event(DOCS_REQUEST, key=secret.split()[-1]))
    # THEN it is not accepted, and the operators are told which secret to fix
    assert (status, answer["error"]) == (500, "configuration-error")
    assert "csrgate/forwarders/lab" not in json.dumps(answer)
    [error] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "configuration_error" in line]
    assert "secret csrgate/forwarders/lab" in error["reason"] and "shorter than 32 bytes" in error["reason"]
    assert nothing_stored(stack)


def _without(event: dict[str, Any], header: str) -> dict[str, Any]:
    del event["headers"][header]
    return event


def _altered(event: dict[str, Any]) -> dict[str, Any]:
    event["body"] = event["body"].replace("angela@example.com", "mallory@example.com")
    return event


def _renamed(event: dict[str, Any], cluster: str) -> dict[str, Any]:
    event["headers"]["x-csrgate-cluster"] = cluster
    return event


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


def test_an_unknown_cluster_is_refused_on_the_iam_route_by_name(stack: Stack, intake: Any) -> None:
    # the IAM route's callers are principals of this account, already authenticated by API Gateway
    status, body = invoke(intake, iam_event(csr_object(), cluster="nowhere"))
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
        (b'{"cluster": "lab", "type": "ADDED", "object": {}, "n": ' + b"1" * 5000 + b"}", "invalid-json", "not JSON"),
        (b"[" * 100_000, "invalid-json", "not JSON"),
        (b"[]", "invalid-event", "(body)"),
        (b'{"cluster": "lab"}', "invalid-event", "type"),
        (b'{"cluster": "lab", "type": "BOOKMARK", "object": {}}', "invalid-event", "type"),
        (b'{"cluster": 7, "type": "ADDED", "object": {}}', "invalid-event", "cluster"),
        (b'{"cluster": "lab", "type": "ADDED", "object": {}, "extra": 1}', "invalid-event", "extra"),
        (b'{"cluster": "lab", "type": "ADDED", "object": {}}', "invalid-event", "metadata is missing"),
    ],
)
def test_malformed_bodies_get_a_clear_4xx(stack: Stack, intake: Any, body: bytes, error: str, detail: str) -> None:
    status, answer = invoke(intake, hmac_event(body=body))
    assert status == 400 and answer["error"] == error and detail in answer["message"]


@pytest.mark.parametrize(
    ("spec", "error", "detail"),
    [
        ({"usages": "client auth"}, "invalid-event", "spec.usages"),
        ({"expirationSeconds": "86400"}, "invalid-event", "spec.expirationSeconds"),
        ({"signerName": None}, "invalid-event", "spec.signerName"),
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


def test_a_base64_body_that_does_not_decode_is_a_bad_request(stack: Stack, intake: Any) -> None:
    event = hmac_event(DOCS_REQUEST) | {"body": "%%% not base64", "isBase64Encoded": True}
    assert invoke(intake, event) == (400, {"error": "invalid-json", "message": "the body is not valid base64"})


def test_a_base64_encoded_body_is_read(stack: Stack, intake: Any) -> None:
    event = hmac_event(DOCS_REQUEST)
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert invoke(intake, event)[0] == 200


def _cluster(name: str) -> dict[str, Any]:
    return dict(CLUSTERS[name])
