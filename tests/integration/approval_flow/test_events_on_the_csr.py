"""What the requester sees with `kubectl describe csr NAME`: the Events the worker writes on the CSR, through the
approver identity kept in Secrets Manager as production keeps it, read back by the real kubectl from the dev cluster.
"""

from __future__ import annotations

from typing import Any

from flow_steps import click, run_worker, submit
from stack import Stack

from csrgate.domain.jobs import ShowInCluster, encode_job
from devstack.harness import Kubectl


def show_waiting(stack: Stack, request_id: str) -> None:
    """The job intake queues for a request it posted for review, taken by the worker function."""
    stack.session.client("sqs").send_message(
        QueueUrl=stack.resources["DecisionQueue"], MessageBody=encode_job(ShowInCluster(request_id))
    )
    run_worker(stack)


def events_described(kubectl: Kubectl, name: str) -> list[str]:
    """The lines under Events: in `kubectl describe csr NAME`, each with its columns joined by one space."""
    described = kubectl("describe", "csr", name).stdout
    listed = described.split("\nEvents:", 1)[1].splitlines()[3:]  # after the header and its underline
    return [" ".join(line.split()) for line in listed if line.strip()]


def test_describe_shows_the_review_waiting_in_its_channel_then_who_approved_it_and_the_delivery(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any]
) -> None:
    # GIVEN dana's CSR, posted for review in lab's channel
    name = requester["user"]
    intake = submit(stack, kubectl, requester)
    assert intake["state"] == "awaiting_review"
    # WHEN the worker shows it on the CSR
    show_waiting(stack, intake["request_id"])
    # THEN `kubectl describe csr` says where it waits, and for how many approvals
    [waiting] = events_described(kubectl, name)
    assert waiting.startswith("Normal CsrgateReviewRequested ")
    assert waiting.endswith("csrgate.io/csrgate waiting for review in Slack channel C0LAB: 1 approval needed")
    # WHEN alice approves it in Slack and the worker applies it
    click(stack, "U0ALICE", "csrgate_approve", intake["request_id"])
    run_worker(stack)
    # THEN describe tells the rest, oldest first: approved by alice, then the certificate delivered to dana
    assert stack.request_item(intake["request_id"])["state"] == "delivered"  # type: ignore[index]
    lines = events_described(kubectl, name)
    assert [line.split()[:2] for line in lines] == [
        ["Normal", "CsrgateReviewRequested"],
        ["Normal", "CsrgateApproved"],
        ["Normal", "CsrgateDelivered"],
    ]
    assert lines[1].endswith("approved by alice (U0ALICE) in Slack")
    assert lines[2].endswith("certificate issued and delivered to the requester in a Slack direct message")


def test_an_approvers_hostile_slack_name_reaches_the_terminal_inert(
    stack: Stack, kubectl: Kubectl, requester: dict[str, Any], lab: dict[str, Any]
) -> None:
    # GIVEN an approver whose Slack name holds a terminal escape, a forged line and Slack's @channel mention
    stack.slack.users["U0EVE"] = {"name": "\x1b[2J\x1b[31m<!channel>\r\nNormal  Fake", "email": "eve@example.com"}
    stack.put_cluster("lab", {**lab, "approvers": {"users": ["U0EVE"]}})
    name = requester["user"]
    intake = submit(stack, kubectl, requester)
    # WHEN eve approves dana's CSR and the worker applies it
    click(stack, "U0EVE", "csrgate_approve", intake["request_id"])
    run_worker(stack)
    # THEN what kubectl prints holds no control character and no mention, and the approval reads as one line
    described = kubectl("describe", "csr", name).stdout
    assert "\x1b" not in described and "\r" not in described and "<!channel>" not in described
    [approved] = [line for line in events_described(kubectl, name) if "CsrgateApproved" in line]
    assert approved.endswith("approved by \\x1b[2J\\x1b[31m&lt;!channel&gt;\\r\\nNormal Fake (U0EVE) in Slack")
