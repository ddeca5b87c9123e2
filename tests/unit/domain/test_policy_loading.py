"""Loading a policy file: merged over the built-in policy key by key, floors that no file removes, and an error
that names the offending key for every mistake an operator can make."""

from __future__ import annotations

import pytest

from csrgate.domain.errors import PolicyError
from csrgate.domain.findings import Code
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import Policy, default_policy, load_policy
from csrgate.domain.request import read_signing_request
from csrgate.domain.verdict import evaluate
from devstack.csrs import make_csr, manifest

CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET = "kubernetes.io/kubelet-serving"
APP_SERVING = "beta.eks.amazonaws.com/app-serving"


def codes_for(policy: Policy, cn: str, signer: str = CLIENT, **spec: object) -> tuple[str, ...]:
    """The finding codes a request with this CN and spec gets under the policy."""
    document = manifest(make_csr(cn, key="p256", orgs=spec.pop("orgs", ())), signer=signer, **spec)  # type: ignore[arg-type]
    return evaluate(read_signing_request(document, "request.yaml"), policy).codes


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("version: 2", "version: Input should be 1"),
        ("keys: {rsaMinBits: 1024}", "keys.rsaMinBits: Input should be greater than or equal to 2048"),
        ("keys: {rsaMinBits: 4096, rsaMaxBits: 8192}", "keys.rsaMaxBits: unknown key"),
        ("keys: {rsaMinBits: x, ecMinBits: y, z: 1}", "keys.rsaMinBits: Input should be a valid integer (and 2 more)"),
        ("signers: {example/robots: {frob: 1}}", 'signers."example/robots".frob: unknown key'),
        ("signers: {example.com: {frob: 1}}", 'signers."example.com".frob: unknown key'),
        (
            "signers: {example.com: {}}",
            "signers: 'example.com' is not a signer name (a domain, a slash and a path)",
        ),
        (
            "signers: {example.com/x: {requiredUsages: [client auth]}}",
            "signers.\"example.com/x\": requiredUsages ['client auth'] must also be in allowedUsages",
        ),
        (
            f"signers: {{{CLIENT}: {{onClean: sometimes}}}}",
            f"signers.\"{CLIENT}\".onClean: Input should be 'approve' or 'review'",
        ),
        (
            f"signers: {{{CLIENT}: {{reservedUsernamePrefixes: 'admin-'}}}}",
            f'signers."{CLIENT}".reservedUsernamePrefixes: Input should be a valid tuple',
        ),
        (
            "signers: {example.com/x: {sans: {dnsPatterns: ['(']}}}",
            'signers."example.com/x".sans.dnsPatterns: item 0 is not a valid regular expression: missing ), '
            "unterminated subpattern at position 0",
        ),
        (
            "signers: {example.com/x: {sans: {dnsPatterns: ['a', 1]}}}",
            'signers."example.com/x".sans.dnsPatterns: item 1 must be a string',
        ),
        (
            "signers: {example.com/x: {sans: {dnsPatterns: 'a'}}}",
            'signers."example.com/x".sans.dnsPatterns: Input should be a valid tuple',
        ),
        (
            "signers: {example.com/x: {sans: {ipRanges: [10.0.0.0/8, 10.0.0.1/8]}}}",
            'signers."example.com/x".sans.ipRanges: item 1 is not a CIDR range: 10.0.0.1/8 has host bits set',
        ),
        (
            "signers: {example.com/x: {sans: {serviceRanges: [services]}}}",
            'signers."example.com/x".sans.serviceRanges: item 0 is not a CIDR range: '
            "'services' does not appear to be an IPv4 or IPv6 network",
        ),
        ("- version: 1", "the top level must be a mapping with `version`, `keys` and `signers`"),
        ("keys: {}\nkeys: {}", "line 2: duplicate key 'keys'"),
    ],
)
def test_a_bad_policy_file_is_refused_naming_the_key(text: str, error: str) -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy(text, "policy.yaml")
    assert str(raised.value) == f"policy policy.yaml: {error}"


@pytest.mark.parametrize("text", ["", "# nothing to change yet\n"])
def test_an_empty_policy_file_is_the_built_in_policy(text: str) -> None:
    assert load_policy(text, "policy.yaml") == default_policy()


def test_the_built_in_policy_manages_the_three_signers_csrgate_knows() -> None:
    assert sorted(default_policy().signers) == [APP_SERVING, CLIENT, KUBELET]


def test_a_policy_file_changes_only_what_it_names() -> None:
    # GIVEN a file that shortens client certificates to an hour
    policy = load_policy(f"signers: {{{CLIENT}: {{maxExpirationSeconds: 3600}}}}", "policy.yaml")
    # THEN that limit applies, and the rest of the built-in client rules still do
    assert codes_for(policy, "alice", expiration_seconds=3601) == ("expiration-too-long",)
    assert codes_for(policy, "alice", usages=("server auth",), expiration_seconds=600) == (
        "usage-not-allowed",
        "missing-usage",
    )
    assert codes_for(policy, "alice", expiration_seconds=3600) == ()


def test_a_list_a_policy_file_names_replaces_the_built_in_one() -> None:
    policy = load_policy(f"signers: {{{CLIENT}: {{allowedUsages: [client auth]}}}}", "policy.yaml")
    assert codes_for(policy, "alice", usages=("client auth", "digital signature")) == ("usage-not-allowed",)


