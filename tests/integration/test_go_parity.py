"""csrgate reads a CSR as Kubernetes does, or refuses it: every input is compared with Go's own reading of it.

kube-apiserver and the signers read spec.request with Go (encoding/pem's Decode, crypto/x509's
ParseCertificateRequest); devstack/gocsr asks Go itself. For every input csrgate either refuses it (malformed-request)
or reads exactly what Go reads, and a request that Go reads differently is never approved nor sent for review.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import example, given
from hypothesis import strategies as st

from csrgate.domain.csr import DecodedCsr
from csrgate.domain.errors import InputError
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import default_policy
from csrgate.domain.request import SigningRequest, read_csr_object, read_signing_request
from csrgate.domain.verdict import evaluate
from devstack.cluster import pem as go_pem
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
from devstack.gocsr import INSTALL_HINT, GoCsrReader

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
GO_MISSING = f"Go is not installed, so csrgate cannot be compared with it: {INSTALL_HINT}"
if not GoCsrReader.available() and not IN_CI:  # in CI the fixture below fails every test instead
    pytest.skip(GO_MISSING, allow_module_level=True)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CN, ORG, OU, C, SERIAL = "2.5.4.3", "2.5.4.10", "2.5.4.11", "2.5.4.6", "2.5.4.5"
DC, UID, EMAIL = "0.9.2342.19200300.100.1.25", "0.9.2342.19200300.100.1.1", "1.2.840.113549.1.9.1"
NODE = "system:node:ip-10-0-1-23.ec2.internal"
# The RFC 4514 keywords csrgate names subject attributes by; any other attribute goes by its dotted OID.
RFC4514_NAMES = {
    CN: "CN",
    ORG: "O",
    OU: "OU",
    C: "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    DC: "DC",
    UID: "UID",
}
GO_KEY_TYPES = {"RSA": "RSA", "ECDSA": "EC", "Ed25519": "Ed25519", "DSA": "DSA"}
GO_CURVES = {"P-224": "secp224r1", "P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1"}
# How a cluster's CSR objects ask: a person's client certificate, and a kubelet's serving certificate (the one
# signer the default policy may approve without a person).
SPECS = {
    "client": {
        "signerName": "kubernetes.io/kube-apiserver-client",
        "usages": ["client auth"],
        "expirationSeconds": 86400,
    },
    "kubelet": {
        "signerName": "kubernetes.io/kubelet-serving",
        "usages": ["digital signature", "server auth"],
        "username": NODE,
        "groups": ["system:nodes", "system:authenticated"],
    },
}


# --- the comparison ----------------------------------------------------------------------------------------------


def go_reading(csr: dict[str, Any]) -> dict[str, Any]:
    """What Go read, in csrgate's terms."""
    names = [(oid, value if isinstance(value, str) else None) for oid, value in csr["subject"]["names"]]
    algorithm = GO_KEY_TYPES.get(csr["public_key"]["algorithm"])
    return {
        "CN": [value for oid, value in names if oid == CN],
        "O": [value for oid, value in names if oid == ORG],
        "other subject": [(RFC4514_NAMES.get(oid, oid), value) for oid, value in names if oid not in (CN, ORG)],
        "DNS": csr["dns_names"],
        "IP": csr["ip_addresses"],
        "email": csr["email_addresses"],
        "URI": csr["uris"],
        "extensions": [_extension_name(oid) for oid in csr["extensions"]],
        "key": (
            algorithm or "unknown to Go",
            csr["public_key"]["bits"] if algorithm else None,
            GO_CURVES.get(csr["public_key"]["curve"] or "", csr["public_key"]["curve"]),
        ),
        "signature valid": csr["signature_valid"],
    }


def csrgate_reading(csr: DecodedCsr) -> dict[str, Any]:
    """What csrgate read."""
    key = csr.public_key
    known = key.type in GO_KEY_TYPES.values()
    return {
        "CN": list(csr.subject.common_names),
        "O": list(csr.subject.organizations),
        "other subject": [tuple(pair) for pair in csr.subject.other],
        "DNS": list(csr.sans.dns),
        "IP": list(csr.sans.ip),
        "email": list(csr.sans.email),
        "URI": list(csr.sans.uri),
        "extensions": list(csr.extensions),
        "key": (key.type if known else "unknown to Go", key.bits if known else None, key.curve),
        "signature valid": csr.signature_valid,
    }


def _extension_name(dotted: str) -> str:
    name = getattr(x509.ObjectIdentifier(dotted), "_name", None)
    return name if isinstance(name, str) and name != "Unknown OID" else dotted


