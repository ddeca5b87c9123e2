"""Files people write (policies, manifests, cluster configuration) are read strictly: one YAML or JSON document, no
aliases, no duplicate keys, bounded size; what is wrong is said with the line it is on."""

from __future__ import annotations

import pytest

from csrgate.domain.documents import MAX_DOCUMENT_BYTES, DocumentError, load_document

JSON_DOCUMENT = {"kind": "CertificateSigningRequest", "spec": {"usages": ["client auth"]}}


@pytest.mark.parametrize(
    ("text", "document"),
    [
        ("version: 1\nsigners:\n  a: {onClean: review}\n", {"version": 1, "signers": {"a": {"onClean": "review"}}}),
        ('{"kind": "CertificateSigningRequest", "spec": {"usages": ["client auth"]}}', JSON_DOCUMENT),
        ("- a\n- b\n", ["a", "b"]),
        ("42", 42),
        ("---\na: 1\n...\n", {"a": 1}),
        ("a: &anchor 1\n", {"a": 1}),  # an anchor nobody refers to expands nothing
        ("a: {b: 1}\nc: {b: 2}\n", {"a": {"b": 1}, "c": {"b": 2}}),  # the same key in two mappings
        ("1: a\n'1': b\n", {1: "a", "1": "b"}),
    ],
)
def test_one_document_is_read_as_plain_values(text: str, document: object) -> None:
    assert load_document(text) == document


def test_a_document_of_the_largest_size_allowed_is_read() -> None:
    # GIVEN a comment that fills the document up to 256 KiB exactly
    text = "a: 1\n#" + "x" * (MAX_DOCUMENT_BYTES - 6)
    # THEN it is read
    assert len(text.encode()) == MAX_DOCUMENT_BYTES
    assert load_document(text) == {"a": 1}


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n#" + "x" * (MAX_DOCUMENT_BYTES - 5),
        "a: 1\n#" + "\u00e9" * (MAX_DOCUMENT_BYTES // 2),  # fewer characters than the limit, but more bytes
    ],
)
def test_a_larger_document_is_refused_before_it_is_parsed(text: str) -> None:
    with pytest.raises(DocumentError, match="^larger than 256 KiB$"):
        load_document(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("base: &b {a: 1}\nother: *b\n", "line 2: YAML aliases are not allowed"),
        ("a: 1\nb: *undefined\n", "line 2: YAML aliases are not allowed"),
        ("a: 1\nb: 2\na: 3\n", "line 3: duplicate key 'a'"),
        ("x:\n  a: 1\n  a: 2\n", "line 3: duplicate key 'a'"),
        ('{"a": 1, "a": 1}', "line 1: duplicate key 'a'"),  # JSON parsers keep the last; a person meant one
        ("? [a, b]\n: 1\n", "line 1: a mapping key must be a plain value"),
        ("a: 1\n? {b: 1}\n: 2\n", "line 2: a mapping key must be a plain value"),
    ],
)
def test_aliases_duplicate_keys_and_complex_keys_are_refused_with_their_line(text: str, problem: str) -> None:
    # GIVEN YAML that expands entities or silently overrides a key
    # WHEN it is read THEN the person is told what and where
    with pytest.raises(DocumentError) as raised:
        load_document(text)
    assert str(raised.value) == problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: [1", "line 1, column 6: expected ',' or ']', but got '<stream end>'"),
        ("a: 1\n\t- b", "line 2, column 1: found character '\\t' that cannot start any token"),
        ("a: \x07", "not valid YAML"),  # a control character: the reader has no line to point at
        ("a: \ud800", "not valid YAML"),  # a lone surrogate counts its bytes, and then is refused
        ("a: 2001-13-45", "not valid YAML (ValueError)"),  # a date with month 13
        ("? !!set {a}\n: 1", "not valid YAML (TypeError)"),  # a key that cannot be a key
        ("[" * 500 + "]" * 500, "not valid YAML (RecursionError)"),  # nested deeper than Python recurses
        ("a: !!python/object:os.system x", "line 1, column 4: could not determine a constructor for the tag"),
    ],
)
def test_text_that_is_not_valid_yaml_is_refused_saying_where(text: str, problem: str) -> None:
    with pytest.raises(DocumentError) as raised:
        load_document(text)
    assert str(raised.value).startswith(problem)
    assert raised.value.__cause__ is not None


@pytest.mark.parametrize(("text", "count"), [("", 0), ("# only a comment\n", 0), ("a: 1\n---\nb: 2\n", 2)])
def test_anything_but_one_document_is_refused(text: str, count: int) -> None:
    with pytest.raises(DocumentError, match=f"^expected one document, found {count}$"):
        load_document(text)


@pytest.mark.parametrize("text", ["", "# nothing to override\n", "\n\n"])
def test_no_document_at_all_reads_as_none_where_that_is_allowed(text: str) -> None:
    assert load_document(text, allow_empty=True) is None


def test_two_documents_are_refused_even_where_none_is_allowed() -> None:
    with pytest.raises(DocumentError, match="^expected one document, found 2$"):
        load_document("a: 1\n---\nb: 2\n", allow_empty=True)


def test_a_document_error_is_a_value_error() -> None:
    assert issubclass(DocumentError, ValueError)
