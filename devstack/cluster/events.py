"""Events (core/v1): what controllers report about objects, and what `kubectl describe` lists under Events
(pkg/registry/core/event, pkg/apis/core/validation/events.go).

Created and updated through core/v1, they get the validation kube-apiserver gives that version: the legacy checks
only. An Event with an eventTime (written the events.k8s.io way) must name its reportingComponent (a qualified name),
reportingInstance, action and reason, within their lengths, and the Events of a cluster-scoped object live in
`default` or `kube-system`; one without must have involvedObject.namespace equal to its own namespace (or empty, in
`default`). Their names are only checked as path segments, as the generic registry does. Nothing expires them here,
where kube-apiserver keeps them for its --event-ttl (an hour by default).
"""

from __future__ import annotations

import re
from typing import Any

from devstack.cluster.namespaces import DNS_SUBDOMAIN, DNS_SUBDOMAIN_PROBLEM, KeptAsWritten
from devstack.cluster.rbac import validate_rbac_name
from devstack.cluster.registry import FieldErrors
from devstack.cluster.schema import EVENT
from devstack.cluster.status import EVENTS, invalid, required

REPORTING_INSTANCE_LIMIT = ACTION_LIMIT = REASON_LIMIT = 128
NOTE_LIMIT = 1024  # bytes, as Go's len() counts
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_QUALIFIED_NAME_PROBLEM = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
    "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_CLUSTER_SCOPED_HOMES = ("default", "kube-system")


class EventRegistry(KeptAsWritten):
    """events: namespaced reports about objects, kept as written."""

    resource = EVENTS
    message = EVENT
    namespaced = True
    kind = "Event"

    def validate(self, obj: dict[str, Any]) -> FieldErrors:
        """ValidateEventCreate for core/v1: the name as a path segment, then legacyValidateEvent."""
        return validate_rbac_name(obj) + legacy_event_problems(obj)


def legacy_event_problems(event: dict[str, Any]) -> FieldErrors:
    """legacyValidateEvent."""
    namespace = event.get("metadata", {}).get("namespace", "")
    involved = event.get("involvedObject") or {}
    involved_namespace = involved.get("namespace", "")
    errors: FieldErrors = []
    if not event.get("eventTime"):
        if involved_namespace != namespace and (involved_namespace or namespace not in ("", "default")):
            errors.append(invalid("involvedObject.namespace", involved_namespace, "does not match event.namespace"))
        return errors
    if not involved_namespace and namespace not in _CLUSTER_SCOPED_HOMES:
        errors.append(invalid("involvedObject.namespace", involved_namespace, "does not match event.namespace"))
    controller = event.get("reportingComponent", "")
    if not controller:
        errors.append(required("reportingController"))
    errors += [invalid("reportingController", controller, problem) for problem in qualified_name_problems(controller)]
    instance = event.get("reportingInstance", "")
    if not instance:
        errors.append(required("reportingInstance"))
    if len(instance) > REPORTING_INSTANCE_LIMIT:
        errors.append(invalid("reportingInstance", "", f"can have at most {REPORTING_INSTANCE_LIMIT} characters"))
    action = event.get("action", "")
    if not action:
        errors.append(required("action"))
    if len(action) > ACTION_LIMIT:
        errors.append(invalid("action", "", f"can have at most {ACTION_LIMIT} characters"))
    reason = event.get("reason", "")
    if not reason:
        errors.append(required("reason"))
    if len(reason) > REASON_LIMIT:
        errors.append(invalid("reason", "", f"can have at most {REASON_LIMIT} characters"))
    if len(event.get("message", "").encode("utf-8")) > NOTE_LIMIT:
        errors.append(invalid("message", "", f"can have at most {NOTE_LIMIT} characters"))
    return errors


def qualified_name_problems(value: str) -> list[str]:
    """validation.IsQualifiedName: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters."""
    parts = value.split("/")
    if len(parts) > 2:
        with_prefix = "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        return [f"a qualified name {_QUALIFIED_NAME_PROBLEM} {with_prefix}"]
    problems = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                problems.append("prefix part must be no more than 253 characters")
            if not DNS_SUBDOMAIN.fullmatch(prefix):
                problems.append(f"prefix part {DNS_SUBDOMAIN_PROBLEM}")
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME.fullmatch(name):
        problems.append(f"name part {_QUALIFIED_NAME_PROBLEM}")
    return problems
