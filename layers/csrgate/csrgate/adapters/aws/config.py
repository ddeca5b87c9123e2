"""Configuration: settings from the environment, clusters and policies from SSM, secrets from Secrets Manager.

Everything is validated once at cold start; a missing or bad value raises ConfigError naming it. Secrets are
read from Secrets Manager at run time and never appear in the environment or in logs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from csrgate.domain.cluster import ClusterConfig, ClusterConfigError, read_cluster
from csrgate.domain.errors import CsrgateError, PolicyError
from csrgate.domain.policy import Policy, default_policy, load_policy

CACHE_SECONDS = 300
# The first segment of secret names: Secrets Manager's name characters, no "/" (the template's SecretPrefix).
SECRET_PREFIX = re.compile(r"[A-Za-z0-9_+=.@-]{1,128}")  # 128: the longest stack name


class ConfigError(CsrgateError):
    """Configuration csrgate cannot run with; the message names the setting, parameter or key."""


@dataclass(frozen=True)
class Settings:
    """The function's environment: names and addresses only, never secrets."""

    table: str
    decision_queue_url: str
    slack_retry_queue_url: str
    config_path: str
    slack_bot_token_secret_id: str
    slack_api_url: str | None
    retention: timedelta
    # Not a secret, where secrets are named: forwarders' keys under {prefix}/forwarders/, clusters' {prefix}/clusters/
    secret_prefix: str = "csrgate"  # noqa: S105
    slack_signing_secret_id: str | None = None  # only the interactions function is given it
    slack_retry_delay_seconds: int = 30
    signer_wait_seconds: int = 900  # how long an approved CSR may wait for its certificate
    signer_look_seconds: int = 10  # how long one look at the signer may wait before trying again later
    remind_after_minutes: int = 60
    expire_after_minutes: int = 720  # well inside Kubernetes' 24 hours for pending CSRs

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check the CSRGATE_* variables."""
        env = os.environ if environ is None else environ
        days = _required(env, "CSRGATE_RETENTION_DAYS", "400")
        if not days.isdigit() or not 1 <= int(days) <= 3650:
            raise ConfigError(f"CSRGATE_RETENTION_DAYS must be a number of days from 1 to 3650, not {days!r}")
        path = _required(env, "CSRGATE_CONFIG_PATH", "/csrgate")
        if not path.startswith("/") or path.endswith("/"):
            raise ConfigError(f"CSRGATE_CONFIG_PATH must start with / and not end with one, not {path!r}")
        # as the template does: the SecretPrefix parameter, or the stack's name when it is empty
        prefix_variable = "CSRGATE_SECRET_PREFIX" if env.get("CSRGATE_SECRET_PREFIX") else "CSRGATE_STACK_NAME"
        prefix = _required(env, prefix_variable)
        if not SECRET_PREFIX.fullmatch(prefix):
            raise ConfigError(
                f"{prefix_variable} must be a secret name's first segment (letters, digits and _+=.@-, no /), "
                f"not {prefix!r}"
            )
        return cls(
            table=_required(env, "CSRGATE_TABLE"),
            decision_queue_url=_required(env, "CSRGATE_DECISION_QUEUE_URL"),
            slack_retry_queue_url=_required(env, "CSRGATE_SLACK_RETRY_QUEUE_URL"),
            config_path=path,
            slack_bot_token_secret_id=_required(env, "CSRGATE_SLACK_BOT_TOKEN_SECRET_ID"),
            slack_api_url=env.get("CSRGATE_SLACK_API_URL") or None,
            retention=timedelta(days=int(days)),
            secret_prefix=prefix,
            slack_signing_secret_id=env.get("CSRGATE_SLACK_SIGNING_SECRET_ID") or None,
            slack_retry_delay_seconds=_seconds(env, "CSRGATE_SLACK_RETRY_DELAY_SECONDS", "30", most=900),
            signer_wait_seconds=_seconds(env, "CSRGATE_SIGNER_WAIT_SECONDS", "900", most=86400),
            signer_look_seconds=_seconds(env, "CSRGATE_SIGNER_LOOK_SECONDS", "10", most=40),
            remind_after_minutes=_seconds(env, "CSRGATE_REMIND_AFTER_MINUTES", "60", most=1380),
            expire_after_minutes=_seconds(env, "CSRGATE_EXPIRE_AFTER_MINUTES", "720", most=1380),
        )


def _seconds(env: Mapping[str, str], name: str, default: str, most: int) -> int:
    """A whole number from 0 to `most` (seconds or minutes, as the variable's name says)."""
    value = env.get(name, default)
    if not value.isascii() or not value.isdigit() or int(value) > most:
        unit = "minutes" if name.endswith("MINUTES") else "seconds"
        raise ConfigError(f"{name} must be a number of {unit} from 0 to {most}, not {value!r}")
    return int(value)


def _required(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, default)
    if not value:
        raise ConfigError(f"the environment variable {name} is not set")
    return value


class ParameterClusterDirectory:
    """Clusters from SSM parameters `{path}/clusters/{name}` and policies from `{path}/policies/{name}`.

    Each parameter holds one YAML or JSON document. All clusters are loaded and checked when this is built
    (cold start); a parameter is parsed again only when its text changes (SSM values are cached for a few minutes).
    """

    def __init__(self, ssm: SSMProvider, path: str, secret_prefix: str, max_age: int = CACHE_SECONDS) -> None:
        self._ssm = ssm
        self._path = path
        self._secret_prefix = secret_prefix
        self._max_age = max_age
        self._parsed_clusters: dict[str, tuple[str, ClusterConfig]] = {}
        self._parsed_policies: dict[str, tuple[str, Policy]] = {}
        self._load_clusters()

    def get(self, name: str) -> ClusterConfig | None:
        """A cluster's configuration, or None when it is not configured."""
        return self._load_clusters().get(name)

    def all(self) -> tuple[ClusterConfig, ...]:
        """Every configured cluster, by name."""
        clusters = self._load_clusters()
        return tuple(clusters[name] for name in sorted(clusters))

    def check_policies(self) -> None:
        """Read every cluster's policy now, so a bad one fails the cold start (only intake needs policies)."""
        for cluster in self._load_clusters().values():
            self.policy_for(cluster)

    def policy_for(self, cluster: ClusterConfig) -> Policy:
        """The cluster's named policy, or the built-in one."""
        if cluster.policy is None:
            return default_policy()
        name = f"{self._path}/policies/{cluster.policy}"
        try:
            text = str(self._ssm.get(name, max_age=self._max_age, decrypt=True))
        except GetParameterError as exc:
            raise ConfigError(f"cluster {cluster.name}: its policy parameter {name} cannot be read ({exc})") from None
        parsed = self._parsed_policies.get(name)
        if parsed is None or parsed[0] != text:
            try:
                parsed = (text, load_policy(text, name))
            except PolicyError as exc:
                raise ConfigError(str(exc)) from None
            self._parsed_policies[name] = parsed
        return parsed[1]

    def _load_clusters(self) -> dict[str, ClusterConfig]:
        prefix = f"{self._path}/clusters"
        try:
            values = self._ssm.get_multiple(prefix, max_age=self._max_age, recursive=False, decrypt=True)
        except GetParameterError as exc:
            raise ConfigError(f"the cluster parameters under {prefix} cannot be read ({exc})") from None
        clusters = {}
        for key, raw in dict(values).items():
            text = str(raw)
            parsed = self._parsed_clusters.get(key)
            if parsed is None or parsed[0] != text:
                parameter = f"{prefix}/{key}"
                cluster = _cluster(parameter, text, self._secret_prefix)
                if cluster.name != key:
                    raise ConfigError(f"{parameter}: name is {cluster.name!r} but the parameter is named {key!r}")
                parsed = (text, cluster)
                self._parsed_clusters[key] = parsed
            clusters[key] = parsed[1]
        return clusters


def _cluster(parameter: str, text: str, secret_prefix: str) -> ClusterConfig:
    try:
        return read_cluster(text, parameter, secret_prefix)
    except ClusterConfigError as exc:
        raise ConfigError(str(exc)) from None


class SecretReader:
    """Secrets from Secrets Manager, cached for a few minutes so rotation reaches warm containers."""

    def __init__(self, provider: SecretsProvider, max_age: int = CACHE_SECONDS) -> None:
        self._provider = provider
        self._max_age = max_age

    def json(self, secret_id: str, *keys: str) -> dict[str, Any]:
        """A JSON secret that must hold the given keys."""
        value = self._get(secret_id, transform="json")
        if not isinstance(value, dict):
            raise ConfigError(f"secret {secret_id} must be a JSON object")
        missing = [key for key in keys if not isinstance(value.get(key), str) or not value.get(key)]
        if missing:
            raise ConfigError(f"secret {secret_id} lacks {', '.join(missing)}")
        return value

    def text(self, secret_id: str) -> str:
        """A plain string secret."""
        value = self._get(secret_id, transform=None)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"secret {secret_id} is empty")
        return value

    def credential(self, secret_id: str, what: str) -> str:
        """A secret holding one credential alone (a token, a signing secret), surrounding whitespace ignored."""
        value = self.text(secret_id).strip()
        if not value:
            raise ConfigError(f"secret {secret_id} is empty")
        if value.startswith(("{", "[")):
            raise ConfigError(f"secret {secret_id} must hold the {what} alone, not JSON")
        return value

    def _get(self, secret_id: str, transform: Any) -> Any:
        try:
            return self._provider.get(secret_id, max_age=self._max_age, transform=transform)
        except Exception as exc:  # Powertools raises GetParameterError or TransformParameterError
            raise ConfigError(f"secret {secret_id} cannot be read ({type(exc).__name__})") from None
