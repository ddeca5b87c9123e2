"""Calling the intake function as a forwarder does: CSR objects as the API server returns them, the events that
carry them, and the function's answer; then the notifier drawing the digests intake queued."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from devstack.csrs import make_csr
from devstack.harness import LambdaContext, load_function
from devstack.lambda_events import CALLER, DOCS_REQUEST, EVENTS, sqs_event


def csr_object(
    csr_pem: bytes | None = None,
    *,
    uid: str = "uid-1",
    name: str = "alice",
    signer: str = "kubernetes.io/kube-apiserver-client",
    usages: tuple[str, ...] = ("client auth",),
    expiration_seconds: int | None = 86400,
    username: str = "alice@example.com",
    groups: tuple[str, ...] = ("developers", "system:authenticated"),
    status: dict[str, Any] | None = None,
    request: str | None = None,
) -> dict[str, Any]:
    """A CertificateSigningRequest as the API server returns it."""
    obj = copy.deepcopy(DOCS_REQUEST)
    obj["metadata"].update(name=name, uid=uid)
    obj["spec"].update(
        request=request if request is not None else base64.b64encode(csr_pem or make_csr("alice")).decode(),
        signerName=signer,
        usages=list(usages),
        username=username,
        groups=list(groups),
    )
    if expiration_seconds is None:
        obj["spec"].pop("expirationSeconds", None)
    else:
        obj["spec"]["expirationSeconds"] = expiration_seconds
    obj["status"] = status or {}
    return obj


def iam_event(
    obj: dict[str, Any], *, cluster: str = "eks-prod", caller: str = CALLER, event_type: str = "ADDED"
) -> dict[str, Any]:
    """An API Gateway event from a forwarder that signed with SigV4, as the IAM authorizer passes it on."""
    event = json.loads((EVENTS / "csr-added-iam.json").read_text())
    event["body"] = json.dumps({"cluster": cluster, "type": event_type, "object": obj})
    event["requestContext"]["authorizer"]["iam"]["userArn"] = caller
    return event


def heartbeat_body(cluster: str = "lab", **extra: Any) -> bytes:
    """A forwarder's heartbeat, as it sends one: the cluster and the type, no object (unless `extra` adds to it)."""
    return json.dumps({"cluster": cluster, "type": "HEARTBEAT", **extra}).encode()


def iam_heartbeat(*, cluster: str = "eks-prod", caller: str = CALLER) -> dict[str, Any]:
    """A heartbeat from a forwarder that signed with SigV4, as the IAM authorizer passes it on."""
    event = iam_event({}, cluster=cluster, caller=caller)
    event["body"] = heartbeat_body(cluster).decode()
    return event


def invoke(function: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The function's answer to an API Gateway event: its status and its JSON body."""
    response = function.lambda_handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def draw_digests(stack: Any) -> None:
    """The notifier takes what waits on the Slack queue once the digests' flushes are due, and draws them."""
    messages = stack.delayed_messages("SlackRetryQueue")
    response = load_function("notifier").lambda_handler(sqs_event(messages, receive_count=1), LambdaContext())
    assert response == {"batchItemFailures": []}
