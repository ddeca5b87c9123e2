"""Kubernetes `Status` bodies: every error the dev cluster answers is one, as kube-apiserver's are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GROUP = "certificates.k8s.io"
RESOURCE = "certificatesigningrequests"
KIND = "CertificateSigningRequest"


@dataclass(frozen=True)
class Resource:
    """A resource as errors name it: `certificatesigningrequests.certificates.k8s.io`, or `nodes` in the core group."""

    group: str
    name: str
    kind: str

    @property
    def qualified(self) -> str:
        """schema.GroupResource.String(): the resource, then its group if it has one."""
        return f"{self.name}.{self.group}" if self.group else self.name


CSRS = Resource(GROUP, RESOURCE, KIND)
NODES = Resource("", "nodes", "Node")
NAMESPACES = Resource("", "namespaces", "Namespace")
CONFIG_MAPS = Resource("", "configmaps", "ConfigMap")
EVENTS = Resource("", "events", "Event")
RBAC_GROUP = "rbac.authorization.k8s.io"
ROLES = Resource(RBAC_GROUP, "roles", "Role")
CLUSTER_ROLES = Resource(RBAC_GROUP, "clusterroles", "ClusterRole")
ROLE_BINDINGS = Resource(RBAC_GROUP, "rolebindings", "RoleBinding")
CLUSTER_ROLE_BINDINGS = Resource(RBAC_GROUP, "clusterrolebindings", "ClusterRoleBinding")


@dataclass(frozen=True)
class FieldError:
    """One validation failure on one field, worded as apimachinery's field.Error."""

    reason: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, FieldValueDuplicate, ...
    field: str
    detail: str

    def message(self) -> str:
        """'spec.usages: Required value' as the cause message; the Status message prefixes the field."""
        return self.detail

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"


def required(path: str, detail: str = "") -> FieldError:
    """field.Required."""
    return FieldError("FieldValueRequired", path, "Required value" + (f": {detail}" if detail else ""))


def invalid(path: str, value: Any, detail: str) -> FieldError:
    """field.Invalid."""
    return FieldError("FieldValueInvalid", path, f"Invalid value: {go_value(value)}: {detail}")


def not_supported(path: str, value: Any, supported: list[str]) -> FieldError:
    """field.NotSupported."""
    choices = ", ".join(go_value(choice) for choice in supported)
    return FieldError(
        "FieldValueNotSupported", path, f"Unsupported value: {go_value(value)}: supported values: {choices}"
    )


def duplicate(path: str, value: Any) -> FieldError:
    """field.Duplicate."""
    return FieldError("FieldValueDuplicate", path, f"Duplicate value: {go_value(value)}")


def forbidden_field(path: str, detail: str) -> FieldError:
    """field.Forbidden."""
    return FieldError("FieldValueForbidden", path, f"Forbidden: {detail}")


class GoLiteral(str):
    """Text printed as is in a field error, such as a []byte literal."""


def go_value(value: Any) -> str:
    """A value as Go prints it in field errors: strings quoted, numbers bare, literals as they are."""
    if isinstance(value, GoLiteral):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class ApiError(Exception):
    """An error answered as a Kubernetes Status with the given HTTP code and reason."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status(self) -> dict[str, Any]:
        """The Status body."""
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A metav1.Status of status Failure (or Success for code 200)."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 300 else "Failure",
    }
    if message:
        body["message"] = message
    if reason:
        body["reason"] = reason
    if details:
        body["details"] = details
    body["code"] = code
    return body


def success_deleted(name: str, uid: str, resource: Resource = CSRS) -> dict[str, Any]:
    """What DELETE answers when the object is gone at once (the registry does not return the deleted object)."""
    return status_body(200, "", "", _details(name, resource, uid=uid))


def _details(name: str | None, resource: Resource = CSRS, kind: str | None = None, **extra: Any) -> dict[str, Any]:
    """StatusDetails: the core group is left out, as Go's omitempty leaves out an empty group."""
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if resource.group:
        details["group"] = resource.group
    details["kind"] = kind or resource.name
    details.update(extra)
    return details


