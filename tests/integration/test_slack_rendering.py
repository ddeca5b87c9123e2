"""What people read in Slack is what was asked, whole and literally: never a mention, a link or formatting, never
cut short. A list too long to show in one message is denied by the policy instead of being shortened.

Slack is the stand-in, reached by the real WebClient over HTTP; it refuses Block Kit that Slack refuses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block

from csrgate.adapters.slack.channel import SlackNotifier
from csrgate.adapters.slack.client import web_client
from csrgate.adapters.slack.delivery import SlackDelivery
from csrgate.domain.delivery import Delivery
from csrgate.domain.findings import Code, Finding, Severity, error
from csrgate.domain.messages import Fact, Notice, ReviewMessage
from csrgate.domain.records import MessageRef
from devstack.slack import SlackStandIn, running_slack

# What a requester can put in a CN, an O, a SAN, an annotation or a CSR's name, and Slack would otherwise act on.
HOSTILE = (
    "<!channel>",
    "<!here>",
    "@here hello",
    "<@U0ALICE>",
    "<#C0LAB>",
    "*bold*",
    "_italic_",
    "~strike~",
    "`code`",
    "```block```",
    "<http://evil.example|ok>",
    "https://evil.example/login",
    "evil.example",
    "a & b",
    "x" * 3000,
)
SLACK_TEXT_LIMIT = 3000  # characters in one text (a section's text), as Block Kit allows
SLACK_BLOCK_LIMIT = 50  # blocks in one message
# Rich text elements that Slack draws as something other than the text they hold.
ACTIVE_ELEMENTS = {"user", "usergroup", "broadcast", "channel", "link", "emoji", "team", "date"}


@pytest.fixture(scope="module")
def running() -> Iterator[SlackStandIn]:
    with running_slack() as stand_in:
        stand_in.users["U0DANA"] = {"name": "dana", "email": "dana@example.com"}
        yield stand_in


@pytest.fixture
def slack(running: SlackStandIn) -> SlackStandIn:
    """The stand-in, with nothing received yet."""
    for received in (running.calls, running.messages, running.files, running.ephemeral):
        received.clear()
    return running


@pytest.fixture
def client(slack: SlackStandIn) -> Callable[[], WebClient]:
    return lambda: web_client(slack.token, slack.api_url)


def review(value: str) -> ReviewMessage:
    return ReviewMessage(
        request_id="0f6a3c1e-5d2b-5c4a-9e7f-123456789abc",
        headline=f"Certificate request {value} on lab needs review",
        facts=(Fact("Certificate user (CN)", value), Fact("Subject alternative names", f"DNS:{value}, URI:{value}")),
        findings=(Finding(Code.SAN_NOT_ALLOWED, Severity.WARNING, f"the DNS name {value!r} is not the node's name"),),
        approvals_needed=1,
        privileged=False,
    )


def sent(slack: SlackStandIn, method: str) -> list[dict[str, Any]]:
    """The arguments of every call of `method` the stand-in received, blocks as lists."""
    calls = [dict(arguments) for name, arguments in slack.calls if name == method]
    for arguments in calls:
        if isinstance(arguments.get("blocks"), str):
            arguments["blocks"] = json.loads(arguments["blocks"])
    return calls


def shown_literally(blocks: list[dict[str, Any]]) -> str:
    """The text of every rich text `text` element, as a reader sees it, one line per section."""
    lines = []
    for block in blocks:
        for section in block.get("elements", []) if block["type"] == "rich_text" else []:
            lines.append("".join(element["text"] for element in section["elements"] if element["type"] == "text"))
    return "\n".join(lines)


def parsed_texts(blocks: Any) -> list[tuple[str, str]]:
    """(type, text) of every mrkdwn and plain_text object: the places where Slack may parse or reflow text."""
    if isinstance(blocks, list):
        return [found for item in blocks for found in parsed_texts(item)]
    if not isinstance(blocks, dict):
        return []
    here = [(blocks["type"], blocks["text"])] if blocks.get("type") in ("mrkdwn", "plain_text") else []
    return here + [found for item in blocks.values() for found in parsed_texts(item)]


def elements(blocks: Any) -> list[dict[str, Any]]:
    if isinstance(blocks, list):
        return [found for item in blocks for found in elements(item)]
    if not isinstance(blocks, dict):
        return []
    return [blocks] + [found for item in blocks.values() for found in elements(item)]


def assert_literal(arguments: dict[str, Any], value: str) -> None:
    """`value` appears whole in rich text only, the message is valid Block Kit within Slack's limits, and the
    notification text (which Slack parses) holds no markup from it."""
    blocks = arguments["blocks"]
    assert value in shown_literally(blocks), value[:40]
    assert not [text for kind, text in parsed_texts(blocks) if value in text], value[:40]
    assert not [e for e in elements(blocks) if e.get("type") in ACTIVE_ELEMENTS]
    assert [Block.parse(block).to_dict() for block in blocks] == blocks  # slack_sdk's own models validate them
    assert len(blocks) <= SLACK_BLOCK_LIMIT
    assert all(len(e["text"]) <= SLACK_TEXT_LIMIT for e in elements(blocks) if isinstance(e.get("text"), str))
    assert "<" not in arguments["text"].replace("&lt;", "") and ">" not in arguments["text"].replace("&gt;", "")


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: v[:20])
def test_an_approval_request_shows_every_value_whole_and_literally(
    slack: SlackStandIn, client: Callable[[], WebClient], value: str
) -> None:
    # GIVEN an approval request whose CSR name, CN, SANs and findings hold text a requester chose
    # WHEN it is posted, and redrawn with the same values
    ref = SlackNotifier(client).post_review("C0LAB", review(value))
    SlackNotifier(client).update_review(ref, review(value))
    # THEN every value is shown whole, in rich text only, with nothing Slack would turn into a mention or a link
    [posted] = sent(slack, "chat.postMessage")
    [updated] = sent(slack, "chat.update")
    for arguments in (posted, updated):
        assert_literal(arguments, value)
        assert f"Certificate request {value} on lab needs review" in shown_literally(arguments["blocks"])
        assert f"Certificate user (CN): {value}" in shown_literally(arguments["blocks"])
        assert f"the DNS name {value!r} is not the node's name" in shown_literally(arguments["blocks"])


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: v[:20])
def test_a_notice_shows_every_value_whole_and_literally(
    slack: SlackStandIn, client: Callable[[], WebClient], value: str
) -> None:
    notice = Notice(
        request_id="0f6a3c1e-5d2b-5c4a-9e7f-123456789abc",
        headline=f"Certificate request {value} on lab was denied by policy",
        facts=(Fact("Requested by (verified by the API server)", value), Fact("Reason", value)),
        findings=(error(Code.FORBIDDEN_GROUP, f"the group {value!r} may not be requested"),),
    )
    ref = SlackNotifier(client).post_notice("C0LAB", notice)
    SlackNotifier(client).update_notice(ref, notice)
    for arguments in (*sent(slack, "chat.postMessage"), *sent(slack, "chat.update")):
        assert_literal(arguments, value)
        assert f"Reason: {value}" in shown_literally(arguments["blocks"])


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: v[:20])
def test_ephemeral_messages_dms_and_thread_replies_show_requester_text_literally(
    slack: SlackStandIn, client: Callable[[], WebClient], value: str
) -> None:
    # GIVEN texts for an approver (ephemeral), a requester (DM) and a request's thread, each quoting requester text
    text = f"Your certificate request {value} on lab was denied by alice:\n- forbidden-group: the group {value!r}"
    # WHEN each is sent
    SlackNotifier(client).tell("C0LAB", "U0ALICE", text)
    SlackDelivery(client).tell("U0DANA", text)
    SlackDelivery(client).reply(MessageRef("C0LAB", "1.2"), text)
    # THEN each draws the whole text in rich text, lines kept
    [ephemeral] = sent(slack, "chat.postEphemeral")
    dm, reply = sent(slack, "chat.postMessage")
    assert reply["thread_ts"] == "1.2" and dm["channel"] == "DU0DANA"
    for arguments in (ephemeral, dm, reply):
        assert_literal(arguments, value)
        assert shown_literally(arguments["blocks"]) == text


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: v[:20])
def test_a_delivered_file_comes_with_its_message_drawn_literally(
    slack: SlackStandIn, client: Callable[[], WebClient], value: str
) -> None:
    # GIVEN a kubeconfig for a user whose name Slack would otherwise format (in the command to copy, too)
    comment = (
        f"Here is your kubeconfig for user {value}.\n"
        f"kubectl --kubeconfig lab-user.kubeconfig config set-credentials '{value}' --client-key=user.key"
    )
    # WHEN it is delivered
    SlackDelivery(client).deliver("U0DANA", Delivery("lab-user.kubeconfig", "apiVersion: v1\n", comment))
    # THEN the file is in the DM, and the message with it shows the command exactly as it must be typed
    [uploaded] = slack.files
    assert uploaded["channel"] == "DU0DANA" and uploaded["content"] == b"apiVersion: v1\n"
    assert uploaded["initial_comment"] == ""  # Slack parses a file's comment as mrkdwn: it carries nothing
    [dm] = sent(slack, "chat.postMessage")
    assert dm["channel"] == "DU0DANA"
    assert_literal(dm, value)
    assert shown_literally(dm["blocks"]) == comment


TOO_LONG_SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
TOO_LONG_HEADER = {"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}
TITLE_TOO_LONG = {"type": "modal", "title": {"type": "plain_text", "text": "x" * 30}, "blocks": []}


@pytest.mark.parametrize(
    ("method", "arguments"),
    [
        ("chat.postMessage", {"channel": "C0LAB", "blocks": [TOO_LONG_SECTION]}),
        ("chat.postMessage", {"channel": "C0LAB", "blocks": [{"type": "no-such-block"}]}),
        ("chat.postMessage", {"channel": "C0LAB", "blocks": [{"type": "divider"}] * 51}),
        ("chat.update", {"channel": "C0LAB", "ts": "1.2", "blocks": [TOO_LONG_HEADER]}),
        ("views.open", {"trigger_id": "1.2.x", "view": TITLE_TOO_LONG}),
    ],
)
def test_the_stand_in_refuses_block_kit_that_slack_refuses(
    running: SlackStandIn, method: str, arguments: dict[str, object]
) -> None:
    # GIVEN blocks or a view that break Block Kit's rules WHEN they are sent with the real WebClient
    client = WebClient(token=running.token, base_url=running.api_url)
    # THEN the stand-in answers as Slack does, so a test that sends them fails as production would
    with pytest.raises(SlackApiError) as refused:
        client.api_call(method, json=arguments)
    assert refused.value.response["error"] in ("invalid_blocks", "invalid_arguments")
