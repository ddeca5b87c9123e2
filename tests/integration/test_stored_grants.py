"""Grants in the requests' table: every field reads back, every change is conditional, the grant's audit events lie
beside it, and the indexes it shares with asks, requests and certificates never hand one's items to another."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from stack import Stack

from csrgate.adapters.aws.asks import DynamoAskStore
from csrgate.adapters.aws.certificates import DynamoCertificateStore
from csrgate.adapters.aws.grants import DynamoGrantStore
from csrgate.adapters.aws.store import DynamoRequestStore, plain
from csrgate.domain.asks import CertificateAsk
from csrgate.domain.certificates import DeliveredCertificate
from csrgate.domain.grants import Grant, GrantState, InvalidGrantTransition, grant_event
from csrgate.domain.lifecycle import State
from csrgate.domain.outcome import Outcome
from csrgate.domain.ports import Conflict
from csrgate.domain.records import Actor, Approval, AuditEvent, MessageRef, RequestRecord
from csrgate.domain.summary import RequestSummary

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RETENTION = timedelta(days=30)
HOUR = timedelta(hours=1)


def grant_with_every_field_set(**values: Any) -> Grant:
    """A grant none of whose fields keeps its default, so a field the table forgets fails the read-back."""
    grant = Grant(**values)
    unset = [f.name for f in dataclasses.fields(Grant) if getattr(grant, f.name) == f.default]
    assert unset == [], f"give the grant's {unset} a value here"
    return grant


def asked(grant_id: str, slack_user: str = "U0DANA", at: datetime = AT) -> Grant:
    """A grant as the interactions function stores it: just asked, awaiting review."""
    return Grant(
        grant_id=grant_id,
        cluster="lab",
        role="edit",
        cluster_role="edit",
        namespace="payments",
        username="dana@example.com",
        slack_user=slack_user,
        slack_name="dana",
        email="dana@example.com",
        duration_seconds=3600,
        reason="incident 42",
        asked_at=at,
        approvals_needed=1,
    )


def happened(grant: Grant, what: str, at: datetime) -> AuditEvent:
    return grant_event(grant, f"grant.{what}", "alice (U0ALICE)", at)


def stored_events(stack: Stack, grant_id: str) -> list[str]:
    """The names of the grant's audit events stored beside it, oldest first."""
    answer = stack.session.client("dynamodb").query(
        TableName=stack.resources["RequestTable"],
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"GRANT#{grant_id}"}, ":prefix": {"S": "EVENT#"}},
        ConsistentRead=True,
    )
    return [plain(item)["event"] for item in answer["Items"]]


@pytest.fixture
def grants(stack: Stack) -> DynamoGrantStore:
    return DynamoGrantStore(stack.session.client("dynamodb"), stack.resources["RequestTable"], RETENTION)


def create(grants: DynamoGrantStore, grant: Grant) -> Grant:
    grants.create(grant, happened(grant, "asked", grant.asked_at))
    return grant


def approve(grants: DynamoGrantStore, grant: Grant, at: datetime) -> Grant:
    changes = {"decided_by": "alice (U0ALICE)", "decided_at": at}
    return grants.move(grant, GrantState.APPROVED, happened(grant, "approved", at), changes)


def activate(grants: DynamoGrantStore, grant: Grant, at: datetime) -> Grant:
    approved = approve(grants, grant, at)
    changes = {"starts_at": at, "ends_at": grant.ends_after(at)}
    return grants.move(approved, GrantState.ACTIVE, happened(approved, "bound", at), changes)


def end(grants: DynamoGrantStore, grant: Grant, at: datetime) -> Grant:
    changes = {"ended_by": "alice (U0ALICE)", "ended_at": at}
    return grants.move(grant, GrantState.ENDING, happened(grant, "revoked", at), changes)


