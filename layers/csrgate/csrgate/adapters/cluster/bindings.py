"""Time-boxed access as RBAC bindings: the RoleBinding (or ClusterRoleBinding) a grant is, made, listed and removed in
a cluster, as `kubectl create rolebinding` and `kubectl delete rolebinding` would.

A binding is the grant's when it carries the grant's label (csrgate.domain.grants); csrgate never changes or deletes
one that is not, whatever its name. What comes back is a domain value (Binding), never a Kubernetes client object.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from kubernetes.client import (
    RbacAuthorizationV1Api,
    V1ClusterRoleBinding,
    V1DeleteOptions,
    V1Preconditions,
    V1RoleBinding,
)
from kubernetes.client.exceptions import ApiException

from csrgate.adapters.cluster.connections import ClusterConnection
from csrgate.adapters.cluster.csrs import MAX_CONFLICT_RETRIES, REQUEST_TIMEOUT
from csrgate.adapters.cluster.errors import from_kubernetes, translated
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.grants import GRANT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, Binding
from csrgate.domain.kubeconfig import ClusterEndpoint
from csrgate.domain.ports import Conflict

RBAC_GROUP = "rbac.authorization.k8s.io"

Found: TypeAlias = V1RoleBinding | V1ClusterRoleBinding


class KubernetesBindings:
    """RBAC bindings on one cluster (the worker needs create, get, list and delete on rolebindings and
    clusterrolebindings, and `bind` on each ClusterRole it grants)."""

    def __init__(self, connection: ClusterConnection, request_timeout: tuple[float, float] = REQUEST_TIMEOUT) -> None:
        self._connection = connection
        self._timeout = request_timeout

    def bind(self, binding: Binding) -> None:
        """Create the binding; done already when it exists for this grant, Conflict when it is anything else."""
        with translated(f"creating {_named(binding)}"):
            try:
                self._create(binding)
                return
            except ApiException as exc:
                if exc.status == 403:  # RBAC: no `bind` on the role nor all it grants (escalation), or no `create`
                    doing = (
                        f"the cluster refused to let csrgate bind ClusterRole {binding.cluster_role} to "
                        f"{binding.username} in {binding.where}"
                    )
                    raise PermanentFailure(" ".join(str(from_kubernetes(exc, doing)).split())) from exc
                if exc.status == 404 and binding.namespace:  # NamespaceLifecycle admission
                    raise PermanentFailure(
                        f"namespace {binding.namespace} does not exist: csrgate cannot bind ClusterRole "
                        f"{binding.cluster_role} to {binding.username} there"
                    ) from exc
                if exc.status != 409:
                    raise
        found = self._read(binding)
        if found is None:
            raise RetryLater(f"{_named(binding)} existed and is gone: bind again")
        if not _is_for(found, binding):
            raise Conflict(
                f"{_named(binding)} exists and is not grant {binding.grant_id}'s binding of ClusterRole "
                f"{binding.cluster_role} to {binding.username}: csrgate leaves it as it is"
            )

    def unbind(self, binding: Binding) -> bool:
        """Delete the binding if it is there and is the grant's; False when there is none to delete."""
        for _ in range(MAX_CONFLICT_RETRIES + 1):
            found = self._read(binding)
            # Never delete what is not this grant's: a binding of that name made by hand or for another grant is
            # someone's access, and csrgate removes only the access it gave. One labelled as csrgate's naming no
            # grant (the sweeper's orphan) is removed only while it is still so labelled.
            if found is None or not _is_of_grant(found, binding.grant_id):
                return False
            answered = self._delete(binding, found.metadata.uid, found.metadata.resource_version)
            if answered != 409:
                return answered == 200
            # replaced or changed since it was read (the preconditions failed): read again and judge again
        raise RetryLater(f"{_named(binding)} kept changing while being deleted ({MAX_CONFLICT_RETRIES + 1} conflicts)")

    def managed(self) -> tuple[Binding, ...]:
        """Every RoleBinding (in all namespaces) and ClusterRoleBinding labelled as csrgate's."""
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        api = self._api()
        with translated("listing csrgate's bindings"):
            namespaced = api.list_role_binding_for_all_namespaces(
                label_selector=selector, _request_timeout=self._timeout
            )
            cluster_wide = api.list_cluster_role_binding(label_selector=selector, _request_timeout=self._timeout)
        return tuple(_binding(item) for item in [*namespaced.items, *cluster_wide.items])

    def endpoint(self) -> ClusterEndpoint:
        """The cluster's server and CA, for the requester's kubeconfig."""
        return self._connection.endpoint()

    def _api(self) -> RbacAuthorizationV1Api:
        return RbacAuthorizationV1Api(self._connection.api_client())

    def _create(self, binding: Binding) -> None:
        body = {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": binding.kind,
            "metadata": {"name": binding.name, "labels": binding.labels, "annotations": dict(binding.annotations)},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": binding.cluster_role},
            "subjects": [{"kind": "User", "apiGroup": RBAC_GROUP, "name": binding.username}],
        }
        if binding.namespace:
            self._api().create_namespaced_role_binding(binding.namespace, body, _request_timeout=self._timeout)
        else:
            self._api().create_cluster_role_binding(body, _request_timeout=self._timeout)

    def _read(self, binding: Binding) -> Found | None:
        with translated(f"reading {_named(binding)}"):
            try:
                if binding.namespace:
                    return self._api().read_namespaced_role_binding(
                        binding.name, binding.namespace, _request_timeout=self._timeout
                    )
                return self._api().read_cluster_role_binding(binding.name, _request_timeout=self._timeout)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

    def _delete(self, binding: Binding, uid: str, resource_version: str) -> int:
        """Delete the object read as `uid` at `resource_version`: 200, or 404 / 409 for the caller to act on."""
        options = V1DeleteOptions(preconditions=V1Preconditions(uid=uid, resource_version=resource_version))
        with translated(f"deleting {_named(binding)}"):
            try:
                if binding.namespace:
                    self._api().delete_namespaced_role_binding(
                        binding.name, binding.namespace, body=options, _request_timeout=self._timeout
                    )
                else:
                    self._api().delete_cluster_role_binding(binding.name, body=options, _request_timeout=self._timeout)
            except ApiException as exc:
                if exc.status in (404, 409):
                    return int(exc.status)
                raise
        return 200


