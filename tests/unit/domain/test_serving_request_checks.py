"""The policy checks on serving certificate requests (kubernetes.io/kubelet-serving, beta.eks.amazonaws.com/app-serving)
and on the names any certificate carries: who asked, which names, which addresses, and whether approvers can read
them all."""

from __future__ import annotations

import pytest

from csrgate.domain.cluster import ClusterKind
from csrgate.domain.findings import Code, Finding, Severity
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import Policy, default_policy, load_policy
from csrgate.domain.request import read_signing_request
from csrgate.domain.verdict import Verdict, evaluate
from devstack.csrs import (
    SEQUENCE,
    SUBJECT_ALT_NAME,
    der,
    der_oid,
    der_string,
    extension,
    extension_request,
    make_csr,
    manifest,
    pem,
    rdn,
    signed_csr,
    subject_name,
)

KUBELET = "kubernetes.io/kubelet-serving"
APP_SERVING = "beta.eks.amazonaws.com/app-serving"
NODE_NAME = "ip-10-0-1-23.ec2.internal"
NODE = f"system:node:{NODE_NAME}"


def node_verdict(
    dns: tuple[str, ...] = (NODE_NAME,),
    ips: tuple[str, ...] = ("10.0.1.23",),
    cn: str = NODE,
    orgs: tuple[str, ...] = ("system:nodes",),
    policy: Policy | None = None,
    **spec: object,
) -> Verdict:
    """The verdict on a kubelet's serving request, as the kubelet creates it unless `spec` says otherwise."""
    fields: dict[str, object] = {
        "signer": KUBELET,
        "usages": ("digital signature", "server auth"),
        "expiration_seconds": None,
        "username": cn,
        "groups": ("system:nodes", "system:authenticated"),
    }
    csr_pem = make_csr(cn, orgs=orgs, dns=dns, ips=ips, key="p256")
    request = read_signing_request(manifest(csr_pem, **{**fields, **spec}), "node.yaml")  # type: ignore[arg-type]
    return evaluate(request, policy or default_policy())


def app_verdict(csr_pem: bytes, policy: Policy | None = None, signer: str = APP_SERVING) -> Verdict:
    """The verdict on an EKS app-serving request (or another signer's) for the CSR, on an EKS cluster."""
    document = manifest(csr_pem, signer=signer, usages=("server auth",), expiration_seconds=3600)
    return evaluate(read_signing_request(document, "app.yaml"), policy or default_policy(), ClusterKind.EKS)


def denied(message: str, code: Code = Code.SAN_NOT_ALLOWED) -> Finding:
    return Finding(code, Severity.ERROR, message)


def to_confirm(message: str, code: Code) -> Finding:
    return Finding(code, Severity.WARNING, message)


# --- who asked ------------------------------------------------------------------------------------------------


def test_a_node_asking_for_its_own_names_is_approved() -> None:
    assert node_verdict() == Verdict(Outcome.APPROVE, ())


@pytest.mark.parametrize(("dns", "ips"), [((NODE_NAME,), ()), ((), ("10.0.1.23",))])
def test_one_name_or_one_address_is_enough(dns: tuple[str, ...], ips: tuple[str, ...]) -> None:
    assert node_verdict(dns=dns, ips=ips) == Verdict(Outcome.APPROVE, ())


def test_a_request_nobody_is_known_to_have_made_goes_to_a_person() -> None:
    verdict = node_verdict(username=None)
    assert verdict == Verdict(
        Outcome.REVIEW,
        (
            to_confirm(
                "who created this request is unknown, so nobody can tell whether the node asked for its own "
                "certificate; a person must confirm it",
                Code.REQUESTER_UNKNOWN,
            ),
        ),
    )


def test_a_requester_outside_system_nodes_goes_to_a_person() -> None:
    verdict = node_verdict(groups=("system:authenticated",))
    assert verdict == Verdict(
        Outcome.REVIEW,
        (
            to_confirm(
                "the requesting identity is not in 'system:nodes', as a node authenticated by the cluster is; "
                "a person must confirm who asked",
                Code.REQUESTER_UNKNOWN,
            ),
        ),
    )


def test_a_node_may_not_ask_for_another_nodes_certificate() -> None:
    verdict = node_verdict(username="system:node:ip-10-0-9-9.ec2.internal")
    assert verdict.findings == (
        denied(
            "the CN must equal the requesting identity 'system:node:ip-10-0-9-9.ec2.internal': "
            "a node may only ask for its own certificate",
            Code.SUBJECT_MISMATCH,
        ),
    )


