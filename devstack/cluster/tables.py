"""Server-side printing: the Table kubectl asks for with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.

Columns and cells follow kubernetes pkg/printers/internalversion's printCertificateSigningRequest, printNode,
printNamespace, printConfigMap, printEvent, printRole, printClusterRole, printRoleBinding and printClusterRoleBinding
(the server prints the wide columns too; kubectl shows those of priority 1 only with `-o wide`), durations follow
apimachinery's util/duration (ShortHumanDuration for AGE, HumanDuration for REQUESTEDDURATION).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

CSR_COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace."},
    {"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing "
     "the server time when this object was created."},
    {"name": "SignerName", "type": "string", "format": "", "description": "Requested signer for the request."},
    {"name": "Requestor", "type": "string", "format": "", "description": "Name of the user who created the request."},
    {"name": "RequestedDuration", "type": "string", "format": "", "description": "Requested duration of validity "
     "of the issued certificate."},
    {"name": "Condition", "type": "string", "format": "", "description": "Conditions applied to the request."},
]  # fmt: skip


_UNKNOWN = "<unknown>"
_ADDRESSES = "List of addresses reachable to the node."
NODE_COLUMNS: list[dict[str, Any]] = [
    {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace."},
    {"name": "Status", "type": "string", "format": "", "description": "The status of the node"},
    {"name": "Roles", "type": "string", "format": "", "description": "The roles of the node"},
    {"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing "
     "the server time when this object was created."},
    {"name": "Version", "type": "string", "format": "", "description": "Kubelet Version reported by the node."},
    {"name": "Internal-IP", "type": "string", "format": "", "priority": 1, "description": _ADDRESSES},
    {"name": "External-IP", "type": "string", "format": "", "priority": 1, "description": _ADDRESSES},
    {"name": "OS-Image", "type": "string", "format": "", "priority": 1, "description": "OS Image reported by the "
     "node."},
    {"name": "Kernel-Version", "type": "string", "format": "", "priority": 1, "description": "Kernel Version "
     "reported by the node."},
    {"name": "Container-Runtime", "type": "string", "format": "", "priority": 1, "description": "ContainerRuntime "
     "Version reported by the node."},
]  # fmt: skip
_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
_NODE_ROLE_LABEL = "kubernetes.io/role"


def csr_table(items: list[dict[str, Any]], resource_version: str, include_object: str, now: datetime) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of CSRs; rows carry the object as PartialObjectMetadata unless asked otherwise."""
    return _table(CSR_COLUMNS, [(_csr_cells(item, now), item) for item in items], resource_version, include_object)


