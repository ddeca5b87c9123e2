"""A click in Slack to a working kubeconfig: intake, interactions and worker against the dev cluster.

AWS is moto provisioned from template.yaml, Slack is the stand-in, the cluster is the dev cluster driven by the
real kubectl; the functions are the real handlers. The worker reaches the cluster with the approver identity
(get/list/watch CSRs, approve and deny), kept in Secrets Manager as production keeps it.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cluster_access import csr_manifest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from stack import Stack, running_stack

from csrgate.domain.records import request_id_for
from csrgate.wiring import kit as wiring
from devstack.cluster import DevCluster
from devstack.harness import Kubectl, LambdaContext, load_function
from devstack.lab import CLUSTERS
from devstack.lambda_events import click as click_payload
from devstack.lambda_events import deny_submission, hmac_event, interaction_event, sqs_event

PEOPLE = {
    "U0ALICE": {"name": "alice", "email": "alice@example.com"},
    "U0BOB": {"name": "bob", "email": "bob@example.com"},
    "U0DANA": {"name": "dana", "email": "dana@example.com"},
}


@pytest.fixture
def lab(name: str) -> dict[str, Any]:
    """Lab's settings here: alice approves; dana runs kubectl as the admin (csrgate-admin), and the user each test
    asks for is hers, so csrgate ties the request to one person and one approval decides."""
    people = {"csrgate-admin": "dana@example.com", name: "dana@example.com"}
    return {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE"]}, "requesterEmails": people}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, dev_cluster: DevCluster, lab: dict[str, Any]) -> Iterator[Stack]:
    """The local stack, with cluster `lab` reached through the dev cluster's approver kubeconfig."""
    with running_stack(monkeypatch) as running:
        running.session.client("secretsmanager").create_secret(
            Name="csrgate/clusters/lab/kubeconfig", SecretString=dev_cluster.approver_kubeconfig.read_text()
        )
        running.slack.users.update(PEOPLE)
        running.put_cluster("lab", lab)
        yield running


@pytest.fixture
def requester(tmp_path: Path, name: str) -> dict[str, Any]:
    """Dana's key and CSR, as the docs task makes them (CN is the user she asks to be)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "dana.key"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return {"user": name, "key_file": key_file, "csr_pem": csr.public_bytes(serialization.Encoding.PEM)}


def forward(stack: Stack, kubectl: Kubectl, csr_name: str, event_type: str = "ADDED") -> dict[str, Any]:
    """What the forwarder does: send the CSR as the API server returns it to the intake function."""
    obj = json.loads(kubectl("get", "csr", csr_name, "-o", "json").stdout)
    response = load_function("intake").lambda_handler(hmac_event(obj, event_type=event_type), LambdaContext())
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])


def submit(stack: Stack, kubectl: Kubectl, requester: dict[str, Any], email: str | None = None) -> dict[str, Any]:
    """The requester's CSR created in the cluster as the docs do (optionally with their email), then forwarded."""
    manifest = csr_manifest(requester["user"], requester["csr_pem"], expirationSeconds=3600)
    if email:
        annotation = f"metadata:\n  annotations:\n    csrgate.io/requester-email: {email}\n"
        manifest = manifest.replace("metadata:\n", annotation, 1)
    kubectl("apply", "-f", "-", stdin=manifest)
    return forward(stack, kubectl, requester["user"])


def run_worker(stack: Stack) -> list[dict[str, Any]]:
    """Deliver every waiting decision-queue message to the worker function, as Lambda's event source would."""
    worker = load_function("worker")
    answers = []
    for _ in range(10):
        messages = stack.queue_messages("DecisionQueue")
        if not messages:
            break
        answers.append(worker.lambda_handler(sqs_event(messages, receive_count=1), LambdaContext()))
        sqs = stack.session.client("sqs")
        for message in messages:
            sqs.delete_message(QueueUrl=stack.resources["DecisionQueue"], ReceiptHandle=message["ReceiptHandle"])
    return answers


def click(stack: Stack, user: str, action: str, request_id: str) -> None:
    [message] = [m for m in stack.slack.messages if request_id in json.dumps(m.blocks)]
    response = load_function("interactions").lambda_handler(
        interaction_event(click_payload(user, message, request_id, action)), LambdaContext()
    )
    assert response["statusCode"] == 200


