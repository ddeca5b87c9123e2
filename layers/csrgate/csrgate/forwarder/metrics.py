"""The forwarder's Prometheus metrics, in a registry of its own (so tests can build as many as they like)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

PREFIX = "csrgate_forwarder"


class ForwarderMetrics:
    """Events seen, sent, retried and failed; queue depth; watch restarts; readiness; heartbeats."""

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
