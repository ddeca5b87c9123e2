"""Routing an authenticated HTTP request to discovery, OpenAPI, an access review or a registry (CSRs, Nodes,
Namespaces, ConfigMaps, RBAC objects), and shaping the answer.

This is the request logic without sockets: `server` reads requests off TLS connections and writes back what
`Api.handle` returns, a whole `Response` or a chunked `Stream` for watches.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from devstack.cluster import discovery, openapi, reviews
from devstack.cluster.auth import Attributes, Authorizer, UserInfo
from devstack.cluster.decoding import Decoded, decode_body
from devstack.cluster.negotiation import negotiate, parse_bool, parse_int
from devstack.cluster.nodes import NodeRegistry
from devstack.cluster.registry import CsrRegistry, Page, Registry
from devstack.cluster.schema import (
    DELETE_OPTIONS,
    SELF_SUBJECT_ACCESS_REVIEW,
    SELF_SUBJECT_REVIEW,
    SELF_SUBJECT_RULES_REVIEW,
)
from devstack.cluster.selectors import CSR_FIELDS, NODE_FIELDS, FieldReaders, field_predicate, label_predicate
from devstack.cluster.status import (
    ApiError,
    bad_request,
    forbidden,
    forbidden_path,
    method_not_allowed,
    not_found,
    path_not_found,
    unauthorized,
)
from devstack.cluster.strategy import APPROVAL, MAIN, STATUS
from devstack.cluster.tables import csr_table, node_table
from devstack.cluster.watch import WatchRequest, stream

CSR_PREFIX = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
NODE_PREFIX = "/api/v1/nodes"
SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SELF_SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SELF_SUBJECT_RULES_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
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


Printer = Callable[[list[dict[str, Any]], str, str, datetime], dict[str, Any]]


@dataclass(frozen=True)
class Served:
    """A resource this server serves: where it is, how its objects are kept, selected and printed."""

    prefix: str
    registry: Registry
    subresources: tuple[str, ...]
    fields: FieldReaders
    table: Printer

    @property
    def api_version(self) -> str:
        """group/version, or v1 for the core group."""
        group = self.registry.resource.group
        return f"{group}/v1" if group else "v1"

    @property
    def group_path(self) -> str:
        """/api/v1, or /apis/{group}/v1: where namespaced paths (…/namespaces/{ns}/{resource}) start."""
        group = self.registry.resource.group
        return f"/apis/{group}/v1" if group else "/api/v1"


@dataclass(frozen=True)
class Target:
    """What a resource path names: the resource, the namespace ("" for all or cluster-scoped), and the rest."""

    served: Served
    namespace: str
    parts: list[str]


class Api:
    """The API server's request handling for this slice of Kubernetes."""

    def __init__(
        self,
        registry: CsrRegistry,
        authorizer: Authorizer,
        server_address: str,
        clock: Callable[[], datetime],
        bookmark_interval: float,
        nodes: NodeRegistry | None = None,
        more: Sequence[Served] = (),
        namespaces: Registry | None = None,
    ) -> None:
        self._served = [Served(CSR_PREFIX, registry, (APPROVAL, STATUS), CSR_FIELDS, csr_table)]
        if nodes is not None:
            self._served.append(Served(NODE_PREFIX, nodes, (STATUS,), NODE_FIELDS, node_table))
        self._served.extend(more)
        self._namespaces = namespaces  # namespaced objects are created only in a namespace that exists
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
        target = self._target(path)
        if target is not None:
            return self._resource(request, user, target)
        if path == SELF_SUBJECT_REVIEWS:
            return self._self_subject_review(request, user)
        if path in (SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_RULES_REVIEWS):
            return self._access_review(request, user, path)
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

    def _target(self, path: str) -> Target | None:
        """The resource a path names: …/namespaces/{ns}/{resource}[/…] for a namespaced one (looked for first, as
        /api/v1/namespaces is itself a resource), else a resource's own prefix (all namespaces for a namespaced one)."""
        for served in self._served:
            base = f"{served.group_path}/namespaces/"
            if served.registry.namespaced and path.startswith(base):
                segments = path.removeprefix(base).split("/")
                if len(segments) >= 2 and segments[1] == served.registry.resource.name and segments[0]:
                    return Target(served, unquote(segments[0]), [unquote(part) for part in segments[2:]])
        for served in self._served:
            if path == served.prefix or path.startswith(served.prefix + "/"):
                parts = [unquote(part) for part in path.removeprefix(served.prefix).split("/")[1:]]
                if served.registry.namespaced and parts:
                    raise path_not_found()  # a named namespaced object is reached only through its namespace
                return Target(served, "", parts)
        return None

    def _resource(self, request: Request, user: UserInfo, target: Target) -> Response | Stream:
        served, namespace, parts = target.served, target.namespace, target.parts
        if len(parts) > 2 or (len(parts) == 2 and parts[1] not in served.subresources) or "" in parts:
            raise path_not_found()
        name = parts[0] if parts else ""
        subresource = parts[1] if len(parts) == 2 else MAIN
        method = request.method
        registry = served.registry
        group, resource = registry.resource.group, registry.resource.name
        scope = _Scope(user, group, resource, subresource, name, namespace)
        if method == "GET":
            watching = parse_bool(request.query, "watch")
            self._authorize_in(scope, "watch" if watching else "get" if name else "list")
            if watching:
                return self._watch(request, name, served, namespace)
            return self._read(request, name, served, namespace)
        if method not in _VERBS or (method == "POST" and name) or (method in ("PUT", "PATCH") and not name):
            raise method_not_allowed()
        if (subresource and method == "DELETE") or (registry.namespaced and not namespace):
            raise method_not_allowed()
        self._authorize_in(scope, "deletecollection" if method == "DELETE" and not name else _VERBS[method])
        return self._write(request, user, target, name, subresource)

    def _write(self, request: Request, user: UserInfo, target: Target, name: str, subresource: str) -> Response:
        served, namespace, method = target.served, target.namespace, request.method
        registry = served.registry
        dry_run = _dry_run(request.query)
        validation = request.query.get("fieldValidation", "")
        if validation not in _FIELD_VALIDATION:
            raise bad_request(f"invalid fieldValidation directive: {validation}")
        kind = registry.resource.kind
        content_type = request.headers.get("Content-Type")
        if method == "POST":
            decoded = decode_body(request.body, content_type, registry.message)
            warnings = _field_problems(decoded, validation, kind)
            self._require_namespace(namespace)
            return json_response(201, registry.create(decoded.object, user, dry_run, namespace), warnings)
        if method == "PUT":
            decoded = decode_body(request.body, content_type, registry.message)
            warnings = _field_problems(decoded, validation, kind)
            updated = registry.update(name, decoded.object, user, subresource, dry_run, namespace)
            return json_response(200, updated, warnings)
        if method == "PATCH":
            updated, decoded = registry.patch(name, content_type, request.body, user, subresource, dry_run, namespace)
            return json_response(200, updated, _field_problems(decoded, validation, kind))
        options = self._delete_options(request)
        if name:
            return json_response(200, registry.delete(name, options, dry_run, namespace))
        deleted = registry.delete_collection(_predicate(request.query, served.fields), options, dry_run, namespace)
        return json_response(200, _list_body(deleted, served))

    def _require_namespace(self, namespace: str) -> None:
        """NamespaceLifecycle admission: nothing is created in a namespace that does not exist."""
        if namespace and self._namespaces is not None and self._namespaces.store.get(namespace) is None:
            raise not_found(namespace, self._namespaces.resource)

    def _access_review(self, request: Request, user: UserInfo, path: str) -> Response:
        if request.method != "POST":
            raise method_not_allowed()
        resource = path.rsplit("/", 1)[1]
        self._authorize(user, "create", "authorization.k8s.io", resource)
        content_type = request.headers.get("Content-Type")
        if path == SELF_SUBJECT_ACCESS_REVIEWS:
            review = decode_body(request.body, content_type, SELF_SUBJECT_ACCESS_REVIEW).object
            return json_response(201, reviews.access_review(self._authorizer, user, review))
        review = decode_body(request.body, content_type, SELF_SUBJECT_RULES_REVIEW).object
        return json_response(201, reviews.rules_review(self._authorizer, user, review))

    def _read(self, request: Request, name: str, served: Served, namespace: str) -> Response:
        answer = negotiate(request.headers.get("Accept"), table_allowed=True)
        include = request.query.get("includeObject", "Metadata")
        if name:
            found = served.registry.get(name, namespace)
            if answer.table:
                return json_response(
                    200, served.table([found], found["metadata"]["resourceVersion"], include, self._clock())
                )
            return json_response(200, found)
        limit = parse_int(request.query, "limit", 0)
        predicate = _predicate(request.query, served.fields)
        page = served.registry.list(predicate, limit, request.query.get("continue", ""), namespace)
        if answer.table:
            table = served.table(page.items, page.resource_version, include, self._clock())
            if page.continue_token:
                table["metadata"]["continue"] = page.continue_token
            return json_response(200, table)
        return json_response(200, _list_body(page, served))

    def _watch(self, request: Request, name: str, served: Served, namespace: str) -> Stream:
        answer = negotiate(request.headers.get("Accept"), table_allowed=True)
        query = request.query
        predicate = _predicate(query, served.fields)
        if name:
            by_name = field_predicate(f"metadata.name={name}", served.fields)
            predicate = (lambda selected, named: lambda obj: selected(obj) and named(obj))(predicate, by_name)
        if namespace:
            predicate = (lambda selected: lambda obj: selected(obj) and obj["metadata"].get("namespace") == namespace)(
                predicate
            )
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

        kind = (served.api_version, served.registry.resource.kind)

        def chunks() -> Iterator[bytes]:
            for event, obj in stream(served.registry.store, watch, self._bookmark_interval, kind=kind):
                shown = obj
                if answer.table and event in ("ADDED", "MODIFIED", "DELETED"):
                    shown = served.table([obj], obj["metadata"]["resourceVersion"], include, self._clock())
                yield json.dumps({"type": event, "object": shown}, separators=(",", ":")).encode() + b"\n"

        return Stream(chunks())

    def _delete_options(self, request: Request) -> dict[str, Any]:
        if not request.body.strip():
            return {}
        return decode_body(request.body, request.headers.get("Content-Type"), DELETE_OPTIONS).object

    def _authorize(
        self, user: UserInfo, verb: str, group: str, resource: str, subresource: str = "", name: str = ""
    ) -> None:
        self._authorize_in(_Scope(user, group, resource, subresource, name, ""), verb)

    def _authorize_in(self, scope: _Scope, verb: str) -> None:
        user, group, resource, subresource, name = (
            scope.user,
            scope.group,
            scope.resource,
            scope.subresource,
            scope.name,
        )
        attributes = Attributes(user, verb, group, resource, subresource, name, namespace=scope.namespace)
        if not self._authorizer.allowed(attributes):
            raise forbidden(user.username, verb, resource, group, name or None, subresource, scope.namespace)


