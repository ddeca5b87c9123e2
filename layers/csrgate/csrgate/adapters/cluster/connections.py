"""Connections to a cluster's API: EKS by name, or a kubeconfig or server/CA/token kept in Secrets Manager.

Each connection builds its Kubernetes ApiClient once and keeps it for the life of a warm container (an EKS
token is refreshed before it expires; a secret is read again after `max_age` seconds so rotation takes effect).

A secret is data, never code. A kubeconfig can make its reader run programs (`exec`, `auth-provider`), read
files (`tokenFile`, `certificate-authority`, `client-certificate`, `client-key`) or give up on TLS
(`insecure-skip-tls-verify`, `proxy-url`); whoever may write one cluster secret would then act as the worker,
with its AWS credentials and every other cluster's. So a kubeconfig is checked field by field before the
Kubernetes client's loader sees it: an https server with inline CA data, and a token or inline client certificate
and key, nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
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
_KUBECONFIG_FIELDS = frozenset(
    {"apiVersion", "kind", "clusters", "users", "contexts", "current-context", "preferences"}
)
_CLUSTER_FIELDS = frozenset({"server", "certificate-authority-data", "extensions"})
_USER_FIELDS = frozenset({"token", "client-certificate-data", "client-key-data", "extensions"})
_CONTEXT_FIELDS = frozenset({"cluster", "user", "namespace", "extensions"})
_TOKEN_SECRET_FIELDS = frozenset({"server", "certificateAuthorityData", "token", "name"})
_INLINE = "put the data in the secret instead (certificate-authority-data, token, client-certificate-data)"
# Why a field is refused, for the fields kubeconfigs commonly carry; any other field is refused as unknown.
_REFUSED_BECAUSE = {
    "exec": "it runs a program; put a token or client-certificate-data and client-key-data in the secret, or use "
    "kind: eks for EKS",
    "auth-provider": "it runs a program or calls an identity provider; put a token or client-certificate-data and "
    "client-key-data in the secret",
    "tokenFile": f"it reads a file where the worker runs; {_INLINE}",
    "certificate-authority": f"it reads a file where the worker runs; {_INLINE}",
    "client-certificate": f"it reads a file where the worker runs; {_INLINE}",
    "client-key": f"it reads a file where the worker runs; {_INLINE}",
    "insecure-skip-tls-verify": "the worker always verifies the API server with certificate-authority-data",
    "proxy-url": "the worker connects to the API server directly",
    "username": "basic authentication is not used; put a token or a client certificate in the secret",
    "password": "basic authentication is not used; put a token or a client certificate in the secret",
}
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
        source = f"the cluster secret {self._secret_id}"
        if "server" in document:
            _refuse_other_fields(document, _TOKEN_SECRET_FIELDS, source, "")
            return TokenConnection(_endpoint_from_fields(document, source, self._name), document.get("token"))
        return KubeconfigConnection(document, name=self._name, source=source)


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
    """A cluster described by a kubeconfig holding only data (see the module's docstring), loaded by the
    Kubernetes client's own loader once it is known to run nothing and read no file."""

    def __init__(
        self,
        kubeconfig: dict[str, Any],
        context: str | None = None,
        name: str | None = None,
        source: str = "kubeconfig",
    ) -> None:
        context_name = _check_kubeconfig(kubeconfig, context, source)
        with translated(f"loading {source}"):
            loader = KubeConfigLoader(config_dict=kubeconfig, active_context=context_name)
            configuration = Configuration()
            loader.load_and_set(configuration)
        configuration.retries = _CONNECT_RETRIES
        self._client = ApiClient(configuration)
        self._endpoint = _endpoint_from_kubeconfig(kubeconfig, context_name, name, source)

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


def _check_kubeconfig(document: dict[str, Any], context: str | None, source: str) -> str:
    """The name of the context to use, once every entry is known to hold only data; else PermanentFailure naming
    the field and where it is."""
    _refuse_other_fields(document, _KUBECONFIG_FIELDS, source, "")
    entries = {kind: _named_entries(document, kind, source) for kind in ("clusters", "users", "contexts")}
    allowed = {"clusters": _CLUSTER_FIELDS, "users": _USER_FIELDS, "contexts": _CONTEXT_FIELDS}
    for kind, named in entries.items():
        for entry_name, fields in named.items():
            _refuse_other_fields(fields, allowed[kind], source, f" ({kind[:-1]} {entry_name!r})")
    context_name = context or document.get("current-context")
    chosen = entries["contexts"].get(str(context_name))
    if chosen is None:
        raise PermanentFailure(f"{source}: the context {context_name!r} is not among its contexts")
    cluster, user = entries["clusters"].get(str(chosen.get("cluster"))), entries["users"].get(str(chosen.get("user")))
    if cluster is None or user is None:
        raise PermanentFailure(f"{source}: the context {context_name!r} names a cluster or user it does not hold")
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith("https://"):
        raise PermanentFailure(f"{source}: server must be an https:// URL")
    if not isinstance(cluster.get("certificate-authority-data"), str):
        raise PermanentFailure(f"{source}: certificate-authority-data (base64 PEM) is missing")
    certificate, key = user.get("client-certificate-data"), user.get("client-key-data")
    if not (isinstance(user.get("token"), str) and user["token"]) and not (certificate and key):
        raise PermanentFailure(
            f"{source}: the user needs a token or client-certificate-data and client-key-data, inline"
        )
    return str(context_name)


def _named_entries(document: dict[str, Any], kind: str, source: str) -> dict[str, dict[str, Any]]:
    """`clusters`, `users` or `contexts` as {name: fields}; a malformed or repeated entry is refused."""
    field = {"clusters": "cluster", "users": "user", "contexts": "context"}[kind]
    entries = document.get(kind) or []
    if not isinstance(entries, list):
        raise PermanentFailure(f"{source}: {kind} must be a list")
    named: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get(field) or {}, dict):
            raise PermanentFailure(f"{source}: every entry of {kind} must have a name and a {field} mapping")
        _refuse_other_fields(entry, frozenset({"name", field}), source, f" ({kind})")
        entry_name = str(entry.get("name"))
        if entry_name in named:
            raise PermanentFailure(f"{source}: {kind} holds {entry_name!r} twice")
        named[entry_name] = dict(entry.get(field) or {})
    return named


def _refuse_other_fields(fields: dict[str, Any], allowed: frozenset[str], source: str, where: str) -> None:
    for field in fields:
        if field not in allowed:
            why = _REFUSED_BECAUSE.get(str(field), f"only {', '.join(sorted(allowed))} are read")
            raise PermanentFailure(f"{source}: {field} is not accepted{where}: {why}")


def _endpoint_from_kubeconfig(
    document: dict[str, Any], context_name: str, name: str | None, source: str
) -> ClusterEndpoint:
    try:
        context = next(c["context"] for c in document["contexts"] if c["name"] == context_name)
        cluster_name = context["cluster"]
        cluster = next(c["cluster"] for c in document["clusters"] if c["name"] == cluster_name)
        server = cluster["server"]
        ca_pem = base64.b64decode(cluster["certificate-authority-data"], validate=True)
    except (KeyError, StopIteration, TypeError, binascii.Error, ValueError) as exc:
        raise PermanentFailure(f"{source}: its current context names no cluster with a server and CA") from exc
    return ClusterEndpoint(name or cluster_name, server, ca_pem)


def _host(server: str) -> str:
    return server.removeprefix("https://").split("/", 1)[0].split(":", 1)[0]
