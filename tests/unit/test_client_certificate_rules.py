"""Each policy rule for kubernetes.io/kube-apiserver-client, on real CSRs: the verdict and the finding codes a
requester would see, names that look alike among them."""

from __future__ import annotations

import pytest
from policy_verdicts import CLIENT, FIXTURES, app_verdict, verdict_for

from csrgate.domain.cluster import ClusterKind
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import default_policy, load_policy
from csrgate.domain.request import read_signing_request
from csrgate.domain.verdict import evaluate
from devstack.csrs import make_csr


def test_a_clean_client_request_goes_to_a_person() -> None:
    verdict = verdict_for(make_csr("alice", orgs=["developers"]))
    assert verdict.outcome is Outcome.REVIEW
    assert verdict.findings == ()


def test_the_docs_client_manifest_goes_to_a_person() -> None:
    request = read_signing_request((FIXTURES / "docs-myuser.yaml").read_bytes(), "docs-myuser.yaml")
    assert evaluate(request, default_policy()).outcome is Outcome.REVIEW


def test_client_certificates_are_denied_on_eks_with_the_reason() -> None:
    verdict = verdict_for(make_csr("alice"), cluster_kind=ClusterKind.EKS)
    assert verdict.outcome is Outcome.DENY
    assert verdict.codes == ("signer-unsupported-on-eks",)
    assert "Client certificate signing is not supported" in verdict.findings[0].message


def test_a_signature_that_does_not_verify_is_denied() -> None:
    verdict = verdict_for(make_csr("alice", tamper=True))
    assert verdict.outcome is Outcome.DENY
    assert verdict.codes == ("bad-signature",)


def test_a_sha1_signature_is_denied_as_weak() -> None:
    csr_pem = (FIXTURES / "sha1-signed.csr").read_bytes()  # made with openssl req -sha1
    verdict = verdict_for(csr_pem)
    assert verdict.codes == ("weak-signature",)


@pytest.mark.parametrize(
    ("key", "codes"),
    [
        ("rsa1024", ("weak-key",)),
        ("p224", ("weak-key",)),
        ("dsa2048", ("bad-signature", "weak-key")),  # Kubernetes cannot verify DSA signatures either
        ("p192", ("malformed-request",)),  # Go cannot read the curve at all
        ("ed448", ("malformed-request",)),  # nor Ed448 signatures
    ],
)
def test_weak_keys_are_denied(key: str, codes: tuple[str, ...]) -> None:
    verdict = verdict_for(make_csr("alice", key=key))
    assert verdict.outcome is Outcome.DENY
    assert verdict.codes == codes


@pytest.mark.parametrize("key", ["rsa2048", "rsa4096", "p256", "p384", "ed25519"])
def test_strong_keys_pass(key: str) -> None:
    assert verdict_for(make_csr("alice", key=key)).outcome is Outcome.REVIEW


def test_a_raised_rsa_floor_denies_2048_bit_keys() -> None:
    policy = load_policy("keys: {rsaMinBits: 3072}", "p.yaml")
    assert verdict_for(make_csr("alice"), policy=policy).codes == ("weak-key",)


def test_a_missing_common_name_is_denied() -> None:
    assert verdict_for(make_csr(None, orgs=["dev"])).codes == ("missing-common-name",)


@pytest.mark.parametrize(
    "cn",
    [
        pytest.param(["alice", "bob"], id="two CNs"),
        pytest.param("a" * 65, id="CN over 64 characters"),
        pytest.param("alice\x1b[31m", id="terminal escape"),
        pytest.param("alice\nbob", id="newline"),
        pytest.param("admin\u202egnp.exe", id="right-to-left override"),
        pytest.param("ali\u200bce", id="zero-width space"),
    ],
)
def test_odd_subjects_are_denied_as_invalid(cn: str | list[str]) -> None:
    verdict = verdict_for(make_csr(cn))
    assert verdict.outcome is Outcome.DENY
    assert "invalid-subject" in verdict.codes


def test_a_group_list_too_long_to_read_is_denied() -> None:
    many = [f"team-{n:02d}" for n in range(21)]
    assert "invalid-subject" in verdict_for(make_csr("alice", orgs=many)).codes
    padded = ["x" * 60] * 7 + ["platform-admins"]  # 435 characters: the last group would be off-screen
    assert "invalid-subject" in verdict_for(make_csr("alice", orgs=padded)).codes


def test_too_many_sans_are_denied() -> None:
    names = [f"svc-{n}.payments.svc" for n in range(51)]
    verdict = app_verdict(make_csr("svc", dns=names, key="p256"))
    assert "san-not-allowed" in verdict.codes


def test_hidden_characters_in_groups_are_invalid_too() -> None:
    assert "invalid-subject" in verdict_for(make_csr("alice", orgs=["dev\x00ops"])).codes


@pytest.mark.parametrize("group", ["system:masters", "kubeadm:cluster-admins", "system:nodes", "system:anything"])
def test_privileged_and_system_groups_are_denied(group: str) -> None:
    verdict = verdict_for(make_csr("alice", orgs=["developers", group]))
    assert verdict.codes == ("forbidden-group",)
    assert group in verdict.findings[0].message


