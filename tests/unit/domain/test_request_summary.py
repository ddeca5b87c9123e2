"""What csrgate keeps of a request: the summary written with the record is what is read back, and a stored item of
the wrong shape reads as absent rather than as something else."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from csrgate.domain.request import SigningRequest, read_signing_request
from csrgate.domain.summary import RequestSummary, describe_lifetime, summarize
from devstack.csrs import make_csr, private_key

FULL = RequestSummary(
    name="dana",
    uid="uid-1",
    signer_name="kubernetes.io/kube-apiserver-client",
    usages=("client auth",),
    expiration_seconds=3600,
    username="dana",
    groups=("devs",),
    common_names=("dana", "dana2"),
    organizations=("devs",),
    other_subject=(("L", "Berlin"),),
    dns_names=("a.example",),
    ip_addresses=("10.0.0.1",),
    emails=("dana@example.com",),
    uris=("spiffe://lab/dana",),
    other_sans=("otherName",),
    key_type="EC",
    key_bits=256,
    key_curve="secp256r1",
    signature_algorithm="sha256WithRSAEncryption",
    signature_valid=True,
    extensions=("subjectAltName",),
    requester_email_claim="dana@example.com",
)


def test_a_summary_is_stored_with_the_kubernetes_field_names_and_read_back_whole() -> None:
    stored = FULL.as_dict()
    assert stored == {
        "name": "dana",
        "uid": "uid-1",
        "signerName": "kubernetes.io/kube-apiserver-client",
        "usages": ["client auth"],
        "expirationSeconds": 3600,
        "username": "dana",
        "groups": ["devs"],
        "requesterEmailAnnotation": "dana@example.com",
        "subject": {
            "commonName": "dana",
            "commonNames": ["dana", "dana2"],
            "organizations": ["devs"],
            "other": [{"name": "L", "value": "Berlin"}],
        },
        "sans": {
            "dns": ["a.example"],
            "ip": ["10.0.0.1"],
            "email": ["dana@example.com"],
            "uri": ["spiffe://lab/dana"],
            "other": ["otherName"],
        },
        "publicKey": {"type": "EC", "bits": 256, "curve": "secp256r1"},
        "signatureAlgorithm": "sha256WithRSAEncryption",
        "signatureValid": True,
        "extensions": ["subjectAltName"],
    }
    assert RequestSummary.from_dict(stored) == FULL
    assert FULL.common_name == "dana" and RequestSummary().common_name is None


def test_a_malformed_request_is_stored_with_why_and_without_the_fields_it_does_not_have() -> None:
    malformed = RequestSummary(name="dana", malformed="spec.request is not base64")
    stored = malformed.as_dict()
    assert stored == {
        "name": "dana",
        "uid": None,
        "signerName": None,
        "usages": [],
        "expirationSeconds": None,
        "username": None,
        "groups": [],
        "malformed": "spec.request is not base64",
    }
    assert RequestSummary.from_dict(stored) == malformed


@pytest.mark.parametrize(
    "item",
    [
        {"name": 7, "uid": ["x"], "usages": "client auth", "groups": None, "expirationSeconds": True},
        {"expirationSeconds": "3600", "signatureValid": "yes", "subject": ["dana"], "sans": "a.example"},
        {"subject": {"other": "L=Berlin", "commonNames": "dana"}, "publicKey": {"bits": 2048.5, "type": 1}},
        {"requesterEmailAnnotation": 5, "malformed": False, "extensions": {"a": 1}},
    ],
)
def test_a_stored_field_of_the_wrong_type_reads_as_absent(item: dict[str, Any]) -> None:
    assert RequestSummary.from_dict(item) == RequestSummary()


def test_subject_attributes_that_are_not_name_and_value_pairs_are_skipped() -> None:
    item = {"subject": {"other": [{"name": "L", "value": "Berlin"}, "O=ops", {"name": "C"}]}}
    assert RequestSummary.from_dict(item).other_subject == (("L", "Berlin"), ("C", "None"))


def test_listed_values_are_read_as_text() -> None:
    assert RequestSummary.from_dict({"usages": [1, "client auth"], "groups": ("a",)}).usages == ("1", "client auth")
    assert RequestSummary.from_dict({"groups": ("a",)}).groups == ("a",)


def test_a_decoded_request_is_summarized_from_its_csr_and_its_spec() -> None:
    decoded = read_signing_request(make_csr("dana", orgs=["devs"], dns=["a.example"], key="p256"), "dana.csr")
    request = decoded.with_overrides(
        signer_name="kubernetes.io/kube-apiserver-client",
        usages=("client auth",),
        expiration_seconds=600,
        username="dana",
        groups=("devs",),
        name="dana",
        uid="uid-1",
    )
    summary = summarize(request, "dana@example.com")
    assert (summary.name, summary.uid, summary.signer_name) == ("dana", "uid-1", "kubernetes.io/kube-apiserver-client")
    assert (summary.usages, summary.expiration_seconds, summary.username, summary.groups) == (
        ("client auth",),
        600,
        "dana",
        ("devs",),
    )
    assert (summary.common_names, summary.organizations, summary.dns_names) == (("dana",), ("devs",), ("a.example",))
    assert (summary.key_type, summary.key_bits, summary.key_curve) == ("EC", 256, "secp256r1")
    assert (summary.signature_algorithm, summary.signature_valid) == ("ecdsa-with-SHA256", True)
    assert summary.extensions == ("subjectAltName",)
    assert summary.requester_email_claim == "dana@example.com" and summary.malformed is None
    assert (summary.ip_addresses, summary.emails, summary.uris, summary.other_sans, summary.other_subject) == (
        (),
        (),
        (),
        (),
        (),
    )


def test_every_name_in_the_csr_is_kept() -> None:
    key = private_key("p256")
    subject = x509.Name(
        [x509.NameAttribute(NameOID.LOCALITY_NAME, "Berlin"), x509.NameAttribute(NameOID.COMMON_NAME, "dana")]
    )
    names = x509.SubjectAlternativeName(
        [
            x509.RFC822Name("dana@example.com"),
            x509.UniformResourceIdentifier("spiffe://lab/dana"),
            x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4")),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).add_extension(names, critical=False)
    pem = csr.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    summary = summarize(read_signing_request(pem, "dana.csr"))
    assert summary.other_subject == (("L", "Berlin"),)
    assert (summary.emails, summary.uris) == (("dana@example.com",), ("spiffe://lab/dana",))
    assert len(summary.other_sans) == 1 and summary.other_sans[0].startswith("RegisteredID:")


def test_a_request_that_could_not_be_decoded_is_summarized_with_why() -> None:
    assert summarize(SigningRequest(csr=None, malformed="spec.request is not base64")).malformed == (
        "spec.request is not base64"
    )
    assert summarize(SigningRequest(csr=None, name="dana")).malformed == "cannot be decoded"
    assert summarize(SigningRequest(csr=None, name="dana")).name == "dana"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (None, "not set"),
        (0, "0 seconds"),
        (1, "1 second"),
        (59, "59 seconds"),
        (61, "1 minute 1 second"),
        (600, "10 minutes"),
        (3600, "1 hour"),
        (7260, "2 hours 1 minute"),
        (86400, "1 day"),
        (2 * 86400 + 3 * 3600 + 4 * 60 + 5, "2 days 3 hours"),
        (2592000, "30 days"),
    ],
)
def test_a_lifetime_is_said_in_its_two_largest_units(seconds: int | None, said: str) -> None:
    assert describe_lifetime(seconds) == said
