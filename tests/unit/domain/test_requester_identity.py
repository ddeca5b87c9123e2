"""Who asked: the requester-email annotation counts only when the cluster's mapping vouches for it, and a request
csrgate cannot tie to one person needs one more approver than usual."""

from __future__ import annotations

import pytest
from memory import Csrgate, client_csr, codes

from csrgate.domain.intake import MAX_EMAIL_CHARS
from csrgate.domain.lifecycle import State
from csrgate.domain.records import REQUESTER_EMAIL_ANNOTATION
from devstack.csrs import make_csr

VERIFIED = "Requester email (annotation, matches the cluster's mapping)"
UNVERIFIED = "Requester email (annotation, unverified: not used)"


def submitted(gate: Csrgate, email: str, cn: str = "dana", username: str = "dana") -> str:
    return gate.submit(client_csr(cn), cn, username=username, annotations={REQUESTER_EMAIL_ANNOTATION: email})


def test_an_annotation_the_requesters_own_mapping_gives_is_kept_and_shown_as_verified() -> None:
    # GIVEN the lab maps user names to emails with {username}@example.com
    gate = Csrgate()
    # WHEN dana asks, annotating her own email
    request_id = submitted(gate, "dana@example.com")
    # THEN the email is kept for finding her, and the approvers see it is vouched for
    record = gate.record(request_id)
    assert record.requester_email == "dana@example.com"
    assert record.request.requester_email_claim == "dana@example.com"
    verified = gate.audit.events[2]
    assert (verified.event, verified.actor) == ("csr.requester_email_verified", "csrgate")
    assert dict(verified.details) == {
        "email": "dana@example.com",
        "vouched_by": "cn",
        "username": "dana",
        "common_name": "dana",
    }
    assert gate.channel.facts(record.slack_message)[VERIFIED] == "dana@example.com"


def test_an_administrator_asking_for_someone_elses_user_with_their_email_is_vouched_for_by_the_cn() -> None:
    # GIVEN the lab maps angela to angela@example.com; an administrator asks for angela's certificate
    # GIVEN the lab maps angela to angela@example.com
    gate = Csrgate()
    # WHEN an administrator asks for angela's user, annotating her email in another case
    request_id = submitted(gate, " Angela@Example.com ", cn="angela", username="admin")
    # THEN the email is kept, vouched for by the certificate's user
    record = gate.record(request_id)
    assert record.requester_email == "Angela@Example.com"
    assert gate.audit.events[2].details["vouched_by"] == "cn"


def test_the_requesting_users_own_email_is_vouched_for_by_the_requester() -> None:
    # GIVEN dana asks for a certificate for her robot user, annotating her own email
    # GIVEN dana asking for a certificate for her robot user
    gate = Csrgate()
    # WHEN she annotates her own email
    request_id = submitted(gate, "dana@example.com", cn="dana-robot")
    # THEN the API server's word on who asked vouches for it
    assert gate.record(request_id).requester_email == "dana@example.com"
    assert gate.audit.events[2].details["vouched_by"] == "requester"


def test_an_annotation_nothing_vouches_for_is_recorded_but_never_used() -> None:
    # GIVEN dana annotates her CSR with her manager's email
    gate = Csrgate()
    request_id = submitted(gate, "boss@example.com")
    # THEN the claim is shown as unverified and csrgate will not look for boss
    record = gate.record(request_id)
    assert record.requester_email is None and record.request.requester_email_claim == "boss@example.com"
    unverified = gate.audit.events[2]
    assert unverified.event == "csr.requester_email_unverified"
    assert unverified.details["vouched_by"] is None
    facts = gate.channel.facts(record.slack_message)
    assert facts[UNVERIFIED] == "boss@example.com" and VERIFIED not in facts


