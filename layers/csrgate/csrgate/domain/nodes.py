"""A kubelet's serving certificate bound to its Node: every SAN it asks for must be one of the Node's addresses.

The kubelet builds the SANs of its serving certificate from its Node's `status.addresses`
(pkg/kubelet/certificate/kubelet.go, addressesToHostnamesAndIPs): Hostname, InternalDNS and ExternalDNS as DNS
names, InternalIP and ExternalIP as IP addresses, a Hostname that parses as an IP address as an IP address. A CSR
from node N asking for a name or address its Node object does not list is not what N's kubelet would ask for, so
csrgate does not approve it on its own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from csrgate.domain.checks import NODE_USERNAME_PREFIX
from csrgate.domain.findings import Code, Finding, error
from csrgate.domain.lifecycle import State
from csrgate.domain.policy import Policy
from csrgate.domain.records import RequestRecord
from csrgate.domain.summary import RequestSummary

DNS_ADDRESS_TYPES = frozenset({"Hostname", "InternalDNS", "ExternalDNS"})
IP_ADDRESS_TYPES = frozenset({"InternalIP", "ExternalIP"})

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class NodeAddress:
    """One entry of a Node's status.addresses."""

    type: str
    address: str


def must_match_node_addresses(record: RequestRecord, policy: Policy) -> bool:
    """Whether the worker must find every SAN among the requesting node's addresses before approving: an automatic
    approval for a signer whose policy says `sans.matchNodeAddresses`."""
    rules = policy.rules_for(record.request.signer_name or "")
    return record.state is State.AUTO_APPROVED and rules is not None and rules.sans.match_node_addresses


def node_name(username: str) -> str | None:
    """The node a `system:node:<name>` user is, or None for anyone else."""
    name = username.removeprefix(NODE_USERNAME_PREFIX)
    return name if username.startswith(NODE_USERNAME_PREFIX) and name else None


def node_address_findings(
    request: RequestSummary, node: str | None, addresses: Sequence[NodeAddress] | None
) -> tuple[Finding, ...]:
    """What keeps the request's DNS and IP SANs from being the node's own: nothing when every one is listed.

    `addresses` is None when the cluster has no such Node."""
    dns_names, ips = list(request.dns_names), list(request.ip_addresses)
    return tuple(_findings(request.username or "", node, addresses, dns_names, ips))


def _findings(
    username: str, node: str | None, addresses: Sequence[NodeAddress] | None, dns_names: list[str], ips: list[str]
) -> Iterator[Finding]:
    if node is None:
        yield error(
            Code.SAN_NOT_ALLOWED,
            f"the requester {username} is not a node (system:node:<name>), so its SANs cannot be checked against "
            "a Node object",
        )
        return
    if addresses is None:
        for san in [*(f"DNS name {name}" for name in dns_names), *(f"IP address {ip}" for ip in ips)]:
            yield error(Code.SAN_NOT_ALLOWED, f"the {san} cannot be checked: the cluster has no Node object {node}")
        return
    listed_names, listed_ips = _hostnames_and_ips(addresses)
    for name in dns_names:
        if name.lower() not in listed_names:
            yield error(Code.SAN_NOT_ALLOWED, f"the DNS name {name} is not among {node}'s addresses in its Node object")
    for ip in ips:
        if _ip(ip) not in listed_ips:
            yield error(Code.SAN_NOT_ALLOWED, f"the IP address {ip} is not among {node}'s addresses in its Node object")


def _hostnames_and_ips(addresses: Sequence[NodeAddress]) -> tuple[set[str], set[IpAddress]]:
    """The DNS names and IP addresses the kubelet would put in its serving certificate (addressesToHostnamesAndIPs)."""
    names: set[str] = set()
    ips: set[IpAddress] = set()
    for entry in addresses:
        if not entry.address:
            continue
        parsed = _ip(entry.address)
        if entry.type in IP_ADDRESS_TYPES or (entry.type == "Hostname" and parsed is not None):
            if parsed is not None:
                ips.add(parsed)
        elif entry.type in DNS_ADDRESS_TYPES:
            names.add(entry.address.lower())  # DNS names compare without regard to case
    return names, ips


def _ip(text: str) -> IpAddress | None:
    """An address as Go's net.IP compares it: an IPv4-mapped IPv6 address equals its IPv4 address."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
