"""Watching CSRs with the official Python client's watch.Watch: events, bookmarks, timeouts, a server restart,
and 410 Gone when the history no longer reaches back (the client re-lists and watches on)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import watch
from kubernetes.client import CertificatesV1Api
from kubernetes.client.exceptions import ApiException

from devstack.cluster import DevCluster
from devstack.csrs import make_csr
from devstack.harness import kubeconfig_connection


def body(name: str) -> dict[str, object]:
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": base64.b64encode(make_csr("alice")).decode(),
            "signerName": "example.com/watched",
            "usages": ["client auth"],
        },
    }


def client(cluster: DevCluster) -> CertificatesV1Api:
    return CertificatesV1Api(kubeconfig_connection(cluster.admin_kubeconfig).api_client())


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[DevCluster]:
    """A cluster of the test's own (restarted, or with a short history), with frequent bookmarks."""
    cluster = DevCluster(tmp_path / "cluster", history_limit=5, bookmark_interval=0.2).start()
    yield cluster
    cluster.stop()


def test_a_watch_sees_changes_in_order_with_bookmarks(own_cluster: DevCluster) -> None:
    api = client(own_cluster)
    start = api.list_certificate_signing_request().metadata.resource_version
    api.create_certificate_signing_request(body("one"))
    api.patch_certificate_signing_request("one", {"metadata": {"labels": {"seen": "yes"}}})
    api.delete_certificate_signing_request("one")

    events = watch.Watch().stream(
        api.list_certificate_signing_request, resource_version=start, allow_watch_bookmarks=True, timeout_seconds=5
    )
    seen = []
    for event in events:
        seen.append((event["type"], event["raw_object"]["metadata"].get("name")))
        if event["type"] == "BOOKMARK":
            bookmark = event["raw_object"]["metadata"]["resourceVersion"]
            break

    assert seen == [("ADDED", "one"), ("MODIFIED", "one"), ("DELETED", "one"), ("BOOKMARK", None)]
    assert int(bookmark) == int(start) + 3


def test_objects_entering_and_leaving_a_label_selection_are_added_and_deleted(own_cluster: DevCluster) -> None:
    api = client(own_cluster)
    api.create_certificate_signing_request(body("labelled"))
    start = api.list_certificate_signing_request().metadata.resource_version
    api.patch_certificate_signing_request("labelled", {"metadata": {"labels": {"team": "a"}}})
    api.patch_certificate_signing_request("labelled", {"metadata": {"labels": {"team": "b"}}})

    events = watch.Watch().stream(
        api.list_certificate_signing_request, label_selector="team=a", resource_version=start, timeout_seconds=5
    )
    seen = [(next(events)["type"]), next(events)["type"]]

    assert seen == ["ADDED", "DELETED"]


def test_a_watch_ends_at_its_timeout(own_cluster: DevCluster) -> None:
    api = client(own_cluster)

    events = list(watch.Watch().stream(api.list_certificate_signing_request, timeout_seconds=1))

    assert events == []


def test_a_watch_resumes_across_a_server_restart_without_losing_events(tmp_path: Path) -> None:
    first = DevCluster(tmp_path / "cluster", bookmark_interval=60).start()
    api = client(first)
    api.create_certificate_signing_request(body("before"))
    start = api.list_certificate_signing_request().metadata.resource_version
    watcher = watch.Watch()
    stream = watcher.stream(api.list_certificate_signing_request, resource_version=start)
    api.create_certificate_signing_request(body("during"))
    assert next(stream)["object"].metadata.name == "during"

    # GIVEN the server stops and comes back on the same port and data, a CSR created in between
    port = first.port
    first.stop()
    second = DevCluster(tmp_path / "cluster", port=port).start()
    try:
        client(second).create_certificate_signing_request(body("after"))

        # WHEN the client's watch carries on from the last resourceVersion it saw
        resumed = next(stream)
        watcher.stop()
    finally:
        second.stop()

    # THEN it sees what happened while it was away, with resourceVersions still increasing
    assert (resumed["type"], resumed["object"].metadata.name) == ("ADDED", "after")
    assert int(resumed["object"].metadata.resource_version) > int(start)


def test_a_watch_from_a_compacted_version_gets_410_and_recovers_by_listing(own_cluster: DevCluster) -> None:
    api = client(own_cluster)
    old = api.list_certificate_signing_request().metadata.resource_version
    for index in range(6):  # more changes than the history of 5 keeps
        api.create_certificate_signing_request(body(f"csr-{index}"))

    with pytest.raises(ApiException) as expired:
        next(iter(watch.Watch().stream(api.list_certificate_signing_request, resource_version=old)))
    listed = api.list_certificate_signing_request()
    stream = watch.Watch().stream(
        api.list_certificate_signing_request, resource_version=listed.metadata.resource_version, timeout_seconds=5
    )
    api.create_certificate_signing_request(body("fresh"))
    event = next(iter(stream))

    assert expired.value.status == 410
    assert "Expired: too old resource version" in str(expired.value.reason)
    assert [item.metadata.name for item in listed.items] == [f"csr-{index}" for index in range(6)]
    assert (event["type"], event["object"].metadata.name) == ("ADDED", "fresh")


def test_send_initial_events_ends_with_an_annotated_bookmark(own_cluster: DevCluster) -> None:
    api = client(own_cluster)
    api.create_certificate_signing_request(body("present"))

    events = watch.Watch().stream(
        api.list_certificate_signing_request,
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True,
        timeout_seconds=5,
    )
    first, second = next(events), next(events)

    assert (first["type"], first["object"].metadata.name) == ("ADDED", "present")
    assert second["type"] == "BOOKMARK"
    assert second["raw_object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
