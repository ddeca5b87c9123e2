"""The policy verdict: derived from the findings of every check, never decided by a single rule."""

from __future__ import annotations

from dataclasses import dataclass

from csrgate.domain.checks import CHECKS, CheckContext
from csrgate.domain.cluster import ClusterKind
from csrgate.domain.findings import Code, Finding, Severity, error, info
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import Policy
from csrgate.domain.request import SigningRequest


@dataclass(frozen=True)
class Verdict:
    """What the policy says about one request, and why."""

    outcome: Outcome
    findings: tuple[Finding, ...]
    privileged: bool = False  # asks for a group the policy marks privileged: more approvers, a confirmation

    @property
    def codes(self) -> tuple[str, ...]:
        """The finding codes, in the order the checks found them."""
        return tuple(finding.code.value for finding in self.findings)


def evaluate(request: SigningRequest, policy: Policy, cluster_kind: ClusterKind = ClusterKind.GENERIC) -> Verdict:
    """Run every check on the request and derive the verdict from what they found."""
    signer = policy.rules_for(request.signer_name)
    if signer is None:
        return Verdict(Outcome.IGNORE, (_not_managed(request),))
    if request.csr is None:
        problem = request.malformed or "the CSR could not be decoded"
        return Verdict(Outcome.DENY, (error(Code.MALFORMED_REQUEST, f"{problem}; create the CSR again"),))
    context = CheckContext(request, request.csr, signer, policy.keys, cluster_kind)
    found: list[Finding] = []
    for check in CHECKS:
        found.extend(check(context))
    findings = tuple(found)
    severities = {finding.severity for finding in findings}
    privileged = any(group in signer.privileged_groups for group in request.csr.subject.organizations)
    if Severity.ERROR in severities:
        return Verdict(Outcome.DENY, findings, privileged)
    if Severity.WARNING in severities or signer.on_clean == "review" or privileged:
        return Verdict(Outcome.REVIEW, findings, privileged)
    return Verdict(Outcome.APPROVE, findings)


def _not_managed(request: SigningRequest) -> Finding:
    if request.signer_name is None:
        return info(Code.SIGNER_NOT_MANAGED, "the request names no signer; csrgate leaves it alone")
    return info(
        Code.SIGNER_NOT_MANAGED,
        f"csrgate does not manage the signer {request.signer_name}; name it in the policy to manage it",
    )