def test_a_policy_can_forbid_more_groups() -> None:
    policy = load_policy(f"signers: {{{CLIENT}: {{forbiddenGroups: [cluster-admins]}}}}", "p.yaml")
    assert verdict_for(make_csr("alice", orgs=["cluster-admins"]), policy=policy).codes == ("forbidden-group",)


@pytest.mark.parametrize("cn", ["system:admin", "system:kube-controller-manager", "system:node:worker-1"])
def test_reserved_usernames_are_denied_on_client_certificates(cn: str) -> None:
    assert verdict_for(make_csr(cn)).codes == ("reserved-username",)


@pytest.mark.parametrize("usage", ["server auth", "code signing", "cert sign", "any", "frobnicate"])
def test_usages_outside_the_client_set_are_denied(usage: str) -> None:
    verdict = verdict_for(make_csr("alice"), usages=("client auth", usage))
    assert verdict.codes == ("usage-not-allowed",)


def test_optional_client_usages_pass() -> None:
    usages = ("digital signature", "key encipherment", "client auth")
    assert verdict_for(make_csr("alice"), usages=usages).outcome is Outcome.REVIEW


def test_a_client_request_without_client_auth_is_denied() -> None:
    verdict = verdict_for(make_csr("alice"), usages=("digital signature",))
    assert verdict.codes == ("missing-usage",)
    assert "'client auth'" in verdict.findings[0].message


@pytest.mark.parametrize(
    "sans",
    [{"dns": ["alice.example.com"]}, {"ips": ["10.0.0.1"]}, {"emails": ["a@example.com"]}, {"uris": ["spiffe://x/y"]}],
)
def test_client_certificates_carry_no_sans(sans: dict[str, list[str]]) -> None:
    assert verdict_for(make_csr("alice", **sans)).codes == ("san-not-allowed",)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "codes"),
    [
        (None, ("expiration-unset",)),
        (599, ("expiration-too-short",)),
        (-1, ("expiration-too-short",)),
        (600, ()),
        (30 * 86400, ()),
        (30 * 86400 + 1, ("expiration-too-long",)),
    ],
)
def test_client_certificate_lifetime(seconds: int | None, codes: tuple[str, ...]) -> None:
    assert verdict_for(make_csr("alice"), expiration_seconds=seconds).codes == codes


def test_several_problems_are_all_reported() -> None:
    verdict = verdict_for(make_csr("system:evil", orgs=["system:masters"], key="rsa1024"), expiration_seconds=None)
    assert verdict.outcome is Outcome.DENY
    assert set(verdict.codes) == {"weak-key", "reserved-username", "forbidden-group", "expiration-unset"}


def test_a_malformed_csr_is_denied_with_a_single_reason() -> None:
    from devstack.csrs import pem

    verdict = verdict_for(pem(b"\x30\x00"))
    assert verdict.outcome is Outcome.DENY
    assert verdict.codes == ("malformed-request",)
    assert "create the CSR again" in verdict.findings[0].message


# --- names that look alike ------------------------------------------------------------------------------------

UNICODE_SUBJECTS = f"signers: {{{CLIENT}: {{allowNonAsciiSubject: true}}}}"


@pytest.mark.parametrize(
    ("cn", "orgs"),
    [
        ("\u0430dmin", []),  # Cyrillic a
        ("alice", ["system\u200b:masters"]),  # a zero-width space inside a forbidden group
        ("j\u00fcrgen", []),
        ("\uff41lice", []),  # fullwidth a
    ],
)
def test_names_are_printable_ascii_by_default(cn: str, orgs: list[str]) -> None:
    verdict = verdict_for(make_csr(cn, orgs=orgs))
    assert verdict.outcome is Outcome.DENY and "invalid-subject" in verdict.codes


def test_a_non_ascii_name_is_shown_with_its_code_points() -> None:
    [finding] = verdict_for(make_csr("j\u00fcrgen")).findings
    assert "j\u00fcrgen [U+00FC]" in finding.message


@pytest.mark.parametrize(
    "cn",
    [
        "\u0430dmin",  # Latin mixed with a Cyrillic look-alike
        "\uff41lice",  # a fullwidth letter stands for an ASCII one
        "ad\u115fmin",  # a Hangul filler renders as nothing
        "ali\u034fce",  # so does the combining grapheme joiner
        "alice\ufe0f",  # and a variation selector
    ],
)
def test_a_policy_allowing_other_scripts_still_refuses_look_alikes(cn: str) -> None:
    verdict = verdict_for(make_csr(cn), policy=load_policy(UNICODE_SUBJECTS, "p"))
    assert verdict.outcome is Outcome.DENY and "invalid-subject" in verdict.codes


@pytest.mark.parametrize("cn", ["j\u00fcrgen", "\u0438\u0432\u0430\u043d", "\u5f20\u4f1f"])
def test_a_policy_allowing_other_scripts_lets_real_names_through_to_a_person(cn: str) -> None:
    assert verdict_for(make_csr(cn), policy=load_policy(UNICODE_SUBJECTS, "p")).outcome is Outcome.REVIEW
