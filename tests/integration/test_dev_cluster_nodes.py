"""Nodes in the dev cluster as kubectl uses them: created with their addresses, listed, printed, updated and
deleted; who may read them; and the node identities the dev CA issues, which may ask for certificates."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cluster_access import Identity, admin_identity, csr_manifest, https
from kubernetes import watch
from kubernetes.client import CoreV1Api

from devstack.cluster import DevCluster
from devstack.cluster.nodes import node_manifest
from devstack.csrs import make_csr
from devstack.harness import Kubectl, kubeconfig_connection

NODES = "/api/v1/nodes"


def node(kubectl: Kubectl, name: str) -> dict[str, Any]:
    return dict(json.loads(kubectl("get", "node", name, "-o", "json").stdout))


@pytest.fixture(scope="module")
def admin(dev_cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return admin_identity(dev_cluster, tmp_path_factory.mktemp("admin"))


def test_a_node_created_with_kubectl_keeps_its_addresses(kubectl: Kubectl, name: str) -> None:
    # WHEN an admin applies a Node with its addresses, as a kubelet would register it
    applied = kubectl("apply", "-f", "-", stdin=node_manifest(name, [("InternalIP", "10.0.0.5"), ("Hostname", name)]))
    # THEN it is created with its status as given, and the server's metadata
    assert applied.stdout.strip() == f"node/{name} created"
    created = node(kubectl, name)
    assert created["status"]["addresses"] == [
        {"type": "InternalIP", "address": "10.0.0.5"},
        {"type": "Hostname", "address": name},
    ]
    assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"]
    assert (created["apiVersion"], created["kind"]) == ("v1", "Node")


def test_kubectl_get_nodes_prints_the_columns_of_a_real_cluster(kubectl: Kubectl, name: str) -> None:
    # GIVEN a ready worker node and one that is not ready and cordoned
    worker = {"node-role.kubernetes.io/worker": ""}
    kubectl("apply", "-f", "-", stdin=node_manifest(f"{name}-a", [("InternalIP", "10.0.0.7")], labels=worker))
    kubectl("apply", "-f", "-", stdin=node_manifest(f"{name}-b", [("ExternalIP", "203.0.113.9")], ready=False))
    kubectl("cordon", f"{name}-b")
    # WHEN they are listed, plain and wide
    plain = kubectl("get", "nodes", f"{name}-a", f"{name}-b").stdout.splitlines()
    wide = kubectl("get", "no", f"{name}-b", "-o", "wide").stdout.splitlines()
    # THEN the columns and cells are printNode's
    assert plain[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert plain[1].split()[:3] == [f"{name}-a", "Ready", "worker"]
    assert plain[2].split()[:3] == [f"{name}-b", "NotReady,SchedulingDisabled", "<none>"]
    assert wide[0].split()[5:7] == ["INTERNAL-IP", "EXTERNAL-IP"]
    assert wide[1].split()[5:7] == ["<none>", "203.0.113.9"]


def test_updates_keep_the_status_and_the_status_subresource_changes_it(kubectl: Kubectl, name: str) -> None:
    # GIVEN a node at 10.0.0.5
    kubectl("apply", "-f", "-", stdin=node_manifest(name, [("InternalIP", "10.0.0.5")]))
    # WHEN it is replaced with a manifest naming another address, and labelled
    kubectl("replace", "-f", "-", stdin=node_manifest(name, [("InternalIP", "10.0.0.66")]))
    kubectl("label", "node", name, "zone=a")
    # THEN the labels change and the status does not, as upstream's node strategy keeps it on updates
    kept = node(kubectl, name)
    assert kept["metadata"]["labels"] == {"zone": "a"}
    assert kept["status"]["addresses"] == [{"type": "InternalIP", "address": "10.0.0.5"}]
    # WHEN the status subresource is patched, as a kubelet reports a new address
    addresses = {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.6"}]}}
    kubectl("patch", "node", name, "--subresource=status", "--type=merge", "-p", json.dumps(addresses))
    # THEN the addresses are the new ones
    assert node(kubectl, name)["status"]["addresses"] == [{"type": "InternalIP", "address": "10.0.0.6"}]


def test_the_python_client_reads_and_watches_nodes(dev_cluster: DevCluster, kubectl: Kubectl, name: str) -> None:
    # GIVEN the official client, which refuses a Node whose nodeInfo lacks any of its fields
    api = CoreV1Api(kubeconfig_connection(dev_cluster.admin_kubeconfig).api_client())
    start = api.list_node().metadata.resource_version
    # WHEN a Node is created with kubectl, then deleted
    kubectl("apply", "-f", "-", stdin=node_manifest(name, [("InternalIP", "10.0.0.5")]))
    read = api.read_node(name)
    kubectl("delete", "node", name)
    events = list(watch.Watch().stream(api.list_node, resource_version=start, timeout_seconds=1))
    # THEN it reads the Node as a real cluster's, and a watch from before sees it come and go
    assert read.status.addresses[0].address == "10.0.0.5" and read.status.node_info.kubelet_version == "v1.37.0"
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", name), ("DELETED", name)]


def test_a_deleted_node_is_gone(kubectl: Kubectl, name: str) -> None:
    kubectl("apply", "-f", "-", stdin=node_manifest(name, [("InternalIP", "10.0.0.5")]))

    deleted = kubectl("delete", "node", name)
    missing = kubectl("get", "node", name, check=False)

    assert deleted.stdout.strip() == f'node "{name}" deleted'
    assert f'Error from server (NotFound): nodes "{name}" not found' in missing.stderr


def test_nodes_are_listed_by_field_and_label_selectors(dev_cluster: DevCluster, admin: Identity, name: str) -> None:
    for suffix, unschedulable in (("a", False), ("b", True)):
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"{name}-{suffix}", "labels": {"set": name}}}
        body["spec"] = {"unschedulable": unschedulable}
        assert https(dev_cluster, "POST", NODES, admin, json.dumps(body).encode()).code == 201

    listed = https(
        dev_cluster, "GET", f"{NODES}?labelSelector=set%3D{name}&fieldSelector=spec.unschedulable%3Dtrue", admin
    )
    refused = https(dev_cluster, "GET", f"{NODES}?fieldSelector=spec.signerName%3Dx", admin)

    assert listed.json()["kind"] == "NodeList"
    assert [item["metadata"]["name"] for item in listed.json()["items"]] == [f"{name}-b"]
    assert refused.code == 400
    assert refused.json()["message"] == (
        '"spec.signerName" is not a known field selector: only "metadata.name", "spec.unschedulable"'
    )


def test_a_node_name_must_be_a_dns_subdomain(kubectl: Kubectl) -> None:
    refused = kubectl("apply", "-f", "-", stdin=node_manifest("Node_1", [("InternalIP", "10.0.0.5")]), check=False)

    assert refused.returncode == 1
    assert 'The Node "Node_1" is invalid: metadata.name: Invalid value: "Node_1": a lowercase RFC 1123 subdomain' in (
        refused.stderr
    )


def test_the_approver_may_get_a_node_and_nothing_more(dev_cluster: DevCluster, kubectl: Kubectl, name: str) -> None:
    kubectl("apply", "-f", "-", stdin=node_manifest(name, [("InternalIP", "10.0.0.5")]))
    approver = dev_cluster.approver_kubeconfig

    got = kubectl("get", "node", name, "-o", "name", kubeconfig=approver)
    listed = kubectl("get", "nodes", kubeconfig=approver, check=False)
    deleted = kubectl("delete", "node", name, kubeconfig=approver, check=False)

    assert got.stdout.strip() == f"node/{name}"
    assert (
        'nodes is forbidden: User "csrgate-approver" cannot list resource "nodes" in API group "" at the cluster scope'
    ) in listed.stderr
    assert f'nodes "{name}" is forbidden: User "csrgate-approver" cannot delete resource "nodes"' in deleted.stderr


def test_a_node_identity_from_the_dev_ca_may_ask_for_certificates(
    dev_cluster: DevCluster, kubectl: Kubectl, name: str
) -> None:
    # GIVEN node-1's kubeconfig, as a kubelet has it after TLS bootstrap
    as_node = dev_cluster.node_kubeconfig("node-1")
    # THEN the cluster knows it as the node, in system:nodes
    whoami = json.loads(kubectl("auth", "whoami", "-o", "json", kubeconfig=as_node).stdout)
    assert whoami["status"]["userInfo"]["username"] == "system:node:node-1"
    assert whoami["status"]["userInfo"]["groups"] == ["system:nodes", "system:authenticated"]
    # AND it may create and read CSRs, which record it as the requester
    pem = make_csr("system:node:node-1", orgs=["system:nodes"], dns=["node-1"], ips=["10.0.0.5"], key="p256")
    manifest = csr_manifest(
        name, pem, signerName="kubernetes.io/kubelet-serving", expirationSeconds=None,
        usages=["digital signature", "key encipherment", "server auth"],
    )  # fmt: skip
    kubectl("apply", "-f", "-", stdin=manifest, kubeconfig=as_node)
    requestor = kubectl("get", "csr", name, "-o", "jsonpath={.spec.username}", kubeconfig=as_node).stdout
    assert requestor == "system:node:node-1"
    # AND nothing else: it may not approve its own request, nor read Nodes
    approved = kubectl("certificate", "approve", name, kubeconfig=as_node, check=False)
    nodes = kubectl("get", "nodes", kubeconfig=as_node, check=False)
    assert 'User "system:node:node-1" cannot update resource "certificatesigningrequests/approval"' in approved.stderr
    assert 'User "system:node:node-1" cannot list resource "nodes"' in nodes.stderr


def test_discovery_and_openapi_describe_nodes(dev_cluster: DevCluster, kubectl: Kubectl, admin: Identity) -> None:
    versions = https(dev_cluster, "GET", "/api", admin).json()
    resources = https(dev_cluster, "GET", "/api/v1", admin).json()["resources"]
    index = https(dev_cluster, "GET", "/openapi/v3", admin).json()
    document = https(dev_cluster, "GET", index["paths"]["api/v1"]["serverRelativeURL"], admin).json()

    assert versions["versions"] == ["v1"]
    assert [(r["name"], r.get("shortNames"), r["namespaced"]) for r in resources] == [
        ("configmaps", ["cm"], True), ("events", ["ev"], True), ("namespaces", ["ns"], False),
        ("nodes", ["no"], False), ("nodes/status", None, False),
    ]  # fmt: skip
    patch = document["paths"]["/api/v1/nodes/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "kind": "Node", "version": "v1"}
    assert "fieldValidation" in [parameter["name"] for parameter in patch["parameters"]]
    assert kubectl("explain", "node.status.addresses.type").returncode == 0
