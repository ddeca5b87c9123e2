"""RBAC in the dev cluster as kubectl uses it: namespaces and configmaps, bindings that grant access to them, the
escalation rule that keeps csrgate's worker from granting more than `view` and `edit`, and `kubectl auth can-i`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from cluster_access import namespace_of_its_own, person, unique

from devstack.cluster import DevCluster
from devstack.harness import Kubectl

APPROVER_GROUPS = '(groups=["csrgate:approvers" "system:authenticated"])'
NOT_HELD = "is attempting to grant RBAC permissions not currently held:"
EVERYTHING = '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}'
MANAGED = "app.kubernetes.io/managed-by=csrgate"


def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition a real cluster reaches once its authorizer's caches have caught up."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition was not reached in time"
        time.sleep(0.1)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    """A namespace of the test's own, created by the admin and deleted afterwards (with what is in it)."""
    yield from namespace_of_its_own(kubectl, "payments")


@pytest.fixture
def dana(dev_cluster: DevCluster) -> tuple[str, Path]:
    """A person with a fresh client certificate from the cluster CA, and no binding yet."""
    return person(dev_cluster, "dana")


def can_i(kubectl: Kubectl, kubeconfig: Path, *question: str) -> str:
    return kubectl("auth", "can-i", *question, kubeconfig=kubeconfig, check=False).stdout.strip()


def test_a_rolebinding_to_edit_lets_a_user_write_configmaps_in_its_namespace_only(
    dev_cluster: DevCluster, kubectl: Kubectl, namespace: str, dana: tuple[str, Path]
) -> None:
    user, as_dana = dana
    approver = dev_cluster.approver_kubeconfig
    elsewhere = unique("elsewhere")
    kubectl("create", "namespace", elsewhere)
    # GIVEN dana, bound to nothing, may not write configmaps
    assert can_i(kubectl, as_dana, "create", "configmaps", "-n", namespace) == "no"
    refused = kubectl(
        "create", "configmap", "cfg", "-n", namespace, "--from-literal=a=b", kubeconfig=as_dana, check=False
    )
    assert refused.returncode == 1
    assert (
        f'configmaps is forbidden: User "{user}" cannot create resource "configmaps" in API group "" in the namespace '
        f'"{namespace}"'
    ) in refused.stderr

    # WHEN csrgate's worker binds `edit` to dana in the namespace
    bound = kubectl("create", "rolebinding", "g1", "--clusterrole=edit", f"--user={user}", "-n", namespace,
                    kubeconfig=approver)  # fmt: skip
    assert bound.stdout.strip() == "rolebinding.rbac.authorization.k8s.io/g1 created"

    # THEN dana may create configmaps there and read them back, but nowhere else
    until(lambda: can_i(kubectl, as_dana, "create", "configmaps", "-n", namespace) == "yes")
    created = kubectl("create", "configmap", "cfg", "-n", namespace, "--from-literal=a=b", kubeconfig=as_dana)
    assert created.stdout.strip() == "configmap/cfg created"
    listed = kubectl("get", "cm", "-n", namespace, kubeconfig=as_dana).stdout.split("\n")
    assert listed[0].split() == ["NAME", "DATA", "AGE"] and listed[1].split()[:2] == ["cfg", "1"]
    assert can_i(kubectl, as_dana, "create", "configmaps", "-n", elsewhere) == "no"
    assert can_i(kubectl, as_dana, "create", "rolebindings", "-n", namespace) == "no"

    # AND once the binding is deleted, dana may not any more
    kubectl("delete", "rolebinding", "g1", "-n", namespace, kubeconfig=approver)
    until(lambda: can_i(kubectl, as_dana, "create", "configmaps", "-n", namespace) == "no")
    kubectl("delete", "namespace", elsewhere)


def test_a_configmap_in_a_namespace_that_does_not_exist_is_refused(kubectl: Kubectl) -> None:
    missing = unique("nowhere")
    refused = kubectl("create", "configmap", "cfg", "-n", missing, "--from-literal=a=b", check=False)
    assert refused.returncode == 1
    assert f'namespaces "{missing}" not found' in refused.stderr


