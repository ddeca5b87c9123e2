"""PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.

A strategic merge patch is a merge patch that merges lists by their patch merge key and unions lists whose
patch strategy is "merge" (the `x-kubernetes-patch-*` fields in `schema`), as apimachinery's strategicpatch
does; for a CertificateSigningRequest that difference only touches metadata.ownerReferences and finalizers.
Server-side apply (application/apply-patch+yaml) is not served.
"""

from __future__ import annotations

import copy
from typing import Any

from devstack.cluster.schema import MESSAGES, Message
from devstack.cluster.status import ApiError, bad_request

_DIRECTIVE = "$patch"


def json_patch(document: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch; ApiError 422 when an operation cannot apply, 400 when it is malformed."""
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    result = copy.deepcopy(document)
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or not isinstance(operation.get("op"), str):
            raise bad_request(f"the JSON patch operation {index} is not an object with an op")
        result = _apply_operation(result, operation)
    return result


def merge_patch(document: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(document) if isinstance(document, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(document: Any, patch: Any, message: Message) -> Any:
    """Apply a strategic merge patch to an object of the given message."""
    if not isinstance(patch, dict):
        raise bad_request("a strategic merge patch must be a JSON object")
    return _strategic(document if isinstance(document, dict) else {}, patch, message)


def _strategic(document: dict[str, Any], patch: dict[str, Any], message: Message | None) -> dict[str, Any]:
    directive = patch.get(_DIRECTIVE)
    if directive == "replace":
        return {key: value for key, value in patch.items() if key != _DIRECTIVE}
    if directive == "delete":
        return {}
    if directive is not None:
        raise bad_request(f"unknown patch type: {directive!r} in map")
    result = copy.deepcopy(document)
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key == "$retainKeys":
            continue  # ordering and retention hints: the result is the same without them here
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list) and isinstance(value, list):
                result[name] = [item for item in result[name] if item not in value]
            continue
        spec = message.by_name.get(key) if message else None
        nested = MESSAGES.get(spec.ref) if spec and spec.kind == "message" else None
        if value is None:
            result.pop(key, None)
        elif spec is not None and spec.repeated and isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, spec.patch_merge_key, spec.patch_strategy, nested)
        elif isinstance(value, dict) and (nested is not None or spec is None or spec.kind in ("map", "extra")):
            current = result.get(key)
            result[key] = _strategic(current if isinstance(current, dict) else {}, value, nested)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(current: Any, patch: list[Any], merge_key: str, strategy: str, nested: Message | None) -> list[Any]:
    existing = list(current) if isinstance(current, list) else []
    if merge_key:
        merged = copy.deepcopy(existing)
        for item in patch:
            if not isinstance(item, dict) or merge_key not in item:
                raise bad_request(f"map: {item!r} does not contain declared merge key: {merge_key}")
            position = next((i for i, old in enumerate(merged) if old.get(merge_key) == item[merge_key]), None)
            if item.get(_DIRECTIVE) == "delete":
                if position is not None:
                    del merged[position]
            elif position is None:
                merged.append({key: value for key, value in item.items() if key != _DIRECTIVE})
            else:
                merged[position] = _strategic(merged[position], item, nested)
        return merged
    if strategy == "merge":
        return existing + [item for item in patch if item not in existing]
    return copy.deepcopy(patch)


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    op = operation["op"]
    path = _pointer(operation, "path")
    if op == "add":
        return _add(document, path, copy.deepcopy(_value(operation)))
    if op == "remove":
        return _remove(document, path)[0]
    if op == "replace":
        document = _remove(document, path)[0]
        return _add(document, path, copy.deepcopy(_value(operation)))
    if op == "test":
        if _get(document, path) != _value(operation):
            raise _unprocessable(f"testing value {'/'.join(path)} failed")
        return document
    if op in ("move", "copy"):
        source = _pointer(operation, "from")
        value = copy.deepcopy(_get(document, source))
        if op == "move":
            document = _remove(document, source)[0]
        return _add(document, path, value)
    raise bad_request(f"unexpected kind of JSON patch operation: {op!r}")


def _value(operation: dict[str, Any]) -> Any:
    if "value" not in operation:
        raise bad_request(f"the {operation['op']} operation has no value")
    return operation["value"]


def _pointer(operation: dict[str, Any], key: str) -> list[str]:
    text = operation.get(key)
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise bad_request(f"the JSON patch operation's {key} is not a JSON pointer")
    return [part.replace("~1", "/").replace("~0", "~") for part in text.split("/")[1:]] if text else []


def _parent(document: Any, path: list[str]) -> Any:
    return _get(document, path[:-1])


def _get(document: Any, path: list[str]) -> Any:
    current = document
    for part in path:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise _unprocessable(f"the path /{'/'.join(path)} does not exist")
    return current


def _add(document: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _parent(document, path)
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise _unprocessable(f"the index {last} is out of range")
    else:
        raise _unprocessable(f"the path /{'/'.join(path[:-1])} is not a container")
    return document


def _remove(document: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        raise _unprocessable("the whole document cannot be removed")
    parent = _parent(document, path)
    last = path[-1]
    if isinstance(parent, dict) and last in parent:
        return document, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return document, parent.pop(int(last))
    raise _unprocessable(f"the path /{'/'.join(path)} does not exist")


def _unprocessable(problem: str) -> ApiError:
    return ApiError(422, "Invalid", f"the JSON patch could not be applied: {problem}", {})