def node_table(
    items: list[dict[str, Any]], resource_version: str, include_object: str, now: datetime
) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of Nodes, as `kubectl get nodes` prints it."""
    return _table(NODE_COLUMNS, [(_node_cells(item, now), item) for item in items], resource_version, include_object)


def _column(name: str, description: str, priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": "string", "format": "name" if name == "Name" else ""}
    if priority:
        column["priority"] = priority
    column["description"] = description
    return column


_NAME = _column("Name", "Name must be unique within a namespace.")
_AGE = _column("Age", "CreationTimestamp is a timestamp representing the server time when this object was created.")
NAMESPACE_COLUMNS = [_NAME, _column("Status", "The status of the namespace"), _AGE]
CONFIG_MAP_COLUMNS = [_NAME, _column("Data", "Data contains the configuration data."), _AGE]
ROLE_COLUMNS = [_NAME, _column("Created At", "Time is the time the object was created.")]
BINDING_COLUMNS = [
    _NAME,
    _column("Role", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
    _AGE,
    _column("Users", "Users in the roleBinding", 1),
    _column("Groups", "Groups in the roleBinding", 1),
    _column("ServiceAccounts", "ServiceAccounts in the roleBinding", 1),
]


def namespace_table(items: list[dict[str, Any]], resource_version: str, include: str, now: datetime) -> dict[str, Any]:
    """NAME, STATUS, AGE."""
    rows = [([ns["metadata"]["name"], ns.get("status", {}).get("phase", ""), _age_of(ns, now)], ns) for ns in items]
    return _table(NAMESPACE_COLUMNS, rows, resource_version, include)


def config_map_table(items: list[dict[str, Any]], resource_version: str, include: str, now: datetime) -> dict[str, Any]:
    """NAME, DATA (how many keys), AGE."""
    rows = [
        ([cm["metadata"]["name"], len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), _age_of(cm, now)], cm)
        for cm in items
    ]
    return _table(CONFIG_MAP_COLUMNS, rows, resource_version, include)


EVENT_COLUMNS = [
    _column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    _column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    _column("Reason", "This should be a short, machine understandable string that gives the reason for the "
            "transition into the object's current status."),
    _column("Object", "The object that this event is about."),
    _column("Subobject", "If referring to a piece of an object instead of an entire object, this string should "
            "contain a valid JSON/Go field access statement.", 1),
    _column("Source", "The component reporting this event. Should be a short machine understandable string.", 1),
    _column("Message", "A human-readable description of the status of this operation."),
    _column("First Seen", "The time at which the event was first recorded. (Time of server receipt is in "
            "TypeMeta.)", 1),
    _column("Count", "The number of times this event has occurred.", 1),
    {**_column("Name", "Name must be unique within a namespace.", 1), "format": "name"},
]  # fmt: skip


def event_table(items: list[dict[str, Any]], resource_version: str, include: str, now: datetime) -> dict[str, Any]:
    """LAST SEEN, TYPE, REASON, OBJECT, MESSAGE, and wide SUBOBJECT, SOURCE, FIRST SEEN, COUNT, NAME."""
    return _table(EVENT_COLUMNS, [(_event_cells(item, now), item) for item in items], resource_version, include)


def _event_cells(event: dict[str, Any], now: datetime) -> list[Any]:
    """printEvent: times from eventTime when the legacy timestamps are unset, the count 1 for a singleton."""
    first = (
        _age(event["firstTimestamp"], now) if event.get("firstTimestamp") else _micro_age(event.get("eventTime"), now)
    )
    last = _age(event["lastTimestamp"], now) if event.get("lastTimestamp") else first
    count = event.get("count") or 1
    series = event.get("series")
    if series:
        last, count = _micro_age(series.get("lastObservedTime"), now), series.get("count") or 0
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent", "")
    instance = source.get("host") or event.get("reportingInstance", "")
    return [
        last,
        event.get("type", ""),
        event.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,  # formatEventSource
        event.get("message", "").strip(),
        first,
        count,
        event["metadata"]["name"],
    ]


def role_table(items: list[dict[str, Any]], resource_version: str, include: str, now: datetime) -> dict[str, Any]:
    """NAME, CREATED AT (Roles and ClusterRoles)."""
    rows = [([role["metadata"]["name"], role["metadata"].get("creationTimestamp", "")], role) for role in items]
    return _table(ROLE_COLUMNS, rows, resource_version, include)


def binding_table(items: list[dict[str, Any]], resource_version: str, include: str, now: datetime) -> dict[str, Any]:
    """NAME, ROLE (Kind/name), AGE, and wide USERS, GROUPS, SERVICEACCOUNTS (RoleBindings and ClusterRoleBindings)."""
    return _table(BINDING_COLUMNS, [(_binding_cells(item, now), item) for item in items], resource_version, include)


def _binding_cells(binding: dict[str, Any], now: datetime) -> list[Any]:
    role_ref = binding.get("roleRef") or {}
    subjects = binding.get("subjects") or []

    def named(kind: str) -> str:
        return ", ".join(
            f"{s.get('namespace', '')}/{s.get('name', '')}" if kind == "ServiceAccount" else s.get("name", "")
            for s in subjects
            if s.get("kind") == kind
        )

    return [
        binding["metadata"]["name"],
        f"{role_ref.get('kind', '')}/{role_ref.get('name', '')}",
        _age_of(binding, now),
        named("User"),
        named("Group"),
        named("ServiceAccount"),
    ]


def _age_of(obj: dict[str, Any], now: datetime) -> str:
    return _age(obj["metadata"].get("creationTimestamp"), now)


def _table(
    columns: list[dict[str, Any]], rows: list[tuple[list[Any], dict[str, Any]]], resource_version: str, include: str
) -> dict[str, Any]:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": [_row(cells, obj, include) for cells, obj in rows],
    }


def _csr_cells(csr: dict[str, Any], now: datetime) -> list[Any]:
    spec = csr.get("spec", {})
    seconds = spec.get("expirationSeconds")
    return [
        csr["metadata"]["name"],
        _age(csr["metadata"].get("creationTimestamp"), now),
        spec.get("signerName") or "<none>",
        spec.get("username", ""),
        human_duration(seconds) if seconds is not None else "<none>",
        condition_summary(csr),
    ]


def _node_cells(node: dict[str, Any], now: datetime) -> list[Any]:
    status = node.get("status", {})
    info = status.get("nodeInfo", {})
    return [
        node["metadata"]["name"],
        node_status(node),
        ",".join(node_roles(node)) or "<none>",
        _age(node["metadata"].get("creationTimestamp"), now),
        info.get("kubeletVersion", ""),
        _first_address(node, "InternalIP"),
        _first_address(node, "ExternalIP"),
        info.get("osImage") or _UNKNOWN,
        info.get("kernelVersion") or _UNKNOWN,
        info.get("containerRuntimeVersion") or _UNKNOWN,
    ]


def _row(cells: list[Any], obj: dict[str, Any], include_object: str) -> dict[str, Any]:
    """Rows carry the object as PartialObjectMetadata unless asked otherwise."""
    row: dict[str, Any] = {"cells": cells}
    if include_object == "Object":
        row["object"] = obj
    elif include_object != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
    return row


def node_status(node: dict[str, Any]) -> str:
    """The STATUS column: Ready, NotReady or Unknown (from the Ready condition), then SchedulingDisabled."""
    ready = next((c for c in node.get("status", {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    shown = ["Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"]
    if node.get("spec", {}).get("unschedulable"):
        shown.append("SchedulingDisabled")
    return ",".join(shown)


def node_roles(node: dict[str, Any]) -> list[str]:
    """The ROLES column's roles (findNodeRoles): node-role.kubernetes.io/<role> labels and kubernetes.io/role."""
    roles = set()
    for key, value in (node["metadata"].get("labels") or {}).items():
        if key.startswith(_NODE_ROLE_PREFIX) and key.removeprefix(_NODE_ROLE_PREFIX):
            roles.add(key.removeprefix(_NODE_ROLE_PREFIX))
        elif key == _NODE_ROLE_LABEL and value:
            roles.add(value)
    return sorted(roles)


