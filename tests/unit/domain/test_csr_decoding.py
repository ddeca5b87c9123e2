"""What csrgate reads from a CSR, as approvers are shown it: subject, SANs, key and whether the self-signature holds
as Kubernetes' CheckSignature would answer; and the requests Kubernetes would read otherwise, refused as malformed."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, padding, rsa, x25519
from cryptography.x509.oid import NameOID

from csrgate.domain.csr import DecodedCsr, PublicKeyInfo, Subject, SubjectAltNames, decode_csr
from csrgate.domain.errors import MalformedCsr
from csrgate.domain.pem import read_pem
from devstack.csrs import (
    CHALLENGE_PASSWORD,
    SEQUENCE,
    SUBJECT_ALT_NAME,
    attribute,
    der,
    der_integer,
    der_oid,
    der_string,
    extension,
    extension_request,
    make_csr,
    private_key,
    rdn,
    san_value,
    signed_csr,
    subject_name,
)

ALICE = subject_name(rdn(("2.5.4.3", der_string("alice"))))
SHA256_RSA = der(SEQUENCE, der_oid("1.2.840.113549.1.1.11"), der(0x05))
ECDSA_SHA256 = der(SEQUENCE, der_oid("1.2.840.10045.4.3.2"))
SHA1_RSA = der(SEQUENCE, der_oid("1.2.840.113549.1.1.5"), der(0x05))
ECDSA_SHA1 = der(SEQUENCE, der_oid("1.2.840.10045.4.1"))
NON_ASCII_SAN = "a DNS or email subject alternative name holds non-ASCII text, which Kubernetes refuses"


def decode(csr_pem: bytes) -> DecodedCsr:
    return decode_csr(read_pem(csr_pem, "spec.request"))


def spki(public_key: Any) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def info(key_info: bytes, subject: bytes = ALICE) -> bytes:
    return der(SEQUENCE, der_integer(0), subject, key_info, der(0xA0))


def request(request_info: bytes, algorithm: bytes, signature: bytes) -> bytes:
    return der(SEQUENCE, request_info, algorithm, der(0x03, b"\x00" + signature))


def unsigned(key_info: bytes, algorithm: bytes = SHA256_RSA) -> bytes:
    """A request whose signature is sixteen zero bytes: verifies under no key."""
    return request(info(key_info), algorithm, bytes(16))


def test_a_client_request_is_read_as_approvers_see_it() -> None:
    # GIVEN alice's request for the groups dev and ops, made with an RSA key as openssl would
    csr_pem = make_csr("alice", orgs=["dev", "ops"], key="rsa1024")
    # WHEN it is decoded THEN every part is there, and the self-signature holds
    assert decode(csr_pem) == DecodedCsr(
        subject=Subject(common_names=("alice",), organizations=("dev", "ops")),
        sans=SubjectAltNames(),
        public_key=PublicKeyInfo("RSA", 1024, exponent=65537),
        signature_algorithm="sha256WithRSAEncryption",
        signature_valid=True,
    )


def test_other_subject_attributes_are_kept_by_name_in_their_order() -> None:
    other = [(NameOID.COUNTRY_NAME, "DE"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "infra"), (NameOID.USER_ID, "a1")]
    subject = decode(make_csr(("alice", "bob"), orgs=["dev"], other_subject=other, key="p256")).subject
    assert subject == Subject(("alice", "bob"), ("dev",), (("C", "DE"), ("OU", "infra"), ("UID", "a1")))
    assert subject.common_name == "alice"


def test_a_subject_without_cn_has_no_common_name() -> None:
    assert decode(make_csr(None, orgs=["dev"], key="p256")).subject.common_name is None


def test_a_cn_longer_than_x509_allows_is_read_without_a_warning_escaping() -> None:
    # GIVEN a CN of 65 characters, over X.509's upper bound; the policy reports it as a finding
    csr_pem = make_csr("a" * 65, key="p256")
    # WHEN it is decoded where any warning would fail THEN it reads, CN and all
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode(csr_pem).subject.common_names == ("a" * 65,)


def test_sans_are_read_by_kind() -> None:
    # GIVEN a serving request for DNS names, IPv4 and IPv6 addresses, an email and a SPIFFE ID
    csr_pem = make_csr(
        "system:node:n1",
        dns=["n1.example", "*.n1.example"],
        ips=["10.0.0.1", "fd00::1"],
        emails=["ops@example.com"],
        uris=["spiffe://cluster.local/ns/default/sa/web", "https://a.example:8443/x/y;z"],
        key="p256",
    )
    # WHEN it is decoded THEN each name is under its kind, as written, in order
    decoded = decode(csr_pem)
    assert decoded.sans == SubjectAltNames(
        dns=("n1.example", "*.n1.example"),
        ip=("10.0.0.1", "fd00::1"),
        email=("ops@example.com",),
        uri=("spiffe://cluster.local/ns/default/sa/web", "https://a.example:8443/x/y;z"),
    )
    assert decoded.extensions == ("subjectAltName",)


def test_a_san_of_a_kind_kubernetes_ignores_is_kept_as_text() -> None:
    registered_id = der(0x88, der_oid("1.2.3.4")[2:])
    csr = signed_csr(ALICE, [extension_request(extension(SUBJECT_ALT_NAME, der(SEQUENCE, registered_id)))], key="p256")
    assert decode_csr(csr).sans == SubjectAltNames(other=(f"RegisteredID:{x509.ObjectIdentifier('1.2.3.4')!r}",))


@pytest.mark.parametrize(
    "sans",
    [
        SubjectAltNames(dns=("a",)),
        SubjectAltNames(ip=("10.0.0.1",)),
        SubjectAltNames(email=("a@b",)),
        SubjectAltNames(uri=("spiffe://a",)),
        SubjectAltNames(other=("RegisteredID:x",)),
    ],
)
def test_a_request_with_any_one_san_has_sans(sans: SubjectAltNames) -> None:
    assert sans
    assert not SubjectAltNames()


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (san_value(dns=["b\u00fccher.example"]), f"^{NON_ASCII_SAN}$"),
        (san_value(emails=["j\u00fc@example.com"]), f"^{NON_ASCII_SAN}$"),
        (
            der(SEQUENCE, der(0x87, bytes([10, 0, 0, 0, 255, 0, 0, 0]))),
            "^an IP address subject alternative name holds a network, which Kubernetes refuses$",
        ),
        (
            san_value(ips=["::ffff:10.0.0.1"]),
            "^the IP address ::ffff:(a00:1|10.0.0.1) is an IPv4 address written as IPv6; give 10.0.0.1$",
        ),
    ],
)
def test_sans_kubernetes_refuses_or_writes_differently_are_refused(names: bytes, problem: str) -> None:
    csr = signed_csr(ALICE, [extension_request(extension(SUBJECT_ALT_NAME, names))], key="p256")
    with pytest.raises(MalformedCsr, match=problem):
        decode_csr(csr)


@pytest.mark.parametrize(
    "uri",
    [
        "HTTPS://a.example/",  # Go writes the scheme in lower case
        "https://a.example/%41",  # Go would unescape it
        "https://a.example/?q=1",
        "https://a.example/#top",
        "https://user@a.example/",
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",  # no authority
        "https://a.example:port/",
        "https://a.example/ x",
        "1https://a.example/",
    ],
)
def test_a_uri_san_go_would_write_differently_is_refused(uri: str) -> None:
    csr = signed_csr(ALICE, [extension_request(extension(SUBJECT_ALT_NAME, san_value(uris=[uri])))], key="p256")
    with pytest.raises(MalformedCsr) as raised:
        decode_csr(csr)
    assert str(raised.value) == (
        "a URI subject alternative name is not a plain lower-case scheme://host/path URI without escapes, "
        "so Kubernetes might write it differently"
    )


def test_extensions_are_named_and_unknown_ones_shown_by_oid() -> None:
    extensions = [
        extension("2.5.29.15", bytes.fromhex("030205a0"), critical=True),  # keyUsage
        extension("2.5.29.19", der(SEQUENCE)),  # basicConstraints
        extension("1.2.3.4", der(0x05)),
    ]
    csr = signed_csr(ALICE, [extension_request(*extensions)], key="p256")
    assert decode_csr(csr).extensions == ("keyUsage", "basicConstraints", "1.2.3.4")


def test_a_challenge_password_is_shown_among_the_attributes() -> None:
    csr = signed_csr(ALICE, [attribute(CHALLENGE_PASSWORD, der_string("secret"))], key="p256")
    assert decode_csr(csr).attributes == ("challengePassword",)


@pytest.mark.parametrize(
    ("key", "public_key", "described", "algorithm"),
    [
        ("p256", PublicKeyInfo("EC", 256, "secp256r1"), "EC secp256r1 (256 bits)", "ecdsa-with-SHA256"),
        ("p384", PublicKeyInfo("EC", 384, "secp384r1"), "EC secp384r1 (384 bits)", "ecdsa-with-SHA256"),
        ("p224", PublicKeyInfo("EC", 224, "secp224r1"), "EC secp224r1 (224 bits)", "ecdsa-with-SHA256"),
        ("ed25519", PublicKeyInfo("Ed25519", 256), "Ed25519 256", "ed25519"),
        ("rsa1024", PublicKeyInfo("RSA", 1024, exponent=65537), "RSA 1024", "sha256WithRSAEncryption"),
    ],
)
def test_keys_go_reads_are_described_and_their_signatures_verify(
    key: str, public_key: PublicKeyInfo, described: str, algorithm: str
) -> None:
    decoded = decode(make_csr("alice", key=key))
    assert (decoded.public_key, decoded.public_key.describe()) == (public_key, described)
    assert (decoded.signature_algorithm, decoded.signature_valid) == (algorithm, True)


@pytest.mark.parametrize("key", ["p256", "ed25519", "rsa1024"])
def test_a_tampered_signature_does_not_verify(key: str) -> None:
    decoded = decode(make_csr("alice", key=key, tamper=True))
    assert decoded.signature_valid is False
    assert decoded.subject.common_name == "alice"


def test_a_key_on_a_curve_go_cannot_read_is_refused() -> None:
    key_info = spki(private_key("p192").public_key())
    with pytest.raises(MalformedCsr, match="^Kubernetes cannot read keys on the curve secp192r1; use P-256$"):
        decode_csr(unsigned(key_info, ECDSA_SHA256))


@pytest.mark.parametrize("exponent", [3, 2**31 - 1])
def test_an_rsa_exponent_go_accepts_is_shown(exponent: int) -> None:
    modulus = private_key("rsa1024").public_key().public_numbers().n
    key_info = spki(rsa.RSAPublicNumbers(exponent, modulus).public_key())
    assert decode_csr(unsigned(key_info)).public_key == PublicKeyInfo("RSA", 1024, exponent=exponent)


def test_an_rsa_exponent_larger_than_go_accepts_is_refused() -> None:
    modulus = private_key("rsa1024").public_key().public_numbers().n
    key_info = spki(rsa.RSAPublicNumbers(2**31 + 1, modulus).public_key())
    with pytest.raises(
        MalformedCsr, match="^the RSA public exponent 2147483649 is larger than Kubernetes accepts; use"
    ):
        decode_csr(unsigned(key_info))


def test_keys_policy_knows_but_kubernetes_cannot_verify_are_read_unverified() -> None:
    # GIVEN requests with an Ed448 and a DSA key, and one whose key cannot sign at all (X25519)
    ed448_key = spki(ed448.Ed448PrivateKey.generate().public_key())
    dsa_key = spki(dsa.generate_private_key(1024).public_key())
    x25519_key = spki(x25519.X25519PrivateKey.generate().public_key())
    # WHEN they are decoded THEN each key is named, and no signature is taken as valid
    decoded = [decode_csr(unsigned(key_info)) for key_info in (ed448_key, dsa_key, x25519_key)]
    assert [csr.public_key for csr in decoded] == [
        PublicKeyInfo("Ed448", 456),
        PublicKeyInfo("DSA", 1024),
        PublicKeyInfo("unsupported (X25519PublicKey)"),
    ]
    assert [csr.signature_valid for csr in decoded] == [False, False, False]
    assert decoded[2].public_key.describe() == "unsupported (X25519PublicKey)"


def test_a_key_of_an_unknown_algorithm_is_shown_by_its_oid() -> None:
    key_info = der(SEQUENCE, der(SEQUENCE, der_oid("1.2.3.4")), der(0x03, b"\x00\x01"))
    decoded = decode_csr(unsigned(key_info))
    assert (decoded.public_key.describe(), decoded.signature_valid) == ("unsupported (1.2.3.4)", False)


@pytest.mark.parametrize(
    ("oid", "digest", "valid"),
    [
        ("1.2.840.113549.1.1.5", hashes.SHA1(), True),  # cryptography no longer verifies SHA-1; Go does for CSRs
        ("1.2.840.113549.1.1.5", hashes.SHA256(), False),
        ("1.2.840.113549.1.1.4", hashes.MD5(), False),  # Go knows MD5 but never verifies it
        ("1.2.840.113549.1.1.12", hashes.SHA384(), True),
    ],
)
def test_rsa_signatures_verify_as_go_verifies_them(oid: str, digest: hashes.HashAlgorithm, valid: bool) -> None:
    key = private_key("rsa1024")
    request_info = info(spki(key.public_key()))
    csr = request(
        request_info, der(SEQUENCE, der_oid(oid), der(0x05)), key.sign(request_info, padding.PKCS1v15(), digest)
    )
    assert decode_csr(csr).signature_valid is valid


def test_an_ecdsa_with_sha1_signature_verifies() -> None:
    key = private_key("p256")
    request_info = info(spki(key.public_key()))
    signature = key.sign(request_info, ec.ECDSA(hashes.SHA1()))
    assert decode_csr(request(request_info, ECDSA_SHA1, signature)).signature_valid is True


@pytest.mark.parametrize(("key", "algorithm"), [("p256", SHA1_RSA), ("rsa1024", ECDSA_SHA1)])
def test_a_sha1_signature_under_the_other_key_familys_algorithm_does_not_verify(key: str, algorithm: bytes) -> None:
    # GIVEN a request whose SHA-1 signature is right for its key, but whose algorithm names the other key family
    signing_key = private_key(key)
    request_info = info(spki(signing_key.public_key()))
    if isinstance(signing_key, rsa.RSAPrivateKey):
        signature = signing_key.sign(request_info, padding.PKCS1v15(), hashes.SHA1())
    else:
        signature = signing_key.sign(request_info, ec.ECDSA(hashes.SHA1()))
    # WHEN it is decoded THEN the signature does not hold, as Go's CheckSignature would not verify it
    assert decode_csr(request(request_info, algorithm, signature)).signature_valid is False


def test_a_tampered_sha1_signature_does_not_verify() -> None:
    key = private_key("rsa1024")
    request_info = info(spki(key.public_key()))
    signature = bytearray(key.sign(request_info, padding.PKCS1v15(), hashes.SHA1()))
    signature[-1] ^= 1
    assert decode_csr(request(request_info, SHA1_RSA, bytes(signature))).signature_valid is False


def test_an_rsassa_pss_signature_verifies() -> None:
    key, digest = private_key("rsa1024"), hashes.SHA256()
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])
    )
    pss = padding.PSS(padding.MGF1(digest), padding.PSS.DIGEST_LENGTH)
    decoded = decode_csr(builder.sign(key, digest, rsa_padding=pss).public_bytes(serialization.Encoding.DER))
    assert (decoded.signature_algorithm, decoded.signature_valid) == ("RSASSA-PSS with SHA256", True)


@pytest.mark.parametrize(
    ("der_bytes", "problem"),
    [
        (b"", "^the CSR cannot be parsed: error parsing asn1 value"),
        (b"garbage", "^the CSR cannot be parsed: "),
    ],
)
def test_bytes_that_are_no_request_cannot_be_parsed(der_bytes: bytes, problem: str) -> None:
    with pytest.raises(MalformedCsr, match=problem):
        decode_csr(der_bytes)


def test_a_long_parse_error_is_shown_cut_to_200_characters() -> None:
    # GIVEN a SAN extension cryptography cannot parse deep inside, so its error names a long path
    other_name = der(SEQUENCE, der(0xA0, der(0x04, b"x")))
    csr = signed_csr(ALICE, [extension_request(extension(SUBJECT_ALT_NAME, other_name))], key="p256")
    with pytest.raises(ValueError) as parsed:
        x509.load_der_x509_csr(csr).extensions  # noqa: B018 - reading them is what raises
    assert len(str(parsed.value)) > 200
    # WHEN csrgate decodes it THEN the requester reads cryptography's reason, cut to its first 200 characters
    with pytest.raises(MalformedCsr) as raised:
        decode_csr(csr)
    assert str(raised.value) == f"the CSR cannot be parsed: {str(parsed.value)[:200]}"


def test_trailing_bytes_after_the_request_are_refused() -> None:
    with pytest.raises(MalformedCsr, match="^the CSR cannot be parsed: "):
        decode_csr(signed_csr(ALICE, key="p256") + b"\x05\x00")


def test_a_request_cryptography_reads_but_that_is_not_strict_der_is_refused() -> None:
    # GIVEN an attribute value with a high tag number: cryptography skips over it, Go's asn1 does not
    high_tag = der(SEQUENCE, der_oid("1.2.3.4"), der(0x31, b"\x1f\x22\x00"))
    # WHEN it is decoded THEN the requester learns the request is not valid DER
    with pytest.raises(MalformedCsr, match="^the CSR is not valid DER: high tag numbers are not used in a CSR$"):
        decode_csr(signed_csr(ALICE, [high_tag], key="p256"))


def test_a_layout_problem_is_refused_with_its_own_message() -> None:
    with pytest.raises(MalformedCsr, match=r"^the CSR carries an attribute csrgate cannot read \(1.2.3.4\)$"):
        decode_csr(signed_csr(ALICE, [attribute("1.2.3.4", der_string("x"))], key="p256"))


def test_a_duplicate_extension_cannot_be_parsed() -> None:
    sans = extension(SUBJECT_ALT_NAME, san_value(dns=["a.example"]))
    with pytest.raises(MalformedCsr, match="^the CSR cannot be parsed: "):
        decode_csr(signed_csr(ALICE, [extension_request(sans, sans)], key="p256"))


def test_an_ip_san_is_written_as_go_prints_it() -> None:
    decoded = decode(make_csr("a", ips=["fd00:0:0:0:0:0:0:1", "::1"], key="p256"))
    assert decoded.sans.ip == ("fd00::1", "::1")
