"""Strict YAML/JSON reading for files people write: no aliases, no duplicate keys, bounded size."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

MAX_DOCUMENT_BYTES = 256 * 1024


class DocumentError(ValueError):
    """Text that is not one well-formed YAML or JSON document."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases (entity expansion) and duplicate keys (silent overrides)."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML's stubs leave it untyped
            raise DocumentError(f"line {event.start_mark.line + 1}: YAML aliases are not allowed")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict):
                raise DocumentError(f"line {key_node.start_mark.line + 1}: a mapping key must be a plain value")
            if key in seen:
                raise DocumentError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_document(text: str, *, allow_empty: bool = False) -> Any:
    """Parse exactly one YAML (or JSON) document, strictly; raise DocumentError on anything else.

    With `allow_empty`, text holding no document at all (only comments) reads as None.
    """
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"larger than {MAX_DOCUMENT_BYTES // 1024} KiB")
    try:
        documents = list(yaml.load_all(text, Loader=_StrictLoader))
    except DocumentError:
        raise
    except yaml.YAMLError as exc:
        raise DocumentError(_describe_yaml_error(exc)) from exc
    except (RecursionError, ValueError, TypeError) as exc:
        raise DocumentError(f"not valid YAML ({exc.__class__.__name__})") from exc
    if not documents and allow_empty:
        return None
    if len(documents) != 1:
        raise DocumentError(f"expected one document, found {len(documents)}")
    return documents[0]


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "not valid YAML"
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(problem)
