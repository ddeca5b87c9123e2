"""The forwarder's heartbeat at intake: on both routes, after the same size bound, signature, replay and caller checks
as events; remembered in one small item per cluster, logged and counted, never a request or an audit event item.

AWS is moto provisioned from template.yaml; Slack is the stand-in.
"""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from audit_records import audit_events, audit_lines, metric_lines
from intake_calls import heartbeat_body, iam_heartbeat, invoke
from stack import Stack

from devstack.lambda_events import hmac_event

RECEIVED = (200, {"heartbeat": "received"})


def heartbeat_items(stack: Stack) -> dict[str, dict[str, Any]]:
    """The heartbeat items in the table, by cluster."""
    return {
        item["pk"].removeprefix("CLUSTER#"): item
        for item in stack.items()
        if item["pk"].startswith("CLUSTER#") and item["sk"] == "HEARTBEAT"
    }


def only_heartbeats_stored(stack: Stack) -> bool:
    """Nothing in the table but heartbeat items and the replay cache's signatures: no request, no event item."""
    return all(item["sk"] in ("HEARTBEAT", "REPLAY") for item in stack.items())


def test_a_signed_heartbeat_is_received_remembered_for_its_cluster_logged_and_counted(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN lab's forwarder sends its heartbeat, signed with lab's key
    before = datetime.now(UTC)
    answer = invoke(intake, hmac_event(body=heartbeat_body("lab")))
    # THEN it is received, and when is remembered in lab's heartbeat item, alone
    assert answer == RECEIVED
    [lab] = heartbeat_items(stack).values()
    assert lab["pk"] == "CLUSTER#lab" and set(lab) == {"pk", "sk", "received_at"}
    assert before <= datetime.fromisoformat(lab["received_at"]) <= datetime.now(UTC)
    assert only_heartbeats_stored(stack) and stack.slack.messages == []
    # AND the log says so, and ForwarderHeartbeats counts it for lab
    output = capsys.readouterr().out
    [line] = [line for line in audit_lines(output) if line["event"] == "forwarder.heartbeat"]
    assert (line["cluster"], line["actor"]) == ("lab", "forwarder")
    [metric] = metric_lines(output, "ForwarderHeartbeats")
    assert metric["cluster"] == "lab" and metric["ForwarderHeartbeats"] == [1.0]
    assert metric["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["cluster"]]


def test_each_heartbeat_moves_the_clusters_one_item_on(stack: Stack, intake: Any) -> None:
    assert invoke(intake, hmac_event(body=heartbeat_body("lab"))) == RECEIVED
    first = heartbeat_items(stack)["lab"]["received_at"]
    time.sleep(0.01)
    assert invoke(intake, hmac_event(body=heartbeat_body("lab"))) == RECEIVED
    [lab] = heartbeat_items(stack).values()
    assert lab["received_at"] > first


def test_a_heartbeat_from_the_clusters_iam_role_is_received(stack: Stack, intake: Any) -> None:
    assert invoke(intake, iam_heartbeat(cluster="eks-prod")) == RECEIVED
    assert list(heartbeat_items(stack)) == ["eks-prod"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(lambda: hmac_event(body=heartbeat_body(), key="another-key"), "does not match", id="forged"),
        pytest.param(
            lambda: hmac_event(body=heartbeat_body(), at=time.time() - 600), "more than 300 seconds", id="stale"
        ),
        pytest.param(
            lambda: _without(hmac_event(body=heartbeat_body()), "x-csrgate-signature"), "missing", id="unsigned"
        ),
        pytest.param(
            lambda: hmac_event(body=heartbeat_body("eks-prod"), cluster="eks-prod"),
            "signs with AWS IAM",
            id="a cluster that signs with IAM",
        ),
        pytest.param(
            lambda: hmac_event(body=heartbeat_body("nowhere"), cluster="nowhere"), "unknown cluster", id="unknown"
        ),
    ],
)
def test_a_heartbeat_not_authentically_from_its_cluster_gets_the_same_401_and_changes_nothing(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str], make: Any, reason: str
) -> None:
    assert invoke(intake, make()) == (401, {"error": "unauthenticated"})
    assert heartbeat_items(stack) == {}
    [rejected] = [line for line in audit_events(capsys) if line["event"] == "csr.event_rejected"]
    assert reason in rejected["reason"]


