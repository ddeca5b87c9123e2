"""Each policy rule for kubernetes.io/kubelet-serving, on real CSRs: the verdict and the finding codes a requester
would see."""

from __future__ import annotations

import pytest
from policy_verdicts import FIXTURES, KUBELET, kubelet_verdict, node_csr, verdict_for

from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import default_policy, load_policy
from csrgate.domain.request import read_signing_request
from csrgate.domain.verdict import Verdict, evaluate
from devstack.csrs import make_csr


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
