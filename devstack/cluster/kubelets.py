"""A node group joining the dev cluster, as its kubelets do: each node's client certificate from the dev cluster's CA
(CN system:node:<name>, O system:nodes: what TLS bootstrap leaves a kubelet with), the Node object with the addresses
it registers, and the serving certificate request it makes from those addresses (pkg/kubelet/certificate/kubelet.go).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack.cluster.auth import NODE_USER_PREFIX, NODES_GROUP
from devstack.cluster.kubeconfigs import write_node_kubeconfig
from devstack.cluster.nodes import node_manifest
from devstack.cluster.signer import KUBELET_SERVING
from devstack.csrs import make_csr, manifest

# What the kubelet asks for with its ECDSA P-256 key (kubeletServingUsagesNoEncipherment; RSA keys add key encipherment)
SERVING_USAGES = ("digital signature", "server auth")
_DNS_TYPES = frozenset({"InternalDNS", "ExternalDNS"})
_IP_TYPES = frozenset({"InternalIP", "ExternalIP"})


@dataclass(frozen=True)
class Kubelet:
    """One node's kubelet: its node's name and addresses, and the kubeconfig it reaches the API server with."""

    name: str
    addresses: tuple[tuple[str, str], ...]  # (type, address), as in the Node's status.addresses
    kubeconfig: Path

    @property
    def username(self) -> str:
        """Who the API server knows it as: system:node:<name>."""
        return NODE_USER_PREFIX + self.name

    def node(self) -> dict[str, Any]:
        """Its Node object, Ready and with its addresses, as its registration and first status report leave it."""
        return dict(yaml.safe_load(node_manifest(self.name, self.addresses)))

    def serving_csr(self, csr_name: str) -> dict[str, Any]:
        """The CertificateSigningRequest it makes for its serving certificate: CN system:node:<name>, O system:nodes,
        its Node's addresses as SANs, an ECDSA P-256 key, signer kubernetes.io/kubelet-serving, no expirationSeconds
        (the kubelet names it from generateName `csr-`; here the caller names it)."""
        dns_names, ips = serving_names(self.addresses)
        pem = make_csr(self.username, orgs=[NODES_GROUP], dns=dns_names, ips=ips, key="p256")
        document = manifest(pem, signer=KUBELET_SERVING, usages=SERVING_USAGES, expiration_seconds=None, name=csr_name)
        return dict(yaml.safe_load(document))


def serving_names(addresses: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """The DNS names and IP addresses a kubelet puts in its serving certificate (addressesToHostnamesAndIPs):
    Hostname as an IP when it parses as one, else as a DNS name; InternalDNS and ExternalDNS as DNS names; InternalIP
    and ExternalIP as IPs when they parse; each once, in the order listed."""
    dns_names: list[str] = []
    ips: list[str] = []
    for kind, address in addresses:
        if not address:
            continue
        try:
            ip: str | None = str(ipaddress.ip_address(address))
        except ValueError:
            ip = None
        if (kind == "Hostname" and ip is not None) or kind in _IP_TYPES:
            if ip is not None and ip not in ips:
                ips.append(ip)
        elif (kind == "Hostname" or kind in _DNS_TYPES) and address not in dns_names:
            dns_names.append(address)
    return dns_names, ips


def node_group(
    data_dir: Path,
    server: str,
    size: int,
    *,
    prefix: str = "node",
    subnet: str = "10.64.0.0/16",
    now: datetime.datetime | None = None,
) -> list[Kubelet]:
    """`size` kubelets named <prefix>-<n> (n from 1, zero-padded to one width), each with the next address of `subnet`
    as its InternalIP and its name as its Hostname, and a kubeconfig for `server` minted from the CA the dev cluster
    keeps in `data_dir` (written to DIR/nodes/<name>.kubeconfig). Their Node objects are not created here."""
    hosts = ipaddress.ip_network(subnet).hosts()
    width = len(str(size))
    kubelets = []
    for number in range(1, size + 1):
        address = next(hosts, None)
        if address is None:
            raise ValueError(f"{subnet} has fewer than {size} addresses for a node group")
        name = f"{prefix}-{number:0{width}d}"
        kubeconfig = write_node_kubeconfig(data_dir, server, name, now)
        kubelets.append(Kubelet(name, (("InternalIP", str(address)), ("Hostname", name)), kubeconfig))
    return kubelets
