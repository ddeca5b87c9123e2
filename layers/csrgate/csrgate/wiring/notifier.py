"""The notifier function's composition root, on the Slack queue: the approval requests intake could not post, and the
digests of automatic decisions to draw."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from csrgate.adapters.inbound.jobs import JobConsumer, JobHandler
from csrgate.domain.jobs import PostDigest, PostMessage
from csrgate.wiring.intake import build_intake
from csrgate.wiring.kit import Kit

MAX_RECEIVES = 6  # SlackRetryQueue's maxReceiveCount in template.yaml


def build_notifier_consumer(logger: Logger, session: Any = None) -> JobConsumer:
    """Posts each message again (on the last attempt the request nobody could see is failed, so it is alarmed), and
    draws digests."""
    kit = Kit.from_environment(logger, session)
    intake, digests = build_intake(kit), kit.digests()
    post = JobHandler(
        run=lambda job: intake.post_message(job.request_id, job.attempt),
        give_up=intake.give_up_message,
        failure="the Slack message cannot be posted",
    )
    draw = JobHandler(
        run=lambda job: digests.flush(job.cluster, job.window),
        give_up=digests.give_up,
        failure="the digest cannot be drawn",
    )
    return JobConsumer({PostMessage: post, PostDigest: draw}, logger, MAX_RECEIVES)
