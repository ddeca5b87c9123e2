"""Building each function's objects once per container, from the environment.

Nothing here imports the Kubernetes client: the worker's wiring, which does, is in worker_wiring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from botocore.config import Config
from slack_sdk import WebClient

from csrgate.adapters.aws.audit import LoggedAuditTrail
from csrgate.adapters.aws.config import ConfigError, ParameterClusterDirectory, SecretReader, Settings
from csrgate.adapters.aws.queues import SqsDecisionQueue, SqsSlackRetryQueue
from csrgate.adapters.aws.store import DynamoReplayCache, DynamoRequestStore
from csrgate.adapters.inbound.interactions_api import InteractionsApi
from csrgate.adapters.slack.channel import SlackNotifier
from csrgate.adapters.slack.client import web_client
from csrgate.adapters.slack.delivery import SlackDelivery
from csrgate.adapters.slack.people import SlackPeople
from csrgate.domain.approvals import Approvals

# Imported where they are built: the intake path reads CSRs (cryptography, the policy engine) and its event schema
# costs ~40 ms to build, neither of which the interactions cold start, inside Slack's three seconds, should pay.
if TYPE_CHECKING:
    from csrgate.adapters.inbound.intake_api import IntakeApi
    from csrgate.adapters.inbound.slack_retries import SlackRetryConsumer
    from csrgate.domain.intake import Intake
    from csrgate.domain.sweeper import Sweeper


def utc_now() -> datetime:
    """The clock every function uses."""
    return datetime.now(UTC)


# Inside Slack's three seconds (cold start included) an AWS call may not hang or retry for long: botocore's
# defaults are a 60 s connect and a 60 s read timeout and three attempts with backoff. One retry is kept (here
# `max_attempts` counts retries, not the first call): a call that hangs costs about 2.6 s with it, where a healthy
# one answers in milliseconds.
HURRIED_AWS = Config(connect_timeout=0.5, read_timeout=0.8, retries={"max_attempts": 1, "mode": "standard"})


@dataclass(frozen=True)
class Kit:
    """What every function starts from: settings, AWS clients, configuration, secrets, the audit trail."""

    settings: Settings
    session: Any
    aws_config: Config | None
    dynamodb: Any
    secrets: SecretReader
    clusters: ParameterClusterDirectory
    store: DynamoRequestStore
    audit: LoggedAuditTrail

    @classmethod
    def from_environment(cls, logger: Logger, session: Any = None, aws_config: Config | None = None) -> Kit:
        """Read and check everything once; a bad setting, parameter or secret fails the cold start, naming it.

        `aws_config` (timeouts, retries) applies to every AWS client the kit makes.
        """
        settings = Settings.from_environment()
        session = session or boto3.session.Session()
        secrets = SecretReader(SecretsProvider(boto3_client=session.client("secretsmanager", config=aws_config)))
        secrets.credential(settings.slack_bot_token_secret_id, "bot token")
        dynamodb = session.client("dynamodb", config=aws_config)
        ssm = SSMProvider(boto3_client=session.client("ssm", config=aws_config))
        return cls(
            settings=settings,
            session=session,
            aws_config=aws_config,
            dynamodb=dynamodb,
            secrets=secrets,
            clusters=ParameterClusterDirectory(ssm, settings.config_path, settings.secret_prefix),
            store=DynamoRequestStore(dynamodb, settings.table, settings.retention),
            audit=LoggedAuditTrail(logger),
        )

    def slack(self, *, hurried: bool = False) -> WebClient:
        """A Slack client with the current bot token (the secret is cached for a few minutes, so rotation lands)."""
        token = self.secrets.credential(self.settings.slack_bot_token_secret_id, "bot token")
        if hurried:
            return web_client(token, self.settings.slack_api_url, timeout=2, hurried=True)
        return web_client(token, self.settings.slack_api_url)

    def signing_secret(self) -> str:
        """Slack's request signing secret, which only the interactions function is given (and may read)."""
        if self.settings.slack_signing_secret_id is None:
            raise ConfigError("the environment variable CSRGATE_SLACK_SIGNING_SECRET_ID is not set")
        return self.secrets.credential(self.settings.slack_signing_secret_id, "signing secret")

    def decision_queue(self) -> SqsDecisionQueue:
        """The worker's queue."""
        return SqsDecisionQueue(self.session.client("sqs", config=self.aws_config), self.settings.decision_queue_url)


def build_intake(kit: Kit) -> Intake:
    """The Intake use case."""
    from csrgate.domain.intake import Intake

    settings = kit.settings
    retries = SqsSlackRetryQueue(
        kit.session.client("sqs"), settings.slack_retry_queue_url, settings.slack_retry_delay_seconds
    )
    return Intake(
        clusters=kit.clusters,
        store=kit.store,
        decisions=kit.decision_queue(),
        slack_retries=retries,
        notifier=SlackNotifier(kit.slack),
        audit=kit.audit,
        clock=utc_now,
    )


def build_intake_api(logger: Logger, session: Any = None) -> IntakeApi:
    """The intake function's HTTP API."""
    from csrgate.adapters.inbound.intake_api import IntakeApi

    kit = Kit.from_environment(logger, session)
    kit.clusters.check_policies()
    replays = DynamoReplayCache(kit.dynamodb, kit.settings.table)
    return IntakeApi(build_intake(kit), kit.clusters, kit.secrets, replays, logger)


def build_slack_retry_consumer(logger: Logger, session: Any = None) -> SlackRetryConsumer:
    """The notifier function's queue consumer."""
    from csrgate.adapters.inbound.slack_retries import SlackRetryConsumer

    return SlackRetryConsumer(build_intake(Kit.from_environment(logger, session)), logger)


def build_interactions_api(logger: Logger, session: Any = None) -> InteractionsApi:
    """The interactions function's HTTP API, inside Slack's three seconds."""
    kit = Kit.from_environment(logger, session, aws_config=HURRIED_AWS)
    kit.signing_secret()  # a missing or unreadable signing secret fails the cold start, naming it

    def hurried_slack() -> WebClient:
        return kit.slack(hurried=True)

    approvals = Approvals(
        clusters=kit.clusters,
        store=kit.store,
        decisions=kit.decision_queue(),
        directory=SlackPeople(hurried_slack),
        audit=kit.audit,
        clock=utc_now,
    )
    return InteractionsApi(approvals, SlackNotifier(hurried_slack), kit.signing_secret, logger, utc_now)


def build_sweeper(logger: Logger, session: Any = None) -> Sweeper:
    """The sweeper function's reminders and expiries."""
    from csrgate.domain.sweeper import Sweeper, SweepTimings

    kit = Kit.from_environment(logger, session)
    settings = kit.settings
    return Sweeper(
        clusters=kit.clusters,
        store=kit.store,
        decisions=kit.decision_queue(),
        redraw=SlackNotifier(kit.slack),
        requesters=SlackDelivery(kit.slack),
        audit=kit.audit,
        clock=utc_now,
        timings=SweepTimings(
            remind_after=timedelta(minutes=settings.remind_after_minutes),
            expire_after=timedelta(minutes=settings.expire_after_minutes),
        ),
    )
