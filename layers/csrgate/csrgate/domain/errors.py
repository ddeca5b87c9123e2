"""Errors the domain raises: each says which input was wrong and what was wrong with it."""

from __future__ import annotations


class CsrgateError(Exception):
    """Base of every error csrgate raises on purpose."""


class InputError(CsrgateError):
    """Input that cannot be used as a certificate signing request (not a CSR, wrong shape, too big)."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class PolicyError(CsrgateError):
    """A policy file that is not valid; the message names the offending key."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"policy {source}: {problem}")


class RetryLater(CsrgateError):
    """Something csrgate depends on was down, slow or throttling: the same call may work later."""


class PermanentFailure(CsrgateError):
    """A call that will never work as made (forbidden, gone, invalid): retrying only repeats the failure."""


class MalformedCsr(ValueError):
    """A request csrgate refuses to read: not a valid PKCS#10 request, or not one that Kubernetes reads the same."""
