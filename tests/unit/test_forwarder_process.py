"""The forwarder as a whole, in this process: probes, metrics, JSON logs, and the drain on SIGTERM."""

from __future__ import annotations

import json
import logging
import platform
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from http_stand_in import Answer, Posted, answering

import csrgate
from csrgate.domain.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from csrgate.forwarder.config import ForwarderConfig, load_config
from csrgate.forwarder.logs import JsonFormatter
from csrgate.forwarder.main import Forwarder
from csrgate.forwarder.sender import HmacSigner
from csrgate.forwarder.source import CsrList, WatchEvent

KEY = "5e" * 32


def pending(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1"},
        "spec": {"request": "LS0t", "signerName": "kubernetes.io/kube-apiserver-client"},
    }


@dataclass
class QuietCluster:
    """Lists `names` once `released` is set; its watches see nothing until they time out."""

    names: list[str]
    released: threading.Event = field(default_factory=threading.Event)

    def list(self) -> CsrList:
        self.released.wait(10)
        return CsrList([pending(name) for name in self.names], "1")

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[WatchEvent]:
        time.sleep(0.2)
        return iter(())


@dataclass
class Receiver:
    """CSR events answered with `status` after `delay`; heartbeats answered apart, with `heartbeat_answer`."""

    status: int = 200
    delay: float = 0.0
    names: list[str] = field(default_factory=list)
    heartbeat_answer: tuple[int, dict[str, str]] = (200, {"heartbeat": "received"})
    heartbeats: list[Posted] = field(default_factory=list)
    url: str = ""

    def __call__(self, posted: Posted) -> Answer:
        body = json.loads(posted.body)
        if body["type"] == "HEARTBEAT":
            self.heartbeats.append(posted)
            status, answer = self.heartbeat_answer
            return status, answer, {}
        time.sleep(self.delay)
        if self.status == 200:
            self.names.append(body["object"]["metadata"]["name"])
        return self.status, {}, {}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    with answering(state) as url:
        state.url = url
        yield state


def forwarder_config(tmp_path: Path, receiver: Receiver, **settings: str) -> ForwarderConfig:
    """Settings for a forwarder sending to `receiver`, with short retries; `settings` on top."""
    key, kubeconfig = tmp_path / "key", tmp_path / "kubeconfig"
    key.write_text(KEY)
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    return load_config(
        {
            "CSRGATE_API_URL": receiver.url,
            "CSRGATE_CLUSTER": "lab",
            "CSRGATE_AUTH": "hmac",
            "CSRGATE_HMAC_KEY_FILE": str(key),
            "KUBECONFIG": str(kubeconfig),
            "CSRGATE_HTTP_ADDRESS": "127.0.0.1",
            "CSRGATE_HTTP_PORT": "0",
            "CSRGATE_RETRY_BASE_SECONDS": "0.05",
            "CSRGATE_RETRY_MAX_SECONDS": "0.2",
            "CSRGATE_DRAIN_SECONDS": "5",
            **settings,
        }
    )


@pytest.fixture
def config(tmp_path: Path, receiver: Receiver) -> ForwarderConfig:
    return forwarder_config(tmp_path, receiver)


@dataclass
class Running:
    forwarder: Forwarder
    thread: threading.Thread
    exit_status: list[int]

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.forwarder.health.port}{path}", timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read().decode()

    def stop(self) -> float:
        started = time.monotonic()
        self.forwarder.request_stop()
        self.thread.join(30)
        assert not self.thread.is_alive()
        return time.monotonic() - started


def start(config: ForwarderConfig, cluster: QuietCluster) -> Running:
    assert config.hmac_key_file is not None
    forwarder = Forwarder(config, cluster, HmacSigner(config.hmac_key_file, config.cluster))
    exit_status: list[int] = []
    thread = threading.Thread(target=lambda: exit_status.append(forwarder.run()), daemon=True)
    thread.start()
    return Running(forwarder, thread, exit_status)


