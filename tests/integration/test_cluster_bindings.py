"""The binding adapter against the dev cluster, as csrgate's worker holds it (the approver identity): a grant's binding
gives the user access that kubectl sees and takes it away again; it never touches a binding that is not the grant's,
and the cluster's refusals (a role csrgate may not bind, a namespace that does not exist) are told apart.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cluster_access import namespace_of_its_own, person, unique
from kubernetes.client import RbacAuthorizationV1Api

from csrgate.adapters.cluster import TokenConnection
from csrgate.adapters.cluster.bindings import KubernetesBindings
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.grants import (
    APPROVERS_ANNOTATION,
    ENDS_ANNOTATION,
    GRANT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    REASON_ANNOTATION,
    REQUESTER_ANNOTATION,
    Binding,
    binding_name_for,
)
from csrgate.domain.kubeconfig import ClusterEndpoint
from csrgate.domain.ports import Conflict
from devstack.cluster import DevCluster
from devstack.harness import Kubectl, kubeconfig_connection

RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
def worker(dev_cluster: DevCluster) -> KubernetesBindings:
    """The adapter as csrgate's worker runs it: the approver identity, which may `bind` only view and edit."""
    return KubernetesBindings(kubeconfig_connection(dev_cluster.approver_kubeconfig))


@pytest.fixture
def admin(dev_cluster: DevCluster) -> RbacAuthorizationV1Api:
    """The cluster admin, through the official Python client (who makes bindings by hand here)."""
    return RbacAuthorizationV1Api(kubeconfig_connection(dev_cluster.admin_kubeconfig).api_client())


@pytest.fixture
def payments(kubectl: Kubectl) -> Iterator[str]:
    """A namespace of the test's own."""
    yield from namespace_of_its_own(kubectl, "payments")


@pytest.fixture
def team_a(kubectl: Kubectl) -> Iterator[str]:
    """A second namespace of the test's own."""
    yield from namespace_of_its_own(kubectl, "team-a")


@pytest.fixture
def dana(dev_cluster: DevCluster) -> tuple[str, Path]:
    """A person with a client certificate from the cluster CA, and no binding yet."""
    return person(dev_cluster, "dana")


def grant_binding(username: str, namespace: str | None, cluster_role: str = "edit") -> Binding:
    """The binding a grant approved in Slack asks for, annotated as csrgate annotates it."""
    grant_id = str(uuid.uuid4())
    return Binding(
        name=binding_name_for(username, grant_id),
        namespace=namespace,
        cluster_role=cluster_role,
        username=username,
        grant_id=grant_id,
        annotations=(
            (GRANT_LABEL, grant_id),
            (REQUESTER_ANNOTATION, "dana (U0DANA) <dana@example.com>"),
            (APPROVERS_ANNOTATION, "alice"),
            (REASON_ANNOTATION, "INC-1234: restart the payments workers"),
            (ENDS_ANNOTATION, "2030-01-01T12:00:00+00:00"),
        ),
    )


def can_i(kubectl: Kubectl, kubeconfig: Path, *question: str) -> str:
    return kubectl("auth", "can-i", *question, kubeconfig=kubeconfig, check=False).stdout.strip()


def get_binding(kubectl: Kubectl, binding: Binding) -> dict[str, Any] | None:
    """The binding as `kubectl get -o json` prints it, or None when kubectl finds none."""
    where = ["rolebinding", "-n", binding.namespace] if binding.namespace else ["clusterrolebinding"]
    found = kubectl("get", *where, binding.name, "-o", "json", check=False)
    if found.returncode != 0:
        assert "NotFound" in found.stderr, found.stderr
        return None
    document: dict[str, Any] = json.loads(found.stdout)
    return document


def test_a_grant_bound_in_a_namespace_lets_the_user_write_there_until_it_is_unbound(
    worker: KubernetesBindings, kubectl: Kubectl, payments: str, dana: tuple[str, Path]
) -> None:
    user, as_dana = dana
    binding = grant_binding(user, payments)
    # GIVEN dana, bound to nothing, may not create configmaps in payments
    assert can_i(kubectl, as_dana, "create", "configmaps", "-n", payments) == "no"

    # WHEN csrgate binds edit to her there
    worker.bind(binding)

    # THEN she may, and does; the binding says whose grant it is, who asked, who approved and until when
    assert can_i(kubectl, as_dana, "create", "configmaps", "-n", payments) == "yes"
    created = kubectl("create", "configmap", "cfg", "-n", payments, "--from-literal=a=b", kubeconfig=as_dana)
    assert created.stdout.strip() == "configmap/cfg created"
    assert can_i(kubectl, as_dana, "create", "configmaps", "-n", "default") == "no"
    found = get_binding(kubectl, binding)
    assert found is not None
    assert found["roleRef"] == {"apiGroup": RBAC, "kind": "ClusterRole", "name": "edit"}
    assert found["subjects"] == [{"apiGroup": RBAC, "kind": "User", "name": user}]
    assert found["metadata"]["labels"] == {MANAGED_BY_LABEL: MANAGED_BY, GRANT_LABEL: binding.grant_id}
    assert found["metadata"]["annotations"] == dict(binding.annotations)

    # WHEN csrgate unbinds it THEN she may not any more, and the binding is gone
    assert worker.unbind(binding) is True
    assert can_i(kubectl, as_dana, "create", "configmaps", "-n", payments) == "no"
    assert get_binding(kubectl, binding) is None
    # AND unbinding again finds nothing to delete
    assert worker.unbind(binding) is False


