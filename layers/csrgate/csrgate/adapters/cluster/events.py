"""Kubernetes Events on CSRs: what `kubectl describe csr NAME` lists under Events.

A CSR is cluster-scoped, so its Events live in namespace `default` with an empty involvedObject.namespace, as
kube-apiserver's validation wants for such objects (pkg/apis/core/validation/events.go); `kubectl describe` finds them
by listing Events in all namespaces with a field selector on involvedObject's name, namespace, kind and uid. They are
written through core/v1, which kubectl reads, with eventTime, reportingComponent, reportingInstance and action set as
the events.k8s.io API would (the worker needs `create` on `events` in the core group, nothing more).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from csrgate.adapters.cluster.connections import ClusterConnection
from csrgate.adapters.cluster.csrs import REQUEST_TIMEOUT
from csrgate.adapters.cluster.errors import translated
from csrgate.domain.cluster_events import REPORTING_CONTROLLER, CsrEvent

NAMESPACE = "default"  # where the Events of cluster-scoped objects go
REPORTING_INSTANCE = "csrgate-worker"
CSR_API_VERSION = "certificates.k8s.io/v1"


class KubernetesEvents:
    """Event writes on one cluster."""

    def __init__(self, connection: ClusterConnection, request_timeout: tuple[float, float] = REQUEST_TIMEOUT) -> None:
        self._connection = connection
        self._timeout = request_timeout

    def record(self, event: CsrEvent) -> None:
        """Create the Event; one of that name is the same fact written before (a repeated job), and stays."""
        with translated(f"recording Event {event.reason} on CSR {event.csr_name}"):
            try:
                # As JSON rather than CoreV1Event: nothing of the answer is needed, and the client's models would raise
                # on whatever they cannot read, which would leave this edge untranslated.
                answer = CoreV1Api(self._connection.api_client()).create_namespaced_event(
                    NAMESPACE, event_body(event), _request_timeout=self._timeout, _preload_content=False
                )
            except ApiException as exc:
                if exc.status == 409:
                    return
                raise
            try:
                answer.data  # noqa: B018 - read to the end, so the kept connection is clean for the next call
            finally:
                answer.release_conn()


def event_body(event: CsrEvent) -> dict[str, Any]:
    """The core/v1 Event as sent: a plain dict with times formatted as the API server parses them (the client's models
    write eventTime without its microseconds when they are zero, which metav1.MicroTime refuses)."""
    at = event.at.astimezone(UTC)
    seconds = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event.name, "namespace": NAMESPACE},
        "involvedObject": {
            "apiVersion": CSR_API_VERSION,
            "kind": "CertificateSigningRequest",
            "name": event.csr_name,
            "uid": event.csr_uid,
        },
        "reason": event.reason,
        "message": event.message,
        "type": event.type,
        "action": event.action,
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        # `kubectl describe` orders Events by lastTimestamp alone (older kubectl) or before eventTime (newer), and keeps
        # the API server's order, by name, for those of the same second: so both are set, and the names of one
        # request's Events sort in the order of its facts (cluster_events.event_name).
        "firstTimestamp": seconds,
        "lastTimestamp": seconds,
        "count": 1,
        "reportingComponent": REPORTING_CONTROLLER,
        "reportingInstance": REPORTING_INSTANCE,
    }
