"""How csrgate's messages are drawn in Block Kit.

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

from csrgate.domain.findings import Finding, Severity
from csrgate.domain.grant_messages import GrantButton, GrantMessage
from csrgate.domain.messages import Fact, Notice, ReviewMessage
from csrgate.domain.records import MessageRef

APPROVE_ACTION = "csrgate_approve"
DENY_ACTION = "csrgate_deny"
GRANT_APPROVE_ACTION = "csrgate_grant_approve"
GRANT_DENY_ACTION = "csrgate_grant_deny"
GRANT_REVOKE_ACTION = "csrgate_grant_revoke"
GRANT_EXTEND_ACTION = "csrgate_grant_extend"
# What each grant button's action id means, for whoever reads a click; every button's value is the grant's id.
GRANT_ACTIONS: dict[str, GrantButton] = {
    GRANT_APPROVE_ACTION: GrantButton.APPROVE,
    GRANT_DENY_ACTION: GrantButton.DENY,
    GRANT_REVOKE_ACTION: GrantButton.REVOKE,
    GRANT_EXTEND_ACTION: GrantButton.EXTEND,
}
MAX_TEXT_CHARS = 3000  # in one text element: Block Kit's limit for a text, so no element is refused as too long
_SEVERITY_MARK = {Severity.ERROR: "✖", Severity.WARNING: "⚠", Severity.INFO: "ℹ"}


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
        _id_context("request", message.request_id),
    ]


def notice_blocks(notice: Notice) -> list[Block]:
    """A notice: headline, facts, findings, and the request it is about (none for a notice about a cluster)."""
    about = [_id_context("request", notice.request_id)] if notice.request_id else []
    return [*_body(notice.headline, notice.facts, notice.findings), *about]


def grant_blocks(message: GrantMessage) -> list[Block]:
    """A grant's channel message: headline, facts, the buttons its state offers (none once it is over), its id."""
    blocks = _body(message.headline, message.facts, ())
    if message.buttons:
        elements = [_grant_button(message, button) for button in message.buttons]
        blocks.append(ActionsBlock(block_id=_grant_block_id(message.grant_id), elements=elements))
    return [*blocks, _id_context("grant", message.grant_id)]


def extension_blocks(grant_id: str, text: str) -> list[Block]:
    """The requester's reminder before their access ends: the text, drawn literally, and its Extend button."""
    extend = _grant_button_element(GrantButton.EXTEND, grant_id)
    return [*text_blocks(text), ActionsBlock(block_id=_grant_block_id(grant_id), elements=[extend])]


DENY_CALLBACK = "csrgate_deny_reason"
REASON_BLOCK = "reason"
REASON_ACTION = "reason_text"


def deny_dialog(subject_id: str, message: MessageRef | None, *, grant: bool = False) -> View:
    """The modal that asks an approver why they deny a certificate request or, with `grant`, access; its metadata
    names the request (`request_id`) or the grant (`grant_id`). `message` is None when they clicked on their App Home.
    """
    subject = {"grant_id": subject_id} if grant else {"request_id": subject_id}
    context = subject | ({"channel": message.channel, "ts": message.ts} if message else {})
    return View(
        type="modal",
        callback_id=DENY_CALLBACK,
        private_metadata=json.dumps(context),
        title=PlainTextObject(text="Deny access" if grant else "Deny certificate", emoji=False),
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
    return _confirmation(
        "Privileged request",
        f"The policy marks this request privileged. It needs {message.approvals_needed} approvals. Approve it?",
        "Approve",
        "primary",
    )


_GRANT_BUTTON_LOOKS = {  # label and style
    GrantButton.APPROVE: ("Approve", "primary"),
    GrantButton.DENY: ("Deny", "danger"),
    GrantButton.REVOKE: ("Revoke", "danger"),
    GrantButton.EXTEND: ("Extend", "primary"),
}
_GRANT_ACTION_IDS = {button: action_id for action_id, button in GRANT_ACTIONS.items()}


def _grant_button(message: GrantMessage, button: GrantButton) -> ButtonElement:
    confirm = None
    if button is GrantButton.APPROVE and message.privileged:
        needed = message.approvals_needed
        confirm = _confirmation(
            "Privileged access",
            f"This role is privileged. It needs {needed} approval{'' if needed == 1 else 's'}. Approve it?",
            "Approve",
            "primary",
        )
    elif button is GrantButton.REVOKE:  # the binding goes at once, whoever holds it and whatever they are doing
        confirm = _confirmation("Revoke access", "Remove this access now?", "Revoke", "danger")
    return _grant_button_element(button, message.grant_id, confirm)


def _grant_button_element(button: GrantButton, grant_id: str, confirm: ConfirmObject | None = None) -> ButtonElement:
    label, style = _GRANT_BUTTON_LOOKS[button]
    return ButtonElement(
        text=PlainTextObject(text=label, emoji=False),
        action_id=_GRANT_ACTION_IDS[button],
        value=grant_id,
        style=style,
        confirm=confirm,
    )


def _grant_block_id(grant_id: str) -> str:
    return f"grant:{grant_id}"


def _confirmation(title: str, text: str, confirm: str, style: str) -> ConfirmObject:
    return ConfirmObject(
        title=PlainTextObject(text=title, emoji=False),
        text=PlainTextObject(text=text, emoji=False),
        confirm=PlainTextObject(text=confirm, emoji=False),
        deny=PlainTextObject(text="Cancel", emoji=False),
        style=style,
    )


def _id_context(kind: str, subject_id: str) -> ContextBlock:
    """`csrgate request <id>` or `csrgate grant <id>`: what to look up in the audit trail."""
    return ContextBlock(elements=[MarkdownTextObject(text=f"csrgate {kind} `{escape(subject_id)}`")])
