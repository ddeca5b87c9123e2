"""The REST semantics of a resource: create, get, list, update, patch and delete, with the generic registry's
rules (optimistic concurrency on resourceVersion, uid preconditions, finalizers, dry run) around each resource's
strategy, validation and admission; `CsrRegistry` for certificatesigningrequests."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devstack.cluster.admission import admit_create, admit_update
from devstack.cluster.auth import Authorizer, UserInfo
from devstack.cluster.decoding import (
    JSON_PATCH,
    MERGE_PATCH,
    PATCH_TYPES,
    STRATEGIC_MERGE_PATCH,
    Decoded,
    check_object,
    media_type,
    parse_json,
)
from devstack.cluster.patches import json_patch, merge_patch, strategic_merge_patch
from devstack.cluster.schema import CSR, Message
from devstack.cluster.selectors import Predicate
from devstack.cluster.status import (
    CSRS,
    STALE_OBJECT,
    ApiError,
    FieldError,
    Resource,
    already_exists,
    bad_request,
    conflict,
    internal_error,
    invalid_object,
    not_found,
    success_deleted,
    unsupported_media_type,
)
from devstack.cluster.store import Store, VersionMismatch
from devstack.cluster.strategy import MAIN, prepare_for_create, prepare_for_update
from devstack.cluster.validation import validate_csr, validate_csr_update

_MAX_RETRIES = 16
FieldErrors = list[FieldError]  # a name of its own: in a registry's body, `list` is the list method


@dataclass(frozen=True)
class Page:
    """One page of a list."""

    items: list[dict[str, Any]]
    resource_version: str
    continue_token: str = ""
    remaining: int | None = None


def rfc3339(moment: datetime) -> str:
    """metav1.Time in JSON: UTC, second precision."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Registry:
    """Operations on one resource; callers have already authorized the request itself. A subclass names the
    resource and its schema and gives its strategy, validation and admission."""

    resource: Resource
    message: Message
    namespaced = False  # objects live in a namespace and are kept under "namespace/name"

    def __init__(self, store: Store, authorizer: Authorizer, clock: Callable[[], datetime]) -> None:
        self.store = store
        self._authorizer = authorizer
        self._clock = clock

    # --- what each resource decides ---------------------------------------------------------------------

    def prepare_for_create(self, body: dict[str, Any], user: UserInfo, uid: str, now: str) -> dict[str, Any]:
        """The object as stored on create."""
        raise NotImplementedError

    def prepare_for_update(
        self, new: dict[str, Any], old: dict[str, Any], subresource: str, now: str
    ) -> dict[str, Any]:
        """The object as stored after an update through the main resource or a subresource."""
        raise NotImplementedError

    def validate(self, obj: dict[str, Any]) -> FieldErrors:
        """Errors in an object as created."""
        raise NotImplementedError

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> FieldErrors:
        """Errors in an update."""
        return self.validate(new)

    def admit_create(self, obj: dict[str, Any], user: UserInfo) -> None:
        """Admission on create; raises ApiError to refuse."""

    def admit_update(self, new: dict[str, Any], old: dict[str, Any], subresource: str, user: UserInfo) -> None:
        """Admission on update; raises ApiError to refuse."""

    # --- the generic registry ---------------------------------------------------------------------------

    def now(self) -> str:
        """The current time as stored in timestamps."""
        return rfc3339(self._clock())

    def key(self, name: str, namespace: str = "") -> str:
        """Where an object is kept in the store: its name, or namespace/name for a namespaced resource."""
        return f"{namespace}/{name}" if self.namespaced else name

    def create(
        self, body: dict[str, Any], user: UserInfo, dry_run: bool = False, namespace: str = ""
    ) -> dict[str, Any]:
        """Create an object from a decoded body (in `namespace`, from the URL, for a namespaced resource)."""
        if body.get("metadata", {}).get("resourceVersion"):
            raise internal_error("resourceVersion should not be set on objects to be created")
        self._check_namespace(body, namespace)
        prepared = self.prepare_for_create(body, user, str(uuid.uuid4()), self.now())
        if self.namespaced:
            prepared["metadata"]["namespace"] = namespace
        name = prepared["metadata"].get("name", "")
        errors = self.validate(prepared)
        if errors:
            raise self._invalid(name, errors)
        self.admit_create(prepared, user)
        if dry_run:
            return prepared
        stored = self.store.create(self.key(name, namespace), prepared)
        if stored is None:
            raise already_exists(name, self.resource)
        return stored

    def get(self, name: str, namespace: str = "") -> dict[str, Any]:
        """One object; 404 when there is none."""
        found = self.store.get(self.key(name, namespace))
        if found is None:
            raise not_found(name, self.resource)
        return found

    def list(self, predicate: Predicate, limit: int = 0, continue_token: str = "", namespace: str = "") -> Page:
        """Objects matching the selectors (in `namespace`, or in all when ""), sorted by key, `limit` at a time."""
        items, version = self.store.snapshot(copies=False)  # copies of the selected ones only, below
        selected = [copy.deepcopy(item) for item in items if predicate(item) and _in_namespace(item, namespace)]
        start = _continue_from(continue_token)
        if start:
            selected = [item for item in selected if self._key_of(item) > start]
        if limit <= 0 or len(selected) <= limit:
            return Page(selected, str(version))
        page = selected[:limit]
        token = base64.urlsafe_b64encode(json.dumps({"rv": version, "start": self._key_of(page[-1])}).encode()).decode()
        return Page(page, str(version), token, len(selected) - limit)

    def update(
        self,
        name: str,
        body: dict[str, Any],
        user: UserInfo,
        subresource: str = MAIN,
        dry_run: bool = False,
        namespace: str = "",
    ) -> dict[str, Any]:
        """Replace an object (or a subresource): 409 on a stale resourceVersion, never a blind overwrite."""
        metadata = body.get("metadata", {})
        if metadata.get("name") and metadata["name"] != name:
            raise bad_request(
                f"the name of the object ({metadata['name']}) does not match the name on the URL ({name})"
            )
        self._check_namespace(body, namespace)
        wanted_version = metadata.get("resourceVersion", "")
        for _ in range(_MAX_RETRIES):
            current = self.get(name, namespace)
            if wanted_version and wanted_version != current["metadata"]["resourceVersion"]:
                raise conflict(name, STALE_OBJECT, self.resource)
            try:
                return self._write(name, body, current, user, subresource, dry_run)
            except VersionMismatch:
                if wanted_version:
                    raise conflict(name, STALE_OBJECT, self.resource) from None
        raise conflict(name, STALE_OBJECT, self.resource)

    def patch(
        self,
        name: str,
        content_type: str | None,
        raw: bytes,
        user: UserInfo,
        subresource: str = MAIN,
        dry_run: bool = False,
        namespace: str = "",
    ) -> tuple[dict[str, Any], Decoded]:
        """Apply a patch to the current object, retrying on a concurrent change unless the patch pins a version."""
        kind = media_type(content_type)
        if kind not in PATCH_TYPES:
            raise unsupported_media_type(kind, PATCH_TYPES)
        patch = parse_json(raw, "error decoding patch")
        for _ in range(_MAX_RETRIES):
            current = self.get(name, namespace)
            if kind == JSON_PATCH:
                patched = json_patch(current, patch)
            elif kind == MERGE_PATCH:
                patched = merge_patch(current, patch)
            else:
                assert kind == STRATEGIC_MERGE_PATCH
                patched = strategic_merge_patch(current, patch, self.message)
            decoded = check_object(patched, self.message)
            pinned = decoded.object.get("metadata", {}).get("resourceVersion", "")
            if pinned and pinned != current["metadata"]["resourceVersion"]:
                raise conflict(name, STALE_OBJECT, self.resource)
            try:
                return self._write(name, decoded.object, current, user, subresource, dry_run), decoded
            except VersionMismatch:
                continue
        raise conflict(name, STALE_OBJECT, self.resource)

    def delete(self, name: str, options: dict[str, Any], dry_run: bool = False, namespace: str = "") -> dict[str, Any]:
        """Delete an object; with finalizers it is only marked (deletionTimestamp) until they are gone."""
        preconditions = options.get("preconditions") or {}
        key = self.key(name, namespace)
        for _ in range(_MAX_RETRIES):
            current = self.get(name, namespace)
            _check_preconditions(name, current, preconditions, self.resource)
            metadata = current["metadata"]
            try:
                if metadata.get("finalizers"):
                    if metadata.get("deletionTimestamp") or dry_run:
                        return current
                    marked = copy.deepcopy(current)
                    marked["metadata"].update(deletionTimestamp=self.now(), deletionGracePeriodSeconds=0)
                    return self.store.replace(key, marked, metadata["resourceVersion"])
                if dry_run:
                    return success_deleted(name, metadata["uid"], self.resource)
                self.store.delete(key, metadata["resourceVersion"])
                return success_deleted(name, metadata["uid"], self.resource)
            except VersionMismatch:
                continue
        raise conflict(name, STALE_OBJECT, self.resource)

    def delete_collection(
        self, predicate: Predicate, options: dict[str, Any], dry_run: bool = False, namespace: str = ""
    ) -> Page:
        """Delete every matching object; answers the list of what was deleted."""
        deleted = []
        for item in self.list(predicate, namespace=namespace).items:
            try:
                self.delete(item["metadata"]["name"], options, dry_run, item["metadata"].get("namespace", ""))
                deleted.append(item)
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return Page(deleted, str(self.store.resource_version))

    def update_as_controller(
        self, name: str, change: Callable[[dict[str, Any]], dict[str, Any] | None], user: UserInfo, subresource: str
    ) -> dict[str, Any] | None:
        """Read, change and write back through a subresource, retrying on conflicts (a controller's loop)."""
        for _ in range(_MAX_RETRIES):
            current = self.store.get(name)
            if current is None:
                return None
            changed = change(copy.deepcopy(current))
            if changed is None:
                return current
            try:
                return self._write(name, changed, current, user, subresource, dry_run=False)
            except VersionMismatch:
                continue
        return None

    def _write(
        self,
        name: str,
        body: dict[str, Any],
        current: dict[str, Any],
        user: UserInfo,
        subresource: str,
        dry_run: bool,
    ) -> dict[str, Any]:
        uid = body.get("metadata", {}).get("uid", "")
        if uid and uid != current["metadata"]["uid"]:
            raise conflict(
                name,
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {current['metadata']['uid']}",
                self.resource,
            )
        updated = self.prepare_for_update(body, current, subresource, self.now())
        if updated == current:
            return current  # nothing changed: no write, no new resourceVersion (as GuaranteedUpdate skips it)
        errors = self.validate_update(updated, current)
        if errors:
            raise self._invalid(name, errors)
        self.admit_update(updated, current, subresource, user)
        if dry_run:
            return updated
        metadata = updated["metadata"]
        key = self._key_of(current)
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
            self.store.delete(key, current["metadata"]["resourceVersion"])
            return updated
        return self.store.replace(key, updated, current["metadata"]["resourceVersion"])

    def _invalid(self, name: str, errors: FieldErrors) -> ApiError:
        return invalid_object(name, errors, self.resource.kind, self.resource.group)

    def _key_of(self, obj: dict[str, Any]) -> str:
        metadata = obj["metadata"]
        return self.key(metadata["name"], metadata.get("namespace", ""))

    def _check_namespace(self, body: dict[str, Any], namespace: str) -> None:
        """A body naming another namespace than the URL is refused, as the generic registry's EnsureObjectNamespace
        does; a cluster-scoped object's namespace is dropped."""
        given = body.get("metadata", {}).get("namespace", "")
        if self.namespaced and given and given != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        if not self.namespaced and given:
            body["metadata"].pop("namespace")


