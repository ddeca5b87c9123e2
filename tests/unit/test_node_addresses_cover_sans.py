"""Which of a Node object's addresses cover which subject alternative names of its kubelet's serving certificate,
as the kubelet reads its own addresses."""

from __future__ import annotations

import pytest

from csrgate.domain.nodes import NodeAddress, node_address_findings
from csrgate.domain.summary import RequestSummary


@pytest.mark.parametrize(
    ("addresses", "dns", "ips", "codes"),
    [
        # a Hostname that is an IP address counts as an IP address, as the kubelet reads it
        ((NodeAddress("Hostname", "10.0.0.5"),), [], ["10.0.0.5"], []),
        ((NodeAddress("Hostname", "10.0.0.5"),), ["10.0.0.5"], [], ["san-not-allowed"]),
        # DNS names compare without case; IPv6 in any spelling; an IPv4-mapped address is its IPv4 address
        ((NodeAddress("InternalDNS", "Node-1.Example.COM"),), ["node-1.example.com"], [], []),
        ((NodeAddress("ExternalIP", "fd00::0001"),), [], ["fd00::1"], []),
        ((NodeAddress("InternalIP", "::ffff:10.0.0.5"),), [], ["10.0.0.5"], []),
        # an IP address listed under a DNS type, or a name under an IP type, is not that kind of address
        ((NodeAddress("ExternalDNS", "10.0.0.5"),), [], ["10.0.0.5"], ["san-not-allowed"]),
        ((NodeAddress("InternalIP", "node-1"),), ["node-1"], [], ["san-not-allowed"]),
        ((NodeAddress("InternalIP", ""), NodeAddress("Unknown", "node-1")), ["node-1"], [], ["san-not-allowed"]),
    ],
)
def test_which_addresses_cover_which_sans(
    addresses: tuple[NodeAddress, ...], dns: list[str], ips: list[str], codes: list[str]
) -> None:
    request = RequestSummary(username="system:node:node-1", dns_names=tuple(dns), ip_addresses=tuple(ips))
    assert [finding.code.value for finding in node_address_findings(request, "node-1", addresses)] == codes
