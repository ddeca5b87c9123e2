"""The audit trail's log lines and metrics: one structured line per event, counted per cluster."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from csrgate.domain.records import AuditEvent

NAMESPACE = "csrgate"
# Events that are also counted, by metric name. Verdicts are counted per outcome.
_COUNTED = {
    "csr.received": "RequestsReceived",
    "csr.review_requested": "ReviewsRequested",
    "csr.approved": "Approved",
    "csr.denied": "Denied",
    "csr.expired": "Expired",
    "csr.delivered": "Delivered",
    "csr.delivery_failed": "DeliveryFailures",
    "csr.failed": "Failed",
    "slack.post_failed": "SlackPostFailures",
    "slack.post_abandoned": "SlackPostsAbandoned",
    "csr.event_rejected": "EventsRejected",
}


# Durations carried in event details, by metric name.
_TIMED = {"seconds_to_decision": "TimeToDecision", "seconds_to_issue": "TimeToIssue"}


class LoggedAuditTrail:
    """AuditLog that writes through the Powertools Logger and counts with EMF metrics."""

    def __init__(self, logger: Logger, namespace: str = NAMESPACE) -> None:
        self._logger = logger
        self._namespace = namespace

    def write(self, event: AuditEvent) -> None:
        """One JSON line with the fixed keys; a metric when the event is one that is counted."""
        self._logger.info(event.event, extra=event.as_log_fields())
        name = _COUNTED.get(event.event)
        if event.event == "csr.policy_verdict":
            name = f"Verdict{str(event.details.get('verdict', 'unknown')).capitalize()}"
        if name:
            self.count(name, event.cluster)
        for detail, metric in _TIMED.items():
            seconds = event.details.get(detail)
            if isinstance(seconds, int | float):
                self.measure(metric, event.cluster, float(seconds))

    def measure(self, name: str, cluster: str, seconds: float) -> None:
        """Record a duration with the cluster as its dimension."""
        with single_metric(name=name, unit=MetricUnit.Seconds, value=seconds, namespace=self._namespace) as metric:
            metric.add_dimension(name="cluster", value=cluster)

    def count(self, name: str, cluster: str) -> None:
        """Add one to a metric with the cluster as its dimension."""
        with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=self._namespace) as metric:
            metric.add_dimension(name="cluster", value=cluster)
