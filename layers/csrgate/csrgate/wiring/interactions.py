"""The interactions function's composition root: Slack's clicks, inside Slack's three seconds.

It imports neither the Kubernetes client nor the CSR decoder nor the intake schema (a test keeps it so).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from slack_sdk import WebClient

from csrgate.adapters.inbound.interactions_api import InteractionsApi
from csrgate.adapters.slack.people import SlackPeople
from csrgate.domain.approvals import Approvals
from csrgate.wiring.kit import HURRIED_AWS, Kit


def build_interactions_api(logger: Logger, session: Any = None) -> InteractionsApi:
    """The interactions function's HTTP API."""
    kit = Kit.from_environment(logger, session, aws_config=HURRIED_AWS)
    kit.signing_secret()  # a missing or unreadable signing secret fails the cold start, naming it

    def hurried_slack() -> WebClient:
        return kit.slack(hurried=True)

    notifier = kit.notifier(hurried=True)
    approvals = Approvals(
        clusters=kit.clusters,
        store=kit.store,
        decisions=kit.decision_queue(),
        directory=SlackPeople(hurried_slack),
        notifier=notifier,
        audit=kit.audit,
        clock=kit.clock,
    )
    return InteractionsApi(approvals, notifier, kit.signing_secret, logger)
