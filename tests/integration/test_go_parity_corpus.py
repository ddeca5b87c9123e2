"""csrgate reads a CSR as Kubernetes does, or refuses it: every input is compared with Go's own reading of it.

kube-apiserver and the signers read spec.request with Go (encoding/pem's Decode, crypto/x509's
ParseCertificateRequest); devstack/gocsr asks Go itself. For every input csrgate either refuses it (malformed-request)
or reads exactly what Go reads, and a request that Go reads differently is never approved nor sent for review.

Here, inputs crafted by hand: PEM framing, PKCS#10 attributes, subject alternative names, subject strings, keys.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from go_parity import CN, DC, EMAIL, GO_MISSING, IN_CI, NODE, ORG, SERIAL, UID, C, Parity, basic_constraints

from devstack.csrs import (
    CHALLENGE_PASSWORD,
    MICROSOFT_EXTENSION_REQUEST,
    PKCS9_EXTENSION_REQUEST,
    SEQUENCE,
    SET,
    SUBJECT_ALT_NAME,
    attribute,
    der,
    der_integer,
    der_oid,
    der_string,
    extension,
    extension_request,
    make_csr,
    pem,
    rdn,
    san_value,
    signed_csr,
    subject_name,
)
from devstack.gocsr import GoCsrReader

if not GoCsrReader.available() and not IN_CI:  # in CI the parity fixture fails every test instead
    pytest.skip(GO_MISSING, allow_module_level=True)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


# --- the corpus --------------------------------------------------------------------------------------------------


def clean() -> bytes:
    """A client CSR a person would approve."""
    return make_csr("alice", orgs=["developers"])


def masters() -> bytes:
    """The CSR a smuggler wants signed."""
    return make_csr("alice", orgs=["system:masters"])


def crafted(*attributes: bytes, subject: bytes | None = None, key: str = "p256", tamper: bool = False) -> bytes:
    """A hand-built CSR as PEM; the subject is CN=alice, O=developers unless given."""
    if subject is None:
        subject = subject_name(rdn((ORG, der_string("developers"))), rdn((CN, der_string("alice"))))
    return pem(signed_csr(subject, attributes, key=key, tamper=tamper))


def with_cn(value: bytes, *more: bytes) -> bytes:
    """A CSR whose subject is O=developers and a CN with this value DER (and more RDNs after it)."""
    return crafted(subject=subject_name(rdn((ORG, der_string("developers"))), rdn((CN, value)), *more))


def sans(**names: list[str]) -> bytes:
    """A PKCS#9 extensionRequest with one subjectAltName extension."""
    return extension_request(extension(SUBJECT_ALT_NAME, san_value(**names)))


def body_of(pem_bytes: bytes) -> bytes:
    """The DER inside a PEM block."""
    return x509.load_pem_x509_csr(pem_bytes).public_bytes(serialization.Encoding.DER)


def corrupt(pem_bytes: bytes) -> bytes:
    """The block with one base64 character replaced by one outside base64, so pem.Decode skips it."""
    lines = pem_bytes.split(b"\n")
    lines[2] = b"!" + lines[2][1:]
    return b"\n".join(lines)


def with_header(pem_bytes: bytes, header: bytes = b"Proc-Type: 4,ENCRYPTED\n") -> bytes:
    """The block with a header line after BEGIN."""
    begin, rest = pem_bytes.split(b"\n", 1)
    return begin + b"\n" + header + rest


