"""A CSR that shows a reviewer one request and Kubernetes another, sent through `csrgate dev up` with the real
kubectl: the dev cluster reads spec.request as kube-apiserver does (Go's pem.Decode), and csrgate must refuse it."""

from __future__ import annotations

import json

from e2e_support import condition

from devstack.client import DevStackClient
from devstack.csrs import make_csr
from devstack.demo import csr_manifest


def test_a_smuggled_second_block_is_denied_as_malformed_and_never_approved(stack: DevStackClient, name: str) -> None:
    # GIVEN a spec.request of one stray byte, a clean client CSR A, then B asking for system:masters: Go's pem.Decode
    # skips A, whose BEGIN does not start a line, so the API server and its signer read B
    clean = make_csr(name)
    masters = make_csr(name, orgs=["system:masters"])
    email = stack.stack["users"][stack.user("dana")]["email"]
    # WHEN it is applied with kubectl, as the docs apply a CSR
    stack.kubectl("apply", "-f", "-", stdin=csr_manifest(name, b"x" + clean + masters, email))
    # THEN the forwarder and the intake bring it to csrgate, which denies it with its policy reason as malformed
    denied = condition(stack, name, "Denied")
    assert denied["reason"] == "CsrgatePolicyDenied"
    assert "malformed-request" in denied["message"]
    # AND it is never approved, and nobody in Slack is asked to approve it
    assert stack.condition(name) == "Denied"
    assert "Approved" not in [c["type"] for c in (stack.csr(name) or {})["status"]["conditions"]]
    asked = [m for m in stack.messages(stack.channel) if name in m["text"] and "csrgate_approve" in json.dumps(m)]
    assert asked == []