def test_no_policy_file_unforbids_the_admin_groups() -> None:
    # GIVEN a file that lists its own forbidden groups, or none, for the client signer and a new signer
    policy = load_policy(
        f"signers: {{{CLIENT}: {{forbiddenGroups: [cluster-admins]}},"
        " example.com/robots: {allowedUsages: [client auth], forbiddenGroups: []}}",
        "policy.yaml",
    )
    # THEN the cluster-admin groups stay forbidden on both, next to what the file adds
    for signer in (CLIENT, "example.com/robots"):
        for group in ("kubeadm:cluster-admins", "system:masters"):
            assert codes_for(policy, "alice", signer, orgs=[group]) == ("forbidden-group",)
    assert codes_for(policy, "alice", orgs=["cluster-admins"]) == ("forbidden-group",)


def test_no_policy_file_lets_client_certificates_claim_system_names() -> None:
    # GIVEN files emptying the reserved prefixes of the client signer, a new client signer, and the client signer
    # turned into a serving one
    emptied = load_policy(
        f"signers: {{{CLIENT}: {{reservedUsernamePrefixes: []}},"
        " example.com/robots: {allowedUsages: [client auth], reservedUsernamePrefixes: []}}",
        "policy.yaml",
    )
    turned = load_policy(
        f"signers: {{{CLIENT}: {{allowedUsages: [server auth], requiredUsages: [server auth],"
        " reservedUsernamePrefixes: []}}",
        "policy.yaml",
    )
    # THEN a system: CN is still refused, once
    assert codes_for(emptied, "system:admin") == ("reserved-username",)
    assert codes_for(emptied, "system:admin", "example.com/robots") == ("reserved-username",)
    assert codes_for(turned, "system:admin", usages=("server auth",)) == ("reserved-username",)


def test_a_policy_file_may_add_reserved_prefixes() -> None:
    policy = load_policy(f"signers: {{{CLIENT}: {{reservedUsernamePrefixes: ['admin-']}}}}", "policy.yaml")
    assert codes_for(policy, "admin-alice") == ("reserved-username",)
    assert codes_for(policy, "system:admin") == ("reserved-username",)


def test_a_serving_only_signer_may_have_no_reserved_prefixes() -> None:
    # GIVEN a new signer whose certificates can only serve: they never log in, so their CN names no user
    policy = load_policy(
        "signers: {example.com/web: {allowedUsages: [server auth], reservedUsernamePrefixes: []}}", "policy.yaml"
    )
    assert codes_for(policy, "system:web", "example.com/web", usages=("server auth",)) == ()


@pytest.mark.parametrize(
    ("usages", "serves", "authenticates_clients"),
    [
        (["client auth"], False, True),
        (["server auth", "digital signature"], True, False),
        (["any"], True, True),
        (["digital signature", "key encipherment"], True, True),  # no extended usage: Go accepts it for anything
        (["code signing"], False, False),
    ],
)
def test_what_a_signers_certificates_are_good_for_follows_its_usages(
    usages: list[str], serves: bool, authenticates_clients: bool
) -> None:
    policy = load_policy(f"signers: {{example.com/x: {{allowedUsages: {usages}}}}}", "policy.yaml")
    rules = policy.rules_for("example.com/x")
    assert rules is not None
    assert (rules.serves, rules.authenticates_clients) == (serves, authenticates_clients)


def test_requests_for_signers_the_policy_does_not_manage_get_no_rules() -> None:
    policy = load_policy(f"signers: {{{APP_SERVING}: {{managed: false}}}}", "policy.yaml")
    assert policy.rules_for(APP_SERVING) is None
    assert policy.rules_for("example.com/unknown") is None
    assert policy.rules_for(None) is None
    assert policy.rules_for(CLIENT) == default_policy().rules_for(CLIENT)


def test_a_policy_file_can_let_a_signer_approve_clean_requests() -> None:
    policy = load_policy(
        "signers: {example.com/robots: {onClean: approve, allowedUsages: [client auth]}}", "policy.yaml"
    )
    document = manifest(make_csr("robot-7", key="p256"), signer="example.com/robots", expiration_seconds=3600)
    verdict = evaluate(read_signing_request(document, "robot.yaml"), policy)
    assert verdict.outcome is Outcome.APPROVE


def test_a_policy_file_compiles_name_patterns_and_ranges() -> None:
    policy = load_policy(
        f"signers: {{{APP_SERVING}: {{sans: {{dnsPatterns: ['web-[0-9]+\\.shop\\.svc'], ipRanges: [192.0.2.0/24]}}}}}}",
        "policy.yaml",
    )
    csr_pem = make_csr("web", dns=["web-1.shop.svc", "web.shop.svc"], ips=["192.0.2.7", "10.0.0.1"], key="p256")
    document = manifest(csr_pem, signer=APP_SERVING, usages=("server auth",), expiration_seconds=None)
    verdict = evaluate(read_signing_request(document, "web.yaml"), policy)
    assert [(finding.code, finding.message) for finding in verdict.findings] == [
        (Code.SAN_NOT_ALLOWED, "the DNS name 'web.shop.svc' matches none of the allowed patterns"),
        (Code.SAN_NOT_ALLOWED, "the IP address 10.0.0.1 is outside the allowed ranges"),
    ]