def condition_types(kubectl: Kubectl, csr_name: str) -> str:
    return kubectl("get", "csr", csr_name, "-o", "jsonpath={.status.conditions[*].type}").stdout


def test_a_click_ends_with_the_csr_approved_and_a_working_kubeconfig_in_the_requesters_dm(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any], tmp_path: Path
) -> None:
    # GIVEN dana's CSR created in the cluster as the docs do, with her email annotated
    name = requester["user"]
    # AND forwarded to csrgate, which asks for review
    intake = submit(stack, kubectl, requester, email="dana@example.com")
    assert intake["state"] == "awaiting_review"
    # WHEN an approver clicks Approve and the worker takes the decision
    click(stack, "U0ALICE", "csrgate_approve", intake["request_id"])
    answers = run_worker(stack)
    # THEN the CSR is approved in the cluster with csrgate's reason, and issued
    assert all(answer == {"batchItemFailures": []} for answer in answers), answers
    reasons = kubectl("get", "csr", name, "-o", "jsonpath={.status.conditions[*].reason}").stdout
    assert "CsrgateApproved" in reasons
    assert stack.request_item(intake["request_id"])["state"] == "delivered"  # type: ignore[index]
    # AND dana has a kubeconfig in her DM that, with her key added by the line she was given, works
    [delivered] = [f for f in stack.slack.files if f["channel"] == "DU0DANA"]
    kubeconfig = tmp_path / delivered["name"]
    kubeconfig.write_bytes(delivered["content"])
    [comment] = [m.text for m in stack.slack.messages if m.channel == "DU0DANA" and "set-credentials" in m.text]
    command = next(line for line in comment.splitlines() if "set-credentials" in line)
    key_path = tmp_path / shlex.split(command.split("--client-key=", 1)[1])[0].split()[0]
    key_path.write_bytes(requester["key_file"].read_bytes())
    Kubectl(tmp_path)(*shlex.split(command)[1:])
    whoami = Kubectl(tmp_path, kubeconfig)("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert whoami.stdout == name
    # AND the approval request shows the whole story
    [message] = [m for m in stack.slack.messages if intake["request_id"] in json.dumps(m.blocks)]
    assert "was approved, issued and delivered" in message.text


def test_the_docs_task_an_admin_asking_for_danas_user_needs_two_approvers_and_dana_gets_the_kubeconfig(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any], lab: dict[str, Any]
) -> None:
    # GIVEN a lab that ties the user each test asks for to dana, and nobody to the admin user kubectl runs as
    danas = {requester["user"]: "dana@example.com"}
    stack.put_cluster("lab", {**lab, "approvers": {"users": ["U0ALICE", "U0BOB"]}, "requesterEmails": danas})
    # WHEN an administrator creates a CSR for dana's user with her email, as the Kubernetes docs' task does
    intake = submit(stack, kubectl, requester, email="dana@example.com")
    request_id = intake["request_id"]
    # THEN one approval does not decide: someone other than the certificate's user asked for it
    click(stack, "U0ALICE", "csrgate_approve", request_id)
    assert stack.request_item(request_id)["state"] == "awaiting_review"  # type: ignore[index]
    assert condition_types(kubectl, requester["user"]) == ""
    # WHEN a second approver approves, it is approved, and dana gets the kubeconfig: the CN vouches for her email
    click(stack, "U0BOB", "csrgate_approve", request_id)
    run_worker(stack)
    assert stack.request_item(request_id)["state"] == "delivered"  # type: ignore[index]
    assert [f for f in stack.slack.files if f["channel"] == "DU0DANA"]


def test_an_email_annotation_nothing_vouches_for_reaches_nobody_and_locks_nobody_out(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any]
) -> None:
    # GIVEN dana's CSR for her own user, annotated with alice's email (anyone may write any annotation)
    intake = submit(stack, kubectl, requester, email="alice@example.com")
    # WHEN alice, an approver, approves it
    click(stack, "U0ALICE", "csrgate_approve", intake["request_id"])
    run_worker(stack)
    # THEN she was not taken for the requester, and the kubeconfig went to dana, who asked, never to alice
    assert stack.request_item(intake["request_id"])["state"] == "delivered"  # type: ignore[index]
    assert [f for f in stack.slack.files if f["channel"] == "DU0DANA"]
    assert not [f for f in stack.slack.files if f["channel"] == "DU0ALICE"]


