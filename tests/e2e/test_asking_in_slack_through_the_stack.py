"""Through `csrgate dev up`: someone with no cluster access asks for their first certificate in Slack, as they would,
with a key and CSR made by openssl, and ends with `kubectl auth whoami` printing their user."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from e2e_support import (
    asked_csr,
    audit_events,
    condition,
    csr_names,
    delivered_kubeconfig,
    kubeconfigs_of,
    open_form,
    openssl_csr,
    submit,
)

from devstack.client import DevStackClient, wait_for
from devstack.csrs import make_csr
from devstack.harness import Kubectl


def test_dana_asks_in_slack_an_approver_approves_and_her_dm_holds_a_kubeconfig_that_is_her(
    stack: DevStackClient, home: Path
) -> None:
    dana, alice = stack.user("dana"), stack.user("alice")
    before, seen = csr_names(stack), len(kubeconfigs_of(stack, "dana"))
    # GIVEN dana, who has no cluster access, opens the form and pastes the CSR she made with openssl
    view = open_form(stack, dana)
    assert "-subj /CN=dana" in json.dumps(view["blocks"])  # the hint shows her exact openssl line
    answer = submit(stack, view, dana, openssl_csr(home, "dana"))
    assert answer["response_action"] == "update", answer
    # THEN csrgate creates the CSR in the cluster for her, and asks the cluster's approvers
    name = asked_csr(stack, "dana", before)
    message = stack.review_message(name)
    assert "@dana (U0DANA)" in json.dumps(message["blocks"])
    # WHEN alice approves (one approval: csrgate knows exactly who asked)
    assert stack.click(message, "csrgate_approve", alice)["status"] == 200
    wait_for(f"{name} Approved,Issued", lambda: stack.condition(name) == "Approved,Issued")
    # THEN dana's DM holds a kubeconfig which, with her key added by the line it came with, is her
    kubeconfig = delivered_kubeconfig(stack, "dana", home, seen)
    whoami = Kubectl(home, kubeconfig)("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", check=False)
    assert whoami.stdout == "dana", whoami.stderr
    # AND `/csrgate status` tells her where it stands
    status = stack.command(dana, "/csrgate", "status")
    assert status["status"] == 200 and name in json.dumps(status["body"]) and "delivered" in json.dumps(status["body"])
    assert wait_for("csr.linked in the log", lambda: audit_events(stack, "csr.linked"))


def test_a_cn_that_is_not_hers_is_an_inline_error_and_nothing_is_created(stack: DevStackClient) -> None:
    dana = stack.user("dana")
    before = csr_names(stack)
    view = open_form(stack, dana)
    answer = submit(stack, view, dana, make_csr("alice", key="p256").decode())
    assert answer["response_action"] == "errors" and "'alice'" in answer["errors"]["csr"], answer
    assert csr_names(stack) == before


def test_a_policy_denial_is_an_inline_error_and_nothing_is_created(stack: DevStackClient) -> None:
    dana = stack.user("dana")
    before = csr_names(stack)
    view = open_form(stack, dana)
    answer = submit(stack, view, dana, make_csr("dana", key="rsa1024").decode())
    assert answer["response_action"] == "errors" and "weak-key" in answer["errors"]["csr"], answer
    assert csr_names(stack) == before


def test_an_approver_who_asked_in_slack_may_not_approve_it(stack: DevStackClient, home: Path) -> None:
    alice, bob = stack.user("alice"), stack.user("bob")
    before = csr_names(stack)
    view = open_form(stack, alice)
    assert submit(stack, view, alice, openssl_csr(home, "alice"))["response_action"] == "update"
    name = asked_csr(stack, "alice", before)
    message = stack.review_message(name)
    assert stack.click(message, "csrgate_approve", alice)["status"] == 200
    wait_for(
        "alice's refusal",
        lambda: any(e["user"] == alice and "your own certificate request" in e["text"] for e in stack.ephemeral()),
    )
    assert stack.condition(name) == "Pending"
    assert stack.click(message, "csrgate_approve", bob)["status"] == 200
    wait_for(f"{name} Approved,Issued", lambda: stack.condition(name) == "Approved,Issued")


def test_a_forged_ask_annotation_on_a_kubectl_csr_links_it_to_nobody(stack: DevStackClient, name: str) -> None:
    manifest = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "annotations": {"csrgate.io/ask": "00000001-0000-4000-8000-000000000001"}},
        "spec": {
            "request": base64.b64encode(make_csr("dana", key="p256")).decode(),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
            "expirationSeconds": 3600,
        },
    }
    stack.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    message = stack.review_message(name)
    assert "verified by Slack" not in json.dumps(message["blocks"])
    refused = wait_for(
        "the refused link in the log",
        lambda: [e for e in audit_events(stack, "csr.ask_link_refused") if e.get("csr_name") == name],
    )
    assert refused[0]["reason"] == "no such ask"


def test_the_home_tab_shows_each_their_own_requests_and_an_approver_decides_there(
    stack: DevStackClient, home: Path
) -> None:
    erin, bob = stack.user("erin"), stack.user("bob")
    before = csr_names(stack)
    view = open_form(stack, erin)
    assert submit(stack, view, erin, openssl_csr(home, "erin"))["response_action"] == "update"
    name = asked_csr(stack, "erin", before)
    stack.review_message(name)
    request_id = next(e["request_id"] for e in audit_events(stack, "csr.linked") if e.get("csr_name") == name)
    # erin's Home lists her request, and nothing for her to decide (she approves nothing)
    mine = stack.open_home(erin)
    assert (
        mine["status"] == 200
        and name in json.dumps(mine["view"])
        and f"decide:{request_id}" not in json.dumps(mine["view"])
    )
    # bob's Home has it waiting for him, with the channel's buttons; his click there decides it
    theirs = stack.open_home(bob)
    assert f"decide:{request_id}" in json.dumps(theirs["view"])
    assert stack.click_view(f"decide:{request_id}", "csrgate_approve", bob, home=bob)["status"] == 200
    wait_for(f"{name} Approved,Issued", lambda: stack.condition(name) == "Approved,Issued")
    assert "bob (U0BOB)" in condition(stack, name, "Approved")["message"]