@dataclass(frozen=True)
class _Scope:
    """Who asks, about which resource (and object, and namespace): what a verb is authorized against."""

    user: UserInfo
    group: str
    resource: str
    subresource: str
    name: str
    namespace: str


def _openapi_v2(accept: str | None) -> Response:
    """JSON only: the protobuf form, which client-go's OpenAPISchema asks for alone, is answered 406."""
    negotiate(accept, table_allowed=False)
    return Response(200, openapi.encoded(openapi.v2_document()))


def _predicate(query: dict[str, str], fields: FieldReaders) -> Callable[[dict[str, Any]], bool]:
    by_field = field_predicate(query.get("fieldSelector"), fields)
    by_label = label_predicate(query.get("labelSelector"))
    return lambda obj: by_field(obj) and by_label(obj)


def _dry_run(query: dict[str, str]) -> bool:
    value = query.get("dryRun", "")
    if value and value != "All":
        raise bad_request(f'Invalid dryRun value "{value}": only All is supported')
    return value == "All"


def _field_problems(decoded: Decoded, validation: str, kind: str) -> list[tuple[str, str]]:
    """Strict refuses unknown and duplicate fields; Warn (the default) reports them in Warning headers."""
    problems = decoded.problems()
    if not problems or validation == "Ignore":
        return []
    if validation == "Strict":
        raise bad_request(
            f'{kind} in version "v1" cannot be handled as a {kind}: strict decoding error: {", ".join(problems)}'
        )
    return [("Warning", '299 - "' + problem.replace('"', '\\"') + '"') for problem in problems]


def _list_body(page: Page, served: Served) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": page.resource_version}
    if page.continue_token:
        metadata["continue"] = page.continue_token
        metadata["remainingItemCount"] = page.remaining
    items = [{key: value for key, value in item.items() if key not in ("kind", "apiVersion")} for item in page.items]
    return {
        "kind": f"{served.registry.resource.kind}List",
        "apiVersion": served.api_version,
        "metadata": metadata,
        "items": items,
    }
