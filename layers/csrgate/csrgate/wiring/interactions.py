"""The interactions function's composition root: Slack's clicks, commands and forms, inside Slack's three seconds.

A cold start builds what an Approve or Deny click needs and nothing else: the self-service half (the /csrgate
command, the certificate form, the App Home) and the access half (its form and grant buttons) are built on their
first use, and checking a submitted CSR on the first submission. It never imports the Kubernetes client, the CSR
decoder or the intake schema; a test pins what a click imports.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from slack_sdk import WebClient

from csrgate.adapters.inbound.interactions_api import InteractionsApi
from csrgate.adapters.slack.people import SlackPeople
from csrgate.domain.approvals import Approvals
from csrgate.wiring.kit import HURRIED_AWS, Kit

if TYPE_CHECKING:
    from csrgate.adapters.inbound.access_api import AccessApi
    from csrgate.adapters.inbound.asking_api import AskingApi
    from csrgate.domain.asking import Asking


def build_interactions_api(logger: Logger, session: Any = None) -> InteractionsApi:
    """The interactions function's HTTP API."""
    kit = Kit.from_environment(logger, session, aws_config=HURRIED_AWS)
    kit.signing_secret()  # a missing or unreadable signing secret fails the cold start, naming it

    def hurried_slack() -> WebClient:
        return kit.slack(hurried=True)

    notifier = kit.notifier(hurried=True)
    people = SlackPeople(hurried_slack)
    decisions = kit.decision_queue()
    approvals = Approvals(
        clusters=kit.clusters,
        store=kit.store,
        decisions=decisions,
        directory=people,
        notifier=notifier,
        audit=kit.audit,
        clock=kit.clock,
    )

    @cache
    def asking_api() -> AskingApi:
        from csrgate.adapters.inbound.asking_api import AskingApi
        from csrgate.adapters.slack.views import SlackViews
        from csrgate.domain.self_service import SelfService

        asks = kit.asks()

        @cache
        def asking() -> Asking:
            from csrgate.domain.asking import Asking

            return Asking(kit.clusters, asks, kit.quota(), decisions, people, kit.audit, kit.clock)

        self_service = SelfService(kit.clusters, kit.store, asks, kit.grants(), people, kit.clock)
        return AskingApi(self_service, asking, SlackViews(hurried_slack))

    @cache
    def access_api() -> AccessApi:
        from csrgate.adapters.inbound.access_api import AccessApi
        from csrgate.adapters.slack.views import SlackViews
        from csrgate.domain.granting import Granting

        granting = Granting(kit.clusters, kit.grants(), kit.quota(), decisions, people, notifier, kit.audit, kit.clock)
        return AccessApi(granting, SlackViews(hurried_slack), notifier)

    return InteractionsApi(approvals, notifier, asking_api, access_api, kit.signing_secret, logger)
