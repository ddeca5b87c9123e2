"""Reading Kubernetes protobuf request bodies (what kubectl sends for `certificate approve` and `auth whoami`).

The body is the magic `k8s\\0`, then a runtime.Unknown {typeMeta=1 {apiVersion=1, kind=2}, raw=2,
contentEncoding=3, contentType=4} whose `raw` holds the object's own message (k8s.io/apimachinery
pkg/runtime/generated.proto). Objects are decoded into the JSON shape the rest of the server works with, driven
by the field numbers in `schema`. Unknown fields are skipped as Go's generated unmarshallers skip them; anything
malformed raises ProtobufError, which the server answers with 400.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from devstack.cluster.schema import MESSAGES, Field, Message

MAGIC = b"k8s\x00"
MAX_DEPTH = 32
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5
_ZERO_TIME_SECONDS = -62135596800  # Go's zero time.Time (0001-01-01T00:00:00Z) as Unix seconds


class ProtobufError(ValueError):
    """Bytes that are not the protobuf message they claim to be."""


def read_envelope(body: bytes) -> tuple[str, str, bytes]:
    """Unwrap `k8s\\0` + runtime.Unknown into (apiVersion, kind, raw object bytes)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number")
    api_version = kind = ""
    raw = b""
    for number, wire, value in read_fields(body[len(MAGIC) :]):
        if number == 1:
            type_meta = _bytes(wire, value, "typeMeta")
            for meta_number, meta_wire, meta_value in read_fields(type_meta):
                if meta_number == 1:
                    api_version = _text(_bytes(meta_wire, meta_value, "typeMeta.apiVersion"), "typeMeta.apiVersion")
                elif meta_number == 2:
                    kind = _text(_bytes(meta_wire, meta_value, "typeMeta.kind"), "typeMeta.kind")
        elif number == 2:
            raw = _bytes(wire, value, "raw")
        elif number == 3:
            encoding = _text(_bytes(wire, value, "contentEncoding"), "contentEncoding")
            if encoding:
                raise ProtobufError(f"content encoding {encoding!r} is not supported")
    return api_version, kind, raw


def decode_message(data: bytes, message: Message, depth: int = 0) -> dict[str, Any]:
    """Decode one message into its JSON shape (bytes fields as base64 text, times as RFC 3339)."""
    if depth > MAX_DEPTH:
        raise ProtobufError(f"messages nested deeper than {MAX_DEPTH}")
    decoded: dict[str, Any] = {}
    for number, wire, value in read_fields(data):
        spec = message.by_number.get(number)
        if spec is None:
            continue  # an unknown field: skipped, as Go's generated Unmarshal does
        item = _decode_field(spec, wire, value, depth)
        if spec.kind in ("map", "extra"):
            key, entry = item
            decoded.setdefault(spec.name, {})[key] = entry
        elif spec.repeated:
            decoded.setdefault(spec.name, []).append(item)
        elif item is not None:
            decoded[spec.name] = item
        else:
            decoded.pop(spec.name, None)  # a zero time: JSON would carry null
    return decoded


def read_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) for each field; values are ints or bytes."""
    position, end = 0, len(data)
    while position < end:
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise ProtobufError(f"field number {number} is not valid")
        if wire == _VARINT:
            value, position = _varint(data, position)
            yield number, wire, value
        elif wire == _LENGTH_DELIMITED:
            length, position = _varint(data, position)
            if length > end - position:
                raise ProtobufError(f"field {number} claims {length} bytes but only {end - position} remain")
            yield number, wire, data[position : position + length]
            position += length
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if size > end - position:
                raise ProtobufError(f"field {number} is truncated")
            yield number, wire, int.from_bytes(data[position : position + size], "little")
            position += size
        else:
            raise ProtobufError(f"wire type {wire} (field {number}) is not used by Kubernetes objects")


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    for index in range(position, min(position + 10, len(data))):
        byte = data[index]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, index + 1
        shift += 7
    raise ProtobufError("a varint is truncated or longer than 10 bytes")


def _decode_field(spec: Field, wire: int, value: int | bytes, depth: int) -> Any:
    if spec.kind in ("int32", "int64", "bool"):
        if not isinstance(value, int) or wire != _VARINT:
            raise ProtobufError(f"{spec.name} must be a varint")
        if spec.kind == "bool":
            return value != 0
        signed = value - (1 << 64) if value >= 1 << 63 else value
        if spec.kind == "int32":
            signed = ((signed & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000  # Go's int32(v) conversion
        return signed
    data = _bytes(wire, value, spec.name)
    if spec.kind == "string":
        return _text(data, spec.name)
    if spec.kind == "bytes":
        return base64.b64encode(data).decode("ascii")
    if spec.kind in ("time", "microTime"):
        return _time(data, spec.name, micro=spec.kind == "microTime")
    if spec.kind == "fieldsV1":
        return _fields_v1(data, spec.name)
    if spec.kind == "map":
        return _map_entry(data, spec.name, lambda raw: _text(raw, spec.name))
    if spec.kind == "extra":
        return _map_entry(data, spec.name, lambda raw: _extra_value(raw, spec.name))
    return decode_message(data, MESSAGES[spec.ref], depth + 1)


def _bytes(wire: int, value: int | bytes, name: str) -> bytes:
    if wire != _LENGTH_DELIMITED or not isinstance(value, bytes):
        raise ProtobufError(f"{name} must be length-delimited")
    return value


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError(f"{name} is not UTF-8") from exc


def _time(data: bytes, name: str, *, micro: bool = False) -> str | None:
    if not data:
        return None  # metav1.Time marshals the zero time as an empty message
    seconds = nanos = 0
    for number, wire, value in read_fields(data):
        if number in (1, 2):
            if wire != _VARINT or not isinstance(value, int):
                raise ProtobufError(f"{name} must hold varints")
            signed = value - (1 << 64) if value >= 1 << 63 else value
            if number == 1:
                seconds = signed
            else:
                nanos = signed
    if seconds == _ZERO_TIME_SECONDS and nanos == 0:
        return None
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ProtobufError(f"{name} is out of range") from exc
    if micro:  # metav1.MicroTime keeps microseconds in JSON
        return moment.replace(microsecond=max(0, min(nanos, 999_999_999)) // 1000).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # metav1.Time is second-precision RFC 3339 in JSON, so the nanoseconds are dropped as Go drops them.
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fields_v1(data: bytes, name: str) -> Any:
    raw = b""
    for number, wire, value in read_fields(data):
        if number == 1:
            raw = _bytes(wire, value, name)
    try:
        return json.loads(raw) if raw else {}
    except (ValueError, RecursionError) as exc:
        raise ProtobufError(f"{name} does not hold JSON") from exc


def _map_entry(data: bytes, name: str, read_value: Any) -> tuple[str, Any]:
    key, entry = "", None
    for number, wire, value in read_fields(data):
        if number == 1:
            key = _text(_bytes(wire, value, name), name)
        elif number == 2:
            entry = read_value(_bytes(wire, value, name))
    return key, entry if entry is not None else read_value(b"")


def _extra_value(data: bytes, name: str) -> list[str]:
    return [_text(_bytes(wire, value, name), name) for number, wire, value in read_fields(data) if number == 1]
