"""What csrgate knows about each cluster it serves: validated configuration, one document per cluster."""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel

from csrgate.domain.asks import template_problem, username_for
from csrgate.domain.documents import DocumentError, load_document
from csrgate.domain.errors import CsrgateError
from csrgate.domain.grants import MAX_DURATION_SECONDS, MIN_DURATION_SECONDS, parse_duration

# Secrets live under the stack's prefix (the template's SecretPrefix, or the stack's name), given when validating
# as `model_validate(document, context={SECRET_PREFIX_CONTEXT: prefix})`.
SECRET_PREFIX_CONTEXT = "secret_prefix"  # noqa: S105 - a key name, not a secret
DEFAULT_SECRET_PREFIX = "csrgate"  # noqa: S105 - where secrets are named, not a secret
FORWARDER_SECRETS = "forwarders/"
CLUSTER_SECRETS = "clusters/"
CLUSTER_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# A request csrgate cannot tie to the person who will hold the certificate needs at least this many approvers.
MIN_APPROVALS_UNLINKED = 2
_ADMINISTRATIVE_ROLES = frozenset({"cluster-admin", "admin"})  # Kubernetes' built-in roles that can grant further
_NAMESPACE_PATTERN = re.compile(r"[a-z0-9*]([-a-z0-9*]{0,61}[a-z0-9*])?")
_ROLE_ARN = r"^arn:aws[-a-z]*:iam::\d{12}:role/[\w+=,.@/-]+$"  # an IAM role's ARN (anchored: pydantic searches)
# What STS takes as a RoleSessionName (the AssumeRole API reference): 2 to 64 of [\w+=,.@-], \w being ASCII.
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_SESSION_CHARACTERS = re.compile(r"[\w+=,.@-]*", re.ASCII)
_SESSION_CHARACTERS_ONLY = "may hold only letters, digits and _+=,.@- besides {email} or {email_local}, as STS does"
# The placeholders of an EKS access entry's username csrgate fills from a session name, and the prefixes EKS refuses in
# one ("Set a custom username for EKS access entries", EKS user guide).
_ENTRY_PLACEHOLDER = re.compile(r"\{\{(\w*)\}\}")
_ENTRY_PLACEHOLDERS = ("SessionName", "SessionNameRaw")
_ENTRY_RESERVED_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")
_KUBERNETES_RESERVED_PREFIXES = ("system:",)


class ClusterKind(StrEnum):
    """EKS clusters sign only some signers; generic clusters run the in-tree signers."""

    GENERIC = "generic"
    EKS = "eks"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class Approvers(_Config):
    """Who may decide: Slack user IDs and Slack user group IDs."""

    users: tuple[StrictStr, ...] = ()
    groups: tuple[StrictStr, ...] = ()


class Connection(_Config):
    """How the worker reaches the cluster API: EKS by name, or a kubeconfig/server+CA+token in Secrets Manager."""

    # as EKS names clusters: it also names the AWS profile (csrgate-<name>) people paste into ~/.aws/config
    eks_cluster_name: StrictStr | None = Field(default=None, pattern=r"^[0-9A-Za-z][-A-Za-z0-9_]{0,99}$")
    region: StrictStr | None = None
    secret_id: StrictStr | None = None


@dataclass(frozen=True)
class ClusterIdentity:
    """Who a person is on a cluster: the Kubernetes user name csrgate names them by, and on EKS with `access.eks` the
    IAM role session whose name EKS makes that user name of."""

    username: str
    session_name: str | None = None


def is_session_name(text: str) -> bool:
    """Whether STS takes `text` as a role session name: 2 to 64 letters, digits and _+=,.@- (ASCII)."""
    return _SESSION_NAME.fullmatch(text) is not None


def is_reserved_username(username: str, kind: ClusterKind) -> bool:
    """Whether a user name is one Kubernetes keeps for its own identities (system:, service accounts' too), or on EKS
    one of EKS's and AWS's own, which an access entry may not name (eks:, aws:, amazon:, iam:)."""
    return username.startswith(_ENTRY_RESERVED_PREFIXES if kind is ClusterKind.EKS else _KUBERNETES_RESERVED_PREFIXES)


class PersonNaming(_Config):
    """Who a Slack user is on a cluster: the emails that may ask, and the identity their Slack email makes."""

    # The Slack emails that may ask (their domains). Required with {email_local}, which drops the domain: without it
    # alice@elsewhere.example would ask for the user alice.
    email_domains: tuple[StrictStr, ...] = ()

    @abstractmethod
    def identity_for(self, email: str) -> ClusterIdentity:
        """The identity the person with this Slack email has on the cluster, unchecked (csrgate.domain.identity's
        `identify` says whether that email may be it)."""


