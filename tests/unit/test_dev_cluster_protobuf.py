"""The dev cluster's reader for Kubernetes protobuf bodies: what kubectl sends decodes to the JSON shape, and
anything else is a ProtobufError (the server's 400), never another exception."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.cluster.protobuf import ProtobufError, decode_message, read_envelope
from devstack.cluster.schema import CSR, SELF_SUBJECT_REVIEW

MAGIC = b"k8s\x00"


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, payload: bytes | str | int) -> bytes:
    """A field as the Go marshaller writes it: varint for ints, length-delimited for the rest."""
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(data)) + data


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = field(1, api_version) + field(2, kind)
    return MAGIC + field(1, type_meta) + field(2, raw) + field(3, "") + field(4, "")


REQUEST = b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"


def kubectl_approval_body() -> bytes:
    """What `kubectl certificate approve` PUTs: the whole CSR with one condition appended."""
    metadata = (
        field(1, "myuser") + field(3, "") + field(5, "5c4e-uid") + field(6, "42")
        + field(8, field(1, 1_795_000_000))  # creationTimestamp
        + field(12, field(1, "team") + field(2, "payments"))  # annotations map entry
    )  # fmt: skip
    spec = (
        field(1, REQUEST) + field(2, "csrgate-admin") + field(4, "system:masters") + field(4, "system:authenticated")
        + field(5, "client auth") + field(6, field(1, "scopes") + field(2, field(1, "a") + field(1, "b")))
        + field(7, "kubernetes.io/kube-apiserver-client") + field(8, 86400)
    )  # fmt: skip
    condition = (
        field(1, "Approved") + field(2, "KubectlApprove")
        + field(3, "This CSR was approved by kubectl certificate approve.")
        + field(4, field(1, 1_795_000_060) + field(2, 123_000_000)) + field(5, b"") + field(6, "True")
    )  # fmt: skip
    csr = field(1, metadata) + field(2, spec) + field(3, field(1, condition)) + field(99, "ignored")
    return envelope("certificates.k8s.io/v1", "CertificateSigningRequest", csr)


def test_a_kubectl_approval_body_decodes_to_the_json_shape() -> None:
    api_version, kind, raw = read_envelope(kubectl_approval_body())

    decoded = decode_message(raw, CSR)

    assert (api_version, kind) == ("certificates.k8s.io/v1", "CertificateSigningRequest")
    assert decoded == {
        "metadata": {
            "name": "myuser",
            "namespace": "",
            "uid": "5c4e-uid",
            "resourceVersion": "42",
            "creationTimestamp": "2026-11-18T11:06:40Z",
            "annotations": {"team": "payments"},
        },
        "spec": {
            "request": base64.b64encode(REQUEST).decode(),
            "username": "csrgate-admin",
            "groups": ["system:masters", "system:authenticated"],
            "usages": ["client auth"],
            "extra": {"scopes": ["a", "b"]},
            "signerName": "kubernetes.io/kube-apiserver-client",
            "expirationSeconds": 86400,
        },
        "status": {
            "conditions": [
                {
                    "type": "Approved",
                    "reason": "KubectlApprove",
                    "message": "This CSR was approved by kubectl certificate approve.",
                    "lastUpdateTime": "2026-11-18T11:07:40Z",  # second precision, as metav1.Time in JSON
                    "status": "True",
                }  # the empty lastTransitionTime is Go's zero time: absent, for the server to fill
            ]
        },
    }


def test_a_whoami_body_is_a_self_subject_review() -> None:
    body = envelope("authentication.k8s.io/v1", "SelfSubjectReview", field(1, b"") + field(2, b""))

    api_version, kind, raw = read_envelope(body)

    assert (api_version, kind) == ("authentication.k8s.io/v1", "SelfSubjectReview")
    assert decode_message(raw, SELF_SUBJECT_REVIEW) == {"metadata": {}, "status": {}}


def test_negative_int32_and_gos_zero_time_read_as_go_reads_them() -> None:
    spec_and_meta = field(1, field(8, field(1, -62135596800))) + field(2, field(8, -1))

    decoded = decode_message(spec_and_meta, CSR)

    assert decoded == {"metadata": {}, "spec": {"expirationSeconds": -1}}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"\x0a\x05k8s", "magic"),
        (MAGIC + b"\x12\x10short", "claims 16 bytes"),
        (MAGIC + b"\x0b", "wire type 3"),
        (MAGIC + b"\x08" + b"\xff" * 11, "varint"),
        (MAGIC + b"\x1a\x04gzip", "content encoding 'gzip'"),
        (MAGIC + b"\x00\x01", "field number 0"),
    ],
)
def test_malformed_envelopes_are_protobuf_errors(body: bytes, problem: str) -> None:
    with pytest.raises(ProtobufError, match=problem):
        read_envelope(body)


def test_malformed_objects_are_protobuf_errors() -> None:
    with pytest.raises(ProtobufError, match="not UTF-8"):
        decode_message(field(1, field(1, b"\xff\xfe")), CSR)
    with pytest.raises(ProtobufError, match="must be a varint"):
        decode_message(field(2, field(8, "600")), CSR)
    with pytest.raises(ProtobufError, match="does not hold JSON"):
        decode_message(field(1, field(17, field(7, field(1, "{not json")))), CSR)
    with pytest.raises(ProtobufError, match="out of range"):
        decode_message(field(1, field(8, field(1, 10**15))), CSR)


@given(st.binary(max_size=400))
def test_any_bytes_decode_or_raise_protobuf_error_only(data: bytes) -> None:
    try:
        _, _, raw = read_envelope(MAGIC + data)
        decode_message(raw, CSR)
        decode_message(data, CSR)
    except ProtobufError:
        pass


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=2000), st.integers(0, 255)), max_size=8))
def test_a_corrupted_kubectl_body_decodes_or_raises_protobuf_error_only(edits: list[tuple[int, int]]) -> None:
    body = bytearray(kubectl_approval_body())
    for position, value in edits:
        body[position % len(body)] = value
    try:
        _, _, raw = read_envelope(bytes(body))
        decode_message(raw, CSR)
    except ProtobufError:
        pass
