"""Approving, denying and waiting on CertificateSigningRequests in a cluster, as `kubectl certificate` does.

A decision reads the CSR, appends one condition and replaces the CSR through its `approval` subresource; on
409 it reads again and decides again, so it never overwrites a change it has not seen. What comes back is a
domain value (csrgate.domain.conditions), never a Kubernetes client object.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import (
    CertificatesV1Api,
    V1CertificateSigningRequest,
    V1CertificateSigningRequestCondition,
    V1CertificateSigningRequestStatus,
)
from kubernetes.client.exceptions import ApiException

from csrgate.adapters.cluster.connections import ClusterConnection
from csrgate.adapters.cluster.errors import translated
from csrgate.domain.asks import asked_spec_digest
from csrgate.domain.conditions import (
    Condition,
    DecisionOutcome,
    DecisionResult,
    IssuanceOutcome,
    IssuanceResult,
    deciding_condition,
    decision_condition,
    is_approved,
    issuance_state,
    plan_decision,
)
from csrgate.domain.errors import RetryLater
from csrgate.domain.kubeconfig import RequesterKubeconfig, build_requester_kubeconfig
from csrgate.domain.outcome import Decision
from csrgate.domain.request import spec_fingerprint

REQUEST_TIMEOUT = (3.05, 10.0)  # (connect, read) seconds for each API call
MAX_CONFLICT_RETRIES = 5
MAX_POLL_INTERVAL = 5.0


@dataclass(frozen=True)
class CsrSnapshot:
    """A CSR as read: identity, conditions and the certificate (PEM) if issued."""

    name: str
    uid: str
    resource_version: str
    signer_name: str
    conditions: tuple[Condition, ...]
    certificate_pem: bytes | None


class KubernetesCsrs:
    """CSR operations on one cluster; clocks and sleep are injected so waits are testable."""

    def __init__(
        self,
        connection: ClusterConnection,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        request_timeout: tuple[float, float] = REQUEST_TIMEOUT,
    ) -> None:
        self._connection = connection
        self._monotonic = monotonic
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._timeout = request_timeout

    def decide(
        self,
        name: str,
        uid: str,
        decision: Decision,
        decided_by: str,
        why: str,
        reason: str | None = None,
        spec_fingerprint: str | None = None,
    ) -> DecisionResult:
        """Approve or deny the CSR reviewed as `uid` (and, given one, with that spec fingerprint), unless it is gone,
        replaced or already decided."""
        condition = decision_condition(decision, decided_by, why, reason)
        for _ in range(MAX_CONFLICT_RETRIES + 1):
            found = self._read(name)
            if found is None:
                return DecisionResult(DecisionOutcome.GONE, name)
            if found.metadata.uid != uid or not self._is_reviewed(found, spec_fingerprint):
                return DecisionResult(DecisionOutcome.REPLACED, name)
            planned = plan_decision(_conditions(found), decision)
            if planned is not None:
                return DecisionResult(planned[0], name, planned[1])
            status = found.status or V1CertificateSigningRequestStatus()
            status.conditions = [
                *(status.conditions or []),
                V1CertificateSigningRequestCondition(
                    type=condition.type,
                    status=condition.status,
                    reason=condition.reason,
                    message=condition.message,
                    last_update_time=self._wall_clock(),
                ),
            ]
            found.status = status
            answered = self._replace_approval(name, found, f"{decision.value} CSR {name}")
            if answered == 409:
                continue  # changed since we read it: read again and decide again, never overwrite
            if answered == 404:
                return DecisionResult(DecisionOutcome.GONE, name)
            return DecisionResult(DecisionOutcome.APPLIED, name, condition)
        raise RetryLater(f"CSR {name} kept changing while being decided ({MAX_CONFLICT_RETRIES + 1} conflicts)")

    def create(self, name: str, spec: Mapping[str, Any], annotations: Mapping[str, str]) -> str | None:
        """Create the CSR; its uid, also when an earlier try created it (same spec and annotations); None when a CSR
        of that name exists that is not this one."""
        body = {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name, "annotations": dict(annotations)},
            "spec": dict(spec),
        }
        with translated(f"creating CSR {name}"):
            try:
                created = self._api().create_certificate_signing_request(body, _request_timeout=self._timeout)
                return str(created.metadata.uid)
            except ApiException as exc:
                if exc.status != 409:
                    raise
        found = self._read(name)
        if found is None:
            raise RetryLater(f"CSR {name} existed and is gone: create it again")
        existing = self._connection.api_client().sanitize_for_serialization(found) or {}
        theirs = (existing.get("metadata") or {}).get("annotations") or {}
        same = asked_spec_digest(existing.get("spec") or {}) == asked_spec_digest(spec)
        ours = same and all(theirs.get(key) == value for key, value in annotations.items())
        return str(found.metadata.uid) if ours else None

    def _is_reviewed(self, found: V1CertificateSigningRequest, fingerprint: str | None) -> bool:
        """Whether the CSR in the cluster asks for what was reviewed: what people saw came from the forwarder."""
        if fingerprint is None:
            return True
        spec = self._connection.api_client().sanitize_for_serialization(found.spec) or {}
        return spec_fingerprint(spec) == fingerprint

    def wait_for_certificate(self, name: str, uid: str, timeout: float, poll_interval: float = 0.5) -> IssuanceResult:
        """Poll until the signer issues, fails or the CSR is denied, gone or replaced; give up after `timeout`."""
        deadline = self._monotonic() + timeout
        interval = poll_interval
        while True:
            found = self._read(name)
            if found is None:
                return IssuanceResult(IssuanceOutcome.GONE, name)
            if found.metadata.uid != uid:
                return IssuanceResult(IssuanceOutcome.REPLACED, name)
            snapshot = _snapshot(found)
            outcome = issuance_state(snapshot.conditions, snapshot.certificate_pem)
            if outcome is IssuanceOutcome.ISSUED:
                return IssuanceResult(outcome, name, snapshot.certificate_pem)
            if outcome is not None:
                return IssuanceResult(outcome, name, condition=deciding_condition(snapshot.conditions, outcome))
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                waiting = (
                    IssuanceOutcome.NOT_ISSUED if is_approved(snapshot.conditions) else IssuanceOutcome.NOT_APPROVED
                )
                return IssuanceResult(waiting, name)
            self._sleep(min(interval, remaining))
            interval = min(interval * 2, MAX_POLL_INTERVAL)

    def kubeconfig_for(self, certificate_pem: bytes, key_path: str | None = None) -> RequesterKubeconfig:
        """The requester's kubeconfig for an issued client certificate on this cluster."""
        return build_requester_kubeconfig(self._connection.endpoint(), certificate_pem, key_path)

    def _api(self) -> CertificatesV1Api:
        return CertificatesV1Api(self._connection.api_client())

    def _read(self, name: str) -> V1CertificateSigningRequest | None:
        with translated(f"reading CSR {name}"):
            try:
                return self._api().read_certificate_signing_request(name, _request_timeout=self._timeout)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

    def _replace_approval(self, name: str, csr: V1CertificateSigningRequest, doing: str) -> int:
        """Replace through the approval subresource: 200, or 404 / 409 for the caller to act on."""
        with translated(doing):
            try:
                self._api().replace_certificate_signing_request_approval(name, csr, _request_timeout=self._timeout)
            except ApiException as exc:
                if exc.status in (404, 409):
                    return int(exc.status)
                raise
        return 200


def certificate_pem(value: Any) -> bytes | None:
    """status.certificate as PEM bytes: the client gives base64 text (JSON), some versions the decoded bytes."""
    if not value:
        return None
    if isinstance(value, bytes):
        if value.lstrip().startswith(b"-----BEGIN"):
            return value
        value = value.decode("ascii", errors="replace")
    if isinstance(value, str):
        if value.lstrip().startswith("-----BEGIN"):
            return value.encode("ascii")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def _conditions(csr: V1CertificateSigningRequest) -> tuple[Condition, ...]:
    listed = (csr.status.conditions if csr.status else None) or []
    return tuple(
        Condition(item.type or "", item.status or "", item.reason or "", item.message or "") for item in listed
    )


def _snapshot(csr: V1CertificateSigningRequest) -> CsrSnapshot:
    return CsrSnapshot(
        name=csr.metadata.name,
        uid=csr.metadata.uid,
        resource_version=csr.metadata.resource_version,
        signer_name=csr.spec.signer_name,
        conditions=_conditions(csr),
        certificate_pem=certificate_pem(csr.status.certificate if csr.status else None),
    )
