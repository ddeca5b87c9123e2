"""Routing an authenticated HTTP request to discovery, OpenAPI or the CSR registry, and shaping the answer.

This is the request logic without sockets: `server` reads requests off TLS connections and writes back what
`Api.handle` returns, a whole `Response` or a chunked `Stream` for watches.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from devstack.cluster import discovery, openapi
from devstack.cluster.auth import Attributes, Authorizer, UserInfo
from devstack.cluster.decoding import Decoded, decode_body
from devstack.cluster.negotiation import negotiate, parse_bool, parse_int
from devstack.cluster.registry import CsrRegistry, Page
from devstack.cluster.schema import CSR, DELETE_OPTIONS, SELF_SUBJECT_REVIEW
from devstack.cluster.selectors import field_predicate, label_predicate
from devstack.cluster.status import (
    ApiError,
    bad_request,
    forbidden,
    forbidden_path,
    method_not_allowed,
    path_not_found,
    unauthorized,
)
from devstack.cluster.strategy import APPROVAL, MAIN, STATUS
from devstack.cluster.tables import csr_table
from devstack.cluster.watch import WatchRequest, stream

CSR_PREFIX = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
DEFAULT_WATCH_SECONDS = 1800  # kube-apiserver's --min-request-timeout
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_FIELD_VALIDATION = ("", "Ignore", "Warn", "Strict")


@dataclass
class Request:
    """One HTTP request, its body read, its caller authenticated (None when no credentials were valid)."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    user: UserInfo | None


@dataclass
class Response:
    """A whole answer."""

    code: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Stream:
    """A chunked answer: one JSON line per watch event."""

    chunks: Iterator[bytes]
    content_type: str = "application/json"
    code: int = 200


