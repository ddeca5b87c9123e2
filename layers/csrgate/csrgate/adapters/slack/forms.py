"""The views people ask with: the certificate and access forms, what each says once sent, and the App Home.

Block and action ids of the forms are a public contract (csrgate.domain.asks and csrgate.domain.grants name them):
scripts fill them by them. Every text that may hold someone's words is drawn literally, as blocks.py draws messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from csrgate.adapters.slack.blocks import review_blocks, text_blocks
from csrgate.domain.asks import CLUSTER, CSR, LIFETIME, REASON, CertificateAsk
from csrgate.domain.grants import DURATION, NAMESPACE, ROLE, Grant
from csrgate.domain.messages import ReviewMessage
from csrgate.domain.summary import describe_lifetime

CERTIFICATE_FORM = "csrgate_certificate_request"  # the form's callback id
REQUEST_CERTIFICATE_SHORTCUT = "csrgate_request_certificate"
ACCESS_FORM = "csrgate_access_request"  # the access form's callback id
REQUEST_ACCESS_SHORTCUT = "csrgate_request_access"
MAX_HOME_REVIEWS = 5  # a Home view holds at most 100 blocks; each review takes about six
# Block Kit's limits (the select menu and option object references): past them Slack refuses the whole view.
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_HINT = 2000


def certificate_form(
    clusters: tuple[str, ...], eks_clusters: tuple[str, ...], lifetimes: tuple[int, ...], commands: tuple[str, ...]
) -> View:
    """The form: a cluster, the CSR (the hint shows the openssl line for the asker's CN), a lifetime, a reason."""
    if not clusters:
        return _notice("Request a certificate", "No cluster lets people ask for certificates in Slack yet.")
    hint = "Make your key and CSR on your machine; the key never leaves it:\n" + "\n".join(commands)
    blocks: list[Block] = [
        InputBlock(
            block_id=CLUSTER,
            label=_plain("Cluster"),
            element=StaticSelectElement(
                action_id=CLUSTER,
                placeholder=_plain("Pick a cluster"),
                options=[Option(text=_plain(name), value=name) for name in clusters],
                initial_option=Option(text=_plain(clusters[0]), value=clusters[0]) if len(clusters) == 1 else None,
            ),
        ),
        InputBlock(
            block_id=CSR,
            label=_plain("CSR (PEM)"),
            hint=_plain(hint[:2000]),
            element=PlainTextInputElement(
                action_id=CSR,
                multiline=True,
                placeholder=_plain("-----BEGIN CERTIFICATE REQUEST-----"),
                max_length=3000,
            ),
        ),
        InputBlock(
            block_id=LIFETIME,
            label=_plain("Lifetime"),
            element=StaticSelectElement(
                action_id=LIFETIME,
                placeholder=_plain("How long"),
                options=[Option(text=_plain(describe_lifetime(s)), value=str(s)) for s in lifetimes],
            ),
        ),
        InputBlock(
            block_id=REASON,
            label=_plain("Reason"),
            hint=_plain("The approvers read it."),
            element=PlainTextInputElement(action_id=REASON, max_length=500),
        ),
    ]
    if eks_clusters:
        text = (
            f"{', '.join(eks_clusters)} run{'s' if len(eks_clusters) == 1 else ''} on EKS, which never issues client "
            "certificates: ask for time-boxed access there instead (/csrgate access)."
        )
        blocks.append(ContextBlock(elements=[_plain(text)]))
    return View(
        type="modal",
        callback_id=CERTIFICATE_FORM,
        title=_plain("Request a certificate"),
        submit=_plain("Request"),
        close=_plain("Cancel"),
        blocks=blocks,
    )


def sent_view(ask: CertificateAsk) -> View:
    """What the form shows once the ask is recorded."""
    return _notice(
        "Request sent",
        f"csrgate is creating the CSR {ask.csr_name} on {ask.cluster} for the user {ask.username}. Its approvers "
        "review it in Slack; your kubeconfig comes here, in a direct message from csrgate. "
        "/csrgate status shows where it stands.",
    )


@dataclass(frozen=True)
class OfferedRole:
    """A role the access form offers: its name (the option's value), the ClusterRole it binds, and where."""

    name: str
    cluster_role: str
    scope: Literal["namespace", "cluster"]


@dataclass(frozen=True)
class AccessChoices:
    """What the access form offers, across the clusters that offer access; the submission is checked against the
    chosen cluster's own settings."""

    clusters: tuple[str, ...]  # cluster names
    roles: tuple[OfferedRole, ...]  # the form shows each name once, as first listed
    durations: tuple[int, ...]  # seconds, shortest first
    namespaces: tuple[str, ...]  # the namespaces and patterns (`team-*`) people may ask for


def access_form(choices: AccessChoices) -> View:
    """The access form: a cluster, a role, a namespace (none for a cluster-wide role), how long, and why."""
    from csrgate.domain.granting import MAX_REASON_CHARS  # here: a click imports this module, not the access half

    if not choices.clusters or not choices.roles or not choices.durations:
        return _notice("Request access", "No cluster offers time-boxed access in Slack yet.")
    roles: dict[str, OfferedRole] = {}
    for role in choices.roles:
        roles.setdefault(role.name, role)  # an option's value names one role: the first offered of that name
    blocks: list[Block] = [
        _select(CLUSTER, "Cluster", "Pick a cluster", [(name, name) for name in choices.clusters]),
        _select(ROLE, "Role", "Pick a role", [(_role_text(role), role.name) for role in roles.values()]),
    ]
    if choices.namespaces:  # without any, every role offered is cluster-wide
        hint = f"Offered: {', '.join(choices.namespaces)}."
        if any(role.scope == "cluster" for role in roles.values()):
            hint = f"Leave it empty for a cluster-wide role. {hint}"
        blocks.append(
            InputBlock(
                block_id=NAMESPACE,
                label=_plain("Namespace"),
                hint=_plain(_cut(hint, MAX_HINT)),
                optional=True,
                element=PlainTextInputElement(action_id=NAMESPACE, max_length=63),  # a namespace is a DNS label
            )
        )
    durations = [(describe_lifetime(seconds), str(seconds)) for seconds in choices.durations]
    blocks += [
        _select(DURATION, "For how long", "How long", durations),
        InputBlock(
            block_id=REASON,
            label=_plain("Reason"),
            hint=_plain("The approvers read it."),
            element=PlainTextInputElement(action_id=REASON, multiline=True, max_length=MAX_REASON_CHARS),
        ),
    ]
    return View(
        type="modal",
        callback_id=ACCESS_FORM,
        title=_plain("Request access"),
        submit=_plain("Request"),
        close=_plain("Cancel"),
        blocks=blocks,
    )


def grant_sent_view(grant: Grant) -> View:
    """What the access form shows once the grant is recorded: where it went, what, and for how long."""
    where = f"in namespace {grant.namespace}" if grant.namespace else "in the whole cluster"
    return _notice(
        "Request sent",
        f"Sent to the approvers of {grant.cluster}: {grant.role} (ClusterRole {grant.cluster_role}) {where} for "
        f"{grant.duration}, as the Kubernetes user {grant.username}. csrgate tells you in a direct message what they "
        "decide, and removes the access when its time is up.",
    )


def home_view(mine: list[str], waiting: list[ReviewMessage], more_waiting: int, note: str | None = None) -> View:
    """The App Home: the person's requests, then what waits for their decision, with the channel's buttons."""
    blocks: list[Block] = []
    if note:
        blocks += text_blocks(note)
    blocks += [HeaderBlock(text=_plain("Your requests"))]
    blocks += text_blocks("\n".join(mine) if mine else "None yet. Ask with /csrgate request or /csrgate access.")
    blocks += [DividerBlock(), HeaderBlock(text=_plain("Waiting for your decision"))]
    if not waiting:
        blocks += text_blocks("Nothing waits for you.")
    for review in waiting[:MAX_HOME_REVIEWS]:
        blocks += [*review_blocks(review), DividerBlock()]
    if more_waiting > 0:
        blocks += text_blocks(f"and {more_waiting} more in the clusters' channels.")
    return View(type="home", blocks=blocks, private_metadata=json.dumps({"csrgate": "home"}))


def _select(action_id: str, label: str, placeholder: str, offered: list[tuple[str, str]]) -> InputBlock:
    """A required static select of the first MAX_OPTIONS (text, value) options, in order; picked already when there
    is only one."""
    options = [Option(text=_plain(_cut(text, MAX_OPTION_TEXT)), value=value) for text, value in offered[:MAX_OPTIONS]]
    return InputBlock(
        block_id=action_id,
        label=_plain(label),
        element=StaticSelectElement(
            action_id=action_id,
            placeholder=_plain(placeholder),
            options=options,
            initial_option=options[0] if len(options) == 1 else None,
        ),
    )


def _role_text(role: OfferedRole) -> str:
    """'edit (ClusterRole edit)', 'view-all (ClusterRole view, cluster-wide)'."""
    return f"{role.name} (ClusterRole {role.cluster_role}{', cluster-wide' if role.scope == 'cluster' else ''})"


def _cut(text: str, limit: int) -> str:
    """Text of at most `limit` characters, marked when cut (operators' names; never someone's words)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _notice(title: str, text: str) -> View:
    return View(type="modal", title=_plain(title), close=_plain("Close"), blocks=text_blocks(text))


def _plain(text: str) -> PlainTextObject:
    return PlainTextObject(text=text, emoji=False)
