"""The forwarder as a real process against the dev cluster, sending to a receiver that checks signatures:
every CSR arrives, through a burst, an API outage, a killed forwarder and a forced 410 Gone."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cluster_access import csr_manifest

from devstack.cluster import DevCluster
from devstack.csrs import make_csr
from devstack.forwarder_process import ForwarderProcess, forwarder_env
from devstack.forwarder_rig import HMAC_KEY, CsrMaker, Receiver
from devstack.harness import Kubectl

StartForwarder = Callable[..., ForwarderProcess]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver(HMAC_KEY.encode())
    running.up()
    yield running
    running.down()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """The key as a mounted Secret holds it, with the newline `openssl rand -hex 32 >file` leaves."""
    path = tmp_path / "secret" / "hmac-key"
    path.parent.mkdir()
    path.write_text(HMAC_KEY + "\n")
    return path


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DevCluster]:
    """A dev cluster of the test's own: the CSRs in it are exactly the test's, so counts are exact."""
    running = DevCluster(tmp_path / "cluster").start()
    yield running
    running.stop()


@pytest.fixture
def start_forwarder(tmp_path: Path, receiver: Receiver, key_file: Path) -> Iterator[StartForwarder]:
    """Start `python -m csrgate.forwarder` for a cluster, with settings on top of forwarder_env's."""
    started: list[ForwarderProcess] = []

    def start(cluster: DevCluster, **settings: str) -> ForwarderProcess:
        env = forwarder_env(cluster.approver_kubeconfig, receiver.url, key_file, **settings)
        process = ForwarderProcess(env, tmp_path / f"forwarder-{len(started)}.log")
        started.append(process)
        return process.start()

    yield start
    for process in started:
        if process.process is not None and process.process.poll() is None:
            process.kill()


