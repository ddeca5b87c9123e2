"""Connections to a cluster's API: EKS by name, or a kubeconfig or server/CA/token kept in Secrets Manager.

Each connection builds its Kubernetes ApiClient once and keeps it for the life of a warm container (an EKS
token is refreshed before it expires; a secret is read again after `max_age` seconds so rotation takes effect).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import yaml
from kubernetes.client import ApiClient, Configuration
from kubernetes.config.kube_config import KubeConfigLoader
from urllib3.util.retry import Retry

from csrgate.adapters.cluster.eks import EksTokenSource, describe_eks_cluster
from csrgate.adapters.cluster.errors import translated
from csrgate.domain.errors import PermanentFailure
from csrgate.domain.kubeconfig import ClusterEndpoint

SECRET_MAX_AGE_SECONDS = 15 * 60
# Retry only establishing a connection: a request that reached the server is never sent twice by urllib3.
_CONNECT_RETRIES = Retry(total=2, connect=2, read=0, redirect=0, status=0, other=0, backoff_factor=0.2)


class ClusterConnection(Protocol):
    """What the CSR adapter needs from a cluster: an API client, and where the API is for kubeconfigs."""

    def api_client(self) -> ApiClient:
        """A configured client for the cluster's API."""
        ...

    def endpoint(self) -> ClusterEndpoint:
        """The cluster's name, API server URL and CA."""
        ...


class EksConnection:
    """An EKS cluster: DescribeCluster once per container, a fresh `aws eks get-token` token as needed."""

    def __init__(self, cluster_name: str, eks_client: Any, sts_client: Any, clock: Callable[[], float] = time.time):
        self._cluster_name = cluster_name
        self._eks = eks_client
        self._tokens = EksTokenSource(sts_client, cluster_name, clock)
        self._endpoint: ClusterEndpoint | None = None
        self._client: ApiClient | None = None
        self._lock = threading.Lock()

    def endpoint(self) -> ClusterEndpoint:
        """The endpoint and CA, described once."""
        with self._lock:
            if self._endpoint is None:
                self._endpoint = describe_eks_cluster(self._eks, self._cluster_name)
            return self._endpoint

    def api_client(self) -> ApiClient:
        """A client whose bearer token is refreshed before every request that needs it."""
        endpoint = self.endpoint()
        with self._lock:
            if self._client is None:
                self._client = token_client(endpoint, self._tokens.token)
            return self._client


class SecretConnection:
    """A cluster described by a Secrets Manager secret holding either a kubeconfig (YAML or JSON), or JSON
    `{"server": URL, "certificateAuthorityData": base64 PEM, "token": bearer token}` (optionally `"name"`)."""

    def __init__(
        self,
        secrets_client: Any,
        secret_id: str,
        name: str | None = None,
        clock: Callable[[], float] = time.time,
        max_age: float = SECRET_MAX_AGE_SECONDS,
    ) -> None:
        self._secrets = secrets_client
        self._secret_id = secret_id
        self._name = name
        self._clock = clock
        self._max_age = max_age
        self._loaded: tuple[float, ClusterConnection] | None = None
        self._lock = threading.Lock()

    def endpoint(self) -> ClusterEndpoint:
        """The endpoint the secret describes."""
        return self._connection().endpoint()

    def api_client(self) -> ApiClient:
        """A client with the secret's credentials."""
        return self._connection().api_client()

    def _connection(self) -> ClusterConnection:
        with self._lock:
            now = self._clock()
            if self._loaded is None or now - self._loaded[0] >= self._max_age:
                self._loaded = (now, self._read())
            return self._loaded[1]

    def _read(self) -> ClusterConnection:
        with translated(f"reading the cluster secret {self._secret_id}"):
            text = self._secrets.get_secret_value(SecretId=self._secret_id).get("SecretString")
        if not text:
            raise PermanentFailure(f"the cluster secret {self._secret_id} holds no text")
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PermanentFailure(f"the cluster secret {self._secret_id} is neither JSON nor YAML") from exc
        if not isinstance(document, dict):
            raise PermanentFailure(f"the cluster secret {self._secret_id} is not a mapping")
        if "server" in document:
            return TokenConnection(_endpoint_from_fields(document, self._secret_id, self._name), document.get("token"))
        return KubeconfigConnection(document, name=self._name, source=f"the cluster secret {self._secret_id}")


class TokenConnection:
    """A cluster reached with a fixed bearer token."""

    def __init__(self, endpoint: ClusterEndpoint, token: object) -> None:
        if not isinstance(token, str) or not token:
            raise PermanentFailure(f"no bearer token for cluster {endpoint.name}")
        self._endpoint = endpoint
        self._client = token_client(endpoint, lambda: token)

    def endpoint(self) -> ClusterEndpoint:
        """The endpoint."""
        return self._endpoint

    def api_client(self) -> ApiClient:
        """The client."""
        return self._client


