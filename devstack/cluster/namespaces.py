"""Namespaces and ConfigMaps (core/v1): the scope RoleBindings live in, and the first namespaced resource they
grant access to (pkg/registry/core/namespace and configmap, pkg/apis/core/validation).

A Namespace is Active from creation. Deleting one removes what is in it and then the Namespace itself, at once:
upstream marks it Terminating and its namespace controller empties it, which here would only add a wait.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from devstack.cluster.auth import Authorizer, UserInfo
from devstack.cluster.registry import FieldErrors, Registry
from devstack.cluster.schema import CONFIG_MAP, NAMESPACE
from devstack.cluster.selectors import everything
from devstack.cluster.status import CONFIG_MAPS, NAMESPACES, ApiError, invalid, required
from devstack.cluster.store import Store
from devstack.cluster.strategy import metadata_for_create, metadata_for_update

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_DNS_LABEL_PROBLEM = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS_SUBDOMAIN_PROBLEM = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_CONFIG_KEY_PROBLEM = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  "
    "or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)


class NamespaceRegistry(Registry):
    """namespaces: cluster-scoped, Active from creation; deleting one deletes its contents first."""

    resource = NAMESPACES
    message = NAMESPACE

    def __init__(self, store: Store, authorizer: Authorizer, clock: Callable[[], datetime]) -> None:
        super().__init__(store, authorizer, clock)
        self.contents: Sequence[Registry] = ()  # the namespaced registries, emptied when a namespace goes

    def prepare_for_create(self, body: dict[str, Any], user: UserInfo, uid: str, now: str) -> dict[str, Any]:
        """The finalizer `kubernetes` and phase Active, as the namespace strategy sets them."""
        prepared = copy.deepcopy(body)
        prepared["metadata"] = metadata_for_create(body, uid, now)
        labels = prepared["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = prepared["metadata"].get("name", "")
        prepared["spec"] = {"finalizers": ["kubernetes"]}
        prepared["status"] = {"phase": "Active"}
        prepared["apiVersion"], prepared["kind"] = "v1", "Namespace"
        return prepared

    def prepare_for_update(
        self, new: dict[str, Any], old: dict[str, Any], subresource: str, now: str
    ) -> dict[str, Any]:
        """Metadata from the update; spec and status are the system's."""
        prepared = copy.deepcopy(old)
        prepared["metadata"] = metadata_for_update(new, old)
        labels = prepared["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = prepared["metadata"]["name"]
        return prepared

    def validate(self, obj: dict[str, Any]) -> FieldErrors:
        """ValidateNamespace: the name is a DNS label."""
        return validate_name(obj, _DNS_LABEL, 63, _DNS_LABEL_PROBLEM)

    def delete(self, name: str, options: dict[str, Any], dry_run: bool = False, namespace: str = "") -> dict[str, Any]:
        """Delete what the namespace holds, then the namespace (the namespace controller's work, done now)."""
        self.get(name)
        if not dry_run:
            for registry in self.contents:
                for item in registry.list(everything, namespace=name).items:
                    try:
                        registry.delete(item["metadata"]["name"], {}, namespace=name)
                    except ApiError as exc:
                        if exc.code != 404:
                            raise
        return super().delete(name, options, dry_run)


class KeptAsWritten(Registry):
    """A core/v1 kind kept as its writer wrote it, but for the system's metadata."""

    kind = ""

    def prepare_for_create(self, body: dict[str, Any], user: UserInfo, uid: str, now: str) -> dict[str, Any]:
        """The generic registry's metadata; everything else as given."""
        prepared = copy.deepcopy(body)
        prepared["metadata"] = metadata_for_create(body, uid, now)
        prepared["apiVersion"], prepared["kind"] = "v1", self.kind
        return prepared

    def prepare_for_update(
        self, new: dict[str, Any], old: dict[str, Any], subresource: str, now: str
    ) -> dict[str, Any]:
        """Everything from the update but the system's metadata (an Event's recorder counts repeats this way)."""
        prepared = copy.deepcopy(new)
        prepared["metadata"] = metadata_for_update(new, old)
        prepared["apiVersion"], prepared["kind"] = "v1", self.kind
        return prepared


class ConfigMapRegistry(KeptAsWritten):
    """configmaps: namespaced key-value data."""

    resource = CONFIG_MAPS
    message = CONFIG_MAP
    namespaced = True
    kind = "ConfigMap"

    def validate(self, obj: dict[str, Any]) -> FieldErrors:
        """ValidateConfigMap: a DNS subdomain name and valid keys."""
        errors = validate_name(obj, DNS_SUBDOMAIN, 253, DNS_SUBDOMAIN_PROBLEM)
        for field in ("data", "binaryData"):
            for key in obj.get(field) or {}:
                if len(key) > 253 or not _CONFIG_KEY.fullmatch(key):
                    errors.append(invalid(f"{field}[{key}]", key, _CONFIG_KEY_PROBLEM))
        return errors

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> FieldErrors:
        """An immutable ConfigMap keeps its data."""
        errors = self.validate(new)
        if old.get("immutable") and any(new.get(f) != old.get(f) for f in ("data", "binaryData", "immutable")):
            errors.append(invalid("data", "", "field is immutable when `immutable` is set"))
        return errors


def validate_name(obj: dict[str, Any], pattern: re.Pattern[str], limit: int, problem: str) -> FieldErrors:
    """The name is there, short enough and matches the pattern (ValidateObjectMeta's name check)."""
    name = obj.get("metadata", {}).get("name", "")
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    errors = []
    if len(name) > limit:
        errors.append(invalid("metadata.name", name, f"must be no more than {limit} characters"))
    if not pattern.fullmatch(name):
        errors.append(invalid("metadata.name", name, problem))
    return errors