def test_a_grant_reads_back_with_every_field_set(stack: Stack, grants: DynamoGrantStore) -> None:
    # GIVEN a grant with every field set, access included (an extension, ended, its requester told and reminded)
    ends_at = AT + 9 * HOUR
    grant = grant_with_every_field_set(
        grant_id="g-1",
        cluster="lab",
        role="admin",
        cluster_role="csrgate-admin",
        namespace="payments",
        username="dana@example.com",
        slack_user="U0DANA",
        slack_name="dana",
        email="dana@example.com",
        duration_seconds=8 * 3600,
        reason="incident 42",
        asked_at=AT,
        approvals_needed=2,
        privileged=True,
        extends="g-0",
        session_name="dana@example.com",
        state=GrantState.ENDED,
        version=6,
        slack_message=MessageRef("C0LAB", "1700000000.000100"),
        approvals=(Approval("U0ALICE", "alice", AT + HOUR / 2), Approval("U0BOB", "bob", AT + HOUR / 2)),
        decided_by="alice (U0ALICE), bob (U0BOB)",
        decided_at=AT + HOUR / 2,
        decision_reason="on call",
        starts_at=AT + HOUR,
        ends_at=ends_at,
        ended_by=Actor.SERVICE.value,
        ended_at=ends_at,
        told=True,
        reminded=True,
        note="the binding was gone already",
    )
    # WHEN it is stored
    create(grants, grant)
    # THEN it reads back whole, by its id and as its asker's, and stays for the retention after its access ended
    assert grants.get("g-1") == grant
    assert grants.by_asker("U0DANA", 5) == [grant]
    assert grants.get("g-2") is None
    item = stack.session.client("dynamodb").get_item(
        TableName=stack.resources["RequestTable"], Key={"pk": {"S": "GRANT#g-1"}, "sk": {"S": "GRANT"}}
    )["Item"]
    assert plain(item)["expires_at"] == int((ends_at + RETENTION).timestamp())


def test_every_change_a_move_may_make_reads_back(grants: DynamoGrantStore) -> None:
    # GIVEN an approved grant
    grant = approve(grants, create(grants, asked("g-1")), AT + HOUR)
    # WHEN it fails, with everything a move may change
    changes = {
        "decision_reason": "on call",
        "starts_at": AT + 2 * HOUR,
        "ends_at": AT + 3 * HOUR,
        "ended_by": Actor.SERVICE.value,
        "ended_at": AT + 2 * HOUR,
        "note": "the cluster refused the binding",
    }
    failed = grants.move(grant, GrantState.FAILED, happened(grant, "failed", AT + 2 * HOUR), changes)
    # THEN the stored grant is the one the move returned
    assert failed.state is GrantState.FAILED and failed.version == 3 and failed.decided_by == "alice (U0ALICE)"
    assert grants.get("g-1") == failed


def test_a_move_is_made_only_from_the_state_read(stack: Stack, grants: DynamoGrantStore) -> None:
    # GIVEN a grant awaiting review, read by two deciders
    read = create(grants, asked("g-1"))
    # WHEN one approves it, then the other denies it from the same read
    approved = approve(grants, read, AT + HOUR)
    with pytest.raises(Conflict):
        grants.move(read, GrantState.DENIED, happened(read, "denied", AT + HOUR), {"decided_by": "bob (U0BOB)"})
    # THEN the approval stands, and only its event was written
    assert grants.get("g-1") == approved and approved.version == 2
    assert stored_events(stack, "g-1") == ["grant.asked", "grant.approved"]


def test_a_move_its_life_does_not_allow_or_of_a_missing_grant_is_refused(grants: DynamoGrantStore) -> None:
    grant = create(grants, asked("g-1"))
    with pytest.raises(InvalidGrantTransition):
        grants.move(grant, GrantState.ACTIVE, happened(grant, "bound", AT))
    with pytest.raises(Conflict):
        approve(grants, asked("g-missing"), AT)
    assert grants.get("g-missing") is None


def test_a_move_changes_nothing_outside_its_decision_and_access(stack: Stack, grants: DynamoGrantStore) -> None:
    grant = create(grants, asked("g-1"))
    for changes in ({"role": "admin"}, {"cluster_role": "cluster-admin"}, {"told": True}, {"version": 9}):
        with pytest.raises(ValueError, match="cannot change"):
            grants.move(grant, GrantState.APPROVED, happened(grant, "approved", AT), changes)
    assert grants.get("g-1") == grant
    assert stored_events(stack, "g-1") == ["grant.asked"]


def test_approvals_are_kept_once_per_approver_while_the_grant_awaits_review(
    stack: Stack, grants: DynamoGrantStore
) -> None:
    # GIVEN a grant needing two approvals
    grant = create(grants, dataclasses.replace(asked("g-1"), approvals_needed=2))
    alice, bob = Approval("U0ALICE", "alice", AT + HOUR), Approval("U0BOB", "bob", AT + 2 * HOUR)
    # WHEN alice approves twice (a double click) and bob once
    once = grants.add_approval(grant, alice, happened(grant, "approval_added", alice.at))
    with pytest.raises(Conflict):
        grants.add_approval(once, alice, happened(once, "approval_added", alice.at))
    both = grants.add_approval(once, bob, happened(once, "approval_added", bob.at))
    # THEN both approvals are kept, alice's once
    assert both.approvals == (alice, bob) and both.version == 3
    assert grants.get("g-1") == both
    assert stored_events(stack, "g-1") == ["grant.asked", "grant.approval_added", "grant.approval_added"]
    # AND once decided, no approval is added
    denied = grants.move(both, GrantState.DENIED, happened(both, "denied", AT + 3 * HOUR))
    with pytest.raises(Conflict):
        grants.add_approval(denied, Approval("U0CAROL", "carol", AT + 4 * HOUR), happened(denied, "x", AT))
    assert grants.get("g-1") == denied


