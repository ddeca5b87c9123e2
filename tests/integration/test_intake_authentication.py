"""The intake function's refused callers: every failure to authenticate gets the same 401 and an audit line saying
why; replays, forwarder keys, and each cluster on its own route.

AWS is moto provisioned from template.yaml; Slack is the stand-in, reached by the real WebClient over HTTP.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from audit_records import audit_events
from intake_calls import csr_object, iam_event, invoke
from stack import Stack

from csrgate.domain.records import request_id_for
from devstack.harness import load_function
from devstack.lab import FORWARDER_ROLE, HMAC_KEY
from devstack.lambda_events import DOCS_REQUEST, hmac_event

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


def rejection_metrics_in(output: str) -> list[str]:
    """The cluster dimension of every EventsRejected metric (an EMF line) in the output."""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    return [line["cluster"] for line in lines if "EventsRejected" in line]


@pytest.mark.parametrize(
    ("make", "dimension"),
    [
        pytest.param(lambda: hmac_event(DOCS_REQUEST, key="another-key"), "lab", id="forged, for a served cluster"),
        pytest.param(lambda: hmac_event(DOCS_REQUEST, cluster="x" * 63), "unknown", id="for a cluster nobody serves"),
        pytest.param(lambda: hmac_event(DOCS_REQUEST, cluster="lab" + "x" * 80), "unknown", id="a served name, longer"),
        pytest.param(lambda: hmac_event(DOCS_REQUEST, cluster="unknown"), "unknown", id="named unknown"),
    ],
)
def test_every_rejected_event_is_counted_for_the_alarm_under_a_cluster_csrgate_serves(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str], make: Any, dimension: str
) -> None:
    # WHEN an event is refused
    assert invoke(intake, make())[0] == 401
    # THEN EventsRejected counts it, under the cluster when csrgate serves it and "unknown" otherwise: names anyone
    # can send never become metric dimensions, each of which would be a metric of its own (and a cost)
    lines = capsys.readouterr().out
    assert rejection_metrics_in(lines) == [dimension]
    # AND the audit line names the sender whenever the metric cannot
    [rejected] = [json.loads(line) for line in lines.splitlines() if '"csr.event_rejected"' in line]
    assert ("sender" in rejected) is (dimension == "unknown")


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
