"""The one reader of CertificateSigningRequest objects: every field's type checked once, an error naming the field,
and a spec.request csrgate cannot read becoming a request to deny rather than an error."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from csrgate.domain.errors import InputError
from csrgate.domain.request import (
    MAX_EXPIRATION_SECONDS,
    MAX_GROUPS_CHARS,
    MAX_INPUT_BYTES,
    MAX_NAME_CHARS,
    MAX_SIGNER_CHARS,
    MAX_UID_CHARS,
    MAX_USERNAME_CHARS,
    SigningRequest,
    read_csr_object,
    read_signing_request,
    spec_fingerprint,
)
from devstack.csrs import make_csr, manifest

SPEC = {
    "request": "LS0t",
    "signerName": "kubernetes.io/kube-apiserver-client",
    "usages": ["client auth"],
    "expirationSeconds": 600,
    "username": "dana",
    "groups": ["devs"],
}


def csr() -> bytes:
    """dana's CSR, as `openssl req` writes it (made when a test runs, never when pytest collects)."""
    return make_csr("dana", key="p256")


def from_cluster(**changes: Any) -> dict[str, Any]:
    """A CSR object as the API server returns it (as an item of a list: no kind, no apiVersion)."""
    obj: dict[str, Any] = json.loads(manifest(csr(), username="dana", groups=["devs"], as_json=True))
    del obj["kind"], obj["apiVersion"]
    obj["metadata"]["uid"] = "uid-1"
    for path, value in changes.items():
        *parents, key = path.split("__")
        target = obj
        for parent in parents:
            target = target[parent]
        if value is ...:
            del target[key]
        else:
            target[key] = value
    return obj


def test_an_object_from_the_cluster_is_read_with_its_spec_annotations_and_status() -> None:
    obj = from_cluster(
        metadata__annotations={"csrgate.io/requester-email": "dana@example.com"},
        status={"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"},
    )
    read = read_csr_object(obj, "event", from_cluster=True)
    assert (read.name, read.uid, read.source) == ("alice", "uid-1", "event")
    assert read.annotations == {"csrgate.io/requester-email": "dana@example.com"}
    assert read.status.approved and read.status.issued
    assert read.spec_fingerprint == spec_fingerprint(obj["spec"])
    request = read.signing_request
    assert (request.name, request.uid, request.signer_name) == ("alice", "uid-1", "kubernetes.io/kube-apiserver-client")
    assert (request.usages, request.expiration_seconds, request.username, request.groups) == (
        ("client auth",),
        86400,
        "dana",
        ("devs",),
    )
    assert request.csr is not None and request.csr.subject.common_name == "dana" and request.malformed is None