class CsrRegistry(Registry):
    """certificatesigningrequests: the CSR strategy, validation and the certificate admission plugins."""

    resource = CSRS
    message = CSR

    def prepare_for_create(self, body: dict[str, Any], user: UserInfo, uid: str, now: str) -> dict[str, Any]:
        """PrepareForCreate: the requester from the caller, status cleared."""
        return prepare_for_create(body, user, uid, now)

    def prepare_for_update(
        self, new: dict[str, Any], old: dict[str, Any], subresource: str, now: str
    ) -> dict[str, Any]:
        """PrepareForUpdate of the main resource, `approval` or `status`."""
        return prepare_for_update(new, old, subresource, now)

    def validate(self, obj: dict[str, Any]) -> FieldErrors:
        """ValidateCertificateSigningRequestCreate."""
        return validate_csr(obj)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> FieldErrors:
        """ValidateCertificateSigningRequestUpdate."""
        return validate_csr_update(new, old)

    def admit_create(self, obj: dict[str, Any], user: UserInfo) -> None:
        """CertificateSubjectRestriction."""
        admit_create(obj)

    def admit_update(self, new: dict[str, Any], old: dict[str, Any], subresource: str, user: UserInfo) -> None:
        """CertificateApproval and CertificateSigning."""
        admit_update(new, old, subresource, user, self._authorizer)


def _check_preconditions(name: str, current: dict[str, Any], preconditions: dict[str, Any], resource: Resource) -> None:
    metadata = current["metadata"]
    uid, version = preconditions.get("uid"), preconditions.get("resourceVersion")
    if uid and uid != metadata["uid"]:
        raise conflict(
            name, f"Precondition failed: UID in precondition: {uid}, UID in object meta: {metadata['uid']}", resource
        )
    if version and version != metadata["resourceVersion"]:
        raise conflict(
            name,
            f"Precondition failed: ResourceVersion in precondition: {version}, "
            f"ResourceVersion in object meta: {metadata['resourceVersion']}",
            resource,
        )


def _in_namespace(item: dict[str, Any], namespace: str) -> bool:
    return not namespace or item["metadata"].get("namespace", "") == namespace


def _continue_from(token: str) -> str:
    if not token:
        return ""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        start = decoded["start"]
    except (ValueError, KeyError, TypeError) as exc:
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion") from exc
    if not isinstance(start, str):
        raise bad_request("continue key is not valid")
    return start
