"""Reading request bodies into objects: JSON checked against the schema as Go's decoder would, or protobuf.

kube-apiserver decodes JSON into Go structs, so a value of the wrong type is a 400 naming the field, and (with
`fieldValidation`) unknown and duplicate fields are reported: Strict refuses them, Warn answers with `Warning`
headers, Ignore drops them. kubectl 1.37 sends `fieldValidation=Strict` once the OpenAPI document says the
server supports it, which is how `kubectl apply` validates manifests.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devstack.cluster import protobuf
from devstack.cluster.schema import BODY_KINDS, MESSAGES, Field, Message
from devstack.cluster.status import ApiError, bad_request, unsupported_media_type

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
BODY_TYPES = [JSON, PROTOBUF]
PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH]
_GO_TYPES = {"string": "string", "bytes": "[]uint8", "int32": "int32", "int64": "int64", "bool": "bool"}
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
# metav1.MicroTime parses with RFC3339Micro, whose ".000000" takes exactly six digits.
_RFC3339_MICRO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})")
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


@dataclass
class Decoded:
    """A decoded body: the object (known fields only) and what strict decoding noticed."""

    object: dict[str, Any]
    unknown: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Each finding as kube-apiserver words it: 'unknown field "spec.foo"'."""
        return [f'unknown field "{path}"' for path in self.unknown] + [
            f'duplicate field "{path}"' for path in self.duplicates
        ]


def media_type(header: str | None) -> str:
    """The media type of a Content-Type header, without parameters."""
    return (header or "").split(";", 1)[0].strip().lower()


def decode_body(body: bytes, content_type: str | None, expected: Message) -> Decoded:
    """Decode a create/update body of the expected kind; ApiError 400/415 when it cannot be read."""
    kind_name = expected.gvk[2] if expected.gvk else expected.name
    kind = media_type(content_type) or JSON
    if kind == PROTOBUF:
        return Decoded(_decode_protobuf(body, expected))
    if kind != JSON:
        raise unsupported_media_type(kind, BODY_TYPES)
    document = parse_json(body, "couldn't get version/kind; json parse error")
    if not isinstance(document, dict):
        raise bad_request(
            f"couldn't get version/kind; json parse error: expected an object, not {_json_type(document)}"
        )
    _check_type_meta(document, expected)
    decoded = Decoded({})
    decoded.object = _check_message(document, expected, "", decoded, kind_name)
    return decoded


def check_object(document: Any, expected: Message) -> Decoded:
    """Type-check an object built by patching, as the body of an update would be."""
    if not isinstance(document, dict):
        raise bad_request("the patched object is not a JSON object")
    kind_name = expected.gvk[2] if expected.gvk else expected.name
    decoded = Decoded({})
    decoded.object = _check_message(document, expected, "", decoded, kind_name)
    return decoded


def parse_json(body: bytes, context: str) -> Any:
    """Parse JSON, remembering duplicate keys per object (a strict decoding error) and refusing NaN."""
    if not body.strip():
        raise bad_request(f"{context}: unexpected end of JSON input")
    try:
        return json.loads(body, object_pairs_hook=_DuplicateAwareDict.from_pairs, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"{context}: {_json_problem(exc)}") from exc


