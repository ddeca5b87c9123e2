"""Go's encoding/pem Decode, ported line for line (go1.19 src/encoding/pem/pem.go): the block kube-apiserver and the
in-tree signers take from spec.request and status.certificate, which is not always the block another reader takes."""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field

_PEM_START = b"\n-----BEGIN "
_PEM_END = b"\n-----END "
_PEM_END_OF_LINE = b"-----"
# bytes.TrimSpace: ASCII white space and the UTF-8 encodings of the other runes unicode.IsSpace accepts
_SPACE = rb"(?:[\t\n\v\f\r ]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]|\xe2\x81\x9f|\xe3\x80\x80)"
_LEADING_SPACE = re.compile(rb"\A" + _SPACE + rb"+")
_TRAILING_SPACE = re.compile(_SPACE + rb"+\Z")
_STD_BASE64 = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


@dataclass(frozen=True)
class PemBlock:
    """One decoded block: its type, its headers (`Proc-Type: ...` lines) and the bytes its base64 holds."""

    type: bytes
    data: bytes
    headers: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def type_text(self) -> str:
        """The type as text, for messages (Go prints it with %q)."""
        return self.type.decode("utf-8", errors="replace")


def decode(data: bytes) -> tuple[PemBlock | None, bytes]:
    """pem.Decode: the first block whose BEGIN line starts the data or a line and which decodes, and the rest after
    it; blocks that do not decode (a bad END line, bad base64) are skipped. (None, data) when there is none."""
    rest = data
    while True:
        if rest.startswith(_PEM_START[1:]):
            rest = rest[len(_PEM_START) - 1 :]
        else:
            start = rest.find(_PEM_START)
            if start < 0:
                return None, data
            rest = rest[start + len(_PEM_START) :]

        type_line, rest = _get_line(rest)
        if not type_line.endswith(_PEM_END_OF_LINE):
            continue
        type_line = type_line[: -len(_PEM_END_OF_LINE)]

        headers: dict[bytes, bytes] = {}
        while True:
            if not rest:
                return None, data
            line, following = _get_line(rest)
            key, colon, value = line.partition(b":")
            if not colon:
                break
            headers[_trim_space(key)] = _trim_space(value)
            rest = following

        # with no headers, the END line may come at once, without a newline before it
        if not headers and rest.startswith(_PEM_END[1:]):
            end_index, end_trailer_index = 0, len(_PEM_END) - 1
        else:
            end_index = rest.find(_PEM_END)
            end_trailer_index = end_index + len(_PEM_END)
        if end_index < 0:
            continue

        # after the END line's dashes: the same type, five dashes, and nothing but white space up to the newline
        end_trailer = rest[end_trailer_index:]
        end_trailer_length = len(type_line) + len(_PEM_END_OF_LINE)
        if len(end_trailer) < end_trailer_length:
            continue
        rest_of_end_line = end_trailer[end_trailer_length:]
        end_trailer = end_trailer[:end_trailer_length]
        if not end_trailer.startswith(type_line) or not end_trailer.endswith(_PEM_END_OF_LINE):
            continue
        if _get_line(rest_of_end_line)[0]:
            continue

        decoded = _std_base64(rest[:end_index].replace(b" ", b"").replace(b"\t", b""))
        if decoded is None:
            continue
        _, rest = _get_line(rest[end_index + len(_PEM_END) - 1 :])
        return PemBlock(type_line, decoded, headers), rest


def _get_line(data: bytes) -> tuple[bytes, bytes]:
    """getLine: the first line without its CR LF or LF and trailing spaces and tabs, and the data after it."""
    index = data.find(b"\n")
    if index < 0:
        index = following = len(data)
    else:
        following = index + 1
        if index > 0 and data[index - 1] == ord("\r"):
            index -= 1
    return data[:index].rstrip(b" \t"), data[following:]


def _std_base64(text: bytes) -> bytes | None:
    """base64.StdEncoding.Decode: CR and LF skipped anywhere, whole quanta, padding only at the end (unused bits
    need not be zero)."""
    text = text.replace(b"\r", b"").replace(b"\n", b"")
    if not _STD_BASE64.fullmatch(text):
        return None
    return binascii.a2b_base64(text)


def _trim_space(value: bytes) -> bytes:
    return _TRAILING_SPACE.sub(b"", _LEADING_SPACE.sub(b"", value))
