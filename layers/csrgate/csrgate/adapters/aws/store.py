"""The DynamoDB table: one item per request, one per audit event, every state change a conditional write."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.findings import Code, Finding, Severity
from csrgate.domain.lifecycle import TO_APPLY, State, ensure_transition
from csrgate.domain.outcome import Outcome
from csrgate.domain.ports import Conflict
from csrgate.domain.records import Approval, AuditEvent, MessageRef, RequestRecord
from csrgate.domain.summary import RequestSummary

REQUEST_SK = "REQUEST"
REPLAY_SK = "REPLAY"
# Sparse, sorted by `received_at`: only requests the sweeper must look at carry `pending`. PENDING: awaiting review.
# UNQUEUED: a decision recorded but not yet known to be queued, set in the same write as the decision, so a crash or
# a queue error between the write and the send leaves the request where the sweeper finds it.
PENDING_INDEX = "pending"
_PENDING = "PENDING"
_UNQUEUED = "UNQUEUED"
_FLAGS = frozenset({"decision_queued", "decision_applied", "requester_told", "reminded", "overtaken"})
_SETTLES_DECISION = frozenset({"decision_queued", "decision_applied", "overtaken"})  # the decision reached the worker
_UNDER_REVIEW = frozenset({State.RECEIVED, State.AWAITING_REVIEW})
_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
}
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class DynamoRequestStore:
    """RequestStore on one DynamoDB table (keys `pk`, `sk`; TTL attribute `expires_at`)."""

    def __init__(self, client: Any, table: str, retention: timedelta) -> None:
        self._client = client
        self._table = table
        self._retention = retention

    def get(self, request_id: str) -> RequestRecord | None:
        """The stored request, read strongly consistent so a re-read after a conflict sees the winner."""
        response = self._call(
            self._client.get_item, TableName=self._table, Key=_key(request_id, REQUEST_SK), ConsistentRead=True
        )
        item = response.get("Item")
        return _record(plain(item)) if item else None

    def create(self, record: RequestRecord, events: list[AuditEvent]) -> bool:
        """Put the request if it does not exist, with its first audit events, in one transaction."""
        put_request = {
            "Put": {
                "TableName": self._table,
                "Item": dynamo(self._request_item(record)),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        try:
            self._transact([put_request, *(self._put_event(event) for event in events)])
        except Conflict:
            return False
        return True

    def transition(
        self,
        record: RequestRecord,
        state: State,
        event: AuditEvent,
        changes: Mapping[str, Any] | None = None,
        *,
        decision_to_queue: bool | None = None,
    ) -> RequestRecord:
        """Move the request on, only from the state the caller read (a change of state by anyone else is a Conflict).

        A decision still to queue is marked in the same write (`pending` = UNQUEUED), so it cannot be lost."""
        ensure_transition(record.state, state)
        values = {"state": state.value, **dict(changes or {})}
        to_queue = state in TO_APPLY if decision_to_queue is None else decision_to_queue
        remove: tuple[str, ...] = ("pending",)
        if state is State.AWAITING_REVIEW:
            remove = ()
        elif to_queue and not record.decision_queued:
            values["pending"], remove = _UNQUEUED, ()
        self._update(
            record, values, event, condition="#state = :expected_state", expected={"state": record.state}, remove=remove
        )
        return replace(record, state=state, version=record.version + 1, **dict(changes or {}))

    def pending_since(self, before: datetime) -> list[RequestRecord]:
        """Requests still awaiting review that arrived before `before`, oldest first (the sparse index)."""
        return self._pending(
            "pending = :pending AND received_at < :before", {":pending": _PENDING, ":before": before.isoformat()}
        )

    def unqueued_decisions(self, before: datetime) -> list[RequestRecord]:
        """Decisions recorded and not marked queued or applied, last changed before `before` (the sparse index)."""
        return self._pending(
            "pending = :unqueued", {":unqueued": _UNQUEUED, ":before": before.isoformat()}, "updated_at < :before"
        )

    def claim_message(self, request_id: str, now: datetime, lease_seconds: int) -> bool:
        """Lease the right to post the Slack message; the lease lapses so a crashed poster is recovered."""
        return claim_posting(self._client, self._table, _key(request_id, REQUEST_SK), "slack_ts", now, lease_seconds)

    def release_message(self, request_id: str) -> None:
        """Drop the posting lease, unless a message was saved meanwhile (then there is nothing to release)."""
        release_posting(self._client, self._table, _key(request_id, REQUEST_SK), "slack_ts")

    def save_message(self, record: RequestRecord, message: MessageRef, event: AuditEvent) -> RequestRecord:
        """Remember the posted message, once: a second poster's message is never recorded over the first."""
        values = {"slack_channel": message.channel, "slack_ts": message.ts}
        self._update(
            record,
            values,
            event,
            condition="attribute_not_exists(slack_ts)",
            expected={},
            remove=("message_lease_until",),
        )
        return replace(record, slack_message=message, version=record.version + 1)

    def add_approval(self, record: RequestRecord, approval: Approval, event: AuditEvent) -> RequestRecord:
        """Append the approval once per approver, only while the request awaits review."""
        update = approval_update(
            self._table, _key(record.request_id, REQUEST_SK), approval, State.AWAITING_REVIEW.value, event.at
        )
        self._transact([update, self._put_event(event)])
        return replace(record, approvals=(*record.approvals, approval), version=record.version + 1)

    def mark_decision_queued(self, record: RequestRecord, event: AuditEvent) -> RequestRecord:
        """Remember that the decision reached the queue."""
        return self.mark(record, "decision_queued", event)

    def mark(self, record: RequestRecord, flag: str, event: AuditEvent, note: str | None = None) -> RequestRecord:
        """Set a progress flag; flags only ever go from false to true, so a repeat is harmless.

        A flag saying the decision reached the worker takes the request off the sweeper's unqueued decisions; a
        request past review never returns to it, so this cannot drop a review from the pending ones."""
        if flag not in _FLAGS:
            raise ValueError(f"{flag} is not a progress flag")
        changes: dict[str, Any] = {flag: True} | ({"outcome_note": note} if note is not None else {})
        settles = flag in _SETTLES_DECISION and record.state not in _UNDER_REVIEW
        self._update(
            record,
            changes,
            event,
            condition="attribute_exists(pk)",
            expected={},
            remove=("pending",) if settles else (),
        )
        return replace(record, version=record.version + 1, **changes)

    def add_event(self, event: AuditEvent) -> None:
        """Store an audit event on its own."""
        self._transact([self._put_event(event)])

    def _pending(
        self, key_condition: str, values: Mapping[str, Any], query_filter: str | None = None
    ) -> list[RequestRecord]:
        records, start = [], None
        while True:
            page = self._call(
                self._client.query,
                TableName=self._table,
                IndexName=PENDING_INDEX,
                KeyConditionExpression=key_condition,
                ExpressionAttributeValues=dynamo(values),
                **({"FilterExpression": query_filter} if query_filter else {}),
                **({"ExclusiveStartKey": start} if start else {}),
            )
            records += [_record(plain(item)) for item in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return records

    # --- items --------------------------------------------------------------------------------------------

    def _update(
        self,
        record: RequestRecord,
        values: Mapping[str, Any],
        event: AuditEvent,
        *,
        condition: str,
        expected: Mapping[str, Any],
        remove: tuple[str, ...] = (),
    ) -> None:
        names = {f"#{name}": name for name in values} | {"#version": "version"}
        names |= {f"#{name}": name for name in expected}
        assignments = ", ".join(f"#{name} = :{name}" for name in values)
        update = {
            "Update": {
                "TableName": self._table,
                "Key": _key(record.request_id, REQUEST_SK),
                "UpdateExpression": f"SET {assignments}, #version = #version + :one, updated_at = :now"
                + (f" REMOVE {', '.join(remove)}" if remove else ""),
                "ConditionExpression": f"attribute_exists(pk) AND ({condition})",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": dynamo(
                    {f":{name}": stored(value) for name, value in values.items()}
                    | {f":expected_{name}": stored(value) for name, value in expected.items()}
                    | {":one": 1, ":now": event.at.isoformat()}
                ),
            }
        }
        self._transact([update, self._put_event(event)])

    def _request_item(self, record: RequestRecord) -> dict[str, Any]:
        item = {
            "pk": _pk(record.request_id),
            "sk": REQUEST_SK,
            "request_id": record.request_id,
            "cluster": record.cluster,
            "csr_name": record.csr_name,
            "csr_uid": record.csr_uid,
            "state": record.state.value,
            "outcome": record.outcome.value,
            "findings": [finding.as_dict() for finding in record.findings],
            "request": record.request.as_dict(),
            "received_at": record.received_at.isoformat(),
            "updated_at": record.received_at.isoformat(),
            "approvals_needed": record.approvals_needed,
            "privileged": record.privileged,
            "requester_email": record.requester_email,
            "version": record.version,
            "decision_queued": record.decision_queued,
            "expires_at": self._expiry(record.received_at),
            "pending": _pending_mark(record),
            "spec_fingerprint": record.spec_fingerprint,
            "ask_id": record.ask_id,
            "asker_slack_id": record.asker_slack_id,
            "asker_name": record.asker_name,
            "ask_reason": record.ask_reason,
            "renews": record.renews,
            "holder_slack_id": record.holder_slack_id,
            "chain_started_at": record.chain_started_at.isoformat() if record.chain_started_at else None,
        }
        return {name: value for name, value in item.items() if value is not None}

    def _put_event(self, event: AuditEvent) -> dict[str, Any]:
        return put_event(self._table, _pk(event.request_id), event, self._expiry(event.at))

    def _expiry(self, at: datetime) -> int:
        return int((at + self._retention).timestamp())

    # --- calls --------------------------------------------------------------------------------------------

    def _transact(self, items: list[dict[str, Any]]) -> None:
        transact(self._client, items)

    def _call(self, method: Any, **kwargs: Any) -> dict[str, Any]:
        return call(method, **kwargs)


