"""The cluster side: list and watch CertificateSigningRequests with the official `kubernetes` client.

Objects are passed on as the JSON the API server sent (the protocol's `object` is the CSR "exactly as the
Kubernetes API returned it"), so nothing is lost or renamed by the client's models. Client errors become
Expired (410 Gone) or RetryLater (anything else: the API server is restarting, unreachable or refusing).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from csrgate.domain.errors import RetryLater
from csrgate.forwarder.config import ConfigError, KubeAccess
from csrgate.forwarder.source import CsrList, Expired, WatchEvent

PAGE_SIZE = 500  # as client-go's reflector pages its initial list
CONNECT_TIMEOUT = 10.0
LIST_TIMEOUT = 60.0
# A watch with no traffic past its own timeout (bookmarks come about every minute) is a dead connection.
WATCH_READ_GRACE = 30.0
GONE = 410


def api_client(access: KubeAccess) -> client.ApiClient:
    """An API client for the pod's service account, or for the kubeconfig file; ConfigError naming the source."""
    try:
        if access.kubeconfig is None:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        return config.new_client_from_config(config_file=str(access.kubeconfig))
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        source = "the in-cluster service account" if access.in_cluster else f"KUBECONFIG {str(access.kubeconfig)!r}"
        raise ConfigError(f"{source} cannot be used: {exc}") from None


API_VERSION = "certificates.k8s.io/v1"
KIND = "CertificateSigningRequest"


class KubernetesCsrApi:
    """CsrApi over the Kubernetes API."""

    def __init__(self, api: client.ApiClient, page_size: int = PAGE_SIZE) -> None:
        self._csrs = client.CertificatesV1Api(api)
        self._page_size = page_size

    def list(self) -> CsrList:
        """Every CSR, page by page; all pages belong to the first page's snapshot."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        version = ""
        while True:
            page = self._call_list(token)
            # List items carry no apiVersion or kind; the list does. Fill them in, as kubectl does, so each item
            # is the object the watch would send and intake's schema accepts it.
            items += [
                {"apiVersion": API_VERSION, "kind": KIND, **item}
                for item in page.get("items") or []
                if isinstance(item, dict)
            ]
            metadata = page.get("metadata") or {}
            version = version or str(metadata.get("resourceVersion") or "")
            token = metadata.get("continue") or None
            if token is None:
                return CsrList(items, version)

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[WatchEvent]:
        """Changes after `resource_version`, with bookmarks, until the server's timeout ends the stream."""
        # return_type "object" keeps each event's object as plain JSON instead of a client model.
        stream = watch.Watch(return_type="object").stream(
            self._csrs.list_certificate_signing_request,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,  # also stops the client's own one-shot retry after a 410
            _request_timeout=(CONNECT_TIMEOUT, timeout_seconds + WATCH_READ_GRACE),
        )
        try:
            for raw in stream:
                yield WatchEvent(str(raw["type"]), raw["raw_object"])
        except ApiException as exc:
            raise _translated(exc, "watch") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RetryLater(f"watch: {type(exc).__name__}: {exc}") from None
        finally:
            stream.close()

    def _call_list(self, token: str | None) -> dict[str, Any]:
        try:
            response = self._csrs.list_certificate_signing_request(
                limit=self._page_size,
                _continue=token,
                _preload_content=False,
                _request_timeout=(CONNECT_TIMEOUT, LIST_TIMEOUT),
            )
            page = json.loads(response.data)
        except ApiException as exc:
            raise _translated(exc, "list") from None
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise RetryLater(f"list: {type(exc).__name__}: {exc}") from None
        if not isinstance(page, dict):
            raise RetryLater("list: the answer is not a list object")
        return page


def _translated(exc: ApiException, call: str) -> Exception:
    if exc.status == GONE:
        return Expired(f"{call}: {exc.reason}")
    # 401 and 403 too: RBAC applied after the pod, or a rotated token, heal without a restart.
    return RetryLater(f"{call}: HTTP {exc.status} {exc.reason}")
