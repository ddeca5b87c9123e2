"""The verdict, derived from what every check found: an error denies, a warning or a privileged group sends the
request to a person, a clean request gets what its signer says; requests for other signers are left alone."""

from __future__ import annotations

from csrgate.domain.findings import Code, Finding, Severity
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import Policy, default_policy, load_policy
from csrgate.domain.request import SigningRequest, read_signing_request
from csrgate.domain.verdict import Verdict, evaluate
from devstack.csrs import make_csr, manifest, pem

CLIENT = "kubernetes.io/kube-apiserver-client"
ROBOTS = """
signers:
  example.com/robots:
    onClean: approve
    allowedUsages: [client auth]
    requiredUsages: [client auth]
    privilegedGroups: [robot-admins]
"""


def verdict_for(document: bytes, policy: Policy | None = None) -> Verdict:
    return evaluate(read_signing_request(document, "request.yaml"), policy or default_policy())


def robot_request(orgs: tuple[str, ...] = (), expiration_seconds: int = 3600) -> bytes:
    """A robot's request for the example.com/robots signer, which approves clean requests by itself."""
    csr_pem = make_csr("robot-7", orgs=orgs, key="p256")
    return manifest(csr_pem, signer="example.com/robots", expiration_seconds=expiration_seconds)


def test_a_clean_request_gets_what_its_signer_says() -> None:
    robots = load_policy(ROBOTS, "robots.yaml")
    assert verdict_for(robot_request(), robots) == Verdict(Outcome.APPROVE, ())
    assert verdict_for(manifest(make_csr("alice", key="p256"))) == Verdict(Outcome.REVIEW, ())


def test_a_privileged_group_needs_a_person_even_when_the_signer_approves() -> None:
    robots = load_policy(ROBOTS, "robots.yaml")
    verdict = verdict_for(robot_request(orgs=("robot-admins",)), robots)
    assert verdict == Verdict(Outcome.REVIEW, (), privileged=True)


def test_a_privileged_request_on_a_reviewing_signer_is_marked_privileged() -> None:
    policy = load_policy(f"signers: {{{CLIENT}: {{privilegedGroups: [platform-admins]}}}}", "p.yaml")
    verdict = verdict_for(manifest(make_csr("alice", orgs=["developers", "platform-admins"], key="p256")), policy)
    assert verdict == Verdict(Outcome.REVIEW, (), privileged=True)


def test_a_denied_privileged_request_stays_marked_privileged() -> None:
    robots = load_policy(ROBOTS, "robots.yaml")
    verdict = verdict_for(robot_request(orgs=("robot-admins",), expiration_seconds=60), robots)
    assert verdict == Verdict(
        Outcome.DENY,
        (
            Finding(
                Code.EXPIRATION_TOO_SHORT,
                Severity.ERROR,
                "expirationSeconds is 60; Kubernetes requires at least 600",
            ),
        ),
        privileged=True,
    )


def test_a_warning_sends_an_otherwise_approved_request_to_a_person() -> None:
    # GIVEN a kubelet's serving request whose creator the API server did not record
    document = manifest(
        make_csr("system:node:n1", orgs=["system:nodes"], dns=["n1"], key="p256"),
        signer="kubernetes.io/kubelet-serving",
        usages=("digital signature", "server auth"),
        expiration_seconds=None,
    )
    verdict = verdict_for(document)
    assert verdict.outcome is Outcome.REVIEW
    assert [(finding.code, finding.severity) for finding in verdict.findings] == [
        (Code.REQUESTER_UNKNOWN, Severity.WARNING)
    ]
    assert verdict.privileged is False


def test_any_error_denies_and_every_finding_is_listed_in_check_order() -> None:
    # GIVEN a request with four problems, for a signer whose clean requests are approved
    policy = load_policy(ROBOTS, "robots.yaml")
    csr_pem = make_csr("system:robot", orgs=["system:masters"], key="rsa1024")
    verdict = verdict_for(manifest(csr_pem, signer="example.com/robots", expiration_seconds=None), policy)
    assert verdict.outcome is Outcome.DENY
    assert verdict.codes == ("weak-key", "reserved-username", "forbidden-group", "expiration-unset")
    assert {finding.severity for finding in verdict.findings} == {Severity.ERROR}
    assert verdict.privileged is False


def test_a_request_that_cannot_be_decoded_is_denied_with_why() -> None:
    # GIVEN a manifest whose spec.request is a PEM block that holds no PKCS#10 request
    request = read_signing_request(manifest(pem(b"\x30\x00")), "broken.yaml")
    verdict = evaluate(request, default_policy())
    assert request.malformed
    assert verdict == Verdict(
        Outcome.DENY,
        (Finding(Code.MALFORMED_REQUEST, Severity.ERROR, f"{request.malformed}; create the CSR again"),),
    )


def test_a_request_without_a_csr_or_a_reason_is_still_denied_with_a_fix() -> None:
    request = SigningRequest(csr=None, signer_name=CLIENT)
    assert evaluate(request, default_policy()) == Verdict(
        Outcome.DENY,
        (Finding(Code.MALFORMED_REQUEST, Severity.ERROR, "the CSR could not be decoded; create the CSR again"),),
    )


def test_requests_for_other_signers_are_left_alone_even_when_broken() -> None:
    document = manifest(pem(b"\x30\x00"), signer="example.com/unknown")
    assert verdict_for(document) == Verdict(
        Outcome.IGNORE,
        (
            Finding(
                Code.SIGNER_NOT_MANAGED,
                Severity.INFO,
                "csrgate does not manage the signer example.com/unknown; name it in the policy to manage it",
            ),
        ),
    )


def test_a_bare_csr_names_no_signer_and_is_left_alone() -> None:
    # GIVEN a PEM CSR on its own, as `csrgate check alice.csr` reads it
    assert verdict_for(make_csr("alice", key="p256")) == Verdict(
        Outcome.IGNORE,
        (Finding(Code.SIGNER_NOT_MANAGED, Severity.INFO, "the request names no signer; csrgate leaves it alone"),),
    )


def test_a_finding_as_json_output_logs_and_audit_items_show_it() -> None:
    finding = Finding(Code.WEAK_KEY, Severity.ERROR, "use a bigger key")
    assert finding.as_dict() == {"code": "weak-key", "severity": "error", "message": "use a bigger key"}