class DynamoReplayCache:
    """Signatures of accepted forwarder requests, one item each (`REPLAY#...`), gone with the table's TTL.

    Only a hash of the signature is stored. The put is conditional on absence, so of two deliveries of the same
    signed request exactly one is accepted, even when they arrive at the same moment.
    """

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def first_use(self, cluster: str, signature: str, until: int) -> bool:
        """Remember the signature until `until` (Unix seconds); False when it was already remembered."""
        digest = hashlib.sha256(signature.encode("utf-8", errors="replace")).hexdigest()
        item = {"pk": f"REPLAY#{cluster}#{digest}", "sk": REPLAY_SK, "expires_at": until}
        try:
            self._client.put_item(
                TableName=self._table, Item=dynamo(item), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise translated(exc) from exc
        except BotoCoreError as exc:
            raise RetryLater(f"DynamoDB is unreachable: {type(exc).__name__}") from exc
        return True


def transact(client: Any, items: list[dict[str, Any]]) -> None:
    """One DynamoDB transaction; Conflict when a condition failed, RetryLater or PermanentFailure otherwise."""
    try:
        client.transact_write_items(TransactItems=items)
    except ClientError as exc:
        reasons = exc.response.get("CancellationReasons") or []
        if any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons):
            raise Conflict("the item changed since it was read") from exc
        raise translated(exc) from exc
    except BotoCoreError as exc:
        raise RetryLater(f"DynamoDB is unreachable: {type(exc).__name__}") from exc


