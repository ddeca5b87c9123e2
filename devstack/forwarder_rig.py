"""What the forwarder is run against in its integration tests and benchmark: a receiver standing in for csrgate's
API, and CSRs created in a dev cluster as fast as it accepts them. The forwarder itself: devstack.forwarder_process."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubernetes import client, config

from csrgate.domain.signing import CLUSTER_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureRejected, verify
from devstack.cluster import DevCluster
from devstack.csrs import make_csr

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


@dataclass(frozen=True)
class Beat:
    """One heartbeat the receiver accepted."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """csrgate's API in small: checks each event's HMAC signature (401 if it does not hold or was seen before),
    records it (a CSR event in `arrivals`, a heartbeat in `heartbeats`), answers 200. `down()` closes its port
    (connections are refused), `up()` opens the same port again."""

    key: bytes
    arrivals: list[Arrival] = field(default_factory=list)
    heartbeats: list[Beat] = field(default_factory=list)
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
        if event.get("type") == "HEARTBEAT":  # the same body every time: only its fresh signature tells two apart
            assert set(event) == {"cluster", "type"}, event.keys()
            with self._lock:
                self.heartbeats.append(Beat(path, headers, raw))
            return 200
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

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
                pass

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """Connections cut by down() or by a killed forwarder are expected here: no traceback on stderr for them."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


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