def test_the_slack_message_is_saved_once(grants: DynamoGrantStore) -> None:
    grant = create(grants, asked("g-1"))
    first, second = MessageRef("C0LAB", "1.000100"), MessageRef("C0LAB", "2.000200")
    saved = grants.save_message(grant, first, happened(grant, "posted", AT))
    with pytest.raises(Conflict):
        grants.save_message(grant, second, happened(grant, "posted", AT))
    assert saved.slack_message == first and grants.get("g-1") == saved


def test_the_message_is_posted_under_a_lease_that_lapses_and_ends_with_the_saved_message(
    stack: Stack, grants: DynamoGrantStore
) -> None:
    grant = create(grants, asked("g-1"))
    # one poster at a time, until its lease lapses
    assert grants.claim_message("g-1", AT, 60)
    assert not grants.claim_message("g-1", AT + timedelta(seconds=60), 60)
    assert grants.claim_message("g-1", AT + timedelta(seconds=61), 60)
    # a failed post gives it back at once
    grants.release_message("g-1")
    assert grants.claim_message("g-1", AT + timedelta(seconds=62), 60)
    # once the message is saved, nobody posts again, and the lease is gone from the item
    grants.save_message(grant, MessageRef("C0LAB", "1.000100"), happened(grant, "posted", AT))
    assert not grants.claim_message("g-1", AT + HOUR, 60)
    grants.release_message("g-1")
    (item,) = [item for item in stack.items() if item["pk"] == "GRANT#g-1" and item["sk"] == "GRANT"]
    assert "message_lease_until" not in item and item["slack_message"] == {"channel": "C0LAB", "ts": "1.000100"}
    # and a grant that does not exist is never leased
    assert not grants.claim_message("g-nobody", AT, 60)


def test_flags_are_set_once(grants: DynamoGrantStore) -> None:
    grant = activate(grants, create(grants, asked("g-1")), AT + HOUR)
    told = grants.mark(grant, "told", happened(grant, "told", AT + HOUR))
    with pytest.raises(Conflict):
        grants.mark(told, "told", happened(told, "told", AT + HOUR))
    reminded = grants.mark(told, "reminded", happened(told, "reminded", AT + 2 * HOUR))
    with pytest.raises(ValueError, match="flag"):
        grants.mark(reminded, "privileged", happened(reminded, "x", AT))
    assert reminded.told and reminded.reminded and grants.get("g-1") == reminded


def test_the_sweeper_finds_each_grant_where_its_state_puts_it(grants: DynamoGrantStore) -> None:
    # GIVEN grants in every state, changed at different times
    early = create(grants, asked("g-early"))
    late = create(grants, asked("g-late", at=AT + 2 * HOUR))
    approved = approve(grants, create(grants, asked("g-approved")), AT + HOUR)
    denied = grants.move(
        created := create(grants, asked("g-denied")), GrantState.DENIED, happened(created, "denied", AT + 2 * HOUR)
    )
    ending = end(grants, activate(grants, create(grants, asked("g-ending")), AT), AT + 3 * HOUR)
    soon = activate(grants, create(grants, asked("g-soon")), AT + 4 * HOUR)  # ends at AT + 5h
    later = activate(grants, create(grants, asked("g-later")), AT + 8 * HOUR)  # ends at AT + 9h
    ended = end(grants, activate(grants, create(grants, asked("g-ended")), AT), AT + HOUR)
    ended = grants.move(ended, GrantState.ENDED, happened(ended, "unbound", AT + HOUR))
    expired = create(grants, asked("g-expired"))
    grants.move(expired, GrantState.EXPIRED, happened(expired, "expired", AT + HOUR))
    # THEN reviews are found by when they were asked, work to do by when it last changed, access by when it ends
    assert grants.awaiting_review(AT + 3 * HOUR) == [early, late]
    assert grants.awaiting_review(AT + 2 * HOUR) == [early]
    assert grants.unfinished(AT + 4 * HOUR) == [approved, denied, ending]
    assert grants.unfinished(AT + 2 * HOUR) == [approved]
    assert grants.active_until(AT + 5 * HOUR) == [soon]
    assert grants.active_until(AT + 10 * HOUR) == [soon, later]
    # WHEN the denied grant's requester is told
    told = grants.mark(denied, "told", happened(denied, "told", AT + 3 * HOUR))
    # THEN nothing is left to do about it; and an ended or expired grant is nowhere, whenever asked
    everything = [
        *grants.awaiting_review(AT + 99 * HOUR),
        *grants.unfinished(AT + 99 * HOUR),
        *grants.active_until(AT + 99 * HOUR),
    ]
    assert {grant.grant_id for grant in everything} == {
        "g-early",
        "g-late",
        "g-approved",
        "g-ending",
        "g-soon",
        "g-later",
    }
    assert grants.get("g-denied") == told
    # AND marking a flag on an active grant keeps it where its end puts it
    reminded = grants.mark(soon, "reminded", happened(soon, "reminded", AT + 4 * HOUR))
    assert grants.active_until(AT + 5 * HOUR) == [reminded]


