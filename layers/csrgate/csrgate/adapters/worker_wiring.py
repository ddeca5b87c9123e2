"""Building the worker's objects once per container. Only the worker imports this (and the Kubernetes client)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger

from csrgate.adapters.cluster_access import ClusterConnections
from csrgate.adapters.decision_consumer import DecisionConsumer
from csrgate.adapters.queues import SqsIssuanceChecks
from csrgate.adapters.slack import SlackNotifier
from csrgate.adapters.slack_delivery import SlackDelivery
from csrgate.adapters.wiring import Kit, utc_now
from csrgate.domain.worker import ClusterAccess, DecisionWorker, WorkerTimings


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
