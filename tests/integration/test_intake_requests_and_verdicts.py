"""The intake function end to end: a forwarded CSR becomes a stored request with a verdict, an approval request in
Slack or an entry of the cluster's digest, queued decisions, audit lines and metrics.

AWS is moto provisioned from template.yaml; Slack is the stand-in, reached by the real WebClient over HTTP.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from audit_records import audit_events
from intake_calls import csr_object, draw_digests, iam_event, invoke
from stack import Stack

from csrgate.domain.records import request_id_for
from devstack.csrs import make_csr, pem
from devstack.harness import load_function
from devstack.lab import CLUSTERS
from devstack.lambda_events import DOCS_REQUEST, EVENTS, hmac_event

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
    # nothing decided; the worker only shows the review waiting, as an Event on the CSR
    [shown] = stack.queue_messages("DecisionQueue")
    assert json.loads(shown["Body"]) == {"kind": "show_in_cluster", "request_id": request_id}


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


def test_a_policy_violation_is_denied_queued_for_the_cluster_and_told_in_the_digest(
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
    assert stack.slack.messages == []  # the digest is drawn a few seconds later, with whatever else came
    events = [line["event"] for line in audit_events(capsys)]
    assert events == [
        "csr.received",
        "csr.policy_verdict",
        "csr.requester_email_unverified",  # angela's email, on a CSR for root
        "csr.decision_queued",
    ]
    draw_digests(stack)
    [digest] = stack.slack.messages
    assert digest.channel == "C0LAB" and "0 certificate requests approved and 1 denied by policy on lab" in digest.text
    assert not [block for block in digest.blocks if block["type"] == "actions"]
    assert "Denied root" in json.dumps(digest.blocks) and "forbidden-group" in json.dumps(digest.blocks)
    assert [line["event"] for line in audit_events(capsys)] == ["slack.digest_posted"]
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
    assert "settled" not in body  # until the approval is in the cluster, a decision made with kubectl must reach intake
    [queued] = stack.queue_messages("DecisionQueue")
    assert json.loads(queued["Body"]) == {"kind": "apply_decision", "request_id": body["request_id"]}
    draw_digests(stack)
    [digest] = stack.slack.messages
    assert "1 certificate request approved and 0 denied by policy on lab" in digest.text
    assert "1 approved for 1 node, 0 denied" in json.dumps(digest.blocks)


def test_a_signer_csrgate_does_not_manage_is_recorded_and_left_alone(stack: Stack, intake: Any) -> None:
    obj = csr_object(uid="uid-custom", signer="example.com/serving", usages=("server auth",))
    status, body = invoke(intake, hmac_event(obj))
    assert status == 200 and body["state"] == "ignored" and body["settled"] is True
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
    draw_digests(stack)
    [digest] = stack.slack.messages
    assert digest.channel == "C0PROD" and "signer-unsupported-on-eks" in json.dumps(digest.blocks)


def test_the_sample_iam_event_and_its_resend(stack: Stack, intake: Any) -> None:
    first = invoke(intake, json.loads((EVENTS / "csr-added-iam.json").read_text()))
    again = invoke(intake, json.loads((EVENTS / "csr-added-resent-iam.json").read_text()))
    assert first[0] == again[0] == 200
    assert first[1]["created"] is True and again[1]["created"] is False
    assert len(stack.queue_messages("DecisionQueue")) == 1
    # one flush asked for, drawing the request once
    [flush] = stack.delayed_messages("SlackRetryQueue")
    assert json.loads(flush["Body"])["kind"] == "post_digest"
    draw_digests(stack)
    [digest] = stack.slack.messages
    assert "0 certificate requests approved and 1 denied" in digest.text


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


def _cluster(name: str) -> dict[str, Any]:
    return dict(CLUSTERS[name])
