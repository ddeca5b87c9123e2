"""The digest as Slack gets it, under attack: CSRs forwarded through the intake function, the digest drawn by the
notifier function with the real WebClient to the Slack stand-in, on moto provisioned from template.yaml.

Whoever may create CSRs chooses their names, subjects and SANs (and, through an OIDC claim, perhaps their user name);
whoever may send to the Slack queue can forge a digest job.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from intake_calls import csr_object, invoke
from stack import Stack
from test_slack_rendering import ACTIVE_ELEMENTS, elements, parsed_texts, shown_literally

from csrgate.domain.digests import window_of
from csrgate.domain.jobs import PostDigest, encode_job
from devstack.csrs import make_csr
from devstack.harness import LambdaContext, load_function
from devstack.lambda_events import hmac_event, sqs_event

# Slack refuses a message whose blocks hold more text than this in all (`msg_blocks_too_long`), whatever each block
# or element holds: about 12,000 characters, which Slack does not document (slackapi/bolt-js#2509, #2867).
SLACK_BLOCKS_TEXT_LIMIT = 12_000
# What a requester can put in a CSR's name (Kubernetes refuses only "/" and "%" there) and, through an identity
# provider's claim, in the user the API server records.
HOSTILE = (
    "<!channel>",
    "<@U0ALICE>",
    "<#C0LAB>",
    "*approved*",
    "`kubectl`",
    "evil.example",
    "evil\nDenied forged: asked by alice: fine",
    "evil\u202eevil",
)


def draw(stack: Stack, request_ids: list[str]) -> dict[str, Any]:
    """The notifier draws the digest of each window the requests fell in, as SQS hands it the jobs: its answer."""
    windows = sorted({window_of(datetime.fromisoformat(stack.request_item(r)["received_at"])) for r in request_ids})  # type: ignore[index]
    return notify(stack, [encode_job(PostDigest("lab", window)) for window in windows])


def notify(stack: Stack, bodies: list[str]) -> dict[str, Any]:
    """The notifier function given these queue messages, each delivered the first time: its answer."""
    messages = [{"MessageId": f"m-{n}", "ReceiptHandle": f"h-{n}", "Body": body} for n, body in enumerate(bodies)]
    answer: dict[str, Any] = load_function("notifier").lambda_handler(
        sqs_event(messages, receive_count=1), LambdaContext()
    )
    return answer


def blocks_text(blocks: Any) -> int:
    """How many characters of text the blocks hold in all, as Slack counts them against its limit."""
    return sum(len(e["text"]) for e in elements(blocks) if isinstance(e.get("text"), str))


def denied(stack: Stack, intake: Any, name: str, username: str, uid: str) -> str:
    """A CSR for system:masters (denied by policy) forwarded: its request id."""
    obj = csr_object(make_csr("root", orgs=["system:masters"], key="p256"), uid=uid, name=name, username=username)
    status, body = invoke(intake, hmac_event(obj))
    assert (status, body["state"]) == (200, "denied_by_policy")
    return str(body["request_id"])


def test_a_csrs_name_and_user_are_drawn_literally_in_the_digest_one_line_each(stack: Stack, intake: Any) -> None:
    # GIVEN CSRs whose names and users hold mentions, links, markup, a line break and a direction override
    ids = [denied(stack, intake, name, f"{name} <!here>", f"uid-{n}") for n, name in enumerate(HOSTILE)]
    # WHEN the notifier draws the digest
    assert draw(stack, ids) == {"batchItemFailures": []}
    # THEN it is valid Block Kit holding nothing Slack draws as a mention, a link or formatting
    [digest] = stack.slack.messages
    assert not [element for element in elements(digest.blocks) if element.get("type") in ACTIVE_ELEMENTS]
    assert [kind for kind, _ in parsed_texts(digest.blocks)] == ["mrkdwn"] * sum(
        block["type"] == "context" for block in digest.blocks
    )  # the only mrkdwn is csrgate's own context line, if any
    assert "<" not in digest.text.replace("&lt;", "") and ">" not in digest.text.replace("&gt;", "")
    # AND each denial is one line, its name and user shown with what hides in them made visible
    shown = shown_literally(digest.blocks).splitlines()
    listed = [line for line in shown if line.startswith("Denied ")]
    assert len(listed) == len(HOSTILE)
    assert "Denied <!channel>: asked by <!channel> <!here>: forbidden-group: " in "\n".join(listed)
    assert any(line.startswith("Denied evil\\nDenied forged: asked by alice: fine: ") for line in listed)
    assert any(line.startswith("Denied evil\\u202eevil: ") for line in listed)
    assert not [line for line in shown if line.startswith("Denied forged")]


def many_sans(node: str) -> list[str]:
    """Fifty DNS names a kubelet could put in its serving CSR, each 200 characters long."""
    return [f"{'a' * 62}.{'b' * 62}.{'c' * 62}.n{n:02d}.{node}" for n in range(50)]


def test_one_csr_with_many_long_sans_cannot_make_the_minutes_digest_too_long_for_slack(
    stack: Stack, intake: Any
) -> None:
    # GIVEN a node's CSR approved by policy, and in the same minute a kubelet CSR asking for fifty long SANs
    node = "ip-10-0-1-23.ec2.internal"
    ids = []
    for uid, name, dns in (("uid-good", "csr-good", [node]), ("uid-bulky", "csr-bulky", many_sans(node))):
        csr_pem = make_csr(f"system:node:{node}", orgs=["system:nodes"], dns=dns, ips=["10.0.1.23"], key="p256")
        obj = csr_object(
            csr_pem,
            uid=uid,
            name=name,
            signer="kubernetes.io/kubelet-serving",
            usages=("digital signature", "server auth"),
            expiration_seconds=None,
            username=f"system:node:{node}",
            groups=("system:nodes", "system:authenticated"),
        )
        status, body = invoke(intake, hmac_event(obj))
        assert status == 200
        ids.append(str(body["request_id"]))
    # WHEN the notifier draws the digest
    assert draw(stack, ids) == {"batchItemFailures": []}
    # THEN the message stays within what Slack takes, and still tells the approval and the denial
    [digest] = stack.slack.messages
    assert "1 certificate request approved and 1 denied by policy" in digest.text
    assert blocks_text(digest.blocks) <= SLACK_BLOCKS_TEXT_LIMIT, blocks_text(digest.blocks)


@pytest.mark.parametrize(
    ("cluster", "window"),
    [("ghost", 0), ("ghost", 10**11), ("lab", -3600), ("lab", 10**12)],
    ids=["unknown-cluster", "unknown-cluster-far-future", "empty-window", "window-past-9999"],
)
def test_a_forged_digest_job_leaves_no_trace(stack: Stack, cluster: str, window: int) -> None:
    # GIVEN someone who may send to the Slack queue, sending a digest job csrgate never queued (for this minute, an
    # hour ago, or windows no clock reaches)
    if window <= 0:
        window += window_of(datetime.now().astimezone())
    body = json.dumps({"kind": "post_digest", "cluster": cluster, "window": window})
    # WHEN the notifier takes it
    answer = notify(stack, [body])
    # THEN it is not retried into the dead letters, Slack is not called, and nothing is kept in the table
    assert answer == {"batchItemFailures": []}
    assert [method for method, _ in stack.slack.calls if method.startswith("chat.")] == []
    assert [item["sk"] for item in stack.items() if str(item["pk"]).startswith("DIGEST#")] == []
