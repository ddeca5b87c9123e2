"""Each policy rule, on real CSRs: the verdict and the finding codes a requester would see."""

from __future__ import annotations

from pathlib import Path

import pytest

from csrgate.domain.cluster import ClusterKind
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import Policy, default_policy, load_policy
from csrgate.domain.request import read_signing_request
from csrgate.domain.verdict import Verdict, evaluate
from devstack.csrs import make_csr, manifest

FIXTURES = Path(__file__).parent.parent / "fixtures"
CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET = "kubernetes.io/kubelet-serving"
APP_SERVING = "beta.eks.amazonaws.com/app-serving"
NODE = "system:node:ip-10-0-1-23.ec2.internal"


def verdict_for(
    csr_pem: bytes,
    *,
    signer: str = CLIENT,
    usages: tuple[str, ...] = ("client auth",),
    expiration_seconds: int | None = 86400,
    username: str | None = None,
    groups: tuple[str, ...] = (),
    cluster_kind: ClusterKind = ClusterKind.GENERIC,
    policy: Policy | None = None,
) -> Verdict:
    document = manifest(
        csr_pem,
        signer=signer,
        usages=usages,
        expiration_seconds=expiration_seconds,
        username=username,
        groups=groups,
    )
    request = read_signing_request(document, "test")
    return evaluate(request, policy or default_policy(), cluster_kind)


def node_csr(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "cn": NODE,
        "orgs": ["system:nodes"],
        "dns": ["ip-10-0-1-23.ec2.internal"],
        "ips": ["10.0.1.23"],
        "key": "p256",
    }
    fields.update(changes)
    return make_csr(**fields)  # type: ignore[arg-type]


def kubelet_verdict(csr_pem: bytes, **changes: object) -> Verdict:
    fields: dict[str, object] = {
        "signer": KUBELET,
        "usages": ("digital signature", "server auth"),
        "expiration_seconds": None,
        "username": NODE,
        "groups": ("system:nodes", "system:authenticated"),
    }
    fields.update(changes)
    return verdict_for(csr_pem, **fields)  # type: ignore[arg-type]


# --- kubernetes.io/kube-apiserver-client --------------------------------------------------------------------


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


# --- kubernetes.io/kubelet-serving ---------------------------------------------------------------------------


def test_the_nodes_own_serving_request_is_approved() -> None:
    request = read_signing_request((FIXTURES / "kubelet-serving.yaml").read_bytes(), "kubelet-serving.yaml")
    assert evaluate(request, default_policy()) == Verdict(Outcome.APPROVE, ())


def test_rsa_kubelet_serving_with_key_encipherment_is_approved() -> None:
    usages = ("digital signature", "key encipherment", "server auth")
    assert kubelet_verdict(node_csr(key="rsa2048"), usages=usages).outcome is Outcome.APPROVE


def test_a_serving_request_from_an_unknown_requester_goes_to_a_person() -> None:
    verdict = kubelet_verdict(node_csr(), username=None)
    assert verdict.outcome is Outcome.REVIEW
    assert verdict.codes == ("requester-unknown",)


def test_a_node_asking_for_another_nodes_certificate_is_denied() -> None:
    verdict = kubelet_verdict(node_csr(), username="system:node:ip-10-0-9-9.ec2.internal")
    assert verdict.codes == ("subject-mismatch",)


@pytest.mark.parametrize(
    ("orgs", "code"),
    [
        ([], "invalid-subject"),
        (["system:nodes", "developers"], "invalid-subject"),
        (["system:nodes", "system:masters"], "forbidden-group"),
        (["nodes"], "invalid-subject"),
    ],
)
def test_kubelet_serving_needs_exactly_the_system_nodes_group(orgs: list[str], code: str) -> None:
    verdict = kubelet_verdict(node_csr(orgs=orgs))
    assert verdict.outcome is Outcome.DENY
    assert code in verdict.codes


def test_kubelet_serving_cn_must_be_a_node_name() -> None:
    verdict = kubelet_verdict(node_csr(cn="ip-10-0-1-23.ec2.internal"), username="ip-10-0-1-23.ec2.internal")
    assert verdict.codes[0] == "invalid-subject"