def _named(binding: Binding) -> str:
    """'RoleBinding csrgate-dana-1f2e3d4c in namespace payments', or 'ClusterRoleBinding csrgate-dana-1f2e3d4c'."""
    where = f" in namespace {binding.namespace}" if binding.namespace else ""
    return f"{binding.kind} {binding.name}{where}"


def _grant_of(found: Found) -> str | None:
    return (found.metadata.labels or {}).get(GRANT_LABEL)


def _is_of_grant(found: Found, grant_id: str) -> bool:
    labels = found.metadata.labels or {}
    if grant_id:
        return labels.get(GRANT_LABEL) == grant_id
    return GRANT_LABEL not in labels and labels.get(MANAGED_BY_LABEL) == MANAGED_BY


def _subjects(found: Found) -> list[tuple[Any, ...]]:
    return [(each.kind, each.api_group, each.name, each.namespace) for each in found.subjects or []]


def _is_for(found: Found, binding: Binding) -> bool:
    """Whether the binding in the cluster is this grant's: its label, role and user. Not its annotations: a retry of the
    same grant stamps another end time."""
    role = found.role_ref
    return (
        _grant_of(found) == binding.grant_id
        and (role.api_group, role.kind, role.name) == (RBAC_GROUP, "ClusterRole", binding.cluster_role)
        and _subjects(found) == [("User", RBAC_GROUP, binding.username, None)]
    )


def _binding(found: Found) -> Binding:
    """A binding as found: '' for a grant it does not name, and for a user unless its subjects are exactly one User
    (one with a group added is no grant's binding any more); annotations in key order (a map has none)."""
    subjects = _subjects(found)
    only_user = len(subjects) == 1 and subjects[0][:2] == ("User", RBAC_GROUP) and subjects[0][3] is None
    role = found.role_ref
    return Binding(
        name=found.metadata.name,
        namespace=found.metadata.namespace or None,
        cluster_role=role.name if (role.api_group, role.kind) == (RBAC_GROUP, "ClusterRole") else "",
        username=str(subjects[0][2]) if only_user else "",
        grant_id=_grant_of(found) or "",
        annotations=tuple(sorted((found.metadata.annotations or {}).items())),
    )
