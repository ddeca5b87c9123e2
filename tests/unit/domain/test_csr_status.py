"""One reading of a CSR's status: a condition holds only with status "True", it is csrgate's only with one of the four
reasons csrgate writes, and csrgate appends its decision without ever overwriting another."""

from __future__ import annotations

import pytest

from csrgate.domain.conditions import (
    APPROVED,
    CSRGATE_REASONS,
    DENIED,
    FAILED,
    MAX_MESSAGE_LENGTH,
    Condition,
    CsrStatus,
    DecisionOutcome,
    IssuanceOutcome,
    deciding_condition,
    decision_condition,
    is_csrgate_reason,
    issuance_state,
    plan_decision,
)
from csrgate.domain.outcome import Outcome

OURS_APPROVED = Condition(APPROVED, "True", "CsrgateApproved", "Approved by alice via csrgate")
KUBECTL_DENIED = Condition(DENIED, "True", "KubectlDeny", "no")


def test_a_status_is_read_from_its_json() -> None:
    status = CsrStatus.of(
        {
            "conditions": [
                {"type": "Approved", "status": "True", "reason": "CsrgateApproved", "message": "ok"},
                {"type": "Failed", "status": "True"},
                "not a condition",
            ],
            "certificate": "LS0tLS1CRUdJTi...",
        }
    )
    assert status.conditions == (
        Condition(APPROVED, "True", "CsrgateApproved", "ok"),
        Condition(FAILED, "True", "", ""),
    )
    assert status.issued and status.approved and not status.denied and status.decided
    assert status.by_csrgate and status.failed_reason == "Failed"


@pytest.mark.parametrize("status", [None, "pending", [], {"conditions": "Approved"}, {"certificate": ""}])
def test_anything_not_shaped_like_a_status_reads_as_nothing_happened(status: object) -> None:
    read = CsrStatus.of(status)
    assert read.conditions == () and not read.issued
    assert not read.decided and read.deciding is None and not read.by_csrgate
    assert read.failed_reason is None and read.decision_text == ""


def test_a_condition_with_null_fields_reads_as_empty_text() -> None:
    read = Condition.from_mapping({"type": None, "status": None, "reason": None, "message": None})
    assert read == Condition("", "", "", "")


def test_a_condition_field_that_is_not_text_reads_as_absent() -> None:
    read = Condition.from_mapping({"type": "Approved", "status": True, "reason": ["CsrgateApproved"], "message": 1})
    assert read == Condition("Approved", "", "", "")
    assert not CsrStatus.of({"conditions": [{"type": "Approved", "status": True}]}).approved


@pytest.mark.parametrize("status", ["False", "Unknown", "true", "", "TRUE"])
def test_a_condition_holds_only_with_status_true_exactly(status: str) -> None:
    read = CsrStatus((Condition(APPROVED, status, "KubectlApprove"), Condition(DENIED, status)))
    assert not read.approved and not read.denied and not read.decided
    assert CsrStatus((Condition(FAILED, status, "x"),)).failed_reason is None


def test_the_approved_condition_decides_when_both_are_there() -> None:
    read = CsrStatus((KUBECTL_DENIED, OURS_APPROVED))
    assert read.approved and read.denied
    assert read.deciding == OURS_APPROVED and read.by_csrgate
    assert read.decision_text == "CsrgateApproved Approved by alice via csrgate"


def test_a_denial_decides_when_nothing_approved_it() -> None:
    read = CsrStatus((Condition(APPROVED, "False", "CsrgateApproved"), KUBECTL_DENIED))
    assert read.deciding == KUBECTL_DENIED and not read.by_csrgate
    assert read.decision_text == "KubectlDeny no"


def test_the_decision_text_is_kept_short() -> None:
    read = CsrStatus((Condition(DENIED, "True", "KubectlDeny", "x" * 400),))
    assert read.decision_text == ("KubectlDeny " + "x" * 400)[:300]
    assert CsrStatus((Condition(DENIED, "True", "", "  "),)).decision_text == ""


def test_the_signers_failure_reason_is_read() -> None:
    assert CsrStatus((Condition(FAILED, "True", "SignerValidationFailure"),)).failed_reason == "SignerValidationFailure"


