"""The audit trail's log lines and metrics: one structured line per event, counted per cluster; and the gauges a run
writes for the alarms."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.base import SingleMetric

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
    "forwarder.heartbeat": "ForwarderHeartbeats",
}


# Durations carried in event details, by metric name.
_TIMED = {"seconds_to_decision": "TimeToDecision", "seconds_to_issue": "TimeToIssue"}


class LoggedAuditTrail:
    """AuditLog that writes through the Powertools Logger and counts with EMF metrics; Gauges with EMF metrics too."""

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
        self._emit(name, MetricUnit.Seconds, seconds, {"cluster": cluster})

    def gauge(self, name: str, value: float) -> None:
        """Record a value with no dimensions: what an alarm watches over every cluster at once."""
        self._emit(name, MetricUnit.Count, value, {})

    def count(self, name: str, cluster: str) -> None:
        """Add one to a metric with the cluster as its dimension."""
        self._emit(name, MetricUnit.Count, 1, {"cluster": cluster})

    def _emit(self, name: str, unit: MetricUnit, value: float, dimensions: Mapping[str, str]) -> None:
        """One EMF line with exactly these dimensions. Powertools adds `service` (POWERTOOLS_SERVICE_NAME, which every
        function sets) to a metric unless told otherwise; an alarm matches one exact set of dimensions, so each alarm
        would then watch one function's metric only, or none."""
        metric = SingleMetric(namespace=self._namespace, service="")
        metric.add_metric(name=name, unit=unit, value=value)
        for dimension, dimension_value in dimensions.items():
            metric.add_dimension(name=dimension, value=dimension_value)
        # the function's standard output goes to CloudWatch Logs, which extracts the metric (as single_metric prints)
        print(json.dumps(metric.serialize_metric_set(), separators=(",", ":")))
