"""The sweeper function's composition root: reminders, expiries, decisions that never reached the worker, and
forwarders gone silent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger

from csrgate.adapters.slack.delivery import SlackDelivery
from csrgate.adapters.slack.people import SlackPeople
from csrgate.domain.sweeper import Sweeper, SweepTimings
from csrgate.wiring.kit import Kit


def build_sweeper(logger: Logger, session: Any = None) -> Sweeper:
    """The Sweeper use case."""
    kit = Kit.from_environment(logger, session)
    settings = kit.settings
    return Sweeper(
        clusters=kit.clusters,
        store=kit.store,
        decisions=kit.decision_queue(),
        notifier=kit.notifier(),
        requesters=SlackDelivery(kit.slack),
        people=SlackPeople(kit.slack),
        certificates=kit.certificates(),
        grants=kit.grants(),
        heartbeats=kit.heartbeats(),
        audit=kit.audit,
        gauges=kit.audit,
        clock=kit.clock,
        timings=SweepTimings(
            remind_after=timedelta(minutes=settings.remind_after_minutes),
            expire_after=timedelta(minutes=settings.expire_after_minutes),
        ),
    )
