"""Query parameters and content negotiation, with the parsing rules of the Go server (strconv, mime)."""

from __future__ import annotations

from dataclasses import dataclass

from devstack.cluster.status import bad_request, not_acceptable

JSON = "application/json"
TABLE_V1 = "application/json;as=Table;v=v1;g=meta.k8s.io"
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


@dataclass(frozen=True)
class Answer:
    """How to answer a read: a plain object (JSON) or a server-side Table."""

    table: bool


def parse_bool(query: dict[str, str], name: str) -> bool:
    """A boolean query parameter as strconv.ParseBool reads it; an empty value counts as true for `watch`."""
    if name not in query:
        return False
    value = query[name]
    if value in _TRUE or (value == "" and name == "watch"):
        return True
    if value in _FALSE or value == "":
        return False
    raise bad_request(f'strconv.ParseBool: parsing "{value}": invalid syntax (query parameter {name})')


def parse_int(query: dict[str, str], name: str, default: int) -> int:
    """An integer query parameter."""
    value = query.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax (query parameter {name})') from None


def negotiate(accept: str | None, table_allowed: bool) -> Answer:
    """Pick the answer's form from the Accept header; 406 when none we can produce is acceptable."""
    if not accept:
        return Answer(table=False)
    for media in accept.split(","):
        kind, parameters = _media(media)
        if kind in ("application/json", "application/*", "*/*"):
            if parameters.get("as") == "Table" and parameters.get("g") == "meta.k8s.io":
                if table_allowed and parameters.get("v") in ("v1", "v1beta1"):
                    return Answer(table=True)
                continue
            if "as" in parameters:
                continue  # PartialObjectMetadata and other conversions are not served
            return Answer(table=False)
    raise not_acceptable([JSON, TABLE_V1])


def _media(text: str) -> tuple[str, dict[str, str]]:
    kind, *rest = (part.strip() for part in text.split(";"))
    parameters = {}
    for item in rest:
        if "=" in item:
            key, value = item.split("=", 1)
            parameters[key.strip().lower()] = value.strip().strip('"')
    return kind.lower(), parameters
