"""The client certificates csrgate delivered, in the requests' table: one item per certificate (`CERT#<sha256>`),
never its body. A certificate with a reminder to come is in the sweeper's sparse index (`pending` = REMIND, sorted by
when the reminder is due), and leaves it with its last reminder or its renewal."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from csrgate.adapters.aws.store import PENDING_INDEX, call, dynamo, plain, put_event, transact
from csrgate.domain.certificates import DeliveredCertificate
from csrgate.domain.ports import Conflict
from csrgate.domain.records import AuditEvent

CERTIFICATE_SK = "CERTIFICATE"
_REMIND = "REMIND"


class DynamoCertificateStore:
    """CertificateStore on the requests' DynamoDB table."""

    def __init__(self, client: Any, table: str, retention: timedelta) -> None:
        self._client = client
        self._table = table
        self._retention = retention

    def remember(self, certificate: DeliveredCertificate, event: AuditEvent) -> None:
        """Put the certificate once; kept until it has expired and the audit retention has passed."""
        item = {
            "pk": _pk(certificate.fingerprint),
            "sk": CERTIFICATE_SK,
            "fingerprint": certificate.fingerprint,
            "cluster": certificate.cluster,
            "username": certificate.username,
            "groups": list(certificate.groups),
            "not_before": certificate.not_before.isoformat(),
            "not_after": certificate.not_after.isoformat(),
            "slack_user": certificate.slack_user,
            "request_id": certificate.request_id,
            "chain_started_at": certificate.chain_started_at.isoformat(),
            "lifetime_seconds": certificate.lifetime_seconds,
            "reminders_sent": certificate.reminders_sent,
            "expires_at": int((certificate.not_after + self._retention).timestamp()),
            **_due(certificate),
        }
        put = {
            "Put": {"TableName": self._table, "Item": dynamo(item), "ConditionExpression": "attribute_not_exists(pk)"}
        }
        with suppress(Conflict):  # the same certificate delivered again (a redelivered job): it is remembered
            transact(self._client, [put, self._put_event(certificate, event)])

    def get(self, fingerprint: str) -> DeliveredCertificate | None:
        """The delivered certificate, read strongly consistent."""
        key = dynamo({"pk": _pk(fingerprint), "sk": CERTIFICATE_SK})
        item = call(self._client.get_item, TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return _certificate(plain(item)) if item else None

    def due_reminders(self, now: datetime) -> list[DeliveredCertificate]:
        """Certificates whose next reminder is due, from the sparse index, soonest first."""
        found, start = [], None
        while True:
            page = call(
                self._client.query,
                TableName=self._table,
                IndexName=PENDING_INDEX,
                KeyConditionExpression="pending = :remind AND received_at <= :now",
                ExpressionAttributeValues=dynamo({":remind": _REMIND, ":now": now.isoformat()}),
                **({"ExclusiveStartKey": start} if start else {}),
            )
            found += [_certificate(plain(item)) for item in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    def reminded(self, certificate: DeliveredCertificate, event: AuditEvent) -> DeliveredCertificate:
        """One more reminder counted, only from the count read and while not renewed (Conflict otherwise)."""
        moved = replace(certificate, reminders_sent=certificate.reminders_sent + 1)
        condition = "#sent = :sent AND attribute_not_exists(renewed_by)"
        self._update(
            moved, event, {"reminders_sent": moved.reminders_sent}, condition, {":sent": certificate.reminders_sent}
        )
        return moved

    def renewed(self, certificate: DeliveredCertificate, request_id: str, event: AuditEvent) -> DeliveredCertificate:
        """Renewed by `request_id`, once and by one request: out of the reminders and of renewals for good."""
        moved = replace(certificate, renewed_by=request_id)
        condition = "attribute_not_exists(renewed_by) OR renewed_by = :renewed_by"
        self._update(moved, event, {"renewed_by": request_id}, condition, {})
        return moved

    def _update(
        self,
        after: DeliveredCertificate,
        event: AuditEvent,
        values: Mapping[str, Any],
        condition: str,
        expected: Mapping[str, Any],
    ) -> None:
        due = _due(after)
        assignments = [f"{name} = :{name}" for name in {**values, **due}]
        update = {
            "Update": {
                "TableName": self._table,
                "Key": dynamo({"pk": _pk(after.fingerprint), "sk": CERTIFICATE_SK}),
                "UpdateExpression": "SET " + ", ".join(assignments) + ("" if due else " REMOVE pending, received_at"),
                "ConditionExpression": f"attribute_exists(pk) AND ({condition})",
                "ExpressionAttributeValues": dynamo(
                    {f":{name}": value for name, value in {**values, **due}.items()} | dict(expected)
                ),
            }
        }
        if "#sent" in condition:
            update["Update"]["ExpressionAttributeNames"] = {"#sent": "reminders_sent"}
        transact(self._client, [update, self._put_event(after, event)])

    def _put_event(self, certificate: DeliveredCertificate, event: AuditEvent) -> dict[str, Any]:
        return put_event(
            self._table, _pk(certificate.fingerprint), event, int((event.at + self._retention).timestamp())
        )


def _due(certificate: DeliveredCertificate) -> dict[str, str]:
    """The index attributes of a certificate with a reminder to come (none otherwise)."""
    due = certificate.next_reminder
    return {} if due is None else {"pending": _REMIND, "received_at": due.isoformat()}


def _pk(fingerprint: str) -> str:
    return f"CERT#{fingerprint}"


def _certificate(item: Mapping[str, Any]) -> DeliveredCertificate:
    def when(key: str) -> datetime:
        return datetime.fromisoformat(item[key]).astimezone(UTC)

    return DeliveredCertificate(
        fingerprint=item["fingerprint"],
        cluster=item["cluster"],
        username=item["username"],
        groups=tuple(item.get("groups") or ()),
        not_before=when("not_before"),
        not_after=when("not_after"),
        slack_user=item["slack_user"],
        request_id=item["request_id"],
        chain_started_at=when("chain_started_at"),
        lifetime_seconds=int(item["lifetime_seconds"]),
        reminders_sent=int(item.get("reminders_sent", 0)),
        renewed_by=item.get("renewed_by"),
    )
