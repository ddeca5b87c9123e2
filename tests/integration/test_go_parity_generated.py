"""csrgate reads a CSR as Kubernetes does, or refuses it: every input is compared with Go's own reading of it.

kube-apiserver and the signers read spec.request with Go (encoding/pem's Decode, crypto/x509's
ParseCertificateRequest); devstack/gocsr asks Go itself. For every input csrgate either refuses it (malformed-request)
or reads exactly what Go reads, and a request that Go reads differently is never approved nor sent for review.

Here, inputs hypothesis generates: several blocks with things around them, odd subjects and attributes, and
the requests the usual tools write.
"""

from __future__ import annotations

import base64

import pytest
from go_parity import (
    CN,
    DC,
    EMAIL,
    GO_MISSING,
    IN_CI,
    NODE,
    ORG,
    OU,
    SERIAL,
    SPECS,
    UID,
    C,
    Parity,
    _object,
    basic_constraints,
)
from hypothesis import example, given
from hypothesis import strategies as st

from csrgate.domain.request import read_csr_object
from devstack.csrs import (
    CHALLENGE_PASSWORD,
    MICROSOFT_EXTENSION_REQUEST,
    PKCS9_EXTENSION_REQUEST,
    SEQUENCE,
    SUBJECT_ALT_NAME,
    attribute,
    der,
    der_string,
    extension,
    extension_request,
    pem,
    rdn,
    san_value,
    signed_csr,
    subject_name,
)
from devstack.gocsr import GoCsrReader

if not GoCsrReader.available() and not IN_CI:  # in CI the parity fixture fails every test instead
    pytest.skip(GO_MISSING, allow_module_level=True)


SUBJECT_TYPES = [CN, CN, ORG, ORG, OU, C, DC, UID, SERIAL, EMAIL, "1.2.3.4"]
STRING_KINDS = ["utf8"] * 4 + ["printable"] * 4 + ["ia5", "t61", "bmp", "universal", "integer"]
TEXTS = ["alice", "system:masters", "developers", NODE, "system:nodes", "café", "a*b&c", "x@y", "", "ÿ"]
SEPARATORS = [b""] * 8 + [
    b"\n",
    b"\r\n",
    b"x",
    b"\x00",
    b" ",
    b"\r",
    b"text\n",
    b"-----BEGIN X-----\n",
    b"\xef\xbb\xbf",
]
LABELS = [b"CERTIFICATE REQUEST"] * 8 + [b"CERTIFICATE", b"NEW CERTIFICATE REQUEST"]
KEYS = ["p256", "p256", "ed25519", "rsa2048"]


def _value(kind: str, text: str) -> bytes:
    if kind in ("printable", "ia5"):
        tag = 0x13 if kind == "printable" else 0x16
        return der(tag, text.encode("latin-1"))  # hostile: may hold what the type does not allow
    return der_string(text, kind)


def subjects(types: list[str], kinds: list[str], texts: list[str], per_rdn: int = 2) -> st.SearchStrategy[bytes]:
    """Names of up to three RDNs, each of one to `per_rdn` attributes."""
    values = st.builds(
        lambda oid, kind, text: (oid, _value(kind, text)),
        st.sampled_from(types),
        st.sampled_from(kinds),
        st.sampled_from(texts),
    )
    return st.lists(st.lists(values, min_size=1, max_size=per_rdn), max_size=3).map(
        lambda rdns: subject_name(*(rdn(*pairs) for pairs in rdns))
    )


def san_values(ips: list[str], uris: list[str]) -> st.SearchStrategy[bytes]:
    """subjectAltName values of up to two DNS names and IP addresses, an email address and a URI."""
    return st.builds(
        san_value,
        dns=st.lists(st.sampled_from(["a.example", "evil.example", "ip-10-0-1-23.ec2.internal"]), max_size=2),
        ips=st.lists(st.sampled_from(ips), max_size=2),
        emails=st.lists(st.sampled_from(["a@example.com"]), max_size=1),
        uris=st.lists(st.sampled_from(uris), max_size=1),
    )