def until(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_ready_only_after_the_first_list_and_metrics_name_every_counter(
    config: ForwarderConfig, receiver: Receiver
) -> None:
    cluster = QuietCluster(["alice", "bob"])
    running = start(config, cluster)
    until(lambda: running.forwarder.health.port != 0)
    until(lambda: running.get("/healthz")[0] == 200)

    before = running.get("/readyz")
    cluster.released.set()
    until(lambda: running.get("/readyz")[0] == 200)
    # the receiver has the events before the forwarder has read its answers and counted them: wait for the count
    sent = 'csrgate_forwarder_events_sent_total{type="ADDED"} 2.0'
    until(lambda: len(receiver.names) == 2 and sent in running.get("/metrics")[1])
    status, metrics = running.get("/metrics")
    unknown = running.get("/nowhere")
    running.stop()

    assert before == (503, "the first list of CSRs has not been queued yet\n")
    assert status == 200
    assert 'csrgate_forwarder_events_seen_total{type="LISTED"} 2.0' in metrics
    for name in ("send_retries_total", "events_failed_total", "queue_depth", "watch_restarts_total", "ready"):
        assert f"csrgate_forwarder_{name}" in metrics
    for outcome in ("sent", "retry", "refused"):
        assert f'csrgate_forwarder_send_duration_seconds_bucket{{le="+Inf",outcome="{outcome}"}}' in metrics
    build = f'csrgate_forwarder_build_info{{python="{platform.python_version()}",version="{csrgate.__version__}"}} 1.0'
    assert build in metrics
    assert unknown[0] == 404
    assert running.exit_status == [0]


def test_stopping_sends_everything_already_queued_before_exiting(config: ForwarderConfig, receiver: Receiver) -> None:
    receiver.delay = 0.02
    cluster = QuietCluster([f"csr-{n}" for n in range(40)])
    cluster.released.set()
    running = start(config, cluster)
    until(running.forwarder.source.ready.is_set)

    running.stop()

    assert sorted(receiver.names) == sorted(f"csr-{n}" for n in range(40))
    assert running.exit_status == [0]


def test_stopping_gives_up_at_the_drain_deadline_and_counts_what_it_abandoned(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.status = 503
    key, kubeconfig = tmp_path / "key", tmp_path / "kubeconfig"
    key.write_text(KEY)
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    config = load_config(
        {
            "CSRGATE_API_URL": receiver.url,
            "CSRGATE_CLUSTER": "lab",
            "CSRGATE_AUTH": "hmac",
            "CSRGATE_HMAC_KEY_FILE": str(key),
            "KUBECONFIG": str(kubeconfig),
            "CSRGATE_HTTP_ADDRESS": "127.0.0.1",
            "CSRGATE_HTTP_PORT": "0",
            "CSRGATE_SENDERS": "2",
            "CSRGATE_RETRY_BASE_SECONDS": "0.05",
            "CSRGATE_RETRY_MAX_SECONDS": "0.1",
            "CSRGATE_DRAIN_SECONDS": "0.5",
        }
    )
    cluster = QuietCluster([f"csr-{n}" for n in range(10)])
    cluster.released.set()
    running = start(config, cluster)
    until(running.forwarder.source.ready.is_set)

    took = running.stop()

    assert took >= 0.5  # the drain waited for what was in flight; stop() fails if it never ends
    registry = running.forwarder.metrics.registry
    abandoned = registry.get_sample_value("csrgate_forwarder_events_failed_total", {"reason": "shutdown"})
    assert abandoned == 10  # two in flight, given up in their retry wait; eight never taken from the queue
    assert receiver.names == []


def test_a_signed_heartbeat_arrives_once_ready_and_a_stop_does_not_wait_for_the_next(
    config: ForwarderConfig, receiver: Receiver
) -> None:
    cluster = QuietCluster(["alice"])
    running = start(config, cluster)
    until(lambda: running.get("/healthz")[0] == 200)
    before_ready = list(receiver.heartbeats)

    cluster.released.set()
    accepted = 'csrgate_forwarder_heartbeats_total{outcome="accepted"} 1.0'
    until(lambda: accepted in running.get("/metrics")[1])
    took = running.stop()

    assert before_ready == []  # the first heartbeat waits for the first list
    [beat] = receiver.heartbeats  # the next is CSRGATE_HEARTBEAT_SECONDS (300 by default) away
    assert beat.path == "/v1/hmac/csr-events"
    assert json.loads(beat.body) == {"cluster": "lab", "type": "HEARTBEAT"}
    verify(KEY.encode(), "lab", beat.headers[TIMESTAMP_HEADER], beat.headers[SIGNATURE_HEADER], beat.body, time.time)
    assert receiver.names == ["alice"]
    assert took < 5  # well short of the 300 s to the next heartbeat


def test_with_heartbeats_off_none_is_sent(tmp_path: Path, receiver: Receiver) -> None:
    config = forwarder_config(tmp_path, receiver, CSRGATE_HEARTBEAT_SECONDS="0")
    cluster = QuietCluster(["alice"])
    cluster.released.set()
    running = start(config, cluster)
    until(lambda: "csrgate_forwarder_ready 1.0" in running.get("/metrics")[1] and receiver.names == ["alice"])
    metrics = running.get("/metrics")[1]

    running.stop()  # had heartbeats been on, the first, started with readiness, would have been sent by now

    assert receiver.heartbeats == []
    assert "csrgate_forwarder_heartbeats_total{" not in metrics


@pytest.mark.parametrize(
    ("answer", "logged"),
    [
        ((401, {"error": "unauthenticated"}), "heartbeat.failed"),
        ((400, {"error": "invalid-event", "message": "type: Input should be 'ADDED'"}), "heartbeat.unsupported"),
    ],
)
def test_a_heartbeat_csrgate_refuses_is_logged_and_csr_events_still_arrive(
    config: ForwarderConfig,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    answer: tuple[int, dict[str, str]],
    logged: str,
) -> None:
    receiver.heartbeat_answer = answer
    names = [f"csr-{n}" for n in range(40)]
    cluster = QuietCluster(names)
    cluster.released.set()

    with caplog.at_level(logging.INFO, logger="csrgate.forwarder"):
        running = start(config, cluster)
        until(lambda: len(receiver.names) == 40 and logged in [record.getMessage() for record in caplog.records])
        running.stop()

    assert sorted(receiver.names) == sorted(names)
    assert len(receiver.heartbeats) == 1  # a refusal is not retried
    [line] = [record for record in caplog.records if record.getMessage().startswith("heartbeat.")]
    assert line.getMessage() == logged
    registry = running.forwarder.metrics.registry
    assert registry.get_sample_value("csrgate_forwarder_events_sent_total", {"type": "ADDED"}) == 40
    assert registry.get_sample_value("csrgate_forwarder_events_failed_total", {"reason": str(answer[0])}) is None


def test_a_heartbeat_retrying_through_an_outage_holds_up_neither_csr_events_nor_the_stop(
    config: ForwarderConfig, receiver: Receiver
) -> None:
    receiver.heartbeat_answer = (503, {"error": "retry-later"})
    names = [f"csr-{n}" for n in range(40)]
    cluster = QuietCluster(names)
    cluster.released.set()
    running = start(config, cluster)

    until(lambda: len(receiver.names) == 40 and len(receiver.heartbeats) >= 3)  # the heartbeat is still retrying
    took = running.stop()

    assert sorted(receiver.names) == sorted(names)
    assert took < 5
    registry = running.forwarder.metrics.registry
    assert registry.get_sample_value("csrgate_forwarder_heartbeats_total", {"outcome": "failed"}) == 0
    assert registry.get_sample_value("csrgate_forwarder_events_failed_total", {"reason": "shutdown"}) is None


def test_log_lines_are_json_with_the_fields_passed_in() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("csrgate.forwarder.sender", logging.ERROR, __file__, 1, "event.refused", None, None)
    record.__dict__.update(csr="alice", status="401", error="unauthenticated")
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()

    line = json.loads(formatter.format(record))

    assert line["message"] == "event.refused"
    assert (line["level"], line["logger"]) == ("ERROR", "csrgate.forwarder.sender")
    assert (line["csr"], line["status"], line["error"]) == ("alice", "401", "unauthenticated")
    assert line["time"].endswith("+00:00")
    assert "ValueError: boom" in line["exception"]


def test_a_health_port_already_taken_exits_1_with_a_log_line_naming_it(tmp_path: Path) -> None:
    key, kubeconfig = tmp_path / "key", tmp_path / "kubeconfig"
    key.write_text(KEY)
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
        "clusters: [{name: lab, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: forwarder, user: {token: not-used}}]\n"
        "contexts: [{name: lab, context: {cluster: lab, user: forwarder}}]\n"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {
            "CSRGATE_API_URL": "http://127.0.0.1:9",
            "CSRGATE_CLUSTER": "lab",
            "CSRGATE_AUTH": "hmac",
            "CSRGATE_HMAC_KEY_FILE": str(key),
            "KUBECONFIG": str(kubeconfig),
            "CSRGATE_HTTP_ADDRESS": "127.0.0.1",
            "CSRGATE_HTTP_PORT": str(taken.getsockname()[1]),
        }
        result = subprocess.run(
            [sys.executable, "-m", "csrgate.forwarder"], env=env, capture_output=True, text=True, timeout=60
        )

    assert result.returncode == 1
    [line] = [json.loads(text) for text in result.stdout.splitlines()]
    assert line["message"] == "forwarder.failed"
    assert "CSRGATE_HTTP_PORT" in line["reason"]
