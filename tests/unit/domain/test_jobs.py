"""Queue jobs: what one side writes the other reads back, and a message that is not one of csrgate's jobs is None."""

from __future__ import annotations

import json

import pytest

from csrgate.domain.jobs import MAX_ID_CHARS, ApplyDecision, CheckIssuance, Job, PostMessage, decode_job, encode_job


@pytest.mark.parametrize(
    ("job", "body"),
    [
        (ApplyDecision("r-1"), {"kind": "apply_decision", "request_id": "r-1"}),
        (CheckIssuance("r-1", 3), {"kind": "check_issuance", "request_id": "r-1", "attempt": 3}),
        (PostMessage("r-1", 2), {"kind": "post_message", "request_id": "r-1", "attempt": 2}),
    ],
)
def test_a_job_is_written_as_its_kind_and_fields_and_read_back_the_same(job: Job, body: dict[str, object]) -> None:
    encoded = encode_job(job)
    assert json.loads(encoded) == body
    assert encoded == json.dumps(body, sort_keys=True)
    assert decode_job(encoded) == job


def test_jobs_retried_start_at_their_first_attempt() -> None:
    assert CheckIssuance("r").attempt == 1 and PostMessage("r").attempt == 1
    assert decode_job('{"kind": "check_issuance", "request_id": "r"}') == CheckIssuance("r", 1)
    assert decode_job('{"kind": "post_message", "request_id": "r"}') == PostMessage("r", 1)


def test_fields_a_job_does_not_carry_are_ignored_so_older_messages_still_read() -> None:
    body = {"kind": "apply_decision", "request_id": "r-1", "attempt": "whatever", "cluster": "lab"}
    assert decode_job(json.dumps(body)) == ApplyDecision("r-1")


def test_the_longest_request_id_is_read() -> None:
    longest = "r" * MAX_ID_CHARS
    assert decode_job(encode_job(ApplyDecision(longest))) == ApplyDecision(longest)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[" * 100_000,  # nested past the parser's recursion limit
        "[]",
        '"apply_decision"',
        "{}",
        '{"request_id": "r-1"}',
        '{"kind": 1, "request_id": "r-1"}',
        '{"kind": "delete_everything", "request_id": "r-1"}',
        '{"kind": "apply_decision"}',
        '{"kind": "apply_decision", "request_id": 7}',
        '{"kind": "apply_decision", "request_id": ""}',
        json.dumps({"kind": "apply_decision", "request_id": "r" * (MAX_ID_CHARS + 1)}),
        '{"kind": "check_issuance", "request_id": "r-1", "attempt": 0}',
        '{"kind": "check_issuance", "request_id": "r-1", "attempt": -1}',
        '{"kind": "check_issuance", "request_id": "r-1", "attempt": "2"}',
        '{"kind": "check_issuance", "request_id": "r-1", "attempt": 2.0}',
        '{"kind": "post_message", "request_id": "r-1", "attempt": true}',
        '{"kind": "post_message", "request_id": "r-1", "attempt": null}',
    ],
)
def test_a_message_that_is_not_one_of_csrgates_jobs_reads_as_none(body: str) -> None:
    assert decode_job(body) is None
