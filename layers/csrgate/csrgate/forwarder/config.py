"""The forwarder's settings, read from environment variables and checked once at start.

A missing or bad value raises ConfigError whose message names the variable, so the pod's last log line says
what to fix. The HMAC key is never an environment value: it is read from a file (a mounted Secret).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from csrgate.domain.cluster import CLUSTER_NAME
from csrgate.domain.errors import CsrgateError
from csrgate.domain.policy import default_policy

MIN_HMAC_KEY_CHARACTERS = 32  # docs/forwarder-protocol.md: at least 32 random bytes (`openssl rand -hex 32` gives 64)
ALL_SIGNERS = "*"
_SIGNER_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
_EXECUTE_API_HOST = re.compile(r"[a-z0-9]+\.execute-api\.(?P<region>[a-z]{2}(-[a-z]+)+-\d+)\.amazonaws\.com(\.cn)?")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# csrgate alarms after 15 minutes without a heartbeat (docs/forwarder-protocol.md): at most half of that, so one
# lost heartbeat does not raise the alarm; at least 10 s, so a value meant as minutes is not taken as seconds.
HEARTBEAT_SECONDS = (10, 450)

Auth = Literal["iam", "hmac"]
_N = TypeVar("_N", int, float)


class ConfigError(CsrgateError):
    """A setting the forwarder cannot run with; the message names the environment variable."""


@dataclass(frozen=True)
class KubeAccess:
    """How to reach the cluster API: a kubeconfig file, or the pod's in-cluster service account."""

    kubeconfig: Path | None  # None: in-cluster

    @property
    def in_cluster(self) -> bool:
        """Whether the pod's service account token and CA are used."""
        return self.kubeconfig is None


@dataclass(frozen=True)
class ForwarderConfig:
    """Everything the forwarder needs, validated; secrets are referenced by file, never held here."""

    api_url: str
    cluster: str
    auth: Auth
    hmac_key_file: Path | None
    aws_region: str | None
    signers: frozenset[str] | None  # None: every signer
    kube: KubeAccess
    queue_size: int = 1000
    senders: int = 4
    request_timeout: float = 10.0
    retry_base: float = 0.5
    retry_cap: float = 60.0
    watch_timeout: int = 300
    drain_seconds: float = 20.0
    http_address: str = "0.0.0.0"  # noqa: S104 - the probes and metrics must reach the kubelet and Prometheus
    http_port: int = 8080
    log_level: str = "INFO"
    heartbeat_seconds: int = 300  # 0: no heartbeats

    @property
    def events_url(self) -> str:
        """The route the configured authentication posts to (docs/forwarder-protocol.md)."""
        route = "/v1/csr-events" if self.auth == "iam" else "/v1/hmac/csr-events"
        return self.api_url.rstrip("/") + route


def load_config(environ: Mapping[str, str] | None = None) -> ForwarderConfig:
    """Read and check every setting; raise ConfigError naming the first bad one."""
    env = os.environ if environ is None else environ
    if env.get("CSRGATE_HMAC_KEY"):
        raise ConfigError(
            "CSRGATE_HMAC_KEY is not read: mount the key as a file (a Secret) and set CSRGATE_HMAC_KEY_FILE to it"
        )
    api_url = _api_url(env)
    auth = _auth(env)
    return ForwarderConfig(
        api_url=api_url,
        cluster=_cluster(env),
        auth=auth,
        hmac_key_file=_hmac_key_file(env) if auth == "hmac" else None,
        aws_region=_aws_region(env, api_url) if auth == "iam" else None,
        signers=_signers(env),
        kube=_kube_access(env),
        queue_size=_number(env, "CSRGATE_QUEUE_SIZE", int, 1000, 1, 100_000),
        senders=_number(env, "CSRGATE_SENDERS", int, 4, 1, 64),
        request_timeout=_number(env, "CSRGATE_REQUEST_TIMEOUT_SECONDS", float, 10.0, 0.1, 300.0),
        retry_base=_number(env, "CSRGATE_RETRY_BASE_SECONDS", float, 0.5, 0.01, 60.0),
        retry_cap=_number(env, "CSRGATE_RETRY_MAX_SECONDS", float, 60.0, 0.01, 3600.0),
        watch_timeout=_number(env, "CSRGATE_WATCH_TIMEOUT_SECONDS", int, 300, 1, 3600),
        drain_seconds=_number(env, "CSRGATE_DRAIN_SECONDS", float, 20.0, 0.0, 3600.0),
        http_address=env.get("CSRGATE_HTTP_ADDRESS") or "0.0.0.0",  # noqa: S104 - as above
        http_port=_number(env, "CSRGATE_HTTP_PORT", int, 8080, 0, 65535),
        log_level=_log_level(env),
        heartbeat_seconds=_heartbeat_seconds(env),
    )