def test_a_blank_annotation_is_no_claim_at_all() -> None:
    # GIVEN an annotation of blanks
    gate = Csrgate()
    # WHEN intake receives the CSR
    request_id = submitted(gate, "   ")
    # THEN there is no claim to verify or show
    record = gate.record(request_id)
    assert record.request.requester_email_claim is None
    assert gate.audit.names() == ["csr.received", "csr.policy_verdict", "csr.review_requested"]
    assert UNVERIFIED not in gate.channel.facts(record.slack_message)


def test_a_service_account_asking_for_a_persons_certificate_needs_two_approvers_and_says_why() -> None:
    # GIVEN a CI job's service account asks for a certificate for dana
    gate = Csrgate()
    request_id = gate.submit(client_csr("dana"), "ci", username="system:serviceaccount:ci:deployer")
    # THEN nobody can tell who asked, nor is the certificate for the one who asked: one more approver
    record = gate.record(request_id)
    assert record.state is State.AWAITING_REVIEW and record.approvals_needed == 2
    assert codes(record) == ["requester-unknown", "subject-mismatch"]
    unlinked = gate.audit.events[-2]
    assert (unlinked.event, unlinked.actor) == ("csr.requester_unlinked", "csrgate")
    assert dict(unlinked.details) == {
        "finding_codes": ["requester-unknown", "subject-mismatch"],
        "username": "system:serviceaccount:ci:deployer",
        "common_name": "dana",
        "approvals_needed": 2,
    }
    assert record.findings[0].message == (
        "'system:serviceaccount:ci:deployer' is a service account, not a person: whoever holds its token may have "
        "asked, so nobody can tell which Slack user asked for it and one more approver must agree; ask with your "
        "own credentials to need fewer"
    )
    assert record.findings[1].message == (
        "the certificate would be for the user 'dana', not for 'system:serviceaccount:ci:deployer', who asked for "
        "it (nor does lab's requesterEmails make them one person), so one more approver must agree; ask for your "
        "own user to need fewer"
    )
    assert gate.channel.facts(record.slack_message)["Needs"] == (
        "2 approvals: nobody can tell which Slack user asked for it; the certificate is for someone other than who "
        "asked for it"
    )
    assert gate.channel.posts[0][1].approvals_needed == 2


@pytest.mark.parametrize(
    ("username", "message"),
    [
        (
            None,
            "the API server recorded no requesting user, so nobody can tell which Slack user asked for it and one "
            "more approver must agree",
        ),
        (
            "system:kube-controller-manager",
            "'system:kube-controller-manager' is a Kubernetes identity (a node or a system user), not a person, so "
            "nobody can tell which Slack user asked for it and one more approver must agree",
        ),
        (
            "https://issuer.example.com#dana",
            "csrgate cannot tell which Slack user 'https://issuer.example.com#dana' is (it is not in lab's "
            "requesterEmails, not an email, and lab has no requesterEmailTemplate), so nobody can tell which Slack "
            "user asked for it and one more approver must agree",
        ),
    ],
)
def test_a_requester_csrgate_cannot_name_is_told_why(username: str | None, message: str) -> None:
    # GIVEN a request from someone csrgate cannot tie to a Slack user
    gate = Csrgate()
    # WHEN intake receives it
    request_id = gate.submit(client_csr("dana"), "dana", username=username)
    # THEN the requester is told why it needs one more approver, and how to need fewer
    record = gate.record(request_id)
    assert record.findings[0].message == message
    assert record.approvals_needed == 2
    asked_by = repr(username) if username else "an unknown user"
    assert record.findings[1].message.startswith(f"the certificate would be for the user 'dana', not for {asked_by}, ")