def _naming_problem(key: str, template: str, email_domains: tuple[str, ...]) -> str | None:
    """Why a template making a user name of a Slack email cannot be used, naming its key, or None."""
    problem = template_problem(template)
    return f"{key} {problem}" if problem else _drops_domain(key, template, email_domains)


def _drops_domain(key: str, template: str, email_domains: tuple[str, ...]) -> str | None:
    if "{email_local}" in template and not email_domains:
        return f"{key} {{email_local}} drops the email's domain: list emailDomains"
    return None


class SelfService(PersonNaming):
    """People may ask for their own client certificate in Slack; `usernameTemplate` makes a Slack user's email the
    Kubernetes user name their certificate must name (its CN): `{email_local}`, `oidc:{email}`."""

    username_template: StrictStr = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _usable(self) -> SelfService:
        problem = _naming_problem("usernameTemplate", self.username_template, self.email_domains)
        if problem:
            raise ValueError(problem)
        return self

    def identity_for(self, email: str) -> ClusterIdentity:
        """The user `usernameTemplate` makes of the email."""
        return ClusterIdentity(username_for(self.username_template, email))


class AccessRole(_Config):
    """A role people may ask for: the ClusterRole it binds, in a namespace or cluster-wide, for at most a while."""

    name: StrictStr = Field(pattern=f"^{CLUSTER_NAME.pattern}$")
    cluster_role: StrictStr = Field(pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.:]{0,252}$")  # an RBAC object's name
    scope: Literal["namespace", "cluster"] = "namespace"
    max_duration: StrictStr = "8h"
    approvals: StrictInt | None = Field(default=None, ge=1, le=10)  # more than the cluster's usual, if set
    privileged: StrictBool = False

    @model_validator(mode="after")
    def _duration(self) -> AccessRole:
        seconds = parse_duration(self.max_duration)
        if seconds is None or not MIN_DURATION_SECONDS <= seconds <= MAX_DURATION_SECONDS:
            raise ValueError("maxDuration must be minutes, hours or days between 1m and 31d, such as 8h")
        return self

    @property
    def max_seconds(self) -> int:
        """maxDuration in seconds."""
        return parse_duration(self.max_duration) or MIN_DURATION_SECONDS

    @property
    def is_privileged(self) -> bool:
        """Cluster-wide, administrative or marked so: it needs the cluster's privileged number of approvals."""
        return self.privileged or self.scope == "cluster" or self.cluster_role in _ADMINISTRATIVE_ROLES


class EksSignIn(_Config):
    """How people sign in to an EKS cluster with IAM: they assume `roleArn` with a session named after their Slack
    email (`sessionName`), and the cluster's access entry for that role makes the Kubernetes user `username` of it."""

    role_arn: StrictStr = Field(pattern=_ROLE_ARN)  # the requesters' role, whose access entry has no access policy
    session_name: StrictStr = Field(default="{email}", min_length=1, max_length=200)  # {email} or {email_local}
    username: StrictStr = Field(default="sso:{{SessionName}}", min_length=1, max_length=200)  # the access entry's

    @model_validator(mode="after")
    def _usable(self) -> EksSignIn:
        # the template's own text, its placeholders taken out: part of every session name it makes
        literal = self.session_name.replace("{email_local}", "").replace("{email}", "")
        if literal == self.session_name or not _SESSION_CHARACTERS.fullmatch(literal):
            problem = template_problem(self.session_name) if "{" in literal or literal == self.session_name else None
            raise ValueError(f"sessionName {problem or _SESSION_CHARACTERS_ONLY}")
        placeholders = _ENTRY_PLACEHOLDER.findall(self.username)
        rest = _ENTRY_PLACEHOLDER.sub("", self.username)
        if set(placeholders) - set(_ENTRY_PLACEHOLDERS) or "{" in rest or "}" in rest:
            raise ValueError("username takes only the placeholders {{SessionName}} and {{SessionNameRaw}}")
        if not placeholders:
            raise ValueError("username must contain {{SessionName}} or {{SessionNameRaw}}, or everyone is one user")
        if self.username.startswith(_ENTRY_RESERVED_PREFIXES):
            raise ValueError("username must not start with system:, eks:, aws:, amazon: or iam:, which EKS refuses")
        if any(ch.isspace() for ch in self.username):
            raise ValueError("username must not hold whitespace")
        return self

    def identity_for(self, email: str) -> ClusterIdentity:
        """The session the person with this email signs in with, and the user EKS makes of it: {{SessionName}} is
        the session name with each @ made -, {{SessionNameRaw}} the name as it is."""
        session = username_for(self.session_name, email)
        # as aws-iam-authenticator's renderTemplate (pkg/server/server.go), which EKS runs, fills them
        username = self.username.replace("{{SessionName}}", session.replace("@", "-"))
        return ClusterIdentity(username.replace("{{SessionNameRaw}}", session), session)


