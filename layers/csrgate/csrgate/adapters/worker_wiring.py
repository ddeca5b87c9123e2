"""Building the worker's objects once per container. Only the worker imports this (and the Kubernetes client)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from slack_sdk import WebClient

from csrgate.adapters.audit import LoggedAuditTrail
from csrgate.adapters.cluster_access import ClusterConnections
from csrgate.adapters.config import ParameterClusterDirectory, SecretReader, Settings
from csrgate.adapters.decision_consumer import DecisionConsumer
from csrgate.adapters.queues import SqsIssuanceChecks
from csrgate.adapters.slack import SlackNotifier, web_client
from csrgate.adapters.slack_delivery import SlackDelivery
from csrgate.adapters.store import DynamoRequestStore
from csrgate.adapters.wiring import utc_now
from csrgate.domain.worker import DecisionWorker, WorkerTimings


def build_decision_consumer(
    logger: Logger, session: Any = None, timings: WorkerTimings | None = None
) -> DecisionConsumer:
    """The worker function's queue consumer."""
    settings = Settings.from_environment()
    session = session or boto3.session.Session()
    secrets = SecretReader(SecretsProvider(boto3_client=session.client("secretsmanager")))
    clusters = ParameterClusterDirectory(SSMProvider(boto3_client=session.client("ssm")), settings.config_path)
    secrets.json(settings.slack_secret_id, "bot_token")

    def slack_client() -> WebClient:
        return web_client(secrets.json(settings.slack_secret_id, "bot_token")["bot_token"], settings.slack_api_url)

    worker = DecisionWorker(
        clusters=clusters,
        access=ClusterConnections(session),
        store=DynamoRequestStore(session.client("dynamodb"), settings.table, settings.retention),
        redraw=SlackNotifier(slack_client),
        requesters=SlackDelivery(slack_client),
        checks=SqsIssuanceChecks(session.client("sqs"), settings.decision_queue_url),
        audit=LoggedAuditTrail(logger),
        clock=utc_now,
        timings=WorkerTimings(
            wait_per_look_seconds=settings.signer_look_seconds,
            give_up_after=timedelta(seconds=settings.signer_wait_seconds),
        ),
    )
    return DecisionConsumer(worker, logger)
