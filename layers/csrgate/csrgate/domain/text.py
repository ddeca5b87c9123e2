"""Requester text as people must read it: literally, with what cannot be seen made visible, and names that only
look like other names told apart."""

from __future__ import annotations

import unicodedata

# Default-ignorable code points that are not in category Cf (Unicode's DerivedCoreProperties): they render as
# nothing, so "admin" and "ad<U+115F>min" look the same.
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
_IGNORABLE = frozenset(chr(point) for low, high in _IGNORABLE_RANGES for point in range(low, high + 1))
# Scripts whose letters include look-alikes of Latin letters (а, о, р, ѕ, ο, ν, Ꭺ, ...).
_LATIN_LOOKALIKE_SCRIPTS = ("CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC", "LISU", "DESERET")


def is_printable_ascii(text: str) -> bool:
    """Only the characters from space to tilde."""
    return text.isascii() and text.isprintable()


def is_invisible(char: str) -> bool:
    """Control, format, separator (but space), unassigned, private-use or default-ignorable: nothing a reader sees."""
    return not char.isprintable() or char in _IGNORABLE  # str.isprintable() holds for the space


def has_invisible(text: str) -> bool:
    """Whether any character of `text` is invisible."""
    return not is_printable_ascii(text) and any(is_invisible(char) for char in text)


def lookalike_problem(text: str) -> str | None:
    """Why `text` could be mistaken for another name, or None: invisible characters, compatibility forms
    (fullwidth, ligatures, superscripts) and letters from scripts with Latin look-alikes mixed with Latin."""
    if has_invisible(text):
        return "holds invisible characters"
    if unicodedata.normalize("NFKC", text) != text:
        return "holds compatibility characters that stand for other ones (fullwidth letters, ligatures, ...)"
    scripts = {_script(char) for char in text if char.isalpha()}
    if "LATIN" in scripts and scripts & set(_LATIN_LOOKALIKE_SCRIPTS):
        return "mixes Latin letters with letters of a script that has look-alikes of them"
    return None  # accented Latin or a single other script: shown with code points, which tell them apart


def shown(text: str) -> str:
    """The text literally, with invisible characters as escapes and, when it is not plain ASCII, the code points
    of its other characters, so that look-alikes can be told apart ('jürgen [U+00FC]')."""
    visible = "".join(char.encode("unicode_escape").decode("ascii") if is_invisible(char) else char for char in text)
    others = dict.fromkeys(f"U+{ord(char):04X}" for char in text if not char.isascii() and not is_invisible(char))
    return f"{visible} [{' '.join(others)}]" if others else visible


def _script(char: str) -> str:
    return unicodedata.name(char, "").partition(" ")[0]
