"""Slack: the Web API client and how csrgate's messages are drawn in Block Kit.

Every text that may hold requester text (headlines, facts, findings, and the texts sent to one person) is drawn
in `rich_text` blocks as `text` elements. Slack shows those as they are: mentions, links and emoji are separate
element kinds in rich text (Slack's "Rich text block" reference), so `<!channel>`, `*bold*`, `<http://x|ok>` and
`https://x` are characters, never a mention, formatting or a link. `mrkdwn` objects are not used for it: even with
`verbatim: true` Slack still applies formatting and parses `<...>` in them, and URLs in the top-level `text` are
made links whatever is escaped. That `text` is still sent, escaped (&, <, >), as the notification and
screen-reader fallback Slack asks for; the message itself shows the blocks.

Nothing is cut short: a text longer than one element may hold is continued in the next element. The policy denies
lists too long for a message (domain.checks.MAX_LIST_CHARS), so that a message stays readable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackObjectFormationError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    RichTextBlock,
    RichTextElementParts,
    RichTextSectionElement,
)
from slack_sdk.models.views import View

from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.findings import Finding, Severity
from csrgate.domain.messages import Fact, Notice, ReviewMessage
from csrgate.domain.records import MessageRef

APPROVE_ACTION = "csrgate_approve"
DENY_ACTION = "csrgate_deny"
MAX_TEXT_CHARS = 3000  # in one text element: Block Kit's limit for a text, so no element is refused as too long
MAX_INLINE_RETRY_AFTER_SECONDS = 5  # longer waits go back to the queue rather than hold a request open
_SEVERITY_MARK = {Severity.ERROR: "✖", Severity.WARNING: "⚠", Severity.INFO: "ℹ"}
_RETRYABLE_ERRORS = {"ratelimited", "service_unavailable", "internal_error", "fatal_error", "request_timeout"}


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Retries a 429 in place only when Slack asks for a short wait; a long Retry-After is left to the queue."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        retry_after = (response.headers.get("retry-after") or response.headers.get("Retry-After") or ["1"])[0]
        return retry_after.isdigit() and int(retry_after) <= MAX_INLINE_RETRY_AFTER_SECONDS


def web_client(token: str, base_url: str | None = None, timeout: int = 5, *, hurried: bool = False) -> WebClient:
    """A WebClient that retries connection errors, short rate limits and Slack's 5xx answers once each.

    A `hurried` client (inside Slack's three-second interaction budget) retries only a failed connection.
    """
    handlers: list[RetryHandler] = [ConnectionErrorRetryHandler(max_retry_count=1)]
    if not hurried:
        handlers += [BoundedRateLimitRetryHandler(max_retry_count=1), ServerErrorRetryHandler(max_retry_count=1)]
    client = WebClient(token=token, base_url=base_url or WebClient.BASE_URL, timeout=timeout, retry_handlers=handlers)
    return client


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

    def tell(self, channel: str, user: str, text: str) -> None:
        """A message only `user` sees, in the channel where they clicked."""
        self._call("chat_postEphemeral", channel=channel, user=user, text=escape(text), blocks=text_blocks(text))

    def ask_deny_reason(self, trigger_id: str, request_id: str, message: MessageRef) -> None:
        """Open the Deny dialog; its submission carries the request and message it belongs to."""
        self._call("views_open", trigger_id=trigger_id, view=deny_dialog(request_id, message))

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


def review_blocks(message: ReviewMessage) -> list[Block]:
    """The approval request: headline, facts, findings, buttons."""
    approve = ButtonElement(
        text=PlainTextObject(text="Approve", emoji=False),
        action_id=APPROVE_ACTION,
        value=message.request_id,
        style="primary",
        confirm=_privileged_confirmation(message) if message.privileged else None,
    )
    deny = ButtonElement(
        text=PlainTextObject(text="Deny", emoji=False), action_id=DENY_ACTION, value=message.request_id, style="danger"
    )
    return [
        *_body(message.headline, message.facts, message.findings),
        ActionsBlock(block_id=f"decide:{message.request_id}", elements=[approve, deny]),
        _request_context(message.request_id),
    ]


def notice_blocks(notice: Notice) -> list[Block]:
    """A notice: headline, facts, findings."""
    return [*_body(notice.headline, notice.facts, notice.findings), _request_context(notice.request_id)]


DENY_CALLBACK = "csrgate_deny_reason"
REASON_BLOCK = "reason"
REASON_ACTION = "reason_text"


def deny_dialog(request_id: str, message: MessageRef) -> View:
    """The modal that asks an approver why they deny."""
    return View(
        type="modal",
        callback_id=DENY_CALLBACK,
        private_metadata=json.dumps({"request_id": request_id, "channel": message.channel, "ts": message.ts}),
        title=PlainTextObject(text="Deny certificate", emoji=False),
        submit=PlainTextObject(text="Deny", emoji=False),
        close=PlainTextObject(text="Cancel", emoji=False),
        blocks=[
            InputBlock(
                block_id=REASON_BLOCK,
                label=PlainTextObject(text="Reason (the requester sees it)", emoji=False),
                element=PlainTextInputElement(action_id=REASON_ACTION, multiline=True, max_length=500),
            )
        ],
    )


def escape(text: str) -> str:
    """Text safe inside Slack mrkdwn: the three characters Slack's formatting docs say to escape."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text_blocks(text: str) -> list[Block]:
    """A text for one person or a thread, drawn literally, lines kept."""
    return [RichTextBlock(elements=[RichTextSectionElement(elements=_literal(text))])]


def _body(headline: str, facts: tuple[Fact, ...], findings: tuple[Finding, ...]) -> list[Block]:
    # The headline holds the CSR's name: a header block (plain_text, at most 150 characters) could not show it all.
    headline_block = RichTextBlock(elements=[RichTextSectionElement(elements=_literal(headline, bold=True))])
    blocks: list[Block] = [headline_block]
    blocks.append(RichTextBlock(elements=[_labelled(fact.label, fact.value) for fact in facts]))
    if findings:
        lines = [_labelled(f"{_SEVERITY_MARK[f.severity]} {f.code.value}", f.message) for f in findings]
        blocks.append(RichTextBlock(elements=lines))
    return blocks


def _labelled(label: str, value: str) -> RichTextSectionElement:
    return RichTextSectionElement(elements=[*_literal(f"{label}: ", bold=True), *_literal(value + "\n")])


def _literal(text: str, *, bold: bool = False) -> list[RichTextElementParts.Text]:
    """Text elements holding `text` whole, in pieces of at most MAX_TEXT_CHARS."""
    style = {"bold": True} if bold else None
    pieces = [text[start : start + MAX_TEXT_CHARS] for start in range(0, len(text), MAX_TEXT_CHARS)] or [" "]
    return [RichTextElementParts.Text(text=piece, style=style) for piece in pieces]


def _privileged_confirmation(message: ReviewMessage) -> ConfirmObject:
    return ConfirmObject(
        title=PlainTextObject(text="Privileged request", emoji=False),
        text=PlainTextObject(
            text=f"The policy marks this request privileged. It needs {message.approvals_needed} approvals. "
            "Approve it?",
            emoji=False,
        ),
        confirm=PlainTextObject(text="Approve", emoji=False),
        deny=PlainTextObject(text="Cancel", emoji=False),
        style="primary",
    )


def _request_context(request_id: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=f"csrgate request `{escape(request_id)}`")])


def call_slack(client: WebClient, method: str, **arguments: Any) -> Any:
    """A Web API call, its errors translated: RetryLater for rate limits, 5xx and the network, else PermanentFailure.

    A message slack_sdk cannot form (blocks or a view breaking Block Kit's rules) is never sent: it is a permanent
    failure with the reason `invalid-message`, not an unreachable Slack, since sending it again fails the same way.
    """
    try:
        return getattr(client, method)(**arguments)
    except SlackObjectFormationError as exc:
        raise PermanentFailure(f"invalid-message: {method} was not sent: {str(exc)[:200]}") from exc
    except SlackApiError as exc:
        status = exc.response.status_code
        error = str(exc.response.get("error") or f"HTTP {status}")
        if status == 429 or status >= 500 or error in _RETRYABLE_ERRORS:
            raise RetryLater(f"Slack answered {error} to {method}") from exc
        raise PermanentFailure(f"Slack refused {method}: {error}") from exc
    except (SlackClientError, OSError) as exc:
        raise RetryLater(f"Slack is unreachable: {type(exc).__name__}") from exc
