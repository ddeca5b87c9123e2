"""Asking for a certificate in Slack: the form checked at once (an unusable CSR, someone else's CN or a policy denial
is an inline error and creates nothing), then the ask recorded and the CSR's creation queued for the worker.

It decodes X.509, so the interactions function imports it only when a form is submitted.
"""

from __future__ import annotations

import base64
import textwrap
import uuid
from collections.abc import Callable

from csrgate.domain.asks import (
    ASKED_USAGES,
    CLIENT_SIGNER,
    CLUSTER,
    CSR,
    LIFETIME,
    REASON,
    AskForm,
    CertificateAsk,
    csr_name_for,
    lifetime_choices,
    openssl_command,
    username_for,
)
from csrgate.domain.cluster import ClusterConfig, ClusterKind
from csrgate.domain.csr import decode_csr
from csrgate.domain.errors import InputError, MalformedCsr
from csrgate.domain.findings import Severity
from csrgate.domain.identity import identity_problem
from csrgate.domain.jobs import CreateCsr
from csrgate.domain.limits import AskingLimit
from csrgate.domain.outcome import Outcome
from csrgate.domain.pem import read_pem
from csrgate.domain.policy import Policy
from csrgate.domain.ports import AskQuota, AskStore, AuditLog, Clock, ClusterDirectory, JobQueue, SlackDirectory
from csrgate.domain.records import AuditEvent
from csrgate.domain.request import SigningRequest
from csrgate.domain.text import shown
from csrgate.domain.verdict import evaluate

MAX_CSR_CHARS = 16 * 1024  # a CSR is one or two KiB; an RSA 8192 one about 4
MAX_REASON_CHARS = 500
MAX_ASKS_PER_HOUR = 5  # each ask is a CSR in the cluster and a message to its approvers
MAX_ERROR_CHARS = 600  # an inline error is read in a modal: the first findings, not all of them
_PEM_BEGIN = "-----BEGIN CERTIFICATE REQUEST-----"


