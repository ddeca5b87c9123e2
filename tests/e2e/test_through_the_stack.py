"""Through `csrgate dev up` as a requester, an approver and an attacker would use it: the real kubectl, the real
forwarder, the functions behind the local API Gateway and their queues, and Slack's side played by the stand-in."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from e2e_support import about, audit_events, condition, current
from slack_sdk.signature import SignatureVerifier

from devstack.client import DevStackClient, wait_for
from devstack.cluster.nodes import node_manifest
from devstack.csrs import make_csr, manifest, private_key
from devstack.demo import csr_manifest
from devstack.harness import Kubectl

NODE_1 = [("InternalIP", "10.0.0.5"), ("Hostname", "node-1")]


def apply_csr(stack: DevStackClient, name: str, orgs: tuple[str, ...] = (), requester: str = "dana") -> None:
    """A CSR for user `name`, created with kubectl as the docs do, annotated with the requester's email."""
    email = stack.stack["users"][stack.user(requester)]["email"]
    stack.kubectl("apply", "-f", "-", stdin=csr_manifest(name, make_csr(name, orgs=orgs), email))


def apply_kubelet_serving_csr(stack: DevStackClient, name: str, ips: tuple[str, ...]) -> None:
    """node-1's kubelet asking for its serving certificate, with node-1's own credentials as a kubelet does."""
    stack.kubectl("apply", "-f", "-", stdin=node_manifest("node-1", NODE_1))  # its Node object, as registered
    pem = make_csr("system:node:node-1", orgs=["system:nodes"], dns=["node-1"], ips=ips, key="p256")
    usages = ("digital signature", "key encipherment", "server auth")
    request = manifest(pem, signer="kubernetes.io/kubelet-serving", usages=usages, expiration_seconds=None, name=name)
    stack.kubectl("apply", "-f", "-", stdin=request.decode(), kubeconfig=stack.node_kubeconfig("node-1"))


def post_interaction(stack: DevStackClient, body: str, timestamp: int, secret: str) -> int:
    """A request straight to the interactions URL, signed with `secret` at `timestamp`; the HTTP status."""
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    request = urllib.request.Request(
        stack.stack["interactions_url"],
        data=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": signature,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_the_demo_path_ends_with_whoami_printing_the_requested_user(
    stack: DevStackClient, name: str, home: Path
) -> None:
    # GIVEN dana's CSR applied with kubectl
    apply_csr(stack, name)
    # WHEN the approval request reaches Slack and alice and bob, approvers, click Approve (dana asks for a user that
    # is not hers, so one approval is not enough)
    message = stack.review_message(name)
    assert stack.condition(name) == "Pending"
    answer = stack.click(message, "csrgate_approve", stack.user("alice"))
    # THEN Slack got its 200 (how fast is measured by `make bench`, not asserted on a shared machine)
    assert answer["status"] == 200, answer
    assert stack.click(message, "csrgate_approve", stack.user("bob"))["status"] == 200
    # AND the cluster shows it approved by csrgate and issued
    wait_for(f"{name} Approved,Issued", lambda: stack.condition(name) == "Approved,Issued")
    assert condition(stack, name, "Approved")["reason"] == "CsrgateApproved"
    # AND `kubectl describe csr` tells dana who approved it, as an Event on her CSR
    described = stack.kubectl("describe", "csr", name).stdout
    approvers = f"({stack.user('alice')}), bob ({stack.user('bob')}) in Slack"
    assert "CsrgateApproved" in described and approvers in described
    # AND dana has a kubeconfig in her DM which, with her key added by the line it came with, is her
    dana = stack.user("dana")
    delivered = wait_for(
        "the DM", lambda: next((f for f in stack.files() if f["user"] == dana and name in f["name"]), None)
    )
    kubeconfig = home / delivered["name"]
    kubeconfig.write_bytes(base64.b64decode(delivered["content"]))
    said = stack.messages(delivered["channel"])  # dana's DM holds the other tests' deliveries too
    comment = next(m["text"] for m in said if "set-credentials" in m["text"] and delivered["name"] in m["text"])
    command = next(line.strip("` ") for line in comment.splitlines() if "set-credentials" in line)
    key = private_key("rsa2048").private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (home / shlex.split(command.split("--client-key=", 1)[1])[0]).write_bytes(key)
    Kubectl(home)(*shlex.split(command)[1:])
    whoami = Kubectl(home, kubeconfig)("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", check=False)
    assert whoami.stdout == name, whoami.stderr
    # AND the approval request tells the whole story, as the audit log does
    wait_for("the message to say delivered", lambda: "delivered" in str(current(stack, message)["text"]))
    assert wait_for("csr.delivered in the audit log", lambda: audit_events(stack, "csr.delivered"))


