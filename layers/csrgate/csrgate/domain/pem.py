"""The one PEM block csrgate reads from spec.request: only where Go's encoding/pem, which the API server and every
signer use, would read the same block."""

from __future__ import annotations

import base64
import re

from csrgate.domain.errors import InputError, MalformedCsr

PEM_LABEL = "CERTIFICATE REQUEST"
# Only these may surround the block: Go's pem.Decode trims spaces, tabs and CRs at line ends, nothing else.
WHITESPACE = b" \t\r\n"
_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE REQUEST-----\r?\n((?:[A-Za-z0-9+/=]+\r?\n)*)-----END CERTIFICATE REQUEST-----"
)
# The END line ends in spaces or tabs at most, then a line break (a lone CR is not one) or the end of the data.
_AFTER_END = re.compile(rb"[ \t]*(?:\r?\n[ \t\r\n]*)?")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_BEGIN_LABEL = re.compile(rb"-----BEGIN ([^\r\n]{0,64}?)-----")
_NOT_ONE_BLOCK = (
    "spec.request must hold exactly one CERTIFICATE REQUEST PEM block and nothing else, "
    "because Kubernetes would read another block than the one shown here"
)


def read_pem(data: bytes, source: str) -> bytes:
    """The DER of the one CERTIFICATE REQUEST block that `data` must be; MalformedCsr for anything Go's pem.Decode
    could read differently (a prefix, several blocks, headers, trailing data), InputError for what is no CSR."""
    first_label = _BEGIN_LABEL.search(data)
    if first_label is None:
        raise InputError(source, f"no PEM block found; expected a {PEM_LABEL}")
    label = first_label.group(1).decode("ascii", errors="replace")
    if "PRIVATE KEY" in label:
        raise InputError(
            source,
            f"the PEM block is a {label}, not a {PEM_LABEL}; a private key must never leave your machine: "
            "pass the CSR made from it instead",
        )
    start = len(data) - len(data.lstrip(WHITESPACE))
    block = _BLOCK.match(data, start)
    if start and data[start - 1] != ord("\n") or first_label.start() != start:
        raise MalformedCsr(f"something comes before the BEGIN line; {_NOT_ONE_BLOCK}")
    if block is None:
        if label != PEM_LABEL:
            raise InputError(source, f"the PEM block is a {label}, expected a {PEM_LABEL}")
        raise MalformedCsr(
            "the CERTIFICATE REQUEST block is not plain PEM: it has headers, blank lines, characters outside "
            "base64, or no END line"
        )
    if not _AFTER_END.fullmatch(data, block.end()):
        raise MalformedCsr(f"something comes after the END line; {_NOT_ONE_BLOCK}")
    body = b"".join(block.group(1).split())
    if len(body) % 4 or not _BASE64.fullmatch(body):
        raise MalformedCsr("the CERTIFICATE REQUEST block's base64 is not well formed")
    return base64.b64decode(body)