@pytest.mark.parametrize(
    ("sans", "code"),
    [
        ({"dns": [], "ips": []}, "missing-san"),
        ({"emails": ["node@example.com"]}, "san-not-allowed"),
        ({"uris": ["spiffe://cluster/node"]}, "san-not-allowed"),
        ({"dns": ["ip-10-0-9-9.ec2.internal"]}, "san-not-allowed"),
        ({"dns": ["ip-10-0-1-234.ec2.internal"]}, "san-not-allowed"),
        ({"dns": ["kubernetes.default.svc"]}, "san-not-allowed"),
        ({"dns": ["ip-10-0-1-23.ec2.internal;rm -rf"]}, "san-not-allowed"),
        ({"dns": ["ip-10-0-1-23.ec2.internal.attacker.example"], "ips": ["10.96.0.1"]}, "san-not-allowed"),
        ({"ips": ["8.8.8.8"]}, "san-not-allowed"),
        ({"ips": ["2001:db8::1"]}, "san-not-allowed"),
        ({"dns": [f"ip-10-0-1-23.zone{i}.internal" for i in range(6)]}, "san-not-allowed"),
    ],
)
def test_kubelet_serving_names_must_belong_to_the_node(sans: dict[str, list[str]], code: str) -> None:
    verdict = kubelet_verdict(node_csr(**sans))
    assert verdict.outcome is Outcome.DENY
    assert code in verdict.codes


@pytest.mark.parametrize(
    "dns",
    [
        "ip-10-0-1-23.eu-west-1.compute.internal",  # shares only the first label with the node's name
        "ip-10-0-1-23",  # a part of the node's name
        "ip-10-0-1-23.ec2.internalx",  # the node's name, and more, without a dot
        "web.staging.internal",
    ],
)
def test_a_dns_name_that_is_not_the_nodes_full_name_is_denied(dns: str) -> None:
    verdict = kubelet_verdict(node_csr(dns=[dns]))
    assert verdict.outcome is Outcome.DENY and "not the node's name" in verdict.findings[0].message


def test_the_nodes_name_with_a_suffix_goes_to_a_person_unless_the_policy_allows_the_suffix() -> None:
    # GIVEN a node that also asks for its name under another domain
    csr_pem = node_csr(dns=["ip-10-0-1-23.ec2.internal", "ip-10-0-1-23.ec2.internal.attacker.example"])
    # THEN the built-in policy, which allows no suffix, wants a person to confirm it
    verdict = kubelet_verdict(csr_pem)
    assert verdict.outcome is Outcome.REVIEW and verdict.codes == ("san-not-allowed",)
    assert "'.attacker.example'" in verdict.findings[0].message
    # AND a policy naming the cluster's own suffix approves that suffix, and only it
    allowed = load_policy(f"signers: {{{KUBELET}: {{sans: {{nodeDnsSuffixPattern: '\\.nodes\\.example'}}}}}}", "p")
    assert kubelet_verdict(node_csr(dns=["ip-10-0-1-23.ec2.internal.nodes.example"]), policy=allowed).outcome is (
        Outcome.APPROVE
    )
    assert kubelet_verdict(csr_pem, policy=allowed).outcome is Outcome.REVIEW


def test_a_node_outside_system_nodes_goes_to_a_person() -> None:
    verdict = kubelet_verdict(node_csr(), groups=("system:authenticated",))
    assert verdict.outcome is Outcome.REVIEW and verdict.codes == ("requester-unknown",)


@pytest.mark.parametrize(
    "sans",
    [
        {"ips": ["10.96.0.1"]},  # the `kubernetes` Service on kubeadm's default range
        {"ips": ["10.100.0.1"]},  # ... and on EKS's
        {"ips": ["10.96.4.20"]},  # any other Service address
        {"ips": [f"10.0.1.{n}" for n in range(6)]},  # more addresses than a node has
        {"dns": ["ip-10-0-1-23.ec2.internal"], "ips": ["10.0.1.23", "172.20.0.1"]},
    ],
)
def test_service_addresses_and_too_many_addresses_are_denied_for_nodes(sans: dict[str, list[str]]) -> None:
    verdict = kubelet_verdict(node_csr(**sans))
    assert verdict.outcome is Outcome.DENY and "san-not-allowed" in verdict.codes


@pytest.mark.parametrize(
    "sans",
    [
        {"dns": ["kubernetes"]},
        {"dns": ["kubernetes.default"]},
        {"dns": ["kubernetes.default.svc"]},
        {"dns": ["kubernetes.default.svc.cluster.local"]},
        {"dns": ["KUBERNETES.default.svc."]},
        {"ips": ["10.96.0.1"]},
        {"ips": ["172.20.0.1"]},
    ],
)
def test_no_serving_signer_certifies_the_api_servers_own_names(sans: dict[str, list[str]]) -> None:
    # GIVEN an app-serving request (which may otherwise name Services) for the API server's own name
    csr_pem = make_csr(None, dns=sans.get("dns", ["web.shop.svc"]), ips=sans.get("ips", []))
    verdict = verdict_for(csr_pem, signer="beta.eks.amazonaws.com/app-serving", usages=("server auth",))
    # THEN it is denied, naming the API server
    assert verdict.outcome is Outcome.DENY
    assert any("API server" in finding.message for finding in verdict.findings)


