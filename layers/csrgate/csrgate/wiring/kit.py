"""What every function's composition root starts from: settings, AWS clients, configuration, secrets, the clock.

Nothing here imports the Kubernetes client, the CSR decoder or an HTTP resolver: each function's own module
(csrgate.wiring.<function>) imports what only it uses. The stores that not every function uses are imported when
first made, so a cold start pays only for its own (the interactions function's Approve click uses none of them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from botocore.config import Config
from slack_sdk import WebClient

from csrgate.adapters.aws.audit import LoggedAuditTrail
from csrgate.adapters.aws.config import ConfigError, ParameterClusterDirectory, SecretReader, Settings
from csrgate.adapters.aws.queues import SqsJobQueue
from csrgate.adapters.aws.store import DynamoRequestStore
from csrgate.adapters.slack.channel import SlackNotifier
from csrgate.adapters.slack.client import web_client

if TYPE_CHECKING:
    from csrgate.adapters.aws.asks import DynamoAskStore
    from csrgate.adapters.aws.certificates import DynamoCertificateStore
    from csrgate.adapters.aws.grants import DynamoGrantStore
    from csrgate.adapters.aws.heartbeats import DynamoHeartbeats
    from csrgate.adapters.aws.quota import DynamoAskQuota
    from csrgate.domain.digests import Digests


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
    sqs: Any  # one client for both queues: each client made costs its service model's loading
    secrets: SecretReader
    clusters: ParameterClusterDirectory
    store: DynamoRequestStore
    audit: LoggedAuditTrail
    clock: Callable[[], datetime]  # utc_now, as it was when the function was built

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
            sqs=session.client("sqs", config=aws_config),
            secrets=secrets,
            clusters=ParameterClusterDirectory(ssm, settings.config_path, settings.secret_prefix),
            store=DynamoRequestStore(dynamodb, settings.table, settings.retention),
            audit=LoggedAuditTrail(logger),
            clock=utc_now,
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

    def asks(self) -> DynamoAskStore:
        """Certificates asked for in Slack, in the requests' table."""
        from csrgate.adapters.aws.asks import DynamoAskStore

        return DynamoAskStore(self.dynamodb, self.settings.table, self.settings.retention)

    def grants(self) -> DynamoGrantStore:
        """Access asked for in Slack, in the requests' table."""
        from csrgate.adapters.aws.grants import DynamoGrantStore

        return DynamoGrantStore(self.dynamodb, self.settings.table, self.settings.retention)

    def quota(self) -> DynamoAskQuota:
        """How often each person may ask, in the requests' table."""
        from csrgate.adapters.aws.quota import DynamoAskQuota

        return DynamoAskQuota(self.dynamodb, self.settings.table)

    def certificates(self) -> DynamoCertificateStore:
        """The client certificates csrgate delivered, in the requests' table."""
        from csrgate.adapters.aws.certificates import DynamoCertificateStore

        return DynamoCertificateStore(self.dynamodb, self.settings.table, self.settings.retention)

    def heartbeats(self) -> DynamoHeartbeats:
        """When each cluster's forwarder was last heard from, in the requests' table."""
        from csrgate.adapters.aws.heartbeats import DynamoHeartbeats

        return DynamoHeartbeats(self.dynamodb, self.settings.table)

    def digests(self) -> Digests:
        """Automatic decisions told per cluster and window: entries in the requests' table, drawn by the notifier."""
        from csrgate.adapters.aws.digests import DynamoDigests
        from csrgate.domain.digests import Digests

        store = DynamoDigests(self.dynamodb, self.settings.table)
        return Digests(store, self.slack_retry_queue(), self.clusters, self.notifier(), self.audit, self.clock)

    def decision_queue(self) -> SqsJobQueue:
        """The worker's queue: decisions to apply, signers to look at again."""
        return SqsJobQueue(self.sqs, self.settings.decision_queue_url)

    def slack_retry_queue(self) -> SqsJobQueue:
        """The notifier's queue: Slack messages to post again, after a pause."""
        return SqsJobQueue(self.sqs, self.settings.slack_retry_queue_url, self.settings.slack_retry_delay_seconds)

    def notifier(self, *, hurried: bool = False) -> SlackNotifier:
        """The cluster channels' messages, with the current bot token."""
        return SlackNotifier(lambda: self.slack(hurried=hurried))