def _one_user_of_two(eks: EksSignIn, email_domains: tuple[str, ...]) -> str | None:
    """Why two emails could make one Kubernetes user on EKS, or None. {{SessionName}} turns the @ into a -, so
    a-b@c.example and a@b-c.example are one user: access granted to one would be the other's too. Within one domain
    no two emails meet; across domains, only when one ends with a - and the other."""
    rewrites_at = "{{SessionName}}" in eks.username and "{{SessionNameRaw}}" not in eks.username
    if "{email}" not in eks.session_name or not rewrites_at:
        return None
    domains = {domain.casefold() for domain in email_domains}
    if domains and not any(one.endswith(f"-{other}") for one in domains for other in domains):
        return None
    return (
        "eks.username {{SessionName}} makes a-b@c.example and a@b-c.example one user: list emailDomains, none ending "
        "with - and another, or use {{SessionNameRaw}}"
    )


class AccessSettings(PersonNaming):
    """Time-boxed access people may ask for in Slack: csrgate binds an offered role to their user name after
    approval and removes the binding on time. Which user name: `usernameTemplate` applied to their Slack email
    (`oidc:{email}`, or a certificate user's `{email_local}`), or on EKS, `eks`: the user EKS makes of the IAM role
    session they sign in with."""

    username_template: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    eks: EksSignIn | None = None
    roles: tuple[AccessRole, ...] = Field(min_length=1, max_length=20)
    namespaces: tuple[StrictStr, ...] = ()  # patterns (`payments`, `team-*`); kube-* and default only by name
    durations: tuple[StrictStr, ...] = ("1h", "4h", "8h")  # what the form offers, cut to each role's maximum

    @model_validator(mode="after")
    def _offers(self) -> AccessSettings:
        if self.eks is not None and self.username_template is not None:
            raise ValueError("usernameTemplate must not be given with eks, whose username makes the user name")
        if self.eks is not None:
            problem = _drops_domain("eks.sessionName", self.eks.session_name, self.email_domains)
            problem = problem or _one_user_of_two(self.eks, self.email_domains)
        elif self.username_template is not None:
            problem = _naming_problem("usernameTemplate", self.username_template, self.email_domains)
        else:
            problem = "usernameTemplate is required (or, on an EKS cluster, eks)"
        if problem:
            raise ValueError(problem)
        names = [role.name for role in self.roles]
        if len(set(names)) != len(names):
            raise ValueError("roles: each role needs its own name")
        if any(role.scope == "namespace" for role in self.roles) and not self.namespaces:
            raise ValueError("namespaces: a namespaced role needs the namespaces people may ask for")
        for pattern in self.namespaces:
            if not _NAMESPACE_PATTERN.fullmatch(pattern):
                raise ValueError(f"namespaces: {pattern!r} is not a namespace name or a pattern such as team-*")
        for duration in self.durations:
            seconds = parse_duration(duration)
            if seconds is None or not MIN_DURATION_SECONDS <= seconds <= MAX_DURATION_SECONDS:
                raise ValueError(f"durations: {duration!r} is not minutes, hours or days between 1m and 31d")
        return self

    def identity_for(self, email: str) -> ClusterIdentity:
        """The user `usernameTemplate` makes of the email, or on EKS the session and the user EKS makes of it."""
        if self.eks is not None:
            return self.eks.identity_for(email)
        return ClusterIdentity(username_for(self.username_template or "", email))

    def role(self, name: str) -> AccessRole | None:
        """The offered role of that name."""
        return next((role for role in self.roles if role.name == name), None)

    def durations_for(self, role: AccessRole) -> tuple[int, ...]:
        """The durations the form offers for a role, in seconds, shortest first."""
        seconds = {parse_duration(duration) or 0 for duration in self.durations}
        return tuple(sorted(s for s in seconds if 0 < s <= role.max_seconds)) or (role.max_seconds,)