def test_a_click_by_someone_who_may_not_approve_changes_nothing(stack: DevStackClient, name: str) -> None:
    # GIVEN a CSR waiting for review
    apply_csr(stack, name)
    message = stack.review_message(name)
    erin = stack.user("erin")
    # WHEN erin, who is not an approver, clicks Approve
    answer = stack.click(message, "csrgate_approve", erin)
    # THEN Slack gets a 200 (an error would show her a red banner) and she alone is told no
    assert answer["status"] == 200
    refusal = wait_for("erin's refusal", lambda: next((e for e in stack.ephemeral() if e["user"] == erin), None))
    assert refusal["channel"] == stack.channel
    # AND the CSR is still pending in the cluster and the approval request is unchanged
    assert stack.condition(name) == "Pending"
    assert current(stack, message)["updated"] is False
    # AND the refusal is in the audit log, naming who and why
    rejected = wait_for("the rejection in the log", lambda: about(audit_events(stack, "slack.request_rejected"), name))
    assert (rejected[0]["slack_user"], rejected[0]["reason"]) == (erin, "not an approver")


def test_forged_and_stale_interactions_are_refused_and_change_nothing(stack: DevStackClient, name: str) -> None:
    # GIVEN a CSR waiting for review, and the Approve click Slack would send for it
    apply_csr(stack, name)
    message = stack.review_message(name)
    [button] = [
        element
        for block in message["blocks"]
        if block.get("type") == "actions"
        for element in block["elements"]
        if element["action_id"] == "csrgate_approve"
    ]
    payload = {
        "type": "block_actions",
        "user": {"id": stack.user("alice")},
        "trigger_id": "1.2.x",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"]},
        "channel": {"id": message["channel"]},
        "actions": [{"action_id": "csrgate_approve", "block_id": "decide", "value": button["value"]}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    rejected_before = len(audit_events(stack, "slack.request_rejected"))
    # WHEN it is signed with the wrong secret, or correctly but ten minutes ago
    forged = post_interaction(stack, body, int(time.time()), "not-the-signing-secret")
    stale = post_interaction(stack, body, int(time.time()) - 600, stack.stack["slack_signing_secret"])
    # THEN both are refused, logged as rejected, and nothing changes in the cluster or in Slack
    assert (forged, stale) == (401, 401)
    wait_for(
        "two rejections in the log", lambda: len(audit_events(stack, "slack.request_rejected")) >= rejected_before + 2
    )
    assert stack.condition(name) == "Pending"
    assert current(stack, message)["updated"] is False


def test_a_policy_denial_is_in_the_cluster_and_in_slack(stack: DevStackClient, name: str) -> None:
    # WHEN a CSR asks for the kubeadm:cluster-admins group
    apply_csr(stack, name, orgs=("kubeadm:cluster-admins",))
    # THEN the cluster denies it with csrgate's policy reason, naming the finding
    denied = condition(stack, name, "Denied")
    assert denied["reason"] == "CsrgatePolicyDenied"
    assert "forbidden-group" in denied["message"]
    # AND the review channel's digest of automatic decisions lists it, with no buttons to click
    digest = wait_for(
        "the digest to list the denial",
        lambda: next((m for m in stack.messages(stack.channel) if f"Denied {name}" in json.dumps(m["blocks"])), None),
        timeout=90,
    )
    assert "forbidden-group" in json.dumps(digest["blocks"]) and "csrgate_approve" not in json.dumps(digest["blocks"])
    assert stack.condition(name) == "Denied"
    # AND the audit log has the verdict with its finding, and the decision applied in the cluster
    verdict = wait_for("the verdict in the log", lambda: about(audit_events(stack, "csr.policy_verdict"), name))
    assert verdict[0]["verdict"] == "deny" and verdict[0]["finding_codes"] == ["forbidden-group"]
    assert wait_for("the decision in the log", lambda: about(audit_events(stack, "csr.decision_applied"), name))


def test_an_approval_with_kubectl_outside_csrgate_is_shown_on_the_message(stack: DevStackClient, name: str) -> None:
    # GIVEN a CSR waiting for review in Slack
    apply_csr(stack, name)
    message = stack.review_message(name)
    # WHEN an admin approves it with kubectl instead
    stack.kubectl("certificate", "approve", name)
    # THEN the cluster issues it with kubectl's reason, not csrgate's
    wait_for(f"{name} Approved,Issued", lambda: stack.condition(name) == "Approved,Issued")
    assert condition(stack, name, "Approved")["reason"] == "KubectlApprove"
    # AND the approval request says it was decided outside csrgate, as the audit log does
    updated = wait_for("the message to change", lambda: current(stack, message)["updated"] and current(stack, message))
    assert "outside csrgate" in json.dumps(updated), updated
    assert wait_for("csr.decided_elsewhere in the log", lambda: audit_events(stack, "csr.decided_elsewhere"))


def test_an_approver_may_not_approve_a_certificate_for_themselves(stack: DevStackClient, name: str) -> None:
    # GIVEN a CSR for the user alice: the certificate would be hers
    email = stack.stack["users"][stack.user("dana")]["email"]
    stack.kubectl("apply", "-f", "-", stdin=csr_manifest(name, make_csr("alice"), email))
    message = stack.review_message(name)
    alice = stack.user("alice")
    # WHEN she clicks Approve on it
    assert stack.click(message, "csrgate_approve", alice)["status"] == 200
    # THEN she alone is told no, and the CSR stays pending
    wait_for(
        "alice's refusal",
        lambda: any(e["user"] == alice and "your own certificate request" in e["text"] for e in stack.ephemeral()),
    )
    assert stack.condition(name) == "Pending"
    rejected = wait_for("the rejection in the log", lambda: about(audit_events(stack, "slack.request_rejected"), name))
    assert rejected[0]["reason"] == "self-approval"
    # WHEN bob approves it, his approval is recorded; a second approver other than alice must agree (dana asked
    # for a user that is not hers)
    assert stack.click(message, "csrgate_approve", stack.user("bob"))["status"] == 200
    wait_for("bob's approval on the message", lambda: "1 of 2: bob" in json.dumps(current(stack, message)["blocks"]))
    assert stack.condition(name) == "Pending"


def test_a_privileged_request_needs_two_approvers(stack: DevStackClient, name: str) -> None:
    # GIVEN a CSR asking for group sre, which the dev cluster's policy marks privileged
    apply_csr(stack, name, orgs=("sre",))
    message = stack.review_message(name)
    assert "2 approvals (privileged request)" in json.dumps(message["blocks"])
    # WHEN one approver approves, it is recorded and the CSR stays pending
    assert stack.click(message, "csrgate_approve", stack.user("alice"))["status"] == 200
    wait_for(
        "alice's approval on the message", lambda: "1 of 2: alice" in json.dumps(current(stack, message)["blocks"])
    )
    assert stack.condition(name) == "Pending"
    # AND when a second approver approves, the CSR is approved and issued, naming both
    assert stack.click(message, "csrgate_approve", stack.user("bob"))["status"] == 200
    wait_for(f"{name} Approved,Issued", lambda: stack.condition(name) == "Approved,Issued")
    assert "alice (U0ALICE), bob (U0BOB)" in condition(stack, name, "Approved")["message"]
    approved = wait_for(
        "csr.approved in the log", lambda: [e for e in audit_events(stack, "csr.approved") if e.get("csr_name") == name]
    )
    assert approved[0]["approvers"] == "alice (U0ALICE), bob (U0BOB)"


def test_a_csr_deleted_before_the_click_is_withdrawn(stack: DevStackClient, name: str) -> None:
    # GIVEN a CSR waiting for review, deleted from the cluster by its requester
    apply_csr(stack, name)
    message = stack.review_message(name)
    stack.kubectl("delete", "csr", name)
    # THEN the forwarder's DELETED event withdraws the request, and the approval request says so
    updated = wait_for("the message to change", lambda: current(stack, message)["updated"] and current(stack, message))
    assert "withdrawn" in json.dumps(updated).lower(), updated
    assert wait_for("csr.withdrawn in the log", lambda: audit_events(stack, "csr.withdrawn"))
    # AND there is nothing left to click, nothing comes back in the cluster, and no kubeconfig is delivered
    assert "csrgate_approve" not in json.dumps(updated["blocks"])
    assert stack.csr(name) is None
    assert not [f for f in stack.files() if name in f["name"]]


def test_slack_rate_limiting_the_approval_request_delays_it_but_loses_nothing(stack: DevStackClient, name: str) -> None:
    # GIVEN Slack answers the next Web API call with 429 and Retry-After: 1
    stack.fail_next(429, retry_after=1)
    # WHEN a CSR arrives
    apply_csr(stack, name)
    # THEN the approval request is posted anyway, once, after the rate-limited attempt
    message = stack.review_message(name)
    assert len([m for m in stack.messages(stack.channel) if name in m["text"] and m["thread_ts"] is None]) == 1
    posts = [c for c in stack.calls() if c["method"] == "chat.postMessage" and name in json.dumps(c["arguments"])]
    assert len(posts) >= 2, posts
    assert stack.click(message, "csrgate_approve", stack.user("alice"))["status"] == 200
    assert stack.click(message, "csrgate_approve", stack.user("bob"))["status"] == 200
    wait_for(f"{name} Approved,Issued", lambda: stack.condition(name) == "Approved,Issued")


def test_a_csr_made_while_the_forwarder_is_down_reaches_slack_once_it_is_back(stack: DevStackClient, name: str) -> None:
    # GIVEN the forwarder killed outright (no drain), as when its node dies
    pid_file = Path(stack.stack["forwarder_pid_file"])
    old_pid = int(pid_file.read_text())
    os.kill(old_pid, signal.SIGKILL)
    # WHEN a CSR is created before it is back
    apply_csr(stack, name)
    # THEN the restarted forwarder lists it and the approval request reaches Slack, once
    wait_for("a new forwarder", lambda: pid_file.exists() and int(pid_file.read_text() or 0) not in (0, old_pid))
    message = stack.review_message(name, timeout=10)  # a restart and a list take about a second
    assert len([m for m in stack.messages(stack.channel) if m["ts"] != message["ts"] and name in m["text"]]) == 0
    # AND the flow goes on as usual
    assert stack.click(message, "csrgate_approve", stack.user("bob"))["status"] == 200
    assert stack.click(message, "csrgate_approve", stack.user("alice"))["status"] == 200
    wait_for(f"{name} Approved,Issued", lambda: stack.condition(name) == "Approved,Issued")


def test_a_denial_with_a_reason_lands_in_the_cluster_and_reaches_the_requester(
    stack: DevStackClient, name: str
) -> None:
    # GIVEN a CSR waiting for review
    apply_csr(stack, name)
    message = stack.review_message(name)
    bob = stack.user("bob")
    opened = len(stack.views())
    # WHEN bob clicks Deny, and gives his reason in the dialog that opens
    assert stack.click(message, "csrgate_deny", bob)["status"] == 200
    view = wait_for("the Deny dialog", lambda: stack.views()[opened] if len(stack.views()) > opened else None)
    answer = stack.submit(view["id"], bob, {"reason": {"reason_text": "ask for a group role instead"}})
    assert answer["status"] == 200, answer
    # THEN the cluster denies it with csrgate's reason, naming bob and his reason
    denied = condition(stack, name, "Denied")
    assert denied["reason"] == "CsrgateDenied"
    assert "bob (U0BOB)" in denied["message"] and "ask for a group role instead" in denied["message"]
    # AND dana is told why in a DM
    dana_dm = f"D{stack.user('dana')}"
    wait_for("dana's DM", lambda: any("ask for a group role instead" in m["text"] for m in stack.messages(dana_dm)))


def test_a_kubelet_serving_csr_its_node_object_vouches_for_is_approved_without_a_click(
    stack: DevStackClient, name: str
) -> None:
    # WHEN node-1 asks for a serving certificate for its name and the IP its Node object lists
    apply_kubelet_serving_csr(stack, name, ips=("10.0.0.5",))
    # THEN the cluster shows it approved by csrgate's policy, with nobody asked to click
    approved = condition(stack, name, "Approved")
    assert approved["reason"] == "CsrgateApproved" and "csrgate:policy" in approved["message"]
    # AND the channel's digest of automatic decisions counts it, without buttons
    # (the stack is shared: other tests' digests are in the channel too)
    digest = wait_for(
        "the digest to count a kubelet-serving approval",
        lambda: next(
            (
                m
                for m in stack.messages(stack.channel)
                if "by policy on dev" in m["text"] and re.search(r"kubelet-serving: [1-9]\d* approved", _text(m))
            ),
            None,
        ),
        timeout=90,
    )
    assert "csrgate_approve" not in json.dumps(digest["blocks"])
    # AND it stays Approved without Issued (the dev cluster runs no kubelet-serving signer); deleting it ends
    # csrgate's wait for a certificate that will never come, which would otherwise go on for 15 minutes
    assert stack.condition(name) == "Approved"
    assert wait_for("the decision in the log", lambda: about(audit_events(stack, "csr.decision_applied"), name))
    stack.kubectl("delete", "csr", name)
    assert wait_for("csr.withdrawn in the log", lambda: about(audit_events(stack, "csr.withdrawn"), name))


def test_a_kubelet_serving_csr_for_an_ip_its_node_object_does_not_list_is_denied(
    stack: DevStackClient, name: str
) -> None:
    # WHEN node-1 asks for a serving certificate that also names 10.0.0.99, which its Node object does not list
    apply_kubelet_serving_csr(stack, name, ips=("10.0.0.5", "10.0.0.99"))
    # THEN the cluster denies it with csrgate's policy reason, naming the address and the node
    denied = condition(stack, name, "Denied")
    assert denied["reason"] == "CsrgatePolicyDenied"
    assert "the IP address 10.0.0.99 is not among node-1's addresses in its Node object" in denied["message"]
    assert "Approved" not in [c["type"] for c in (stack.csr(name) or {})["status"]["conditions"]]
    # AND the channel's digest lists it denied, with the finding
    digest = wait_for(
        "the digest to list the denial",
        lambda: next((m for m in stack.messages(stack.channel) if f"Denied {name}" in json.dumps(m["blocks"])), None),
        timeout=90,
    )
    assert "10.0.0.99 is not among node-1" in json.dumps(digest["blocks"])
    # AND the audit log has the revised verdict with its finding, as for the policy's other denials
    verdicts = wait_for(
        "the deny verdict in the log",
        lambda: [e for e in about(audit_events(stack, "csr.policy_verdict"), name) if e["verdict"] == "deny"],
    )
    assert verdicts[0]["finding_codes"] == ["san-not-allowed"]


def _text(message: dict[str, Any]) -> str:
    """A message's blocks as the words a reader sees, in order."""

    def words(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["text"]] if isinstance(node.get("text"), str) else []
            return own + [word for value in node.values() if isinstance(value, list | dict) for word in words(value)]
        return [word for item in node for word in words(item)] if isinstance(node, list) else []

    return "".join(words(message["blocks"]))
