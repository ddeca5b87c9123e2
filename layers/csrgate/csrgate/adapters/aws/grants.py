"""Access asked for in Slack, in the requests' table: one item per grant (`GRANT#<id>`), its audit events beside it.

A grant is in two of the table's indexes, each shared with other items, under partition values of its own:
- `asker`, shared with asks: its `asker` is `GRANT#<slack user>`, never a bare Slack user id as an ask's is, so asks'
  `by_asker` (which reads every item of a Slack user's partition as an ask) never meets a grant, nor grants' an ask.
- `pending`, shared with requests (PENDING, UNQUEUED) and certificates (REMIND): a grant the sweeper must look at
  carries exactly one mark, GRANT_REVIEW, GRANT_TODO or GRANT_ACTIVE, and every query there names its partition, so
  neither reads the other's items.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from csrgate.adapters.aws.asks import ASKER_INDEX
from csrgate.adapters.aws.store import (
    PENDING_INDEX,
    approval_item,
    approval_update,
    call,
    claim_posting,
    dynamo,
    plain,
    put_event,
    release_posting,
    stored,
    transact,
)
from csrgate.domain.grants import Grant, GrantState, ensure_grant_transition
from csrgate.domain.records import Approval, AuditEvent, MessageRef

GRANT_SK = "GRANT"
# The marks, sorted by `received_at` (the index's sort key, whatever the mark sorts by): awaiting review, by when it
# was asked; the worker's to act on (approved, ending, or denied and the requester not yet told), by when it last
# changed state; active, by when its access ends.
_REVIEW = "GRANT_REVIEW"
_TODO = "GRANT_TODO"
_ACTIVE = "GRANT_ACTIVE"
_FOR_THE_WORKER = frozenset({GrantState.APPROVED, GrantState.ENDING})
_CHANGEABLE = frozenset(
    {"decided_by", "decided_at", "decision_reason", "starts_at", "ends_at", "ended_by", "ended_at", "note"}
)
_FLAGS = frozenset({"told", "reminded"})
_NAME = re.compile(r"#(\w+)")


class DynamoGrantStore:
    """GrantStore on the requests' DynamoDB table."""

    def __init__(self, client: Any, table: str, retention: timedelta) -> None:
        self._client = client
        self._table = table
        self._retention = retention

    def create(self, grant: Grant, event: AuditEvent) -> None:
        """Put the grant, once, with its first event."""
        put = {
            "Put": {
                "TableName": self._table,
                "Item": dynamo(self._item(grant, event.at)),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        transact(self._client, [put, self._put_event(grant, event)])

    def get(self, grant_id: str) -> Grant | None:
        """The stored grant, read strongly consistent so a re-read after a conflict sees the winner."""
        key = dynamo({"pk": _pk(grant_id), "sk": GRANT_SK})
        item = call(self._client.get_item, TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return _grant(plain(item)) if item else None

    def move(
        self, grant: Grant, state: GrantState, event: AuditEvent, changes: Mapping[str, Any] | None = None
    ) -> Grant:
        """From the state read to `state`, with its decision or access changes; its mark follows the new state."""
        ensure_grant_transition(grant.state, state)
        values = dict(changes or {})
        unknown = set(values) - _CHANGEABLE
        if unknown:
            raise ValueError(f"a grant's {sorted(unknown)} cannot change")
        moved = replace(grant, state=state, version=grant.version + 1, **values)
        mark = _mark(moved, event.at)
        sets = {name: _stored(value) for name, value in values.items() if value is not None}
        sets |= {"state": state.value, "expires_at": self._expiry(moved), **mark}
        remove = [name for name, value in values.items() if value is None]
        remove += [] if mark else ["pending", "received_at"]
        self._update(grant, event, sets, "#state = :expected", {":expected": grant.state.value}, remove)
        return moved

    def add_approval(self, grant: Grant, approval: Approval, event: AuditEvent) -> Grant:
        """Append the approval once per approver, only while the grant awaits review."""
        update = approval_update(
            self._table, _key(grant.grant_id), approval, GrantState.AWAITING_REVIEW.value, event.at
        )
        transact(self._client, [update, self._put_event(grant, event)])
        return replace(grant, approvals=(*grant.approvals, approval), version=grant.version + 1)

    def claim_message(self, grant_id: str, now: datetime, lease_seconds: int) -> bool:
        """Lease the right to post the grant's review message; the lease lapses so a crashed poster is recovered."""
        return claim_posting(self._client, self._table, _key(grant_id), "slack_message", now, lease_seconds)

    def release_message(self, grant_id: str) -> None:
        """Drop the posting lease, unless a message was saved meanwhile."""
        release_posting(self._client, self._table, _key(grant_id), "slack_message")

    def save_message(self, grant: Grant, message: MessageRef, event: AuditEvent) -> Grant:
        """Remember the grant's Slack message, once: a second poster's message is never recorded over the first."""
        values = {"slack_message": {"channel": message.channel, "ts": message.ts}}
        self._update(grant, event, values, "attribute_not_exists(slack_message)", {}, ("message_lease_until",))
        return replace(grant, slack_message=message, version=grant.version + 1)

    def mark(self, grant: Grant, flag: str, event: AuditEvent) -> Grant:
        """Set `told` or `reminded`, once; a denied grant whose requester is told leaves the sweeper's work.

        Only a move rewrites the mark otherwise: a flag set from a stale read must never put back a mark the state has
        left, and a denial, whose mark this removes, never changes state again."""
        if flag not in _FLAGS:
            raise ValueError(f"{flag} is not a grant's flag")
        changes: dict[str, Any] = {flag: True}
        marked = replace(grant, version=grant.version + 1, **changes)
        settled = flag == "told" and grant.state is GrantState.DENIED
        condition = f"attribute_not_exists(#{flag}) OR #{flag} = :unset"
        remove = ["pending", "received_at"] if settled else []
        self._update(grant, event, changes, condition, {":unset": False}, remove)
        return marked

    def add_event(self, event: AuditEvent) -> None:
        """An event about a grant (its `grant_id` detail names it) that changes nothing."""
        pk = _pk(str(event.details["grant_id"]))
        transact(self._client, [put_event(self._table, pk, event, self._event_expiry(event))])

    def by_asker(self, slack_user: str, limit: int) -> list[Grant]:
        """The newest `limit` grants of one Slack user."""
        page = call(
            self._client.query,
            TableName=self._table,
            IndexName=ASKER_INDEX,
            KeyConditionExpression="asker = :asker",
            ExpressionAttributeValues=dynamo({":asker": _asker(slack_user)}),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_grant(plain(item)) for item in page.get("Items", [])]

    def awaiting_review(self, asked_before: datetime) -> list[Grant]:
        """Grants awaiting review asked before then, oldest first (the sparse index)."""
        return self._marked(_REVIEW, "received_at < :until", asked_before)

    def unfinished(self, changed_before: datetime) -> list[Grant]:
        """Grants the worker still has to act on, whose state last changed before then, oldest change first."""
        return self._marked(_TODO, "received_at < :until", changed_before)

    def active_until(self, ends_by: datetime) -> list[Grant]:
        """Active grants whose access ends by then, soonest first."""
        return self._marked(_ACTIVE, "received_at <= :until", ends_by)

    def _marked(self, mark: str, sort_condition: str, until: datetime) -> list[Grant]:
        found, start = [], None
        while True:
            page = call(
                self._client.query,
                TableName=self._table,
                IndexName=PENDING_INDEX,
                KeyConditionExpression=f"pending = :mark AND {sort_condition}",
                ExpressionAttributeValues=dynamo({":mark": mark, ":until": _when(until)}),
                **({"ExclusiveStartKey": start} if start else {}),
            )
            found += [_grant(plain(item)) for item in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    # --- items --------------------------------------------------------------------------------------------

    def _update(
        self,
        grant: Grant,
        event: AuditEvent,
        values: Mapping[str, Any],
        condition: str,
        condition_values: Mapping[str, Any],
        remove: Collection[str] = (),
    ) -> None:
        """Set `values` and remove `remove`, one more version, where the grant exists and `condition` holds; with the
        event, in one transaction. Every attribute is named by a placeholder, `#<its name>`."""
        assignments = ", ".join(f"#{name} = :{name}" for name in values)
        expression = f"SET {assignments}, #version = #version + :one" + (
            " REMOVE " + ", ".join(f"#{name}" for name in remove) if remove else ""
        )
        condition = f"attribute_exists(pk) AND ({condition})"
        names = _NAME.findall(f"{expression} {condition}")
        update = {
            "Update": {
                "TableName": self._table,
                "Key": _key(grant.grant_id),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {f"#{name}": name for name in names},
                "ExpressionAttributeValues": dynamo(
                    {f":{name}": value for name, value in values.items()} | dict(condition_values) | {":one": 1}
                ),
            }
        }
        transact(self._client, [update, self._put_event(grant, event)])

    def _item(self, grant: Grant, at: datetime) -> dict[str, Any]:
        item = {
            "pk": _pk(grant.grant_id),
            "sk": GRANT_SK,
            "grant_id": grant.grant_id,
            "cluster": grant.cluster,
            "role": grant.role,
            "cluster_role": grant.cluster_role,
            "namespace": grant.namespace,
            "username": grant.username,
            "asker": _asker(grant.slack_user),
            "slack_user": grant.slack_user,
            "slack_name": grant.slack_name,
            "email": grant.email,
            "duration_seconds": grant.duration_seconds,
            "reason": grant.reason,
            "asked_at": _when(grant.asked_at),
            "approvals_needed": grant.approvals_needed,
            "privileged": grant.privileged,
            "extends": grant.extends,
            "session_name": grant.session_name,
            "state": grant.state.value,
            "version": grant.version,
            "slack_message": (
                {"channel": grant.slack_message.channel, "ts": grant.slack_message.ts} if grant.slack_message else None
            ),
            "approvals": [approval_item(approval) for approval in grant.approvals],
            # A string set, for the condition that keeps one approval per approver (an empty set cannot be stored).
            "approver_ids": {approval.slack_id for approval in grant.approvals} or None,
            "decided_by": grant.decided_by,
            "decided_at": _stored(grant.decided_at),
            "decision_reason": grant.decision_reason,
            "starts_at": _stored(grant.starts_at),
            "ends_at": _stored(grant.ends_at),
            "ended_by": grant.ended_by,
            "ended_at": _stored(grant.ended_at),
            "told": grant.told,
            "reminded": grant.reminded,
            "note": grant.note,
            "expires_at": self._expiry(grant),
            **_mark(grant, at),
        }
        return {name: value for name, value in item.items() if value is not None}

    def _put_event(self, grant: Grant, event: AuditEvent) -> dict[str, Any]:
        return put_event(self._table, _pk(grant.grant_id), event, self._event_expiry(event))

    def _expiry(self, grant: Grant) -> int:
        """Kept for the retention after it was asked for, or after its access ended when that is later."""
        last = max(grant.asked_at, grant.ends_at) if grant.ends_at else grant.asked_at
        return int((last + self._retention).timestamp())

    def _event_expiry(self, event: AuditEvent) -> int:
        return int((event.at + self._retention).timestamp())


def _mark(grant: Grant, at: datetime) -> dict[str, str]:
    """The grant's one mark in the sparse `pending` index, from its state (none when nothing is left to do); `at` is
    when the state was reached."""
    if grant.state is GrantState.AWAITING_REVIEW:
        return {"pending": _REVIEW, "received_at": _when(grant.asked_at)}
    if grant.state in _FOR_THE_WORKER or (grant.state is GrantState.DENIED and not grant.told):
        return {"pending": _TODO, "received_at": _when(at)}
    if grant.state is GrantState.ACTIVE:
        if grant.ends_at is None:
            raise ValueError(f"active grant {grant.grant_id} has no ends_at: nothing would ever end its access")
        return {"pending": _ACTIVE, "received_at": _when(grant.ends_at)}
    return {}


def _pk(grant_id: str) -> str:
    return f"GRANT#{grant_id}"


def _key(grant_id: str) -> dict[str, Any]:
    return dynamo({"pk": _pk(grant_id), "sk": GRANT_SK})


def _asker(slack_user: str) -> str:
    return f"GRANT#{slack_user}"


def _when(at: datetime) -> str:
    """In UTC, so that index keys written and bounds asked for compare as strings in time order."""
    return at.astimezone(UTC).isoformat()


def _stored(value: Any) -> Any:
    return _when(value) if isinstance(value, datetime) else stored(value)


def _grant(item: Mapping[str, Any]) -> Grant:
    def when(key: str) -> datetime | None:
        return datetime.fromisoformat(item[key]).astimezone(UTC) if item.get(key) else None

    message = item.get("slack_message")
    return Grant(
        grant_id=item["grant_id"],
        cluster=item["cluster"],
        role=item["role"],
        cluster_role=item["cluster_role"],
        namespace=item.get("namespace"),
        username=item["username"],
        slack_user=item["slack_user"],
        slack_name=item["slack_name"],
        email=item["email"],
        duration_seconds=item["duration_seconds"],
        reason=item["reason"],
        asked_at=datetime.fromisoformat(item["asked_at"]).astimezone(UTC),
        approvals_needed=item["approvals_needed"],
        privileged=item.get("privileged", False),
        extends=item.get("extends"),
        session_name=item.get("session_name"),
        state=GrantState(item["state"]),
        version=item["version"],
        slack_message=MessageRef(message["channel"], message["ts"]) if message else None,
        approvals=tuple(
            Approval(a["slack_id"], a["name"], datetime.fromisoformat(a["at"]).astimezone(UTC))
            for a in item.get("approvals", [])
        ),
        decided_by=item.get("decided_by"),
        decided_at=when("decided_at"),
        decision_reason=item.get("decision_reason"),
        starts_at=when("starts_at"),
        ends_at=when("ends_at"),
        ended_by=item.get("ended_by"),
        ended_at=when("ended_at"),
        told=item.get("told", False),
        reminded=item.get("reminded", False),
        note=item.get("note"),
    )