def test_a_policy_may_explicitly_allow_the_api_servers_names() -> None:
    policy = load_policy(
        "signers: {beta.eks.amazonaws.com/app-serving: {sans: {allowApiServerNames: true, dnsPatterns: ['.*']}}}", "p"
    )
    csr_pem = make_csr(None, dns=["kubernetes.default.svc"])
    verdict = verdict_for(csr_pem, signer="beta.eks.amazonaws.com/app-serving", usages=("server auth",), policy=policy)
    assert verdict.outcome is Outcome.REVIEW


def test_a_policy_can_widen_the_node_ip_ranges() -> None:
    policy = load_policy(f"signers: {{{KUBELET}: {{sans: {{ipRanges: [203.0.113.0/24]}}}}}}", "p.yaml")
    assert kubelet_verdict(node_csr(ips=["203.0.113.7"]), policy=policy).outcome is Outcome.APPROVE


@pytest.mark.parametrize(
    ("usages", "code"),
    [
        (("digital signature", "server auth", "client auth"), "usage-not-allowed"),
        (("server auth",), "missing-usage"),
        (("digital signature", "key encipherment"), "missing-usage"),
    ],
)
def test_kubelet_serving_usages_follow_the_built_in_signer(usages: tuple[str, ...], code: str) -> None:
    assert code in kubelet_verdict(node_csr(), usages=usages).codes


def test_kubelet_serving_lifetime_is_optional_but_bounded_below() -> None:
    assert kubelet_verdict(node_csr(), expiration_seconds=3600).outcome is Outcome.APPROVE
    assert kubelet_verdict(node_csr(), expiration_seconds=300).codes == ("expiration-too-short",)


# --- beta.eks.amazonaws.com/app-serving ----------------------------------------------------------------------


def app_verdict(csr_pem: bytes, **changes: object) -> Verdict:
    fields: dict[str, object] = {
        "signer": APP_SERVING,
        "usages": ("digital signature", "key encipherment", "server auth"),
        "expiration_seconds": None,
        "cluster_kind": ClusterKind.EKS,
    }
    fields.update(changes)
    return verdict_for(csr_pem, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "dns",
    [
        ["my-svc.my-namespace.svc"],
        ["my-svc.my-namespace.svc.cluster.local"],
        ["10-0-34-2.my-namespace.pod.cluster.local"],
    ],
)
def test_in_cluster_serving_names_go_to_a_person(dns: list[str]) -> None:
    verdict = app_verdict(make_csr("my-svc.my-namespace.svc", dns=dns, ips=["10.0.34.2"], key="p256"))
    assert verdict.outcome is Outcome.REVIEW
    assert verdict.findings == ()


def test_app_serving_needs_no_common_name() -> None:
    assert app_verdict(make_csr(None, dns=["api.payments.svc"], key="p256")).outcome is Outcome.REVIEW


@pytest.mark.parametrize(
    ("sans", "code"),
    [
        ({}, "missing-san"),
        ({"dns": ["www.example.com"]}, "san-not-allowed"),
        ({"dns": ["kubernetes.default.svc.evil.com"]}, "san-not-allowed"),
        ({"dns": ["api.payments.svc"], "emails": ["a@b.c"]}, "san-not-allowed"),
        ({"dns": ["api.payments.svc"], "ips": ["1.1.1.1"]}, "san-not-allowed"),
    ],
)
def test_app_serving_names_stay_inside_the_cluster(sans: dict[str, list[str]], code: str) -> None:
    assert code in app_verdict(make_csr("svc", key="p256", **sans)).codes  # type: ignore[arg-type]


def test_app_serving_refuses_client_usages() -> None:
    verdict = app_verdict(make_csr("svc", dns=["api.payments.svc"]), usages=("server auth", "client auth"))
    assert verdict.codes == ("usage-not-allowed",)


# --- signers csrgate does not manage ------------------------------------------------------------------------


