"""The views people ask with: the certificate form, what it says once sent, and the App Home.

Block and action ids of the form are a public contract (csrgate.domain.asks names them): scripts fill it by them.
Every text that may hold someone's words is drawn literally, as blocks.py draws messages.
"""

from __future__ import annotations

import json

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
from csrgate.domain.messages import ReviewMessage
from csrgate.domain.summary import describe_lifetime

CERTIFICATE_FORM = "csrgate_certificate_request"  # the form's callback id
REQUEST_CERTIFICATE_SHORTCUT = "csrgate_request_certificate"
MAX_HOME_REVIEWS = 5  # a Home view holds at most 100 blocks; each review takes about six


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


def home_view(mine: list[str], waiting: list[ReviewMessage], more_waiting: int, note: str | None = None) -> View:
    """The App Home: the person's requests, then what waits for their decision, with the channel's buttons."""
    blocks: list[Block] = []
    if note:
        blocks += text_blocks(note)
    blocks += [HeaderBlock(text=_plain("Your certificate requests"))]
    blocks += text_blocks("\n".join(mine) if mine else "None yet. Ask with /csrgate request.")
    blocks += [DividerBlock(), HeaderBlock(text=_plain("Waiting for your decision"))]
    if not waiting:
        blocks += text_blocks("Nothing waits for you.")
    for review in waiting[:MAX_HOME_REVIEWS]:
        blocks += [*review_blocks(review), DividerBlock()]
    if more_waiting > 0:
        blocks += text_blocks(f"and {more_waiting} more in the clusters' channels.")
    return View(type="home", blocks=blocks, private_metadata=json.dumps({"csrgate": "home"}))


def _notice(title: str, text: str) -> View:
    return View(type="modal", title=_plain(title), close=_plain("Close"), blocks=text_blocks(text))


def _plain(text: str) -> PlainTextObject:
    return PlainTextObject(text=text, emoji=False)
