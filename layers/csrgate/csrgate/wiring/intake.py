"""The intake function's composition root: the forwarder's events in, through the Intake use case."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from csrgate.adapters.aws.store import DynamoReplayCache
from csrgate.adapters.inbound.intake_api import IntakeApi
from csrgate.domain.intake import Intake
from csrgate.wiring.kit import Kit


def build_intake(kit: Kit) -> Intake:
    """The Intake use case (intake, and the notifier's Slack retries)."""
    return Intake(
        clusters=kit.clusters,
        store=kit.store,
        asks=kit.asks(),
        certificates=kit.certificates(),
        heartbeats=kit.heartbeats(),
        decisions=kit.decision_queue(),
        slack_retries=kit.slack_retry_queue(),
        notifier=kit.notifier(),
        digests=kit.digests(),
        audit=kit.audit,
        clock=kit.clock,
    )


def build_intake_api(logger: Logger, session: Any = None) -> IntakeApi:
    """The intake function's HTTP API."""
    kit = Kit.from_environment(logger, session)
    kit.clusters.check_policies()
    replays = DynamoReplayCache(kit.dynamodb, kit.settings.table)
    return IntakeApi(build_intake(kit), kit.clusters, kit.secrets, replays, kit.audit, logger)
