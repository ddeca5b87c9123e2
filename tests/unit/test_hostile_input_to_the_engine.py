"""Whatever arrives, the engine answers with a verdict or a typed error: never an exception."""

from __future__ import annotations

import base64
from typing import Any

from hostile_values import JSON_VALUES, POLICY, REAL_DER, REAL_PEM, SIGNERS
from hypothesis import example, given, settings
from hypothesis import strategies as st

from csrgate.domain.cluster import ClusterKind
from csrgate.domain.errors import InputError
from csrgate.domain.outcome import Outcome
from csrgate.domain.request import MAX_INPUT_BYTES, SigningRequest, read_csr_object, read_signing_request
from csrgate.domain.verdict import Verdict, evaluate
from devstack.csrs import make_csr, manifest, pem

SUBJECT_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=80)


def verdicts_for(request: SigningRequest) -> list[Verdict]:
    """The request judged under every signer and cluster kind."""
    return [
        evaluate(request.with_overrides(signer_name=signer, expiration_seconds=3600), POLICY, kind)
        for signer in SIGNERS
        for kind in ClusterKind
    ]


def read_and_judge(data: bytes) -> None:
    """Read the input; a typed InputError is an acceptable answer, anything else raised is a bug."""
    try:
        request = read_signing_request(data, "fuzz")
    except InputError as exc:
        assert str(exc).startswith("fuzz: ")
        return
    for verdict in verdicts_for(request):
        assert verdict.outcome in Outcome
        if request.csr is None and verdict.outcome is not Outcome.IGNORE:
            assert verdict.codes == ("malformed-request",)


@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    read_and_judge(data)


@given(st.integers(min_value=0, max_value=len(REAL_PEM)))
def test_truncated_pem(cut: int) -> None:
    read_and_judge(REAL_PEM[:cut])


@given(st.integers(min_value=0, max_value=len(REAL_DER) - 1), st.integers(min_value=1, max_value=255))
@example(position=1, flip=0x7F)  # the outer SEQUENCE length
@example(position=9, flip=0x01)  # the version: cryptography raises InvalidVersion, not ValueError
def test_corrupted_der_in_a_valid_pem_block(position: int, flip: int) -> None:
    der = bytearray(REAL_DER)
    der[position] ^= flip
    read_and_judge(pem(bytes(der)))
    read_and_judge(manifest(pem(bytes(der))))


@given(st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789"), min_size=1, max_size=40))
def test_pem_with_any_label(label: str) -> None:
    read_and_judge(pem(REAL_DER, label=label))


@given(st.text(max_size=2000))
def test_random_text_and_its_base64(text: str) -> None:
    read_and_judge(text.encode("utf-8", errors="surrogatepass"))
    read_and_judge(base64.b64encode(text.encode("utf-8", errors="surrogatepass")))


@given(
    st.dictionaries(
        st.sampled_from(["request", "signerName", "usages", "expirationSeconds", "username", "groups", "extra"]),
        JSON_VALUES,
    ),
    JSON_VALUES,
    st.booleans(),
)
def test_objects_with_any_spec(spec: dict[str, Any], metadata: Any, from_cluster: bool) -> None:
    obj = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": metadata}
    obj["spec"] = spec
    try:
        request = read_csr_object(obj, "event", from_cluster=from_cluster).signing_request
    except InputError:
        return
    assert all(verdict.outcome in Outcome for verdict in verdicts_for(request))


@given(
    st.lists(SUBJECT_TEXT, min_size=0, max_size=3),
    st.lists(SUBJECT_TEXT, max_size=4),
)
def test_random_subjects(common_names: list[str], organizations: list[str]) -> None:
    request = read_signing_request(make_csr(common_names, orgs=organizations, key="p256"), "fuzz")
    assert request.csr is not None
    assert request.csr.subject.common_names == tuple(common_names)
    assert request.csr.subject.organizations == tuple(organizations)
    for verdict in verdicts_for(request):
        assert verdict.outcome in Outcome


@settings(max_examples=5, deadline=None)
@given(st.sampled_from([b"A", b"[", b"{a: ", b"-----BEGIN CERTIFICATE REQUEST-----\n", b"\n"]))
def test_huge_inputs(unit: bytes) -> None:
    for size in (MAX_INPUT_BYTES - 1, MAX_INPUT_BYTES, MAX_INPUT_BYTES * 4):
        read_and_judge((unit * (size // len(unit) + 1))[:size])


def test_deeply_nested_yaml_is_an_input_error() -> None:
    read_and_judge(b"[" * 50_000 + b"]" * 50_000)
