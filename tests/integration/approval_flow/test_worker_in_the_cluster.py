"""The worker applies each decision in the dev cluster and says what came of it: policy denials, CSRs decided or
deleted first, requesters it cannot find, signers that refuse or never issue, outages, Slack's rate limits, and a CSR
that is not the one reviewed.

AWS is moto provisioned from template.yaml, Slack is the stand-in, the cluster is the dev cluster driven by the
real kubectl; the functions are the real handlers. The worker reaches the cluster with the approver identity
(get/list/watch CSRs, approve and deny), kept in Secrets Manager as production keeps it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cluster_access import csr_manifest
from flow_steps import click, condition_types, forward, run_worker, submit
from stack import Stack

from csrgate.domain.records import request_id_for
from devstack.cluster import DevCluster
from devstack.harness import Kubectl, LambdaContext, load_function
from devstack.lab import CLUSTERS
from devstack.lambda_events import hmac_event, sqs_event


def test_a_policy_denial_is_applied_with_the_policy_reason(stack: Stack, kubectl: Kubectl, name: str) -> None:
    from devstack.csrs import make_csr

    kubectl("apply", "-f", "-", stdin=csr_manifest(name, make_csr(name, key="p256"), expirationSeconds=None))
    intake = forward(stack, kubectl, name)
    assert intake["state"] == "denied_by_policy"
    run_worker(stack)
    reasons = kubectl("get", "csr", name, "-o", "jsonpath={.status.conditions[*].reason}").stdout
    assert "CsrgatePolicyDenied" in reasons
    assert "expiration-unset" in kubectl("get", "csr", name, "-o", "jsonpath={.status.conditions[0].message}").stdout


def test_a_csr_approved_with_kubectl_first_is_left_alone(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any]
) -> None:
    name = requester["user"]
    intake = submit(stack, kubectl, requester)
    click(stack, "U0ALICE", "csrgate_approve", intake["request_id"])
    kubectl("certificate", "deny", name)  # someone with kubectl was faster than the worker
    run_worker(stack)
    assert condition_types(kubectl, name) == "Denied"
    assert stack.request_item(intake["request_id"])["state"] == "decided_elsewhere"  # type: ignore[index]


def test_a_csr_deleted_before_the_worker_runs_withdraws_the_request(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any]
) -> None:
    name = requester["user"]
    intake = submit(stack, kubectl, requester)
    click(stack, "U0ALICE", "csrgate_approve", intake["request_id"])
    kubectl("delete", "csr", name)
    run_worker(stack)
    assert stack.request_item(intake["request_id"])["state"] == "withdrawn"  # type: ignore[index]


def test_a_requester_csrgate_cannot_find_is_told_in_the_thread(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any], lab: dict[str, Any]
) -> None:
    name = requester["user"]
    # GIVEN a lab that ties nobody to the admin user, so that a request made with it needs two approvers
    stack.put_cluster("lab", {**lab, "approvers": {"users": ["U0ALICE", "U0BOB"]}, "requesterEmails": {}})
    intake = submit(stack, kubectl, requester)  # no annotation, and the admin user has no email
    click(stack, "U0ALICE", "csrgate_approve", intake["request_id"])
    click(stack, "U0BOB", "csrgate_approve", intake["request_id"])
    run_worker(stack)
    assert stack.request_item(intake["request_id"])["state"] == "issued"  # type: ignore[index]
    [reply] = [m for m in stack.slack.messages if m.thread_ts]
    assert "could not find the requester" in reply.text and f"kubectl get csr {name}" in reply.text
    assert (
        request_id_for("lab", json.loads(kubectl("get", "csr", name, "-o", "json").stdout)["metadata"]["uid"])
        == intake["request_id"]
    )


def test_a_signer_that_refuses_ends_as_approved_but_not_issued(
    stack: Stack, kubectl: Kubectl, name: str, lab: dict[str, Any]
) -> None:
    from devstack.csrs import make_csr

    # GIVEN a policy that lets a CSR without client auth through to review; the in-tree signer will refuse it
    stack.session.client("ssm").put_parameter(
        Name="/csrgate/policies/lenient",
        Value="signers: {kubernetes.io/kube-apiserver-client: {requiredUsages: []}}",
        Type="String",
    )
    stack.put_cluster("lab", {**lab, "policy": "lenient"})
    kubectl("apply", "-f", "-", stdin=csr_manifest(name, make_csr(name), usages=["digital signature"]))
    intake = forward(stack, kubectl, name)
    click(stack, "U0ALICE", "csrgate_approve", intake["request_id"])
    run_worker(stack)
    item = stack.request_item(intake["request_id"])
    assert item is not None and item["state"] == "failed"
    assert item["outcome_note"].startswith("approved but not issued: ")
    [message] = [m for m in stack.slack.messages if intake["request_id"] in json.dumps(m.blocks)]
    assert "approved but not issued" in json.dumps(message.blocks)


def test_a_signer_that_never_issues_is_given_up_on(
    stack: Stack, kubectl: Kubectl, name: str, monkeypatch: pytest.MonkeyPatch, lab: dict[str, Any]
) -> None:
    from devstack.csrs import make_csr

    # GIVEN a signer csrgate manages but the cluster does not run, and a worker that waits no time at all
    monkeypatch.setenv("CSRGATE_SIGNER_WAIT_SECONDS", "0")
    monkeypatch.setenv("CSRGATE_SIGNER_LOOK_SECONDS", "0")
    policy = "signers: {example.com/nobody: {allowedUsages: [client auth], requiredUsages: [client auth]}}"
    stack.session.client("ssm").put_parameter(Name="/csrgate/policies/nobody", Value=policy, Type="String")
    stack.put_cluster("lab", {**lab, "policy": "nobody"})
    manifest = csr_manifest(name, make_csr(name), signerName="example.com/nobody", expirationSeconds=3600)
    kubectl("apply", "-f", "-", stdin=manifest)
    intake = forward(stack, kubectl, name)
    click(stack, "U0ALICE", "csrgate_approve", intake["request_id"])
    run_worker(stack)
    item = stack.request_item(intake["request_id"])
    assert item is not None and item["state"] == "failed"
    assert "the signer issued nothing within 0 minutes" in item["outcome_note"]
    assert "Approved" in condition_types(kubectl, name)


def test_a_cluster_api_outage_is_retried_until_it_works(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any], dev_cluster: DevCluster
) -> None:
    name = requester["user"]
    intake = submit(stack, kubectl, requester)
    click(stack, "U0ALICE", "csrgate_approve", intake["request_id"])
    # GIVEN the worker's first container reaches a cluster API that is down
    secrets = stack.session.client("secretsmanager")
    working = dev_cluster.approver_kubeconfig.read_text()
    secrets.put_secret_value(
        SecretId="csrgate/clusters/lab/kubeconfig", SecretString=working.replace(f":{dev_cluster.port}", ":1")
    )
    worker = load_function("worker")
    messages = stack.queue_messages("DecisionQueue")
    # THEN the message is handed back to SQS and nothing is decided
    assert worker.lambda_handler(sqs_event(messages, receive_count=1), LambdaContext())["batchItemFailures"]
    assert condition_types(kubectl, name) == ""
    # WHEN the cluster is reachable again (a new container reads the secret afresh)
    secrets.put_secret_value(SecretId="csrgate/clusters/lab/kubeconfig", SecretString=working)
    assert load_function("worker").lambda_handler(sqs_event(messages, receive_count=2), LambdaContext()) == {
        "batchItemFailures": []
    }
    assert "Approved" in condition_types(kubectl, name)


def test_slack_rate_limiting_a_message_update_loses_nothing(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any]
) -> None:
    intake = submit(stack, kubectl, requester, email="dana@example.com")
    click(stack, "U0ALICE", "csrgate_approve", intake["request_id"])
    stack.slack.fail_next(429, retry_after=30)  # the worker's first Slack call: chat.update
    run_worker(stack)
    assert stack.request_item(intake["request_id"])["state"] == "delivered"  # type: ignore[index]
    assert [f for f in stack.slack.files if f["channel"] == "DU0DANA"]


def test_the_last_failed_attempt_fails_the_request_and_says_so(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any], dev_cluster: DevCluster
) -> None:
    intake = submit(stack, kubectl, requester)
    click(stack, "U0ALICE", "csrgate_approve", intake["request_id"])
    broken = dev_cluster.approver_kubeconfig.read_text().replace(f":{dev_cluster.port}", ":1")
    stack.session.client("secretsmanager").put_secret_value(
        SecretId="csrgate/clusters/lab/kubeconfig", SecretString=broken
    )
    messages = stack.queue_messages("DecisionQueue")
    answer = load_function("worker").lambda_handler(sqs_event(messages, receive_count=5), LambdaContext())
    assert answer["batchItemFailures"]  # so SQS moves it to the dead-letter queue, which is alarmed
    item = stack.request_item(intake["request_id"])
    assert item is not None and item["state"] == "failed" and "gave up after 5 attempts" in item["outcome_note"]
    [message] = [m for m in stack.slack.messages if intake["request_id"] in json.dumps(m.blocks)]
    assert "was not completed" in message.text


def test_messages_that_are_not_the_workers_are_dropped(stack: Stack) -> None:
    bodies = ["not json", "{}", json.dumps({"kind": "apply_decision", "request_id": 5}), json.dumps({"kind": "x"})]
    records = [{"MessageId": f"m{i}", "ReceiptHandle": "r", "Body": body} for i, body in enumerate(bodies)]
    assert load_function("worker").lambda_handler(sqs_event(records, receive_count=1), LambdaContext()) == {
        "batchItemFailures": []
    }


def test_an_expired_review_can_deny_the_csr_in_the_cluster(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.put_cluster("lab", {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE"]}, "denyExpired": True})
    name = requester["user"]
    intake = submit(stack, kubectl, requester)
    monkeypatch.setenv("CSRGATE_REMIND_AFTER_MINUTES", "0")
    monkeypatch.setenv("CSRGATE_EXPIRE_AFTER_MINUTES", "0")
    assert load_function("sweeper").lambda_handler({}, LambdaContext())["expired"] == 1
    run_worker(stack)
    assert kubectl("get", "csr", name, "-o", "jsonpath={.status.conditions[0].reason}").stdout == "CsrgateExpired"
    assert stack.request_item(intake["request_id"])["state"] == "expired"  # type: ignore[index]


def test_the_worker_refuses_a_csr_that_is_not_the_one_reviewed(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any]
) -> None:
    from devstack.csrs import make_csr

    # GIVEN a CSR in the cluster asking for a dangerous group
    name = requester["user"]
    danger = make_csr(name, orgs=["platform-admins"])
    kubectl("apply", "-f", "-", stdin=csr_manifest(name, danger, expirationSeconds=3600))
    # AND an event about it (its real name and uid) that shows approvers a harmless request instead
    obj = json.loads(kubectl("get", "csr", name, "-o", "json").stdout)
    obj["spec"]["request"] = base64.b64encode(requester["csr_pem"]).decode()
    load_function("intake").lambda_handler(hmac_event(obj), LambdaContext())
    request_id = request_id_for("lab", obj["metadata"]["uid"])
    # WHEN an approver approves what they were shown
    click(stack, "U0ALICE", "csrgate_approve", request_id)
    run_worker(stack)
    # THEN the worker does not approve the CSR in the cluster, and says why
    assert condition_types(kubectl, name) == ""
    item = stack.request_item(request_id)
    assert item is not None and item["state"] == "withdrawn"
    assert "not the one reviewed" in item["outcome_note"]
