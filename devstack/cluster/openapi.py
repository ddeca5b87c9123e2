"""OpenAPI documents (v3 per group version, and v2) generated from `schema`.

kubectl 1.37 reads the v3 document of a kind's group before `apply`: when the PATCH operation for the kind lists
the `fieldValidation` query parameter it sends `fieldValidation=Strict` and lets the server validate; the
request body content types tell it whether strategic merge patch is available.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from devstack.cluster.discovery import VERSION
from devstack.cluster.schema import (
    CLUSTER_ROLE,
    CLUSTER_ROLE_BINDING,
    CLUSTER_ROLE_BINDING_LIST,
    CLUSTER_ROLE_LIST,
    CONFIG_MAP,
    CONFIG_MAP_LIST,
    CSR,
    CSR_LIST,
    DELETE_OPTIONS,
    EVENT,
    EVENT_LIST,
    MESSAGES,
    NAMESPACE,
    NAMESPACE_LIST,
    NODE,
    NODE_LIST,
    ROLE,
    ROLE_BINDING,
    ROLE_BINDING_LIST,
    ROLE_LIST,
    SELF_SUBJECT_ACCESS_REVIEW,
    SELF_SUBJECT_REVIEW,
    SELF_SUBJECT_RULES_REVIEW,
    Field,
    Message,
)

CORE = "api/v1"
CERTIFICATES = "apis/certificates.k8s.io/v1"
AUTHENTICATION = "apis/authentication.k8s.io/v1"
AUTHORIZATION = "apis/authorization.k8s.io/v1"
RBAC = "apis/rbac.authorization.k8s.io/v1"
STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
PATCH = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
_PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"]
_ANSWER_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]


def v3_index() -> dict[str, Any]:
    """/openapi/v3: where each group version's document is, with a hash clients cache by."""
    return {
        "paths": {
            path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={_hash(v3_document(path))}"}
            for path in (CORE, CERTIFICATES, AUTHENTICATION, AUTHORIZATION, RBAC)
        }
    }


@cache
def v3_document(path: str) -> dict[str, Any]:
    """/openapi/v3/api/v1 or /openapi/v3/apis/{group}/v1 (an empty dict for an unknown path)."""
    if path == CORE:
        paths, messages = _core_paths(), [*_CORE_MESSAGES, DELETE_OPTIONS]
    elif path == CERTIFICATES:
        paths, messages = _certificate_paths(), [CSR, CSR_LIST, DELETE_OPTIONS]
    elif path == AUTHENTICATION:
        paths, messages = _authentication_paths(), [SELF_SUBJECT_REVIEW]
    elif path == AUTHORIZATION:
        paths, messages = _authorization_paths(), [SELF_SUBJECT_ACCESS_REVIEW, SELF_SUBJECT_RULES_REVIEW]
    elif path == RBAC:
        paths, messages = _rbac_paths(), [*_RBAC_MESSAGES, DELETE_OPTIONS]
    else:
        return {}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
        "paths": {url: _v3_path(item) for url, item in paths.items()},
        "components": {
            "schemas": {name: _schema(MESSAGES[name], "#/components/schemas/") for name in _closure(messages)}
            | _special_schemas(),
            "securitySchemes": {"BearerToken": {"type": "apiKey", "in": "header", "name": "authorization"}},
        },
    }


@cache
def v2_document() -> dict[str, Any]:
    """/openapi/v2 as JSON (clients that ask only for the protobuf form are answered 406)."""
    paths = _core_paths() | _certificate_paths() | _authentication_paths() | _authorization_paths() | _rbac_paths()
    messages = [*_CORE_MESSAGES, *_RBAC_MESSAGES, CSR, CSR_LIST, DELETE_OPTIONS, SELF_SUBJECT_REVIEW]
    messages += [SELF_SUBJECT_ACCESS_REVIEW, SELF_SUBJECT_RULES_REVIEW]
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
        "paths": {url: _v2_path(item) for url, item in paths.items()},
        "definitions": {name: _schema(MESSAGES[name], "#/definitions/") for name in _closure(messages)}
        | _special_schemas(),
        "securityDefinitions": {"BearerToken": {"type": "apiKey", "in": "header", "name": "authorization"}},
        "security": [{"BearerToken": []}],
    }