def test_the_cn_must_name_a_node() -> None:
    # GIVEN a kubelet that left out the system:node: prefix
    verdict = node_verdict(cn=NODE_NAME)
    assert verdict.findings == (
        denied(
            "the CN does not match the form kubernetes.io/kubelet-serving requires: "
            "system:node:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?",
            Code.INVALID_SUBJECT,
        ),
        denied(f"the DNS name '{NODE_NAME}' is not the node's name None"),
    )


def test_a_node_is_in_system_nodes_and_nothing_else() -> None:
    assert node_verdict(orgs=()).findings == (
        denied("kubernetes.io/kubelet-serving requires the O values 'system:nodes'", Code.INVALID_SUBJECT),
    )
    assert node_verdict(orgs=("system:nodes", "developers")).findings == (
        denied(
            "kubernetes.io/kubelet-serving allows only the O values 'system:nodes'; remove 'developers'",
            Code.INVALID_SUBJECT,
        ),
    )


def test_a_node_needs_a_name_or_an_address() -> None:
    assert node_verdict(dns=(), ips=()).findings == (
        denied("add at least one DNS name or IP address as a subject alternative name", Code.MISSING_SAN),
    )


def test_a_kubelet_certificate_lives_at_least_ten_minutes_when_it_says() -> None:
    assert node_verdict(expiration_seconds=3600).outcome is Outcome.APPROVE
    assert node_verdict(expiration_seconds=599).findings == (
        denied("expirationSeconds is 599; Kubernetes requires at least 600", Code.EXPIRATION_TOO_SHORT),
    )


# --- which names ----------------------------------------------------------------------------------------------


def test_each_kind_of_name_must_be_allowed() -> None:
    csr_pem = make_csr(NODE, orgs=["system:nodes"], emails=["n@x.example"], uris=["spiffe://c/n"], key="p256")
    document = manifest(
        csr_pem, signer=KUBELET, usages=("digital signature", "server auth"), username=NODE, groups=("system:nodes",)
    )
    verdict = evaluate(read_signing_request(document, "node.yaml"), default_policy())
    assert verdict.findings == (
        denied("EMAIL names are not allowed for kubernetes.io/kubelet-serving"),
        denied("URI names are not allowed for kubernetes.io/kubelet-serving"),
        denied("add at least one DNS name or IP address as a subject alternative name", Code.MISSING_SAN),
    )


def test_names_of_kinds_kubernetes_ignores_are_refused() -> None:
    # GIVEN a SAN extension holding a registeredID, which no approver could read as a host name
    registered_id = der(0x88, der_oid("1.2.3.4")[2:])
    extensions = extension_request(extension(SUBJECT_ALT_NAME, der(SEQUENCE, registered_id)))
    csr_der = signed_csr(subject_name(rdn(("2.5.4.3", der_string("svc")))), [extensions], key="p256")
    assert app_verdict(pem(csr_der)).findings == (
        denied("only DNS, IP, email and URI subject alternative names are understood"),
        denied("add at least one DNS name or IP address as a subject alternative name", Code.MISSING_SAN),
    )


@pytest.mark.parametrize(("count", "fits"), [(50, True), (51, False)])
def test_at_most_fifty_names(count: int, fits: bool) -> None:
    names = [f"api-{n}.shop.svc" for n in range(count)]
    verdict = app_verdict(make_csr("api", dns=names, key="p256"))
    assert verdict.findings == (() if fits else (denied("the CSR has 51 subject alternative names; at most 50"),))


def test_a_policy_can_cap_names_and_addresses_per_signer() -> None:
    policy = load_policy(f"signers: {{{APP_SERVING}: {{sans: {{maxDnsNames: 2, maxIpAddresses: 1}}}}}}", "caps.yaml")
    at_the_caps = make_csr("api", dns=["a.shop.svc", "b.shop.svc"], ips=["10.0.0.1"], key="p256")
    assert app_verdict(at_the_caps, policy).findings == ()
    over = make_csr("api", dns=["a.shop.svc", "b.shop.svc", "c.shop.svc"], ips=["10.0.0.1", "10.0.0.2"], key="p256")
    assert app_verdict(over, policy).findings == (
        denied("at most 2 DNS names are allowed, not 3"),
        denied("at most 1 IP addresses are allowed, not 2"),
    )


