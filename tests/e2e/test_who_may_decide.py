"""Who may decide, through `csrgate dev up`: a request csrgate cannot tie to a Slack user is never one approver's
alone, for that approver may be whoever holds the credentials that asked."""

from __future__ import annotations

import json

from e2e_support import about, audit_events, current

from devstack.client import DevStackClient, wait_for
from devstack.csrs import make_csr, manifest

DEPLOYER = "system:serviceaccount:ci:deployer"


def test_a_service_accounts_request_waits_for_a_second_approver(stack: DevStackClient, name: str) -> None:
    # GIVEN the credentials of the CI deployer service account, which any approver running CI jobs could hold
    deployer = stack.service_account_kubeconfig("ci", "deployer")
    # WHEN they are used to ask for a client certificate for a user of the asker's choosing, with no annotation
    request = manifest(make_csr(name), name=name).decode()
    stack.kubectl("apply", "-f", "-", stdin=request, kubeconfig=deployer)
    assert (stack.csr(name) or {})["spec"]["username"] == DEPLOYER
    # THEN the approval request says it needs two approvals and why, with the finding
    message = stack.review_message(name)
    shown = json.dumps(message["blocks"])
    assert "2 approvals: nobody can tell which Slack user asked for it" in shown
    assert "requester-unknown" in shown and DEPLOYER in shown
    # WHEN alice, an approver, approves it
    assert stack.click(message, "csrgate_approve", stack.user("alice"))["status"] == 200
    # THEN her approval is recorded as one of two, and the CSR stays pending in the cluster
    wait_for("1 of 2 on the message", lambda: "1 of 2: alice" in json.dumps(current(stack, message)["blocks"]))
    recorded = wait_for("the approval in the log", lambda: about(audit_events(stack, "csr.approval_recorded"), name))
    assert recorded[0]["approvals_needed"] == 2
    assert stack.condition(name) == "Pending"
    assert not about(audit_events(stack, "csr.approved"), name)
    # WHEN bob approves it too
    assert stack.click(message, "csrgate_approve", stack.user("bob"))["status"] == 200
    # THEN it is approved in the cluster by both, and issued
    wait_for(f"{name} Approved,Issued", lambda: stack.condition(name) == "Approved,Issued")
    conditions = (stack.csr(name) or {})["status"]["conditions"]
    approved = next(c for c in conditions if c["type"] == "Approved")
    assert approved["reason"] == "CsrgateApproved"
    assert "alice (U0ALICE), bob (U0BOB)" in approved["message"]