hostile_extensions = st.lists(
    st.one_of(
        san_values(["10.0.1.23", "::ffff:10.0.1.23", "2001:db8::1"], ["spiffe://a/b", "HTTP://A.example/"]).map(
            lambda value: extension(SUBJECT_ALT_NAME, value)
        ),
        st.just(basic_constraints()),
    ),
    max_size=2,
)
hostile_attributes = st.lists(
    st.one_of(
        hostile_extensions.map(lambda found: extension_request(*found)),
        hostile_extensions.map(lambda found: extension_request(*found)),
        hostile_extensions.map(lambda found: extension_request(*found, oid=MICROSOFT_EXTENSION_REQUEST)),
        st.tuples(hostile_extensions, hostile_extensions).map(
            lambda pair: attribute(PKCS9_EXTENSION_REQUEST, der(SEQUENCE, *pair[0]), der(SEQUENCE, *pair[1]))
        ),
        st.just(attribute(CHALLENGE_PASSWORD, der_string("secret", "printable"))),
        st.just(attribute("1.2.3.4.5", der_string("x"))),
        st.just(attribute(PKCS9_EXTENSION_REQUEST)),
    ),
    max_size=2,
)
hostile_requests = st.builds(
    lambda subject, found, key: signed_csr(subject, found, key=key),
    subjects(SUBJECT_TYPES, STRING_KINDS, TEXTS),
    hostile_attributes,
    st.sampled_from(KEYS),
)
# What openssl, a kubelet or cert-manager write: one UTF8String or PrintableString attribute per RDN, at most one
# extensionRequest.
plain_requests = st.builds(
    lambda subject, sans, key: signed_csr(
        subject, [extension_request(extension(SUBJECT_ALT_NAME, sans))] if sans else [], key=key
    ),
    subjects([CN, ORG, OU], ["utf8", "printable"], ["alice", "developers", NODE, "system:nodes", "dev team"], 1),
    st.none() | san_values(["10.0.1.23", "2001:db8::1"], ["spiffe://cluster.local/ns/a/sa/b"]),
    st.sampled_from(KEYS),
)


@st.composite
def blocks(draw: st.DrawFn, der_bytes: bytes) -> bytes:
    """One PEM block around the DER, written in one of the ways a hand or a tool might write it."""
    label = draw(st.sampled_from(LABELS))
    text = base64.b64encode(der_bytes)
    width = draw(st.sampled_from([64, 76, 0]))
    lines = [text[i : i + width] for i in range(0, len(text), width)] if width else [text]
    eol = draw(st.sampled_from([b"\n", b"\n", b"\r\n"]))
    headers = draw(st.sampled_from([b""] * 6 + [b"Proc-Type: 4,ENCRYPTED" + eol, b"X: y" + eol + eol]))
    if draw(st.integers(min_value=0, max_value=7)) == 0:  # now and then a block pem.Decode skips
        lines[0] = b"!" + lines[0][1:]
    return b"-----BEGIN " + label + b"-----" + eol + headers + eol.join(lines) + eol + b"-----END " + label + b"-----"


@st.composite
def hostile_spec_requests(draw: st.DrawFn) -> bytes:
    """spec.request bytes: one to three blocks of generated CSRs with things before, between and after them, and
    now and then one byte dropped, flipped or inserted."""
    count = draw(st.sampled_from([1, 1, 1, 2, 2, 3]))
    parts = [draw(st.sampled_from(SEPARATORS))]
    for _ in range(count):
        parts.append(draw(blocks(draw(hostile_requests))))
        parts.append(draw(st.sampled_from(SEPARATORS + [b"\n"] * 8)))
    data = b"".join(parts)
    mutation = draw(st.sampled_from(["none"] * 6 + ["drop", "flip", "insert"]))
    if mutation != "none" and data:
        at = draw(st.integers(min_value=0, max_value=4096)) % len(data)
        byte = draw(st.sampled_from([b"\n", b"\r", b"-", b" ", b"=", b"A", b"\x00"]))
        data = {
            "drop": data[:at] + data[at + 1 :],
            "flip": data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :],
            "insert": data[:at] + byte + data[at:],
        }[mutation]
    return data


@given(hostile_spec_requests())
@example(b"x-----BEGIN CERTIFICATE REQUEST-----\n")
def test_generated_requests_are_refused_or_read_as_go_does(parity: Parity, data: bytes) -> None:
    # GIVEN generated spec.request bytes: several blocks, prefixes and suffixes, odd attributes and subjects
    # WHEN csrgate and Go read them
    problems = parity.problems(data)
    # THEN csrgate refuses them or reads what Go reads, and never lets a different reading through
    assert problems == [], f"{data!r}:\n" + "\n".join(problems)


@given(plain_requests)
def test_generated_plain_requests_are_read_as_go_does(parity: Parity, der_bytes: bytes) -> None:
    # GIVEN a request as the usual tools write it: one PEM block, an ordinary subject, one extensionRequest
    data = pem(der_bytes)
    # WHEN csrgate and Go read it
    problems = parity.problems(data)
    request = read_csr_object(_object(data, SPECS["client"]), "object").signing_request
    # THEN csrgate reads it, and reads what Go reads
    assert request.csr is not None, request.malformed
    assert problems == [], f"{data!r}:\n" + "\n".join(problems)
