"""Through `csrgate dev up`: someone who signs in to the cluster with their own certificate but may do nothing there
asks in Slack for time-boxed access; once approved, the real kubectl says they may, and on Revoke or at the end of
the time it says they may not any more."""

from __future__ import annotations

import json
from datetime import datetime

from e2e_support import APPROVE, REVOKE, ask_access, audit_events, buttons, can_i, current, grant_message, namespace

from devstack.client import DevStackClient, wait_for


def test_dana_gets_edit_in_payments_uses_it_and_loses_it_when_revoked(stack: DevStackClient) -> None:
    dana, alice = stack.user("dana"), stack.user("alice")
    kubeconfig = stack.user_kubeconfig("dana")  # she signs in with her own certificate; no binding grants her much
    namespace(stack, "payments")
    assert can_i(stack, kubeconfig, "create", "configmaps", "-n", "payments") == "no"
    # WHEN she asks for edit in payments for an hour
    answer = ask_access(stack, dana, "edit", "payments", 3600)
    assert answer["response_action"] == "update", answer
    message = grant_message(stack, "dana", "edit in namespace payments")
    assert "@dana (U0DANA)" in json.dumps(message["blocks"]) and "deploying the fix" in json.dumps(message["blocks"])
    # THEN she may not approve it (she is no approver)
    assert stack.click(message, APPROVE, dana)["status"] == 200
    assert wait_for("her refusal", lambda: [e for e in stack.ephemeral() if "not an approver" in json.dumps(e)])
    assert can_i(stack, kubeconfig, "create", "configmaps", "-n", "payments") == "no"
    # WHEN alice approves
    assert stack.click(message, APPROVE, alice)["status"] == 200
    # THEN kubectl says dana may, and she does
    wait_for("edit in payments", lambda: can_i(stack, kubeconfig, "create", "configmaps", "-n", "payments") == "yes")
    stack.kubectl("create", "configmap", "the-fix", "-n", "payments", "--from-literal=a=b", kubeconfig=kubeconfig)
    assert can_i(stack, kubeconfig, "create", "configmaps", "-n", "default") == "no"  # only where it was granted
    binding = json.loads(stack.kubectl("get", "rolebindings", "-n", "payments", "-o", "json").stdout)["items"]
    ours = [b for b in binding if b["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") == "csrgate"]
    assert [(b["roleRef"]["name"], b["subjects"][0]["name"]) for b in ours] == [("edit", "dana")]
    # AND her DM says what she has, where and until when, with a kubeconfig for the cluster in that namespace
    dm = wait_for("the kubeconfig in dana's DM", lambda: [f for f in stack.files() if f["user"] == dana])
    assert dm[-1]["name"] == "dev-payments.kubeconfig"
    assert wait_for("her DM", lambda: [m for m in stack.messages() if "You have edit" in m["text"]])
    # AND `/csrgate status` tells her where it stands
    status = json.dumps(stack.command(dana, "/csrgate", "status")["body"])
    assert "access: edit in namespace payments on dev as dana, for 1 hour: active until" in status, status
    # WHEN alice revokes it
    assert REVOKE in buttons(stack, message)
    assert stack.click(message, REVOKE, alice)["status"] == 200
    # THEN kubectl says she may not any more, and the message says who ended it
    wait_for("edit revoked", lambda: can_i(stack, kubeconfig, "create", "configmaps", "-n", "payments") == "no")
    wait_for("the message to say it ended", lambda: "ended" in current(stack, message)["text"])
    assert buttons(stack, message) == set()
    assert audit_events(stack, "grant.revoked") and audit_events(stack, "grant.ended")