def test_without_a_template_only_the_mapping_and_emails_name_people() -> None:
    # GIVEN a cluster with no requesterEmailTemplate
    gate = Csrgate(requesterEmailTemplate=None)
    # THEN dana is nobody csrgate can name, while angela (mapped) and an OIDC email are people
    dana = gate.record(gate.submit(client_csr("dana"), "dana"))
    angela = gate.record(gate.submit(client_csr("angela"), "angela", username="angela"))
    oidc = gate.record(gate.submit(client_csr("oidc:eve@example.com"), "eve", username="oidc:eve@example.com"))
    assert codes(dana) == ["requester-unknown"] and dana.approvals_needed == 2
    assert "requesterEmails, not an email, and lab has no requesterEmailTemplate" in dana.findings[0].message
    assert codes(angela) == [] and angela.approvals_needed == 1
    assert codes(oidc) == [] and oidc.approvals_needed == 1


def test_a_person_asking_for_another_persons_certificate_needs_one_more_approver() -> None:
    # GIVEN dana (a person csrgate can name) asks for erin's user
    # GIVEN dana (a person csrgate can name) asking for erin's user
    gate = Csrgate()
    # WHEN intake receives it
    request_id = gate.submit(client_csr("erin"), "for-erin", username="dana")
    # THEN one more approver must agree, and she is told why
    record = gate.record(request_id)
    assert codes(record) == ["subject-mismatch"] and record.approvals_needed == 2
    assert "not for 'dana', who asked" in record.findings[0].message


def test_one_person_under_two_spellings_is_still_one_person() -> None:
    # GIVEN the lab maps the OIDC user name of dana to the same email as her CN
    # GIVEN the lab maps dana's OIDC user name to the email her CN maps to
    gate = Csrgate(requesterEmails={"oidc-dana": "Dana@Example.com"})
    # WHEN she asks for her own user
    request_id = gate.submit(client_csr("dana"), "dana", username="oidc-dana")
    # THEN she is one person: one approval is enough
    record = gate.record(request_id)
    assert codes(record) == [] and record.approvals_needed == 1


def test_a_serving_certificate_names_no_user_so_only_the_requester_must_be_known() -> None:
    # GIVEN an app-serving certificate (server auth only) asked for by dana with a CN that is not hers
    # GIVEN an app-serving certificate (server auth only) with a CN that is not dana's
    gate = Csrgate()
    csr = make_csr("web", dns=["web.team.svc"], key="p256")
    # WHEN dana asks for it
    request_id = gate.submit(
        csr, "web", signer="beta.eks.amazonaws.com/app-serving", usages=["server auth"], expiration_seconds=None
    )
    # THEN the CN logs nobody in, so it needs no second approver
    record = gate.record(request_id)
    assert record.state is State.AWAITING_REVIEW
    assert codes(record) == [] and record.approvals_needed == 1


def test_a_privileged_request_keeps_its_own_higher_number() -> None:
    # GIVEN the lab's policy marks O=ops privileged (two approvers) and a service account asks for it
    # GIVEN privileged requests need three approvers, and a service account asks for ops
    gate = Csrgate(privilegedRequiredApprovals=3)
    # WHEN intake receives it
    request_id = gate.submit(client_csr("dana", orgs=["ops"]), "ops", username="system:serviceaccount:ci:deployer")
    # THEN the higher number stands, and the message says why
    record = gate.record(request_id)
    assert record.privileged and record.approvals_needed == 3
    assert gate.channel.facts(record.slack_message)["Needs"].startswith("3 approvals (privileged request): ")
    assert gate.audit.events[1].details["privileged"] is True


@pytest.mark.parametrize(("length", "kept"), [(MAX_EMAIL_CHARS, True), (MAX_EMAIL_CHARS + 1, False)])
def test_an_annotation_longer_than_any_email_is_no_claim(length: int, kept: bool) -> None:
    # GIVEN an annotation of the longest email length, or one character more
    email = "d" * (length - len("@example.com")) + "@example.com"
    gate = Csrgate()
    # WHEN intake receives the CSR
    request_id = submitted(gate, email)
    # THEN only the one that can be an email is a claim
    assert (gate.record(request_id).request.requester_email_claim == email) is kept
    assert ("csr.requester_email_unverified" in gate.audit.names()) is kept
