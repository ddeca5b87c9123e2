"""Nodes (core/v1), as far as csrgate needs them: objects whose `status.addresses` a kubelet's serving certificate
is checked against (pkg/registry/core/node/strategy.go and pkg/apis/core/validation's ValidateNode).

As upstream, a Node may be created with its status ("Nodes allow *all* fields, including status, to be set on
create"): an update through the main resource keeps the stored status, one through `status` keeps the spec and
metadata. No kubelet reports here and no node lifecycle controller runs, so a Node's status is whatever its
creator or a `status` update wrote, and it never goes NotReady on its own.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from devstack.cluster.auth import UserInfo
from devstack.cluster.registry import FieldErrors, Registry
from devstack.cluster.schema import NODE, NODE_SYSTEM_INFO
from devstack.cluster.status import NODES, invalid, required
from devstack.cluster.strategy import MAIN, STATUS, metadata_for_create, metadata_for_update

API_VERSION, KIND = "v1", "Node"
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_SUBDOMAIN_PROBLEM = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_MAX_NAME_LENGTH = 253


class NodeRegistry(Registry):
    """nodes: cluster-scoped, status settable on create and through `status`."""

    resource = NODES
    message = NODE

    def prepare_for_create(self, body: dict[str, Any], user: UserInfo, uid: str, now: str) -> dict[str, Any]:
        """The generic registry's metadata; spec and status as given."""
        prepared = copy.deepcopy(body)
        prepared["metadata"] = metadata_for_create(body, uid, now)
        return _complete(prepared)

    def prepare_for_update(
        self, new: dict[str, Any], old: dict[str, Any], subresource: str, now: str
    ) -> dict[str, Any]:
        """Main resource: metadata and spec from the update, status kept. `status`: only the status changes."""
        if subresource == STATUS:
            prepared = copy.deepcopy(old)
            prepared["status"] = copy.deepcopy(new.get("status") or {})
        else:
            assert subresource == MAIN
            prepared = copy.deepcopy(new)
            prepared["metadata"] = metadata_for_update(new, old)
            prepared["status"] = copy.deepcopy(old.get("status") or {})
        return _complete(prepared)

    def validate(self, obj: dict[str, Any]) -> FieldErrors:
        """ValidateNode, as far as this server reads Nodes: the name (ValidateNodeName, a DNS subdomain)."""
        name = obj.get("metadata", {}).get("name", "")
        if not name:
            return [required("metadata.name", "name or generateName is required")]
        errors = []
        if len(name) > _MAX_NAME_LENGTH:
            errors.append(invalid("metadata.name", name, f"must be no more than {_MAX_NAME_LENGTH} characters"))
        if not _DNS_SUBDOMAIN.fullmatch(name):
            errors.append(invalid("metadata.name", name, _DNS_SUBDOMAIN_PROBLEM))
        return errors


def _complete(node: dict[str, Any]) -> dict[str, Any]:
    """A Node as Go writes it: spec, status and status.nodeInfo are structs, there even when empty, and the string
    fields without omitempty (every nodeInfo field; an address's type and address; a condition's type and status;
    a taint's key and effect) are "" rather than missing. The Python client refuses a nodeInfo without them."""
    node["apiVersion"], node["kind"] = API_VERSION, KIND
    spec = node["spec"] = node.get("spec") or {}
    status = node["status"] = node.get("status") or {}
    status["nodeInfo"] = {field.name: "" for field in NODE_SYSTEM_INFO.fields} | (status.get("nodeInfo") or {})
    for key, fields in (("addresses", ("type", "address")), ("conditions", ("type", "status"))):
        if key in status:
            status[key] = [dict.fromkeys(fields, "") | entry for entry in status[key]]
    if "taints" in spec:
        spec["taints"] = [dict.fromkeys(("key", "effect"), "") | entry for entry in spec["taints"]]
    return node


def node_manifest(
    name: str, addresses: Sequence[tuple[str, str]], *, ready: bool = True, labels: Mapping[str, str] | None = None
) -> str:
    """A Node as an admin writes one for this cluster, its status included since no kubelet registers it:
    `addresses` as (type, address) pairs, such as ("InternalIP", "10.0.0.5") and ("Hostname", "node-1")."""
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    status = {
        "addresses": [{"type": kind, "address": address} for kind, address in addresses],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "nodeInfo": {"kubeletVersion": "v1.37.0"},
    }
    return yaml.safe_dump({"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "status": status})
