"""A list too long to show in one Slack message is denied by the policy instead of being shortened, and the findings
quote what the requester chose."""

from __future__ import annotations

from typing import Any

from csrgate.domain.checks import MAX_LIST_CHARS
from csrgate.domain.findings import Code, Severity
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import load_policy
from csrgate.domain.request import read_signing_request
from csrgate.domain.verdict import evaluate
from devstack.csrs import make_csr, manifest

SERVING_POLICY = """
signers:
  example.com/serving:
    allowedUsages: [digital signature, server auth]
    requiredUsages: [server auth]
    requireCommonName: false
    reservedUsernamePrefixes: []
    expirationRequired: false
    sans: {allowed: [dns], required: true, dnsPatterns: ['[a-z0-9-]+(\\.[a-z0-9-]+)*\\.example\\.com']}
  kubernetes.io/kube-apiserver-client:
    allowNonAsciiSubject: true
"""


def verdict_for(csr_pem: bytes, signer: str, usages: tuple[str, ...]) -> Any:
    request = read_signing_request(manifest(csr_pem, signer=signer, usages=usages), "test")
    return evaluate(request, load_policy(SERVING_POLICY, "test"))


def test_a_san_list_too_long_to_show_in_one_message_is_denied_saying_how_many_names() -> None:
    # GIVEN 30 DNS names (fewer than the 50 allowed) of 90 characters each: more than a message can show
    names = [f"{'a' * 50}.{'b' * 15}-{index:02d}.svc-name.example.com" for index in range(30)]
    assert sum(len(f"DNS:{name}, ") for name in names) > MAX_LIST_CHARS
    # WHEN the policy looks at it
    verdict = verdict_for(make_csr(None, dns=names, key="p256"), "example.com/serving", ("server auth",))
    # THEN it is denied, saying how many names there are and how to split them, rather than shown cut short
    assert verdict.outcome is Outcome.DENY
    [finding] = [f for f in verdict.findings if "split" in f.message]
    assert finding.code is Code.SAN_NOT_ALLOWED and finding.severity is Severity.ERROR
    assert "30 subject alternative names" in finding.message and str(MAX_LIST_CHARS) in finding.message


def test_a_san_list_that_fits_is_not_refused_for_its_length() -> None:
    names = [f"svc-{index:02d}.example.com" for index in range(30)]
    verdict = verdict_for(make_csr(None, dns=names, key="p256"), "example.com/serving", ("server auth",))
    assert verdict.outcome is Outcome.REVIEW, verdict.findings


def test_groups_too_long_to_show_with_their_code_points_are_denied() -> None:
    # GIVEN 20 groups of 20 Greek letters: within 20 groups and 400 characters, but shown with the code point of
    # every letter (so that look-alikes can be told apart) they take more than a message can hold
    greek = "".join(chr(code) for code in range(0x3B1, 0x3CA) if code != 0x3C2)
    groups = [greek[index % 4 : index % 4 + 20] for index in range(20)]
    # WHEN the policy looks at it
    verdict = verdict_for(make_csr("alice", orgs=groups), "kubernetes.io/kube-apiserver-client", ("client auth",))
    # THEN it is denied with invalid-subject, saying how many groups there are
    assert verdict.outcome is Outcome.DENY
    [finding] = [f for f in verdict.findings if "groups" in f.message and str(MAX_LIST_CHARS) in f.message]
    assert finding.code is Code.INVALID_SUBJECT and "20 groups" in finding.message


def test_findings_quote_the_group_a_requester_chose() -> None:
    verdict = verdict_for(
        make_csr("alice", orgs=["system:masters", "system:*bold*"]),
        "kubernetes.io/kube-apiserver-client",
        ("client auth",),
    )
    messages = [f.message for f in verdict.findings if f.code is Code.FORBIDDEN_GROUP]
    assert any("the group 'system:masters' may not be requested" in m for m in messages), messages
    assert any("the group 'system:*bold*' is reserved" in m for m in messages), messages