def test_the_docs_custom_signer_manifest_is_ignored() -> None:
    request = read_signing_request((FIXTURES / "docs-my-svc.yaml").read_bytes(), "docs-my-svc.yaml")
    verdict = evaluate(request, default_policy())
    assert verdict.outcome is Outcome.IGNORE
    assert verdict.codes == ("signer-not-managed",)
    assert verdict.findings[0].severity.value == "info"


def test_unmanaged_signers_are_ignored_even_when_the_csr_is_broken() -> None:
    from csrgate.domain.request import SigningRequest

    request = SigningRequest(csr=None, malformed="garbage", signer_name="kubernetes.io/kube-apiserver-client-kubelet")
    assert evaluate(request, default_policy()).outcome is Outcome.IGNORE


def test_a_policy_can_stop_managing_a_built_in_signer() -> None:
    policy = load_policy(f"signers: {{{APP_SERVING}: {{managed: false}}}}", "p.yaml")
    verdict = app_verdict(make_csr("svc", dns=["www.example.com"]), policy=policy)
    assert verdict.outcome is Outcome.IGNORE


def test_a_policy_can_manage_the_docs_custom_signer() -> None:
    policy_text = (
        "signers:\n"
        "  example.com/serving:\n"
        "    allowedUsages: [digital signature, key encipherment, server auth]\n"
        "    requiredUsages: [server auth]\n"
        "    requireCommonName: false\n"
        "    reservedUsernamePrefixes: []\n"
        "    expirationRequired: false\n"
        "    sans: {allowed: [dns, ip], required: true}\n"
    )
    request = read_signing_request((FIXTURES / "docs-my-svc.yaml").read_bytes(), "docs-my-svc.yaml")
    verdict = evaluate(request, load_policy(policy_text, "p.yaml"))
    assert verdict == Verdict(Outcome.REVIEW, ())


def test_a_custom_signer_may_auto_approve_clean_requests() -> None:
    policy = load_policy(
        "signers: {example.com/robots: {onClean: approve, allowedUsages: [client auth], requiredUsages: [client auth],"
        " maxExpirationSeconds: 3600}}",
        "p.yaml",
    )
    verdict = verdict_for(make_csr("robot-7"), signer="example.com/robots", expiration_seconds=3600, policy=policy)
    assert verdict.outcome is Outcome.APPROVE


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


# --- found by playing the attacker ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "node", ["db.prod.svc.cluster.local", "kube-dns.kube-system.svc", "localhost", "node-1.localhost"]
)
def test_a_node_named_after_a_service_or_localhost_is_not_approved_for_that_name(node: str) -> None:
    # GIVEN a node whose chosen name is a Service's (a bootstrap token lets a joining node pick its name)
    csr_pem = node_csr(cn=f"system:node:{node}", dns=[node], ips=[])
    verdict = kubelet_verdict(csr_pem, username=f"system:node:{node}")
    # THEN the name is refused, whatever the node is called
    assert verdict.outcome is Outcome.DENY and "san-not-allowed" in verdict.codes


CUSTOM_SERVING = """
signers:
  example.com/internal:
    onClean: approve
    allowedUsages: [digital signature, {usage}]
    requiredUsages: [digital signature]
    requireCommonName: false
    reservedUsernamePrefixes: []
    expirationRequired: false
    sans: {{allowed: [dns, ip], required: true}}
"""


@pytest.mark.parametrize("dns", ["*.default.svc", "*.default.svc.cluster.local", "*.default", "*"])
def test_a_wildcard_covering_the_api_server_is_its_name(dns: str) -> None:
    policy = load_policy(CUSTOM_SERVING.format(usage="server auth"), "p")
    verdict = verdict_for(make_csr(None, dns=[dns]), signer="example.com/internal", usages=(), policy=policy)
    assert verdict.outcome is Outcome.DENY and any("API server" in f.message for f in verdict.findings)


@pytest.mark.parametrize("usage", ["any", "key encipherment"])  # `any`, or no extended usage at all: every purpose
def test_certificates_good_for_every_purpose_get_both_the_serving_and_the_client_guards(usage: str) -> None:
    policy = load_policy(CUSTOM_SERVING.format(usage=usage), "p")
    rules = policy.rules_for("example.com/internal")
    assert rules is not None and rules.reserved_username_prefixes == ("system:",)
    served = verdict_for(make_csr(None, dns=["kubernetes.default.svc"]), signer="example.com/internal", policy=policy)
    assert served.outcome is Outcome.DENY
    client = verdict_for(make_csr("system:admin", dns=["x.example"]), signer="example.com/internal", policy=policy)
    assert "reserved-username" in client.codes
