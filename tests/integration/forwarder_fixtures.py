"""What the forwarder's integration tests run: a receiver standing in for csrgate's API, the forwarder as a real
process (`python -m csrgate.forwarder`), a dev cluster of each test's own, and fast CSR creation."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubernetes import client, config

from csrfactory import make_csr
from csrgate.domain.signing import CLUSTER_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureRejected, verify
from devstack.cluster import DevCluster

HMAC_KEY = "c0ffee" * 11  # 66 characters, as the cluster's Secret would hold `openssl rand -hex 32` and more
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"


@dataclass(frozen=True)
class Arrival:
    """One event the receiver accepted, and when (time.time(), comparable with CSR creation times)."""

    type: str
    name: str
    uid: str
    at: float
    path: str
    headers: dict[str, str]
    object: dict[str, Any]


@dataclass
class Receiver:
    """csrgate's API in small: checks each event's HMAC signature (401 if it does not hold or was seen before),
    records it, answers 200. `down()` closes its port (connections are refused), `up()` opens the same port again."""

    key: bytes
    arrivals: list[Arrival] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _connections: set[socket.socket] = field(default_factory=set)
    _signatures: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        """The base URL the forwarder is given (CSRGATE_API_URL)."""
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        """Listen (again, on the same port)."""
        self._server = _QuietServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def down(self) -> None:
        """Stop listening and cut the kept-alive connections: the forwarder's are refused until up()."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections.clear()

    def names(self, kind: str = "ADDED") -> set[str]:
        """Names of the CSRs that arrived with this event type."""
        with self._lock:
            return {arrival.name for arrival in self.arrivals if arrival.type == kind}

    def of(self, name: str) -> list[str]:
        """The event types that arrived for one CSR, in order."""
        with self._lock:
            return [arrival.type for arrival in self.arrivals if arrival.name == name]

    def until(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        """Wait for the condition; fail naming what did not happen."""
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"after {seconds:.0f} s: {what} ({len(self.arrivals)} events arrived)")
            time.sleep(0.05)

    def _record(self, path: str, headers: dict[str, str], raw: bytes) -> int:
        if path.endswith("/hmac/csr-events"):
            signature = headers.get(SIGNATURE_HEADER)
            try:
                cluster = headers.get(CLUSTER_HEADER) or ""
                verify(self.key, cluster, headers.get(TIMESTAMP_HEADER), signature, raw, time.time)
            except SignatureRejected as exc:
                self.rejected.append(str(exc))
                return 401
            with self._lock:  # as csrgate does: a signature seen before is a replay
                if signature in self._signatures:
                    self.rejected.append("replayed")
                    return 401
                self._signatures.add(str(signature))
        event = json.loads(raw)
        assert set(event) == {"cluster", "type", "object"}, event.keys()
        metadata = event["object"]["metadata"]
        arrival = Arrival(event["type"], metadata["name"], metadata["uid"], time.time(), path, headers, event["object"])
        with self._lock:
            self.arrivals.append(arrival)
        return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway answers

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                super().finish()
                with receiver._lock:
                    receiver._connections.discard(self.connection)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver._record(self.path, dict(self.headers.items()), raw)
                body = b'{"request_id":"r","state":"awaiting_review","created":true}' if status == 200 else b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """Connections cut by down() or by a killed forwarder are expected here: no traceback on stderr for them."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@dataclass
class ForwarderProcess:
    """`python -m csrgate.forwarder` as a pod would run it, its JSON log lines kept in a file."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: Any = None

    def start(self, ready_within: float = 30.0) -> ForwarderProcess:
        """Start and wait until /readyz answers 200 (the first list is queued)."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's lifetime
        self.process = subprocess.Popen(
            [sys.executable, "-m", "csrgate.forwarder"], env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + ready_within
        while self.probe("/readyz") != 200:
            if self.process.poll() is not None:
                raise AssertionError(f"the forwarder exited with {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the forwarder was not ready within {ready_within} s:\n{self.output()}")
            time.sleep(0.05)
        return self

    def lines(self) -> list[dict[str, Any]]:
        """Every JSON log line so far (all lines must be JSON)."""
        return [json.loads(line) for line in self.output().splitlines() if line.strip()]

    def output(self) -> str:
        """The raw log."""
        return self.log_path.read_text(encoding="utf-8") if self.log_path.exists() else ""

    @property
    def http_port(self) -> int | None:
        """The health port of the running process, from its last forwarder.started line."""
        started = [line for line in self.lines() if line.get("message") == "forwarder.started"]
        return int(started[-1]["http_port"]) if started else None

    def probe(self, path: str) -> int | None:
        """The status of GET path on the health port (None while nothing answers)."""
        try:
            port = self.http_port
        except json.JSONDecodeError:
            return None  # a line is being written
        if port is None:
            return None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return int(refused.code)
        except OSError:
            return None

    def metrics(self) -> str:
        """The Prometheus exposition text."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as answer:
            return str(answer.read().decode())

    def kill(self) -> None:
        """SIGKILL: no drain, as when a node dies or the OOM killer strikes."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self._close_log()

    def terminate(self, within: float = 30.0) -> tuple[int, float]:
        """SIGTERM, as the kubelet stops a pod; the exit status and how long the drain took."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(within)
        self._close_log()
        return status, time.monotonic() - started

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def forwarder_env(cluster: DevCluster, receiver: Receiver, key_file: Path, **settings: str) -> dict[str, str]:
    """The forwarder's environment: the approver's kubeconfig (get, list and watch CSRs), HMAC to the receiver."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(key_file.parent),
        "KUBECONFIG": str(cluster.approver_kubeconfig),
        "CSRGATE_API_URL": receiver.url,
        "CSRGATE_CLUSTER": "lab",
        "CSRGATE_AUTH": "hmac",
        "CSRGATE_HMAC_KEY_FILE": str(key_file),
        "CSRGATE_HTTP_ADDRESS": "127.0.0.1",
        "CSRGATE_HTTP_PORT": "0",
        "CSRGATE_LOG_LEVEL": "INFO",
    }
    env.update(settings)
    return env


class CsrMaker:
    """Creates CSRs through the Kubernetes API as fast as it accepts them (several connections at once)."""

    def __init__(self, cluster: DevCluster, connections: int = 4) -> None:
        self._api = client.CertificatesV1Api(config.new_client_from_config(str(cluster.admin_kubeconfig)))
        self._connections = connections
        self._request = base64.b64encode(make_csr("burst-user")).decode()
        self.created_at: dict[str, float] = {}

    def create(self, names: Iterable[str]) -> None:
        """Create one CSR per name (the same key, as one user asking many times); record when each was created."""
        with ThreadPoolExecutor(self._connections) as pool:
            list(pool.map(self._create_one, names))

    def _create_one(self, name: str) -> None:
        body = {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {
                "request": self._request,
                "signerName": CLIENT_SIGNER,
                "usages": ["client auth"],
                "expirationSeconds": 3600,
            },
        }
        started = time.time()
        self._api.create_certificate_signing_request(body, _preload_content=False)
        self.created_at[name] = started