def test_a_manifest_may_leave_out_what_only_the_api_server_sets() -> None:
    obj = yaml.safe_load(manifest(csr(), expiration_seconds=None))
    del obj["metadata"]
    read = read_csr_object(obj, "dana.yaml")
    assert (read.name, read.uid, read.annotations) == ("", "", {})
    assert read.status.conditions == () and not read.status.issued
    request = read.signing_request
    assert (request.username, request.groups, request.expiration_seconds, request.name) == (None, (), None, None)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"kind": "Pod"}, "kind is 'Pod', expected CertificateSigningRequest"),
        ({"apiVersion": "v1"}, "apiVersion is 'v1', expected certificates.k8s.io/v1"),
        ({"metadata": ...}, "metadata is missing"),
        ({"metadata": ["alice"]}, "metadata must be a mapping, not a list"),
        ({"spec": ...}, "spec is missing"),
        ({"spec": "LS0t"}, "spec must be a mapping, not a string"),
        ({"spec__request": ...}, "spec.request is missing"),
        ({"spec__request": 7}, "spec.request must be a string, not an integer"),
        ({"spec__request": ""}, "spec.request is empty"),
        ({"spec__signerName": ...}, "spec.signerName is missing"),
        ({"spec__signerName": ""}, f"spec.signerName must be 1 to {MAX_SIGNER_CHARS} characters"),
        (
            {"spec__signerName": "a/" + "b" * MAX_SIGNER_CHARS},
            f"spec.signerName must be 1 to {MAX_SIGNER_CHARS} characters",
        ),
        ({"spec__usages": "client auth"}, "spec.usages must be a list, not a string"),
        ({"spec__usages": ["client auth", 1]}, "spec.usages must be a list of strings"),
        ({"spec__groups": [None]}, "spec.groups must be a list of strings"),
        ({"spec__expirationSeconds": True}, "spec.expirationSeconds must be an integer, not a boolean"),
        ({"spec__expirationSeconds": "600"}, "spec.expirationSeconds must be an integer, not a string"),
        ({"spec__expirationSeconds": 600.0}, "spec.expirationSeconds must be an integer, not float"),
        ({"spec__username": {"name": "dana"}}, "spec.username must be a string, not a mapping"),
        (
            {"spec__username": "u" * (MAX_USERNAME_CHARS + 1)},
            f"spec.username must be at most {MAX_USERNAME_CHARS} characters",
        ),
        (
            {"spec__expirationSeconds": MAX_EXPIRATION_SECONDS + 1},
            f"spec.expirationSeconds must be at most {MAX_EXPIRATION_SECONDS} (an int32)",
        ),
        (
            {"spec__groups": ["g" * (MAX_GROUPS_CHARS // 2), "g" * (MAX_GROUPS_CHARS // 2 + 1)]},
            f"spec.groups must hold at most {MAX_GROUPS_CHARS} characters in all",
        ),
        ({"metadata__name": ...}, "metadata.name is missing"),
        ({"metadata__name": "n" * (MAX_NAME_CHARS + 1)}, f"metadata.name must be 1 to {MAX_NAME_CHARS} characters"),
        ({"metadata__uid": ...}, "metadata.uid is missing"),
        ({"metadata__uid": "u" * (MAX_UID_CHARS + 1)}, f"metadata.uid must be 1 to {MAX_UID_CHARS} characters"),
        ({"metadata__annotations": ["a"]}, "metadata.annotations must be a mapping, not a list"),
        ({"metadata__annotations": {"a": 1}}, "metadata.annotations must map strings to strings"),
        ({"metadata__annotations": {1: "a"}}, "metadata.annotations must map strings to strings"),
    ],
)
def test_a_field_of_the_wrong_shape_is_refused_naming_it(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(InputError) as refused:
        read_csr_object(from_cluster(**changes), "event", from_cluster=True)
    assert (refused.value.source, refused.value.problem) == ("event", problem)
    assert str(refused.value) == f"event: {problem}"


def test_the_shortest_names_the_api_server_allows_are_read() -> None:
    read = read_csr_object(from_cluster(metadata__name="a", metadata__uid="u"), "event", from_cluster=True)
    assert (read.name, read.uid) == ("a", "u")


def test_the_largest_values_csrgate_keeps_are_read() -> None:
    obj = from_cluster(
        spec__username="u" * MAX_USERNAME_CHARS,
        spec__groups=["g" * (MAX_GROUPS_CHARS // 2)] * 2,
        spec__expirationSeconds=MAX_EXPIRATION_SECONDS,
    )
    request = read_csr_object(obj, "event", from_cluster=True).signing_request
    assert len(request.username or "") == MAX_USERNAME_CHARS and request.expiration_seconds == MAX_EXPIRATION_SECONDS
    assert sum(len(group) for group in request.groups) == MAX_GROUPS_CHARS


def test_the_longest_names_the_api_server_allows_are_read() -> None:
    obj = from_cluster(metadata__name="n" * MAX_NAME_CHARS, metadata__uid="u" * MAX_UID_CHARS)
    obj["spec"]["signerName"] = "a/" + "b" * (MAX_SIGNER_CHARS - 2)
    read = read_csr_object(obj, "event", from_cluster=True)
    assert len(read.name) == MAX_NAME_CHARS and len(read.uid) == MAX_UID_CHARS


@pytest.mark.parametrize(("kind", "shown"), [(None, "missing"), (["x" * 100], repr(["x" * 100])[:80])])
def test_a_manifest_without_the_right_kind_is_refused_saying_what_it_has(kind: object, shown: str) -> None:
    obj = yaml.safe_load(manifest(csr()))
    obj["kind"] = kind
    with pytest.raises(InputError, match="expected CertificateSigningRequest") as refused:
        read_csr_object(obj, "dana.yaml")
    assert refused.value.problem == f"kind is {shown}, expected CertificateSigningRequest"
    obj = yaml.safe_load(manifest(csr()))
    del obj["apiVersion"]
    with pytest.raises(InputError, match="^dana.yaml: apiVersion is missing, expected certificates.k8s.io/v1$"):
        read_csr_object(obj, "dana.yaml")


@pytest.mark.parametrize("request_text", ["not base64!", base64.b64encode(b"hello").decode()])
def test_a_spec_request_csrgate_cannot_read_is_a_request_to_deny_not_an_error(request_text: str) -> None:
    read = read_csr_object(from_cluster(spec__request=request_text), "event", from_cluster=True)
    request = read.signing_request
    assert request.csr is None and request.malformed
    assert (request.name, request.username) == ("alice", "dana")


@pytest.mark.parametrize("request_text", ["%%%", "LS0t\u00e9LS0t", "LS0t\nLS0t\u2028"])
def test_a_spec_request_that_is_not_base64_says_so(request_text: str) -> None:
    read = read_csr_object(from_cluster(spec__request=request_text), "event", from_cluster=True)
    assert read.signing_request.malformed == "spec.request is not base64"


def test_base64_wrapped_over_lines_is_read() -> None:
    wrapped = base64.encodebytes(csr()).decode("ascii")
    assert "\n" in wrapped.strip()
    read = read_csr_object(from_cluster(spec__request=wrapped), "event", from_cluster=True)
    assert read.signing_request.csr is not None


def test_the_fingerprint_covers_what_is_asked_and_who_asked_only() -> None:
    # A fingerprint stored before an upgrade must still match after it: the digest itself is the contract.
    assert spec_fingerprint(SPEC) == "6be26d9439c6048522e7bec0fd0cca8f30157cea6946c10322c53d0ed00f031d"
    assert spec_fingerprint({}) == "8ee620e6cdae51ce6c8731c51ed8fafb36075e6218c607c32315191135ad5d00"
    assert spec_fingerprint(dict(reversed(list(SPEC.items()))) | {"uid": "x", "extra": {}}) == spec_fingerprint(SPEC)
    for key in SPEC:
        assert spec_fingerprint(SPEC | {key: "changed"}) != spec_fingerprint(SPEC), key


def test_overrides_replace_only_the_fields_given() -> None:
    request = SigningRequest(csr=None, malformed="x", signer_name="a/b", username="dana")
    changed = request.with_overrides(signer_name="c/d", username=None, usages=("client auth",))
    assert changed == SigningRequest(
        csr=None, malformed="x", signer_name="c/d", username="dana", usages=("client auth",)
    )


@pytest.mark.parametrize("written", [bytes, base64.b64encode, base64.encodebytes, manifest])
def test_a_csr_is_read_as_pem_its_base64_or_a_manifest(written: Callable[[bytes], bytes]) -> None:
    request = read_signing_request(written(csr()), "dana.csr")
    assert request.csr is not None and request.csr.subject.common_name == "dana"


def test_a_manifests_spec_comes_with_its_csr() -> None:
    request = read_signing_request(manifest(csr(), username="dana"), "dana.yaml")
    assert (request.signer_name, request.username) == ("kubernetes.io/kube-apiserver-client", "dana")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty input"),
        (b" \n\t", "empty input"),
        (b"x" * (MAX_INPUT_BYTES + 1), f"larger than {MAX_INPUT_BYTES // 1024} KiB; a CSR is a few KiB at most"),
        (b"\x30\x82\x01\xff", "not text; pass a PEM CSR (openssl req -outform PEM), not DER"),
        (b"- a\n- b\n", "not a CSR: expected a PEM CERTIFICATE REQUEST, its base64, or a manifest"),
        (base64.b64encode(b"hello"), "not a CSR: expected a PEM CERTIFICATE REQUEST, its base64, or a manifest"),
    ],
)
def test_input_that_is_no_csr_is_refused_saying_what_to_pass(data: bytes, problem: str) -> None:
    with pytest.raises(InputError) as refused:
        read_signing_request(data, "input")
    assert (refused.value.source, refused.value.problem) == ("input", problem)


def test_a_pem_block_of_another_kind_is_refused_naming_the_input() -> None:
    certificate = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    for data in (certificate, base64.b64encode(certificate)):
        with pytest.raises(InputError) as refused:
            read_signing_request(data, "input")
        assert refused.value.source == "input"
        assert refused.value.problem == "the PEM block is a CERTIFICATE, expected a CERTIFICATE REQUEST"


def test_a_manifest_of_another_kind_is_refused_naming_the_input() -> None:
    pod = manifest(csr()).replace(b"kind: CertificateSigningRequest", b"kind: Pod")
    with pytest.raises(InputError, match="^input: kind is 'Pod', expected CertificateSigningRequest$"):
        read_signing_request(pod, "input")


def test_a_csr_not_framed_as_kubernetes_reads_it_is_a_request_to_deny_saying_why() -> None:
    request = read_signing_request(b"junk\n" + csr(), "input")
    assert request.csr is None
    assert request.malformed is not None and request.malformed.startswith("something comes before the BEGIN line")


def test_text_that_is_not_even_yaml_is_refused_as_neither_of_the_three() -> None:
    with pytest.raises(InputError, match=r"^input: not a CSR: neither PEM, base64 of PEM, nor a manifest \(.+\)$"):
        read_signing_request(b"a: [unclosed", "input")


def test_the_largest_input_allowed_is_read() -> None:
    pem = csr()
    padded = pem + b" " * (MAX_INPUT_BYTES - len(pem))
    assert read_signing_request(padded, "input").csr is not None
