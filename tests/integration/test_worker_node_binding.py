"""The worker approves a kubelet's serving certificate on its own only for addresses the node's Node object lists.

The request comes in through the real intake function (moto from template.yaml, the Slack stand-in); the worker
is the real one, built as the worker function builds it, with one in-memory cluster standing in for the cluster
API: the CSR's conditions and the Node objects.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from audit_records import audit_trail
from aws_lambda_powertools import Logger
from intake_calls import csr_object, draw_digests
from stack import Stack

from csrgate.domain.cluster import ClusterConfig
from csrgate.domain.cluster_events import CsrEvent
from csrgate.domain.conditions import (
    Condition,
    Decision,
    DecisionOutcome,
    DecisionResult,
    IssuanceOutcome,
    IssuanceResult,
    decision_condition,
    issuance_state,
    plan_decision,
)
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.kubeconfig import RequesterKubeconfig
from csrgate.domain.nodes import NodeAddress
from csrgate.domain.records import request_id_for
from csrgate.wiring.worker import build_worker_consumer
from devstack.csrs import make_csr
from devstack.harness import LambdaContext, load_function
from devstack.lambda_events import hmac_event

KUBELET_SERVING = "kubernetes.io/kubelet-serving"
NODE_1 = (NodeAddress("InternalIP", "10.0.0.5"), NodeAddress("Hostname", "node-1"))


@dataclass
class FakeCluster:
    """One cluster in memory, as the worker reaches it: CSR conditions, Node objects with their addresses, and the
    Events written on CSRs."""

    node_addresses: dict[str, tuple[NodeAddress, ...]] = field(default_factory=dict)
    conditions: dict[str, list[Condition]] = field(default_factory=dict)
    node_reads: list[str] = field(default_factory=list)
    node_read_error: Exception | None = None
    events_recorded: list[CsrEvent] = field(default_factory=list)

    def csrs(self, cluster: ClusterConfig) -> FakeCluster:
        return self

    def nodes(self, cluster: ClusterConfig) -> FakeCluster:
        return self

    def events(self, cluster: ClusterConfig) -> FakeCluster:
        return self

    def record(self, event: CsrEvent) -> None:
        self.events_recorded.append(event)

    def addresses(self, name: str) -> tuple[NodeAddress, ...] | None:
        self.node_reads.append(name)
        if self.node_read_error is not None:
            raise self.node_read_error
        return self.node_addresses.get(name)

    def decide(
        self,
        name: str,
        uid: str,
        decision: Decision,
        decided_by: str,
        why: str,
        reason: str | None = None,
        spec_fingerprint: str | None = None,
    ) -> DecisionResult:
        listed = self.conditions.setdefault(name, [])
        planned = plan_decision(listed, decision)
        if planned is not None:
            return DecisionResult(planned[0], name, planned[1])
        condition = decision_condition(decision, decided_by, why, reason)
        listed.append(condition)
        return DecisionResult(DecisionOutcome.APPLIED, name, condition)

    def wait_for_certificate(self, name: str, uid: str, timeout: float, poll_interval: float = 0.5) -> IssuanceResult:
        # like the dev cluster, this one runs no kubelet-serving signer: approved, never issued
        outcome = issuance_state(self.conditions.get(name, []), None) or IssuanceOutcome.NOT_ISSUED
        return IssuanceResult(outcome, name)

    def kubeconfig_for(self, certificate_pem: bytes, key_path: str | None = None) -> RequesterKubeconfig:
        raise AssertionError("a serving certificate never comes as a kubeconfig")


def kubelet_csr(
    name: str, *, dns: tuple[str, ...] = ("node-1",), ips: tuple[str, ...] = ("10.0.0.5",)
) -> dict[str, Any]:
    """node-1's kubelet asking for its serving certificate, as the API server shows the CSR."""
    pem = make_csr("system:node:node-1", orgs=["system:nodes"], dns=dns, ips=ips, key="p256")
    return csr_object(
        name=name,
        uid=f"uid-{name}",
        request=base64.b64encode(pem).decode(),
        signer=KUBELET_SERVING,
        usages=("digital signature", "key encipherment", "server auth"),
        expiration_seconds=None,
        username="system:node:node-1",
        groups=("system:nodes", "system:authenticated"),
    )


def forward_then_work(stack: Stack, cluster: FakeCluster, obj: dict[str, Any]) -> str:
    """The forwarder's event through intake (an automatic approval), then the worker on the queued decision."""
    response = load_function("intake").lambda_handler(hmac_event(obj), LambdaContext())
    assert json.loads(response["body"])["state"] == "auto_approved", response
    consumer = build_worker_consumer(Logger(service="csrgate-worker"), stack.session, access=cluster)
    [message] = stack.queue_messages("DecisionQueue")
    consumer.handle(message["Body"], 1)
    return request_id_for("lab", obj["metadata"]["uid"])


def test_a_clean_request_whose_sans_the_node_lists_is_approved_without_a_click(stack: Stack) -> None:
    # GIVEN node-1's Node object lists its IP and host name
    cluster = FakeCluster({"node-1": NODE_1})
    # WHEN node-1 asks for a serving certificate for exactly those
    request_id = forward_then_work(stack, cluster, kubelet_csr("serving-ok"))
    # THEN the worker read node-1 once and approved the CSR with csrgate's reason
    assert cluster.node_reads == ["node-1"]
    [approved] = cluster.conditions["serving-ok"]
    assert (approved.type, approved.reason) == ("Approved", "CsrgateApproved")
    item = stack.request_item(request_id)
    assert item is not None and (item["state"], item["decision_applied"]) == ("auto_approved", True)
    assert "csr.decision_applied" in [event["event"] for event in audit_trail(stack, request_id)]


