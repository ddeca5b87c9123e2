"""Renewal without an administrator, as kubelets renew: csrgate remembers every client certificate it delivered (not
its body), and a CSR made *with* one of them, still valid, for the same user, no new group and no SAN, is that
certificate's renewal. The policy approves renewals on its own (`onRenewal`) until the chain of renewals is older than
`maxRenewalChainDays`; then a person approves again. Holders are reminded before their certificate expires.

Which certificate made a CSR is the API server's word: its x509 authenticator records the client certificate's
SHA-256 in the CSR's spec.extra (`authentication.kubernetes.io/credential-id: X509SHA256=<hex>`), which nobody can
write into a CSR themselves (csrgate.domain.request reads it).
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from datetime import datetime, timedelta

from csrgate.domain.asks import CLIENT_SIGNER, file_safe, openssl_command
from csrgate.domain.certificates import DeliveredCertificate
from csrgate.domain.cluster import ClusterConfig
from csrgate.domain.findings import Code, Finding, info
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import Policy, SignerRules
from csrgate.domain.request import SigningRequest
from csrgate.domain.verdict import Verdict

CERTIFICATE_CREDENTIAL = "X509SHA256="


def credential_fingerprint(request: SigningRequest) -> str | None:
    """The SHA-256 of the client certificate the CSR was created with, as the API server recorded it, if any."""
    credential = request.credential_id or ""
    if not credential.startswith(CERTIFICATE_CREDENTIAL):
        return None
    digest = credential.removeprefix(CERTIFICATE_CREDENTIAL).casefold()
    return digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else None


def why_not_renewal(
    request: SigningRequest,
    renewed: DeliveredCertificate,
    cluster: str,
    rules: SignerRules,
    privileged: bool,
    now: datetime,
) -> str | None:
    """Why a CSR made with a certificate csrgate delivered may not be renewed by policy, or None when it may."""
    csr = request.csr
    if request.signer_name != CLIENT_SIGNER or csr is None:
        return "it is not a client certificate request"
    if renewed.cluster != cluster:
        return "the certificate it was made with is another cluster's"
    if renewed.renewed_by is not None:
        return "the certificate it was made with was renewed already"
    if not renewed.not_before <= now < renewed.not_after:
        return "the certificate it was made with is not valid now"
    if not (request.username == csr.subject.common_name == renewed.username):
        return f"it is not for {renewed.username!r}, the user of the certificate it was made with"
    extra = sorted(set(csr.subject.organizations) - set(renewed.groups))
    if extra:
        return f"it asks for groups the certificate it was made with does not carry: {', '.join(extra)}"
    if csr.subject.other:  # a UID attribute, say, which the API server reads too
        return "its subject has attributes other than CN and O"
    if csr.sans.dns or csr.sans.ip or csr.sans.email or csr.sans.uri or csr.sans.other:
        return "it asks for subject alternative names"
    if privileged:
        return "it asks for a privileged group"
    if request.expiration_seconds is None or request.expiration_seconds > renewed.lifetime_seconds:
        return f"it asks to live longer than the certificate it renews ({renewed.lifetime_seconds} seconds)"
    chain_ends = renewed.chain_started_at + timedelta(days=rules.max_renewal_chain_days)
    if now + timedelta(seconds=request.expiration_seconds) > chain_ends:
        return (
            f"a person last approved {renewed.username!r} on {renewed.chain_started_at:%Y-%m-%d}: renewals by policy "
            f"end {rules.max_renewal_chain_days} days after that"
        )
    if rules.on_renewal != "approve":
        return "the policy has people review renewals"
    return None


def judge_renewal(
    request: SigningRequest,
    renewed: DeliveredCertificate,
    cluster: ClusterConfig,
    policy: Policy,
    verdict: Verdict,
    now: datetime,
) -> tuple[Verdict, tuple[Finding, ...], datetime | None]:
    """The verdict on a CSR made with `renewed`: approved by policy when it is its renewal and nothing else would deny
    it, else unchanged; the finding that says which; the chain's start, kept only when no person approves."""
    rules = policy.rules_for(request.signer_name)
    why_not = "the policy does not manage its signer" if rules is None else None
    if rules is not None:
        why_not = why_not_renewal(request, renewed, cluster.name, rules, verdict.privileged, now)
    if why_not is None and verdict.outcome is Outcome.REVIEW:
        return replace(verdict, outcome=Outcome.APPROVE), (renewal_finding(renewed, None),), renewed.chain_started_at
    return verdict, (renewal_finding(renewed, why_not or "the policy denies it"),), None


def claimed_elsewhere(renewed: DeliveredCertificate) -> Finding:
    """Another CSR made with the certificate was approved as its renewal first: this one is reviewed by a person."""
    return renewal_finding(renewed, "another CSR made with it was approved as its renewal first")


def renewal_finding(renewed: DeliveredCertificate, why_not: str | None) -> Finding:
    """What approvers see about a CSR made with a certificate csrgate delivered."""
    made_with = (
        f"made with the certificate csrgate delivered for {renewed.username!r} "
        f"(valid until {renewed.not_after:%Y-%m-%d %H:%M UTC})"
    )
    if why_not is None:
        return info(Code.RENEWAL, f"a renewal {made_with}: same user, no new group, approved by policy")
    return info(Code.RENEWAL, f"{made_with}, but not renewed by policy: {why_not}")


def reminder_text(certificate: DeliveredCertificate, now: datetime) -> str:
    """The holder's reminder: what expires when, and the exact commands that renew it."""
    user, cluster = certificate.username, certificate.cluster
    stem = file_safe(user)
    kubeconfig = f"{file_safe(cluster)}-{stem}.kubeconfig"
    new = f"{stem}-renewed"
    lifetime = certificate.lifetime_seconds
    return (
        f"Your certificate for {user!r} on {cluster} expires {certificate.not_after:%Y-%m-%d %H:%M UTC} (in "
        f"{_duration(certificate.not_after - now)}). Renew it yourself while it is still valid: csrgate approves a "
        "renewal for the same user and groups on its own. Make a new key and CSR, and apply it with the kubeconfig "
        "you have:\n"
        f"{openssl_command(user, certificate.groups, new)}\n"
        f"kubectl --kubeconfig {shlex.quote(kubeconfig)} apply -f - <<EOF\n"
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\n"
        f"metadata:\n  name: {stem}-renewal-{certificate.fingerprint[:8]}\n"
        f"spec:\n  request: $(base64 -w0 {new}.csr)\n  signerName: {CLIENT_SIGNER}\n"
        f"  usages: [client auth]\n  expirationSeconds: {lifetime}\nEOF\n"
        "Your new kubeconfig comes here once it is issued. Or ask in Slack instead: /csrgate request."
    )


def _duration(left: timedelta) -> str:
    hours = max(0, int(left.total_seconds() // 3600))
    return f"{hours // 24} days" if hours >= 48 else f"{hours} hours"
