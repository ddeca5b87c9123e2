"""The intake function when Slack fails: rate limits are waited out or left to the retry queue, and the notifier
posts what could not be posted, or fails the request loudly.

AWS is moto provisioned from template.yaml; Slack is the stand-in, reached by the real WebClient over HTTP.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from audit_records import audit_events
from intake_calls import csr_object, invoke
from stack import Stack

from devstack.csrs import make_csr
from devstack.harness import LambdaContext, load_function
from devstack.lambda_events import DOCS_REQUEST, hmac_event, sqs_event


def test_slack_rate_limiting_is_waited_out(stack: Stack, intake: Any) -> None:
    stack.slack.fail_next(429, retry_after=1)
    status, body = invoke(intake, hmac_event(DOCS_REQUEST))
    assert status == 200 and body["state"] == "awaiting_review"
    assert len(stack.slack.messages) == 1
    assert [call[0] for call in stack.slack.calls] == ["chat.postMessage", "chat.postMessage"]


def test_a_slack_server_error_is_retried(stack: Stack, intake: Any) -> None:
    stack.slack.fail_next(500)
    invoke(intake, hmac_event(DOCS_REQUEST))
    assert len(stack.slack.messages) == 1


def test_a_long_rate_limit_goes_to_the_retry_queue_instead_of_holding_the_forwarder(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.slack.fail_next(429, retry_after=60)
    status, body = invoke(intake, hmac_event(DOCS_REQUEST))
    assert status == 200 and body["state"] == "awaiting_review"
    assert stack.slack.messages == []
    [retry] = stack.queue_messages("SlackRetryQueue")
    assert json.loads(retry["Body"]) == {"kind": "post_message", "request_id": body["request_id"], "attempt": 2}
    assert "slack.post_failed" in [line["event"] for line in audit_events(capsys)]


def test_slack_down_loses_nothing_the_notifier_posts_later(stack: Stack, intake: Any) -> None:
    # GIVEN Slack fails every call while the CSR arrives
    stack.slack.fail_next(500, times=2)  # the first post and its one retry in place
    status, body = invoke(intake, hmac_event(DOCS_REQUEST))
    assert status == 200 and stack.slack.messages == []
    assert stack.request_item(body["request_id"])["state"] == "awaiting_review"  # type: ignore[index]
    # WHEN Slack is back and the notifier takes the retry message
    notifier = load_function("notifier")
    response = notifier.lambda_handler(
        sqs_event(stack.queue_messages("SlackRetryQueue"), receive_count=1), LambdaContext()
    )
    # THEN the approval request is posted once, and remembered
    assert response == {"batchItemFailures": []}
    [message] = stack.slack.messages
    assert stack.request_item(body["request_id"])["slack_ts"] == message.ts  # type: ignore[index]
    # AND a late duplicate of the retry posts nothing more
    notifier.lambda_handler(sqs_event(stack.queue_messages("SlackRetryQueue"), receive_count=1), LambdaContext())
    assert len(stack.slack.messages) == 1


def test_the_notifier_retries_then_fails_the_request_loudly(
    stack: Stack, intake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.slack.fail_next(500, times=100)
    _, body = invoke(intake, hmac_event(DOCS_REQUEST))
    notifier = load_function("notifier")
    messages = stack.queue_messages("SlackRetryQueue")
    capsys.readouterr()
    # an early delivery fails and is reported back to SQS for another try
    first = notifier.lambda_handler(sqs_event(messages, receive_count=2), LambdaContext())
    assert first == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    # the last delivery gives up: the request fails and the failure is counted for the alarm, and the message goes
    # on to the dead letters (SQS moves it there after this last failed receive)
    last = notifier.lambda_handler(sqs_event(messages, receive_count=6), LambdaContext())
    assert last == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert stack.request_item(body["request_id"])["state"] == "failed"  # type: ignore[index]
    output = capsys.readouterr().out
    assert '"SlackPostsAbandoned"' in output and "slack.post_abandoned" in output


def test_the_notifier_drops_messages_that_are_not_its_own(stack: Stack) -> None:
    notifier = load_function("notifier")
    bodies = ["not json", "[]", json.dumps({"kind": "post_message", "request_id": 7}), json.dumps({"kind": "x"})]
    records = [{"MessageId": f"m{i}", "ReceiptHandle": "r", "Body": body} for i, body in enumerate(bodies)]
    assert notifier.lambda_handler(sqs_event(records, receive_count=1), LambdaContext()) == {"batchItemFailures": []}


def test_reviews_arriving_at_once_are_each_posted_once_at_the_pace_slack_allows(stack: Stack, intake: Any) -> None:
    # GIVEN Slack takes one message per second in a channel, and eight reviews arrive at once, four at a time
    stack.slack.channel_posts_per_second = 1.0
    objects = [csr_object(make_csr(f"user-{n}"), uid=f"uid-burst-{n}", name=f"user-{n}") for n in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda obj: invoke(intake, hmac_event(obj)), objects))
    assert all(status == 200 and body["state"] == "awaiting_review" for status, body in answers)
    # WHEN the notifier posts what Slack turned away, as SQS delivers it again until it is done
    notifier = load_function("notifier")
    for _ in range(20):
        retries = stack.queue_messages("SlackRetryQueue")
        if not retries:
            break
        for message in retries:  # one at a time: a batch's messages share the channel's pace too
            notifier.lambda_handler(sqs_event([message], receive_count=1), LambdaContext())
            stack.session.client("sqs").delete_message(
                QueueUrl=stack.resources["SlackRetryQueue"], ReceiptHandle=message["ReceiptHandle"]
            )
    # THEN Slack turned some away, and each review is in the channel exactly once, remembered on its request
    assert stack.slack.rate_limited > 0
    posted = [message.ts for message in stack.slack.messages]
    assert len(posted) == len(set(posted)) == 8
    remembered = {stack.request_item(body["request_id"])["slack_ts"] for _, body in answers}  # type: ignore[index]
    assert remembered == set(posted)
