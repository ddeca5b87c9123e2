"""A local API Gateway (HTTP API): requests become payload format 2.0 events for the template's function routes."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from devstack.functions import LocalFunction

LOG = logging.getLogger("devstack.gateway")
# API Gateway passes these content types through as text when the body is UTF-8; anything else arrives
# base64-encoded, with isBase64Encoded true
_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml")
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # an HTTP API's request payload quota


@dataclass(frozen=True)
class Route:
    """One `METHOD /path` route and the function behind it."""

    method: str
    path: str
    function: str

    @property
    def key(self) -> str:
        """The routeKey, as API Gateway writes it."""
        return f"{self.method} {self.path}"


def template_routes(template: dict[str, Any]) -> list[Route]:
    """The HttpApi events of every function in the template."""
    routes = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                properties = event["Properties"]
                routes.append(Route(str(properties["Method"]).upper(), str(properties["Path"]), logical_id))
    return routes


@dataclass
class LocalGateway:
    """Serves the routes on 127.0.0.1 and calls each route's function as API Gateway's Lambda integration does."""

    routes: list[Route]
    functions: dict[str, LocalFunction]
    api_id: str = "local"
    # What the dev stack itself answers under /_dev/ (no such route exists in AWS): (path, body) -> status, JSON
    dev: Callable[[str, bytes], tuple[int, Any]] | None = None
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The API's base URL (what the ApiUrl output is in AWS)."""
        assert self._server is not None, "start the gateway first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LocalGateway:
        """Listen on a free port in a background thread."""
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                gateway._handle(self)

            def do_POST(self) -> None:
                gateway._handle(self)

            def do_PUT(self) -> None:
                gateway._handle(self)

            def do_DELETE(self) -> None:
                gateway._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="local-gateway", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def event(self, route: Route, request: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
        """The payload format 2.0 event API Gateway would build for this request."""
        path, _, query = request.path.partition("?")
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            # HTTP APIs lower-case header names and join repeated ones with commas
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        content_type = headers.get("content-type", "")
        is_text = not body or (content_type.startswith(_TEXT_TYPES) and _is_utf8(body))
        now = time.time()
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": self.api_id,
                "domainName": headers.get("host", "127.0.0.1"),
                "domainPrefix": self.api_id,
                "http": {
                    "method": route.method,
                    "path": path,
                    "protocol": request.request_version,
                    "sourceIp": request.client_address[0],
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": uuid.uuid4().hex[:16],
                "routeKey": route.key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": not is_text,
        }
        if query:
            event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
        if body:
            event["body"] = body.decode("utf-8") if is_text else base64.b64encode(body).decode("ascii")
        return event

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = request.headers.get("Content-Length") or "0"
        if not (length.isascii() and length.isdigit()) or int(length) > MAX_PAYLOAD_BYTES:
            request.close_connection = True  # the body is left unread: the connection cannot carry another request
            if not (length.isascii() and length.isdigit()):
                return _reply(request, 400, {"content-type": "application/json"}, b'{"message":"Bad Request"}')
            payload = b'{"message":"Request Entity Too Large"}'
            return _reply(request, 413, {"content-type": "application/json"}, payload)
        body = request.rfile.read(int(length))
        path = request.path.partition("?")[0]
        if path.startswith("/_dev/") and self.dev is not None and request.command == "POST":
            status, answer = self.dev(path.removeprefix("/_dev/"), body)
            return _reply(request, status, {"content-type": "application/json"}, json.dumps(answer).encode("utf-8"))
        route = next((r for r in self.routes if r.method == request.command and r.path == path), None)
        if route is None:
            return _reply(request, 404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
        try:
            answer = self.functions[route.function].invoke(self.event(route, request, body))
        except Exception:
            LOG.exception("%s failed", route.function)
            return _reply(request, 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
        status, headers, payload = _response(answer)
        _reply(request, status, headers, payload)


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _response(answer: Any) -> tuple[int, dict[str, str], bytes]:
    """Payload format 2.0's response: a dict with statusCode, or anything else returned as a JSON 200."""
    if isinstance(answer, dict) and "statusCode" in answer:
        body = answer.get("body") or ""
        payload = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode("utf-8")
        headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
        return int(answer["statusCode"]), headers, payload
    return 200, {"content-type": "application/json"}, json.dumps(answer).encode("utf-8")


def _reply(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes) -> None:
    request.send_response(status)
    for name, value in headers.items():
        if name.lower() not in ("content-length", "connection"):
            request.send_header(name, value)
    request.send_header("Content-Length", str(len(payload)))
    request.end_headers()
    request.wfile.write(payload)