def test_the_approver_may_bind_view_and_edit_but_not_cluster_admin(
    dev_cluster: DevCluster, kubectl: Kubectl, namespace: str, dana: tuple[str, Path]
) -> None:
    user, _ = dana
    approver = dev_cluster.approver_kubeconfig
    viewer, editor, admins = unique("viewer"), unique("editor"), unique("admins")
    # GIVEN the approver identity, which has `bind` on view and edit only
    # WHEN it binds view in a namespace and edit cluster-wide THEN both are created
    kubectl(
        "create", "rolebinding", viewer, "--clusterrole=view", f"--user={user}", "-n", namespace, kubeconfig=approver
    )
    kubectl("create", "clusterrolebinding", editor, "--clusterrole=edit", f"--user={user}", kubeconfig=approver)

    # WHEN it binds cluster-admin, in a namespace or cluster-wide, THEN it is refused as upstream's RBAC refuses
    in_namespace = kubectl("create", "rolebinding", admins, "--clusterrole=cluster-admin", f"--user={user}",
                           "-n", namespace, kubeconfig=approver, check=False)  # fmt: skip
    cluster_wide = kubectl("create", "clusterrolebinding", admins, "--clusterrole=cluster-admin", f"--user={user}",
                           kubeconfig=approver, check=False)  # fmt: skip
    for refused, resource in ((in_namespace, "rolebindings"), (cluster_wide, "clusterrolebindings")):
        assert refused.returncode == 1
        assert (
            f'{resource}.rbac.authorization.k8s.io "{admins}" is forbidden: user "csrgate-approver" {APPROVER_GROUPS} '
            f"{NOT_HELD}\n{EVERYTHING}"
        ) in refused.stderr
    assert kubectl("get", "rolebinding", admins, "-n", namespace, check=False).returncode == 1

    # AND the admin (system:masters) may
    kubectl("create", "rolebinding", admins, "--clusterrole=cluster-admin", f"--user={user}", "-n", namespace)
    kubectl("create", "clusterrolebinding", admins, "--clusterrole=cluster-admin", f"--user={user}")
    for binding in (editor, admins):
        kubectl("delete", "clusterrolebinding", binding)


def test_a_label_selector_lists_only_the_labelled_bindings_and_annotations_round_trip(
    kubectl: Kubectl, namespace: str
) -> None:
    request = uuid.uuid4().hex[:8]
    labels = {"app.kubernetes.io/managed-by": "csrgate", "csrgate.io/request": request}
    annotations = {"csrgate.io/expires-at": "2026-12-01T12:00:00Z", "csrgate.io/requester-email": "dana@example.com"}
    # GIVEN bindings made by csrgate (labelled and annotated) and one made by hand
    documents = [
        binding("RoleBinding", "granted", namespace, labels, annotations),
        binding("RoleBinding", "by-hand", namespace, {}, {}),
        binding("ClusterRoleBinding", f"granted-{request}", "", labels, annotations),
    ]
    created = kubectl("create", "-f", "-", stdin=yaml.safe_dump_all(documents))
    assert len(created.stdout.splitlines()) == 3

    # WHEN listing with csrgate's selector THEN only its bindings come back, with their annotations as written
    selected = kubectl("get", "rolebindings", "-n", namespace, "-l", MANAGED, "-o", "name").stdout.split()
    assert selected == ["rolebinding.rbac.authorization.k8s.io/granted"]
    cluster_wide = kubectl("get", "clusterrolebindings", "-l", f"{MANAGED},csrgate.io/request={request}", "-o", "json")
    [item] = json.loads(cluster_wide.stdout)["items"]
    assert item["metadata"]["name"] == f"granted-{request}"
    assert item["metadata"]["annotations"] == annotations
    assert item["metadata"]["labels"] == labels
    assert item["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    assert item["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dana"}]
    kubectl("delete", "clusterrolebinding", f"granted-{request}")


def binding(
    kind: str, name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str]
) -> dict[str, object]:
    metadata: dict[str, object] = {"name": name, "labels": labels, "annotations": annotations}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "dana"}],
    }


def test_a_role_granting_permissions_its_creator_lacks_is_refused(
    kubectl: Kubectl, namespace: str, dana: tuple[str, Path]
) -> None:
    user, as_dana = dana
    # GIVEN dana is admin of the namespace (may write roles there) but holds nothing on nodes
    kubectl("create", "rolebinding", "dana-admin", "--clusterrole=admin", f"--user={user}", "-n", namespace)

    # WHEN dana creates a role within what she holds THEN it is created
    within = kubectl(
        "create", "role", "reader", "--verb=get", "--resource=configmaps", "-n", namespace, kubeconfig=as_dana
    )
    assert within.stdout.strip() == "role.rbac.authorization.k8s.io/reader created"

    # WHEN dana creates a role granting more THEN it is refused, naming what she lacks
    beyond = kubectl("create", "role", "nodes", "--verb=get", "--resource=nodes", "-n", namespace, kubeconfig=as_dana,
                     check=False)  # fmt: skip
    assert beyond.returncode == 1
    assert (
        f'roles.rbac.authorization.k8s.io "nodes" is forbidden: user "{user}" (groups=["system:authenticated"]) '
        f'{NOT_HELD}\n{{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}}'
    ) in beyond.stderr


