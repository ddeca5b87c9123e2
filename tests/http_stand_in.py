"""A local HTTP endpoint standing in for csrgate's API in the forwarder's tests: each POST is answered by a function of
what arrived, on a server of its own thread, so a test scripts answers without the plumbing."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Posted:
    """One POST as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes


# status, body (JSON, or bytes sent as they are), headers beyond the content's
Answer = tuple[int, Mapping[str, Any] | bytes, Mapping[str, str]]


@contextmanager
def answering(answer: Callable[[Posted], Answer]) -> Iterator[str]:
    """Serve on 127.0.0.1 until the block ends, answering each POST with `answer(posted)`; the server's base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posted = Posted(self.path, dict(self.headers.items()), self.rfile.read(int(self.headers["Content-Length"])))
            status, body, headers = answer(posted)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            # a sender that timed out waiting for a slow answer has closed the connection: nobody reads this one
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