def test_binding_twice_is_done_once_cluster_wide_too(
    worker: KubernetesBindings, kubectl: Kubectl, dana: tuple[str, Path]
) -> None:
    user, as_dana = dana
    binding = grant_binding(user, None, "view")
    # GIVEN view bound to dana cluster-wide
    worker.bind(binding)
    first = get_binding(kubectl, binding)

    # WHEN the worker's job runs again (a retry after a timeout, a message delivered twice)
    worker.bind(binding)

    # THEN nothing changed: the same binding, not rewritten, and dana may read in any namespace
    assert get_binding(kubectl, binding) == first
    assert can_i(kubectl, as_dana, "list", "pods", "-n", "kube-system") == "yes"
    assert can_i(kubectl, as_dana, "create", "configmaps", "-n", "kube-system") == "no"
    assert worker.unbind(binding) is True
    assert can_i(kubectl, as_dana, "list", "pods", "-n", "kube-system") == "no"


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(lambda mine: replace(mine, grant_id="another-grant"), id="another grant's"),
        pytest.param(lambda mine: replace(mine, cluster_role="view"), id="same grant, another role"),
        pytest.param(lambda mine: replace(mine, username="mallory"), id="same grant, another user"),
    ],
)
def test_a_binding_of_that_name_that_is_not_this_grants_is_a_conflict_and_left_alone(
    worker: KubernetesBindings, kubectl: Kubectl, payments: str, other: Callable[[Binding], Binding]
) -> None:
    mine = grant_binding("dana", payments)
    theirs = other(mine)
    # GIVEN a binding of the grant's name that is something else
    worker.bind(theirs)
    before = get_binding(kubectl, theirs)

    # WHEN csrgate binds the grant THEN it is told, with the binding named, and the other binding is untouched
    with pytest.raises(Conflict, match=f"RoleBinding {mine.name} in namespace {payments} exists"):
        worker.bind(mine)
    assert get_binding(kubectl, mine) == before


@pytest.mark.parametrize("cluster_wide", [True, False], ids=["ClusterRoleBinding", "RoleBinding"])
def test_binding_cluster_admin_is_refused_for_good_and_nothing_is_created(
    worker: KubernetesBindings, kubectl: Kubectl, payments: str, cluster_wide: bool
) -> None:
    binding = grant_binding("dana", None if cluster_wide else payments, "cluster-admin")

    # WHEN csrgate is asked to bind cluster-admin, a role it has no `bind` on
    with pytest.raises(PermanentFailure) as refused:
        worker.bind(binding)

    # THEN the failure says so plainly, with Kubernetes' own reason, and no binding exists
    message = str(refused.value)
    assert message.startswith("the cluster refused to let csrgate bind ClusterRole cluster-admin")
    assert "is attempting to grant RBAC permissions not currently held" in message
    assert "\n" not in message
    assert get_binding(kubectl, binding) is None


def test_binding_in_a_namespace_that_does_not_exist_is_refused_for_good(worker: KubernetesBindings) -> None:
    missing = unique("nowhere")

    with pytest.raises(PermanentFailure, match=f"namespace {missing} does not exist"):
        worker.bind(grant_binding("dana", missing))


def test_unbinding_leaves_a_binding_that_is_not_the_grants(
    worker: KubernetesBindings, kubectl: Kubectl, admin: RbacAuthorizationV1Api, payments: str
) -> None:
    mine = grant_binding("dana", payments)
    theirs = replace(mine, grant_id="another-grant")
    by_hand = grant_binding("erin", payments)
    # GIVEN a binding of the grant's name labelled for another grant, and one made by hand with no labels at all
    worker.bind(theirs)
    admin.create_namespaced_role_binding(payments, manifest(by_hand, labels={}))

    # WHEN csrgate unbinds the grant's binding by those names THEN it deletes neither
    assert worker.unbind(mine) is False
    assert worker.unbind(replace(by_hand, grant_id="")) is False
    assert worker.unbind(by_hand) is False
    assert get_binding(kubectl, theirs) is not None
    assert get_binding(kubectl, by_hand) is not None


