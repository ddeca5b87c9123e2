"""What csrgate reads from a CSR is what Kubernetes reads: attributes, subject strings, signatures and keys that
Go's crypto/x509 would read differently from `cryptography` are refused as malformed-request."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import default_policy
from csrgate.domain.request import SigningRequest, read_signing_request
from csrgate.domain.verdict import evaluate
from devstack.csrs import (
    CHALLENGE_PASSWORD,
    MICROSOFT_EXTENSION_REQUEST,
    SUBJECT_ALT_NAME,
    attribute,
    der,
    der_integer,
    der_oid,
    der_string,
    extension,
    extension_request,
    pem,
    rdn,
    san_value,
    signed_csr,
    subject_name,
)

CN, ORG = "2.5.4.3", "2.5.4.10"
ALICE = subject_name(rdn((CN, der_string("alice"))))


def read(der_bytes: bytes) -> SigningRequest:
    """The request as spec.request of a client certificate request holds it."""
    return read_signing_request(pem(der_bytes), "t").with_overrides(signer_name="kubernetes.io/kube-apiserver-client")


def sans(*names: str) -> bytes:
    return extension(SUBJECT_ALT_NAME, san_value(dns=names))


def test_one_pkcs9_extension_request_is_read() -> None:
    csr = read(signed_csr(ALICE, [extension_request(sans("a.example"))])).csr
    assert csr is not None and csr.sans.dns == ("a.example",)


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        # Go merges every PKCS#9 extension request; cryptography reads the first: approvers would see one SAN set
        ([extension_request(sans("shown.example")), extension_request(sans("signed.example"))], "several"),
        # cryptography reads Microsoft's attribute, Go ignores it
        ([extension_request(sans("a.example"), oid=MICROSOFT_EXTENSION_REQUEST)], "Microsoft"),
        (
            sorted(  # DER orders a SET OF, and cryptography insists
                [
                    extension_request(sans("a.example"), oid=MICROSOFT_EXTENSION_REQUEST),
                    extension_request(sans("b.example")),
                ]
            ),
            "Microsoft",
        ),
        # Go takes the first value of the SET; refuse rather than guess
        ([attribute("1.2.840.113549.1.9.14", der(0x30, sans("a.example")), der(0x30, sans("b.example")))], "one value"),
        ([attribute("1.2.3.4", der_string("x"))], "1.2.3.4"),
        ([attribute(CHALLENGE_PASSWORD, der_string("a")), attribute(CHALLENGE_PASSWORD, der_string("b"))], "more"),
        ([extension_request(sans("a.example"), sans("b.example"))], "cannot be parsed"),  # a duplicate extension
    ],
)
def test_attributes_kubernetes_reads_differently_are_malformed(attributes: list[bytes], problem: str) -> None:
    request = read(signed_csr(ALICE, attributes))
    assert request.csr is None and request.malformed is not None and problem in request.malformed
    assert evaluate(request, default_policy()).codes == ("malformed-request",)


def test_a_challenge_password_is_allowed_and_named() -> None:
    csr = read(signed_csr(ALICE, [attribute(CHALLENGE_PASSWORD, der_string("secret"))])).csr
    assert csr is not None and csr.attributes == ("challengePassword",)


@pytest.mark.parametrize("kind", ["utf8", "printable", "ia5"])
def test_subject_strings_decoded_alike_are_read(kind: str) -> None:
    csr = read(signed_csr(subject_name(rdn((CN, der_string("alice", kind))), rdn((ORG, der_string("dev", kind)))))).csr
    assert csr is not None and (csr.subject.common_names, csr.subject.organizations) == (("alice",), ("dev",))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (der_string("al\u00efce", "t61"), "ASN.1 type"),  # Go keeps the raw bytes, cryptography decodes Latin-1
        (der_string("alice", "bmp"), "ASN.1 type"),
        (der_string("alice", "universal"), "ASN.1 type"),  # Go ignores it: the CN would be empty
        (der_integer(7), "ASN.1 type"),
        (der(0x13, b"alice@example"), "PrintableString"),  # '@' is outside PrintableString
        (der(0x16, "\u00e9".encode("latin-1")), "IA5String"),
    ],
)
def test_subject_strings_go_reads_differently_are_malformed(value: bytes, problem: str) -> None:
    request = read(signed_csr(subject_name(rdn((CN, value)))))
    assert request.csr is None and request.malformed is not None and problem in request.malformed


def test_a_multi_valued_rdn_is_malformed() -> None:
    request = read(signed_csr(subject_name(rdn((CN, der_string("alice")), (ORG, der_string("system:masters"))))))
    assert request.csr is None and request.malformed is not None and "multi-valued" in request.malformed


def pss_csr(hash_algorithm: hashes.HashAlgorithm) -> bytes:
    key = rsa.generate_private_key(65537, 2048)
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])
    )
    pss = padding.PSS(padding.MGF1(hash_algorithm), padding.PSS.DIGEST_LENGTH)
    return builder.sign(key, hash_algorithm, rsa_padding=pss).public_bytes(serialization.Encoding.DER)


def test_rsassa_pss_with_sha256_is_read_and_verified() -> None:
    csr = read(pss_csr(hashes.SHA256())).csr
    assert csr is not None and csr.signature_algorithm == "RSASSA-PSS with SHA256" and csr.signature_valid


def test_rsassa_pss_with_sha1_is_a_weak_signature() -> None:
    # GIVEN a PSS signature over SHA-1, built by hand (cryptography refuses to make one)
    key = rsa.generate_private_key(65537, 2048)
    info = der(
        0x30,
        der_integer(0),
        ALICE,
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        der(0xA0),
    )
    signature = key.sign(info, padding.PSS(padding.MGF1(hashes.SHA1()), 20), hashes.SHA1())
    parameters = der(0x30)  # SHA-1, MGF1 with SHA-1 and a 20-byte salt are PSS's defaults, which DER leaves out
    csr = der(0x30, info, der(0x30, der_oid("1.2.840.113549.1.1.10"), parameters), der(0x03, b"\x00" + signature))
    # THEN it is refused as weak, whatever its algorithm is called
    request = read(csr)
    verdict = evaluate(request, default_policy())
    assert verdict.outcome is Outcome.DENY and "weak-signature" in verdict.codes


def test_an_rsa_key_with_a_small_exponent_is_weak() -> None:
    key = rsa.generate_private_key(3, 2048)
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])
    )
    request = read(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    assert request.csr is not None and request.csr.public_key.exponent == 3
    assert "weak-key" in evaluate(request, default_policy()).codes
