"""Certificates asked for in Slack, in the requests' table: one item per ask (`ASK#<id>`), its events beside it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from csrgate.adapters.aws.store import call, dynamo, plain, put_event, stored, transact
from csrgate.domain.asks import AskState, CertificateAsk
from csrgate.domain.records import AuditEvent

ASK_SK = "ASK"
# Sparse, sorted by `asked_at`: every ask carries its asker's Slack user id, so `/csrgate status` and the App Home
# read a person's asks with one query.
ASKER_INDEX = "asker"
_CHANGEABLE = frozenset({"csr_uid", "request_id", "note"})


class DynamoAskStore:
    """AskStore on the requests' DynamoDB table."""

    def __init__(self, client: Any, table: str, retention: timedelta) -> None:
        self._client = client
        self._table = table
        self._retention = retention

    def create(self, ask: CertificateAsk, event: AuditEvent) -> None:
        """Put the ask, once, with its first event."""
        item = {
            "pk": _pk(ask.ask_id),
            "sk": ASK_SK,
            "ask_id": ask.ask_id,
            "cluster": ask.cluster,
            "asker": ask.slack_user,
            "asker_name": ask.slack_name,
            "email": ask.email,
            "username": ask.username,
            "csr_name": ask.csr_name,
            "request_pem": ask.request_pem,
            "expiration_seconds": ask.expiration_seconds,
            "reason": ask.reason,
            "asked_at": ask.asked_at.isoformat(),
            "state": ask.state.value,
            "version": ask.version,
            "expires_at": self._expiry(ask.asked_at),
        }
        put = {
            "Put": {"TableName": self._table, "Item": dynamo(item), "ConditionExpression": "attribute_not_exists(pk)"}
        }
        transact(self._client, [put, self._put_event(ask, event)])

    def get(self, ask_id: str) -> CertificateAsk | None:
        """The stored ask, read strongly consistent."""
        key = dynamo({"pk": _pk(ask_id), "sk": ASK_SK})
        item = call(self._client.get_item, TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return _ask(plain(item)) if item else None

    def move(
        self, ask: CertificateAsk, state: AskState, event: AuditEvent, changes: Mapping[str, Any] | None = None
    ) -> CertificateAsk:
        """From the state read to `state`; a CSR uid is set only where none or the same one is."""
        values = dict(changes or {})
        unknown = set(values) - _CHANGEABLE
        if unknown:
            raise ValueError(f"an ask's {sorted(unknown)} cannot change")
        condition = "attribute_exists(pk) AND #state = :expected"
        if "csr_uid" in values:
            condition += " AND (attribute_not_exists(csr_uid) OR csr_uid = :csr_uid)"
        names = {"#state": "state", "#version": "version"} | {f"#{name}": name for name in values}
        assignments = "".join(f", #{name} = :{name}" for name in values)
        update = {
            "Update": {
                "TableName": self._table,
                "Key": dynamo({"pk": _pk(ask.ask_id), "sk": ASK_SK}),
                "UpdateExpression": f"SET #state = :state, #version = #version + :one{assignments}",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": dynamo(
                    {f":{name}": stored(value) for name, value in values.items()}
                    | {":state": state.value, ":expected": ask.state.value, ":one": 1}
                ),
            }
        }
        transact(self._client, [update, self._put_event(ask, event)])
        return replace(ask, state=state, version=ask.version + 1, **values)

    def add_event(self, event: AuditEvent) -> None:
        """An event about an ask (its `ask_id` detail names it) that changes nothing."""
        pk = _pk(str(event.details["ask_id"]))
        transact(self._client, [put_event(self._table, pk, event, self._expiry(event.at))])

    def by_asker(self, slack_user: str, limit: int) -> list[CertificateAsk]:
        """The newest `limit` asks of one Slack user."""
        page = call(
            self._client.query,
            TableName=self._table,
            IndexName=ASKER_INDEX,
            KeyConditionExpression="asker = :asker",
            ExpressionAttributeValues=dynamo({":asker": slack_user}),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_ask(plain(item)) for item in page.get("Items", [])]

    def _put_event(self, ask: CertificateAsk, event: AuditEvent) -> dict[str, Any]:
        return put_event(self._table, _pk(ask.ask_id), event, self._expiry(event.at))

    def _expiry(self, at: datetime) -> int:
        return int((at + self._retention).timestamp())


def _pk(ask_id: str) -> str:
    return f"ASK#{ask_id}"


def _ask(item: Mapping[str, Any]) -> CertificateAsk:
    return CertificateAsk(
        ask_id=item["ask_id"],
        cluster=item["cluster"],
        slack_user=item["asker"],
        slack_name=item["asker_name"],
        email=item["email"],
        username=item["username"],
        csr_name=item["csr_name"],
        request_pem=item["request_pem"],
        expiration_seconds=item["expiration_seconds"],
        reason=item["reason"],
        asked_at=datetime.fromisoformat(item["asked_at"]).astimezone(UTC),
        state=AskState(item["state"]),
        csr_uid=item.get("csr_uid"),
        request_id=item.get("request_id"),
        note=item.get("note"),
        version=item["version"],
    )