@pytest.fixture
def kubectl(cluster: DevCluster, tmp_path: Path) -> Kubectl:
    return Kubectl.with_copy_of(cluster.admin_kubeconfig, tmp_path / "home")


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the forwarder's /metrics (0 when the series does not exist yet)."""
    selector = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    series = f"{name}{{{selector}}}" if labels else name
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_one_csr_arrives_signed_and_sigterm_stops_cleanly(
    cluster: DevCluster, kubectl: Kubectl, receiver: Receiver, start_forwarder: StartForwarder
) -> None:
    forwarder = start_forwarder(cluster)

    kubectl("apply", "-f", "-", stdin=csr_manifest("mesh-sidecar", make_csr("sidecar"), signerName="example.com/mesh"))
    kubectl("apply", "-f", "-", stdin=csr_manifest("myuser", make_csr("myuser")))
    receiver.until(lambda: "myuser" in receiver.names(), 15, "myuser's ADDED")
    receiver.until(lambda: bool(receiver.heartbeats), 15, "the heartbeat sent once ready")
    accepted = 'csrgate_forwarder_heartbeats_total{outcome="accepted"} 1.0'
    receiver.until(lambda: accepted in forwarder.metrics(), 5, "the heartbeat's answer counted")
    time.sleep(0.5)
    status, took = forwarder.terminate()

    [beat] = receiver.heartbeats  # the next is 300 s away: SIGTERM does not wait for it
    assert (beat.path, json.loads(beat.body)) == ("/v1/hmac/csr-events", {"cluster": "lab", "type": "HEARTBEAT"})
    assert took < 10
    [arrival] = receiver.arrivals  # the other signer is not csrgate's: left alone
    assert (arrival.type, arrival.name, arrival.path) == ("ADDED", "myuser", "/v1/hmac/csr-events")
    assert arrival.object["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client"
    assert receiver.rejected == []
    assert status == 0  # terminate() fails if the drain does not end
    messages = [line["message"] for line in forwarder.lines()]  # every line is JSON
    assert messages[:3] == ["forwarder.started", "csrs.listed", "forwarder.ready"]
    assert messages[-3:] == ["forwarder.signal", "forwarder.draining", "forwarder.stopped"]
    assert HMAC_KEY not in forwarder.output()
    assert arrival.headers["X-Csrgate-Signature"] not in forwarder.output()


def test_a_burst_of_500_csrs_all_arrive(
    cluster: DevCluster, receiver: Receiver, start_forwarder: StartForwarder
) -> None:
    forwarder = start_forwarder(cluster)
    names = [f"burst-{n:03d}" for n in range(500)]

    CsrMaker(cluster).create(names)
    receiver.until(lambda: receiver.names() >= set(names), 60, "every CSR of the burst")

    assert receiver.names() == set(names)
    assert len(receiver.arrivals) == 500  # once each: a steady watch sends nothing twice
    sent = lambda: metric(forwarder.metrics(), "csrgate_forwarder_events_sent_total", type="ADDED")  # noqa: E731
    receiver.until(lambda: sent() == 500, 5, "the last answers counted")  # the count follows the 200s it got
    assert "csrgate_forwarder_events_failed_total{" not in forwarder.metrics()


def test_an_api_outage_of_30_seconds_loses_nothing(
    cluster: DevCluster, receiver: Receiver, start_forwarder: StartForwarder
) -> None:
    # A small queue, so the outage also fills it and blocks the watch; retries capped at 2 s so the test sees
    # the end of the outage quickly (the production cap, 60 s, only changes how soon after it ends).
    forwarder = start_forwarder(cluster, CSRGATE_QUEUE_SIZE="16", CSRGATE_RETRY_MAX_SECONDS="2")
    maker = CsrMaker(cluster)
    before = [f"before-{n:02d}" for n in range(10)]
    during = [f"during-{n:02d}" for n in range(60)]
    maker.create(before)
    receiver.until(lambda: receiver.names() >= set(before), 15, "the CSRs made before the outage")

    receiver.down()
    outage_began = time.monotonic()
    maker.create(during)

    def full_and_retrying() -> bool:
        metrics = forwarder.metrics()
        retries = metric(metrics, "csrgate_forwarder_send_retries_total", reason="connection")
        return metric(metrics, "csrgate_forwarder_queue_depth") == 16 and retries >= 4

    receiver.until(full_and_retrying, 60, "the queue filled and the sends retried during the outage")
    time.sleep(max(0.0, 30 - (time.monotonic() - outage_began)))  # the outage lasts its 30 s at least
    metrics = forwarder.metrics()
    receiver.up()
    receiver.until(lambda: receiver.names() >= set(during), 30, "the CSRs made during the outage")

    assert receiver.names() == set(before) | set(during)
    assert metric(metrics, "csrgate_forwarder_queue_depth") == 16  # full: the watch waited, nothing dropped
    assert metric(metrics, "csrgate_forwarder_send_retries_total", reason="connection") >= 4
    assert forwarder.probe("/healthz") == 200


def test_a_forwarder_killed_mid_burst_and_started_again_misses_nothing(
    cluster: DevCluster, receiver: Receiver, start_forwarder: StartForwarder
) -> None:
    first = start_forwarder(cluster)
    names = [f"burst-{n:03d}" for n in range(500)]
    creating = threading.Thread(target=CsrMaker(cluster).create, args=(names,))
    creating.start()

    receiver.until(lambda: len(receiver.names()) >= 100, 60, "a fifth of the burst")
    first.kill()
    killed_at = len(receiver.names())
    start_forwarder(cluster)
    creating.join(120)
    receiver.until(lambda: receiver.names() >= set(names), 60, "every CSR of the burst")

    assert killed_at < 500  # the kill did land mid-burst
    assert receiver.names() == set(names)
    assert len(receiver.arrivals) > 500  # the second forwarder's list sent the pending ones again: at least once


def test_a_forced_410_relists_and_nothing_is_missing(
    tmp_path: Path, receiver: Receiver, start_forwarder: StartForwarder
) -> None:
    # A history of 20 changes, and watches that end every second: the forwarder's next watch after 40 quick
    # creations asks for a version the history no longer holds.
    cluster = DevCluster(tmp_path / "short-history", history_limit=20).start()
    try:
        forwarder = start_forwarder(cluster, CSRGATE_WATCH_TIMEOUT_SECONDS="1")
        maker = CsrMaker(cluster)
        gap = [f"gap-{n:02d}" for n in range(40)]
        assert cluster.api is not None
        cluster.api.on_next_request("GET", "/certificatesigningrequests", lambda: maker.create(gap))

        receiver.until(lambda: receiver.names() >= set(gap), 30, "the CSRs made in the gap")
        metrics = forwarder.metrics()
    finally:
        cluster.stop()

    assert receiver.names() == set(gap)
    assert metric(metrics, "csrgate_forwarder_watch_restarts_total", reason="expired") == 1
    assert "watch.expired" in [line["message"] for line in forwarder.lines()]


def test_approval_issuance_denial_and_deletion_arrive_as_modified_and_deleted(
    cluster: DevCluster, kubectl: Kubectl, receiver: Receiver, start_forwarder: StartForwarder
) -> None:
    start_forwarder(cluster)
    kubectl("apply", "-f", "-", stdin=csr_manifest("alice", make_csr("alice")))
    kubectl("apply", "-f", "-", stdin=csr_manifest("mallory", make_csr("mallory")))
    receiver.until(lambda: {"alice", "mallory"} <= receiver.names(), 15, "both ADDED")

    kubectl("certificate", "approve", "alice")
    kubectl("certificate", "deny", "mallory")
    receiver.until(lambda: receiver.of("alice")[-1:] == ["MODIFIED"] and len(receiver.of("alice")) == 3, 15,
                   "alice approved, then issued")  # fmt: skip
    kubectl("delete", "csr", "alice", "mallory")
    receiver.until(lambda: {"alice", "mallory"} <= receiver.names("DELETED"), 15, "both DELETED")

    assert receiver.of("alice") == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]
    assert receiver.of("mallory") == ["ADDED", "MODIFIED", "DELETED"]
    approved, issued = [arrival.object for arrival in receiver.arrivals if arrival.name == "alice"][1:3]
    assert [c["type"] for c in approved["status"]["conditions"]] == ["Approved"]
    assert "certificate" not in approved["status"]
    assert issued["status"]["certificate"]
    denied = [arrival.object for arrival in receiver.arrivals if arrival.name == "mallory"][1]
    assert [c["type"] for c in denied["status"]["conditions"]] == ["Denied"]