def read_hmac_key(path: Path) -> bytes:
    """The HMAC key in a file: its text without surrounding white space, as UTF-8 (as intake reads the secret)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"CSRGATE_HMAC_KEY_FILE {str(path)!r} cannot be read ({type(exc).__name__})") from None
    if len(text) < MIN_HMAC_KEY_CHARACTERS:
        raise ConfigError(
            f"CSRGATE_HMAC_KEY_FILE {str(path)!r} holds fewer than {MIN_HMAC_KEY_CHARACTERS} characters; "
            "make one with `openssl rand -hex 32`"
        )
    return text.encode("utf-8")


def managed_signers() -> frozenset[str]:
    """The signers csrgate's built-in policy manages: the forwarder's default filter."""
    return frozenset(name for name, rules in default_policy().signers.items() if rules.managed)


def _required(env: Mapping[str, str], name: str) -> str:
    value = (env.get(name) or "").strip()
    if not value:
        raise ConfigError(f"{name} is required")
    return value


def _api_url(env: Mapping[str, str]) -> str:
    url = _required(env, "CSRGATE_API_URL")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"CSRGATE_API_URL must be the API's base URL, https://host[/path], not {url!r}")
    # Events carry CSRs and signatures: only a sender and receiver on the same machine may skip TLS.
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ConfigError(f"CSRGATE_API_URL must use https (plain http only for a loopback address), not {url!r}")
    return url


def _auth(env: Mapping[str, str]) -> Auth:
    value = _required(env, "CSRGATE_AUTH")
    if value == "iam":
        return "iam"
    if value == "hmac":
        return "hmac"
    raise ConfigError(f"CSRGATE_AUTH must be iam or hmac, not {value!r}")


def _cluster(env: Mapping[str, str]) -> str:
    name = _required(env, "CSRGATE_CLUSTER")
    if not CLUSTER_NAME.fullmatch(name):
        raise ConfigError(f"CSRGATE_CLUSTER must be the cluster's name in csrgate (a DNS label), not {name!r}")
    return name


def _hmac_key_file(env: Mapping[str, str]) -> Path:
    path = Path(_required(env, "CSRGATE_HMAC_KEY_FILE"))
    read_hmac_key(path)  # fail at start, not at the first CSR
    return path


def _aws_region(env: Mapping[str, str], api_url: str) -> str:
    # IRSA's webhook sets AWS_REGION; Pod Identity does not, so the API's own host name is the next best source.
    for name in ("CSRGATE_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        value = (env.get(name) or "").strip()
        if value:
            if not _REGION.fullmatch(value):
                raise ConfigError(f"{name} must be an AWS region such as eu-west-1, not {value!r}")
            return value
    match = _EXECUTE_API_HOST.fullmatch(urlsplit(api_url).hostname or "")
    if match is None:
        raise ConfigError("CSRGATE_AWS_REGION is required with CSRGATE_AUTH=iam when the API URL names no region")
    return match.group("region")


def _signers(env: Mapping[str, str]) -> frozenset[str] | None:
    value = (env.get("CSRGATE_SIGNERS") or "").strip()
    if not value:
        return managed_signers()
    if value == ALL_SIGNERS:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    for name in names:
        if not _SIGNER_NAME.fullmatch(name):
            raise ConfigError(f"CSRGATE_SIGNERS: {name!r} is not a signer name (domain/path), or use * for all")
    if not names:
        raise ConfigError("CSRGATE_SIGNERS names no signer")
    return frozenset(names)


def _kube_access(env: Mapping[str, str]) -> KubeAccess:
    kubeconfig = (env.get("KUBECONFIG") or "").strip()
    if kubeconfig:
        if os.pathsep in kubeconfig:
            raise ConfigError("KUBECONFIG must name one file (the forwarder does not merge several)")
        path = Path(kubeconfig)
        if not path.is_file():
            raise ConfigError(f"KUBECONFIG {kubeconfig!r} is not a readable file")
        return KubeAccess(path)
    if env.get("KUBERNETES_SERVICE_HOST") and env.get("KUBERNETES_SERVICE_PORT"):
        return KubeAccess(None)
    raise ConfigError("KUBECONFIG is required outside a cluster (in a pod, the service account is used)")


def _number(env: Mapping[str, str], name: str, kind: Callable[[str], _N], default: _N, low: _N, high: _N) -> _N:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high or value != value:  # value != value: NaN
        unit = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name} must be {unit} from {low} to {high}, not {text!r}")
    return value


def _log_level(env: Mapping[str, str]) -> str:
    level = (env.get("CSRGATE_LOG_LEVEL") or "INFO").strip().upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"CSRGATE_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, not {level!r}")
    return level


def _heartbeat_seconds(env: Mapping[str, str]) -> int:
    name, (low, high) = "CSRGATE_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS
    try:
        seconds = _number(env, name, int, 300, 0, high)
    except ConfigError:
        seconds = -1
    if seconds == 0 or low <= seconds <= high:
        return seconds
    text = (env.get(name) or "").strip()
    raise ConfigError(f"{name} must be 0 (off) or a whole number from {low} to {high}, not {text!r}")