def test_a_denial_lands_in_the_cluster_and_reaches_the_requester(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any]
) -> None:
    name = requester["user"]
    intake = submit(stack, kubectl, requester, email="dana@example.com")
    click(stack, "U0ALICE", "csrgate_deny", intake["request_id"])
    [view] = stack.slack.views
    interactions = load_function("interactions")
    interactions.lambda_handler(
        interaction_event(deny_submission("U0ALICE", view, "ask for a group role instead")), LambdaContext()
    )
    run_worker(stack)
    assert "Denied" in condition_types(kubectl, name)
    message = kubectl("get", "csr", name, "-o", "jsonpath={.status.conditions[0].message}").stdout
    assert "alice (U0ALICE)" in message and "ask for a group role instead" in message
    dms = [m for m in stack.slack.messages if m.channel == "DU0DANA"]
    assert dms and "ask for a group role instead" in dms[-1].text


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


@contextmanager
def decisions_refused(stack: Stack) -> Iterator[None]:
    """The decision queue refuses every message for a while, as SQS refuses one longer than the queue allows."""
    sqs = stack.session.client("sqs")
    url = stack.resources["DecisionQueue"]
    # moto takes a MaximumMessageSize below SQS's floor of 1024 bytes, so that every send is refused
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "1"})
    try:
        yield
    finally:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "262144"})