def call(method: Any, **kwargs: Any) -> dict[str, Any]:
    """One DynamoDB call, its errors translated as transact's are."""
    try:
        return dict(method(**kwargs))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise Conflict("the item changed since it was read") from exc
        raise translated(exc) from exc
    except BotoCoreError as exc:
        raise RetryLater(f"DynamoDB is unreachable: {type(exc).__name__}") from exc


def claim_posting(client: Any, table: str, key: dict[str, Any], posted: str, now: datetime, lease_seconds: int) -> bool:
    """Lease the right to post the Slack message of the item at `key`, while it has none (no `posted` attribute) and
    nobody else holds the lease; it lapses, so a crashed poster is recovered. False when the lease is not had."""
    until = int((now + timedelta(seconds=lease_seconds)).timestamp())
    try:
        call(
            client.update_item,
            TableName=table,
            Key=key,
            UpdateExpression="SET message_lease_until = :until",
            ConditionExpression=(
                f"attribute_exists(pk) AND attribute_not_exists({posted}) AND "
                "(attribute_not_exists(message_lease_until) OR message_lease_until < :now)"
            ),
            ExpressionAttributeValues=dynamo({":until": until, ":now": int(now.timestamp())}),
        )
    except Conflict:
        return False
    return True


def release_posting(client: Any, table: str, key: dict[str, Any], posted: str) -> None:
    """Drop the posting lease, unless the message was saved meanwhile (then there is nothing to release)."""
    try:
        call(
            client.update_item,
            TableName=table,
            Key=key,
            UpdateExpression="REMOVE message_lease_until",
            ConditionExpression=f"attribute_exists(pk) AND attribute_not_exists({posted})",
        )
    except Conflict:
        return


def put_event(table: str, pk: str, event: AuditEvent, expires_at: int) -> dict[str, Any]:
    """A transaction item that stores an audit event under `pk`, once."""
    item = {
        "pk": pk,
        "sk": f"EVENT#{event.at.isoformat()}#{uuid.uuid4().hex[:8]}",
        **{key: stored(value) for key, value in event.as_log_fields().items() if value is not None},
        "at": event.at.isoformat(),
        "expires_at": expires_at,
    }
    return {"Put": {"TableName": table, "Item": dynamo(item), "ConditionExpression": "attribute_not_exists(sk)"}}