@pytest.mark.parametrize("reason", sorted(CSRGATE_REASONS))
def test_only_the_four_reasons_csrgate_writes_are_csrgates(reason: str) -> None:
    assert is_csrgate_reason(reason) and Condition(APPROVED, "True", reason).by_csrgate
    assert {"CsrgateApproved", "CsrgateDenied", "CsrgatePolicyDenied", "CsrgateExpired"} == CSRGATE_REASONS


@pytest.mark.parametrize("reason", ["CsrgateWhatever", "csrgateapproved", "", "KubectlApprove", "CsrgateApproved "])
def test_any_other_reason_was_written_by_someone_else(reason: str) -> None:
    assert not is_csrgate_reason(reason)


def test_csrgates_condition_names_the_decider_and_why() -> None:
    assert decision_condition(Outcome.APPROVE, "alice (U0ALICE)", "  approved in Slack ") == Condition(
        APPROVED, "True", "CsrgateApproved", "Approved by alice (U0ALICE) via csrgate: approved in Slack"
    )
    assert decision_condition(Outcome.DENY, "csrgate:policy", " ", "CsrgatePolicyDenied") == Condition(
        DENIED, "True", "CsrgatePolicyDenied", "Denied by csrgate:policy via csrgate"
    )
    assert decision_condition(Outcome.DENY, "bob", "no").reason == "CsrgateDenied"


def test_a_long_why_is_cut_to_what_the_api_server_accepts() -> None:
    message = decision_condition(Outcome.DENY, "bob", "x" * 2000).message
    assert len(message) == MAX_MESSAGE_LENGTH and message.endswith("x…")
    fits = "x" * (MAX_MESSAGE_LENGTH - len("Denied by bob via csrgate: "))
    assert decision_condition(Outcome.DENY, "bob", fits).message.endswith("xx")


def test_a_decision_is_appended_only_to_an_undecided_csr() -> None:
    assert plan_decision([], Outcome.APPROVE) is None
    assert plan_decision([Condition(FAILED, "True"), Condition(APPROVED, "False")], Outcome.APPROVE) is None
    failed_then_ours = [Condition(FAILED, "True"), Condition(APPROVED, "False"), OURS_APPROVED]
    assert plan_decision(failed_then_ours, Outcome.APPROVE) == (DecisionOutcome.ALREADY_APPLIED, OURS_APPROVED)
    assert plan_decision([OURS_APPROVED], Outcome.APPROVE) == (DecisionOutcome.ALREADY_APPLIED, OURS_APPROVED)
    assert plan_decision([OURS_APPROVED], Outcome.DENY) == (DecisionOutcome.DECIDED_ELSEWHERE, OURS_APPROVED)
    assert plan_decision([KUBECTL_DENIED], Outcome.DENY) == (DecisionOutcome.DECIDED_ELSEWHERE, KUBECTL_DENIED)
    kubectl_approved = Condition(APPROVED, "True", "KubectlApprove")
    assert plan_decision([kubectl_approved], Outcome.APPROVE) == (DecisionOutcome.DECIDED_ELSEWHERE, kubectl_approved)


def test_where_a_certificate_stands_is_read_from_the_status() -> None:
    assert issuance_state([], None) is None
    assert issuance_state([OURS_APPROVED], None) is None
    assert issuance_state([OURS_APPROVED], b"PEM") is IssuanceOutcome.ISSUED
    assert issuance_state([OURS_APPROVED, Condition(FAILED, "True")], b"PEM") is IssuanceOutcome.FAILED
    assert issuance_state([Condition(FAILED, "True"), KUBECTL_DENIED], None) is IssuanceOutcome.DENIED
    assert issuance_state([Condition(DENIED, "False"), Condition(FAILED, "False")], None) is None


def test_the_condition_behind_a_failure_or_denial_is_found() -> None:
    failed = Condition(FAILED, "True", "SignerValidationFailure")
    conditions = [OURS_APPROVED, failed, KUBECTL_DENIED]
    assert deciding_condition(conditions, IssuanceOutcome.FAILED) == failed
    assert deciding_condition(conditions, IssuanceOutcome.DENIED) == KUBECTL_DENIED
    assert deciding_condition(conditions, IssuanceOutcome.ISSUED) is None
