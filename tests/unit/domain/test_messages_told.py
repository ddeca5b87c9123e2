"""What approvers read in the channel: every fact of a request, spelled so that what they approve is what they see,
and an account of what happened once it is decided."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from memory import START

from csrgate.domain.findings import Code, error, info, warning
from csrgate.domain.lifecycle import State
from csrgate.domain.messages import decided_message, review_message
from csrgate.domain.outcome import Outcome
from csrgate.domain.records import Approval, RequestRecord
from csrgate.domain.summary import RequestSummary

SUMMARY = RequestSummary(
    name="dana",
    uid="uid-1",
    signer_name="kubernetes.io/kube-apiserver-client",
    usages=("client auth", "digital signature"),
    expiration_seconds=90000,
    username="dana",
    groups=("devs", "system:authenticated"),
    common_names=("dana",),
    organizations=("devs", "ops"),
    dns_names=("dana.example.com",),
    ip_addresses=("10.0.0.7",),
    emails=("dana@example.com",),
    uris=("spiffe://lab/dana",),
    other_sans=("otherName:1.2.3",),
    key_type="EC",
    key_bits=256,
    key_curve="secp256r1",
)


def request(**changes: object) -> RequestRecord:
    record = RequestRecord(
        request_id="r-1",
        cluster="lab",
        csr_name="dana",
        csr_uid="uid-1",
        state=State.AWAITING_REVIEW,
        outcome=Outcome.REVIEW,
        findings=(),
        request=SUMMARY,
        received_at=START,
    )
    return replace(record, **changes)


def facts(message: object) -> dict[str, str]:
    return {fact.label: fact.value for fact in message.facts}  # type: ignore[attr-defined]


def test_an_approval_request_shows_every_fact_of_the_request() -> None:
    message = review_message(request(), START)
    assert message.request_id == "r-1"
    assert message.headline == "Certificate request dana on lab needs review"
    assert facts(message) == {
        "Cluster": "lab",
        "CSR": "dana",
        "Requested by (verified by the API server)": "dana (groups: devs, system:authenticated)",
        "Certificate user (CN)": "dana",
        "Certificate groups (O)": "devs, ops",
        "Subject alternative names": (
            "DNS:dana.example.com, IP:10.0.0.7, EMAIL:dana@example.com, URI:spiffe://lab/dana, OTHER:otherName:1.2.3"
        ),
        "Usages": "client auth, digital signature",
        "Signer": "kubernetes.io/kube-apiserver-client",
        "Lifetime": "1 day 1 hour, until 2026-03-03 10:00 UTC if issued now",
        "Key": "EC secp256r1 256 bits",
        "Needs": "1 approval",
    }
    assert [fact.label for fact in message.facts][:3] == ["Cluster", "CSR", "Requested by (verified by the API server)"]
    assert (message.approvals_needed, message.privileged, message.findings) == (1, False, ())


def test_a_request_with_little_in_it_says_none_rather_than_nothing() -> None:
    bare = RequestSummary(name="x", usages=(), key_type=None)
    shown = facts(review_message(request(request=bare), START))
    assert shown["Requested by (verified by the API server)"] == "unknown"
    assert shown["Certificate user (CN)"] == "none" and shown["Subject alternative names"] == "none"
    assert (shown["Signer"], shown["Lifetime"], shown["Key"]) == ("none", "not set (the signer's maximum)", "unknown")
    assert shown["Usages"] == "none" and shown["Certificate groups (O)"] == "none"


def test_an_rsa_key_shows_its_size_and_an_ed25519_key_only_its_type() -> None:
    rsa = replace(SUMMARY, key_type="RSA", key_bits=2048, key_curve=None)
    ed = replace(SUMMARY, key_type="Ed25519", key_bits=None, key_curve=None)
    assert facts(review_message(request(request=rsa), START))["Key"] == "RSA 2048 bits"
    assert facts(review_message(request(request=ed), START))["Key"] == "Ed25519"


def test_text_that_only_looks_like_other_text_is_shown_for_what_it_is() -> None:
    hostile = replace(SUMMARY, common_names=("d\u0430na",), organizations=("ops\u200b",), dns_names=("\u0430.example",))
    shown = facts(review_message(request(request=hostile), START))
    assert shown["Certificate user (CN)"] == "d\u0430na [U+0430]"
    assert shown["Certificate groups (O)"] == "ops\\u200b"
    assert shown["Subject alternative names"].startswith("DNS:\u0430.example [U+0430], ")


def test_a_request_that_could_not_be_decoded_says_why_and_nothing_else() -> None:
    malformed = RequestSummary(name="dana", username="dana", malformed="spec.request is not base64")
    message = review_message(request(request=malformed), START)
    assert list(facts(message)) == [
        "Cluster",
        "CSR",
        "Requested by (verified by the API server)",
        "CSR content",
        "Needs",
    ]
    assert facts(message)["CSR content"] == "cannot be decoded: spec.request is not base64"


def test_a_request_needing_more_approvers_says_why_once_per_reason() -> None:
    findings = (
        warning(Code.REQUESTER_UNKNOWN, "who?"),
        warning(Code.REQUESTER_UNKNOWN, "who, again?"),
        warning(Code.SUBJECT_MISMATCH, "for someone else"),
        warning(Code.SAN_NOT_ALLOWED, "a suffix"),
        info(Code.SIGNER_NOT_MANAGED, "fyi"),
        error(Code.SUBJECT_MISMATCH, "an error is no reason for more approvers"),
    )
    message = review_message(request(findings=findings, approvals_needed=3, privileged=True), START)
    assert facts(message)["Needs"] == (
        "3 approvals (privileged request): nobody can tell which Slack user asked for it; the certificate is for "
        "someone other than who asked for it"
    )
    assert message.findings == findings and (message.approvals_needed, message.privileged) == (3, True)


def test_a_request_needing_one_approval_gives_no_reason_for_more() -> None:
    unknown = (warning(Code.REQUESTER_UNKNOWN, "who?"),)
    assert facts(review_message(request(findings=unknown, approvals_needed=1), START))["Needs"] == "1 approval"


def test_a_privileged_request_says_so_even_without_other_reasons() -> None:
    message = review_message(request(approvals_needed=2, privileged=True), START)
    assert facts(message)["Needs"] == "2 approvals (privileged request)"
    assert facts(review_message(request(approvals_needed=2), START))["Needs"] == "2 approvals"


def test_the_approvals_so_far_are_shown_by_name() -> None:
    approvals = (Approval("U0ALICE", "alice", START), Approval("U0BOB", "bob", START))
    message = review_message(request(approvals=approvals, approvals_needed=3), START)
    assert facts(message)["Approved so far"] == "2 of 3: alice, bob"
    assert "Approved so far" not in facts(review_message(request(), START))


def test_a_vouched_requester_email_is_shown_as_matching_the_mapping() -> None:
    claimed = replace(SUMMARY, requester_email_claim="dana@example.com")
    shown = facts(review_message(request(request=claimed, requester_email="dana@example.com"), START))
    assert shown["Requester email (annotation, matches the cluster's mapping)"] == "dana@example.com"
    assert "Requester email (annotation, unverified: not used)" not in shown


@pytest.mark.parametrize(
    ("state", "what"),
    [
        (State.APPROVED, "approved"),
        (State.AUTO_APPROVED, "approved by policy"),
        (State.DENIED, "denied"),
        (State.DENIED_BY_POLICY, "denied by policy"),
        (State.ISSUED, "approved and issued"),
        (State.DELIVERED, "approved, issued and delivered"),
        (State.FAILED, "not completed"),
        (State.WITHDRAWN, "withdrawn: the CSR was deleted"),
        (State.DECIDED_ELSEWHERE, "decided in the cluster, outside csrgate"),
        (State.EXPIRED, "left undecided until it expired"),
        (State.IGNORED, "ignored"),
        (State.AWAITING_REVIEW, "awaiting review"),
    ],
)
def test_a_decided_request_says_what_became_of_it(state: State, what: str) -> None:
    notice = decided_message(request(state=state), START)
    assert notice.headline == f"Certificate request dana on lab was {what}"
    assert notice.request_id == "r-1"


def test_a_denial_shows_who_decided_when_and_why() -> None:
    decided_at = START + timedelta(minutes=3, seconds=7)
    findings = (error(Code.FORBIDDEN_GROUP, "no masters"),)
    record = request(
        state=State.DENIED,
        decided_by="bob (U0BOB)",
        decided_at=decided_at,
        decision_reason="use your team's group",
        outcome_note="denied in the cluster",
        findings=findings,
    )
    notice = decided_message(record, START)
    shown = facts(notice)
    assert (shown["Decided by"], shown["Decided at"]) == ("bob (U0BOB)", "2026-03-02 09:03:07 UTC")
    assert (shown["Reason"], shown["Status"]) == ("use your team's group", "denied in the cluster")
    assert list(shown)[-4:] == ["Decided by", "Decided at", "Reason", "Status"]
    assert notice.findings == findings


@pytest.mark.parametrize("state", [State.DENIED, State.DENIED_BY_POLICY])
def test_only_a_denial_shows_its_reason(state: State) -> None:
    denied = facts(decided_message(request(state=state, decision_reason="why"), START))
    approved = facts(decided_message(request(state=State.APPROVED, decision_reason="approved in Slack"), START))
    assert denied["Reason"] == "why" and "Reason" not in approved


def test_an_account_without_a_decider_or_a_note_leaves_them_out() -> None:
    shown = facts(decided_message(request(state=State.WITHDRAWN), START))
    assert not {"Decided by", "Decided at", "Reason", "Status"} & set(shown)
