"""The intake HTTP API: authenticate the forwarder, validate its event or heartbeat, hand it to the domain.

Two routes, because an HTTP API route has one authorizer: `/v1/csr-events` behind API Gateway's AWS_IAM
authorizer (forwarders on EKS sign with SigV4), `/v1/hmac/csr-events` for forwarders that sign with the
cluster's HMAC key. Each cluster is configured for one of them and is refused on the other.

The HMAC route is open to the internet, so it authenticates before it reads: the key is chosen by the cluster the
X-Csrgate-Cluster header names, the signature covers that name and the raw body, and only then is the body parsed.
Every failure to authenticate gets the same 401, so cluster names and their ways of signing cannot be probed; the
audit line keeps the precise reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from pydantic import BaseModel, ConfigDict, Field, StrictStr, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from csrgate.adapters.aws.config import ConfigError, SecretReader
from csrgate.domain.cluster import ClusterConfig
from csrgate.domain.errors import InputError, PermanentFailure, RetryLater
from csrgate.domain.intake import EventType, Intake
from csrgate.domain.ports import AuditLog, ClusterDirectory, Conflict, ReplayCache
from csrgate.domain.records import AuditEvent
from csrgate.domain.request import read_csr_object
from csrgate.domain.signing import (
    CLUSTER_HEADER,
    MIN_KEY_BYTES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WINDOW_SECONDS,
    SignatureRejected,
    verify_any,
)

MAX_BODY_BYTES = 256 * 1024
MAX_SENDER_CHARS = 100  # of a cluster name nobody serves, kept in the audit line
IAM_ROUTE = "/v1/csr-events"
HMAC_ROUTE = "/v1/hmac/csr-events"
_ASSUMED_ROLE = re.compile(r"arn:(?P<partition>aws[-a-z]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/.+")
_ROLE = re.compile(r"arn:(?P<partition>aws[-a-z]*):iam::(?P<account>\d{12}):role/(?:.*/)?(?P<role>[^/]+)")


class ApiError(Exception):
    """An answer for the caller: HTTP status, a stable error code and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Unauthenticated(Exception):
    """A request on the HMAC route that is not authentically from the cluster it names; the reason is for the audit
    line only: every caller is told the same."""

    def __init__(self, cluster: str, reason: str) -> None:
        super().__init__(reason)
        self.cluster = cluster
        self.reason = reason


class CsrEventBody(BaseModel):
    """The forwarder's event, as docs/forwarder-protocol.md describes it: the envelope. The object inside is read by
    csrgate.domain.request.read_csr_object, the one reader of CertificateSigningRequest objects."""

    model_config = ConfigDict(extra="forbid")
    cluster: StrictStr = Field(min_length=1, max_length=63)
    type: Literal["ADDED", "MODIFIED", "DELETED"]
    object: dict[str, Any]


class HeartbeatBody(BaseModel):
    """The forwarder's heartbeat: its cluster's forwarder is running and reaches csrgate. Only that: a heartbeat with
    an object or any other key is a forwarder's mistake, refused so that it shows."""

    model_config = ConfigDict(extra="forbid")
    cluster: StrictStr = Field(min_length=1, max_length=63)
    type: Literal["HEARTBEAT"]


ForwarderBody = CsrEventBody | HeartbeatBody
# Told apart by `type`, so that an error names the field of the body the forwarder meant to send.
_FORWARDER_BODY: TypeAdapter[ForwarderBody] = TypeAdapter(Annotated[ForwarderBody, Field(discriminator="type")])
_TYPES = ("ADDED", "MODIFIED", "DELETED", "HEARTBEAT")


