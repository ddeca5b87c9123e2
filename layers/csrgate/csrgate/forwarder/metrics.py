"""The forwarder's Prometheus metrics, in a registry of its own (so tests can build as many as they like)."""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from csrgate import __version__

PREFIX = "csrgate_forwarder"
# From a warm intake function's answer through API Gateway (tens of milliseconds) to a cold start and to
# CSRGATE_REQUEST_TIMEOUT_SECONDS (10 by default): a POST that timed out lands in the bucket of its timeout.
SEND_SECONDS_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SEND_OUTCOMES = ("sent", "retry", "refused")  # csrgate.forwarder.sender's Answer.outcome


class ForwarderMetrics:
    """Events seen, sent, retried and failed; queue depth; watch restarts; readiness; heartbeats; how long each POST
    to the API took; which build is running."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.events_seen = Counter(
            f"{PREFIX}_events_seen",
            "CSR events seen in the cluster, by watch event type (LISTED: an object of a full list)",
            ["type"],
            registry=self.registry,
        )
        self.events_sent = Counter(
            f"{PREFIX}_events_sent", "Events csrgate's API accepted, by event type", ["type"], registry=self.registry
        )
        self.events_skipped = Counter(
            f"{PREFIX}_events_skipped",
            "Events not sent, by reason (settled: csrgate needs no more of that CSR's changes but its deletion)",
            ["reason"],
            registry=self.registry,
        )
        self.send_retries = Counter(
            f"{PREFIX}_send_retries",
            "Sends that will be retried, by reason (an HTTP status, timeout, connection, credentials)",
            ["reason"],
            registry=self.registry,
        )
        self.events_failed = Counter(
            f"{PREFIX}_events_failed",
            "Events given up on, by reason (an HTTP status the API will always refuse, too-large, shutdown)",
            ["reason"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(f"{PREFIX}_queue_depth", "Events waiting to be sent", registry=self.registry)
        self.watch_restarts = Counter(
            f"{PREFIX}_watch_restarts",
            "Watches started again, by reason (closed: server timeout; expired: 410 Gone, re-listed; error)",
            ["reason"],
            registry=self.registry,
        )
        self.ready = Gauge(f"{PREFIX}_ready", "1 once the first list has been queued", registry=self.registry)
        self.heartbeats = Counter(
            f"{PREFIX}_heartbeats",
            "Heartbeats sent, by outcome (accepted; unsupported: csrgate predates heartbeats; failed: refused, "
            "or not accepted before the next was due)",
            ["outcome"],
            registry=self.registry,
        )
        self.send_duration = Histogram(
            f"{PREFIX}_send_duration_seconds",
            "Seconds from sending a POST to csrgate's API to reading its answer (events' and heartbeats'), by outcome "
            "(sent: 2xx; retry: 5xx, 408, 429, timeout or connection lost; refused: any other 4xx)",
            ["outcome"],
            buckets=SEND_SECONDS_BUCKETS,
            registry=self.registry,
        )
        for outcome in SEND_OUTCOMES:  # every outcome from the start, at 0, so a rate over it is defined at once
            self.send_duration.labels(outcome=outcome)
        self.build_info = Gauge(
            f"{PREFIX}_build_info",
            "Always 1; the labels say which csrgate and which Python run this forwarder",
            ["version", "python"],
            registry=self.registry,
        )
        self.build_info.labels(version=__version__, python=platform.python_version()).set(1)