class ClusterConfig(_Config):
    """One cluster's settings, as an operator writes them."""

    # pydantic's patterns search rather than match: each is anchored
    name: StrictStr = Field(pattern=f"^{CLUSTER_NAME.pattern}$")
    kind: ClusterKind
    auth: Literal["iam", "hmac"]
    forwarder_role_arn: StrictStr | None = Field(default=None, pattern=_ROLE_ARN)
    hmac_secret_id: StrictStr | None = None
    connection: Connection
    slack_channel: StrictStr = Field(pattern=r"^[CG][A-Z0-9]{2,}$")
    approvers: Approvers
    required_approvals: StrictInt = Field(default=1, ge=1, le=10)
    privileged_required_approvals: StrictInt = Field(default=2, ge=1, le=10)
    policy: StrictStr | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    deny_expired: StrictBool = False  # also deny an expired review's CSR in the cluster (reason CsrgateExpired)
    # observe: csrgate says in Slack what it would do and never decides in the cluster, to run beside the approver a
    # team has until it is trusted; enforce: csrgate decides.
    mode: Literal["enforce", "observe"] = "enforce"
    # Which person a Kubernetes user name is: how csrgate finds a requester in Slack, vouches for a CSR's
    # csrgate.io/requester-email annotation, and tells whether the person asking is the one the certificate is for.
    # Never applied to `system:` identities (nodes, service accounts): they are nobody's.
    requester_emails: dict[StrictStr, StrictStr] = {}  # Kubernetes user name -> email
    requester_email_template: StrictStr | None = Field(default=None, pattern=r"^[^@\s]*\{username\}[^@\s]*@[^@\s]+$")
    self_service: SelfService | None = None  # people may ask for a certificate in Slack (csrgate creates the CSR)
    access: AccessSettings | None = None  # people may ask for time-boxed access in Slack (csrgate binds a role)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ClusterConfig:
        if self.auth == "iam" and not self.forwarder_role_arn:
            raise ValueError("auth: iam needs forwarderRoleArn, the role the forwarder signs with")
        if self.auth == "hmac" and not self.hmac_secret_id:
            raise ValueError("auth: hmac needs hmacSecretId, the Secrets Manager secret holding the key")
        # The intake function may read only {prefix}/forwarders/*, the worker only {prefix}/clusters/*.
        prefix = (info.context or {}).get(SECRET_PREFIX_CONTEXT, DEFAULT_SECRET_PREFIX)
        forwarder_secrets, cluster_secrets = f"{prefix}/{FORWARDER_SECRETS}", f"{prefix}/{CLUSTER_SECRETS}"
        if self.hmac_secret_id and not self.hmac_secret_id.startswith(forwarder_secrets):
            raise ValueError(f"hmacSecretId must be a secret under {forwarder_secrets}, which intake may read")
        if self.connection.secret_id and not self.connection.secret_id.startswith(cluster_secrets):
            raise ValueError(f"connection.secretId must be a secret under {cluster_secrets}, which the worker may read")
        if self.kind is ClusterKind.EKS and not (self.connection.eks_cluster_name and self.connection.region):
            raise ValueError("kind: eks needs connection.eksClusterName and connection.region")
        if self.kind is ClusterKind.GENERIC and not self.connection.secret_id:
            raise ValueError("kind: generic needs connection.secretId, the secret with its kubeconfig")
        if self.access is not None and self.access.eks is not None and self.kind is not ClusterKind.EKS:
            raise ValueError("access.eks is for kind: eks clusters, whose people sign in with IAM")
        if not (self.approvers.users or self.approvers.groups):
            raise ValueError("approvers needs at least one user or group")
        if self.privileged_required_approvals < self.required_approvals:
            raise ValueError("privilegedRequiredApprovals cannot be below requiredApprovals")
        return self

    @property
    def observing(self) -> bool:
        """csrgate only tells what it would do here."""
        return self.mode == "observe"

    def grant_approvals(self, role: AccessRole) -> int:
        """How many distinct approvers a grant of this role needs: the role's own number, the cluster's privileged
        number for a privileged role, and never fewer than the cluster's usual number."""
        needed = self.approvals_needed(role.is_privileged)
        return max(needed, role.approvals or needed)

    def approvals_needed(self, privileged: bool, unlinked: bool = False) -> int:
        """How many distinct approvers a request needs.

        `unlinked`: csrgate cannot tell which Slack user asked, or the certificate is for someone other than who
        asked. An approver could be that requester under a name csrgate does not know, so one more approver than
        usual must agree (never fewer than two); a privileged request keeps its own number when that is higher.
        """
        needed = self.privileged_required_approvals if privileged else self.required_approvals
        if unlinked:
            needed = max(needed, self.required_approvals + 1, MIN_APPROVALS_UNLINKED)
        return needed


class ClusterConfigError(CsrgateError):
    """A cluster document csrgate cannot use; the message names the source and the key."""


def read_cluster(text: str, source: str, secret_prefix: str = DEFAULT_SECRET_PREFIX) -> ClusterConfig:
    """A cluster's settings from their YAML or JSON document (an SSM parameter's value, or a file to check)."""
    try:
        document = load_document(text)
    except DocumentError as exc:
        raise ClusterConfigError(f"{source}: {exc}") from None
    if not isinstance(document, Mapping):
        raise ClusterConfigError(f"{source}: expected a mapping of cluster settings")
    try:
        return ClusterConfig.model_validate(document, context={SECRET_PREFIX_CONTEXT: secret_prefix})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
        raise ClusterConfigError(f"{source}: {where}: {message}") from None


def cluster_schema() -> dict[str, Any]:
    """The JSON Schema of a cluster document, for editors (keys as operators write them)."""
    return ClusterConfig.model_json_schema(by_alias=True)
