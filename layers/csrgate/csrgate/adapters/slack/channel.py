"""The cluster's channel: approval requests, grants and notices posted, redrawn, and answered, with the bot token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.models.blocks import Block

from csrgate.adapters.slack.blocks import deny_dialog, escape, grant_blocks, notice_blocks, review_blocks, text_blocks
from csrgate.adapters.slack.client import call_slack
from csrgate.domain.grant_messages import GrantMessage
from csrgate.domain.messages import Notice, ReviewMessage
from csrgate.domain.records import MessageRef


class SlackNotifier:
    """Posts csrgate's messages to a channel with the bot token."""

    def __init__(self, client: Callable[[], WebClient]) -> None:
        self._client = client  # a new client when the token rotates

    def post_review(self, channel: str, message: ReviewMessage) -> MessageRef:
        """Post an approval request with Approve and Deny buttons."""
        return self._post(channel, message.headline, review_blocks(message))

    def post_notice(self, channel: str, notice: Notice) -> MessageRef:
        """Post a notice without buttons."""
        return self._post(channel, notice.headline, notice_blocks(notice))

    def update_review(self, message: MessageRef, review: ReviewMessage) -> None:
        """Redraw an approval request (approvals so far), keeping its buttons."""
        self._call(
            "chat_update",
            channel=message.channel,
            ts=message.ts,
            text=escape(review.headline),
            blocks=review_blocks(review),
        )

    def update_notice(self, message: MessageRef, notice: Notice) -> None:
        """Replace an approval request with an account of what happened to it: its buttons are gone."""
        self._call(
            "chat_update",
            channel=message.channel,
            ts=message.ts,
            text=escape(notice.headline),
            blocks=notice_blocks(notice),
        )

    def post_grant(self, channel: str, message: GrantMessage) -> MessageRef:
        """Post a grant's message, with the buttons its state offers."""
        return self._post(channel, message.headline, grant_blocks(message))

    def update_grant(self, message: MessageRef, grant: GrantMessage) -> None:
        """Redraw a grant's message as it moves on: its buttons go once there is nothing left to click."""
        self._call(
            "chat_update",
            channel=message.channel,
            ts=message.ts,
            text=escape(grant.headline),
            blocks=grant_blocks(grant),
        )

    def tell(self, channel: str, user: str, text: str) -> None:
        """A message only `user` sees, in the channel where they clicked."""
        self._call("chat_postEphemeral", channel=channel, user=user, text=escape(text), blocks=text_blocks(text))

    def ask_deny_reason(
        self, trigger_id: str, subject_id: str, message: MessageRef | None, *, grant: bool = False
    ) -> None:
        """Open the Deny dialog; its submission carries the request (or, with `grant`, the grant) and the message it
        belongs to."""
        self._call("views_open", trigger_id=trigger_id, view=deny_dialog(subject_id, message, grant=grant))

    def _call(self, method: str, **arguments: Any) -> Any:
        return call_slack(self._client(), method, **arguments)

    def _post(self, channel: str, headline: str, blocks: list[Block]) -> MessageRef:
        response = self._call(
            "chat_postMessage",
            channel=channel,
            text=escape(headline),
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
        return MessageRef(channel=str(response["channel"]), ts=str(response["ts"]))
