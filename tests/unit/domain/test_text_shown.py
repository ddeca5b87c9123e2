"""Requester text as approvers see it in Slack: literally, with what cannot be seen made visible, and names that
only look like other names told apart ("admin" against "аdmin" with a Cyrillic а)."""

from __future__ import annotations

import pytest

from csrgate.domain.text import has_invisible, is_invisible, is_printable_ascii, lookalike_problem, shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice", "alice"),
        ("alice smith", "alice smith"),  # a space is seen
        ("", ""),
        ("j\u00fcrgen", "j\u00fcrgen [U+00FC]"),
        ("\u0430dmin", "\u0430dmin [U+0430]"),  # Cyrillic а: the code point tells it from Latin a
        ("\u0430\u0430\u0440", "\u0430\u0430\u0440 [U+0430 U+0440]"),  # each code point once, in order of appearance
        ("ok \U0001f600", "ok \U0001f600 [U+1F600]"),  # beyond the BMP: as many hex digits as it takes
        ("ad\u200bmin", "ad\\u200bmin"),  # zero-width space
        ("ad\u115fmin", "ad\\u115fmin"),  # Hangul filler: printable to Python, yet renders as nothing
        ("a\tb\n", "a\\tb\\n"),
        ("a\u00a0b", "a\\xa0b"),  # no-break space looks like a space but is not one
        ("x\U000e0100", "x\\U000e0100"),  # a variation selector from the supplement
        ("\u00e9\u200b", "\u00e9\\u200b [U+00E9]"),  # invisible characters are escaped, not listed
    ],
)
def test_text_is_shown_literally_with_the_invisible_escaped_and_code_points_listed(text: str, expected: str) -> None:
    assert shown(text) == expected


@pytest.mark.parametrize(
    ("text", "printable"),
    [("alice", True), ("", True), ("a b~", True), ("a\x7f", False), ("a\tb", False), ("\u00e9", False)],
)
def test_printable_ascii_is_space_to_tilde(text: str, printable: bool) -> None:
    assert is_printable_ascii(text) is printable


@pytest.mark.parametrize(
    ("char", "invisible"),
    [
        ("a", False),
        (" ", False),
        ("\u00e9", False),
        ("\u0430", False),
        ("\t", True),
        ("\x00", True),
        ("\u00a0", True),  # no-break space
        ("\u200b", True),  # zero-width space (format)
        ("\u202e", True),  # right-to-left override
        ("\u034f", True),  # combining grapheme joiner: default-ignorable, not a format character
        ("\u3164", True),  # Hangul filler
        ("\ufe0f", True),  # variation selector 16
        ("\uffa0", True),  # halfwidth Hangul filler
        ("\ue000", True),  # private use
        ("\u0378", True),  # unassigned
    ],
)
def test_what_renders_as_nothing_or_as_something_else_is_invisible(char: str, invisible: bool) -> None:
    assert is_invisible(char) is invisible


@pytest.mark.parametrize(
    ("text", "invisible"),
    [("admin", False), ("", False), ("j\u00fcrgen", False), ("ad\u200bmin", True), ("admin\n", True)],
)
def test_text_has_invisible_characters_when_any_one_is(text: str, invisible: bool) -> None:
    assert has_invisible(text) is invisible


@pytest.mark.parametrize(
    "text",
    [
        "admin",
        "system:node:n1",
        "j\u00fcrgen",  # accented Latin: told apart by its code points
        "\u043c\u0430\u0440\u0438\u044f",  # Cyrillic only
        "\u03b1\u03b8\u03ae\u03bd\u03b1",  # Greek only
        "alice \u5c71\u7530",  # Latin and Han: Han has no Latin look-alikes
        "alice-1",
        "alice\U00017000",  # a Tangut letter: Python's Unicode database has no name for it
    ],
)
def test_names_that_cannot_pass_for_another_have_no_lookalike_problem(text: str) -> None:
    assert lookalike_problem(text) is None


INVISIBLE = "holds invisible characters"
COMPATIBILITY = "holds compatibility characters that stand for other ones (fullwidth letters, ligatures, ...)"
MIXED = "mixes Latin letters with letters of a script that has look-alikes of them"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ad\u200bmin", INVISIBLE),
        ("ad\u115fmin", INVISIBLE),
        ("\uff41dmin", COMPATIBILITY),  # fullwidth a
        ("\ufb01le", COMPATIBILITY),  # the ligature fi
        ("admin\u00b2", COMPATIBILITY),
        ("\u0430dmin", MIXED),  # Cyrillic а
        ("\u03bfps", MIXED),  # Greek omicron
        ("\u0585ps", MIXED),  # Armenian o
        ("\u13aalice", MIXED),  # Cherokee A
        ("\u2c81dmin", MIXED),  # Coptic alfa
        ("\ua4ee-admin", MIXED),  # Lisu letter A
        ("\U00010400dmin", MIXED),  # Deseret
    ],
)
def test_names_that_can_pass_for_another_say_why(text: str, problem: str) -> None:
    # GIVEN a name an approver could take for another one
    # WHEN csrgate looks at it THEN it says what makes it a look-alike
    assert lookalike_problem(text) == problem
