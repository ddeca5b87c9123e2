"""What the CSR registry does to objects before storing them (pkg/registry/certificates/certificates/strategy.go).

On create the server fills spec.username, uid, groups and extra from the caller and clears status. An update
through the main resource changes metadata only; through `approval` only the conditions; through `status`
everything in status except the Approved and Denied conditions, which only `approval` may add. The metadata
rules of the generic registry (`metadata_for_create`, `metadata_for_update`) serve every resource.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from devstack.cluster.auth import UserInfo
from devstack.cluster.validation import APPROVED, DENIED

MAIN, APPROVAL, STATUS = "", "approval", "status"
# Metadata a client may change with an update; the rest is the system's.
_USER_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")
# What generateName appends, as apimachinery's names.SimpleNameGenerator (no vowels, no look-alike digits).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def metadata_for_create(obj: dict[str, Any], uid: str, now: str) -> dict[str, Any]:
    """The generic registry's metadata on create: the user's fields, the name (or one made from generateName),
    a new uid and the creation time; everything else is the system's."""
    given = copy.deepcopy(obj.get("metadata", {}))
    metadata: dict[str, Any] = {key: value for key, value in given.items() if key in (*_USER_METADATA, "name")}
    generate = given.get("generateName", "")
    if not metadata.get("name") and generate:
        metadata["name"] = generate + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
        metadata["generateName"] = generate
    metadata.update(uid=uid, creationTimestamp=now)
    return metadata


def metadata_for_update(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """The stored metadata with the fields a client may change taken from the update."""
    metadata: dict[str, Any] = copy.deepcopy(old["metadata"])
    for key in _USER_METADATA:
        if new.get("metadata", {}).get(key):
            metadata[key] = copy.deepcopy(new["metadata"][key])
        else:
            metadata.pop(key, None)
    return metadata


def prepare_for_create(csr: dict[str, Any], user: UserInfo, uid: str, now: str) -> dict[str, Any]:
    """The object as stored on create (PrepareForCreate plus the generic registry's metadata)."""
    prepared = copy.deepcopy(csr)
    prepared["metadata"] = metadata_for_create(csr, uid, now)
    spec = prepared.setdefault("spec", {})
    for key in ("username", "uid", "groups", "extra"):
        spec.pop(key, None)
    spec["username"] = user.username
    if user.uid:
        spec["uid"] = user.uid
    if user.groups:
        spec["groups"] = list(user.groups)
    if user.extra:
        spec["extra"] = {key: list(values) for key, values in user.extra}
    prepared["status"] = {}  # users cannot create pre-approved requests
    prepared["apiVersion"], prepared["kind"] = "certificates.k8s.io/v1", "CertificateSigningRequest"
    return prepared


def prepare_for_update(new: dict[str, Any], old: dict[str, Any], subresource: str, now: str) -> dict[str, Any]:
    """The object as stored after an update through the main resource or a subresource."""
    prepared = copy.deepcopy(old)
    if subresource == MAIN:
        prepared["metadata"] = metadata_for_update(new, old)
        return prepared
    conditions = copy.deepcopy(new.get("status", {}).get("conditions") or [])
    status = prepared.setdefault("status", {})
    if subresource == STATUS:
        status = copy.deepcopy(new.get("status", {}))
        approvals = [c for c in old.get("status", {}).get("conditions") or [] if c.get("type") in (APPROVED, DENIED)]
        # Specifically preserve existing Approved/Denied conditions: status updates cannot approve or deny.
        conditions = approvals + [c for c in conditions if c.get("type") not in (APPROVED, DENIED)]
        prepared["status"] = status
    status["conditions"] = conditions
    if not conditions:
        del status["conditions"]
    _populate_condition_timestamps(prepared, old, now)
    return prepared


def _populate_condition_timestamps(new: dict[str, Any], old: dict[str, Any], now: str) -> None:
    """populateConditionTimestamps: fill lastUpdateTime, and keep lastTransitionTime of an unchanged condition."""
    old_conditions = old.get("status", {}).get("conditions") or []
    for condition in new.get("status", {}).get("conditions") or []:
        condition.setdefault("lastUpdateTime", now)
        if not condition.get("lastTransitionTime"):
            transition = now
            for previous in old_conditions:
                if (
                    previous.get("type") == condition.get("type")
                    and previous.get("status") == condition.get("status")
                    and previous.get("lastTransitionTime")
                ):
                    transition = previous["lastTransitionTime"]
                    break
            condition["lastTransitionTime"] = transition