def test_the_iam_route_is_signed_with_sigv4_from_the_default_credential_chain(
    cluster: DevCluster, receiver: Receiver, start_forwarder: StartForwarder
) -> None:
    start_forwarder(
        cluster,
        CSRGATE_AUTH="iam",
        CSRGATE_HMAC_KEY_FILE="",
        CSRGATE_AWS_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="ASIAFORWARDEREXAMPLE",
        AWS_SECRET_ACCESS_KEY="forwarder-secret-example",
        AWS_SESSION_TOKEN="forwarder-session-example",
        AWS_EC2_METADATA_DISABLED="true",
    )

    CsrMaker(cluster).create(["sigv4"])
    receiver.until(lambda: "sigv4" in receiver.names(), 15, "the CSR's ADDED")
    receiver.until(lambda: bool(receiver.heartbeats), 15, "the heartbeat sent once ready")

    [arrival] = receiver.arrivals
    [beat] = receiver.heartbeats
    assert (arrival.path, beat.path) == ("/v1/csr-events", "/v1/csr-events")
    assert json.loads(beat.body) == {"cluster": "lab", "type": "HEARTBEAT"}
    for headers in (arrival.headers, beat.headers):
        assert re.fullmatch(
            r"AWS4-HMAC-SHA256 Credential=ASIAFORWARDEREXAMPLE/\d{8}/eu-west-1/execute-api/aws4_request, "
            r"SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}",
            headers["Authorization"],
        )
        assert headers["X-Amz-Security-Token"] == "forwarder-session-example"