def test_an_ip_the_node_does_not_list_is_denied_by_policy_and_told_in_the_digest(stack: Stack) -> None:
    # GIVEN node-1's Node object lists 10.0.0.5 only
    cluster = FakeCluster({"node-1": NODE_1})
    # WHEN node-1 asks for a serving certificate that also names 10.0.0.9
    request_id = forward_then_work(stack, cluster, kubelet_csr("serving-other-ip", ips=("10.0.0.5", "10.0.0.9")))
    # THEN the CSR is denied with the policy's reason, naming the address and the node
    [denied] = cluster.conditions["serving-other-ip"]
    assert (denied.type, denied.reason) == ("Denied", "CsrgatePolicyDenied")
    assert "san-not-allowed: the IP address 10.0.0.9 is not among node-1's addresses in its Node object" in (
        denied.message
    )
    # AND the request is a policy denial, with the finding that says why
    item = stack.request_item(request_id)
    assert item is not None and (item["state"], item["outcome"]) == ("denied_by_policy", "deny")
    assert [finding["code"] for finding in item["findings"]] == ["san-not-allowed"]
    # AND the audit trail has the revised verdict, as intake records a policy denial
    trail = audit_trail(stack, request_id)
    verdicts = [(event["verdict"], event["finding_codes"]) for event in trail if event["event"] == "csr.policy_verdict"]
    assert verdicts == [("approve", []), ("deny", ["san-not-allowed"])]
    assert "csr.decision_applied" in [event["event"] for event in trail]
    # AND the channel's digest counts it denied, not approved, with the finding
    draw_digests(stack)
    [digest] = stack.slack.messages
    assert "0 certificate requests approved and 1 denied by policy" in digest.text
    assert "10.0.0.9 is not among node-1" in json.dumps(digest.blocks)


def test_a_dns_name_the_node_does_not_list_is_denied(stack: Stack) -> None:
    # GIVEN node-1's Node object lists an IP address and no name
    cluster = FakeCluster({"node-1": (NodeAddress("InternalIP", "10.0.0.5"),)})
    # WHEN node-1 asks for its name as well
    forward_then_work(stack, cluster, kubelet_csr("serving-no-name"))
    # THEN the name is what keeps it from being approved
    [denied] = cluster.conditions["serving-no-name"]
    assert denied.type == "Denied"
    assert "the DNS name node-1 is not among node-1's addresses in its Node object" in denied.message


def test_a_node_the_cluster_does_not_have_gets_nothing(stack: Stack) -> None:
    # GIVEN a cluster with no Node object named node-1
    cluster = FakeCluster({"node-2": NODE_1})
    # WHEN a CSR from node-1 asks for a serving certificate
    request_id = forward_then_work(stack, cluster, kubelet_csr("serving-no-node"))
    # THEN it is denied by policy, each SAN named with the missing node
    [denied] = cluster.conditions["serving-no-node"]
    assert (denied.type, denied.reason) == ("Denied", "CsrgatePolicyDenied")
    assert "the IP address 10.0.0.5 cannot be checked: the cluster has no Node object node-1" in denied.message
    item = stack.request_item(request_id)
    assert item is not None and item["state"] == "denied_by_policy"


def test_a_redelivered_decision_repeats_nothing(stack: Stack) -> None:
    # GIVEN a denial already applied after reading the Node
    cluster = FakeCluster({"node-1": NODE_1})
    forward_then_work(stack, cluster, kubelet_csr("serving-twice", ips=("10.0.0.9",)))
    # WHEN SQS delivers the same message again
    [message] = stack.queue_messages("DecisionQueue")
    build_worker_consumer(Logger(service="csrgate-worker"), stack.session, access=cluster).handle(message["Body"], 2)
    # THEN the Node is not read again and the cluster has one condition
    assert cluster.node_reads == ["node-1"]
    assert [condition.type for condition in cluster.conditions["serving-twice"]] == ["Denied"]


def test_a_node_read_that_fails_for_now_decides_nothing_and_is_retried(stack: Stack) -> None:
    # GIVEN a cluster API that cannot be reached
    cluster = FakeCluster({"node-1": NODE_1}, node_read_error=RetryLater("reading Node node-1: connection refused"))
    # WHEN the worker takes the decision, the message goes back to SQS
    with pytest.raises(RetryLater):
        forward_then_work(stack, cluster, kubelet_csr("serving-later"))
    # THEN nothing was decided in the cluster, and the request still waits to be applied
    assert "serving-later" not in cluster.conditions
    item = stack.request_item(request_id_for("lab", "uid-serving-later"))
    assert item is not None and (item["state"], item.get("decision_applied", False)) == ("auto_approved", False)


def test_a_worker_not_allowed_to_read_nodes_fails_the_request_loudly(stack: Stack) -> None:
    # GIVEN a worker whose RBAC lacks get on nodes
    refused = PermanentFailure('reading Node node-1: the cluster answered 403 Forbidden (nodes "node-1" is forbidden)')
    cluster = FakeCluster({"node-1": NODE_1}, node_read_error=refused)
    # WHEN it takes the decision
    request_id = forward_then_work(stack, cluster, kubelet_csr("serving-forbidden"))
    # THEN nothing is approved, and the request is failed with the cluster's words
    assert "serving-forbidden" not in cluster.conditions
    item = stack.request_item(request_id)
    assert item is not None and item["state"] == "failed" and "403 Forbidden" in item["outcome_note"]
