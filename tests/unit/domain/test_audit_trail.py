"""The audit trail: every line names the request, the CSR and who acted, and the same CSR always gets the same
request id, so a re-sent event finds the request it belongs to."""

from __future__ import annotations

from memory import Csrgate

from csrgate.domain.records import Actor, AuditEvent, SlackUser, request_id_for


def test_a_csr_gets_the_same_request_id_every_time_and_across_versions() -> None:
    # Ids are stored: a change here would make every request in the table unreachable by its CSR.
    assert request_id_for("lab", "uid-1") == "f583a999-ed40-5d7d-a0aa-92e32e9b0202"
    assert request_id_for("lab2", "uid-1") == "bd24d624-bc8f-5d26-b1a1-0a4d5e1fc21d"
    assert request_id_for("lab", "uid-2") != request_id_for("lab", "uid-1")


def test_every_audit_line_starts_with_the_fixed_keys_then_the_events_details() -> None:
    # GIVEN dana's request approved by alice
    gate = Csrgate()
    request_id = gate.submit()
    gate.click(request_id, "U0ALICE")
    # THEN the approval's log line names the request, the CSR and the approver, then says what was decided
    line = gate.audit.lines[gate.audit.names().index("csr.approved")]
    csr_uid = gate.cluster.csrs_by_name["dana"].uid
    assert list(line) == [
        "event",
        "cluster",
        "csr_name",
        "csr_uid",
        "request_id",
        "actor",
        "slack_user",
        "slack_name",
        "approvers",
        "seconds_to_decision",
    ]
    assert line == {
        "event": "csr.approved",
        "cluster": "lab",
        "csr_name": "dana",
        "csr_uid": csr_uid,
        "request_id": request_id,
        "actor": "alice (U0ALICE)",
        "slack_user": "U0ALICE",
        "slack_name": "alice",
        "approvers": "alice (U0ALICE)",
        "seconds_to_decision": 0,
    }
    assert all(event.at == gate.clock() for event in gate.audit.events)


def test_an_event_about_a_request_carries_its_identity() -> None:
    gate = Csrgate()
    record = gate.record(gate.submit())
    event = AuditEvent.about(record, "csr.reminded", Actor.SERVICE, gate.clock(), count=1)
    assert (event.request_id, event.cluster, event.csr_name, event.csr_uid) == (
        record.request_id,
        "lab",
        "dana",
        record.csr_uid,
    )
    assert (event.actor, event.at, dict(event.details)) == ("csrgate", gate.clock(), {"count": 1})
    assert AuditEvent("e", "r", "c", "n", "u", "a", gate.clock()).details == {}


def test_people_and_csrgate_are_named_as_the_log_names_them() -> None:
    assert SlackUser("U0ALICE", "alice").label == "alice (U0ALICE)"
    assert [actor.value for actor in Actor] == ["csrgate:policy", "csrgate:cluster", "csrgate"]