def test_a_cluster_role_needs_escalate_or_the_permissions_it_grants(kubectl: Kubectl, dev_cluster: DevCluster) -> None:
    writer = unique("erin")
    as_writer = dev_cluster.user_kubeconfig(writer)
    role, escalating = unique("role-writer"), unique("escalating")
    # GIVEN a user who may create ClusterRoles but holds nothing on nodes
    kubectl("create", "clusterrole", role, "--verb=create", "--resource=clusterroles.rbac.authorization.k8s.io")
    kubectl("create", "clusterrolebinding", role, f"--clusterrole={role}", f"--user={writer}")
    node_reader = unique("node-reader")

    # WHEN they create a ClusterRole reading nodes THEN it is refused
    refused = kubectl("create", "clusterrole", node_reader, "--verb=get", "--resource=nodes", kubeconfig=as_writer,
                      check=False)  # fmt: skip
    assert refused.returncode == 1
    assert (
        f'clusterroles.rbac.authorization.k8s.io "{node_reader}" is forbidden: user "{writer}" '
        f'(groups=["system:authenticated"]) {NOT_HELD}\n{{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}}'
    ) in refused.stderr

    # WHEN the admin grants them `escalate` on clusterroles THEN they may
    kubectl("create", "clusterrole", escalating, "--verb=escalate", "--resource=clusterroles.rbac.authorization.k8s.io")
    kubectl("create", "clusterrolebinding", escalating, f"--clusterrole={escalating}", f"--user={writer}")
    created = kubectl("create", "clusterrole", node_reader, "--verb=get", "--resource=nodes", kubeconfig=as_writer)
    assert created.stdout.strip() == f"clusterrole.rbac.authorization.k8s.io/{node_reader} created"
    for name in (role, escalating):
        kubectl("delete", "clusterrolebinding", name)
    kubectl("delete", "clusterrole", role, escalating, node_reader)


def test_builtin_roles_and_bindings_are_there_and_shown_as_kubectl_prints_them(kubectl: Kubectl) -> None:
    roles = [line.split()[0] for line in kubectl("get", "clusterroles").stdout.splitlines()[1:]]
    bindings = kubectl("get", "clusterrolebinding", "cluster-admin", "-o", "wide").stdout.splitlines()

    assert {"cluster-admin", "admin", "edit", "view", "csrgate:approver"} <= set(roles)
    assert bindings[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert bindings[1].split()[:2] == ["cluster-admin", "ClusterRole/cluster-admin"]
    assert bindings[1].split()[-1] == "system:masters"


def test_namespaces_bindings_and_configmaps_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "cluster"
    # GIVEN a cluster that lets people renew their own certificates, with a namespace, a configmap and a binding
    with DevCluster(data, self_renewal=True) as cluster:
        kubectl = Kubectl.with_copy_of(cluster.admin_kubeconfig, tmp_path / "first")
        kubectl("create", "namespace", "payments")
        kubectl("create", "configmap", "cfg", "-n", "payments", "--from-literal=a=b")
        kubectl("create", "rolebinding", "g1", "--clusterrole=view", "--user=dana", "-n", "payments")
        assert kubectl("get", "clusterrolebinding", "csrgate:self-renewal", check=False).returncode == 0

    # WHEN it restarts on the same directory without self-renewal
    with DevCluster(data) as cluster:
        kubectl = Kubectl.with_copy_of(cluster.admin_kubeconfig, tmp_path / "second")
        # THEN what was created is still there, and the self-renewal binding is gone
        assert kubectl("get", "cm", "cfg", "-n", "payments", "-o", "jsonpath={.data.a}").stdout == "b"
        assert kubectl("get", "rolebinding", "g1", "-n", "payments", "-o", "jsonpath={.roleRef.name}").stdout == "view"
        assert kubectl("get", "clusterrolebinding", "csrgate:self-renewal", check=False).returncode == 1
        as_dana = cluster.user_kubeconfig("dana")
        assert can_i(kubectl, as_dana, "list", "configmaps", "-n", "payments") == "yes"
        assert can_i(kubectl, as_dana, "create", "certificatesigningrequests") == "no"
