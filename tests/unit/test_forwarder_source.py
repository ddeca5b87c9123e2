"""The list-then-watch loop against an in-memory stand-in for the two reads it makes (list and watch).

The stand-in keeps CSRs, a change log with resourceVersions and a compaction point, and plays each watch as
the test scripts it: deliver, break the connection, send a bookmark, or answer 410 Gone.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from csrgate.domain.errors import RetryLater
from csrgate.forwarder.backoff import Backoff
from csrgate.forwarder.changes import ChangeTracker, CsrEvent
from csrgate.forwarder.metrics import ForwarderMetrics
from csrgate.forwarder.source import CsrList, CsrSource, Expired, WatchEvent

CLIENT = "kubernetes.io/kube-apiserver-client"


@dataclass
class Plan:
    """How one watch call goes: `before` changes the cluster first; then up to `limit` events, then the end."""

    limit: int | None = None
    then: str = "end"  # end (server timeout) | early (ends at once) | break (connection lost) | bookmark (then end)
    before: Callable[[FakeCsrApi], None] | None = None


@dataclass
class FakeCsrApi:
    """CSRs with resourceVersions and a bounded history, read the way the forwarder reads the Kubernetes API."""

    stopping: threading.Event
    plans: list[Plan] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    version: int = 0
    compacted: int = 0
    list_failures: int = 0
    lists: int = 0
    watched_from: list[str] = field(default_factory=list)
    now: float = 0.0  # the monotonic clock: a watch ending at its timeout has lasted that long

    def create(self, name: str, signer: str = CLIENT) -> None:
        obj = {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name, "uid": f"uid-{name}"},
            "spec": {"request": "LS0t", "signerName": signer},
            "status": {},
        }
        self._record("ADDED", name, obj)

    def approve(self, name: str) -> None:
        obj = copy.deepcopy(self.objects[name])
        obj["status"]["conditions"] = [{"type": "Approved", "status": "True", "reason": "KubectlApprove"}]
        self._record("MODIFIED", name, obj)

    def delete(self, name: str) -> None:
        self._record("DELETED", name, self.objects[name])

    def compact(self) -> None:
        self.compacted = self.version

    def list(self) -> CsrList:
        self.lists += 1
        if self.list_failures:
            self.list_failures -= 1
            raise RetryLater("list: HTTP 503 Service Unavailable")
        return CsrList([copy.deepcopy(obj) for obj in self.objects.values()], str(self.version))

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[WatchEvent]:
        self.watched_from.append(resource_version)
        if not self.plans:
            self.stopping.set()
            return iter(())
        return self._play(self.plans.pop(0), int(resource_version), timeout_seconds)

    def _play(self, plan: Plan, since: int, timeout_seconds: int) -> Iterator[WatchEvent]:
        if plan.before:
            plan.before(self)
        if since < self.compacted:
            raise Expired(f"too old resource version: {since} ({self.compacted})")
        due = [(kind, obj) for version, kind, obj in self.log if version > since]
        for kind, obj in due[: plan.limit]:
            yield WatchEvent(kind, copy.deepcopy(obj))
        if plan.then == "break":
            raise RetryLater("watch: ProtocolError: connection broken")
        if plan.then == "bookmark":
            yield WatchEvent(
                "BOOKMARK", {"kind": "CertificateSigningRequest", "metadata": {"resourceVersion": str(self.version)}}
            )
        if plan.then != "early":
            self.now += timeout_seconds

    def _record(self, kind: str, name: str, obj: dict[str, Any]) -> None:
        self.version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.version)
        if kind == "DELETED":
            del self.objects[name]
        else:
            self.objects[name] = stored
        self.log.append((self.version, kind, stored))


@dataclass
class Run:
    api: FakeCsrApi
    source: CsrSource
    published: list[CsrEvent]
    waits: list[float]
    metrics: ForwarderMetrics

    def sent(self) -> list[tuple[str, str]]:
        return [(event.type, event.name) for event in self.published]

    def restarts(self, reason: str) -> float:
        return (
            self.metrics.registry.get_sample_value("csrgate_forwarder_watch_restarts_total", {"reason": reason}) or 0.0
        )


@pytest.fixture
def cluster() -> FakeCsrApi:
    return FakeCsrApi(threading.Event())


def run(api: FakeCsrApi, *plans: Plan, publish: Callable[[CsrEvent], bool] | None = None) -> Run:
    api.plans.extend(plans)
    published: list[CsrEvent] = []
    waits: list[float] = []
    metrics = ForwarderMetrics()

    def wait(delay: float) -> bool:
        waits.append(delay)
        return False

    source = CsrSource(
        api,
        ChangeTracker(frozenset({CLIENT})),
        publish or (lambda event: published.append(event) is None),
        metrics,
        Backoff(0.5, 30.0, uniform=lambda low, high: high),
        api.stopping,
        watch_timeout=300,
        wait=wait,
        monotonic=lambda: api.now,
    )
    source.run()
    return Run(api, source, published, waits, metrics)


def test_list_sends_pending_csrs_then_the_watch_sends_changes_in_order(cluster: FakeCsrApi) -> None:
    cluster.create("alice")
    cluster.create("bob")

    def changes(api: FakeCsrApi) -> None:
        api.create("carol")
        api.approve("alice")
        api.delete("bob")

    result = run(cluster, Plan(before=changes))

    assert result.sent() == [
        ("ADDED", "alice"),
        ("ADDED", "bob"),
        ("ADDED", "carol"),
        ("MODIFIED", "alice"),
        ("DELETED", "bob"),
    ]
    assert cluster.watched_from == ["2", "5"]  # from the list's version, then resumed after the last event
    assert result.source.ready.is_set()


def test_a_broken_watch_resumes_from_the_last_event_after_a_backoff(cluster: FakeCsrApi) -> None:
    def burst(api: FakeCsrApi) -> None:
        for n in range(4):
            api.create(f"csr-{n}")

    result = run(cluster, Plan(limit=2, then="break", before=burst), Plan())

    assert result.sent() == [("ADDED", f"csr-{n}") for n in range(4)]  # none twice, none missing
    assert cluster.watched_from == ["0", "2", "4"]
    assert result.waits == [0.5]
    assert result.restarts("error") == 1


def test_bookmarks_move_the_resource_version_although_the_client_does_not(cluster: FakeCsrApi) -> None:
    def unmanaged(api: FakeCsrApi) -> None:
        for n in range(3):
            api.create(f"mesh-{n}", signer="example.com/mesh")

    result = run(cluster, Plan(limit=0, then="bookmark", before=unmanaged), Plan())

    assert result.sent() == []
    assert cluster.watched_from == ["0", "3", "3"]


def test_a_watch_ended_by_the_server_resumes_at_once(cluster: FakeCsrApi) -> None:
    result = run(cluster, Plan(), Plan())

    assert result.waits == []
    assert result.restarts("closed") == 2
    assert cluster.lists == 1


def test_a_watch_that_ends_early_and_empty_is_resumed_after_a_backoff(cluster: FakeCsrApi) -> None:
    result = run(cluster, Plan(then="early"), Plan(then="early"), Plan())

    assert result.waits == [0.5, 1.0]  # a restarting API server or a proxy cutting streams is not hammered
    assert cluster.watched_from == ["0", "0", "0", "0"]
    assert result.restarts("closed") == 3


def test_410_gone_relists_and_sends_what_the_gap_hid(cluster: FakeCsrApi) -> None:
    cluster.create("alice")
    cluster.create("bob")
    cluster.create("carol")

    def gap(api: FakeCsrApi) -> None:
        api.create("dave")
        api.delete("bob")
        api.approve("carol")
        api.compact()

    result = run(cluster, Plan(before=gap))

    assert result.sent() == [
        ("ADDED", "alice"),
        ("ADDED", "bob"),
        ("ADDED", "carol"),
        ("ADDED", "alice"),  # a re-list sends every pending CSR again: at least once
        ("MODIFIED", "carol"),
        ("ADDED", "dave"),
        ("DELETED", "bob"),
    ]
    assert cluster.lists == 2
    assert result.restarts("expired") == 1
    assert result.waits == []


def test_not_ready_until_a_list_succeeds_and_list_failures_back_off(cluster: FakeCsrApi) -> None:
    cluster.list_failures = 3
    cluster.create("alice")

    result = run(cluster)

    assert result.waits == [0.5, 1.0, 2.0]
    assert result.sent() == [("ADDED", "alice")]
    assert result.source.ready.is_set()


def test_a_closed_queue_stops_the_loop_without_moving_past_the_event(cluster: FakeCsrApi) -> None:
    cluster.create("alice")

    def closed(event: CsrEvent) -> bool:
        cluster.stopping.set()
        return False

    result = run(cluster, publish=closed)

    assert result.source.resource_version is None
    assert not result.source.ready.is_set()