class _DuplicateAwareDict(dict[str, Any]):
    """A dict that knows which of its keys appeared more than once in the JSON text."""

    duplicates: tuple[str, ...] = ()

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _DuplicateAwareDict:
        made = cls()
        seen: list[str] = []
        for key, value in pairs:
            if key in made:
                seen.append(key)
            made[key] = value
        made.duplicates = tuple(dict.fromkeys(seen))
        return made


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _json_problem(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "exceeded max depth"
    return str(exc).split(": line", 1)[0]


def _decode_protobuf(body: bytes, expected: Message) -> dict[str, Any]:
    try:
        api_version, kind, raw = protobuf.read_envelope(body)
        message = BODY_KINDS.get((api_version, kind))
        if message is None or message is not expected:
            raise ApiError(
                400,
                "BadRequest",
                f"the protobuf body holds {kind or 'an object'} {api_version or ''}, expected {_kind_of(expected)}",
            )
        decoded = protobuf.decode_message(raw, message)
    except protobuf.ProtobufError as exc:
        raise bad_request(f"the protobuf body cannot be decoded: {exc}") from exc
    decoded["apiVersion"], decoded["kind"] = api_version, kind
    return decoded


def _kind_of(message: Message) -> str:
    if message.gvk is None:
        return message.name
    group, version, kind = message.gvk
    return f"{kind} {group + '/' if group else ''}{version}"


def _check_type_meta(document: dict[str, Any], expected: Message) -> None:
    """Missing apiVersion/kind default to the endpoint's, as the server's decoder defaults them."""
    assert expected.gvk is not None
    group, version, kind = expected.gvk
    want_version = f"{group}/{version}" if group else version
    got_version, got_kind = document.get("apiVersion") or want_version, document.get("kind") or kind
    if not isinstance(got_version, str) or not isinstance(got_kind, str):
        raise bad_request("couldn't get version/kind; json parse error: apiVersion and kind must be strings")
    accepted = {(v, k) for (v, k), message in BODY_KINDS.items() if message is expected}
    if (got_version, got_kind) not in accepted:
        raise bad_request(
            f"the object provided is unrecognized (must be of type {kind}): "
            f'no kind "{got_kind}" is registered for version "{got_version}"'
        )
    document["apiVersion"], document["kind"] = got_version, got_kind


def _check_message(document: dict[str, Any], message: Message, path: str, found: Decoded, kind: str) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for duplicate in getattr(document, "duplicates", ()):
        found.duplicates.append(_join(path, duplicate))
    for key, value in document.items():
        spec = message.by_name.get(key)
        if spec is None:
            found.unknown.append(_join(path, key))
            continue
        if value is None:
            continue  # null is the zero value in Go
        checked[key] = _check_field(value, spec, _join(path, key), message, found, kind)
    return checked


def _check_field(value: Any, spec: Field, path: str, owner: Message, found: Decoded, kind: str) -> Any:
    if spec.repeated:
        if not isinstance(value, list):
            raise _type_error(value, spec, path, owner, kind, f"[]{_go_type(spec)}")
        return [_check_single(item, spec, f"{path}[{index}]", owner, found, kind) for index, item in enumerate(value)]
    return _check_single(value, spec, path, owner, found, kind)


def _check_single(value: Any, spec: Field, path: str, owner: Message, found: Decoded, kind: str) -> Any:
    go_type = _go_type(spec)
    if spec.kind == "message":
        if not isinstance(value, dict):
            raise _type_error(value, spec, path, owner, kind, go_type)
        return _check_message(value, MESSAGES[spec.ref], path, found, kind)
    if spec.kind == "string" and isinstance(value, str):
        return value
    if spec.kind == "bool" and isinstance(value, bool):
        return value
    if spec.kind in _INT_RANGES and isinstance(value, int) and not isinstance(value, bool):
        low, high = _INT_RANGES[spec.kind]
        if not low <= value <= high:
            raise _type_error(value, spec, path, owner, kind, go_type)
        return value
    if spec.kind == "bytes" and isinstance(value, str):
        try:
            base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise bad_request(_cannot_handle(kind, f"illegal base64 data in {path}")) from exc
        return value
    if spec.kind == "time" and isinstance(value, str):
        moment = _rfc3339(value)
        if moment is None:
            raise bad_request(_cannot_handle(kind, f'parsing time "{value}" as RFC 3339 in {path}'))
        # metav1.Time keeps UTC seconds: fractions and offsets are normalized away, as Go's round trip does
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if spec.kind == "microTime" and isinstance(value, str):
        moment = _rfc3339(value) if _RFC3339_MICRO.fullmatch(value) else None
        if moment is None:
            layout = "2006-01-02T15:04:05.000000Z07:00"
            raise bad_request(_cannot_handle(kind, f'parsing time "{value}" as "{layout}" in {path}'))
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if spec.kind == "fieldsV1" and isinstance(value, dict):
        return value
    if spec.kind == "map" and isinstance(value, dict):
        if not all(isinstance(item, str | None) for item in value.values()):
            raise _type_error(value, spec, path, owner, kind, go_type)
        return {key: item or "" for key, item in value.items()}
    if spec.kind == "extra" and isinstance(value, dict):
        for item in value.values():
            if item is not None and not (isinstance(item, list) and all(isinstance(text, str) for text in item)):
                raise _type_error(value, spec, path, owner, kind, go_type)
        return {key: list(item or []) for key, item in value.items()}
    raise _type_error(value, spec, path, owner, kind, go_type)


def _rfc3339(value: str) -> datetime | None:
    if not _RFC3339.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _go_type(spec: Field) -> str:
    if spec.kind == "message":
        return spec.ref.rsplit(".", 1)[-1]
    if spec.kind == "time":
        return "Time"
    if spec.kind == "microTime":
        return "MicroTime"
    if spec.kind == "map":
        return "map[string]string"
    if spec.kind == "extra":
        return "map[string]ExtraValue"
    if spec.kind == "fieldsV1":
        return "FieldsV1"
    return _GO_TYPES[spec.kind]


def _type_error(value: Any, spec: Field, path: str, owner: Message, kind: str, go_type: str) -> ApiError:
    struct = owner.name.rsplit(".", 1)[-1]
    problem = f"json: cannot unmarshal {_json_type(value)} into Go struct field {struct}.{path} of type {go_type}"
    return bad_request(_cannot_handle(kind, problem))


def _cannot_handle(kind: str, problem: str) -> str:
    return f'{kind} in version "v1" cannot be handled as a {kind}: {problem}'


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return f"number {value}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