def test_app_serving_names_must_be_in_cluster_names() -> None:
    verdict = app_verdict(make_csr("api", dns=["api.shop.svc", "www.example.com"], key="p256"))
    assert verdict.findings == (denied("the DNS name 'www.example.com' matches none of the allowed patterns"),)


def test_a_node_names_only_itself() -> None:
    # GIVEN a node asking for other nodes' names, one its own name with more letters after it
    verdict = node_verdict(dns=("ip-10-0-9-9.ec2.internal", f"{NODE_NAME}x"))
    assert verdict.findings == (
        denied(f"the DNS name 'ip-10-0-9-9.ec2.internal' is not the node's name '{NODE_NAME}'"),
        denied(f"the DNS name '{NODE_NAME}x' is not the node's name '{NODE_NAME}'"),
    )


@pytest.mark.parametrize("node", ["db.prod.svc", "node-1.localhost"])
def test_a_node_named_like_a_service_or_localhost_gets_none_of_those_names(node: str) -> None:
    # GIVEN a node that picked a Service's or localhost's name (written with and without the root dot)
    verdict = node_verdict(cn=f"system:node:{node}", dns=(node, f"{node}."), ips=())
    service = "is a Service's or the local host's name, which no node serves, whatever its node is called"
    assert verdict.findings == (
        denied(f"the DNS name '{node}.' matches none of the allowed patterns"),
        denied(f"the DNS name '{node}' {service}"),
        denied(f"the DNS name '{node}.' {service}"),
    )


def test_the_nodes_name_under_another_domain_goes_to_a_person() -> None:
    verdict = node_verdict(dns=(NODE_NAME, f"{NODE_NAME}.attacker.example"))
    assert verdict == Verdict(
        Outcome.REVIEW,
        (
            to_confirm(
                f"the DNS name '{NODE_NAME}.attacker.example' is the node's name followed by '.attacker.example', "
                "and the policy allows no suffix (sans.nodeDnsSuffixPattern); a person must confirm the node owns "
                "that name",
                Code.SAN_NOT_ALLOWED,
            ),
        ),
    )


def test_a_policy_can_allow_the_clusters_node_suffix() -> None:
    policy = load_policy(f"signers: {{{KUBELET}: {{sans: {{nodeDnsSuffixPattern: '\\.nodes\\.example'}}}}}}", "p")
    assert node_verdict(dns=(f"{NODE_NAME}.nodes.example",), policy=policy) == Verdict(Outcome.APPROVE, ())
    verdict = node_verdict(dns=(f"{NODE_NAME}.other.example",), policy=policy)
    assert verdict.findings == (
        to_confirm(
            f"the DNS name '{NODE_NAME}.other.example' is the node's name followed by '.other.example', and the "
            "policy allows only suffixes matching '\\\\.nodes\\\\.example' (sans.nodeDnsSuffixPattern); a person "
            "must confirm the node owns that name",
            Code.SAN_NOT_ALLOWED,
        ),
    )


# --- which addresses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "fits"), [(5, True), (6, False)])
def test_a_node_has_at_most_five_addresses(count: int, fits: bool) -> None:
    verdict = node_verdict(ips=tuple(f"10.0.1.{n}" for n in range(count)))
    assert verdict.findings == (() if fits else (denied("at most 5 IP addresses are allowed, not 6"),))


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:db8::1"])
def test_addresses_outside_the_private_ranges_are_refused(address: str) -> None:
    verdict = app_verdict(make_csr("api", dns=["api.shop.svc"], ips=["fd00::1", address], key="p256"))
    assert verdict.findings == (denied(f"the IP address {address} is outside the allowed ranges"),)


def test_a_node_never_serves_a_service_address() -> None:
    verdict = node_verdict(ips=("10.0.1.23", "10.96.4.20"))
    assert verdict.findings == (
        denied(
            "the IP address 10.96.4.20 is in the cluster's Service range (sans.serviceRanges), which no node serves"
        ),
    )


# --- the API server's own names -------------------------------------------------------------------------------


def test_no_serving_certificate_names_the_api_server() -> None:
    # GIVEN an app-serving request for the `kubernetes` Service under its names, one in capitals with the root dot
    csr_pem = make_csr(
        None, dns=["KUBERNETES.default.svc.", "kubernetes.default.svc.cluster.local"], ips=["10.96.0.1"], key="p256"
    )
    assert app_verdict(csr_pem).findings == (
        denied("the DNS name 'KUBERNETES.default.svc.' matches none of the allowed patterns"),
        denied("the DNS name 'KUBERNETES.default.svc.' is the API server's own name"),
        denied("the DNS name 'kubernetes.default.svc.cluster.local' is the API server's own name"),
        denied("the IP address 10.96.0.1 is the API server's Service address"),
    )


