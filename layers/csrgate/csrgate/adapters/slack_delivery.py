"""Direct messages to requesters: find them by email, open a DM, upload their file."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from slack_sdk import WebClient

from csrgate.adapters.slack import call_slack, escape
from csrgate.domain.delivery import Delivery
from csrgate.domain.errors import PermanentFailure
from csrgate.domain.records import MessageRef


class SlackDelivery:
    """Reaches requesters in Slack (users:read.email, im:write, files:write, chat:write)."""

    def __init__(self, client: Callable[[], WebClient]) -> None:
        self._client = client

    def find(self, emails: Iterable[str]) -> str | None:
        """The Slack user ID of the first email Slack knows, or None."""
        for email in emails:
            try:
                return str(self._call("users_lookupByEmail", email=email)["user"]["id"])
            except PermanentFailure:
                continue  # users_not_found: try the next way of finding them
        return None

    def send(self, user_id: str, delivery: Delivery) -> None:
        """Upload the file into the requester's DM with its message."""
        channel = self._direct_channel(user_id)
        self._call(
            "files_upload_v2",
            channel=channel,
            filename=delivery.filename,
            title=delivery.filename,
            content=delivery.content,
            initial_comment=escape(delivery.comment),
        )

    def tell(self, user_id: str, text: str) -> None:
        """A direct message."""
        self._call("chat_postMessage", channel=self._direct_channel(user_id), text=escape(text))

    def reply(self, message: MessageRef, text: str) -> None:
        """A reply in the approval request's thread."""
        self._call("chat_postMessage", channel=message.channel, thread_ts=message.ts, text=escape(text))

    def _direct_channel(self, user_id: str) -> str:
        return str(self._call("conversations_open", users=user_id)["channel"]["id"])

    def _call(self, method: str, **arguments: Any) -> Any:
        return call_slack(self._client(), method, **arguments)
