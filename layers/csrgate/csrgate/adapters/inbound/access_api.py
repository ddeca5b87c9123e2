"""Access in Slack: `/csrgate access` and the "Request access" shortcut's form, its submission, and the grant buttons
(Approve, Deny, Revoke on the channel message; Extend in the requester's reminder).

InteractionsApi verifies each request and hands it here; everything answers inside Slack's three seconds.
"""

from __future__ import annotations

from typing import Any

from csrgate.adapters.slack.channel import SlackNotifier
from csrgate.adapters.slack.forms import AccessChoices, OfferedRole, access_form, grant_sent_view
from csrgate.adapters.slack.views import SlackViews
from csrgate.domain.approvals import ClickAnswer, ClickResult
from csrgate.domain.asks import CLUSTER, REASON
from csrgate.domain.errors import PermanentFailure
from csrgate.domain.grant_messages import GrantButton
from csrgate.domain.granting import Granting
from csrgate.domain.grants import DURATION, NAMESPACE, ROLE, GrantForm
from csrgate.domain.records import MessageRef


class AccessApi:
    """The access half of Slack's routes."""

    def __init__(self, granting: Granting, views: SlackViews, notifier: SlackNotifier) -> None:
        self._granting = granting
        self._views = views
        self._notifier = notifier

    def open_form(self, trigger_id: str, slack_user: str) -> str | None:
        """Open the access form; what went wrong when Slack refused, for the logs."""
        try:
            self._views.open(trigger_id, access_form(self._choices()))
        except PermanentFailure as exc:
            return str(exc)
        return None

    def submitted(self, slack_user: str, values: dict[str, str]) -> dict[str, Any]:
        """The form's answer: its inline errors (nothing is recorded), or what happens next."""
        form = GrantForm(
            cluster=values.get(CLUSTER, ""),
            role=values.get(ROLE, ""),
            namespace=values.get(NAMESPACE, ""),
            duration=values.get(DURATION, ""),
            reason=values.get(REASON, ""),
        )
        try:
            result = self._granting.submit(slack_user, form)
        except PermanentFailure:  # Slack would not say who the asker is
            return {"response_action": "errors", "errors": {CLUSTER: "csrgate cannot read your Slack profile now."}}
        if isinstance(result, dict):
            return {"response_action": "errors", "errors": result}
        return {"response_action": "update", "view": grant_sent_view(result).to_dict()}

    def clicked(
        self, grant_id: str, button: GrantButton, slack_user: str, message: MessageRef, trigger_id: str
    ) -> ClickResult | None:
        """A grant button: the answer for the clicker, or None when a dialog opened instead (Deny asks why)."""
        if button is GrantButton.EXTEND:
            return ClickResult(ClickAnswer.RECORDED, self._granting.extend(grant_id, slack_user))
        result = self._granting.click(grant_id, button, slack_user, message)
        if result.answer is ClickAnswer.ASK_REASON:
            try:
                self._notifier.ask_deny_reason(trigger_id, grant_id, message, grant=True)
            except PermanentFailure:  # the trigger expired, or was never Slack's: nothing is decided yet
                return ClickResult(ClickAnswer.REFUSED, "Slack did not open the Deny dialog: click Deny again.")
            return None
        return result

    def deny_submitted(self, grant_id: str, slack_user: str, message: MessageRef | None, reason: str) -> ClickResult:
        """The Deny dialog of a grant, with its reason."""
        return self._granting.deny(grant_id, slack_user, message, reason)

    def _choices(self) -> AccessChoices:
        offered = self._granting.offered()
        roles: dict[str, OfferedRole] = {}
        durations: set[int] = set()
        namespaces: list[str] = []
        for cluster in offered:
            assert cluster.access is not None  # noqa: S101 - offered() returns only clusters offering access
            for role in cluster.access.roles:
                roles.setdefault(role.name, OfferedRole(role.name, role.cluster_role, role.scope))
                durations.update(cluster.access.durations_for(role))
            namespaces += [n for n in cluster.access.namespaces if n not in namespaces]
        return AccessChoices(
            clusters=tuple(cluster.name for cluster in offered),
            roles=tuple(roles.values()),
            durations=tuple(sorted(durations)),
            namespaces=tuple(namespaces),
        )