def json_response(code: int, body: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    """An object as compact JSON with a trailing newline, as kube-apiserver writes it."""
    return Response(code, json.dumps(body, separators=(",", ":")).encode() + b"\n", headers=headers or [])


@dataclass
class _Hook:
    method: str
    path_suffix: str
    action: Callable[[], None]


class Api:
    """The API server's request handling for this slice of Kubernetes."""

    def __init__(
        self,
        registry: CsrRegistry,
        authorizer: Authorizer,
        server_address: str,
        clock: Callable[[], datetime],
        bookmark_interval: float,
    ) -> None:
        self._registry = registry
        self._authorizer = authorizer
        self._server_address = server_address
        self._clock = clock
        self._bookmark_interval = bookmark_interval
        self._hooks: list[_Hook] = []
        self._hooks_lock = threading.Lock()

    def on_next_request(self, method: str, path_suffix: str, action: Callable[[], None]) -> None:
        """Run `action` once, just before the next request with this method and path suffix is handled.

        Tests use it to change the cluster at an exact moment, such as between a client's read and its write.
        """
        with self._hooks_lock:
            self._hooks.append(_Hook(method, path_suffix, action))

    def handle(self, request: Request) -> Response | Stream:
        """Answer one request; errors come back as Status responses."""
        try:
            self._run_hooks(request)
            return self._route(request)
        except ApiError as exc:
            return json_response(exc.code, exc.status(), list(exc.headers.items()))

    def _run_hooks(self, request: Request) -> None:
        with self._hooks_lock:
            due = next(
                (h for h in self._hooks if h.method == request.method and request.path.endswith(h.path_suffix)), None
            )
            if due is not None:
                self._hooks.remove(due)
        if due is not None:
            due.action()

    def _route(self, request: Request) -> Response | Stream:
        path = request.path.rstrip("/") or "/"
        if path in HEALTH_PATHS or path.startswith(tuple(p + "/" for p in HEALTH_PATHS)):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        user = request.user
        if user is None:
            raise unauthorized()
        if path == CSR_PREFIX or path.startswith(CSR_PREFIX + "/"):
            return self._csr(request, user, path)
        if path == SELF_SUBJECT_REVIEWS:
            return self._self_subject_review(request, user)
        document = self._non_resource(path, request.headers.get("Accept"))
        if document is None:
            raise path_not_found()
        if not self._authorizer.allowed(Attributes(user, "get", path=path, resource_request=False)):
            raise forbidden_path(user.username, "get", path)
        if request.method != "GET":
            raise method_not_allowed()
        return document()

    def _non_resource(self, path: str, accept: str | None) -> Callable[[], Response] | None:
        if path == "/version":
            return lambda: json_response(200, discovery.version_info())
        if path == "/api":
            return lambda: json_response(200, discovery.api_versions(self._server_address))
        if path == "/api/v1":
            return lambda: json_response(200, discovery.core_resources())
        if path == "/apis":
            return lambda: json_response(200, discovery.api_group_list())
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "apis" and parts[2] in discovery.GROUPS:
            return lambda: json_response(200, discovery.api_group(parts[2]))
        if len(parts) == 4 and parts[1] == "apis" and parts[3] == "v1":
            resources = discovery.api_resources(parts[2])
            return (lambda: json_response(200, resources)) if resources else None
        if path == "/openapi/v3":
            return lambda: json_response(200, openapi.v3_index())
        if path.startswith("/openapi/v3/"):
            document = openapi.v3_document(path.removeprefix("/openapi/v3/"))
            return (lambda: Response(200, openapi.encoded(document))) if document else None
        if path == "/openapi/v2":
            return lambda: _openapi_v2(accept)
        return None

    def _self_subject_review(self, request: Request, user: UserInfo) -> Response:
        if request.method != "POST":
            raise method_not_allowed()
        self._authorize(user, "create", "authentication.k8s.io", "selfsubjectreviews")
        decode_body(request.body, request.headers.get("Content-Type"), SELF_SUBJECT_REVIEW)
        review = {
            "kind": "SelfSubjectReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "status": {"userInfo": user.as_json()},
        }
        return json_response(201, review)

    def _csr(self, request: Request, user: UserInfo, path: str) -> Response | Stream:
        parts = [unquote(part) for part in path.removeprefix(CSR_PREFIX).split("/")[1:]]
        if len(parts) > 2 or (len(parts) == 2 and parts[1] not in (APPROVAL, STATUS)) or "" in parts:
            raise path_not_found()
        name = parts[0] if parts else ""
        subresource = parts[1] if len(parts) == 2 else MAIN
        method = request.method
        if method == "GET":
            watching = parse_bool(request.query, "watch")
            verb = "watch" if watching else "get" if name else "list"
            self._authorize(user, verb, "certificates.k8s.io", "certificatesigningrequests", subresource, name)
            if watching:
                return self._watch(request, name)
            return self._read(request, name)
        if method not in _VERBS or (method == "POST" and name) or (method in ("PUT", "PATCH") and not name):
            raise method_not_allowed()
        if subresource and method == "DELETE":
            raise method_not_allowed()
        verb = "deletecollection" if method == "DELETE" and not name else _VERBS[method]
        self._authorize(user, verb, "certificates.k8s.io", "certificatesigningrequests", subresource, name)
        dry_run = _dry_run(request.query)
        validation = request.query.get("fieldValidation", "")
        if validation not in _FIELD_VALIDATION:
            raise bad_request(f"invalid fieldValidation directive: {validation}")
        if method == "POST":
            decoded = decode_body(request.body, request.headers.get("Content-Type"), CSR)
            warnings = _field_problems(decoded, validation)
            return json_response(201, self._registry.create(decoded.object, user, dry_run), warnings)
        if method == "PUT":
            decoded = decode_body(request.body, request.headers.get("Content-Type"), CSR)
            warnings = _field_problems(decoded, validation)
            return json_response(200, self._registry.update(name, decoded.object, user, subresource, dry_run), warnings)
        if method == "PATCH":
            updated, decoded = self._registry.patch(
                name, request.headers.get("Content-Type"), request.body, user, subresource, dry_run
            )
            return json_response(200, updated, _field_problems(decoded, validation))
        options = self._delete_options(request)
        if name:
            return json_response(200, self._registry.delete(name, options, dry_run))
        deleted = self._registry.delete_collection(_predicate(request.query), options, dry_run)
        return json_response(200, _list_body(deleted))

    def _read(self, request: Request, name: str) -> Response:
        answer = negotiate(request.headers.get("Accept"), table_allowed=True)
        include = request.query.get("includeObject", "Metadata")
        if name:
            found = self._registry.get(name)
            if answer.table:
                return json_response(
                    200, csr_table([found], found["metadata"]["resourceVersion"], include, self._clock())
                )
            return json_response(200, found)
        limit = parse_int(request.query, "limit", 0)
        page = self._registry.list(_predicate(request.query), limit, request.query.get("continue", ""))
        if answer.table:
            table = csr_table(page.items, page.resource_version, include, self._clock())
            if page.continue_token:
                table["metadata"]["continue"] = page.continue_token
            return json_response(200, table)
        return json_response(200, _list_body(page))

    def _watch(self, request: Request, name: str) -> Stream:
        answer = negotiate(request.headers.get("Accept"), table_allowed=True)
        query = request.query
        predicate = _predicate(query)
        if name:
            by_name = field_predicate(f"metadata.name={name}")
            predicate = (lambda selected, named: lambda obj: selected(obj) and named(obj))(predicate, by_name)
        initial = parse_bool(query, "sendInitialEvents")
        bookmarks = parse_bool(query, "allowWatchBookmarks")
        version = query.get("resourceVersion", "")
        if version not in ("", "0") and not version.isdigit():
            raise bad_request(f'invalid resource version: "{version}"')
        if initial and (not bookmarks or query.get("resourceVersionMatch") != "NotOlderThan"):
            raise bad_request(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan and allowWatchBookmarks"
            )
        timeout = parse_int(query, "timeoutSeconds", DEFAULT_WATCH_SECONDS)
        watch = WatchRequest(version, predicate, bookmarks, initial, max(0, timeout))
        include = query.get("includeObject", "Metadata")

        def chunks() -> Iterator[bytes]:
            for kind, obj in stream(self._registry.store, watch, self._bookmark_interval):
                shown = obj
                if answer.table and kind in ("ADDED", "MODIFIED", "DELETED"):
                    shown = csr_table([obj], obj["metadata"]["resourceVersion"], include, self._clock())
                yield json.dumps({"type": kind, "object": shown}, separators=(",", ":")).encode() + b"\n"

        return Stream(chunks())

    def _delete_options(self, request: Request) -> dict[str, Any]:
        if not request.body.strip():
            return {}
        return decode_body(request.body, request.headers.get("Content-Type"), DELETE_OPTIONS).object

    def _authorize(
        self, user: UserInfo, verb: str, group: str, resource: str, subresource: str = "", name: str = ""
    ) -> None:
        attributes = Attributes(user, verb, group, resource, subresource, name)
        if not self._authorizer.allowed(attributes):
            raise forbidden(user.username, verb, resource, group, name or None, subresource)


def _openapi_v2(accept: str | None) -> Response:
    """JSON only: the protobuf form, which client-go's OpenAPISchema asks for alone, is answered 406."""
    negotiate(accept, table_allowed=False)
    return Response(200, openapi.encoded(openapi.v2_document()))


def _predicate(query: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    by_field = field_predicate(query.get("fieldSelector"))
    by_label = label_predicate(query.get("labelSelector"))
    return lambda obj: by_field(obj) and by_label(obj)


def _dry_run(query: dict[str, str]) -> bool:
    value = query.get("dryRun", "")
    if value and value != "All":
        raise bad_request(f'Invalid dryRun value "{value}": only All is supported')
    return value == "All"


def _field_problems(decoded: Decoded, validation: str) -> list[tuple[str, str]]:
    """Strict refuses unknown and duplicate fields; Warn (the default) reports them in Warning headers."""
    problems = decoded.problems()
    if not problems or validation == "Ignore":
        return []
    if validation == "Strict":
        raise bad_request(
            'CertificateSigningRequest in version "v1" cannot be handled as a CertificateSigningRequest: '
            f"strict decoding error: {', '.join(problems)}"
        )
    return [("Warning", '299 - "' + problem.replace('"', '\\"') + '"') for problem in problems]


def _list_body(page: Page) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": page.resource_version}
    if page.continue_token:
        metadata["continue"] = page.continue_token
        metadata["remainingItemCount"] = page.remaining
    items = [{key: value for key, value in item.items() if key not in ("kind", "apiVersion")} for item in page.items]
    return {
        "kind": "CertificateSigningRequestList",
        "apiVersion": "certificates.k8s.io/v1",
        "metadata": metadata,
        "items": items,
    }
