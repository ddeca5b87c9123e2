"""Just enough DER to walk a PKCS#10 request's structure the way Go's encoding/asn1 does: strict, definite
lengths, minimal encodings. cryptography parses the request; this module only shows what it does not expose."""

from __future__ import annotations

from dataclasses import dataclass

SEQUENCE = 0x30
SET = 0x31
OID = 0x06
INTEGER = 0x02
NULL = 0x05
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
IA5_STRING = 0x16


class DerError(ValueError):
    """Bytes that are not strict DER."""


@dataclass(frozen=True, slots=True)
class Element:
    """One tag-length-value: its tag byte, its content, and every byte of it (`encoded`)."""

    tag: int
    content: bytes
    encoded: bytes

    def children(self) -> list[Element]:
        """The elements a constructed element holds, in order."""
        if not self.tag & 0x20:
            raise DerError(f"tag {self.tag:#04x} is not constructed")
        return read_all(self.content)


def read_one(data: bytes, offset: int = 0) -> tuple[Element, int]:
    """The element starting at `offset`, and where the next one starts."""
    if offset + 2 > len(data):
        raise DerError("truncated")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("high tag numbers are not used in a CSR")
    first = data[offset + 1]
    start = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise DerError("indefinite or oversized length")
        if start + count > len(data):
            raise DerError("truncated length")
        length = int.from_bytes(data[start : start + count], "big")
        if data[start] == 0 or length < 0x80:
            raise DerError("length not minimally encoded")
        start += count
    end = start + length
    if end > len(data):
        raise DerError("truncated content")
    return Element(tag, data[start:end], data[offset:end]), end


def read_all(data: bytes) -> list[Element]:
    """Every element in `data`, which must hold nothing else."""
    elements, offset = [], 0
    while offset < len(data):
        element, offset = read_one(data, offset)
        elements.append(element)
    return elements


def read_exactly(data: bytes) -> Element:
    """The single element that `data` is."""
    element, end = read_one(data)
    if end != len(data):
        raise DerError("trailing data")
    return element


def encode(tag: int, content: bytes) -> bytes:
    """A DER element."""
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


def oid_text(content: bytes) -> str:
    """An OBJECT IDENTIFIER's content as dotted text ('1.2.840.113549.1.9.14')."""
    arcs, value = [], 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return "(empty)"
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in head + arcs[1:])


def oid(dotted: str) -> bytes:
    """The content bytes of an OBJECT IDENTIFIER."""
    arcs = [int(part) for part in dotted.split(".")]
    numbers = [arcs[0] * 40 + arcs[1], *arcs[2:]]
    encoded = bytearray()
    for number in numbers:
        chunk = [number & 0x7F]
        number >>= 7
        while number:
            chunk.append(0x80 | (number & 0x7F))
            number >>= 7
        encoded.extend(reversed(chunk))
    return bytes(encoded)