def not_found(name: str, resource: Resource = CSRS) -> ApiError:
    """errors.NewNotFound."""
    return ApiError(404, "NotFound", f'{resource.qualified} "{name}" not found', _details(name, resource))


def path_not_found() -> ApiError:
    """What kube-apiserver answers for a path it does not serve."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(name: str, resource: Resource = CSRS) -> ApiError:
    """errors.NewAlreadyExists."""
    return ApiError(409, "AlreadyExists", f'{resource.qualified} "{name}" already exists', _details(name, resource))


def conflict(name: str, problem: str, resource: Resource = CSRS) -> ApiError:
    """errors.NewConflict."""
    message = f'Operation cannot be fulfilled on {resource.qualified} "{name}": {problem}'
    return ApiError(409, "Conflict", message, _details(name, resource))


STALE_OBJECT = "the object has been modified; please apply your changes to the latest version and try again"


def invalid_object(name: str, errors: list[FieldError], kind: str = KIND, group: str = GROUP) -> ApiError:
    """errors.NewInvalid: 422 with one cause per field error."""
    listed = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(error) for error in errors) + "]"
    causes = [{"reason": error.reason, "message": error.message(), "field": error.field} for error in errors]
    details: dict[str, Any] = {"name": name} if name else {}
    if group:
        details["group"] = group
    details.update(kind=kind, causes=causes)
    qualified_kind = f"{kind}.{group}" if group else kind  # schema.GroupKind.String()
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {listed}', details)


def forbidden(
    user: str, verb: str, resource: str, group: str, name: str | None, subresource: str = "", namespace: str = ""
) -> ApiError:
    """The RBAC authorizer's Forbidden, word for word."""
    shown = f"{resource}/{subresource}" if subresource else resource
    qualified = f"{resource}.{group}" if group else resource
    target = f'{qualified} "{name}"' if name else qualified
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = f'{target} is forbidden: User "{user}" cannot {verb} resource "{shown}" in API group "{group}" {scope}'

    return ApiError(403, "Forbidden", message, _details(name, Resource(group, resource, ""), kind=resource))


def forbidden_object(name: str, resource: Resource, problem: str) -> ApiError:
    """errors.NewForbidden for an object: what the RBAC registry answers to an escalation."""
    return ApiError(
        403, "Forbidden", f'{resource.qualified} "{name}" is forbidden: {problem}', _details(name, resource)
    )


def forbidden_path(user: str, verb: str, path: str) -> ApiError:
    """Forbidden for a non-resource URL."""
    message = f'forbidden: User "{user}" cannot {verb} path "{path}"'
    return ApiError(403, "Forbidden", message, {})


def admission_forbidden(name: str, problem: str) -> ApiError:
    """admission.NewForbidden: an admission plugin refused the request."""
    return ApiError(403, "Forbidden", f'{CSRS.qualified} "{name}" is forbidden: {problem}', _details(name))


def unauthorized() -> ApiError:
    """401 for a request without valid credentials."""
    return ApiError(401, "Unauthorized", "Unauthorized", {})


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message, {})


def gone(message: str) -> ApiError:
    """410 Expired: the resourceVersion asked for is older than the history kept."""
    return ApiError(410, "Expired", message, {})


def method_not_allowed() -> ApiError:
    """405 for a verb the resource does not support."""
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    """415 for a body the server cannot read."""
    message = f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}"
    return ApiError(415, "UnsupportedMediaType", message, {})


def not_acceptable(accepted: list[str]) -> ApiError:
    """406 when the client accepts none of the answer's media types."""
    message = f"only the following media types are accepted: {', '.join(accepted)}"
    return ApiError(406, "NotAcceptable", message, {})


def too_large(limit: int) -> ApiError:
    """413 for a body over the limit kube-apiserver enforces."""
    return ApiError(413, "RequestEntityTooLarge", f"limit is {limit}", {})


def internal_error(problem: str) -> ApiError:
    """500 for a bug: the request is answered, the server keeps running."""
    message = f"Internal error occurred: {problem}"
    return ApiError(500, "InternalError", message, {"causes": [{"message": problem}]})