class Parity:
    """Compares csrgate with Go input by input, and counts what it saw."""

    def __init__(self, reader: GoCsrReader, go_version: str) -> None:
        self.reader = reader
        self.go_version = go_version
        self.compared = self.refused = self.alike = 0
        self.disagreements: list[str] = []

    def problems(self, data: bytes) -> list[str]:
        """Why csrgate's handling of these spec.request bytes is unsafe next to Go's reading (empty when it is not)."""
        go = self.reader.read(data)
        self.compared += 1
        problems = _pem_port_problems(data, go)
        readings = {"spec.request": _read_base64(data)}
        readings.update({f"{name} object": _read_object(data, spec) for name, spec in SPECS.items()})
        refusals = 0
        for entry, request in readings.items():
            if request is None or request.csr is None:
                refusals += 1
                continue
            if go["csr"] is None:
                differences = [f"Go refuses it ({go['error']}) but csrgate reads it"]
            else:
                theirs, ours = go_reading(go["csr"]), csrgate_reading(request.csr)
                differences = [
                    f"{key}: Go {theirs[key]!r}, csrgate {ours[key]!r}" for key in theirs if theirs[key] != ours[key]
                ]
            if not differences:
                continue
            problems.append(f"{entry}: " + "; ".join(differences))
            if entry != "spec.request":
                outcome = evaluate(request, default_policy()).outcome
                if outcome in (Outcome.APPROVE, Outcome.REVIEW):
                    problems.append(f"{entry}: read differently from Go, yet the verdict is {outcome.value}")
        if problems:
            self.disagreements.append(problems[0])
        elif refusals == len(readings):
            self.refused += 1
        else:
            self.alike += 1
        return problems

    def __repr__(self) -> str:
        return f"<Parity {self.summary()}>"

    def summary(self) -> str:
        """One line for the end of the run."""
        return (
            f"go parity: {self.compared} inputs compared with Go's reading ({self.go_version}): {self.alike} read "
            f"alike, {self.refused} refused by csrgate, {len(self.disagreements)} read differently"
        )


def _read_base64(data: bytes) -> SigningRequest | None:
    try:
        return read_signing_request(base64.b64encode(data), "spec.request")
    except InputError:
        return None  # refused before decoding: the intake answers 400 and the CSR is never decided


def _object(data: bytes, spec: dict[str, Any]) -> dict[str, Any]:
    """A CertificateSigningRequest as the forwarder sends it to the intake, with these spec.request bytes."""
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "parity"},
        "spec": {"request": base64.b64encode(data).decode("ascii"), **spec},
    }


def _read_object(data: bytes, spec: dict[str, Any]) -> SigningRequest | None:
    try:
        return read_csr_object(_object(data, spec), "object").signing_request
    except InputError:
        return None


def _pem_port_problems(data: bytes, go: dict[str, Any]) -> list[str]:
    """The dev cluster's port of pem.Decode (its reader when Go is missing) takes the block Go takes."""
    block, _ = go_pem.decode(data)
    ported = None if block is None else (block.type_text, base64.b64encode(block.data).decode(), len(block.headers))
    theirs = go["block"]
    if theirs is not None:
        kind = theirs["type"]
        if not isinstance(kind, str):  # not UTF-8: gocsr writes the bytes in hex
            kind = bytes.fromhex(kind["invalid_utf8"]).decode(errors="replace")
        theirs = (kind, theirs["bytes"], len(theirs["headers"]))
    return [] if ported == theirs else [f"devstack's pem.Decode port takes {ported!r}, Go takes {theirs!r}"]


class _Summary:
    """Prints the count at the end of the run, whatever pytest's reporting options."""

    def __init__(self, parity: Parity) -> None:
        self.parity = parity

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(self.parity.summary())


@pytest.fixture(scope="module")
def parity(request: pytest.FixtureRequest) -> Iterator[Parity]:
    """Go's reader; without Go the tests skip locally (see above) and fail in CI."""
    if not GoCsrReader.available():
        pytest.fail(GO_MISSING)
    version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    reader = GoCsrReader().start()
    compared = Parity(reader, version)
    request.config.pluginmanager.register(_Summary(compared), "csrgate-go-parity-summary")
    yield compared
    reader.close()


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


def basic_constraints() -> bytes:
    """A basicConstraints extension saying CA:TRUE."""
    return extension("2.5.29.19", der(SEQUENCE, b"\x01\x01\xff"), critical=True)


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


# --- generated variants ------------------------------------------------------------------------------------------

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