class KubeconfigConnection:
    """A cluster described by a kubeconfig, loaded by the Kubernetes client's own loader."""

    def __init__(
        self,
        kubeconfig: dict[str, Any],
        context: str | None = None,
        name: str | None = None,
        source: str = "kubeconfig",
        base_path: Path | None = None,
    ) -> None:
        with translated(f"loading {source}"):
            loader = KubeConfigLoader(
                config_dict=kubeconfig, active_context=context, config_base_path=str(base_path or "")
            )
            configuration = Configuration()
            loader.load_and_set(configuration)
            context_name = str(loader.current_context["name"])
        configuration.retries = _CONNECT_RETRIES
        self._client = ApiClient(configuration)
        self._endpoint = _endpoint_from_kubeconfig(kubeconfig, context_name, name, source, base_path)

    @classmethod
    def from_file(cls, path: Path, context: str | None = None, name: str | None = None) -> KubeconfigConnection:
        """From a kubeconfig file."""
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise PermanentFailure(f"{path} is not a kubeconfig")
        return cls(document, context, name, str(path), path.parent)

    def endpoint(self) -> ClusterEndpoint:
        """The current context's cluster."""
        return self._endpoint

    def api_client(self) -> ApiClient:
        """The client."""
        return self._client


def token_client(endpoint: ClusterEndpoint, token: Callable[[], str]) -> ApiClient:
    """An ApiClient for the endpoint that asks `token` for the bearer token before each request."""
    configuration = Configuration()
    configuration.host = endpoint.server
    configuration.ssl_ca_cert = ca_file(endpoint.ca_pem)
    configuration.api_key_prefix = {"authorization": "Bearer"}
    configuration.api_key = {"authorization": ""}
    configuration.refresh_api_key_hook = lambda conf: conf.api_key.update(authorization=token())
    configuration.retries = _CONNECT_RETRIES
    return ApiClient(configuration)


def ca_file(ca_pem: bytes) -> str:
    """The CA written to a file named by its hash (the client's TLS settings take a path; /tmp in Lambda)."""
    path = Path(tempfile.gettempdir()) / f"csrgate-ca-{hashlib.sha256(ca_pem).hexdigest()[:32]}.crt"
    if not path.exists():
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_bytes(ca_pem)
        temporary.replace(path)
    return str(path)


def _endpoint_from_fields(document: dict[str, Any], source: str, name: str | None) -> ClusterEndpoint:
    server, ca_data = document.get("server"), document.get("certificateAuthorityData")
    if not isinstance(server, str) or not server.startswith("https://"):
        raise PermanentFailure(f"{source}: server must be an https:// URL")
    if not isinstance(ca_data, str):
        raise PermanentFailure(f"{source}: certificateAuthorityData (base64 PEM) is missing")
    try:
        ca_pem = base64.b64decode(ca_data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PermanentFailure(f"{source}: certificateAuthorityData is not base64") from exc
    return ClusterEndpoint(name or str(document.get("name") or _host(server)), server, ca_pem)


def _endpoint_from_kubeconfig(
    document: dict[str, Any], context_name: str, name: str | None, source: str, base_path: Path | None
) -> ClusterEndpoint:
    try:
        context = next(c["context"] for c in document["contexts"] if c["name"] == context_name)
        cluster_name = context["cluster"]
        cluster = next(c["cluster"] for c in document["clusters"] if c["name"] == cluster_name)
        server = cluster["server"]
        if "certificate-authority-data" in cluster:
            ca_pem = base64.b64decode(cluster["certificate-authority-data"])
        else:
            ca_pem = ((base_path or Path()) / cluster["certificate-authority"]).read_bytes()
    except (KeyError, StopIteration, TypeError, OSError, binascii.Error, ValueError) as exc:
        raise PermanentFailure(f"{source}: its current context names no cluster with a server and CA") from exc
    return ClusterEndpoint(name or cluster_name, server, ca_pem)


def _host(server: str) -> str:
    return server.removeprefix("https://").split("/", 1)[0].split(":", 1)[0]


def json_secret(server: str, ca_pem: bytes, token: str, name: str | None = None) -> str:
    """The JSON form of a cluster secret (what operators store for a token-based cluster)."""
    secret = {"server": server, "certificateAuthorityData": base64.b64encode(ca_pem).decode("ascii"), "token": token}
    if name:
        secret["name"] = name
    return json.dumps(secret)