def _first_address(node: dict[str, Any], kind: str) -> str:
    addresses = node.get("status", {}).get("addresses") or []
    return next((a.get("address", "") for a in addresses if a.get("type") == kind), "<none>")


def condition_summary(csr: dict[str, Any]) -> str:
    """The CONDITION column: Pending, Approved or Denied, then ,Failed and ,Issued (extractCSRStatus)."""
    kinds = {condition.get("type") for condition in csr.get("status", {}).get("conditions") or []}
    if "Denied" in kinds:
        summary = "Denied"
    elif "Approved" in kinds:
        summary = "Approved"
    else:
        summary = "Pending"
    if "Failed" in kinds:
        summary += ",Failed"
    if csr.get("status", {}).get("certificate"):
        summary += ",Issued"
    return summary


def _age(timestamp: str | None, now: datetime) -> str:
    if not timestamp:
        return "<unknown>"
    created = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return short_human_duration((now - created).total_seconds())


def _micro_age(timestamp: str | None, now: datetime) -> str:
    """TranslateMicroTimestampSince."""
    if not timestamp:
        return "<unknown>"
    observed = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return short_human_duration((now - observed).total_seconds())


def short_human_duration(seconds: float) -> str:
    """util/duration.ShortHumanDuration."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    hours = whole // 3600
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def human_duration(seconds: float) -> str:
    """util/duration.HumanDuration: about two or three significant figures."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"
