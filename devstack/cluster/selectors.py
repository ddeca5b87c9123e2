"""Field and label selectors for list and watch.

Each registry allows field selectors on its own fields: CSRs on metadata.name and spec.signerName (upstream's
certificates.SelectableFields), Nodes on metadata.name and spec.unschedulable (node.NodeToSelectableFields), Events
on the object they are about and more (event.ToSelectableFields: how `kubectl describe` finds an object's Events);
label selectors take the usual set-based syntax.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from devstack.cluster.status import bad_request

Predicate = Callable[[dict[str, Any]], bool]
FieldReaders = Mapping[str, Callable[[dict[str, Any]], str]]
CSR_FIELDS: FieldReaders = {
    "metadata.name": lambda obj: obj.get("metadata", {}).get("name", ""),
    "spec.signerName": lambda obj: obj.get("spec", {}).get("signerName", ""),
}
NODE_FIELDS: FieldReaders = {
    "metadata.name": lambda obj: obj.get("metadata", {}).get("name", ""),
    "spec.unschedulable": lambda obj: "true" if obj.get("spec", {}).get("unschedulable") else "false",
}
# metadata.namespace is selectable on every namespaced resource (DefaultNamespaceScopedAttr), status.phase on
# Namespaces (namespace.GetAttrs).
NAMESPACED_FIELDS: FieldReaders = {
    "metadata.name": lambda obj: obj.get("metadata", {}).get("name", ""),
    "metadata.namespace": lambda obj: obj.get("metadata", {}).get("namespace", ""),
}
NAMESPACE_FIELDS: FieldReaders = {
    "metadata.name": lambda obj: obj.get("metadata", {}).get("name", ""),
    "status.phase": lambda obj: obj.get("status", {}).get("phase", ""),
}


def _involved(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda obj: str((obj.get("involvedObject") or {}).get(key, ""))


EVENT_FIELDS: FieldReaders = {
    **NAMESPACED_FIELDS,
    **{f"involvedObject.{key}": _involved(key) for key in (
        "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
    "reason": lambda obj: obj.get("reason", ""),
    "reportingComponent": lambda obj: obj.get("reportingComponent", ""),
    # the source's component, or the reporting controller for an Event written the events.k8s.io way
    "source": lambda obj: (obj.get("source") or {}).get("component", "") or obj.get("reportingComponent", ""),
    "type": lambda obj: obj.get("type", ""),
}  # fmt: skip
CLUSTER_FIELDS: FieldReaders = {"metadata.name": lambda obj: obj.get("metadata", {}).get("name", "")}
_SET_TERM = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def field_predicate(text: str | None, fields: FieldReaders = CSR_FIELDS) -> Predicate:
    """A predicate for a field selector such as `metadata.name=myuser,spec.signerName!=x`."""
    if not text:
        return everything
    tests: list[Predicate] = []
    for term in _split(text):
        for operator in ("!=", "==", "="):
            if operator in term:
                key, value = (part.strip() for part in term.split(operator, 1))
                break
        else:
            raise bad_request(f'invalid selector: "{text}"; can\'t understand "{term}"')
        read = fields.get(key)
        if read is None:
            known = ", ".join(f'"{name}"' for name in fields)
            raise bad_request(f'"{key}" is not a known field selector: only {known}')
        tests.append(_field_test(read, value, negate=operator == "!="))
    return lambda obj: all(test(obj) for test in tests)


def _field_test(read: Callable[[dict[str, Any]], str], value: str, negate: bool) -> Predicate:
    return lambda obj: (read(obj) == value) != negate


def label_predicate(text: str | None) -> Predicate:
    """A predicate for a label selector: `a=b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`."""
    if not text:
        return everything
    tests: list[Predicate] = []
    for term in _split(text):
        tests.append(_label_term(term, text))
    return lambda obj: all(test(obj.get("metadata", {}).get("labels") or {}) for test in tests)


def _label_term(term: str, whole: str) -> Callable[[dict[str, str]], bool]:
    term = term.strip()
    matched = _SET_TERM.match(term)
    if matched:
        key, operator, values = matched.group(1), matched.group(2), {v.strip() for v in matched.group(3).split(",")}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    for operator in ("!=", "==", "="):
        if operator in term:
            key, value = (part.strip() for part in term.split(operator, 1))
            if operator == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    if term.startswith("!") and term[1:].strip():
        key = term[1:].strip()
        return lambda labels: key not in labels
    if term and not re.search(r"[\s(),]", term):
        return lambda labels: term in labels
    raise bad_request(f"unable to parse requirement: {term!r} in label selector {whole!r}")


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for character in text:
        if character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
        if character == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += character
    terms.append(current)
    return [term for term in terms if term.strip()]


def everything(obj: dict[str, Any]) -> bool:
    """Selects every object (no selector)."""
    return True
