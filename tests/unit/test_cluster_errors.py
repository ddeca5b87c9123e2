"""Library errors at the cluster edge become RetryLater (may heal) or PermanentFailure (never works as made)."""

from __future__ import annotations

import json

import pytest
import urllib3.exceptions
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    SSLError,
)
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from csrgate.adapters.cluster.errors import from_aws, from_kubernetes, from_transport, translated
from csrgate.domain.errors import PermanentFailure, RetryLater


def api_exception(status: int, reason: str, message: str = "") -> ApiException:
    exc = ApiException(status=status, reason=reason)
    if message:
        exc.body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message}).encode()
    return exc


def client_error(code: str, status: int, message: str = "nope") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Operation"
    )


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_kubernetes_overload_and_server_errors_retry_later(status: int) -> None:
    assert isinstance(from_kubernetes(api_exception(status, "Busy"), "reading CSR a"), RetryLater)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 415, 422])
def test_kubernetes_client_errors_are_permanent(status: int) -> None:
    assert isinstance(from_kubernetes(api_exception(status, "No"), "reading CSR a"), PermanentFailure)


def test_the_api_servers_own_message_is_kept() -> None:
    message = 'certificatesigningrequests.certificates.k8s.io "a" is forbidden: User "x" cannot get resource'

    error = from_kubernetes(api_exception(403, "Forbidden", message), "reading CSR a")

    assert str(error) == f"reading CSR a: the cluster answered 403 Forbidden ({message})"


def test_transport_errors_retry_later_except_tls_verification() -> None:
    refused = urllib3.exceptions.MaxRetryError(
        None,
        "/apis",
        urllib3.exceptions.NewConnectionError(None, "Connection refused"),  # type: ignore[arg-type]
    )
    timed_out = urllib3.exceptions.ReadTimeoutError(None, "/apis", "read timed out")  # type: ignore[arg-type]
    bad_tls = urllib3.exceptions.MaxRetryError(
        None,
        "/apis",
        urllib3.exceptions.SSLError("certificate verify failed"),  # type: ignore[arg-type]
    )

    assert isinstance(from_transport(refused, "x"), RetryLater)
    assert isinstance(from_transport(timed_out, "x"), RetryLater)
    assert isinstance(from_transport(bad_tls, "x"), PermanentFailure)


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 400), ("Throttling", 400), ("TooManyRequestsException", 429),
     ("InternalServiceError", 500), ("ServerException", 500), ("ServiceUnavailableException", 503)],
)  # fmt: skip
def test_aws_throttling_and_server_errors_retry_later(code: str, status: int) -> None:
    assert isinstance(from_aws(client_error(code, status), "describing EKS cluster c"), RetryLater)


@pytest.mark.parametrize(
    ("code", "status"),
    [("AccessDeniedException", 400), ("ResourceNotFoundException", 404), ("ValidationException", 400),
     ("InvalidSignatureException", 403)],
)  # fmt: skip
def test_aws_access_and_missing_resources_are_permanent(code: str, status: int) -> None:
    assert isinstance(from_aws(client_error(code, status), "reading secret s"), PermanentFailure)


def test_aws_connection_problems_retry_later_but_missing_credentials_do_not() -> None:
    assert isinstance(from_aws(EndpointConnectionError(endpoint_url="https://eks"), "x"), RetryLater)
    assert isinstance(from_aws(ConnectTimeoutError(endpoint_url="https://eks"), "x"), RetryLater)
    assert isinstance(from_aws(ReadTimeoutError(endpoint_url="https://eks"), "x"), RetryLater)
    assert isinstance(from_aws(SSLError(endpoint_url="https://eks", error="bad cert"), "x"), PermanentFailure)
    assert isinstance(from_aws(NoCredentialsError(), "x"), PermanentFailure)


def test_translated_raises_the_domain_error_from_the_library_error() -> None:
    original = api_exception(503, "Service Unavailable")

    with (
        pytest.raises(RetryLater, match="approving CSR a: the cluster answered 503") as raised,
        translated("approving CSR a"),
    ):
        raise original
    with (
        pytest.raises(PermanentFailure, match="the cluster configuration cannot be used"),
        translated("loading kubeconfig"),
    ):
        raise ConfigException("Invalid kube-config file. No configuration found.")

    assert raised.value.__cause__ is original
