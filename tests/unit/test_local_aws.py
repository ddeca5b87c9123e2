"""The local AWS serves DynamoDB calls one at a time (moto's transactions would lose concurrent writes), and
everything else (SQS long polls) side by side."""

from __future__ import annotations

import threading
from typing import Any

from devstack.aws import serialized_dynamodb


def test_dynamodb_calls_never_overlap_and_other_calls_do() -> None:
    inside: list[str] = []
    overlapped: list[tuple[str, ...]] = []
    both_in = threading.Barrier(2, timeout=5)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "sqs")
        inside.append(target)
        if len(inside) > 1:
            overlapped.append(tuple(inside))
        if target == "sqs":
            both_in.wait()  # two SQS calls must be inside at once, or this times out
        else:
            threading.Event().wait(0.05)
        inside.remove(target)
        return [b"{}"]

    served = serialized_dynamodb(app)

    def call(target: str | None) -> None:
        environ = {"HTTP_X_AMZ_TARGET": target} if target else {}
        served(environ, lambda *args: None)

    threads = [threading.Thread(target=call, args=(t,)) for t in ["DynamoDB_20120810.PutItem"] * 4 + [None, None]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not [pair for pair in overlapped if all(t.startswith("DynamoDB_") for t in pair)]
    assert ("sqs", "sqs") in overlapped or any(pair.count("sqs") == 2 for pair in overlapped)
