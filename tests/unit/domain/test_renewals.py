"""Renewal without an administrator: a CSR made with a certificate csrgate delivered, for the same user and no more
groups, is approved by policy and delivered; anything else is a normal review; holders are reminded before expiry."""

from __future__ import annotations

import pytest
from cryptography import x509
from memory import Csrgate, client_csr, codes

from csrgate.domain.approvals import ClickAnswer
from csrgate.domain.errors import RetryLater
from csrgate.domain.findings import Severity
from csrgate.domain.intake import EventType
from csrgate.domain.lifecycle import State
from csrgate.domain.sweeper import SweepResult
from devstack.csrs import make_csr

LIFETIME = 10 * 86400  # ten days: reminded at day eight, and a day before the end


def first_certificate(
    gate: Csrgate, cn: str = "dana", orgs: tuple[str, ...] = (), approvers: tuple[str, ...] = ("U0ALICE",)
) -> bytes:
    """`cn`'s first certificate, approved by people and delivered: the certificate."""
    request_id = gate.submit(client_csr(cn, orgs), cn, username=cn, expiration_seconds=LIFETIME)
    for approver in approvers:
        gate.click(request_id, approver)
    gate.work()
    assert gate.record(request_id).state is State.DELIVERED
    certificate = gate.cluster.csrs_by_name[cn].certificate
    assert certificate is not None
    return certificate


def renewal(
    gate: Csrgate, name: str, made_with: bytes, cn: str = "dana", orgs: tuple[str, ...] = (), **spec: object
) -> str:
    """A CSR `cn` applies with the certificate `made_with`: its request id."""
    spec = {"username": cn, "expiration_seconds": LIFETIME} | spec
    gate.cluster.create_as(client_csr(cn, orgs), name, made_with=made_with, **spec)  # type: ignore[arg-type]
    gate.forward(name, EventType.ADDED)
    return gate.request_id(name)


def test_a_renewal_with_the_same_user_and_groups_is_approved_by_policy_and_delivered_to_the_holder() -> None:
    gate = Csrgate()
    old = first_certificate(gate, orgs=("team-a",))
    [delivered] = gate.certificates.certificates.values()
    assert (delivered.username, delivered.groups, delivered.slack_user) == ("dana", ("team-a",), "U0DANA")
    gate.clock.advance(days=8)
    request_id = renewal(gate, "dana-renewed", old, orgs=("team-a",))
    record = gate.record(request_id)
    assert record.state is State.AUTO_APPROVED and record.renews == delivered.fingerprint
    assert "renewal" in codes(record) and record.holder_slack_id == "U0DANA"
    gate.work()
    assert gate.record(request_id).state is State.DELIVERED
    assert [user for user, _ in gate.requesters.delivered] == ["U0DANA", "U0DANA"]
    # the old certificate is renewed (no more reminders); the new one keeps the chain's start
    assert gate.certificates.get(delivered.fingerprint).renewed_by == request_id  # type: ignore[union-attr]
    new = next(c for c in gate.certificates.certificates.values() if c.request_id == request_id)
    assert new.chain_started_at == delivered.chain_started_at


def test_a_renewal_asking_for_an_extra_group_goes_to_review_and_its_holder_may_not_approve_it() -> None:
    gate = Csrgate()
    old = first_certificate(gate, cn="alice", approvers=("U0BOB",))
    request_id = renewal(gate, "alice-more", old, cn="alice", orgs=("team-b",))
    record = gate.record(request_id)
    assert record.state is State.AWAITING_REVIEW and record.approvals_needed == 1
    [note] = [f for f in record.findings if f.code.value == "renewal"]
    assert note.severity is Severity.INFO and "team-b" in note.message
    assert gate.click(request_id, "U0ALICE").answer is ClickAnswer.REFUSED  # hers, whatever her names
    assert gate.click(request_id, "U0BOB").answer is ClickAnswer.DECIDED


def test_someone_elses_certificate_asking_for_her_name_is_a_normal_review() -> None:
    gate = Csrgate()
    first_certificate(gate)
    alices = first_certificate(gate, cn="alice", approvers=("U0BOB",))
    request_id = renewal(gate, "not-dana", alices, cn="dana", username="alice")
    record = gate.record(request_id)
    assert record.state is State.AWAITING_REVIEW
    assert "not for 'alice'" in next(f.message for f in record.findings if f.code.value == "renewal")


def test_an_expired_certificate_renews_nothing() -> None:
    gate = Csrgate()
    old = first_certificate(gate)
    gate.clock.advance(days=11)
    record = gate.record(renewal(gate, "late", old))
    assert record.state is State.AWAITING_REVIEW


def test_a_chain_of_renewals_needs_a_person_again_after_ninety_days() -> None:
    gate = Csrgate()
    certificate = first_certificate(gate)
    for n in range(11):  # every nine days a renewal by policy
        gate.clock.advance(days=9)
        request_id = renewal(gate, f"renewal-{n}", certificate)
        if gate.record(request_id).state is not State.AUTO_APPROVED:
            break
        gate.work()
        certificate = gate.cluster.csrs_by_name[f"renewal-{n}"].certificate  # type: ignore[assignment]
    record = gate.record(request_id)
    # day 81: a ten-day certificate would outlive the 90 days since a person approved; a person approves again
    assert record.state is State.AWAITING_REVIEW and n == 8
    assert "end 90 days after that" in next(f.message for f in record.findings if f.code.value == "renewal")


