"""The policy checks on client certificate requests (kubernetes.io/kube-apiserver-client): for each problem a
requester can make, the finding they read, with its code, severity and exact wording, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from csrgate.domain.cluster import ClusterKind
from csrgate.domain.findings import Code, Finding, Severity
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import Policy, default_policy, load_policy
from csrgate.domain.request import read_signing_request
from csrgate.domain.verdict import Verdict, evaluate
from devstack.csrs import make_csr, manifest

FIXTURES = Path(__file__).parents[2] / "fixtures"
CLIENT = "kubernetes.io/kube-apiserver-client"
KEY_FIX = "use RSA with at least 2048 bits or EC P-256 (openssl ecparam -name prime256v1 -genkey)"


def client_verdict(
    csr_pem: bytes,
    policy: Policy | None = None,
    kind: ClusterKind = ClusterKind.GENERIC,
    **spec: object,
) -> Verdict:
    """The verdict on a client certificate request for the CSR, as `kubectl apply` would create it."""
    request = read_signing_request(manifest(csr_pem, **spec), "alice.yaml")  # type: ignore[arg-type]
    return evaluate(request, policy or default_policy(), kind)


def denied(code: Code, message: str) -> Finding:
    return Finding(code, Severity.ERROR, message)


def test_a_clean_client_request_goes_to_a_person_with_nothing_to_fix() -> None:
    # GIVEN a CSR for alice in a team group, on a generic cluster
    verdict = client_verdict(make_csr("alice", orgs=["developers"], key="p256"))
    # THEN a person decides (client certificates are never approved automatically), with no findings
    assert verdict == Verdict(Outcome.REVIEW, ())


def test_eks_never_signs_client_certificates() -> None:
    verdict = client_verdict(make_csr("alice", key="p256"), kind=ClusterKind.EKS)
    assert verdict == Verdict(
        Outcome.DENY,
        (
            denied(
                Code.SIGNER_UNSUPPORTED_ON_EKS,
                "EKS never issues certificates for kubernetes.io/kube-apiserver-client (the EKS user guide: "
                '"Client certificate signing is not supported"), so this request could be approved but never '
                "signed; sign in with IAM through an EKS access entry instead, and ask for time-boxed access in "
                "Slack with /csrgate access",
            ),
        ),
    )


def test_a_sha1_signature_is_refused_as_a_broken_hash() -> None:
    # GIVEN a CSR made with `openssl req -sha1`
    verdict = client_verdict((FIXTURES / "sha1-signed.csr").read_bytes())
    assert verdict.findings == (
        denied(
            Code.WEAK_SIGNATURE,
            "the CSR is signed with sha1WithRSAEncryption, a broken hash; create it again with SHA-256 "
            "(openssl req -sha256)",
        ),
    )


def test_a_signature_that_does_not_verify_proves_nothing() -> None:
    verdict = client_verdict(make_csr("alice", key="p256", tamper=True))
    assert verdict.findings == (
        denied(
            Code.BAD_SIGNATURE,
            "the CSR's signature does not verify, so it does not prove possession of the private key; "
            "create the CSR again from your key (openssl req -new -key KEY)",
        ),
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("rsa1024", f"the RSA key has 1024 bits, below 2048; {KEY_FIX}"),
        ("p224", f"the EC curve secp224r1 has 224 bits, below 256; {KEY_FIX}"),
    ],
)
def test_keys_below_the_floor_are_refused_with_their_size(key: str, message: str) -> None:
    assert client_verdict(make_csr("alice", key=key)).findings == (denied(Code.WEAK_KEY, message),)


@pytest.mark.parametrize("key", ["rsa2048", "p256", "p384", "ed25519"])
def test_keys_at_or_above_the_floor_pass(key: str) -> None:
    assert client_verdict(make_csr("alice", key=key)).findings == ()


def test_an_rsa_key_with_a_small_public_exponent_is_refused() -> None:
    # GIVEN a 2048-bit RSA key whose public exponent is 3 (RSA with e=3 invites signature forgeries)
    key = rsa.generate_private_key(3, 2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    verdict = client_verdict(csr.public_bytes(serialization.Encoding.PEM))
    assert verdict.findings == (denied(Code.WEAK_KEY, f"the RSA key's public exponent is 3, below 65537; {KEY_FIX}"),)


def test_a_policy_can_raise_the_key_floors() -> None:
    # GIVEN a policy asking for RSA 3072 and EC P-384
    policy = load_policy("keys: {rsaMinBits: 3072, ecMinBits: 384}", "keys.yaml")
    fix = "use RSA with at least 3072 bits or EC P-256 (openssl ecparam -name prime256v1 -genkey)"
    # THEN RSA 2048 and P-256 fall below them, and P-384 does not
    assert client_verdict(make_csr("alice"), policy).findings == (
        denied(Code.WEAK_KEY, f"the RSA key has 2048 bits, below 3072; {fix}"),
    )
    assert client_verdict(make_csr("alice", key="p256"), policy).findings == (
        denied(Code.WEAK_KEY, f"the EC curve secp256r1 has 256 bits, below 384; {fix}"),
    )
    assert client_verdict(make_csr("alice", key="p384"), policy).findings == ()


def test_a_policy_can_narrow_the_key_types() -> None:
    policy = load_policy("keys: {allowedTypes: [RSA]}", "keys.yaml")
    verdict = client_verdict(make_csr("alice", key="p256"), policy)
    assert verdict.findings == (denied(Code.WEAK_KEY, f"EC secp256r1 (256 bits) keys are not accepted; {KEY_FIX}"),)


# --- the subject: what approvers read -------------------------------------------------------------------------


def test_control_characters_in_the_cn_are_refused_twice_over() -> None:
    # GIVEN a CN carrying a terminal escape, which would recolour an approver's terminal
    verdict = client_verdict(make_csr("alice\x1b[31m", key="p256"))
    invisible, not_ascii = verdict.findings
    assert invisible == denied(
        Code.INVALID_SUBJECT,
        "the subject contains control, invisible or non-printable characters; use plain printable text",
    )
    # AND the CN is shown with the escape written out, never as the raw control character
    assert (not_ascii.code, not_ascii.severity) == (Code.INVALID_SUBJECT, Severity.ERROR)
    assert not_ascii.message.startswith("the CN 'alice")
    assert "x1b[31m" in not_ascii.message and "\x1b" not in not_ascii.message


def test_a_non_ascii_group_is_named_as_an_o_value_with_its_code_points() -> None:
    verdict = client_verdict(make_csr("alice", orgs=["d\u00e9v"], key="p256"))
    assert verdict.findings == (
        denied(
            Code.INVALID_SUBJECT,
            "the O 'd\u00e9v [U+00E9]' is not printable ASCII, so it could pass for another name; "
            "use ASCII letters, digits and punctuation",
        ),
    )


UNICODE_NAMES = f"signers: {{{CLIENT}: {{allowNonAsciiSubject: true}}}}"


def test_a_policy_allowing_other_scripts_refuses_look_alikes_once() -> None:
    policy = load_policy(UNICODE_NAMES, "names.yaml")
    # GIVEN a CN mixing Latin with a Cyrillic a, which reads as "admin"
    assert client_verdict(make_csr("\u0430dmin", key="p256"), policy).findings == (
        denied(
            Code.INVALID_SUBJECT,
            "the CN '\u0430dmin [U+0430]' mixes Latin letters with letters of a script that has look-alikes of them; "
            "use plain text",
        ),
    )
    # AND a zero-width space is reported once, as invisible, not again as a look-alike
    assert client_verdict(make_csr("ali\u200bce", key="p256"), policy).findings == (
        denied(
            Code.INVALID_SUBJECT,
            "the subject contains control, invisible or non-printable characters; use plain printable text",
        ),
    )
    # AND a real name in another script goes to a person like any other
    assert client_verdict(make_csr("j\u00fcrgen", key="p256"), policy) == Verdict(Outcome.REVIEW, ())


@pytest.mark.parametrize(
    ("orgs", "fits"),
    [
        ([f"team-{n:02d}" for n in range(20)], True),  # twenty groups
        ([f"team-{n:02d}" for n in range(21)], False),
        (["g" * 50] * 8, True),  # 400 characters in all
        (["g" * 50] * 7 + ["g" * 51], False),
    ],
)
def test_at_most_twenty_groups_and_four_hundred_characters_of_them(orgs: list[str], fits: bool) -> None:
    verdict = client_verdict(make_csr("alice", orgs=orgs, key="p256"))
    too_many = denied(
        Code.INVALID_SUBJECT,
        f"the subject asks for {len(orgs)} groups; at most 20 (and 400 characters in all) so that approvers "
        "can read every one",
    )
    assert verdict.findings == (() if fits else (too_many,))


def test_two_cns_are_refused() -> None:
    verdict = client_verdict(make_csr(["alice", "bob"], key="p256"))
    assert verdict.findings == (denied(Code.INVALID_SUBJECT, "the subject has 2 CNs; give exactly one"),)


@pytest.mark.parametrize(("length", "fits"), [(64, True), (65, False)])
def test_a_cn_may_be_64_characters_long(length: int, fits: bool) -> None:
    verdict = client_verdict(make_csr("a" * length, key="p256"))
    too_long = denied(Code.INVALID_SUBJECT, "the CN is longer than 64 characters")
    assert verdict.findings == (() if fits else (too_long,))


@pytest.mark.parametrize("cn", [None, "   "])
def test_a_client_certificate_needs_a_cn_to_name_its_user(cn: str | None) -> None:
    verdict = client_verdict(make_csr(cn, orgs=["developers"], key="p256"))
    assert verdict.findings == (
        denied(
            Code.MISSING_COMMON_NAME,
            "the subject has no CN; set it to the user name the certificate is for (-subj '/CN=NAME')",
        ),
    )


def test_kubernetes_own_user_names_are_reserved() -> None:
    verdict = client_verdict(make_csr("system:kube-scheduler", key="p256"))
    assert verdict.findings == (
        denied(
            Code.RESERVED_USERNAME,
            "user names starting with 'system:' are reserved for Kubernetes components; choose a personal name",
        ),
    )


def test_privileged_and_system_groups_are_refused_once_each() -> None:
    # GIVEN a request for cluster-admin rights, the masters group asked for twice, and a system group
    orgs = ["developers", "system:masters", "system:masters", "kubeadm:cluster-admins", "system:nodes"]
    verdict = client_verdict(make_csr("alice", orgs=orgs, key="p256"))
    hint = "groups come from the O values of the CSR subject"
    assert verdict.findings == (
        denied(
            Code.FORBIDDEN_GROUP,
            f"the group 'system:masters' may not be requested ({hint}); remove that O value and ask for RBAC "
            "bindings instead",
        ),
        denied(
            Code.FORBIDDEN_GROUP,
            f"the group 'kubeadm:cluster-admins' may not be requested ({hint}); remove that O value and ask for "
            "RBAC bindings instead",
        ),
        denied(
            Code.FORBIDDEN_GROUP, f"the group 'system:nodes' is reserved for Kubernetes ({hint}); remove that O value"
        ),
    )


def test_usages_outside_the_signer_are_named_with_what_is_allowed() -> None:
    verdict = client_verdict(make_csr("alice", key="p256"), usages=("client auth", "server auth", "server auth", "any"))
    assert verdict.findings == (
        denied(
            Code.USAGE_NOT_ALLOWED,
            "kubernetes.io/kube-apiserver-client does not allow the usages 'server auth', 'any'; remove them from "
            "spec.usages (allowed: 'client auth', 'digital signature', 'key encipherment')",
        ),
    )


def test_a_client_certificate_must_be_for_client_auth() -> None:
    verdict = client_verdict(make_csr("alice", key="p256"), usages=("digital signature",))
    assert verdict.findings == (denied(Code.MISSING_USAGE, "add 'client auth' to spec.usages"),)


@pytest.mark.parametrize(
    ("sans", "kind"),
    [({"dns": ["alice.example"]}, "DNS"), ({"ips": ["10.0.0.1"]}, "IP"), ({"emails": ["a@x.example"]}, "EMAIL")],
)
def test_client_certificates_name_no_hosts(sans: dict[str, list[str]], kind: str) -> None:
    verdict = client_verdict(make_csr("alice", key="p256", **sans))  # type: ignore[arg-type]
    assert verdict.findings == (
        denied(Code.SAN_NOT_ALLOWED, f"{kind} names are not allowed for kubernetes.io/kube-apiserver-client"),
    )


# --- the lifetime ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "finding"),
    [
        (
            None,
            denied(
                Code.EXPIRATION_UNSET,
                "set spec.expirationSeconds (at most 2592000, 30 days): client certificates cannot be revoked",
            ),
        ),
        (599, denied(Code.EXPIRATION_TOO_SHORT, "expirationSeconds is 599; Kubernetes requires at least 600")),
        (600, None),
        (2592000, None),
        (
            2592001,
            denied(
                Code.EXPIRATION_TOO_LONG,
                "expirationSeconds is 2592001 (30 days 1 second); ask for at most 2592000 (30 days)",
            ),
        ),
    ],
)
def test_a_client_certificate_lives_between_ten_minutes_and_thirty_days(
    seconds: int | None, finding: Finding | None
) -> None:
    verdict = client_verdict(make_csr("alice", key="p256"), expiration_seconds=seconds)
    assert verdict.findings == (() if finding is None else (finding,))


def test_without_a_maximum_the_missing_lifetime_message_names_none() -> None:
    policy = load_policy(
        "signers: {example.com/robots: {allowedUsages: [client auth], expirationRequired: true}}", "robots.yaml"
    )
    verdict = client_verdict(
        make_csr("robot", key="p256"), policy, signer="example.com/robots", expiration_seconds=None
    )
    assert verdict.findings == (
        denied(Code.EXPIRATION_UNSET, "set spec.expirationSeconds: client certificates cannot be revoked"),
    )
    # AND any lifetime from ten minutes up passes
    long_lived = client_verdict(
        make_csr("robot", key="p256"), policy, signer="example.com/robots", expiration_seconds=10**8
    )
    assert long_lived.findings == ()
