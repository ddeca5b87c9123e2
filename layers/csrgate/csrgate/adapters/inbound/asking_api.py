"""Asking in Slack: the /csrgate command, the "Request a certificate" shortcut's form and its submission, the App Home.

Everything here answers inside Slack's three seconds. Checking a submitted CSR decodes X.509, so the use case that
does it is built on the first submission, not at cold start (a click never pays for it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from csrgate.adapters.slack.blocks import escape, text_blocks
from csrgate.adapters.slack.forms import MAX_HOME_REVIEWS, certificate_form, home_view, sent_view
from csrgate.adapters.slack.views import SlackViews
from csrgate.domain.asks import CLUSTER, CSR, LIFETIME, REASON, AskForm
from csrgate.domain.errors import PermanentFailure
from csrgate.domain.self_service import MAX_SHOWN_ASKS, SelfService

if TYPE_CHECKING:
    from csrgate.domain.asking import Asking

COMMAND = "/csrgate"
HELP = (
    "csrgate gets you Kubernetes access, approved in Slack.\n"
    "/csrgate request   ask for a client certificate (also the shortcut \u201cRequest a certificate\u201d)\n"
    "/csrgate access    ask for time-boxed access to a role (also the shortcut \u201cRequest access\u201d)\n"
    "/csrgate status    where your requests stand\n"
    "/csrgate help      this text\n"
    "Your requests, and those waiting for your decision, are also on csrgate's Home tab."
)


class AskingApi:
    """The self-service half of Slack's routes; InteractionsApi verifies each request and hands it here."""

    def __init__(self, self_service: SelfService, asking: Callable[[], Asking], views: SlackViews) -> None:
        self._self_service = self_service
        self._asking = asking
        self._views = views

    def open_form(self, trigger_id: str, slack_user: str) -> str | None:
        """Open the certificate form for the person who typed the command or picked the shortcut; what went wrong
        when Slack refused (a trigger too old or used, a user it does not know), for the logs."""
        try:
            choices = self._self_service.choices(slack_user)
            form = certificate_form(choices.clusters, choices.eks_clusters, choices.lifetimes, choices.commands)
            self._views.open(trigger_id, form)
        except PermanentFailure as exc:
            return str(exc)
        return None

    def submitted(self, slack_user: str, values: dict[str, str]) -> dict[str, Any]:
        """The form's answer: its inline errors (nothing is recorded), or what happens next."""
        form = AskForm(
            cluster=values.get(CLUSTER, ""),
            csr=values.get(CSR, ""),
            lifetime=values.get(LIFETIME, ""),
            reason=values.get(REASON, ""),
        )
        try:
            result = self._asking().submit(slack_user, form)
        except PermanentFailure:  # Slack would not say who the asker is
            return {"response_action": "errors", "errors": {CSR: "csrgate cannot read your Slack profile just now."}}
        if isinstance(result, dict):
            return {"response_action": "errors", "errors": result}
        return {"response_action": "update", "view": sent_view(result).to_dict()}

    def command(self, text: str, slack_user: str, trigger_id: str) -> dict[str, Any] | None:
        """`/csrgate <what>`: the answer only the person who typed it sees (None: the form opened, nothing to say)."""
        words = text.split()
        what = words[0].casefold() if words else "help"
        if what == "request":
            refused = self.open_form(trigger_id, slack_user)
            return None if refused is None else ephemeral("csrgate could not open the form; try again.")
        if what == "status":
            lines = self._self_service.status(slack_user)
            shown = f"Your last {MAX_SHOWN_ASKS} requests:\n" if len(lines) == MAX_SHOWN_ASKS else ""
            return ephemeral(shown + "\n".join(lines) if lines else "You have asked for no certificate or access yet.")
        return ephemeral(HELP)

    def publish_home(self, slack_user: str, note: str | None = None) -> None:
        """Draw the person's App Home: their requests, and the reviews waiting for their decision."""
        waiting = self._self_service.waiting_for(slack_user)
        mine = self._self_service.status(slack_user)
        self._views.publish(slack_user, home_view(mine, waiting, max(0, len(waiting) - MAX_HOME_REVIEWS), note))


def ephemeral(text: str) -> dict[str, Any]:
    """An answer only the person who typed the command sees."""
    return {
        "response_type": "ephemeral",
        "text": escape(text),
        "blocks": [block.to_dict() for block in text_blocks(text)],
    }