def test_a_replayed_heartbeat_is_refused(stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN lab's heartbeat was received
    event = hmac_event(body=heartbeat_body("lab"))
    assert invoke(intake, event) == RECEIVED
    stored = heartbeat_items(stack)["lab"]["received_at"]
    capsys.readouterr()
    # WHEN someone who captured it sends it again, THEN it is refused as a replay and lab's beat stays where it was
    assert invoke(intake, copy.deepcopy(event)) == (401, {"error": "unauthenticated"})
    assert heartbeat_items(stack)["lab"]["received_at"] == stored
    assert [line["reason"] for line in audit_events(capsys) if line["event"] == "csr.event_rejected"] == [
        "replayed: this signature was already accepted"
    ]


@pytest.mark.parametrize(
    ("caller", "cluster", "answer"),
    [
        ("arn:aws:sts::123456789012:assumed-role/some-other-role/session", "eks-prod", (403, "forbidden")),
        ("", "eks-prod", (403, "forbidden")),
        (None, "lab", (401, "unauthenticated")),  # lab signs with HMAC: refused on the IAM route
        (None, "nowhere", (404, "unknown-cluster")),
    ],
)
def test_an_iam_heartbeat_is_refused_as_an_event_would_be(
    stack: Stack, intake: Any, caller: str | None, cluster: str, answer: tuple[int, str]
) -> None:
    event = iam_heartbeat(cluster=cluster) if caller is None else iam_heartbeat(cluster=cluster, caller=caller)
    status, body = invoke(intake, event)
    assert (status, body["error"]) == answer
    assert heartbeat_items(stack) == {}


def test_a_heartbeat_naming_another_cluster_than_its_signed_header_is_refused(stack: Stack, intake: Any) -> None:
    # lab's forwarder cannot keep eks-prod looking alive
    status, body = invoke(intake, hmac_event(body=heartbeat_body("eks-prod"), cluster="lab"))
    assert (status, body["error"]) == (400, "invalid-event") and "X-Csrgate-Cluster" in body["message"]
    assert heartbeat_items(stack) == {}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(heartbeat_body(object={"kind": "CertificateSigningRequest"}), "object", id="with an object"),
        pytest.param(heartbeat_body(uptime=3600), "uptime", id="with another key"),
        pytest.param(heartbeat_body(object=None), "object", id="with a null object"),
        pytest.param(json.dumps({"type": "HEARTBEAT"}).encode(), "cluster", id="without its cluster"),
        pytest.param(json.dumps({"cluster": "lab", "type": "heartbeat"}).encode(), "type", id="lower case"),
        pytest.param(json.dumps({"cluster": "lab", "type": "PING"}).encode(), "type", id="another type"),
    ],
)
def test_a_heartbeat_carrying_more_or_less_than_its_cluster_is_refused_naming_the_key(
    stack: Stack, intake: Any, body: bytes, detail: str
) -> None:
    # GIVEN a body signed by lab's forwarder, so that only its shape is in question
    status, answer = invoke(intake, hmac_event(body=body))
    # THEN it is refused as an invalid event, naming what is wrong, and no heartbeat is remembered
    assert (status, answer["error"]) == (400, "invalid-event")
    assert detail in answer["message"]
    assert heartbeat_items(stack) == {}


def test_a_heartbeat_larger_than_the_bound_is_refused_before_anything_else(stack: Stack, intake: Any) -> None:
    body = heartbeat_body(padding="x" * 300 * 1024)
    status, answer = invoke(intake, hmac_event(body=body))
    assert (status, answer["error"]) == (413, "payload-too-large")
    assert heartbeat_items(stack) == {}


def test_a_heartbeat_leaves_the_sweepers_index_alone(stack: Stack, intake: Any) -> None:
    # the heartbeat item has a received_at, as requests do, but no `pending`: it is not among what the sweeper reads
    assert invoke(intake, hmac_event(body=heartbeat_body("lab"))) == RECEIVED
    pending = stack.session.client("dynamodb").scan(TableName=stack.resources["RequestTable"], IndexName="pending")
    assert pending["Items"] == []


def _without(event: dict[str, Any], header: str) -> dict[str, Any]:
    del event["headers"][header]
    return event
