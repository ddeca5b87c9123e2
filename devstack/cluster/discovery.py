"""API discovery (`/api`, `/apis`, group and version documents) and `/version`.

These are the legacy discovery documents; kubectl asks for aggregated discovery first and, answered with a
plain `application/json` APIGroupList, reads these instead (as it does against any server without it).
"""

from __future__ import annotations

from typing import Any

VERSION = {"major": "1", "minor": "37", "gitVersion": "v1.37.0+csrgate-dev"}
GROUPS = ("certificates.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "rbac.authorization.k8s.io")
_OBJECT_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_SUBRESOURCE_VERBS = ["get", "patch", "update"]


def version_info() -> dict[str, Any]:
    """What /version answers (kubectl version prints gitVersion)."""
    return {
        "major": VERSION["major"],
        "minor": VERSION["minor"],
        "emulationMajor": VERSION["major"],
        "emulationMinor": VERSION["minor"],
        "minCompatibilityMajor": VERSION["major"],
        "minCompatibilityMinor": str(int(VERSION["minor"]) - 1),
        "gitVersion": VERSION["gitVersion"],
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "2026-11-01T00:00:00Z",
        "goVersion": "n/a (csrgate devstack)",
        "compiler": "n/a",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    """/api: the core group's one version, v1 (for nodes)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def core_resources() -> dict[str, Any]:
    """/api/v1: nodes (cluster-scoped, short name `no`) and their status, namespaces (`ns`), configmaps (`cm`) and
    events (`ev`)."""
    resources = [
        {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
         "verbs": _OBJECT_VERBS, "shortNames": ["cm"]},
        {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event", "verbs": _OBJECT_VERBS,
         "shortNames": ["ev"]},
        {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["ns"]},
        {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node", "verbs": _OBJECT_VERBS,
         "shortNames": ["no"]},
        {"name": "nodes/status", "singularName": "", "namespaced": False, "kind": "Node",
         "verbs": _SUBRESOURCE_VERBS},
    ]  # fmt: skip
    return {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}


def api_group(name: str) -> dict[str, Any]:
    """/apis/{group}."""
    version = {"groupVersion": f"{name}/v1", "version": "v1"}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": [version], "preferredVersion": version}


def api_group_list() -> dict[str, Any]:
    """/apis."""
    groups = [api_group(name) for name in GROUPS]
    for group in groups:
        del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resources(group: str) -> dict[str, Any] | None:
    """/apis/{group}/v1, or None for a group this cluster does not serve."""
    if group == "certificates.k8s.io":
        kind = "CertificateSigningRequest"
        resources = [
            {
                "name": "certificatesigningrequests",
                "singularName": "certificatesigningrequest",
                "namespaced": False,
                "kind": kind,
                "verbs": _OBJECT_VERBS,
                "shortNames": ["csr"],
            },
            {"name": "certificatesigningrequests/approval", "singularName": "", "namespaced": False, "kind": kind,
             "verbs": _SUBRESOURCE_VERBS},
            {"name": "certificatesigningrequests/status", "singularName": "", "namespaced": False, "kind": kind,
             "verbs": _SUBRESOURCE_VERBS},
        ]  # fmt: skip
    elif group == "authentication.k8s.io":
        resources = [
            {
                "name": "selfsubjectreviews",
                "singularName": "selfsubjectreview",
                "namespaced": False,
                "kind": "SelfSubjectReview",
                "verbs": ["create"],
            }
        ]
    elif group == "authorization.k8s.io":
        resources = [
            {"name": name, "singularName": name[:-1], "namespaced": False, "kind": kind, "verbs": ["create"]}
            for name, kind in (
                ("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
                ("selfsubjectrulesreviews", "SelfSubjectRulesReview"),
            )
        ]
    elif group == "rbac.authorization.k8s.io":
        resources = [
            {"name": name, "singularName": name[:-1], "namespaced": namespaced, "kind": kind, "verbs": _OBJECT_VERBS}
            for name, kind, namespaced in (
                ("clusterrolebindings", "ClusterRoleBinding", False),
                ("clusterroles", "ClusterRole", False),
                ("rolebindings", "RoleBinding", True),
                ("roles", "Role", True),
            )
        ]
    else:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/v1", "resources": resources}
