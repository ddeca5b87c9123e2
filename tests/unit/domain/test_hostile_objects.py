"""Values no API server sends, from a forwarder that signs them all the same: refused by the one reader, naming the
field, before anything is stored; never a crash, never a record too large to store."""

from __future__ import annotations

import json
from typing import Any

import pytest

from csrgate.domain.conditions import CsrStatus
from csrgate.domain.errors import InputError
from csrgate.domain.request import (
    MAX_EXPIRATION_SECONDS,
    MAX_GROUPS_CHARS,
    MAX_USERNAME_CHARS,
    read_csr_object,
)
from devstack.csrs import make_csr, manifest


def from_cluster(**spec: Any) -> dict[str, Any]:
    """dana's CSR object as the API server would return it, with these spec fields."""
    obj: dict[str, Any] = json.loads(manifest(make_csr("dana", key="p256"), username="dana", as_json=True))
    obj["metadata"]["uid"] = "uid-1"
    obj["spec"].update(spec)
    return obj


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"expirationSeconds": MAX_EXPIRATION_SECONDS + 1}, "spec.expirationSeconds must be at most 2147483647"),
        ({"expirationSeconds": 10**40}, "spec.expirationSeconds must be at most"),
        ({"username": "u" * (MAX_USERNAME_CHARS + 1)}, "spec.username must be at most 1024 characters"),
        ({"groups": ["g" * 1000] * (MAX_GROUPS_CHARS // 1000 + 1)}, "spec.groups must hold at most 65536 characters"),
    ],
)
def test_values_beyond_any_real_cluster_are_refused_naming_the_field(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        read_csr_object(from_cluster(**spec), "object", from_cluster=True)


def test_the_largest_values_csrgate_reads_are_read() -> None:
    # GIVEN the longest lifetime, user name and group list csrgate takes
    obj = from_cluster(
        expirationSeconds=MAX_EXPIRATION_SECONDS,
        username="u" * MAX_USERNAME_CHARS,
        groups=["g" * 1024] * (MAX_GROUPS_CHARS // 1024),
    )
    # THEN they are read as they are
    request = read_csr_object(obj, "object", from_cluster=True).signing_request
    assert request.expiration_seconds == MAX_EXPIRATION_SECONDS and request.username == "u" * MAX_USERNAME_CHARS
    assert sum(len(group) for group in request.groups) == MAX_GROUPS_CHARS


def test_an_empty_username_is_no_username_error() -> None:
    request = read_csr_object(from_cluster(username=""), "object", from_cluster=True).signing_request
    assert request.username == ""


@pytest.mark.parametrize("status", [True, 1, ["True"], {"True": True}])
def test_a_status_that_is_not_the_string_true_decides_nothing(status: object) -> None:
    # a JSON `true` once read as the text "True"; only the API server's string decides
    read = CsrStatus.of({"conditions": [{"type": "Approved", "status": status, "reason": "KubectlApprove"}]})
    assert not read.approved and not read.decided
