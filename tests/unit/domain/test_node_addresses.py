"""A kubelet's serving certificate names only its own Node: before csrgate approves one on its own, every DNS name
and IP address the request asks for must be among the Node's status.addresses, as the kubelet builds its SANs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from csrgate.domain.findings import Code, Finding, Severity
from csrgate.domain.lifecycle import State
from csrgate.domain.nodes import NodeAddress, must_match_node_addresses, node_address_findings, node_name
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import default_policy, load_policy
from csrgate.domain.records import RequestRecord
from csrgate.domain.summary import RequestSummary

KUBELET_SERVING = "kubernetes.io/kubelet-serving"
N1 = [
    NodeAddress("Hostname", "n1"),
    NodeAddress("InternalIP", "10.0.0.1"),
    NodeAddress("ExternalIP", "203.0.113.7"),
    NodeAddress("InternalDNS", "n1.internal.example"),
    NodeAddress("ExternalDNS", "n1.example.com"),
    NodeAddress("InternalIP", "fd00::1"),
]


def record(state: State = State.AUTO_APPROVED, signer: str | None = KUBELET_SERVING) -> RequestRecord:
    return RequestRecord(
        request_id="r1",
        cluster="lab",
        csr_name="csr-n1",
        csr_uid="uid-1",
        state=state,
        outcome=Outcome.APPROVE,
        findings=(),
        request=RequestSummary(signer_name=signer),
        received_at=datetime(2030, 1, 1, tzinfo=UTC),
    )


def serving(dns: tuple[str, ...] = (), ips: tuple[str, ...] = (), username: str = "system:node:n1") -> RequestSummary:
    """A kubelet's serving request as stored with its record."""
    return RequestSummary(signer_name=KUBELET_SERVING, username=username, dns_names=dns, ip_addresses=ips)


def messages(findings: tuple[Finding, ...]) -> list[str]:
    assert {(finding.code, finding.severity) for finding in findings} <= {(Code.SAN_NOT_ALLOWED, Severity.ERROR)}
    return [finding.message for finding in findings]


def test_an_automatic_kubelet_serving_approval_must_match_the_node() -> None:
    assert must_match_node_addresses(record(), default_policy()) is True


@pytest.mark.parametrize(
    "request_record",
    [
        record(state=State.AWAITING_REVIEW),  # a person decides: they see the SANs
        record(state=State.APPROVED),
        record(signer="kubernetes.io/kube-apiserver-client"),  # the policy does not ask for it
        record(signer="example.com/not-managed"),
        record(signer=None),
    ],
)
def test_other_requests_need_no_node_lookup(request_record: RequestRecord) -> None:
    assert must_match_node_addresses(request_record, default_policy()) is False


def test_a_policy_can_turn_the_node_lookup_off() -> None:
    policy = load_policy(f"signers:\n  {KUBELET_SERVING}:\n    sans:\n      matchNodeAddresses: false\n", "p.yaml")
    assert must_match_node_addresses(record(), policy) is False


@pytest.mark.parametrize(
    ("username", "node"),
    [
        ("system:node:n1", "n1"),
        ("system:node:n1.example.com", "n1.example.com"),
        ("system:node:", None),
        ("system:nodes:n1", None),
        ("alice", None),
        ("x-system:node:n1", None),
    ],
)
def test_only_a_node_user_names_a_node(username: str, node: str | None) -> None:
    assert node_name(username) == node


def test_sans_that_are_all_the_nodes_own_addresses_raise_nothing() -> None:
    # GIVEN node n1's request for its hostname, DNS names and IPs, written as the kubelet would or not
    request = serving(dns=("n1", "N1.Example.COM", "n1.internal.example"), ips=("10.0.0.1", "203.0.113.7", "fd00:0::1"))
    # WHEN it is compared with n1's Node THEN nothing stands in the way
    assert node_address_findings(request, "n1", N1) == ()


def test_a_request_without_sans_raises_nothing() -> None:
    assert node_address_findings(serving(), "n1", N1) == ()
    assert node_address_findings(serving(), "n1", []) == ()


def test_names_and_addresses_the_node_does_not_list_are_each_named() -> None:
    # GIVEN a request for another node's name and a Service address
    request = serving(dns=("n1", "n2.example.com"), ips=("10.0.0.1", "10.96.0.1"))
    # WHEN it is compared with n1's Node THEN each one that is not n1's own is named, DNS names first
    assert messages(node_address_findings(request, "n1", N1)) == [
        "the DNS name n2.example.com is not among n1's addresses in its Node object",
        "the IP address 10.96.0.1 is not among n1's addresses in its Node object",
    ]


