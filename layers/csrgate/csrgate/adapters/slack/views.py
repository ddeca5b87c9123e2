"""Opening modals and publishing App Home views, with the bot token."""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.models.views import View

from csrgate.adapters.slack.client import call_slack


class SlackViews:
    """views.open within a trigger's three seconds; views.publish for a person's App Home."""

    def __init__(self, client: Callable[[], WebClient]) -> None:
        self._client = client

    def open(self, trigger_id: str, view: View) -> None:
        """Open a modal for the person whose action gave the trigger."""
        call_slack(self._client(), "views_open", trigger_id=trigger_id, view=view)

    def publish(self, slack_user: str, view: View) -> None:
        """Replace the person's App Home."""
        call_slack(self._client(), "views_publish", user_id=slack_user, view=view)
