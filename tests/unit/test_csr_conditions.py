"""csrgate's decisions on a CSR's conditions: append, or leave alone; and what a status says about issuance."""

from __future__ import annotations

import base64

import pytest

from csrgate.adapters.cluster.csrs import certificate_pem
from csrgate.domain.conditions import (
    CSRGATE_REASONS,
    MAX_MESSAGE_LENGTH,
    Condition,
    CsrStatus,
    DecisionOutcome,
    IssuanceOutcome,
    decision_condition,
    issuance_state,
    plan_decision,
)
from csrgate.domain.outcome import Outcome

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_the_condition_names_who_decided_and_why() -> None:
    approved = decision_condition(Outcome.APPROVE, "alice@example.com", " on call ")
    denied = decision_condition(Outcome.DENY, "policy", "forbidden-group", reason="CsrgatePolicyDenied")

    assert approved == Condition(
        "Approved", "True", "CsrgateApproved", "Approved by alice@example.com via csrgate: on call"
    )
    assert denied == Condition("Denied", "True", "CsrgatePolicyDenied", "Denied by policy via csrgate: forbidden-group")


def test_a_long_reason_is_cut_to_the_message_limit() -> None:
    condition = decision_condition(Outcome.DENY, "bob", "x" * 5000)

    assert len(condition.message) == MAX_MESSAGE_LENGTH
    assert condition.message.endswith("…")


def test_an_undecided_csr_gets_the_condition_appended() -> None:
    failed = Condition("Failed", "True", "SignerValidationFailure")

    assert plan_decision([], Outcome.APPROVE) is None
    assert plan_decision([failed], Outcome.DENY) is None


def test_csrgates_own_earlier_decision_is_already_applied() -> None:
    ours = Condition("Approved", "True", "CsrgateApproved", "Approved by alice")

    assert plan_decision([ours], Outcome.APPROVE) == (DecisionOutcome.ALREADY_APPLIED, ours)


def test_anyone_elses_decision_or_the_opposite_one_is_decided_elsewhere() -> None:
    kubectl = Condition("Approved", "True", "KubectlApprove")
    ours_denied = Condition("Denied", "True", "CsrgateDenied")

    assert plan_decision([kubectl], Outcome.APPROVE) == (DecisionOutcome.DECIDED_ELSEWHERE, kubectl)
    assert plan_decision([ours_denied], Outcome.APPROVE) == (DecisionOutcome.DECIDED_ELSEWHERE, ours_denied)


def test_issuance_state_reads_denied_failed_issued_and_still_waiting() -> None:
    approved = Condition("Approved", "True", "CsrgateApproved")

    assert issuance_state([approved], None) is None
    assert issuance_state([approved], PEM) is IssuanceOutcome.ISSUED
    assert issuance_state([approved, Condition("Failed", "True", "SignerValidationFailure")], None) is (
        IssuanceOutcome.FAILED
    )
    assert issuance_state([Condition("Denied", "True")], None) is IssuanceOutcome.DENIED


def test_the_certificate_is_read_whether_the_client_gives_base64_text_or_bytes() -> None:
    assert certificate_pem(base64.b64encode(PEM).decode()) == PEM  # kubernetes client 35: str, base64 as in JSON
    assert certificate_pem(PEM) == PEM  # clients that decode `format: byte` fields hand over the bytes
    assert certificate_pem(base64.b64encode(PEM)) == PEM
    assert certificate_pem(None) is None
    assert certificate_pem("not base64!") is None


def csr_decided(kind: str, reason: str) -> dict[str, object]:
    """A CSR object as the forwarder sends it, decided with one condition."""
    return {"status": {"conditions": [{"type": kind, "status": "True", "reason": reason, "message": "m"}]}}


def test_csrgate_writes_exactly_four_reasons() -> None:
    assert {"CsrgateApproved", "CsrgateDenied", "CsrgatePolicyDenied", "CsrgateExpired"} == CSRGATE_REASONS


@pytest.mark.parametrize("reason", sorted(CSRGATE_REASONS))
def test_intake_and_worker_read_csrgates_own_reasons_as_csrgates(reason: str) -> None:
    kind = "Approved" if reason == "CsrgateApproved" else "Denied"

    assert Condition(kind, "True", reason).by_csrgate
    assert CsrStatus.of(csr_decided(kind, reason)["status"]).by_csrgate


@pytest.mark.parametrize(
    "reason", ["CsrgateWhatever", "Csrgate", "csrgateapproved", "CsrgateApproved ", "KubectlApprove"]
)
def test_a_reason_that_only_looks_like_csrgates_is_a_decision_made_elsewhere(reason: str) -> None:
    # GIVEN a CSR someone approved outside csrgate, with a reason of their choosing
    status = CsrStatus.of(csr_decided("Approved", reason)["status"])
    # THEN intake reads it as decided elsewhere, as the worker does
    assert status.approved and not status.by_csrgate
    assert not Condition("Approved", "True", reason).by_csrgate
    assert plan_decision([Condition("Approved", "True", reason)], Outcome.APPROVE) == (
        DecisionOutcome.DECIDED_ELSEWHERE,
        Condition("Approved", "True", reason),
    )
