"""The forwarder's small HTTP port: /healthz (alive), /readyz (first list queued) and /metrics (Prometheus)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

LOG = logging.getLogger("csrgate.forwarder.health")


class HealthServer:
    """Serves the probes and metrics on a thread of its own; start() returns the port actually bound."""

    def __init__(
        self,
        address: str,
        port: int,
        alive: Callable[[], bool],
        ready: Callable[[], bool],
        registry: CollectorRegistry,
    ) -> None:
        self._server = ThreadingHTTPServer((address, port), _handler(alive, ready, registry))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="health-http", daemon=True
        )

    @property
    def port(self) -> int:
        """The port served."""
        return int(self._server.server_address[1])

    def start(self) -> int:
        """Start serving."""
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


def _handler(
    alive: Callable[[], bool], ready: Callable[[], bool], registry: CollectorRegistry
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "csrgate-forwarder"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._answer(*_probe(alive(), "alive", "a worker thread has stopped"))
            elif path == "/readyz":
                self._answer(*_probe(ready(), "ready", "the first list of CSRs has not been queued yet"))
            elif path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            else:
                self._answer(404, b"not found\n")

        def _answer(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            pass  # probes every few seconds would drown the log; failures show in the pod's events

    return Handler


def _probe(ok: bool, good: str, bad: str) -> tuple[int, bytes]:
    return (200, f"{good}\n".encode()) if ok else (503, f"{bad}\n".encode())
