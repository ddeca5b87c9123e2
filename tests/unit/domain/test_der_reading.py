"""DER as Go's encoding/asn1 reads it: definite, minimal lengths, nothing truncated, nothing trailing. The errors end
up in what a requester reads ("the CSR is not valid DER: truncated content"), so each names what is wrong."""

from __future__ import annotations

import pytest

from csrgate.domain import der


@pytest.mark.parametrize(
    ("data", "element", "end"),
    [
        (b"\x05\x00", der.Element(0x05, b"", b"\x05\x00"), 2),  # NULL: the smallest element there is
        (b"\x04\x02ab", der.Element(0x04, b"ab", b"\x04\x02ab"), 4),
        (b"\x04\x01ab", der.Element(0x04, b"a", b"\x04\x01a"), 3),  # the next element starts at "b"
        (b"\x1e\x00", der.Element(0x1E, b"", b"\x1e\x00"), 2),  # BMPString: the highest low tag number
    ],
)
def test_an_element_is_read_with_its_tag_content_and_bytes(data: bytes, element: der.Element, end: int) -> None:
    assert der.read_one(data) == (element, end)


@pytest.mark.parametrize(
    ("size", "header"), [(0x7F, b"\x04\x7f"), (0x80, b"\x04\x81\x80"), (0x100, b"\x04\x82\x01\x00")]
)
def test_short_and_long_lengths_are_read_and_written_alike(size: int, header: bytes) -> None:
    # GIVEN content on either side of the short/long length boundary
    content = bytes(size)
    # WHEN it is encoded and read back THEN the header is the minimal one and the element round-trips
    assert der.encode(0x04, content) == header + content
    assert der.read_exactly(header + content) == der.Element(0x04, content, header + content)


def test_an_element_further_into_the_data_is_read_from_its_offset() -> None:
    # GIVEN two elements back to back
    data = b"\x02\x01\x07\x04\x81\x80" + bytes(0x80) + b"\x05\x00"
    # WHEN the second and third are read from where the first ends
    second, after_second = der.read_one(data, 3)
    third, end = der.read_one(data, after_second)
    # THEN each carries exactly its own bytes
    assert (second.tag, second.content, second.encoded) == (0x04, bytes(0x80), data[3:134])
    assert (third, end) == (der.Element(0x05, b"", b"\x05\x00"), len(data))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "truncated"),
        (b"\x04", "truncated"),
        (b"\x1f\x01\x00", "high tag numbers are not used in a CSR"),
        (b"\x9f\x01\x00", "high tag numbers are not used in a CSR"),  # context-specific [31] and up
        (b"\x30\x80\x05\x00\x00\x00", "indefinite or oversized length"),  # BER's indefinite form
        (b"\x04\x85\x01\x00\x00\x00\x00", "indefinite or oversized length"),  # five length bytes
        (b"\x04\x84\x01\x00\x00\x00", "truncated content"),  # four length bytes are allowed, 16 MiB are missing
        (b"\x04\x82\x01", "truncated length"),
        (b"\x04\x81", "truncated length"),
        (b"\x04\x81\x05abcde", "length not minimally encoded"),  # 5 fits the short form
        (b"\x04\x81\x7f" + bytes(0x7F), "length not minimally encoded"),
        (b"\x04\x82\x00\x80" + bytes(0x80), "length not minimally encoded"),  # a leading zero byte
        (b"\x04\x03ab", "truncated content"),
        (b"\x04\x81\x80" + bytes(0x7F), "truncated content"),
    ],
)
def test_bytes_that_are_not_strict_der_are_refused(data: bytes, problem: str) -> None:
    # GIVEN bytes Go's encoding/asn1 refuses (or reads as something else than a lenient parser would)
    # WHEN they are read THEN the error says what is wrong with them
    with pytest.raises(der.DerError) as raised:
        der.read_one(data)
    assert str(raised.value) == problem


def test_an_element_must_be_all_of_the_data() -> None:
    with pytest.raises(der.DerError, match="^trailing data$"):
        der.read_exactly(b"\x05\x00\x00")


def test_read_all_returns_every_element_in_order_and_nothing_for_no_bytes() -> None:
    assert der.read_all(b"\x02\x01\x01\x05\x00") == [
        der.Element(0x02, b"\x01", b"\x02\x01\x01"),
        der.Element(0x05, b"", b"\x05\x00"),
    ]
    assert der.read_all(b"") == []


def test_read_all_refuses_a_truncated_last_element() -> None:
    with pytest.raises(der.DerError, match="truncated content"):
        der.read_all(b"\x05\x00\x04\x05ab")


@pytest.mark.parametrize("tag", [der.SEQUENCE, der.SET, 0xA0, 0xA3])
def test_a_constructed_element_holds_its_children(tag: int) -> None:
    # GIVEN a SEQUENCE, SET or context-specific constructed element holding an INTEGER and a NULL
    element = der.read_exactly(der.encode(tag, b"\x02\x01\x01\x05\x00"))
    # WHEN its children are read THEN they are the two elements, in order
    assert [child.tag for child in element.children()] == [der.INTEGER, der.NULL]


@pytest.mark.parametrize("tag", [0x01, der.INTEGER, 0x03, der.NULL, der.OID, der.UTF8_STRING, 0x80, 0x81])
def test_a_primitive_element_has_no_children(tag: int) -> None:
    with pytest.raises(der.DerError, match=f"^tag {tag:#04x} is not constructed$"):
        der.read_exactly(der.encode(tag, b"\x05\x00")).children()


@pytest.mark.parametrize(
    ("dotted", "content"),
    [
        ("1.2.840.113549.1.9.14", bytes.fromhex("2a864886f70d01090e")),  # extensionRequest
        ("2.5.4.3", b"\x55\x04\x03"),  # commonName
        ("1.3.101.112", b"\x2b\x65\x70"),  # Ed25519
        ("0.39", b"\x27"),
        ("1.0", b"\x28"),
        ("1.39", b"\x4f"),
        ("2.0", b"\x50"),
        ("2.999.3", b"\x88\x37\x03"),  # a first subidentifier of two bytes
        ("1.2.127.128.16383.16384", b"\x2a\x7f\x81\x00\xff\x7f\x81\x80\x00"),
    ],
)
def test_object_identifiers_are_encoded_and_shown_as_dotted_text(dotted: str, content: bytes) -> None:
    assert der.oid(dotted) == content
    assert der.oid_text(content) == dotted


def test_an_empty_object_identifier_is_shown_as_empty() -> None:
    assert der.oid_text(b"") == "(empty)"


def test_an_unfinished_last_arc_is_left_out_of_the_text() -> None:
    # GIVEN an OID whose last byte says more follows (as a hostile requester can send)
    # THEN the text shows the arcs that are complete, never a half-read number
    assert der.oid_text(b"\x55\x04\x83") == "2.5.4"
    assert der.oid_text(b"\x83") == "(empty)"
