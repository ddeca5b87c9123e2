"""A PKCS#10 request's structure as Go's crypto/x509 reads it: a request whose subject, attributes or signature
algorithm Go would read differently from what csrgate shows is refused before anyone is asked to approve it."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from csrgate.domain.errors import MalformedCsr
from csrgate.domain.pkcs10 import Layout, read_layout
from devstack.csrs import (
    CHALLENGE_PASSWORD,
    MICROSOFT_EXTENSION_REQUEST,
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
    rdn,
    san_value,
    subject_name,
)

CN, ORG, OU, COUNTRY = "2.5.4.3", "2.5.4.10", "2.5.4.11", "2.5.4.6"
ALICE = subject_name(rdn((CN, der_string("alice"))))
SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
# AlgorithmIdentifiers of RSASSA-PSS as cryptography (OpenSSL) signs a CSR with MGF1 and a salt as long as the hash.
PSS_SHA256 = bytes.fromhex(
    "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d0609608648016503"
    "0402010500a203020120"
)
PSS_SHA384 = PSS_SHA256.replace(bytes.fromhex("0304020105"), bytes.fromhex("0304020205")).replace(
    bytes.fromhex("a203020120"), bytes.fromhex("a203020130")
)
PSS_SHA512 = PSS_SHA256.replace(bytes.fromhex("0304020105"), bytes.fromhex("0304020305")).replace(
    bytes.fromhex("a203020120"), bytes.fromhex("a203020140")
)
PSS = "1.2.840.113549.1.1.10"
PSS_REFUSED = "the CSR is signed with RSASSA-PSS parameters Kubernetes does not verify"
NOT_THREE_PARTS = "the CSR does not have the three parts of a PKCS#10 request"
NOT_FOUR_PARTS = "the CSR's request info does not have the four parts of a PKCS#10 request"
# Every algorithm Go's crypto/x509 knows for a CSR, and whether its CheckSignature verifies it.
GO_ALGORITHMS = [
    (der(SEQUENCE, der_oid("1.2.840.113549.1.1.2"), der(0x05)), ("md2WithRSAEncryption", False)),
    (der(SEQUENCE, der_oid("1.2.840.113549.1.1.4"), der(0x05)), ("md5WithRSAEncryption", False)),
    (der(SEQUENCE, der_oid("1.2.840.113549.1.1.5"), der(0x05)), ("sha1WithRSAEncryption", True)),
    (SHA256_RSA, ("sha256WithRSAEncryption", True)),
    (der(SEQUENCE, der_oid("1.2.840.113549.1.1.12"), der(0x05)), ("sha384WithRSAEncryption", True)),
    (der(SEQUENCE, der_oid("1.2.840.113549.1.1.13"), der(0x05)), ("sha512WithRSAEncryption", True)),
    (der(SEQUENCE, der_oid("1.2.840.10040.4.3")), ("dsa-with-sha1", False)),
    (der(SEQUENCE, der_oid("2.16.840.1.101.3.4.3.2")), ("dsa-with-sha256", False)),
    (der(SEQUENCE, der_oid("1.2.840.10045.4.1")), ("ecdsa-with-SHA1", True)),
    (der(SEQUENCE, der_oid("1.2.840.10045.4.3.2")), ("ecdsa-with-SHA256", True)),
    (der(SEQUENCE, der_oid("1.2.840.10045.4.3.3")), ("ecdsa-with-SHA384", True)),
    (der(SEQUENCE, der_oid("1.2.840.10045.4.3.4")), ("ecdsa-with-SHA512", True)),
    (der(SEQUENCE, der_oid("1.3.101.112")), ("ed25519", True)),
    (der(SEQUENCE, der_oid(PSS), der(SEQUENCE)), ("RSASSA-PSS with SHA1", False)),  # all defaults: SHA-1
    (PSS_SHA256, ("RSASSA-PSS with SHA256", True)),
    (PSS_SHA384, ("RSASSA-PSS with SHA384", True)),
    (PSS_SHA512, ("RSASSA-PSS with SHA512", True)),
]


def request(subject: bytes = ALICE, attributes: tuple[bytes, ...] = (), algorithm: bytes = SHA256_RSA) -> bytes:
    """A CertificationRequest with these parts; the key and signature are placeholders, read_layout reads neither."""
    info = der(SEQUENCE, der_integer(0), subject, der(SEQUENCE), der(0xA0, *attributes))
    return der(SEQUENCE, info, algorithm, der(0x03, b"\x00"))


def sans(*names: str) -> bytes:
    return extension(SUBJECT_ALT_NAME, san_value(dns=names))


def test_a_plain_request_has_its_subject_values_no_attributes_and_its_algorithm() -> None:
    subject = subject_name(rdn((ORG, der_string("dev"))), rdn((ORG, der_string("ops"))), rdn((CN, der_string("a"))))
    assert read_layout(request(subject)) == Layout(3, (), ("sha256WithRSAEncryption", True))


def test_an_empty_subject_has_no_values() -> None:
    assert read_layout(request(subject_name())).subject_values == 0


@pytest.mark.parametrize(("algorithm", "expected"), GO_ALGORITHMS)
def test_every_algorithm_go_knows_is_named_with_whether_kubernetes_verifies_it(
    algorithm: bytes, expected: tuple[str, bool]
) -> None:
    assert read_layout(request(algorithm=algorithm)).signature == expected


def test_a_cold_start_builds_the_same_algorithm_tables() -> None:
    # GIVEN csrgate.domain.pkcs10 imported afresh, as a Lambda cold start does: its tables are built at import
    fresh = import_afresh("csrgate.domain.pkcs10")
    # WHEN that copy reads each algorithm THEN it names it as the tests above expect
    assert [fresh.read_layout(request(algorithm=algorithm)).signature for algorithm, _ in GO_ALGORITHMS] == [
        expected for _, expected in GO_ALGORITHMS
    ]


@pytest.mark.parametrize(
    ("algorithm", "problem"),
    [
        (der(SEQUENCE, der_oid("1.3.101.112"), der(0x05)), "an Ed25519 signature must not carry parameters"),
        (der(SEQUENCE, der_oid(PSS)), PSS_REFUSED),
        (der(SEQUENCE, der_oid(PSS), der(SEQUENCE), der(SEQUENCE)), PSS_REFUSED),
        (PSS_SHA256[:-1] + b"\x14", PSS_REFUSED),  # a 20-byte salt
        (PSS_SHA256.replace(bytes.fromhex("0304020105"), bytes.fromhex("0304020405")), PSS_REFUSED),  # SHA-224
        (
            der(SEQUENCE, der_oid("1.3.101.113")),  # Ed448
            "the CSR is signed with 1.3.101.113, which Kubernetes cannot verify; sign it with SHA-256 "
            "(openssl req -sha256)",
        ),
        (
            der(SEQUENCE, der_oid("1.2.840.113549.1.1.14"), der(0x05)),  # sha224WithRSAEncryption
            "the CSR is signed with 1.2.840.113549.1.1.14, which Kubernetes cannot verify; sign it with SHA-256 "
            "(openssl req -sha256)",
        ),
    ],
)
def test_an_algorithm_kubernetes_cannot_verify_is_refused(algorithm: bytes, problem: str) -> None:
    # GIVEN a request signed with an algorithm Go does not know, or with parameters it does not verify
    # WHEN its layout is read THEN the requester is told, and how to sign instead when that helps
    with pytest.raises(MalformedCsr) as raised:
        read_layout(request(algorithm=algorithm))
    assert str(raised.value) == problem


@pytest.mark.parametrize(
    ("structure", "problem"),
    [
        (der(SEQUENCE, der(SEQUENCE), SHA256_RSA), NOT_THREE_PARTS),
        (der(SEQUENCE, der(SEQUENCE), SHA256_RSA, der(0x03, b"\x00"), der(0x05)), NOT_THREE_PARTS),
        (der(SEQUENCE, der(SEQUENCE, der_integer(0), ALICE, der(SEQUENCE)), SHA256_RSA, der(0x03)), NOT_FOUR_PARTS),
        (
            der(SEQUENCE, der(SEQUENCE, der_integer(0), ALICE, der(SEQUENCE), der(0xA1)), SHA256_RSA, der(0x03)),
            NOT_FOUR_PARTS,  # the attributes are missing, something else is in their place
        ),
        (
            der(
                SEQUENCE,
                der(SEQUENCE, der_integer(0), ALICE, der(SEQUENCE), der(0xA0), der(0xA0)),
                SHA256_RSA,
                der(0x03),
            ),
            NOT_FOUR_PARTS,
        ),
    ],
)
def test_a_request_without_the_pkcs10_parts_is_refused(structure: bytes, problem: str) -> None:
    with pytest.raises(MalformedCsr) as raised:
        read_layout(structure)
    assert str(raised.value) == problem


def test_a_subject_printable_string_may_hold_its_whole_alphabet() -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
    subject = subject_name(rdn((COUNTRY, der_string("DE", "printable"))), rdn((OU, der_string(alphabet, "printable"))))
    assert read_layout(request(subject)).subject_values == 2


def test_a_subject_ia5_string_may_hold_any_ascii() -> None:
    subject = subject_name(rdn(("1.2.840.113549.1.9.1", der_string("alice@example.com\x7f", "ia5"))))
    assert read_layout(request(subject)).subject_values == 1


def string_type(tag: str) -> str:
    return (
        f"the subject's 2.5.4.3 is an ASN.1 type ({tag}) that Kubernetes reads differently or not at all; "
        "use UTF8String (openssl's default)"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (der(0x13, b"alice@example"), "a PrintableString in the subject holds characters outside its alphabet"),
        (der(0x13, b"a_b"), "a PrintableString in the subject holds characters outside its alphabet"),
        (
            der(0x13, "\u00e9".encode("latin-1")),
            "a PrintableString in the subject holds characters outside its alphabet",
        ),
        (der(0x16, "j\u00fcrgen".encode()), "an IA5String in the subject holds characters outside ASCII"),
        (der_string("alice", "t61"), string_type("0x14")),
        (der_string("alice", "bmp"), string_type("0x1e")),
        (der_string("alice", "universal"), string_type("0x1c")),
        (der_string("7", "integer"), string_type("0x02")),
    ],
)
def test_a_subject_string_go_reads_differently_is_refused(value: bytes, problem: str) -> None:
    # GIVEN a CN in a string type (or with characters) that Go and cryptography decode differently
    subject = subject_name(rdn((ORG, der_string("dev"))), rdn((CN, value)))
    # WHEN the layout is read THEN the requester is told which attribute and why
    with pytest.raises(MalformedCsr) as raised:
        read_layout(request(subject))
    assert str(raised.value) == problem


@pytest.mark.parametrize(
    "subject",
    [
        subject_name(rdn((CN, der_string("alice")), (ORG, der_string("dev")))),
        subject_name(der(SET)),  # an RDN without any value
        subject_name(der(SEQUENCE, der(SEQUENCE, der_oid(CN), der_string("alice")))),  # an RDN that is not a SET
    ],
)
def test_a_subject_rdn_with_other_than_one_value_is_refused(subject: bytes) -> None:
    with pytest.raises(MalformedCsr) as raised:
        read_layout(request(subject))
    assert str(raised.value) == "the subject has a multi-valued RDN; give one attribute per RDN (as openssl does)"


@pytest.mark.parametrize(
    ("attributes", "shown"),
    [
        ((extension_request(sans("a.example")),), ()),
        ((attribute(CHALLENGE_PASSWORD, der_string("secret")),), ("challengePassword",)),
        (
            (extension_request(sans("a.example")), attribute(CHALLENGE_PASSWORD, der_string("secret"))),
            ("challengePassword",),
        ),
    ],
)
def test_one_extension_request_and_one_challenge_password_are_read(
    attributes: tuple[bytes, ...], shown: tuple[str, ...]
) -> None:
    assert read_layout(request(attributes=attributes)).attributes == shown


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        # Go merges every PKCS#9 extension request; cryptography reads the first
        (
            (extension_request(sans("a.example")), extension_request(sans("b.example"))),
            "the CSR has several extension request attributes, which Kubernetes merges; give one (as openssl does)",
        ),
        (
            (extension_request(sans("a.example"), oid=MICROSOFT_EXTENSION_REQUEST),),
            "the CSR carries Microsoft's extension request attribute, which Kubernetes ignores; request extensions "
            "only with the PKCS#9 extensionRequest (as openssl does)",
        ),
        (
            (attribute(CHALLENGE_PASSWORD, der_string("a")), attribute(CHALLENGE_PASSWORD, der_string("b"))),
            "the CSR has more than one challenge password",
        ),
        (
            (attribute("1.2.840.113549.1.9.14", der(SEQUENCE, sans("a")), der(SEQUENCE, sans("b"))),),
            "the attribute 1.2.840.113549.1.9.14 must have exactly one value",
        ),
        ((attribute(CHALLENGE_PASSWORD),), "the attribute 1.2.840.113549.1.9.7 must have exactly one value"),
        (
            (der(SEQUENCE, der_oid(CHALLENGE_PASSWORD), der(SEQUENCE, der_string("a"))),),
            "the attribute 1.2.840.113549.1.9.7 must have exactly one value",
        ),
        ((attribute("1.2.3.4", der_string("x")),), "the CSR carries an attribute csrgate cannot read (1.2.3.4)"),
    ],
)
def test_attributes_kubernetes_reads_differently_are_refused(attributes: tuple[bytes, ...], problem: str) -> None:
    # GIVEN attributes Go would merge, ignore or read otherwise than cryptography does
    # WHEN the layout is read THEN the requester is told which attribute and what to send instead
    with pytest.raises(MalformedCsr) as raised:
        read_layout(request(attributes=attributes))
    assert str(raised.value) == problem


def import_afresh(name: str) -> ModuleType:
    """A new copy of the module `name`, its top level run again, leaving the one everyone imported alone."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
