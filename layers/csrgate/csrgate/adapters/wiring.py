"""Building each function's objects once per container, from the environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from slack_sdk import WebClient

from csrgate.adapters.audit import LoggedAuditTrail
from csrgate.adapters.config import ParameterClusterDirectory, SecretReader, Settings
from csrgate.adapters.intake_api import IntakeApi
from csrgate.adapters.interactions_api import InteractionsApi
from csrgate.adapters.queues import SqsDecisionQueue, SqsSlackRetryQueue
from csrgate.adapters.slack import SlackNotifier, web_client
from csrgate.adapters.slack_delivery import SlackDelivery
from csrgate.adapters.slack_people import SlackPeople
from csrgate.adapters.slack_retries import SlackRetryConsumer
from csrgate.adapters.store import DynamoRequestStore
from csrgate.domain.approvals import Approvals
from csrgate.domain.intake import Intake
from csrgate.domain.sweeper import Sweeper, SweepTimings


def utc_now() -> datetime:
    """The clock every function uses."""
    return datetime.now(UTC)


def build_intake(logger: Logger, session: Any = None) -> tuple[Intake, ParameterClusterDirectory, SecretReader]:
    """The Intake use case with its DynamoDB, SQS, SSM, Secrets Manager and Slack adapters."""
    settings = Settings.from_environment()
    session = session or boto3.session.Session()
    secrets = SecretReader(SecretsProvider(boto3_client=session.client("secretsmanager")))
    clusters = ParameterClusterDirectory(SSMProvider(boto3_client=session.client("ssm")), settings.config_path)
    secrets.json(settings.slack_secret_id, "bot_token")  # fail the cold start, not the first post

    def slack_client() -> WebClient:
        return web_client(secrets.json(settings.slack_secret_id, "bot_token")["bot_token"], settings.slack_api_url)

    sqs = session.client("sqs")
    intake = Intake(
        clusters=clusters,
        store=DynamoRequestStore(session.client("dynamodb"), settings.table, settings.retention),
        decisions=SqsDecisionQueue(sqs, settings.decision_queue_url),
        slack_retries=SqsSlackRetryQueue(sqs, settings.slack_retry_queue_url, settings.slack_retry_delay_seconds),
        notifier=SlackNotifier(slack_client),
        audit=LoggedAuditTrail(logger),
        clock=utc_now,
    )
    return intake, clusters, secrets


def build_interactions_api(logger: Logger, session: Any = None) -> InteractionsApi:
    """The interactions function's HTTP API: nothing here may import the Kubernetes client."""
    settings = Settings.from_environment()
    session = session or boto3.session.Session()
    secrets = SecretReader(SecretsProvider(boto3_client=session.client("secretsmanager")))
    clusters = ParameterClusterDirectory(SSMProvider(boto3_client=session.client("ssm")), settings.config_path)
    secrets.json(settings.slack_secret_id, "bot_token", "signing_secret")  # fail the cold start, not a click

    def slack_client() -> WebClient:
        token = secrets.json(settings.slack_secret_id, "bot_token")["bot_token"]
        return web_client(token, settings.slack_api_url, timeout=2, hurried=True)

    def signing_secret() -> str:
        return str(secrets.json(settings.slack_secret_id, "signing_secret")["signing_secret"])

    audit = LoggedAuditTrail(logger)
    approvals = Approvals(
        clusters=clusters,
        store=DynamoRequestStore(session.client("dynamodb"), settings.table, settings.retention),
        decisions=SqsDecisionQueue(session.client("sqs"), settings.decision_queue_url),
        directory=SlackPeople(slack_client),
        audit=audit,
        clock=utc_now,
    )
    return InteractionsApi(approvals, SlackNotifier(slack_client), signing_secret, logger, utc_now)


def build_intake_api(logger: Logger, session: Any = None) -> IntakeApi:
    """The intake function's HTTP API."""
    intake, clusters, secrets = build_intake(logger, session)
    return IntakeApi(intake, clusters, secrets, logger)


def build_slack_retry_consumer(logger: Logger, session: Any = None) -> SlackRetryConsumer:
    """The notifier function's queue consumer."""
    intake, _, _ = build_intake(logger, session)
    return SlackRetryConsumer(intake, logger)


def build_sweeper(logger: Logger, session: Any = None) -> Sweeper:
    """The sweeper function's reminders and expiries."""
    settings = Settings.from_environment()
    session = session or boto3.session.Session()
    secrets = SecretReader(SecretsProvider(boto3_client=session.client("secretsmanager")))
    clusters = ParameterClusterDirectory(SSMProvider(boto3_client=session.client("ssm")), settings.config_path)
    secrets.json(settings.slack_secret_id, "bot_token")

    def slack_client() -> WebClient:
        return web_client(secrets.json(settings.slack_secret_id, "bot_token")["bot_token"], settings.slack_api_url)

    return Sweeper(
        clusters=clusters,
        store=DynamoRequestStore(session.client("dynamodb"), settings.table, settings.retention),
        decisions=SqsDecisionQueue(session.client("sqs"), settings.decision_queue_url),
        redraw=SlackNotifier(slack_client),
        requesters=SlackDelivery(slack_client),
        audit=LoggedAuditTrail(logger),
        clock=utc_now,
        timings=SweepTimings(
            remind_after=timedelta(minutes=settings.remind_after_minutes),
            expire_after=timedelta(minutes=settings.expire_after_minutes),
        ),
    )
