"""Certificates asked for in Slack: who asks (the Slack user Slack's signature vouches for), the Kubernetes user the
certificate will name, and the CSR csrgate creates for them and recognises when the forwarder sends it back.

This module stays light (no X.509): the interactions function opens the request form with it inside Slack's three
seconds. Checking what was asked is csrgate.domain.asking's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
ASK_ANNOTATION = "csrgate.io/ask"  # on a CSR csrgate created: the ask it was created for (a claim, checked)
ASKED_USAGES = ("client auth",)  # what the Kubernetes docs' task asks for a user's client certificate
# What a requester may choose, cut to what the cluster's policy allows (Kubernetes' minimum is 10 minutes).
LIFETIME_CHOICES = (3600, 8 * 3600, 86400, 7 * 86400, 30 * 86400)
# The form's block ids (each input's action id is the same name), a public contract: scripts fill the form by them.
CLUSTER, CSR, LIFETIME, REASON = "cluster", "csr", "lifetime", "reason"
USERNAME_PLACEHOLDERS = ("email", "email_local")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME_PART = re.compile(r"[^a-z0-9-]+")
_ASKED_FIELDS = ("request", "signerName", "usages", "expirationSeconds")
_UNSAFE_FILE_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class AskForm:
    """What the requester typed and picked, as Slack sent it: untrusted text, every field possibly empty."""

    cluster: str
    csr: str
    lifetime: str
    reason: str


class AskState(StrEnum):
    """Where an ask stands: recorded, its CSR created in the cluster, that CSR received back and linked, or failed."""

    ASKED = "asked"
    CREATED = "created"
    LINKED = "linked"
    FAILED = "failed"


@dataclass(frozen=True)
class CertificateAsk:
    """A client certificate asked for in Slack, checked when submitted: the CN is the asker's own user name."""

    ask_id: str
    cluster: str
    slack_user: str  # who asked: the user in Slack's signed payload
    slack_name: str
    email: str  # the asker's Slack profile email, read from Slack
    username: str  # the Kubernetes user the certificate names (its CN), from the cluster's usernameTemplate
    csr_name: str
    request_pem: str  # the CSR as csrgate re-encoded it from the DER it checked: exactly what the cluster gets
    expiration_seconds: int
    reason: str
    asked_at: datetime
    state: AskState = AskState.ASKED
    csr_uid: str | None = None  # the CSR csrgate created (or received back) for it; never another
    request_id: str | None = None  # the request that CSR became, once linked
    note: str | None = None  # what went wrong, for a failed ask
    version: int = 1

    @property
    def spec(self) -> dict[str, Any]:
        """The CertificateSigningRequest's spec csrgate creates (the API server adds who created it)."""
        return {
            "request": base64.b64encode(self.request_pem.encode("ascii")).decode("ascii"),
            "signerName": CLIENT_SIGNER,
            "usages": list(ASKED_USAGES),
            "expirationSeconds": self.expiration_seconds,
        }

    @property
    def spec_digest(self) -> str:
        """asked_spec_digest of the spec csrgate creates."""
        return asked_spec_digest(self.spec)

    @property
    def asker(self) -> str:
        """'@dana (U0DANA)': the asker as messages name them."""
        return f"@{self.slack_name} ({self.slack_user})"


def asked_spec_digest(spec: Mapping[str, Any]) -> str:
    """A digest of what a CSR asks for (not who created it): how intake recognises the CSR csrgate created for an
    ask, since its annotation alone could be written by anyone who may create CSRs."""
    chosen = {key: spec.get(key) for key in _ASKED_FIELDS}
    return hashlib.sha256(json.dumps(chosen, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def username_for(template: str, email: str) -> str:
    """The Kubernetes user name of the person with this email, by a cluster's usernameTemplate (`{email_local}`,
    `oidc:{email}`); the email is Slack's, so the caller has already read it from Slack."""
    local = email.partition("@")[0]
    return template.replace("{email_local}", local).replace("{email}", email)


def template_problem(template: str) -> str | None:
    """Why a usernameTemplate cannot be used, or None."""
    found = _PLACEHOLDER.findall(template)
    unknown = sorted(set(found) - set(USERNAME_PLACEHOLDERS))
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}}: use {', '.join('{' + p + '}' for p in USERNAME_PLACEHOLDERS)}"
    if not found:
        return "must name the person: use {email} or {email_local}"
    if template.startswith("system:"):
        return "must not make system: user names, which are Kubernetes' own identities"
    if any(ch.isspace() for ch in template):
        return "must not hold whitespace"
    return None


def lifetime_choices(max_seconds: int | None) -> tuple[int, ...]:
    """The lifetimes a requester may pick under a policy's maximum (all of them when it sets none)."""
    allowed = tuple(seconds for seconds in LIFETIME_CHOICES if max_seconds is None or seconds <= max_seconds)
    return allowed or ((max_seconds,) if max_seconds else ())


def csr_name_for(username: str, ask_id: str) -> str:
    """`csrgate-dana-1f2e3d4c`: the CSR's name, readable in `kubectl get csr`, unique by the ask's id."""
    part = _NAME_PART.sub("-", username.casefold()).strip("-")[:40].strip("-") or "user"
    return f"csrgate-{part}-{ask_id.replace('-', '')[:8]}"


def openssl_command(username: str, groups: tuple[str, ...] = (), stem: str | None = None) -> str:
    """The line that makes a key and a CSR for `username` (and `groups`, as O), as the form's hint and its errors show
    it; the key file is `<stem>.key`, by default where the delivered kubeconfig expects it."""
    stem = stem or file_safe(username)
    subject = shlex.quote(
        "".join(f"/{kind}={_subject_text(value)}" for kind, value in [("CN", username)] + [("O", g) for g in groups])
    )
    return (
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        f"-keyout {stem}.key -subj {subject} -out {stem}.csr"
    )


def _subject_text(value: str) -> str:
    return re.sub(r"([\\/+=])", r"\\\1", value)  # what openssl's -subj would read as another attribute


def file_safe(text: str) -> str:
    """A file name's stem made of `text`: what the delivered kubeconfig names the key after."""
    return _UNSAFE_FILE_CHARACTERS.sub("_", text).strip("._") or "user"
