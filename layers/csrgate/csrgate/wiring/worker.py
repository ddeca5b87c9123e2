"""The worker function's composition root. Only the worker imports this (and the Kubernetes client)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger

from csrgate.adapters.cluster.access import ClusterConnections
from csrgate.adapters.inbound.jobs import JobConsumer, JobHandler
from csrgate.adapters.slack.delivery import SlackDelivery
from csrgate.domain.asked_csrs import AskedCsrs
from csrgate.domain.grant_worker import GrantWorker
from csrgate.domain.jobs import (
    ApplyDecision,
    ApplyGrant,
    CheckIssuance,
    CreateCsr,
    EndGrant,
    PostGrant,
    ShowInCluster,
    SweepBindings,
)
from csrgate.domain.ports import ClusterAccess
from csrgate.domain.worker import DecisionWorker, WorkerTimings
from csrgate.wiring.kit import Kit

MAX_RECEIVES = 5  # DecisionQueue's maxReceiveCount in template.yaml


def build_worker_consumer(logger: Logger, session: Any = None, access: ClusterAccess | None = None) -> JobConsumer:
    """The worker function's queue consumer; `access` replaces the connections to the configured clusters."""
    kit = Kit.from_environment(logger, session)
    settings = kit.settings
    access = access or ClusterConnections(kit.session)
    requesters = SlackDelivery(kit.slack)
    worker = DecisionWorker(
        clusters=kit.clusters,
        access=access,
        store=kit.store,
        notifier=kit.notifier(),
        digests=kit.digests(),
        requesters=requesters,
        certificates=kit.certificates(),
        checks=kit.decision_queue(),
        audit=kit.audit,
        clock=kit.clock,
        timings=WorkerTimings(
            wait_per_look_seconds=settings.signer_look_seconds,
            give_up_after=timedelta(seconds=settings.signer_wait_seconds),
        ),
    )
    asked = AskedCsrs(kit.clusters, access, kit.asks(), requesters, kit.audit, kit.clock)
    grants = GrantWorker(
        kit.clusters, access, kit.grants(), kit.notifier(), requesters, kit.decision_queue(), kit.audit, kit.clock
    )
    failure = "the decision cannot be applied"
    return JobConsumer(
        {
            PostGrant: JobHandler(lambda job: grants.post(job.grant_id), grants.fail, "the request cannot be posted"),
            ApplyGrant: JobHandler(lambda job: grants.apply(job.grant_id), grants.fail, "the access cannot be granted"),
            EndGrant: JobHandler(lambda job: grants.end(job.grant_id), _kept, "the binding cannot be removed"),
            SweepBindings: JobHandler(lambda job: grants.sweep_bindings(job.cluster), _kept, "bindings not swept"),
            CreateCsr: JobHandler(lambda job: asked.create(job.ask_id), asked.give_up, "the CSR cannot be created"),
            ApplyDecision: JobHandler(lambda job: worker.apply(job.request_id), worker.fail, failure),
            CheckIssuance: JobHandler(
                lambda job: worker.check_issuance(job.request_id, job.attempt), worker.fail, failure
            ),
            ShowInCluster: JobHandler(lambda job: worker.show(job.request_id), _shown, "the Event cannot be written"),
        },
        logger,
        MAX_RECEIVES,
    )


def _kept(subject: str, why: str) -> None:
    """Nothing to give up: a binding not yet removed stays in the sweeper's sight (the grant's end is due, or the
    binding is labelled as csrgate's), and the next sweep queues it again."""


def _shown(subject: str, why: str) -> None:
    """Nothing to give up: an Event is best effort, and what it would show is stored and told in Slack."""
