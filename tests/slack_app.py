"""A Slack app for the stand-in's tests: a local HTTP server that keeps each request Slack's stand-in sends it, with
whether its signature checks out, and answers what the test says."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier


@dataclass
class Received:
    """One request the app got, as it would read it."""

    path: str
    content_type: str
    body: str
    signed: bool

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body))

    @property
    def payload(self) -> dict[str, Any]:
        """The interaction payload of a form body, or the JSON body (events)."""
        return dict(json.loads(self.form["payload"] if "form" in self.content_type else self.body))


Answer = tuple[int, str, str]  # status, content type, body
EMPTY: Answer = (200, "text/plain", "")


@dataclass
class SlackApp:
    """Answers what `answer` says and keeps every request, with whether its Slack signature checks out."""

    secret: str
    answer: Callable[[Received], Answer] = lambda received: EMPTY
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> SlackApp:
        app, verifier = self, SignatureVerifier(self.secret)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signed = verifier.is_valid_request(raw, dict(self.headers))
                received = Received(self.path, self.headers.get("Content-Type") or "", raw.decode(), signed)
                app.received.append(received)
                status, kind, body = app.answer(received)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body.encode())))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