def test_a_binding_replaced_while_unbinding_is_left_alone(
    worker: KubernetesBindings, kubectl: Kubectl, admin: RbacAuthorizationV1Api, dev_cluster: DevCluster, payments: str
) -> None:
    mine = grant_binding("dana", payments)
    theirs = replace(mine, grant_id="another-grant")
    worker.bind(mine)

    def someone_replaces_it() -> None:
        admin.delete_namespaced_role_binding(mine.name, payments)
        admin.create_namespaced_role_binding(payments, manifest(theirs, labels=theirs.labels))

    # GIVEN that between csrgate's read and its delete the binding is replaced by another grant's of the same name
    assert dev_cluster.api is not None
    dev_cluster.api.on_next_request("DELETE", f"/rolebindings/{mine.name}", someone_replaces_it)

    # WHEN csrgate unbinds THEN the replacement is not deleted
    assert worker.unbind(mine) is False
    found = get_binding(kubectl, theirs)
    assert found is not None and found["metadata"]["labels"][GRANT_LABEL] == "another-grant"


def test_managed_lists_csrgates_bindings_in_every_namespace_and_cluster_wide_and_no_others(
    worker: KubernetesBindings, admin: RbacAuthorizationV1Api, payments: str, team_a: str
) -> None:
    # GIVEN csrgate's bindings in two namespaces and cluster-wide, one labelled as csrgate's with no grant and no user,
    # and bindings made by hand
    ours = [grant_binding("dana", payments), grant_binding("dana", team_a, "view"), grant_binding("erin", None, "view")]
    for binding in ours:
        worker.bind(binding)
    unowned = grant_binding("frank", team_a, "view")
    admin.create_namespaced_role_binding(
        team_a, {**manifest(unowned, labels={MANAGED_BY_LABEL: MANAGED_BY}), "subjects": [group("ops")]}
    )
    by_hand = [grant_binding("gina", payments), grant_binding("gina", None, "view")]
    admin.create_namespaced_role_binding(payments, manifest(by_hand[0], labels={}))
    admin.create_cluster_role_binding(manifest(by_hand[1], labels={"app.kubernetes.io/managed-by": "helm"}))

    # WHEN csrgate lists what it manages
    managed = worker.managed()

    # THEN its bindings come back as they were made, and the others do not
    found = {(each.namespace, each.name): each for each in managed}
    for binding in ours:
        assert found[(binding.namespace, binding.name)] == in_key_order(binding)
    assert found[(team_a, unowned.name)] == in_key_order(replace(unowned, username="", grant_id=""))
    assert not {(each.namespace, each.name) for each in by_hand} & set(found)
    # AND the one naming no grant is removed as found (the sweeper's orphan), the hand-made ones never
    assert worker.unbind(found[(team_a, unowned.name)]) is True
    assert worker.unbind(replace(by_hand[0], grant_id="")) is False
    assert (team_a, unowned.name) not in {(each.namespace, each.name) for each in worker.managed()}
    for binding in ours[2:] + by_hand[1:]:
        admin.delete_cluster_role_binding(binding.name)


def test_an_unreachable_cluster_is_retry_later(dev_cluster: DevCluster) -> None:
    endpoint = ClusterEndpoint("gone", "https://127.0.0.1:9", dev_cluster.ca_path.read_bytes())
    bindings = KubernetesBindings(TokenConnection(endpoint, "token"), request_timeout=(0.5, 0.5))

    with pytest.raises(RetryLater, match="the cluster cannot be reached"):
        bindings.bind(grant_binding("dana", "payments"))
    with pytest.raises(RetryLater, match="the cluster cannot be reached"):
        bindings.managed()


def test_the_endpoint_is_the_connections(dev_cluster: DevCluster, worker: KubernetesBindings) -> None:
    endpoint = worker.endpoint()

    assert endpoint.server == dev_cluster.url
    assert endpoint.ca_pem == dev_cluster.ca_path.read_bytes()


def manifest(binding: Binding, labels: dict[str, str]) -> dict[str, object]:
    """A binding as a person would write it by hand, with the labels given."""
    return {
        "metadata": {"name": binding.name, "labels": labels, "annotations": dict(binding.annotations)},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": binding.cluster_role},
        "subjects": [{"apiGroup": RBAC, "kind": "User", "name": binding.username}],
    }


def in_key_order(binding: Binding) -> Binding:
    """The binding as read back: annotations are a map in Kubernetes, so they come sorted by key."""
    return replace(binding, annotations=tuple(sorted(binding.annotations)))


def group(name: str) -> dict[str, str]:
    return {"apiGroup": RBAC, "kind": "Group", "name": name}
