"""Events in the dev cluster as csrgate's worker writes them and kubectl reads them: created through core/v1 by the
approver identity, which may do nothing else with them; found by `kubectl describe` with its field selector; refused
where kube-apiserver refuses them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from cluster_access import csr_manifest

from csrgate.adapters.cluster import KubernetesEvents
from csrgate.domain.cluster_events import CsrEvent
from devstack.cluster import DevCluster
from devstack.csrs import make_csr
from devstack.harness import Kubectl, kubeconfig_connection


@pytest.fixture
def csr(kubectl: Kubectl, name: str) -> tuple[str, str]:
    """A CSR created by the admin: its name and uid."""
    kubectl("apply", "-f", "-", stdin=csr_manifest(name, make_csr(name, key="p256")))
    return name, json.loads(kubectl("get", "csr", name, "-o", "json").stdout)["metadata"]["uid"]


@pytest.fixture
def events(dev_cluster: DevCluster) -> KubernetesEvents:
    """The worker's Event writes, as the approver identity."""
    return KubernetesEvents(kubeconfig_connection(dev_cluster.approver_kubeconfig))


def waiting(csr: tuple[str, str]) -> CsrEvent:
    name, uid = csr
    message = "waiting for review in Slack channel C0LAB: 1 approval needed"
    return CsrEvent(f"{name}.0a1b", name, uid, "CsrgateReviewRequested", "Normal", "Review", message, datetime.now(UTC))


def can_i(kubectl: Kubectl, kubeconfig: Path, *question: str) -> str:
    return kubectl("auth", "can-i", *question, kubeconfig=kubeconfig, check=False).stdout.strip()


def test_the_worker_may_create_events_and_nothing_more(kubectl: Kubectl, dev_cluster: DevCluster) -> None:
    approver = dev_cluster.approver_kubeconfig
    # GIVEN the approver identity, csrgate's worker in a real cluster: it may create Events
    assert can_i(kubectl, approver, "create", "events", "-n", "default") == "yes"
    # THEN it may not read, change or delete any, here or anywhere
    for verb in ("get", "list", "watch", "update", "patch", "delete", "deletecollection"):
        assert can_i(kubectl, approver, verb, "events", "-n", "default") == "no", verb
        assert can_i(kubectl, approver, verb, "events", "--all-namespaces") == "no", verb
    refused = kubectl("get", "events", "-A", kubeconfig=approver, check=False)
    assert 'User "csrgate-approver" cannot list resource "events" in API group "" at the cluster scope' in (
        refused.stderr
    )
    # AND nor may it write Events through the events.k8s.io group
    assert can_i(kubectl, approver, "create", "events.events.k8s.io", "-n", "default") == "no"


def test_an_event_written_twice_is_kept_once_and_describe_finds_it_by_the_csr_it_is_about(
    kubectl: Kubectl, csr: tuple[str, str], events: KubernetesEvents
) -> None:
    name, uid = csr
    # GIVEN the worker's Event on the CSR, written twice (a redelivered job): the second is answered 409, and ignored
    event = waiting(csr)
    events.record(event)
    events.record(event)
    # AND an Event about another CSR of the same name, deleted since (another uid)
    events.record(replace(event, name=f"{name}.9f8e", csr_uid="uid-of-the-csr-deleted-before", message="the old one"))
    # THEN the CSR has one Event, in `default`, about the CSR as cluster-scoped, as kube-apiserver keeps it
    listed = kubectl("get", "events", "-n", "default", "--field-selector", f"involvedObject.uid={uid}", "-o", "json")
    [kept] = json.loads(listed.stdout)["items"]
    assert kept["involvedObject"] == {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "name": name,
        "uid": uid,
    }
    assert (kept["reportingComponent"], kept["reportingInstance"], kept["action"]) == (
        "csrgate.io/csrgate",
        "csrgate-worker",
        "Review",
    )
    assert kept["eventTime"] == event.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # AND describe lists it, and not the other CSR's
    described = kubectl("describe", "csr", name).stdout
    assert "waiting for review in Slack channel C0LAB" in described and "the old one" not in described
    # AND `kubectl get events` prints it as a cluster does
    printed = kubectl("get", "events", "-n", "default", "--field-selector", f"involvedObject.uid={uid}").stdout
    header, row = printed.splitlines()
    assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert row.split()[1:4] == ["Normal", "CsrgateReviewRequested", f"certificatesigningrequest/{name}"]


EVENT_TIME = "2026-03-02T09:00:00.000000Z"


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        (
            {"reportingComponent": None, "reportingInstance": None, "action": None},
            "* reportingInstance: Required value\n* action: Required value",
        ),
        ({"reportingComponent": None}, "* reportingController: Required value\n"),
        ({"reportingComponent": "csrgate.io/a/b"}, 'reportingController: Invalid value: "csrgate.io/a/b"'),
        ({"metadata": {"name": "e1", "namespace": "kube-public"}}, 'involvedObject.namespace: Invalid value: ""'),
        (
            {"eventTime": None, "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": "kube-system"}},
            'involvedObject.namespace: Invalid value: "kube-system": does not match event.namespace',
        ),
        ({"message": "x" * 1025}, 'message: Invalid value: "": can have at most 1024 characters'),
        ({"eventTime": "2026-03-02T09:00:00.123Z"}, 'parsing time "2026-03-02T09:00:00.123Z"'),
    ],
)
def test_the_dev_cluster_refuses_an_event_kube_apiserver_refuses(
    kubectl: Kubectl, tmp_path: Path, changes: dict[str, object], refusal: str
) -> None:
    # GIVEN an Event on a cluster-scoped object, written the events.k8s.io way (eventTime set), then spoiled
    event: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "e1", "namespace": "default"},
        "involvedObject": {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "name": "c"},
        "reason": "CsrgateReviewRequested",
        "message": "waiting",
        "type": "Normal",
        "eventTime": EVENT_TIME,
        "action": "Review",
        "reportingComponent": "csrgate.io/csrgate",
        "reportingInstance": "csrgate-worker",
    }
    event.update(changes)
    manifest = tmp_path / "event.yaml"
    manifest.write_text(yaml.safe_dump({key: value for key, value in event.items() if value is not None}))
    # WHEN the admin creates it, THEN it is refused with kube-apiserver's words
    created = kubectl("create", "-f", str(manifest), check=False)
    assert created.returncode != 0 and refusal in created.stderr, created.stderr
