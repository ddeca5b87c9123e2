"""A click in Slack to a working kubeconfig: intake, interactions and worker against the dev cluster.

AWS is moto provisioned from template.yaml, Slack is the stand-in, the cluster is the dev cluster driven by the
real kubectl; the functions are the real handlers. The worker reaches the cluster with the approver identity
(get/list/watch CSRs, approve and deny), kept in Secrets Manager as production keeps it.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flow_steps import click, condition_types, run_worker, submit
from stack import Stack

from devstack.harness import Kubectl, LambdaContext, load_function
from devstack.lambda_events import deny_submission, interaction_event


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


def test_the_delivered_certificate_is_remembered_and_its_holder_reminded_once_at_80_percent(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN dana's certificate, approved and delivered
    intake = submit(stack, kubectl, requester, email="dana@example.com")
    click(stack, "U0ALICE", "csrgate_approve", intake["request_id"])
    run_worker(stack)
    [item] = [i for i in stack.items() if str(i["pk"]).startswith("CERT#") and i["sk"] == "CERTIFICATE"]
    assert (item["username"], item["slack_user"], item["request_id"]) == (
        requester["user"],
        "U0DANA",
        intake["request_id"],
    )
    not_before, not_after = (datetime.fromisoformat(item[key]) for key in ("not_before", "not_after"))
    # WHEN the sweeper runs once 80% of its lifetime has passed, and again
    later = not_before + (not_after - not_before) * 0.81
    monkeypatch.setattr("csrgate.wiring.kit.utc_now", lambda: later)
    sweeper = load_function("sweeper")
    assert sweeper.lambda_handler({}, LambdaContext())["holders_reminded"] == 1
    assert sweeper.lambda_handler({}, LambdaContext())["holders_reminded"] == 0
    # THEN dana got one DM saying what expires when, and how to renew it herself
    [reminder] = [m.text for m in stack.slack.messages if m.channel == "DU0DANA" and "expires" in m.text]
    assert f"certificate for '{requester['user']}' on lab expires" in reminder and "apply -f -" in reminder
