"""Building the worker's objects once per container. Only the worker imports this (and the Kubernetes client)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger

from csrgate.adapters.aws.queues import SqsIssuanceChecks
from csrgate.adapters.cluster.access import ClusterConnections
from csrgate.adapters.inbound.decision_consumer import DecisionConsumer
from csrgate.adapters.slack.channel import SlackNotifier
from csrgate.adapters.slack.delivery import SlackDelivery
from csrgate.domain.worker import ClusterAccess, DecisionWorker, WorkerTimings
from csrgate.wiring.kit import Kit, utc_now


def build_decision_consumer(
    logger: Logger, session: Any = None, access: ClusterAccess | None = None
) -> DecisionConsumer:
    """The worker function's queue consumer; `access` replaces the connections to the configured clusters."""
    kit = Kit.from_environment(logger, session)
    settings = kit.settings
    worker = DecisionWorker(
        clusters=kit.clusters,
        access=access or ClusterConnections(kit.session),
        store=kit.store,
        redraw=SlackNotifier(kit.slack),
        requesters=SlackDelivery(kit.slack),
        checks=SqsIssuanceChecks(kit.session.client("sqs"), settings.decision_queue_url),
        audit=kit.audit,
        clock=utc_now,
        timings=WorkerTimings(
            wait_per_look_seconds=settings.signer_look_seconds,
            give_up_after=timedelta(seconds=settings.signer_wait_seconds),
        ),
    )
    return DecisionConsumer(worker, logger)