class Asking:
    """Submitted certificate forms: check, record, queue; nothing is created in a cluster from here."""

    def __init__(
        self,
        clusters: ClusterDirectory,
        asks: AskStore,
        quota: AskQuota,
        jobs: JobQueue,
        people: SlackDirectory,
        audit: AuditLog,
        clock: Clock,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._clusters = clusters
        self._asks = asks
        self._limit = AskingLimit(quota, "asks", MAX_ASKS_PER_HOUR)
        self._jobs = jobs
        self._people = people
        self._audit = audit
        self._clock = clock
        self._new_id = new_id

    def submit(self, slack_user: str, form: AskForm) -> CertificateAsk | dict[str, str]:
        """The recorded ask, or the form's inline errors by block id (and nothing recorded)."""
        cluster = self._clusters.get(form.cluster)
        if cluster is None or cluster.self_service is None:
            return {CLUSTER: "Pick one of the clusters listed."}
        if cluster.kind is ClusterKind.EKS:
            return {CLUSTER: eks_explanation(cluster.name)}
        if cluster.observing:
            observed = f"csrgate only observes {cluster.name} for now and approves nothing there: ask its admins."
            return {CLUSTER: observed}
        asker = self._people.user(slack_user)
        who = identity_problem(asker.email, cluster.self_service, cluster)
        if who is not None:
            return {CSR: who}
        username = username_for(cluster.self_service.username_template, asker.email or "")
        errors: dict[str, str] = {}
        policy = self._clusters.policy_for(cluster)
        rules = policy.rules_for(CLIENT_SIGNER)
        choices = lifetime_choices(rules.max_expiration_seconds if rules else None)
        digits = form.lifetime.isascii() and form.lifetime.isdigit() and len(form.lifetime) <= 9
        lifetime = int(form.lifetime) if digits else 0
        if lifetime not in choices:
            errors[LIFETIME] = "Pick one of the lifetimes listed."
        reason = " ".join(form.reason.encode("utf-8", errors="replace").decode("utf-8").split())
        if not reason:
            errors[REASON] = "Say why you need it: the approvers read it."
        elif len(reason) > MAX_REASON_CHARS:
            errors[REASON] = f"Keep the reason under {MAX_REASON_CHARS} characters."
        # checked with a lifetime the policy allows, so that a bad pick is said once, on the lifetime
        checked = _checked_csr(form.csr, username, lifetime if lifetime in choices else choices[0], cluster, policy)
        if not checked.startswith(_PEM_BEGIN):
            errors[CSR] = checked
        if errors:
            return errors
        ask_id = self._new_id()
        ask = CertificateAsk(
            ask_id=ask_id,
            cluster=cluster.name,
            slack_user=asker.slack_id,
            slack_name=asker.name,
            email=asker.email or "",
            username=username,
            csr_name=csr_name_for(username, ask_id),
            request_pem=checked,
            expiration_seconds=lifetime,
            reason=reason,
            asked_at=self._clock(),
        )
        event = AuditEvent.about_ask(
            ask,
            "slack.certificate_asked",
            asker.label,
            ask.asked_at,
            username=username,
            expiration_seconds=lifetime,
            reason=reason,
        )
        if not self._limit.recorded(asker.slack_id, ask.ask_id, ask.asked_at, lambda: self._asks.create(ask, event)):
            return {CSR: self._limit.refusal}
        self._audit.write(event)
        self._jobs.enqueue(CreateCsr(ask.ask_id))
        return ask


def eks_explanation(cluster: str) -> str:
    """Why a client certificate cannot be asked for on an EKS cluster, and what to ask for instead."""
    return (
        f"{cluster} runs on EKS, which never issues client certificates (kubernetes.io/kube-apiserver-client): a CSR "
        "there would wait forever. Ask for time-boxed access instead: /csrgate access."
    )


def _checked_csr(text: str, username: str, lifetime: int, cluster: ClusterConfig, policy: Policy) -> str:
    """The CSR as a clean PEM of exactly the DER checked, or why it cannot be used (the inline error)."""
    data = text.strip().encode("utf-8", errors="replace")  # a lone surrogate is no PEM character: refused below
    if not data:
        return f"Paste the CSR you made with:\n{openssl_command(username)}"
    if len(data) > MAX_CSR_CHARS:
        return f"That is larger than {MAX_CSR_CHARS // 1024} KiB; a CSR is a few KiB at most."
    try:
        der = read_pem(data, "the CSR")
        csr = decode_csr(der)
    except InputError as exc:
        return _cut(f"{exc.problem[:1].upper()}{exc.problem[1:]}.")
    except MalformedCsr as exc:
        return _cut(f"csrgate cannot use this CSR: {exc}")
    if csr.subject.common_name != username:
        found = repr(shown(csr.subject.common_name)) if csr.subject.common_name else "missing"
        return _cut(
            f"The CSR's CN is {found}; on {cluster.name} yours is {username!r}. Make one with:\n"
            f"{openssl_command(username)}"
        )
    if csr.subject.organizations:
        return _cut(
            "A certificate asked for in Slack carries no groups (O): your access comes from the cluster's RBAC "
            f"for your user. Make the CSR with:\n{openssl_command(username)}"
        )
    request = SigningRequest(
        csr=csr,
        signer_name=CLIENT_SIGNER,
        usages=ASKED_USAGES,
        expiration_seconds=lifetime,
        username=username,
    )
    verdict = evaluate(request, policy, cluster.kind)
    if verdict.outcome is Outcome.DENY:
        problems = [f"{f.code.value}: {f.message}" for f in verdict.findings if f.severity is Severity.ERROR]
        return _cut(f"{cluster.name}'s policy denies this CSR:\n" + "\n".join(problems))
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"{_PEM_BEGIN}\n{body}\n-----END CERTIFICATE REQUEST-----\n"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