def test_a_grant_of_a_minute_ends_on_its_own_within_a_minute_of_its_end(stack: DevStackClient) -> None:
    erin, bob = stack.user("erin"), stack.user("bob")
    kubeconfig = stack.user_kubeconfig("erin")
    namespace(stack, "team-a")
    assert ask_access(stack, erin, "view", "team-a", 60)["response_action"] == "update"
    message = grant_message(stack, "erin", "view in namespace team-a")
    assert stack.click(message, APPROVE, bob)["status"] == 200
    wait_for("view in team-a", lambda: can_i(stack, kubeconfig, "list", "configmaps", "-n", "team-a") == "yes")
    # THEN, with nobody doing anything, it ends
    wait_for("the end", lambda: can_i(stack, kubeconfig, "list", "configmaps", "-n", "team-a") == "no", timeout=150)
    bound = next(e for e in audit_events(stack, "grant.bound") if e.get("username") == "erin")
    ended = wait_for(  # logged once recorded, just after the binding is gone
        "grant.ended",
        lambda: next((e for e in audit_events(stack, "grant.ended") if e.get("username") == "erin"), None),
    )
    late = datetime.fromisoformat(ended["ended_at"]) - datetime.fromisoformat(bound["ends_at"])
    assert late.total_seconds() < 60, late


def test_an_approver_may_not_approve_their_own_access(stack: DevStackClient) -> None:
    bob = stack.user("bob")
    namespace(stack, "team-b")
    assert ask_access(stack, bob, "edit", "team-b", 900)["response_action"] == "update"
    message = grant_message(stack, "bob", "edit in namespace team-b")
    assert stack.click(message, APPROVE, bob)["status"] == 200
    assert wait_for("his refusal", lambda: [e for e in stack.ephemeral() if "your own access" in json.dumps(e)])
    assert APPROVE in buttons(stack, message)  # still waiting for someone else
    assert not [e for e in audit_events(stack, "grant.approval_recorded") if e.get("username") == "bob"]


def test_what_is_not_offered_is_an_inline_error_and_nothing_is_asked(stack: DevStackClient) -> None:
    erin = stack.user("erin")
    before = len(stack.messages(stack.channel))
    # (Slack lets nobody pick a role or a duration the form does not list: those forged are refused in the domain)
    system = ask_access(stack, erin, "view", "kube-system", 3600)
    assert system["response_action"] == "errors" and "namespace" in system["errors"], system
    elsewhere = ask_access(stack, erin, "view", "billing", 3600)
    assert elsewhere["response_action"] == "errors" and "payments, team-*" in elsewhere["errors"]["namespace"]
    cluster_wide = ask_access(stack, erin, "cluster-admin", "payments", 900)
    assert cluster_wide["response_action"] == "errors" and "cluster-wide" in cluster_wide["errors"]["namespace"]
    too_long = ask_access(stack, erin, "cluster-admin", "", 8 * 3600)
    assert too_long["response_action"] == "errors" and "duration" in too_long["errors"], too_long
    assert len(stack.messages(stack.channel)) == before


def test_a_role_csrgate_may_not_bind_is_refused_by_the_cluster_and_nothing_is_granted(stack: DevStackClient) -> None:
    # GIVEN the dev cluster's configuration offers cluster-admin, which csrgate's worker holds no `bind` on
    erin, alice, bob = stack.user("erin"), stack.user("alice"), stack.user("bob")
    kubeconfig = stack.user_kubeconfig("erin")
    assert ask_access(stack, erin, "cluster-admin", "", 900)["response_action"] == "update"
    message = grant_message(stack, "erin", "cluster-admin cluster-wide")
    # WHEN two approvers approve (a cluster-wide role is privileged)
    assert stack.click(message, APPROVE, alice)["status"] == 200
    wait_for("one approval recorded", lambda: "1 of 2" in json.dumps(current(stack, message)["blocks"]))
    assert stack.click(message, APPROVE, bob)["status"] == 200
    # THEN the cluster refuses the binding: the message and the audit trail say so, and nothing is granted
    wait_for("the refusal", lambda: "not granted" in current(stack, message)["text"])
    failed = wait_for("grant.failed", lambda: audit_events(stack, "grant.failed"))
    assert "cluster-admin" in failed[-1]["reason"]
    assert can_i(stack, kubeconfig, "*", "*") == "no"
    listed = json.loads(stack.kubectl("get", "clusterrolebindings", "-o", "json").stdout)["items"]
    assert not [b for b in listed if b["roleRef"]["name"] == "cluster-admin" and b["subjects"][0].get("name") == "erin"]
