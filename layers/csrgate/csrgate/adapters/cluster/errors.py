"""Errors from the Kubernetes client, urllib3 and botocore, translated into csrgate's two kinds at this edge.

RetryLater: the cluster or AWS was down, slow or throttling (timeouts, connection errors, 429, 5xx, throttling
codes); the same call may work later. PermanentFailure: the call will never work as made (401, 403, 404, 422
and other 4xx, a TLS certificate that does not verify, a kubeconfig that cannot be used).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import urllib3.exceptions
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import SSLError as BotocoreSSLError
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from csrgate.domain.errors import CsrgateError, PermanentFailure, RetryLater

RETRYABLE_STATUS = frozenset({408, 425, 429})
# Error codes botocore's standard retry mode treats as throttling or transient (botocore/retries/standard.py),
# and the 5xx-class codes the AWS services csrgate calls (STS, EKS, Secrets Manager) return.
RETRYABLE_AWS_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "InternalServiceError",
        "InternalServiceErrorException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServerException",
        "IDPCommunicationError",
    }
)


def from_kubernetes(exc: ApiException, doing: str) -> CsrgateError:
    """An ApiException as RetryLater or PermanentFailure, with the API server's own message."""
    status = int(exc.status or 0)
    problem = f"{doing}: the cluster answered {status or 'nothing'} {exc.reason or ''}".rstrip()
    detail = _status_message(exc.body)
    if detail:
        problem += f" ({detail})"
    if status == 0 or status in RETRYABLE_STATUS or status >= 500:
        return RetryLater(problem)
    return PermanentFailure(problem)


def from_transport(exc: Exception, doing: str) -> CsrgateError:
    """A urllib3 or socket error: TLS verification failures never heal, everything else may."""
    reason = getattr(exc, "reason", None)
    if isinstance(exc, urllib3.exceptions.SSLError) or isinstance(reason, urllib3.exceptions.SSLError):
        return PermanentFailure(f"{doing}: the cluster's TLS certificate does not verify ({reason or exc})")
    return RetryLater(f"{doing}: the cluster cannot be reached ({type(exc).__name__}: {reason or exc})")


def from_aws(exc: BotoCoreError | ClientError, doing: str) -> CsrgateError:
    """A botocore error: throttling, 5xx and connection problems may heal; the rest (access, not found) never."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        problem = f"{doing}: AWS answered {code or status}: {error.get('Message', '')}".rstrip(": ")
        if code in RETRYABLE_AWS_CODES or status >= 500 or status in RETRYABLE_STATUS:
            return RetryLater(problem)
        return PermanentFailure(problem)
    if isinstance(exc, BotocoreSSLError):
        return PermanentFailure(f"{doing}: AWS's TLS certificate does not verify ({exc})")
    if isinstance(exc, BotocoreConnectionError | HTTPClientError):  # timeouts, refused and dropped connections
        return RetryLater(f"{doing}: AWS cannot be reached ({exc})")
    return PermanentFailure(f"{doing}: {exc}")


@contextmanager
def translated(doing: str) -> Iterator[None]:
    """Run a block that talks to the cluster or AWS; its library errors leave as domain errors."""
    try:
        yield
    except ApiException as exc:
        raise from_kubernetes(exc, doing) from exc
    except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
        raise from_transport(exc, doing) from exc
    except (BotoCoreError, ClientError) as exc:
        raise from_aws(exc, doing) from exc
    except ConfigException as exc:
        raise PermanentFailure(f"{doing}: the cluster configuration cannot be used ({exc})") from exc


def _status_message(body: object) -> str:
    """The message of a Kubernetes Status body, if the body is one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body.strip():
        return ""
    try:
        status = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    return str(status.get("message", ""))[:500] if isinstance(status, dict) else ""
