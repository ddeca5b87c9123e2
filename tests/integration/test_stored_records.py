"""What the DynamoDB adapters store reads back whole: every field of a request, an ask and a delivered certificate,
so a field added to the domain and forgotten in the table fails here, not in production."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from stack import Stack

from csrgate.adapters.aws.asks import DynamoAskStore
from csrgate.adapters.aws.certificates import DynamoCertificateStore
from csrgate.adapters.aws.store import DynamoRequestStore
from csrgate.domain.asks import AskState, CertificateAsk
from csrgate.domain.certificates import DeliveredCertificate
from csrgate.domain.findings import Code, Finding, Severity
from csrgate.domain.lifecycle import State
from csrgate.domain.outcome import Outcome
from csrgate.domain.ports import Conflict
from csrgate.domain.records import Actor, AuditEvent, RequestRecord
from csrgate.domain.summary import RequestSummary

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Fields set by later writes (a message posted, approvals, decisions, flags, links, reminders), not by the first one.
LATER = {
    "version", "slack_message", "decision_queued", "approvals", "decided_by", "decided_at", "decision_reason",
    "decision_applied", "requester_told", "outcome_note", "reminded", "overtaken", "state", "csr_uid", "request_id",
    "note", "reminders_sent", "renewed_by",
}  # fmt: skip


def every_field_set(kind: type, **values: Any) -> Any:
    """An instance whose fields, but those later writes set, all differ from their defaults."""
    made = kind(**values)
    unset = [f.name for f in dataclasses.fields(kind) if getattr(made, f.name) == f.default and f.name not in LATER]
    assert unset == [], f"give {kind.__name__}'s {unset} a value here"
    return made


def test_a_request_reads_back_with_every_field_its_creation_stored(stack: Stack) -> None:
    store = DynamoRequestStore(stack.session.client("dynamodb"), stack.resources["RequestTable"], timedelta(days=1))
    record = every_field_set(
        RequestRecord,
        request_id="r-1",
        cluster="lab",
        csr_name="dana",
        csr_uid="uid-1",
        state=State.AWAITING_REVIEW,
        outcome=Outcome.REVIEW,
        findings=(Finding(Code.RENEWAL, Severity.INFO, "a renewal"),),
        request=RequestSummary(name="dana", username="dana", common_names=("dana",)),
        received_at=AT,
        approvals_needed=2,
        privileged=True,
        requester_email="dana@example.com",
        spec_fingerprint="f" * 64,
        ask_id="a-1",
        asker_slack_id="U0DANA",
        asker_name="dana",
        ask_reason="on call",
        renews="e" * 64,
        holder_slack_id="U0DANA",
        chain_started_at=AT - timedelta(days=3),
    )
    event = AuditEvent.about(record, "csr.received", Actor.CLUSTER, AT)
    assert store.create(record, [event])
    assert store.get("r-1") == record


def test_an_ask_and_a_delivered_certificate_read_back_whole(stack: Stack) -> None:
    client, table = stack.session.client("dynamodb"), stack.resources["RequestTable"]
    ask = every_field_set(
        CertificateAsk,
        ask_id="a-1",
        cluster="lab",
        slack_user="U0DANA",
        slack_name="dana",
        email="dana@example.com",
        username="dana",
        csr_name="csrgate-dana-a1",
        request_pem="-----BEGIN CERTIFICATE REQUEST-----\n...\n",
        expiration_seconds=3600,
        reason="on call",
        asked_at=AT,
    )
    asks = DynamoAskStore(client, table, timedelta(days=1))
    asks.create(ask, AuditEvent.about_ask(ask, "slack.certificate_asked", "dana (U0DANA)", AT))
    linked = asks.move(
        ask,
        AskState.LINKED,
        AuditEvent.about_ask(ask, "csr.linked", Actor.SERVICE, AT),
        {"csr_uid": "uid-1", "request_id": "r-1"},
    )
    assert asks.get("a-1") == linked and asks.by_asker("U0DANA", 5) == [linked]
    certificate = every_field_set(
        DeliveredCertificate,
        fingerprint="c" * 64,
        cluster="lab",
        username="dana",
        groups=("team-a",),
        not_before=AT,
        not_after=AT + timedelta(days=10),
        slack_user="U0DANA",
        request_id="r-1",
        chain_started_at=AT,
        lifetime_seconds=10 * 86400,
    )
    certificates = DynamoCertificateStore(client, table, timedelta(days=1))
    event = AuditEvent("csr.certificate_remembered", "r-1", "lab", "dana", "uid-1", Actor.SERVICE, AT)
    certificates.remember(certificate, event)
    certificates.remember(certificate, event)  # a redelivered job: remembered once
    assert certificates.get("c" * 64) == certificate
    assert certificates.due_reminders(AT + timedelta(days=8, hours=1)) == [certificate]
    reminded = certificates.reminded(certificate, event)
    assert certificates.get("c" * 64) == reminded and reminded.reminders_sent == 1
    renewed = certificates.renewed(reminded, "r-2", event)
    assert certificates.get("c" * 64) == renewed and certificates.due_reminders(AT + timedelta(days=20)) == []
    assert certificates.renewed(reminded, "r-2", event) == renewed  # the same request again: nothing changes
    with pytest.raises(Conflict):
        certificates.renewed(reminded, "r-3", event)  # one renewal, ever
    with pytest.raises(Conflict):
        certificates.reminded(renewed, event)  # no reminder after it