CORPUS: dict[str, Callable[[], bytes]] = {
    # framing: what comes around and between PEM blocks
    "a clean client CSR": clean,
    "CRLF line ends": lambda: clean().replace(b"\n", b"\r\n"),
    "white space before and after": lambda: b" \t\n\r\n" + clean() + b"\n \n",
    "a stray byte, then A, then B": lambda: b"x" + clean() + masters(),
    "a NUL byte, then A, then B": lambda: b"\x00" + clean() + masters(),
    "a UTF-8 byte order mark, then A, then B": lambda: b"\xef\xbb\xbf" + clean() + masters(),
    "a form feed, then A, then B": lambda: b"\x0c" + clean() + masters(),
    "a CR (no LF), then A, then B": lambda: b"x\r" + clean() + masters(),
    "a line of text, then A": lambda: b"my request:\n" + clean(),
    "text on A's BEGIN line, then B": lambda: b"see " + clean() + masters(),
    "a line merely containing -----BEGIN, then A": lambda: b"a -----BEGIN CERTIFICATE REQUEST-----\n" + clean(),
    "A then B": lambda: clean() + masters(),
    "A then text then B": lambda: clean() + b"and also\n" + masters(),
    "a corrupt A, then B": lambda: corrupt(clean()) + masters(),
    "A with a wrong END label, then B": lambda: (
        clean().replace(b"END CERTIFICATE REQUEST", b"END CERTIFICATE") + masters()
    ),
    "A with text after its END line, then B": lambda: clean().rstrip(b"\n") + b" x\n" + masters(),
    "A's END line running into B's BEGIN": lambda: clean().rstrip(b"\n") + masters(),
    "a CERTIFICATE block, then A": lambda: pem(body_of(masters()), "CERTIFICATE") + clean(),
    "a NEW CERTIFICATE REQUEST block": lambda: pem(body_of(clean()), "NEW CERTIFICATE REQUEST"),
    "a private key block, then A": lambda: b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" + clean(),
    "a PEM header": lambda: with_header(clean()),
    "a PEM header and a blank line": lambda: with_header(clean(), b"Proc-Type: 4,ENCRYPTED\nDEK-Info: x\n\n"),
    "a header line on B only, A corrupt": lambda: corrupt(clean()) + with_header(masters(), b"X: y\n"),
    "trailing text after the END line": lambda: clean() + b"garbage",
    "a CR after the END line, and no LF": lambda: clean().rstrip(b"\n") + b"\r",
    "a tab after the END line": lambda: clean().rstrip(b"\n") + b"\t",
    "trailing spaces on the BEGIN line": lambda: clean().replace(b"REQUEST-----\n", b"REQUEST-----  \t\n", 1),
    "spaces and tabs inside the base64": lambda: clean().replace(b"\n", b" \t\n").replace(b"----- \t\n", b"-----\n"),
    "base64 on one line": lambda: b"\n".join(
        [
            b"-----BEGIN CERTIFICATE REQUEST-----",
            base64.b64encode(body_of(clean())),
            b"-----END CERTIFICATE REQUEST-----",
        ]
    ),
    "a blank line inside the base64": lambda: clean().replace(b"\n", b"\n\n", 2),
    "no END line": lambda: clean().split(b"-----END")[0],
    "base64 of a length that is not a multiple of 4": lambda: clean().replace(b"\n-----END", b"A\n-----END"),
    "a lower-case label": lambda: clean().replace(b"CERTIFICATE REQUEST", b"certificate request"),
    "the DER with a byte after it": lambda: pem(body_of(clean()) + b"\x00"),
    # PKCS#10 attributes
    "the extensionRequest twice, different extensions": lambda: crafted(
        sans(dns=["a.example"]), extension_request(basic_constraints())
    ),
    "the extensionRequest twice, a SAN in each": lambda: crafted(sans(dns=["a.example"]), sans(dns=["evil.example"])),
    "Microsoft's extensionRequest alone": lambda: crafted(
        extension_request(extension(SUBJECT_ALT_NAME, san_value(dns=["evil.example"])), oid=MICROSOFT_EXTENSION_REQUEST)
    ),
    "Microsoft's and PKCS#9's extensionRequest": lambda: crafted(
        sans(dns=["a.example"]),
        extension_request(
            extension(SUBJECT_ALT_NAME, san_value(dns=["evil.example"])), oid=MICROSOFT_EXTENSION_REQUEST
        ),
    ),
    "Microsoft's extensionRequest, then PKCS#9's": lambda: crafted(
        extension_request(
            extension(SUBJECT_ALT_NAME, san_value(dns=["evil.example"])), oid=MICROSOFT_EXTENSION_REQUEST
        ),
        sans(dns=["a.example"]),
    ),
    "an extensionRequest with two values": lambda: crafted(
        attribute(
            PKCS9_EXTENSION_REQUEST,
            der(SEQUENCE, extension(SUBJECT_ALT_NAME, san_value(dns=["a.example"]))),
            der(SEQUENCE, extension(SUBJECT_ALT_NAME, san_value(dns=["evil.example"]))),
        )
    ),
    "an extensionRequest with no values": lambda: crafted(attribute(PKCS9_EXTENSION_REQUEST)),
    "two SAN extensions in one extensionRequest": lambda: crafted(
        extension_request(
            extension(SUBJECT_ALT_NAME, san_value(dns=["a.example"])),
            extension(SUBJECT_ALT_NAME, san_value(dns=["evil.example"])),
        )
    ),
    "an unknown attribute": lambda: crafted(attribute("1.2.3.4.5", der_string("x"))),
    "a challengePassword": lambda: crafted(attribute(CHALLENGE_PASSWORD, der_string("secret", "printable"))),
    "an unstructuredName": lambda: crafted(attribute("1.2.840.113549.1.9.2", der_string("host", "ia5"))),
    "an attribute that is not a SEQUENCE": lambda: crafted(der_integer(7), sans(dns=["a.example"])),
    # subject alternative names
    "a SAN of every kind Go reads": lambda: crafted(
        sans(dns=["a.example"], ips=["10.0.0.1", "2001:db8::1"], emails=["a@example.com"], uris=["spiffe://a/b"])
    ),
    "an IPv4-mapped IPv6 address": lambda: crafted(sans(ips=["::ffff:10.0.0.1"])),
    "a URI Go writes differently": lambda: crafted(sans(uris=["HTTP://A.example/%7e"])),
    "a URI Go cannot parse": lambda: crafted(sans(uris=["https://a.example/%zz"])),
    "a DNS name that is not ASCII": lambda: crafted(
        extension_request(extension(SUBJECT_ALT_NAME, der(SEQUENCE, der(0x82, "é.example".encode()))))
    ),
    "an IP address of 5 bytes": lambda: crafted(
        extension_request(extension(SUBJECT_ALT_NAME, der(SEQUENCE, der(0x87, b"\x0a\x00\x00\x01\x00"))))
    ),
    "an otherName SAN": lambda: crafted(
        extension_request(
            extension(
                SUBJECT_ALT_NAME,
                der(SEQUENCE, der(0xA0, der_oid("1.3.6.1.4.1.311.20.2.3"), der(0xA0, der_string("x")))),
            )
        )
    ),
    "a critical SAN": lambda: crafted(
        extension_request(extension(SUBJECT_ALT_NAME, san_value(dns=["a.example"]), critical=True))
    ),
    # subject strings and structure
    **{
        f"a CN as {kind}": (lambda kind=kind: with_cn(der_string("alice", kind)))
        for kind in ("printable", "utf8", "ia5", "t61", "bmp", "universal", "integer")
    },
    "a CN as T61String with a byte above 0x7f": lambda: with_cn(der_string("café", "t61")),
    "a CN as PrintableString with '@'": lambda: with_cn(der(0x13, b"alice@example")),
    "a CN as PrintableString with '*' and '&'": lambda: with_cn(der(0x13, b"a*b&c")),
    "a CN as IA5String with a byte above 0x7f": lambda: with_cn(der(0x16, b"caf\xe9")),
    "a CN as UTF8String that is not UTF-8": lambda: with_cn(der(0x0C, b"caf\xe9")),
    "a CN as BMPString of odd length": lambda: with_cn(der(0x1E, b"\x00a\x00")),
    "a CN as NumericString": lambda: with_cn(der(0x12, b"123")),
    "a CN as OCTET STRING": lambda: with_cn(der(0x04, b"alice")),
    "an O as UniversalString": lambda: crafted(
        subject=subject_name(rdn((ORG, der_string("system:masters", "universal"))), rdn((CN, der_string("alice"))))
    ),
    "an O as BMPString": lambda: crafted(
        subject=subject_name(rdn((ORG, der_string("system:masters", "bmp"))), rdn((CN, der_string("alice"))))
    ),
    "a multi-valued RDN": lambda: crafted(
        subject=subject_name(rdn((CN, der_string("alice")), (ORG, der_string("developers"))))
    ),
    "two CNs": lambda: with_cn(der_string("alice"), rdn((CN, der_string("root")))),
    "two CNs, the second an INTEGER": lambda: with_cn(der_string("alice"), rdn((CN, der_integer(0)))),
    "two CNs, the first a UniversalString": lambda: with_cn(
        der_string("root", "universal"), rdn((CN, der_string("alice")))
    ),
    "an empty subject": lambda: crafted(subject=subject_name()),
    "an empty RDN": lambda: crafted(subject=subject_name(der(SET), rdn((CN, der_string("alice"))))),
    "an unknown subject attribute": lambda: with_cn(der_string("alice"), rdn(("1.2.3.4", der_string("x")))),
    "an emailAddress, DC, UID and serialNumber": lambda: with_cn(
        der_string("alice"),
        rdn((EMAIL, der_string("a@example.com", "ia5"))),
        rdn((DC, der_string("example", "ia5"))),
        rdn((UID, der_string("alice"))),
        rdn((SERIAL, der_string("42", "printable"))),
    ),
    "a country of three letters": lambda: with_cn(der_string("alice"), rdn((C, der_string("USA", "printable")))),
    # keys and signatures
    "an Ed25519 key": lambda: crafted(key="ed25519"),
    "an RSA key": lambda: crafted(key="rsa2048"),
    "a P-384 key": lambda: make_csr("alice", key="p384"),
    "a P-192 key": lambda: make_csr("alice", key="p192"),
    "an Ed448 key": lambda: make_csr("alice", key="ed448"),
    "a DSA key": lambda: make_csr("alice", key="dsa2048"),
    "a tampered signature": lambda: crafted(tamper=True),
    "a SHA-1 signature": lambda: (FIXTURES / "sha1-signed.csr").read_bytes(),
    # the kubelet's own request, which the default policy approves
    "a kubelet serving request": lambda: crafted(
        sans(dns=["ip-10-0-1-23.ec2.internal"], ips=["10.0.1.23"]),
        subject=subject_name(rdn((ORG, der_string("system:nodes"))), rdn((CN, der_string(NODE)))),
    ),
    "a kubelet serving request with Microsoft's extensionRequest after PKCS#9's": lambda: crafted(
        sans(dns=["ip-10-0-1-23.ec2.internal"], ips=["10.0.1.23"]),
        extension_request(
            extension(SUBJECT_ALT_NAME, san_value(dns=["kubernetes.default"])), oid=MICROSOFT_EXTENSION_REQUEST
        ),
        subject=subject_name(rdn((ORG, der_string("system:nodes"))), rdn((CN, der_string(NODE)))),
    ),
    "a stray byte, then a kubelet request, then one for another node": lambda: (
        b"x"
        + crafted(
            sans(dns=["ip-10-0-1-23.ec2.internal"], ips=["10.0.1.23"]),
            subject=subject_name(rdn((ORG, der_string("system:nodes"))), rdn((CN, der_string(NODE)))),
        )
        + crafted(
            sans(dns=["kubernetes.default"], ips=["10.0.1.23"]),
            subject=subject_name(rdn((ORG, der_string("system:nodes"))), rdn((CN, der_string(NODE)))),
        )
    ),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_csrgate_refuses_or_reads_as_go_does(parity: Parity, case: str) -> None:
    # GIVEN spec.request bytes crafted to be read one way by Go and another by a different parser
    data = CORPUS[case]()
    # WHEN csrgate and Go read them
    problems = parity.problems(data)
    # THEN csrgate refuses them or reads what Go reads, and never lets a different reading through
    assert problems == [], f"{case}: " + "\n".join(problems)