def test_a_dns_name_in_upper_case_on_the_node_still_matches() -> None:
    addresses = [NodeAddress("ExternalDNS", "N1.Example.COM")]
    assert node_address_findings(serving(dns=("n1.example.com",)), "n1", addresses) == ()


def test_ipv4_addresses_match_their_ipv4_mapped_ipv6_form_either_way() -> None:
    # GIVEN a Node listing an IPv4 address one way and a request asking for it the other (Go compares them equal)
    addresses = [NodeAddress("InternalIP", "::ffff:10.0.0.2"), NodeAddress("InternalIP", " 10.0.0.1 ")]
    request = serving(ips=("::ffff:10.0.0.1", "10.0.0.2"))
    # THEN both match
    assert node_address_findings(request, "n1", addresses) == ()


def test_a_hostname_that_is_an_ip_address_counts_as_one() -> None:
    # GIVEN a Node whose Hostname is an IP address: the kubelet puts it in its certificate as an IP SAN
    addresses = [NodeAddress("Hostname", "10.0.0.9")]
    # THEN the IP matches, and the same text as a DNS name does not
    assert node_address_findings(serving(ips=("10.0.0.9",)), "n1", addresses) == ()
    assert messages(node_address_findings(serving(dns=("10.0.0.9",)), "n1", addresses)) == [
        "the DNS name 10.0.0.9 is not among n1's addresses in its Node object"
    ]


@pytest.mark.parametrize(
    "address",
    [
        NodeAddress("InternalIP", "n1.example.com"),  # not an IP: the kubelet leaves it out
        NodeAddress("ExternalIP", "n1.example.com"),
        NodeAddress("SomethingElse", "n1.example.com"),
        NodeAddress("ExternalDNS", ""),
    ],
)
def test_addresses_the_kubelet_would_not_use_match_nothing(address: NodeAddress) -> None:
    request = serving(dns=("n1.example.com",))
    assert messages(node_address_findings(request, "n1", [address])) == [
        "the DNS name n1.example.com is not among n1's addresses in its Node object"
    ]


@pytest.mark.parametrize("address", [NodeAddress("ExternalDNS", "n1.example.com"), NodeAddress("Hostname", "n1")])
def test_an_empty_address_does_not_hide_the_ones_after_it(address: NodeAddress) -> None:
    empty = [NodeAddress("Hostname", ""), NodeAddress("InternalIP", "")]
    assert node_address_findings(serving(dns=(address.address,)), "n1", [*empty, address]) == ()


def test_an_ip_san_that_is_no_ip_address_is_not_the_nodes() -> None:
    assert messages(node_address_findings(serving(ips=("n1",)), "n1", N1)) == [
        "the IP address n1 is not among n1's addresses in its Node object"
    ]


def test_a_dns_name_is_never_matched_by_an_ip_address_and_back() -> None:
    request = serving(dns=("10.0.0.1",), ips=("10.0.0.7",))
    addresses = [NodeAddress("InternalIP", "10.0.0.1"), NodeAddress("InternalDNS", "10.0.0.7")]
    assert len(node_address_findings(request, "n1", addresses)) == 2


def test_without_a_node_object_no_san_can_be_checked() -> None:
    # GIVEN a request from n1 while the cluster has no Node n1
    request = serving(dns=("n1",), ips=("10.0.0.1", "fd00::1"))
    # WHEN it is compared THEN every SAN is named as unverifiable, DNS names first
    assert messages(node_address_findings(request, "n1", None)) == [
        "the DNS name n1 cannot be checked: the cluster has no Node object n1",
        "the IP address 10.0.0.1 cannot be checked: the cluster has no Node object n1",
        "the IP address fd00::1 cannot be checked: the cluster has no Node object n1",
    ]


def test_a_requester_that_is_no_node_is_told_once() -> None:
    request = serving(dns=("n1", "n2"), ips=("10.0.0.1",), username="alice")
    assert messages(node_address_findings(request, None, N1)) == [
        "the requester alice is not a node (system:node:<name>), so its SANs cannot be checked against a Node object"
    ]


def test_a_requester_without_username_is_no_node_either() -> None:
    assert messages(node_address_findings(RequestSummary(dns_names=("n1",)), None, None)) == [
        "the requester  is not a node (system:node:<name>), so its SANs cannot be checked against a Node object"
    ]
