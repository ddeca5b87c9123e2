"""The RBAC objects the dev cluster starts with, as kube-apiserver's bootstrap policy creates its own
(plugin/pkg/auth/authorizer/rbac/bootstrappolicy): the user-facing ClusterRoles (`cluster-admin`, `admin`, `edit`,
`view`), the system roles discovery and `kubectl auth` need, and the roles of the dev cluster's own identities
(csrgate's approver, nodes, the `ci` service accounts), each bound to its group by a ClusterRoleBinding.

They are reconciled at every start, as the API server's auto-reconciliation does: a missing or changed built-in is
written back, so a restart on an old data directory always has them as documented here.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from devstack.cluster.auth import (
    APPROVERS_GROUP,
    AUTHENTICATED,
    AUTHENTICATION_GROUP,
    CERTIFICATES_GROUP,
    CI_SERVICE_ACCOUNTS_GROUP,
    MASTERS,
    NODES_GROUP,
    Rule,
    UserInfo,
    rule,
)
from devstack.cluster.registry import Registry
from devstack.cluster.status import RBAC_GROUP

AUTHORIZATION_GROUP = "authorization.k8s.io"
BOOTSTRAPPING_LABEL = "kubernetes.io/bootstrapping"
AUTOUPDATE_ANNOTATION = "rbac.authorization.kubernetes.io/autoupdate"
SELF_RENEWAL_BINDING = "csrgate:self-renewal"
# kube-apiserver's loopback client, in system:masters, which writes the bootstrap policy.
_APISERVER = UserInfo("system:apiserver", (MASTERS, "system:authenticated"))
# Namespaces a fresh cluster has; `default` is where kubectl works when no namespace is given.
NAMESPACES = ("default", "kube-public", "kube-system")

DISCOVERY = rule("get", urls="/api /api/* /apis /apis/* /openapi /openapi/* /version /version/ /healthz /livez /readyz")
BASIC_USER = (
    rule("create", AUTHENTICATION_GROUP, "selfsubjectreviews"),
    rule("create", AUTHORIZATION_GROUP, "selfsubjectaccessreviews selfsubjectrulesreviews"),
)
CSR_REQUESTER = (rule("create get list watch", CERTIFICATES_GROUP, "certificatesigningrequests"),)
APPROVER = (
    # csrgate's worker: it also creates the CSRs of certificates asked for in Slack, on the asker's behalf.
    rule("create get list watch", CERTIFICATES_GROUP, "certificatesigningrequests"),
    rule("update", CERTIFICATES_GROUP, "certificatesigningrequests/approval"),
    # As the docs' RBAC example for approvers: `approve` on the signers (here every signer).
    rule("approve", CERTIFICATES_GROUP, "signers"),
    # Before approving a kubelet's serving certificate on its own, csrgate checks the SANs against the Node.
    rule("get", "core", "nodes"),
    # Time-boxed access: the worker binds `view` or `edit` and removes the binding when the time is up. `bind` by
    # name is what lets it grant exactly these two roles without holding their permissions itself.
    rule("create get list delete", RBAC_GROUP, "rolebindings clusterrolebindings"),
    rule("bind", RBAC_GROUP, "clusterroles", names="view edit"),
    # `kubectl describe csr` shows where a request stands: the Events the worker writes on the CSR.
    rule("create", "core", "events"),
)

# The aggregated user-facing roles, abridged to the resources of the core group (bootstrappolicy's view, edit and
# admin list apps, batch, autoscaling, ... too, which this cluster does not serve).
_READ = "get list watch"
_WRITE = "create delete deletecollection patch update"
_VIEWED = (
    "configmaps endpoints events limitranges persistentvolumeclaims pods pods/log pods/status replicationcontrollers "
    "resourcequotas serviceaccounts services"
)
_EDITED = "configmaps endpoints persistentvolumeclaims pods replicationcontrollers secrets serviceaccounts services"
VIEW = (rule(_READ, "core", _VIEWED), rule(_READ, "core", "namespaces namespaces/status"))
EDIT = (*VIEW, rule(_WRITE, "core", _EDITED), rule(_READ, "core", "secrets"))
ADMIN = (
    *EDIT,
    rule(f"{_WRITE} {_READ}", RBAC_GROUP, "roles rolebindings"),
    rule("create", AUTHORIZATION_GROUP, "localsubjectaccessreviews"),
)


def cluster_roles() -> list[dict[str, Any]]:
    """The built-in ClusterRoles."""
    return [
        _cluster_role("cluster-admin", (rule("*", "*", "*"), rule("*", urls="*"))),
        _cluster_role("admin", ADMIN),
        _cluster_role("edit", EDIT),
        _cluster_role("view", VIEW),
        _cluster_role("system:discovery", (DISCOVERY,)),
        _cluster_role("system:basic-user", BASIC_USER),
        # What the system:node role lets kubelets do with CSRs: ask for their certificates and follow them.
        _cluster_role("system:node", CSR_REQUESTER),
        _cluster_role("csrgate:approver", APPROVER),
        _cluster_role("csrgate:certificate-requester", CSR_REQUESTER),
    ]


def cluster_role_bindings(*, self_renewal: bool = False) -> list[dict[str, Any]]:
    """The built-in ClusterRoleBindings; with `self_renewal`, every authenticated user may create CSRs, as on a
    cluster that lets people renew their own certificates."""
    bindings = [
        _binding("cluster-admin", "cluster-admin", MASTERS),
        _binding("system:discovery", "system:discovery", AUTHENTICATED),
        _binding("system:basic-user", "system:basic-user", AUTHENTICATED),
        _binding("system:node", "system:node", NODES_GROUP),
        _binding("csrgate:approver", "csrgate:approver", APPROVERS_GROUP),
        # The service accounts of namespace `ci` may ask for certificates, as a binding would let a CI job.
        _binding("csrgate:ci-certificate-requesters", "csrgate:certificate-requester", CI_SERVICE_ACCOUNTS_GROUP),
    ]
    if self_renewal:
        bindings.append(_binding(SELF_RENEWAL_BINDING, "csrgate:certificate-requester", AUTHENTICATED))
    return bindings


def namespace(name: str) -> dict[str, Any]:
    """A Namespace as a fresh cluster has it."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _metadata(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {BOOTSTRAPPING_LABEL: "rbac-defaults"},
        "annotations": {AUTOUPDATE_ANNOTATION: "true"},
    }


def _cluster_role(name: str, rules: Sequence[Rule]) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": _metadata(name),
        "rules": [each.as_policy() for each in rules],
    }


def _binding(name: str, role: str, group: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _metadata(name),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": group}],
    }


def reconcile(registry: Registry, wanted: Sequence[dict[str, Any]], unwanted: Sequence[str] = ()) -> None:
    """Create the built-ins that are missing, put back the ones that were changed, remove the `unwanted` ones; the
    API server's own loopback identity writes them, so no escalation check applies."""
    for obj in wanted:
        name = obj["metadata"]["name"]
        current = registry.store.get(registry.key(name))
        if current is None:
            registry.create(copy.deepcopy(obj), _APISERVER)
        elif any(current.get(key) != obj.get(key) for key in ("rules", "roleRef", "subjects")):
            registry.update(name, {**copy.deepcopy(current), **copy.deepcopy(obj)}, _APISERVER)
    for name in unwanted:
        if registry.store.get(registry.key(name)) is not None:
            registry.delete(name, {})