def test_asks_and_grants_of_one_person_are_read_apart(stack: Stack, grants: DynamoGrantStore) -> None:
    # GIVEN dana asked for a certificate between two grants, and someone else asked for a grant
    asks = DynamoAskStore(stack.session.client("dynamodb"), stack.resources["RequestTable"], RETENTION)
    ask = CertificateAsk(
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
        asked_at=AT + HOUR,
    )
    first = create(grants, asked("g-1"))
    asks.create(ask, AuditEvent.about_ask(ask, "slack.certificate_asked", "dana (U0DANA)", ask.asked_at))
    second = create(grants, asked("g-2", at=AT + 2 * HOUR))
    create(grants, asked("g-3", slack_user="U0ERIN", at=AT + 3 * HOUR))
    # THEN each store reads only its own, newest first
    assert asks.by_asker("U0DANA", 10) == [ask]
    assert grants.by_asker("U0DANA", 10) == [second, first]
    assert grants.by_asker("U0DANA", 1) == [second]
    assert [grant.grant_id for grant in grants.by_asker("U0ERIN", 10)] == ["g-3"]


def test_requests_and_certificates_never_read_a_grant(stack: Stack, grants: DynamoGrantStore) -> None:
    # GIVEN a request awaiting review and a certificate due a reminder, beside grants with every mark
    client, table = stack.session.client("dynamodb"), stack.resources["RequestTable"]
    requests = DynamoRequestStore(client, table, RETENTION)
    record = RequestRecord(
        request_id="r-1",
        cluster="lab",
        csr_name="dana",
        csr_uid="uid-1",
        state=State.AWAITING_REVIEW,
        outcome=Outcome.REVIEW,
        findings=(),
        request=RequestSummary(name="dana", username="dana", common_names=("dana",)),
        received_at=AT,
    )
    assert requests.create(record, [AuditEvent.about(record, "csr.received", Actor.CLUSTER, AT)])
    certificates = DynamoCertificateStore(client, table, RETENTION)
    certificate = DeliveredCertificate(
        fingerprint="c" * 64,
        cluster="lab",
        username="dana",
        groups=(),
        not_before=AT,
        not_after=AT + timedelta(days=10),
        slack_user="U0DANA",
        request_id="r-1",
        chain_started_at=AT,
        lifetime_seconds=10 * 86400,
    )
    event = AuditEvent("csr.certificate_remembered", "r-1", "lab", "dana", "uid-1", Actor.SERVICE, AT)
    certificates.remember(certificate, event)
    create(grants, asked("g-review"))
    approve(grants, create(grants, asked("g-approved")), AT)
    grants.move(denied := create(grants, asked("g-denied")), GrantState.DENIED, happened(denied, "denied", AT))
    end(grants, activate(grants, create(grants, asked("g-ending")), AT), AT)
    activate(grants, create(grants, asked("g-active")), AT)
    # THEN the sweeper's queries of requests and certificates find only their own, whenever asked
    later = AT + timedelta(days=99)
    assert requests.pending_since(later) == [record]
    assert requests.unqueued_decisions(later) == []
    assert certificates.due_reminders(later) == [certificate]


def test_a_grants_audit_events_are_stored_beside_it(stack: Stack, grants: DynamoGrantStore) -> None:
    grant = create(grants, asked("g-1"))
    grants.add_event(happened(grant, "reminded_approvers", AT + HOUR))
    saved = grants.save_message(grant, MessageRef("C0LAB", "1.000100"), happened(grant, "posted", AT + 2 * HOUR))
    approved = approve(grants, saved, AT + 3 * HOUR)
    changes = {"starts_at": AT + 4 * HOUR, "ends_at": AT + 5 * HOUR}
    active = grants.move(approved, GrantState.ACTIVE, happened(approved, "bound", AT + 4 * HOUR), changes)
    grants.mark(active, "told", happened(active, "told", AT + 5 * HOUR))
    assert stored_events(stack, "g-1") == [
        "grant.asked",
        "grant.reminded_approvers",
        "grant.posted",
        "grant.approved",
        "grant.bound",
        "grant.told",
    ]
