"""Configuration: settings from the environment, clusters and policies from SSM, secrets from Secrets Manager.

Everything is validated once at cold start; a missing or bad value raises ConfigError naming it. Secrets are
read from Secrets Manager at run time and never appear in the environment or in logs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import timedelta
from typing import Annotated, Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from pydantic import AfterValidator, AliasChoices, BeforeValidator, Field, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from csrgate.domain.cluster import ClusterConfig, ClusterConfigError, read_cluster
from csrgate.domain.errors import CsrgateError, PolicyError
from csrgate.domain.policy import Policy, default_policy, load_policy

CACHE_SECONDS = 300
# The first segment of secret names: Secrets Manager's name characters, no "/" (the template's SecretPrefix).
SECRET_PREFIX = re.compile(r"[A-Za-z0-9_+=.@-]{1,128}")  # 128: the longest stack name
ENV_PREFIX = "CSRGATE_"
# As the template does: the SecretPrefix parameter names secrets, or the stack's name when it is empty.
PREFIX_VARIABLE = "CSRGATE_SECRET_PREFIX"
STACK_VARIABLE = "CSRGATE_STACK_NAME"
SHOWN = 80  # characters of a bad value an error repeats


class ConfigError(CsrgateError):
    """Configuration csrgate cannot run with; the message names the setting, parameter or key."""


def _digits(value: object) -> object:
    # pydantic would also read " 30", "+30", "3_0" and "30.0" as an int; a number in the environment is plain digits
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("not a whole number")
    return value


def _config_path(path: str) -> str:
    if not path.startswith("/") or path.endswith("/"):
        raise ValueError("not a parameter path")
    return path


def _secret_prefix(prefix: str) -> str:
    if not SECRET_PREFIX.fullmatch(prefix):
        raise ValueError("not a secret name's first segment")
    return prefix


def _number(unit: str, default: int, most: int, least: int = 0) -> Any:
    """A whole number of `unit`s from `least` to `most`; the description is what an error says of a bad value."""
    return Field(default, ge=least, le=most, description=f"must be a number of {unit} from {least} to {most}")


Whole = Annotated[int, BeforeValidator(_digits)]
Named = Annotated[str, Field(min_length=1)]  # a name or address the template gives
MaybeNamed = Annotated[str | None, BeforeValidator(lambda value: value or None)]  # empty is the same as not set
# What Settings reads: the mapping from_environment was given, else os.environ.
_ENVIRONMENT: ContextVar[Mapping[str, str]] = ContextVar("csrgate_environment")


class Settings(BaseSettings):
    """The function's environment (CSRGATE_*): names and addresses only, never secrets."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    table: Named
    decision_queue_url: Named
    slack_retry_queue_url: Named
    slack_bot_token_secret_id: Named
    config_path: Annotated[str, AfterValidator(_config_path)] = Field(
        "/csrgate", description="must start with / and not end with one"
    )
    slack_api_url: MaybeNamed = None
    retention_days: Whole = _number("days", 400, 3650, least=1)
    # Not a secret, where secrets are named: forwarders' keys under {prefix}/forwarders/, clusters' {prefix}/clusters/
    secret_prefix: Annotated[str, AfterValidator(_secret_prefix)] = Field(
        validation_alias=AliasChoices(PREFIX_VARIABLE, STACK_VARIABLE),
        description="must be a secret name's first segment (letters, digits and _+=.@-, no /)",
    )
    slack_signing_secret_id: MaybeNamed = None  # only the interactions function is given it
    slack_retry_delay_seconds: Whole = _number("seconds", 30, 900)
    signer_wait_seconds: Whole = _number("seconds", 900, 86400)  # how long an approved CSR may wait for its certificate
    signer_look_seconds: Whole = _number("seconds", 10, 40)  # how long one look at the signer may wait before a retry
    remind_after_minutes: Whole = _number("minutes", 60, 1380)
    expire_after_minutes: Whole = _number("minutes", 720, 1380)  # well inside Kubernetes' 24 hours for pending CSRs

    @property
    def retention(self) -> timedelta:
        """How long a request and its audit events are kept."""
        return timedelta(days=self.retention_days)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check the CSRGATE_* variables (the process's, unless a mapping is given)."""
        env = os.environ if environ is None else environ
        # an empty SecretPrefix parameter arrives as an empty variable, which would hide the stack's name
        given = {name: value for name, value in env.items() if value or name != PREFIX_VARIABLE}
        reading = _ENVIRONMENT.set(given)
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigError("; ".join(_named(error, given) for error in exc.errors())) from None
        finally:
            _ENVIRONMENT.reset(reading)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment alone: no keyword arguments, .env file or secrets directory."""
        return (_GivenEnvironment(settings_cls),)


class _GivenEnvironment(EnvSettingsSource):
    """pydantic-settings' environment source, reading the mapping from_environment was given."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # pydantic-settings reads os.environ here and takes no other mapping (pydantic/pydantic-settings#653);
        # its own .env source overrides this method the same way
        environ = _ENVIRONMENT.get(os.environ)
        return parse_env_vars(environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def _named(error: ErrorDetails, env: Mapping[str, str]) -> str:
    """One validation error as an operator reads it: the variable's name and what is wrong with its value."""
    key = str(error["loc"][0])  # the field's name, or the first of its variables when it names them
    field = "secret_prefix" if key == PREFIX_VARIABLE else key
    variable = f"{ENV_PREFIX}{field.upper()}"
    if field == "secret_prefix" and PREFIX_VARIABLE not in env:
        variable = STACK_VARIABLE
    if error["type"] == "missing":
        also = f", nor {PREFIX_VARIABLE}" if variable == STACK_VARIABLE else ""
        return f"the environment variable {variable} is not set{also}"
    if error["input"] == "":
        return f"the environment variable {variable} is empty"
    rule = Settings.model_fields[field].description or f"is wrong ({error['msg']})"
    value = str(error["input"])
    shown = repr(value) if len(value) <= SHOWN else f"{value[:SHOWN]!r}... ({len(value)} characters)"
    return f"{variable} {rule}, not {shown}"


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