def test_a_one_letter_service_in_the_default_namespace_is_not_the_api_server() -> None:
    assert app_verdict(make_csr(None, dns=["a.default.svc"], key="p256")) == Verdict(Outcome.REVIEW, ())


OPEN_SERVING = """
signers:
  example.com/internal:
    allowedUsages: [server auth]
    requireCommonName: false
    expirationRequired: false
    sans: {allowed: [dns, ip], required: true}
"""


@pytest.mark.parametrize(
    ("name", "api_server"),
    [
        ("*.default.svc", True),
        ("*", True),
        ("*.shop.svc", False),
        ("kubernetes.", True),  # fully qualified, with the root dot
        ("kubernetes.default.", True),
    ],
)
def test_a_wildcard_or_a_fully_qualified_name_covering_the_api_server_names_it(name: str, api_server: bool) -> None:
    policy = load_policy(OPEN_SERVING, "internal.yaml")
    verdict = app_verdict(make_csr(None, dns=[name], key="p256"), policy, signer="example.com/internal")
    assert verdict.findings == ((denied(f"the DNS name '{name}' is the API server's own name"),) if api_server else ())


def test_a_policy_may_let_a_signer_name_the_api_server() -> None:
    policy = load_policy(f"signers: {{{APP_SERVING}: {{sans: {{allowApiServerNames: true}}}}}}", "p")
    csr_pem = make_csr(None, dns=["kubernetes.default.svc"], ips=["10.96.0.1"], key="p256")
    assert app_verdict(csr_pem, policy) == Verdict(Outcome.REVIEW, ())


# --- what approvers can read in one message -------------------------------------------------------------------

EVERY_NAME = """
signers:
  example.com/robots:
    allowedUsages: [client auth, server auth]
    expirationRequired: false
    sans: {allowed: [dns, ip, email, uri]}
"""


@pytest.mark.parametrize(("last_length", "fits"), [(202, True), (203, False)])
def test_every_name_must_fit_one_line_of_a_message(last_length: int, fits: bool) -> None:
    # GIVEN names of every kind, shown as "DNS:name, IP:address, ...": 24 DNS names of 100 characters (104 with
    # "DNS:"), an IP (11), an email (17), a URI (16) and 27 separators (54) make 2594; the last DNS name adds 206
    dns = [f"{n:02d}." + "h" * 97 for n in range(24)] + ["last." + "h" * (last_length - 5)]
    csr_pem = make_csr("robot", dns=dns, ips=["10.0.0.1"], emails=["a@x.example"], uris=["spiffe://x/y"], key="p256")
    verdict = app_verdict(csr_pem, load_policy(EVERY_NAME, "robots.yaml"), signer="example.com/robots")
    too_long = denied(
        "the CSR has 28 subject alternative names, 2801 characters as approvers read them, and at most 2800 fit in "
        "one message; split the names over several CSRs, each with fewer names"
    )
    assert verdict.findings == (() if fits else (too_long,))


@pytest.mark.parametrize(
    ("groups", "fits"),
    [(["g" * 2800], True), (["g" * 1399, "h" * 1399], True), (["g" * 1399, "h" * 1400], False)],
)
def test_every_group_must_fit_one_line_of_a_message(groups: list[str], fits: bool) -> None:
    # GIVEN groups far longer than the 400 characters in all that a subject may ask for, and denied for that already
    csr_pem = make_csr("robot", orgs=groups, key="p256")
    verdict = app_verdict(csr_pem, load_policy(EVERY_NAME, "robots.yaml"), signer="example.com/robots")
    too_many = denied(
        f"the subject asks for {len(groups)} groups; at most 20 (and 400 characters in all) so that approvers can "
        "read every one",
        Code.INVALID_SUBJECT,
    )
    too_long = denied(
        "the subject asks for 2 groups, 2801 characters as approvers read them (with the code points of non-ASCII "
        "letters), and at most 2800 fit in one message; ask for fewer groups, or shorter names, in each CSR",
        Code.INVALID_SUBJECT,
    )
    # THEN only a list that does not fit one line of a message is also denied for that
    assert verdict.findings == ((too_many,) if fits else (too_many, too_long))