def translated(exc: ClientError) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "Unknown")
    if code in _THROTTLED or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
        return RetryLater(f"DynamoDB answered {code}")
    return PermanentFailure(f"DynamoDB refused the call: {code}")


def _pending_mark(record: RequestRecord) -> str | None:
    if record.state is State.AWAITING_REVIEW:
        return _PENDING
    if record.state in TO_APPLY and not record.decision_queued:
        return _UNQUEUED
    return None


def _pk(request_id: str) -> str:
    return f"REQUEST#{request_id}"


def _key(request_id: str, sk: str) -> dict[str, Any]:
    return dynamo({"pk": _pk(request_id), "sk": sk})


def approval_update(table: str, key: dict[str, Any], approval: Approval, awaiting: str, at: datetime) -> dict[str, Any]:
    """The transaction item that appends one approver's approval to an item, once per approver (its id kept in the
    `approver_ids` set beside the list), only while the item's state is `awaiting`."""
    return {
        "Update": {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET approvals = list_append(if_not_exists(approvals, :none), :approval), "
            "#version = #version + :one, updated_at = :now ADD approver_ids :approver",
            "ConditionExpression": "attribute_exists(pk) AND #state = :awaiting AND "
            "(attribute_not_exists(approver_ids) OR NOT contains(approver_ids, :approver_id))",
            "ExpressionAttributeNames": {"#state": "state", "#version": "version"},
            "ExpressionAttributeValues": dynamo(
                {
                    ":none": [],
                    ":approval": [approval_item(approval)],
                    ":approver": {approval.slack_id},
                    ":approver_id": approval.slack_id,
                    ":awaiting": awaiting,
                    ":one": 1,
                    ":now": at.isoformat(),
                }
            ),
        }
    }


def approval_item(approval: Approval) -> dict[str, str]:
    return {"slack_id": approval.slack_id, "name": approval.name, "at": approval.at.isoformat()}


def stored(value: Any) -> Any:
    if isinstance(value, State | Outcome):
        return value.value
    if isinstance(value, Finding):
        return value.as_dict()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [stored(item) for item in value]
    return value


def dynamo(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items()}


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _python(_deserializer.deserialize(value)) for key, value in item.items()}


def _python(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_python(item) for item in value]
    if isinstance(value, dict):
        return {key: _python(item) for key, item in value.items()}
    return value


def _record(item: Mapping[str, Any]) -> RequestRecord:
    message = MessageRef(item["slack_channel"], item["slack_ts"]) if item.get("slack_ts") else None
    return RequestRecord(
        request_id=item["request_id"],
        cluster=item["cluster"],
        csr_name=item["csr_name"],
        csr_uid=item["csr_uid"],
        state=State(item["state"]),
        outcome=Outcome(item["outcome"]),
        findings=tuple(Finding(Code(f["code"]), Severity(f["severity"]), f["message"]) for f in item["findings"]),
        request=RequestSummary.from_dict(item.get("request") or {}),
        received_at=datetime.fromisoformat(item["received_at"]).astimezone(UTC),
        approvals_needed=item.get("approvals_needed", 1),
        privileged=item.get("privileged", False),
        requester_email=item.get("requester_email"),
        version=item["version"],
        slack_message=message,
        decision_queued=item.get("decision_queued", False),
        approvals=tuple(
            Approval(a["slack_id"], a["name"], datetime.fromisoformat(a["at"])) for a in item.get("approvals", [])
        ),
        decided_by=item.get("decided_by"),
        decided_at=datetime.fromisoformat(item["decided_at"]) if item.get("decided_at") else None,
        decision_reason=item.get("decision_reason"),
        decision_applied=item.get("decision_applied", False),
        requester_told=item.get("requester_told", False),
        outcome_note=item.get("outcome_note"),
        reminded=item.get("reminded", False),
        overtaken=item.get("overtaken", False),
        spec_fingerprint=item.get("spec_fingerprint", ""),
        ask_id=item.get("ask_id"),
        asker_slack_id=item.get("asker_slack_id"),
        asker_name=item.get("asker_name"),
        ask_reason=item.get("ask_reason"),
        renews=item.get("renews"),
        holder_slack_id=item.get("holder_slack_id"),
        chain_started_at=datetime.fromisoformat(item["chain_started_at"]) if item.get("chain_started_at") else None,
    )