def approve(stack: Stack, request_id: str) -> list[int]:
    """Alice approves, and bob too when the request needs a second approver; the interactions function's statuses."""
    stack.slack.users.update({"U0BOB": {"name": "bob", "email": "bob@example.com"}})
    stack.put_cluster("lab", {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE", "U0BOB"]}})
    [message] = [m for m in stack.slack.messages if request_id in json.dumps(m.blocks)]
    statuses = []
    for approver in ("U0ALICE", "U0BOB"):
        if stack.request_item(request_id)["state"] != "awaiting_review":  # type: ignore[index]
            break
        response = load_function("interactions").lambda_handler(
            interaction_event(click_payload(approver, message, request_id)), LambdaContext()
        )
        statuses.append(response["statusCode"])
    return statuses


def sweep(monkeypatch: pytest.MonkeyPatch, minutes_later: int = 0) -> dict[str, int]:
    """The sweeper function run `minutes_later` minutes from now (its clock is set when it is built)."""
    with monkeypatch.context() as patch:
        patch.setattr(wiring, "utc_now", lambda: datetime.now(UTC) + timedelta(minutes=minutes_later))
        sweeper = load_function("sweeper")
    return sweeper.lambda_handler({}, LambdaContext())  # type: ignore[no-any-return]


def test_an_approval_whose_queueing_failed_is_queued_by_the_sweeper_and_applied(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN dana's CSR awaiting review
    name = requester["user"]
    intake = submit(stack, kubectl, requester, email="dana@example.com")
    request_id = intake["request_id"]
    # WHEN it is approved while the decision queue refuses the message
    with decisions_refused(stack):
        statuses = approve(stack, request_id)
    # THEN the approval is recorded, though nothing reached the worker (and the deciding approver is asked to retry)
    assert statuses[-1] == 503
    item = stack.request_item(request_id)
    assert item is not None and item["state"] == "approved" and not item["decision_queued"]
    assert stack.queue_messages("DecisionQueue") == []
    # WHEN the sweeper runs at once, it leaves a decision just recorded to the function recording it
    sweep(monkeypatch)
    assert stack.queue_messages("DecisionQueue") == []
    # AND when it runs ten minutes later, it queues the decision
    sweep(monkeypatch, minutes_later=10)
    [queued] = stack.queue_messages("DecisionQueue")
    assert json.loads(queued["Body"]) == {"kind": "apply_decision", "request_id": request_id}
    assert stack.request_item(request_id)["decision_queued"]  # type: ignore[index]
    # THEN the worker approves the CSR in the cluster, and it is issued
    run_worker(stack)
    assert "Approved" in condition_types(kubectl, name)
    assert kubectl("get", "csr", name, "-o", "jsonpath={.status.certificate}").stdout
    assert stack.request_item(request_id)["state"] in ("issued", "delivered")  # type: ignore[index]
    # AND later sweeps queue nothing more
    sweep(monkeypatch, minutes_later=20)
    assert stack.queue_messages("DecisionQueue") == []


def test_an_expiry_whose_denial_could_not_be_queued_is_denied_after_a_later_sweep(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a cluster that denies expired CSRs, and a review nobody decided
    stack.put_cluster("lab", {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE"]}, "denyExpired": True})
    name = requester["user"]
    intake = submit(stack, kubectl, requester)
    monkeypatch.setenv("CSRGATE_REMIND_AFTER_MINUTES", "0")
    monkeypatch.setenv("CSRGATE_EXPIRE_AFTER_MINUTES", "0")
    # WHEN the sweep that expires it cannot queue the denial
    with decisions_refused(stack):
        assert sweep(monkeypatch)["expired"] == 1
    # THEN the expiry is stored all the same
    assert stack.request_item(intake["request_id"])["state"] == "expired"  # type: ignore[index]
    assert stack.queue_messages("DecisionQueue") == []
    # AND a later sweep queues the denial, which the worker applies with csrgate's reason
    sweep(monkeypatch, minutes_later=10)
    run_worker(stack)
    assert kubectl("get", "csr", name, "-o", "jsonpath={.status.conditions[0].reason}").stdout == "CsrgateExpired"


@pytest.mark.parametrize(
    ("kubectl_args", "told"),
    [(("delete", "csr"), "the CSR was deleted"), (("certificate", "approve"), "Approved in the cluster first")],
)
def test_an_expired_review_the_cluster_moved_on_from_is_recorded_and_never_retried(
    stack: Stack,
    kubectl: Kubectl,
    requester: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    kubectl_args: tuple[str, str],
    told: str,
) -> None:
    # GIVEN a cluster that denies expired CSRs, and a review that expired
    stack.put_cluster("lab", {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE"]}, "denyExpired": True})
    name = requester["user"]
    intake = submit(stack, kubectl, requester)
    monkeypatch.setenv("CSRGATE_REMIND_AFTER_MINUTES", "0")
    monkeypatch.setenv("CSRGATE_EXPIRE_AFTER_MINUTES", "0")
    assert sweep(monkeypatch)["expired"] == 1
    # WHEN the requester deletes the CSR, or someone approves it with kubectl, before the worker denies it
    kubectl(*kubectl_args, name)
    answers = run_worker(stack)
    # THEN the message is done with (not handed back until it reaches the dead-letter queue)
    assert answers == [{"batchItemFailures": []}]
    # AND the request stays expired, saying what happened in the cluster, here and in Slack
    item = stack.request_item(intake["request_id"])
    assert item is not None and item["state"] == "expired" and told in item["outcome_note"]
    [message] = [m for m in stack.slack.messages if intake["request_id"] in json.dumps(m.blocks)]
    assert message.text.endswith("was left undecided until it expired") and told in json.dumps(message.blocks)


def test_a_certificate_seen_before_the_approval_is_applied_does_not_erase_the_approval(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any]
) -> None:
    # GIVEN dana's CSR approved in Slack, the decision queued and not yet applied
    name = requester["user"]
    intake = submit(stack, kubectl, requester, email="dana@example.com")
    assert approve(stack, intake["request_id"])[-1] == 200
    # WHEN intake hears of the CSR with a certificate already in its status
    obj = json.loads(kubectl("get", "csr", name, "-o", "json").stdout)
    obj.setdefault("status", {})["certificate"] = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
    forwarded = load_function("intake").lambda_handler(hmac_event(obj, event_type="MODIFIED"), LambdaContext())
    assert forwarded["statusCode"] == 200
    # THEN the request is still approved: only a decision applied in the cluster becomes issued
    assert stack.request_item(intake["request_id"])["state"] == "approved"  # type: ignore[index]
    # AND the worker applies it, and follows it to the certificate the signer issues
    run_worker(stack)
    assert "Approved" in condition_types(kubectl, name)
    assert kubectl("get", "csr", name, "-o", "jsonpath={.status.certificate}").stdout
    assert stack.request_item(intake["request_id"])["state"] in ("issued", "delivered")  # type: ignore[index]
