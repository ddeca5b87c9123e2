"""Direct messages to requesters: find them by email, open a DM, upload their file.

Every text is drawn in rich text (see csrgate.adapters.slack.blocks): it quotes user names, CSR names and commands to
copy, which must read exactly as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.models.blocks import Block

from csrgate.adapters.slack.blocks import escape, extension_blocks, text_blocks
from csrgate.adapters.slack.client import call_slack
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

    def deliver(self, user_id: str, delivery: Delivery) -> None:
        """The message, then the file, in the requester's DM.

        The file carries no comment: Slack shows a file's comment as mrkdwn, where a user name such as `*ops*`
        would turn bold and the command quoting it would no longer be the one to type.
        """
        channel = self._direct_channel(user_id)
        self._post(channel, delivery.comment)
        self._call(
            "files_upload_v2",
            channel=channel,
            filename=delivery.filename,
            title=delivery.filename,
            content=delivery.content,
        )

    def tell(self, user_id: str, text: str) -> None:
        """A direct message."""
        self._post(self._direct_channel(user_id), text)

    def reply(self, message: MessageRef, text: str) -> None:
        """A reply in the approval request's thread."""
        self._post(message.channel, text, thread_ts=message.ts)

    def offer_extension(self, user_id: str, grant_id: str, text: str) -> None:
        """A direct message with an Extend button for the grant."""
        self._post(self._direct_channel(user_id), text, extension_blocks(grant_id, text))

    def _post(self, channel: str, text: str, blocks: list[Block] | None = None, **arguments: Any) -> None:
        self._call(
            "chat_postMessage",
            channel=channel,
            text=escape(text),
            blocks=blocks or text_blocks(text),
            unfurl_links=False,
            unfurl_media=False,
            **arguments,
        )

    def _direct_channel(self, user_id: str) -> str:
        return str(self._call("conversations_open", users=user_id)["channel"]["id"])

    def _call(self, method: str, **arguments: Any) -> Any:
        return call_slack(self._client(), method, **arguments)