class IntakeApi:
    """Routes and error answers around the Intake use case."""

    def __init__(
        self,
        intake: Intake,
        clusters: ClusterDirectory,
        secrets: SecretReader,
        replays: ReplayCache,
        audit: AuditLog,
        logger: Logger,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._intake = intake
        self._clusters = clusters
        self._secrets = secrets
        self._replays = replays
        self._audit = audit
        self._logger = logger
        self._now = now
        self.resolver = APIGatewayHttpResolver()
        self.resolver.post(IAM_ROUTE)(self._iam_event)
        self.resolver.post(HMAC_ROUTE)(self._hmac_event)
        self.resolver.exception_handler(Unauthenticated)(self._unauthenticated)
        self.resolver.exception_handler(ApiError)(self._api_error)
        self.resolver.exception_handler(InputError)(self._input_error)
        self.resolver.exception_handler(RetryLater)(self._retry_later)
        self.resolver.exception_handler(Conflict)(self._retry_later)
        self.resolver.exception_handler(ConfigError)(self._config_error)
        self.resolver.exception_handler(PermanentFailure)(self._internal_error)

    def _iam_event(self) -> Response[str]:
        raw = self._raw_body()
        event = _parse(raw)
        cluster = self._cluster(event.cluster)
        if cluster.auth != "iam":
            raise ApiError(401, "unauthenticated", f"cluster {cluster.name} signs with HMAC: send to {HMAC_ROUTE}")
        caller = self._caller_arn()
        if not _same_role(caller, cluster.forwarder_role_arn or ""):
            self._reject(cluster.name, "caller is not the cluster's forwarder role", caller=caller)
            raise ApiError(403, "forbidden", f"this IAM identity may not send events for cluster {cluster.name}")
        return self._receive(cluster, event)

    def _hmac_event(self) -> Response[str]:
        raw = self._raw_body()
        cluster = self._authenticated_cluster(raw)
        event = _parse(raw)
        if event.cluster != cluster.name:
            self._reject(cluster.name, "the body names another cluster than the signed header", named=event.cluster)
            raise ApiError(
                400, "invalid-event", f"cluster: must be {cluster.name}, the cluster named in {CLUSTER_HEADER}"
            )
        return self._receive(cluster, event)

    def _authenticated_cluster(self, raw: bytes) -> ClusterConfig:
        """The cluster the request is signed for, once its signature holds and has not been seen before."""
        headers = self.resolver.current_event.headers
        name = str(headers.get(CLUSTER_HEADER) or "")
        if not name:
            raise Unauthenticated("", f"missing {CLUSTER_HEADER} header")
        cluster = self._clusters.get(name)
        if cluster is None:
            raise Unauthenticated(name, "unknown cluster")
        if cluster.auth != "hmac":
            raise Unauthenticated(name, f"the cluster signs with AWS IAM: it must send to {IAM_ROUTE}")
        timestamp, signature = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
        try:
            verify_any(self._keys(cluster), name, timestamp, signature, raw, self._now)
        except SignatureRejected as exc:
            raise Unauthenticated(name, str(exc)) from None
        # kept a minute past the last moment the timestamp verifies; verify_any refused missing headers already
        until = int(timestamp or 0) + WINDOW_SECONDS + 60
        if not self._replays.first_use(name, signature or "", until):
            raise Unauthenticated(name, "replayed: this signature was already accepted")
        return cluster

    def _keys(self, cluster: ClusterConfig) -> list[bytes]:
        """The cluster's keys, one per line of its secret (the new and the old one during a rotation)."""
        secret_id = cluster.hmac_secret_id or ""
        keys = [line.strip().encode("utf-8") for line in self._secrets.text(secret_id).splitlines()]
        keys = [key for key in keys if key]
        if any(len(key) < MIN_KEY_BYTES for key in keys):
            raise ConfigError(
                f"secret {secret_id} (cluster {cluster.name}) holds a key shorter than {MIN_KEY_BYTES} bytes: "
                "make one with `openssl rand -hex 32`"
            )
        return keys

    def _receive(self, cluster: ClusterConfig, event: ForwarderBody) -> Response[str]:
        if isinstance(event, HeartbeatBody):
            self._intake.heartbeat(cluster)
            return _json(200, {"heartbeat": "received"})
        try:
            csr = read_csr_object(event.object, "object", from_cluster=True)
        except InputError as exc:
            raise ApiError(400, "invalid-event", str(exc)) from None
        result = self._intake.receive(cluster, EventType(event.type), csr)
        body = {"request_id": result.request_id, "state": result.state, "created": result.created}
        if result.settled:
            body["settled"] = True
        return _json(200, body)

    def _raw_body(self) -> bytes:
        current = self.resolver.current_event
        body = current.body or ""
        if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:  # cheap bound before decoding anything
            raise ApiError(413, "payload-too-large", f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")
        try:
            raw = base64.b64decode(body, validate=True) if current.is_base64_encoded else body.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, "invalid-json", "the body is not UTF-8 text") from None
        except (binascii.Error, ValueError):
            raise ApiError(400, "invalid-json", "the body is not valid base64") from None
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(413, "payload-too-large", f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")
        return raw

    def _cluster(self, name: str) -> ClusterConfig:
        cluster = self._clusters.get(name)
        if cluster is None:
            self._reject(name, "unknown cluster")
            raise ApiError(404, "unknown-cluster", f"csrgate serves no cluster named {name[:63]!r}")
        return cluster

    def _caller_arn(self) -> str:
        context = self.resolver.current_event.raw_event.get("requestContext") or {}
        iam = (context.get("authorizer") or {}).get("iam") or {}
        return str(iam.get("userArn") or "")

    def _reject(self, sender: str, reason: str, **details: Any) -> None:
        """Audit a refused event, counted as EventsRejected. The metric's cluster is a configured one or "unknown":
        a name anyone may send must not become a metric dimension (each new one is a new metric, and costs)."""
        served = self._clusters.get(sender) is not None
        cluster = sender if served else "unknown"
        at = datetime.fromtimestamp(self._now(), UTC)
        unknown = {} if served else {"sender": sender[:MAX_SENDER_CHARS]}
        details = {"reason": reason, **unknown, **details}
        self._audit.write(AuditEvent("csr.event_rejected", "", cluster, "", "", "forwarder", at, details))

    # --- answers ------------------------------------------------------------------------------------------

    def _unauthenticated(self, exc: Unauthenticated) -> Response[str]:
        self._reject(exc.cluster, exc.reason, source_ip=self._source_ip())
        return _json(401, {"error": "unauthenticated"})

    def _source_ip(self) -> str:
        http = (self.resolver.current_event.raw_event.get("requestContext") or {}).get("http") or {}
        return str(http.get("sourceIp") or "")

    def _api_error(self, exc: ApiError) -> Response[str]:
        return _error(exc.status, exc.code, exc.message)

    def _input_error(self, exc: InputError) -> Response[str]:
        return _error(400, "invalid-request", str(exc))

    def _retry_later(self, exc: Exception) -> Response[str]:
        self._logger.warning("intake.retry_later", extra={"reason": str(exc)})
        return _error(503, "retry-later", "a dependency is unavailable; send the event again later")

    def _config_error(self, exc: ConfigError) -> Response[str]:
        self._logger.error("intake.configuration_error", extra={"reason": str(exc)})
        return _error(500, "configuration-error", "csrgate is misconfigured; its operators have been told")

    def _internal_error(self, exc: PermanentFailure) -> Response[str]:
        self._logger.error("intake.internal_error", extra={"reason": str(exc)})
        return _error(500, "internal-error", "the event could not be stored")


def _parse(raw: bytes) -> ForwarderBody:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid-json", "the body is not UTF-8 text") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # ValueError: JSONDecodeError, and integers too long to convert
        raise ApiError(400, "invalid-json", "the body is not JSON") from None
    try:
        return _FORWARDER_BODY.validate_python(document)
    except ValidationError as exc:
        raise ApiError(400, "invalid-event", _described(exc.errors(include_url=False)[0])) from None


def _described(error: ErrorDetails) -> str:
    """`field: what is wrong`, the field named as in the body."""
    if error["type"] in ("union_tag_not_found", "union_tag_invalid"):  # pydantic's message repeats the value sent
        return "type: Input should be " + ", ".join(f"'{name}'" for name in _TYPES[:-1]) + f" or '{_TYPES[-1]}'"
    loc = error["loc"]
    loc = loc[1:] if loc and loc[0] in _TYPES else loc  # pydantic puts the type the body claimed first
    return f"{'.'.join(str(part) for part in loc) or '(body)'}: {error['msg']}"


def _same_role(caller_arn: str, role_arn: str) -> bool:
    """Whether a caller's assumed-role ARN is a session of the configured role (paths are not in sessions)."""
    caller, role = _ASSUMED_ROLE.fullmatch(caller_arn), _ROLE.fullmatch(role_arn)
    if caller is None or role is None:
        return False
    return all(caller.group(part) == role.group(part) for part in ("partition", "account", "role"))


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _error(status: int, code: str, message: str) -> Response[str]:
    return _json(status, {"error": code, "message": message})
