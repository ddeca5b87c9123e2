"""The interactions function's composition root: Slack's clicks, commands and forms, inside Slack's three seconds.

It imports neither the Kubernetes client nor the CSR decoder nor the intake schema (a test keeps it so): checking a
submitted CSR is built on the first submission.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from slack_sdk import WebClient

from csrgate.adapters.inbound.access_api import AccessApi
from csrgate.adapters.inbound.asking_api import AskingApi
from csrgate.adapters.inbound.interactions_api import InteractionsApi
from csrgate.adapters.slack.people import SlackPeople
from csrgate.adapters.slack.views import SlackViews
from csrgate.domain.approvals import Approvals
from csrgate.domain.granting import Granting
from csrgate.domain.self_service import SelfService
from csrgate.wiring.kit import HURRIED_AWS, Kit

if TYPE_CHECKING:
    from csrgate.domain.asking import Asking


def build_interactions_api(logger: Logger, session: Any = None) -> InteractionsApi:
    """The interactions function's HTTP API."""
    kit = Kit.from_environment(logger, session, aws_config=HURRIED_AWS)
    kit.signing_secret()  # a missing or unreadable signing secret fails the cold start, naming it

    def hurried_slack() -> WebClient:
        return kit.slack(hurried=True)

    notifier = kit.notifier(hurried=True)
    people = SlackPeople(hurried_slack)
    asks = kit.asks()
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
    def asking() -> Asking:
        from csrgate.domain.asking import Asking

        return Asking(kit.clusters, asks, decisions, people, kit.audit, kit.clock)

    grants = kit.grants()
    self_service = SelfService(kit.clusters, kit.store, asks, grants, people, kit.clock)
    views = SlackViews(hurried_slack)
    asking_api = AskingApi(self_service, asking, views)
    granting = Granting(kit.clusters, grants, decisions, people, notifier, kit.audit, kit.clock)
    access_api = AccessApi(granting, views, notifier)
    return InteractionsApi(approvals, notifier, asking_api, access_api, kit.signing_secret, logger)
