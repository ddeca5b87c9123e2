"""Each policy rule for beta.eks.amazonaws.com/app-serving, and for signers csrgate does not manage or a policy adds,
on real CSRs: the verdict and the finding codes a requester would see."""

from __future__ import annotations

import pytest
from policy_verdicts import APP_SERVING, FIXTURES, app_verdict, verdict_for

from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import default_policy, load_policy
from csrgate.domain.request import read_signing_request
from csrgate.domain.verdict import Verdict, evaluate
from devstack.csrs import make_csr

# --- beta.eks.amazonaws.com/app-serving ----------------------------------------------------------------------


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


# --- found by playing the attacker ----------------------------------------------------------------------------


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
