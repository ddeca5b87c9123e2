"""The notifier function's composition root: the Slack messages intake could not post, from the retry queue."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from csrgate.adapters.inbound.jobs import JobConsumer, JobHandler
from csrgate.domain.jobs import PostMessage
from csrgate.wiring.intake import build_intake
from csrgate.wiring.kit import Kit

MAX_RECEIVES = 6  # SlackRetryQueue's maxReceiveCount in template.yaml


def build_notifier_consumer(logger: Logger, session: Any = None) -> JobConsumer:
    """Posts each message again; on the last attempt the request nobody could see is failed, so it is alarmed."""
    intake = build_intake(Kit.from_environment(logger, session))
    post = JobHandler(
        run=lambda job: intake.post_message(job.request_id, job.attempt),
        give_up=intake.give_up_message,
        failure="the Slack message cannot be posted",
    )
    return JobConsumer({PostMessage: post}, logger, MAX_RECEIVES)
