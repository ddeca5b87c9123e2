"""Reading CSRs in every form users and clusters hand them over, and refusing everything else clearly."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from csrgate.domain.errors import InputError
from csrgate.domain.request import MAX_INPUT_BYTES, read_csr_object, read_signing_request
from devstack.csrs import make_csr, manifest, pem, private_key

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_pem_base64_and_manifest_forms_decode_to_the_same_csr() -> None:
    # GIVEN one CSR in the three forms a user may hold it
    csr_pem = make_csr("alice", orgs=["dev", "ops"])
    forms = {
        "pem": csr_pem,
        "base64": base64.b64encode(csr_pem),
        "yaml": manifest(csr_pem),
        "json": manifest(csr_pem, as_json=True),
    }
    # WHEN each is read
    decoded = {form: read_signing_request(data, form).csr for form, data in forms.items()}
    # THEN they all decode to the same subject, key and signature result
    assert len(set(decoded.values())) == 1
    csr = decoded["pem"]
    assert csr is not None
    assert csr.subject.common_name == "alice"
    assert csr.subject.organizations == ("dev", "ops")
    assert csr.signature_valid


def test_the_docs_manifest_reads_with_its_spec_fields() -> None:
    request = read_signing_request((FIXTURES / "docs-myuser.yaml").read_bytes(), "docs-myuser.yaml")
    assert request.name == "myuser"
    assert request.signer_name == "kubernetes.io/kube-apiserver-client"
    assert request.expiration_seconds == 86400
    assert request.usages == ("client auth",)
    assert request.csr is not None and request.csr.subject.common_name == "angela"
    assert request.csr.public_key.type == "RSA" and request.csr.public_key.bits == 2048
    assert request.csr.signature_algorithm == "sha256WithRSAEncryption"


def test_the_api_servers_object_carries_the_requester() -> None:
    request = read_signing_request((FIXTURES / "kubelet-serving.yaml").read_bytes(), "kubelet-serving.yaml")
    assert request.username == "system:node:ip-10-0-1-23.ec2.internal"
    assert request.groups == ("system:nodes", "system:authenticated")
    assert request.uid == "3f2c8a36-5b0e-4d0a-9d8e-6d2f8f1c2a11"


def test_sans_of_every_kind_and_other_subject_attributes_are_extracted() -> None:
    csr_pem = make_csr(
        "web",
        dns=["web.example.com"],
        ips=["10.0.0.1", "fd00::1"],
        emails=["web@example.com"],
        uris=["spiffe://cluster.local/ns/a/sa/b"],
        other_subject=[(NameOID.COUNTRY_NAME, "CH"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "platform")],
    )
    csr = read_signing_request(csr_pem, "t").csr
    assert csr is not None
    assert csr.sans.dns == ("web.example.com",)
    assert csr.sans.ip == ("10.0.0.1", "fd00::1")
    assert csr.sans.email == ("web@example.com",)
    assert csr.sans.uri == ("spiffe://cluster.local/ns/a/sa/b",)
    assert csr.subject.other == (("C", "CH"), ("OU", "platform"))
    assert csr.extensions == ("subjectAltName",)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("rsa2048", ("RSA", 2048, None)),
        ("p256", ("EC", 256, "secp256r1")),
        ("p384", ("EC", 384, "secp384r1")),
        ("ed25519", ("Ed25519", 256, None)),
    ],
)
def test_public_key_type_and_size_are_reported(key: str, expected: tuple[str, int, str | None]) -> None:
    csr = read_signing_request(make_csr(key=key), key).csr
    assert csr is not None
    assert (csr.public_key.type, csr.public_key.bits, csr.public_key.curve) == expected
    assert csr.signature_valid


def test_a_dsa_signature_is_reported_as_not_verifying_because_kubernetes_cannot_verify_it() -> None:
    csr = read_signing_request(make_csr(key="dsa2048"), "t").csr
    assert csr is not None and csr.public_key.type == "DSA" and csr.signature_valid is False


@pytest.mark.parametrize(("key", "problem"), [("ed448", "1.3.101.113"), ("p192", "secp192r1")])
def test_keys_and_signatures_kubernetes_cannot_read_are_malformed(key: str, problem: str) -> None:
    request = read_signing_request(make_csr(key=key), "t")
    assert request.csr is None and request.malformed is not None and problem in request.malformed


def test_a_tampered_signature_is_reported_not_raised() -> None:
    csr = read_signing_request(make_csr(tamper=True), "t").csr
    assert csr is not None and csr.signature_valid is False


@pytest.mark.parametrize(
    "body",
    [b"!!!!", b"AAA", b"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", b""],
)
def test_a_complete_csr_block_with_a_broken_body_is_a_malformed_request(body: bytes) -> None:
    block = b"-----BEGIN CERTIFICATE REQUEST-----\n" + body + b"\n-----END CERTIFICATE REQUEST-----\n"
    request = read_signing_request(block, "t")
    assert request.csr is None and request.malformed


def test_a_pem_block_that_is_not_pkcs10_is_a_malformed_request_not_an_error() -> None:
    # GIVEN a CERTIFICATE REQUEST PEM block whose DER is garbage, inside a well-formed manifest
    garbage = pem(b"\x30\x03\x02\x01\x00")
    # WHEN it is read
    request = read_signing_request(manifest(garbage), "m")
    # THEN the request exists, without a CSR, and says why
    assert request.csr is None
    assert request.malformed is not None and "cannot be parsed" in request.malformed
    assert request.signer_name == "kubernetes.io/kube-apiserver-client"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty input"),
        (b"   \n", "empty input"),
        (b"\x30\x82\x01\x00\xff\xfe", "not text"),
        (b"hello world", "not a CSR"),
        (b"- just\n- a list\n", "not a CSR"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "is a CERTIFICATE, expected"),
        (b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "must never leave your machine"),
        (b"-----BEGIN CERTIFICATE REQUEST\nAAAA", "no PEM block found"),
        (b"-----BEGIN ", "no PEM block found"),
        (b"apiVersion: v1\nkind: ConfigMap\n", "kind is 'ConfigMap'"),
        (b"kind: CertificateSigningRequest\napiVersion: certificates.k8s.io/v1beta1\n", "certificates.k8s.io/v1beta1"),
        (b"kind: CertificateSigningRequest\napiVersion: certificates.k8s.io/v1\n", "spec is missing"),
        (b"kind: CertificateSigningRequest\napiVersion: certificates.k8s.io/v1\nspec: []\n", "spec must be a mapping"),
        (b"{kind: CertificateSigningRequest, apiVersion: certificates.k8s.io/v1, spec: {}}", "spec.request is missing"),
        (b"a: &x [1]\nb: *x\n", "aliases are not allowed"),
        (b"a: 1\na: 2\n", "duplicate key"),
        (b"a: 1\n---\nb: 2\n", "expected one document"),
        (b"[[[[[[[[[[[[[[", "not a CSR"),
    ],
)
def test_input_that_is_not_a_csr_is_a_typed_error_naming_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(InputError) as raised:
        read_signing_request(data, "input.txt")
    assert raised.value.source == "input.txt"
    assert problem in str(raised.value)


def test_a_private_key_is_refused_with_a_warning_to_keep_it_private() -> None:
    key_pem = private_key("p256").private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InputError, match="private key must never leave your machine"):
        read_signing_request(key_pem, "key.pem")


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(InputError, match="larger than 256 KiB"):
        read_signing_request(b"A" * (MAX_INPUT_BYTES + 1), "big")


@pytest.mark.parametrize(
    ("spec_change", "problem"),
    [
        ({"request": 42}, "spec.request must be a string, not an integer"),
        ({"request": ""}, "spec.request is empty"),
        ({"usages": "client auth"}, "spec.usages must be a list, not a string"),
        ({"usages": ["client auth", 7]}, "spec.usages must be a list of strings"),
        ({"expirationSeconds": "86400"}, "spec.expirationSeconds must be an integer, not a string"),
        ({"expirationSeconds": True}, "spec.expirationSeconds must be an integer, not a boolean"),
        ({"signerName": ["a"]}, "spec.signerName must be a string, not a list"),
    ],
)
def test_wrong_types_in_the_spec_name_the_field(spec_change: dict[str, object], problem: str) -> None:
    obj = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "x"},
        "spec": {"request": base64.b64encode(make_csr()).decode(), "signerName": "a.io/b", **spec_change},
    }
    with pytest.raises(InputError, match=problem):
        read_csr_object(obj, "event")


def test_base64_wrapped_over_lines_is_read() -> None:
    wrapped = base64.encodebytes(make_csr("wrapped"))  # 76-character lines, as `base64` writes by default
    csr = read_signing_request(wrapped, "t").csr
    assert csr is not None and csr.subject.common_name == "wrapped"


@pytest.mark.parametrize(
    ("framing", "problem"),
    [
        # Go's pem.Decode reads the second block where csrgate would see the first: nothing to review here.
        (lambda a, b: b"x" + a + b, "before the BEGIN line"),
        (lambda a, b: b"leading text\n" + a, "before the BEGIN line"),
        (lambda a, b: b"   " + a, "before the BEGIN line"),
        (lambda a, b: a + b, "after the END line"),
        (lambda a, b: a + b"trailing", "after the END line"),
        (lambda a, b: a.rstrip() + b"\x0b", "after the END line"),
        (lambda a, b: a.replace(b"-----\n", b"-----\nProc-Type: 4,ENCRYPTED\n\n", 1), "not plain PEM"),
        (lambda a, b: a.replace(b"-----\n", b"-----\n\n", 1), "not plain PEM"),
        (lambda a, b: a.replace(b"-----\n", b"-----\n\x00", 1), "not plain PEM"),
        (lambda a, b: a[:-40] + b"=" + a[-39:], "base64 is not well formed"),
        (lambda a, b: a.replace(b"-----END CERTIFICATE REQUEST-----", b""), "not plain PEM"),
    ],
)
def test_anything_but_exactly_one_plain_block_is_malformed(framing: Any, problem: str) -> None:
    # GIVEN spec.request bytes that Kubernetes could read as another CSR than the first block, or not at all
    data = framing(make_csr("first"), make_csr("second", orgs=["system:masters"]))
    # WHEN csrgate reads them, as a file and as a CSR object's spec.request
    for request in (read_signing_request(data, "t"), read_csr_object(manifest_object(data), "e").signing_request):
        # THEN it shows nothing an approver could approve
        assert request.csr is None and request.malformed is not None and problem in request.malformed


def test_whitespace_around_the_one_block_is_fine() -> None:
    csr = read_signing_request(b"\n \r\n" + make_csr("spaced").replace(b"\n", b"\r\n") + b" \n\t\n", "t").csr
    assert csr is not None and csr.subject.common_name == "spaced"


@pytest.mark.parametrize(
    ("request_text", "problem"),
    [
        ("not base64!", "spec.request is not base64"),
        (base64.b64encode(b"plain text").decode(), "no PEM block found"),
        (base64.b64encode(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").decode(), "CERTIFICATE"),
    ],
)
def test_a_spec_request_that_is_no_csr_is_a_request_to_deny_not_an_error(request_text: str, problem: str) -> None:
    obj = {**manifest_object(make_csr()), "spec": {"request": request_text, "signerName": "a.io/b"}}
    request = read_csr_object(obj, "event").signing_request
    assert request.csr is None and request.malformed is not None and problem in request.malformed
    assert request.signer_name == "a.io/b"


def manifest_object(request: bytes) -> dict[str, Any]:
    """A CertificateSigningRequest object holding `request` as its spec.request."""
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "x"},
        "spec": {"request": base64.b64encode(request).decode(), "signerName": "kubernetes.io/kube-apiserver-client"},
    }