def test_a_policy_may_have_people_review_renewals_and_privileged_groups_always_are() -> None:
    gate = Csrgate()
    gate.directory.policies["reviewed"] = (
        "signers:\n  kubernetes.io/kube-apiserver-client:\n    onRenewal: review\n    privilegedGroups: [ops]\n"
    )
    gate.reconfigure(policy="reviewed")
    old = first_certificate(gate)
    assert gate.record(renewal(gate, "reviewed", old)).state is State.AWAITING_REVIEW
    gate.reconfigure(policy="team")  # privilegedGroups: [ops], renewals approved
    ops = first_certificate(gate, cn="erin", orgs=("ops",), approvers=("U0ALICE", "U0BOB"))
    assert gate.record(renewal(gate, "ops-again", ops, cn="erin", orgs=("ops",))).state is State.AWAITING_REVIEW


def test_holders_are_reminded_at_80_percent_and_a_day_before_once_each_never_after_renewal() -> None:
    gate = Csrgate()
    first_certificate(gate)
    gate.clock.advance(days=7)
    assert gate.sweeper.sweep().holders_reminded == 0
    gate.clock.advance(days=1, hours=1)  # past 80% of ten days
    assert gate.sweeper.sweep() == SweepResult(holders_reminded=1)
    assert gate.sweeper.sweep() == SweepResult()  # once per threshold
    user, text = gate.requesters.told[-1]
    assert user == "U0DANA" and "expires" in text and "kubectl --kubeconfig lab-dana.kubeconfig apply" in text
    assert "-subj /CN=dana" in text and "base64 -w0 dana-renewed.csr" in text
    gate.clock.advance(days=1)  # a day before the end
    assert gate.sweeper.sweep() == SweepResult(holders_reminded=1)
    # a second certificate, renewed before its reminder: never reminded
    gate2 = Csrgate()
    old2 = first_certificate(gate2)
    gate2.clock.advance(days=2)
    renewal(gate2, "early", old2)
    gate2.work()
    gate2.clock.advance(days=7)
    told = [text for user, text in gate2.requesters.told if "expires" in text]
    gate2.sweeper.sweep()
    assert [text for user, text in gate2.requesters.told if "expires" in text] == told  # the old one: nothing


def test_one_certificate_renews_once_two_renewals_made_with_it_at_once_leave_one_to_a_person() -> None:
    gate = Csrgate()
    old = first_certificate(gate)
    first = gate.record(renewal(gate, "fork-1", old))
    second = gate.record(renewal(gate, "fork-2", old))  # before the first is even delivered
    assert first.state is State.AUTO_APPROVED
    assert second.state is State.AWAITING_REVIEW
    assert "renewed already" in next(f.message for f in second.findings if f.code.value == "renewal")


def test_a_renewal_may_not_live_longer_than_the_certificate_it_renews() -> None:
    gate = Csrgate()
    old = first_certificate(gate)  # ten days
    record = gate.record(renewal(gate, "longer", old, expiration_seconds=LIFETIME + 3600))
    assert record.state is State.AWAITING_REVIEW
    assert "live longer" in next(f.message for f in record.findings if f.code.value == "renewal")


def test_a_certificate_for_another_user_made_with_yours_still_needs_two_approvers() -> None:
    gate = Csrgate()
    alices = first_certificate(gate, cn="alice", approvers=("U0BOB",))
    record = gate.record(renewal(gate, "for-a-bot", alices, cn="deploy-bot", username="alice"))
    assert record.state is State.AWAITING_REVIEW and record.approvals_needed == 2
    assert "subject-mismatch" in codes(record) and record.holder_slack_id == "U0ALICE"


def test_a_renewal_whose_subject_carries_more_than_cn_and_o_is_reviewed() -> None:
    gate = Csrgate()
    old = first_certificate(gate)
    uid = x509.ObjectIdentifier("1.3.6.1.4.1.57683.2")  # the API server reads a user's UID from it
    pem = make_csr("dana", key="p256", other_subject=[(uid, "uid-of-the-admin")])
    gate.cluster.create_as(pem, "uid", username="dana", expiration_seconds=LIFETIME, made_with=old)
    gate.forward("uid", EventType.ADDED)
    assert gate.record(gate.request_id("uid")).state is not State.AUTO_APPROVED


def test_a_worker_failing_after_the_dm_remembers_the_certificate_when_it_tries_again() -> None:
    gate = Csrgate()
    request_id = gate.submit(client_csr("dana"), "dana", username="dana", expiration_seconds=LIFETIME)
    gate.click(request_id, "U0ALICE")
    gate.store.before("mark", lambda: None)  # the decision applied, marked
    gate.store.before("mark", lambda: (_ for _ in ()).throw(RetryLater("DynamoDB is briefly unavailable")))
    with pytest.raises(RetryLater):
        gate.work()
    assert len(gate.certificates.certificates) == 1  # remembered before the requester was marked told
