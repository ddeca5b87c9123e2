"""Policy files: merged over the defaults, and every mistake named by its key."""

from __future__ import annotations

import pytest

from csrgate.domain.errors import PolicyError
from csrgate.domain.policy import default_policy, load_policy

CLIENT = "kubernetes.io/kube-apiserver-client"


def test_the_defaults_manage_three_signers() -> None:
    policy = default_policy()
    assert sorted(policy.signers) == [
        "beta.eks.amazonaws.com/app-serving",
        "kubernetes.io/kube-apiserver-client",
        "kubernetes.io/kubelet-serving",
    ]
    client = policy.rules_for(CLIENT)
    assert client is not None
    assert client.max_expiration_seconds == 30 * 86400
    assert client.expiration_required
    assert not client.supported_on_eks
    assert policy.rules_for("example.com/other") is None


def test_an_empty_policy_file_means_the_defaults() -> None:
    assert load_policy("", "p.yaml") == default_policy()
    assert load_policy("# nothing to change\n", "p.yaml") == default_policy()


def test_a_policy_file_changes_only_what_it_names() -> None:
    policy = load_policy(f"signers:\n  {CLIENT}:\n    maxExpirationSeconds: 3600\n", "p.yaml")
    client = policy.rules_for(CLIENT)
    assert client is not None
    assert client.max_expiration_seconds == 3600
    assert client.required_usages == ("client auth",)  # kept from the defaults
    assert client.forbidden_groups == ("system:masters", "kubeadm:cluster-admins")


def test_lists_replace_rather_than_extend() -> None:
    policy = load_policy(f"signers: {{{CLIENT}: {{allowedUsages: [client auth], privilegedGroups: [ops]}}}}", "p")
    client = policy.rules_for(CLIENT)
    assert client is not None and client.allowed_usages == ("client auth",) and client.privileged_groups == ("ops",)


def test_forbidden_groups_and_reserved_prefixes_are_floors_a_file_adds_to_but_never_lowers() -> None:
    # GIVEN a policy that tries to empty the built-in lists, and adds its own
    text = f"signers: {{{CLIENT}: {{forbiddenGroups: [admins], reservedUsernamePrefixes: []}}}}"
    client = load_policy(text, "p.yaml").rules_for(CLIENT)
    # THEN the built-in entries are still there, with the file's additions
    assert client is not None
    assert client.forbidden_groups == ("system:masters", "kubeadm:cluster-admins", "admins")
    assert client.reserved_username_prefixes == ("system:",)


def test_a_signer_of_your_own_that_authenticates_clients_gets_the_floors_too() -> None:
    text = "signers: {example.com/clients: {allowedUsages: [client auth], forbiddenGroups: [], "
    text += "reservedUsernamePrefixes: []}}"
    rules = load_policy(text, "p.yaml").rules_for("example.com/clients")
    assert rules is not None
    assert set(rules.forbidden_groups) >= {"system:masters", "kubeadm:cluster-admins"}
    assert rules.reserved_username_prefixes == ("system:",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour: blue", "colour: unknown key"),
        ("version: 2", "version: Input should be 1"),
        (f"signers: {{{CLIENT}: {{maxExpirationSecs: 60}}}}", f'signers."{CLIENT}".maxExpirationSecs: unknown key'),
        (f"signers: {{{CLIENT}: {{maxExpirationSeconds: '3600'}}}}", "maxExpirationSeconds: Input should be a valid"),
        (f"signers: {{{CLIENT}: {{maxExpirationSeconds: 60}}}}", "maxExpirationSeconds: Input should be greater"),
        (f"signers: {{{CLIENT}: {{onClean: maybe}}}}", "onClean: Input should be 'approve' or 'review'"),
        (f"signers: {{{CLIENT}: {{allowedUsages: [client-auth]}}}}", "allowedUsages.0: Input should be"),
        (f"signers: {{{CLIENT}: {{requiredUsages: [server auth]}}}}", "must also be in allowedUsages"),
        (f"signers: {{{CLIENT}: {{managed: 'yes please'}}}}", "managed: Input should be a valid boolean"),
        (f"signers: {{{CLIENT}: {{sans: {{allowed: [x400]}}}}}}", "sans.allowed.0: Input should be"),
        (f"signers: {{{CLIENT}: {{sans: {{dnsPatterns: ['(']}}}}}}", "item 0 is not a valid regular expression"),
        (f"signers: {{{CLIENT}: {{sans: {{ipRanges: [10.0.0.1/8]}}}}}}", "item 0 is not a CIDR range"),
        (f"signers: {{{CLIENT}: {{sans: {{ipRanges: [banana]}}}}}}", "item 0 is not a CIDR range"),
        (f"signers: {{{CLIENT}: {{sans: {{maxDnsNames: 0}}}}}}", "sans.maxDnsNames: Input should be greater"),
        ("signers: {not a signer: {}}", "is not a signer name"),
        ("signers: []", "signers: Input should be a valid dictionary"),
        ("keys: {rsaMinBits: 1024}", "keys.rsaMinBits: Input should be greater than or equal to 2048"),
        ("keys: {ecMinBits: 128}", "keys.ecMinBits: Input should be greater than or equal to 256"),
        ("keys: {allowedTypes: [DSA]}", "keys.allowedTypes.0: Input should be"),
        ("- a list", "the top level must be a mapping"),
        ("a: [", "line 1"),
        ("a: &anchor 1\nb: *anchor", "aliases are not allowed"),
        ("keys: {}\nkeys: {}", "duplicate key 'keys'"),
        ("a: 1\n---\nb: 2", "expected one document"),
    ],
)
def test_bad_policies_fail_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy(text, "team-policy.yaml")
    assert str(raised.value).startswith("policy team-policy.yaml: ")
    assert message in str(raised.value)


def test_several_mistakes_are_counted() -> None:
    with pytest.raises(PolicyError, match=r"\(and 1 more\)"):
        load_policy("colour: blue\nflavour: mint", "p.yaml")


def test_an_oversized_policy_is_refused() -> None:
    with pytest.raises(PolicyError, match="larger than 256 KiB"):
        load_policy("# " + "x" * 300_000, "p.yaml")


def test_a_yaml_bomb_is_refused_before_it_expands() -> None:
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b]\n'
    with pytest.raises(PolicyError, match="aliases are not allowed"):
        load_policy(bomb, "p.yaml")