def encoded(document: dict[str, Any]) -> bytes:
    """A document as the bytes served."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def _hash(document: dict[str, Any]) -> str:
    return hashlib.sha512(encoded(document)).hexdigest().upper()[:128]


def _closure(roots: list[Message]) -> list[str]:
    seen: dict[str, None] = {}
    pending = [root.name for root in roots]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen[name] = None
        pending.extend(f.ref for f in MESSAGES[name].fields if f.kind == "message")
    return sorted(seen)


def _special_schemas() -> dict[str, Any]:
    return {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time": {
            "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.",
            "type": "string",
            "format": "date-time",
        },
        "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": {
            "description": "MicroTime is version of Time with microsecond level precision.",
            "type": "string",
            "format": "date-time",
        },
        "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": {
            "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.",
            "type": "object",
        },
        PATCH: {"description": "Patch is provided to give a concrete name and type to the PATCH request body.",
                "type": "object"},
    }  # fmt: skip


def _schema(message: Message, prefix: str) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "description": message.description,
        "type": "object",
        "properties": {f.name: _property(f, prefix) for f in message.fields},
    }
    if message.required:
        schema["required"] = list(message.required)
    if message.gvk:
        group, version, kind = message.gvk
        schema["x-kubernetes-group-version-kind"] = [{"group": group, "kind": kind, "version": version}]
    return schema


def _property(spec: Field, prefix: str) -> dict[str, Any]:
    item: dict[str, Any]
    if spec.kind == "message":
        item = {"$ref": prefix + spec.ref}
    elif spec.kind == "time":
        item = {"$ref": prefix + "io.k8s.apimachinery.pkg.apis.meta.v1.Time"}
    elif spec.kind == "microTime":
        item = {"$ref": prefix + "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"}
    elif spec.kind == "fieldsV1":
        item = {"$ref": prefix + "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"}
    elif spec.kind == "map":
        item = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
    elif spec.kind == "extra":
        item = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
    elif spec.kind == "bytes":
        item = {"type": "string", "format": "byte"}
    elif spec.kind in ("int32", "int64"):
        item = {"type": "integer", "format": spec.kind}
    elif spec.kind == "bool":
        item = {"type": "boolean"}
    else:
        item = {"type": "string"}
    if spec.repeated:
        item = {"type": "array", "items": item}
        if spec.list_type:
            item["x-kubernetes-list-type"] = spec.list_type
        if spec.list_map_keys:
            item["x-kubernetes-list-map-keys"] = list(spec.list_map_keys)
    if spec.patch_strategy:
        item["x-kubernetes-patch-strategy"] = spec.patch_strategy
    if spec.patch_merge_key:
        item["x-kubernetes-patch-merge-key"] = spec.patch_merge_key
    if spec.description:
        item = {"description": spec.description, **item}
    return item


# Operations described once, then written out as v3 or v2. Each is (method, action, body schema or None,
# query parameters, answer schema, description).
_QUERY = {
    "dryRun": "When present, indicates that modifications should not be persisted: All.",
    "fieldManager": "A name associated with the actor or entity that is making these changes.",
    "fieldValidation": "How the server handles unknown or duplicate fields in the body: Ignore, Warn (the default) "
    "or Strict.",
    "force": 'Force is going to "force" Apply requests; it must be unset for other patches.',
    "pretty": "If 'true', then the output is pretty printed.",
    "allowWatchBookmarks": 'allowWatchBookmarks requests watch events with type "BOOKMARK".',
    "continue": "The continue option should be set when retrieving more results from the server.",
    "fieldSelector": "A selector to restrict the list of returned objects by their fields.",
    "labelSelector": "A selector to restrict the list of returned objects by their labels.",
    "limit": "limit is a maximum number of responses to return for a list call.",
    "resourceVersion": "resourceVersion sets a constraint on what resource versions a request may be served from.",
    "resourceVersionMatch": "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    "sendInitialEvents": "`sendInitialEvents=true` may be set together with `watch=true`.",
    "timeoutSeconds": "Timeout for the list/watch call.",
    "watch": "Watch for changes to the described resources and return them as a stream of add, update, and remove "
    "notifications.",
    "gracePeriodSeconds": "The duration in seconds before the object should be deleted.",
    "propagationPolicy": "Whether and how garbage collection will be performed.",
}
_INTEGERS = {"limit", "timeoutSeconds", "gracePeriodSeconds"}
_BOOLEANS = {"allowWatchBookmarks", "watch", "force", "sendInitialEvents"}
_WRITE = ("dryRun", "fieldManager", "fieldValidation")
_LIST = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
         "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")  # fmt: skip


def _certificate_paths() -> dict[str, dict[str, Any]]:
    return _resource_paths(
        "/apis/certificates.k8s.io/v1/certificatesigningrequests", CSR, CSR_LIST, ("approval", "status")
    )


_CORE_MESSAGES = [NODE, NODE_LIST, NAMESPACE, NAMESPACE_LIST, CONFIG_MAP, CONFIG_MAP_LIST, EVENT, EVENT_LIST]
_RBAC_MESSAGES = [ROLE, ROLE_LIST, CLUSTER_ROLE, CLUSTER_ROLE_LIST, ROLE_BINDING, ROLE_BINDING_LIST,
                  CLUSTER_ROLE_BINDING, CLUSTER_ROLE_BINDING_LIST]  # fmt: skip
_IN_NAMESPACE = "/namespaces/{namespace}"


def _core_paths() -> dict[str, dict[str, Any]]:
    return (
        _resource_paths("/api/v1/nodes", NODE, NODE_LIST, ("status",))
        | _resource_paths("/api/v1/namespaces", NAMESPACE, NAMESPACE_LIST, ())
        | _resource_paths(f"/api/v1{_IN_NAMESPACE}/configmaps", CONFIG_MAP, CONFIG_MAP_LIST, ())
        | _resource_paths(f"/api/v1{_IN_NAMESPACE}/events", EVENT, EVENT_LIST, ())
    )


def _rbac_paths() -> dict[str, dict[str, Any]]:
    base = "/apis/rbac.authorization.k8s.io/v1"
    return (
        _resource_paths(f"{base}/clusterroles", CLUSTER_ROLE, CLUSTER_ROLE_LIST, ())
        | _resource_paths(f"{base}/clusterrolebindings", CLUSTER_ROLE_BINDING, CLUSTER_ROLE_BINDING_LIST, ())
        | _resource_paths(f"{base}{_IN_NAMESPACE}/roles", ROLE, ROLE_LIST, ())
        | _resource_paths(f"{base}{_IN_NAMESPACE}/rolebindings", ROLE_BINDING, ROLE_BINDING_LIST, ())
    )


def _authorization_paths() -> dict[str, dict[str, Any]]:
    paths = {}
    for message in (SELF_SUBJECT_ACCESS_REVIEW, SELF_SUBJECT_RULES_REVIEW):
        assert message.gvk is not None
        kind = message.gvk[2]
        paths[f"/apis/authorization.k8s.io/v1/{kind.lower()}s"] = {
            "operations": {"post": ("post", message.name, _WRITE, message.name, f"create a {kind}")},
            "gvk": message.gvk,
            "named": False,
        }
    return paths


def _resource_paths(
    base: str, message: Message, list_message: Message, subresources: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """The collection, named and subresource paths of a resource (namespaced when `base` holds {namespace})."""
    assert message.gvk is not None
    gvk, kind, name = message.gvk, message.gvk[2], message.name
    collection = {
        "get": ("list", None, _LIST, list_message.name, f"list or watch objects of kind {kind}"),
        "post": ("post", name, _WRITE, name, f"create a {kind}"),
        "delete": ("deletecollection", DELETE_OPTIONS.name, ("dryRun", "gracePeriodSeconds", "propagationPolicy",
                   *_LIST), STATUS, f"delete collection of {kind}"),
    }  # fmt: skip
    named = {
        "get": ("get", None, (), name, f"read the specified {kind}"),
        "put": ("put", name, _WRITE, name, f"replace the specified {kind}"),
        "patch": ("patch", PATCH, (*_WRITE, "force"), name, f"partially update the specified {kind}"),
        "delete": ("delete", DELETE_OPTIONS.name, ("dryRun", "gracePeriodSeconds", "propagationPolicy"), STATUS,
                   f"delete a {kind}"),
    }  # fmt: skip
    namespaced = _IN_NAMESPACE in base
    paths = {
        base: {"operations": collection, "gvk": gvk, "named": False, "namespaced": namespaced},
        f"{base}/{{name}}": {"operations": named, "gvk": gvk, "named": True, "namespaced": namespaced},
    }
    for subresource in subresources:
        paths[f"{base}/{{name}}/{subresource}"] = {
            "operations": {
                "get": ("get", None, (), name, f"read {subresource} of the specified {kind}"),
                "put": ("put", name, _WRITE, name, f"replace {subresource} of the specified {kind}"),
                "patch": ("patch", PATCH, (*_WRITE, "force"), name,
                          f"partially update {subresource} of the specified {kind}"),
            },
            "gvk": gvk,
            "named": True,
        }  # fmt: skip
    return paths


def _authentication_paths() -> dict[str, dict[str, Any]]:
    name = SELF_SUBJECT_REVIEW.name
    return {
        "/apis/authentication.k8s.io/v1/selfsubjectreviews": {
            "operations": {"post": ("post", name, _WRITE, name, "create a SelfSubjectReview")},
            "gvk": ("authentication.k8s.io", "v1", "SelfSubjectReview"),
            "named": False,
        }
    }


def _parameter_v3(name: str) -> dict[str, Any]:
    kind = "integer" if name in _INTEGERS else "boolean" if name in _BOOLEANS else "string"
    return {"name": name, "in": "query", "description": _QUERY[name], "schema": {"type": kind, "uniqueItems": True}}


def _parameter_v2(name: str) -> dict[str, Any]:
    kind = "integer" if name in _INTEGERS else "boolean" if name in _BOOLEANS else "string"
    return {"name": name, "in": "query", "description": _QUERY[name], "type": kind, "uniqueItems": True}


def _v3_path(item: dict[str, Any]) -> dict[str, Any]:
    group, version, kind = item["gvk"]
    path: dict[str, Any] = {}
    for method, (action, body, query, answer, description) in item["operations"].items():
        operation: dict[str, Any] = {
            "description": description,
            "operationId": f"{method}{kind}",
            "tags": [f"{group.split('.')[0] or 'core'}_{version}"],
            "parameters": [_parameter_v3(name) for name in query],
            "responses": {
                "200": {"description": "OK", "content": {t: {"schema": {"$ref": "#/components/schemas/" + answer}}
                                                           for t in _ANSWER_TYPES}},
                "401": {"description": "Unauthorized"},
            },
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": group, "kind": kind, "version": version},
        }  # fmt: skip
        if body is not None:
            types = _PATCH_TYPES if method == "patch" else ["*/*"]
            operation["requestBody"] = {
                "content": {t: {"schema": {"$ref": "#/components/schemas/" + body}} for t in types},
                "required": method != "delete",
            }
        path[method] = operation
    path["parameters"] = [_parameter_v3("pretty")]
    if item["named"]:
        path["parameters"].insert(
            0,
            {"name": "name", "in": "path", "required": True, "description": f"name of the {kind}",
             "schema": {"type": "string", "uniqueItems": True}},
        )  # fmt: skip
    if item.get("namespaced"):
        path["parameters"].insert(
            int(item["named"]),
            {"name": "namespace", "in": "path", "required": True, "description": "object name and auth scope, such "
             "as for teams and projects", "schema": {"type": "string", "uniqueItems": True}},
        )  # fmt: skip
    return path


def _v2_path(item: dict[str, Any]) -> dict[str, Any]:
    group, version, kind = item["gvk"]
    path: dict[str, Any] = {}
    for method, (action, body, query, answer, description) in item["operations"].items():
        parameters = [_parameter_v2(name) for name in query]
        if body is not None:
            parameters.insert(0, {"name": "body", "in": "body", "required": method != "delete",
                                  "schema": {"$ref": "#/definitions/" + body}})  # fmt: skip
        path[method] = {
            "description": description,
            "operationId": f"{method}{kind}",
            "consumes": _PATCH_TYPES if method == "patch" else ["*/*"],
            "produces": _ANSWER_TYPES,
            "schemes": ["https"],
            "tags": [f"{group.split('.')[0] or 'core'}_{version}"],
            "parameters": parameters,
            "responses": {"200": {"description": "OK", "schema": {"$ref": "#/definitions/" + answer}},
                          "401": {"description": "Unauthorized"}},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": group, "kind": kind, "version": version},
        }  # fmt: skip
    path["parameters"] = [_parameter_v2("pretty")]
    if item["named"]:
        path["parameters"].insert(
            0,
            {"name": "name", "in": "path", "required": True, "description": f"name of the {kind}", "type": "string",
             "uniqueItems": True},
        )  # fmt: skip
    if item.get("namespaced"):
        path["parameters"].insert(
            int(item["named"]),
            {"name": "namespace", "in": "path", "required": True, "description": "object name and auth scope, such "
             "as for teams and projects", "type": "string", "uniqueItems": True},
        )  # fmt: skip
    return path
