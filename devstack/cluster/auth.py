"""Who is calling (client certificate or bearer token) and what they may do (the RBAC authorizer).

Authentication follows kube-apiserver's union authenticator: a client certificate signed by the cluster CA
names the user (CN) and groups (O values); otherwise a bearer token from the token list does, or, when the cluster
authenticates as EKS does, an EKS token (`k8s-aws-v1.`, see eks_auth); every authenticated user also gets
`system:authenticated`. Authorization is RBAC's (plugin/pkg/auth/authorizer/rbac):
the rules of every role bound to the user, one of its groups or its service account, by a ClusterRoleBinding or a
RoleBinding in the request's namespace, read from the RBAC objects the cluster stores.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"
ADMIN_USER = "csrgate-admin"
APPROVER_USER = "csrgate-approver"
APPROVERS_GROUP = "csrgate:approvers"
NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
SERVICE_ACCOUNT_USER_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
CI_SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts:ci"
CERTIFICATES_GROUP = "certificates.k8s.io"
AUTHENTICATION_GROUP = "authentication.k8s.io"


CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
EKS_TOKEN_PREFIX = "k8s-aws-v1."


@dataclass(frozen=True)
class UserInfo:
    """An authenticated user."""

    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    # As the API server's authenticators add it: for a client certificate, credential-id X509SHA256=<its digest>.
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The user as authentication.k8s.io/v1 UserInfo."""
        shown: dict[str, Any] = {"username": self.username}
        if self.uid:
            shown["uid"] = self.uid
        if self.groups:
            shown["groups"] = list(self.groups)
        if self.extra:
            shown["extra"] = {key: list(values) for key, values in self.extra}
        return shown


def _with_authenticated(groups: Iterable[str]) -> tuple[str, ...]:
    listed = list(dict.fromkeys(groups))
    if AUTHENTICATED not in listed:
        listed.append(AUTHENTICATED)
    return tuple(listed)


class TokenAuthenticator(Protocol):
    """Authenticates bearer tokens of one kind, as a token webhook does (EKS's aws-iam-authenticator)."""

    def authenticate_token(self, token: str) -> UserInfo | None:
        """The user the token stands for, or None when it is refused; never raises for a hostile token."""


class Authenticator:
    """Maps a verified client certificate or a bearer token to a user."""

    def __init__(self, tokens: Mapping[str, UserInfo], eks: TokenAuthenticator | None = None) -> None:
        self._tokens = dict(tokens)
        self._eks = eks  # consulted for tokens starting with EKS_TOKEN_PREFIX

    def authenticate(self, peer_certificate_der: bytes | None, authorization: str | None) -> UserInfo | None:
        """The caller, or None when neither credential is valid (the server answers 401)."""
        if peer_certificate_der:
            user = user_from_certificate(peer_certificate_der)
            if user is not None:
                return user
        if authorization and authorization[:7].lower() == "bearer ":
            bearer = authorization[7:].strip()
            if self._eks is not None and bearer.startswith(EKS_TOKEN_PREFIX):
                user = self._eks.authenticate_token(bearer)
                if user is not None:
                    return UserInfo(user.username, _with_authenticated(user.groups), user.uid, user.extra)
            presented = bearer.encode("utf-8", errors="replace")
            for token, user in self._tokens.items():
                if hmac.compare_digest(presented, token.encode("utf-8")):
                    return UserInfo(user.username, _with_authenticated(user.groups), user.uid)
        return None


def user_from_certificate(der: bytes) -> UserInfo | None:
    """The user a client certificate names. TLS has already verified it against the CA; like the x509
    authenticator, refuse certificates whose extended key usage does not include client auth."""
    try:
        certificate = x509.load_der_x509_certificate(der)
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in usages and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in usages:
            return None
    except x509.ExtensionNotFound:
        pass
    except ValueError:
        return None
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or not isinstance(names[0].value, str) or not names[0].value:
        return None
    groups = [
        str(attribute.value) for attribute in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    ]
    credential = f"X509SHA256={hashlib.sha256(der).hexdigest()}"
    return UserInfo(names[0].value, _with_authenticated(groups), extra=((CREDENTIAL_ID, (credential,)),))


@dataclass(frozen=True)
class Rule:
    """A PolicyRule: verbs on resources in API groups (optionally by name), or on non-resource URLs."""

    verbs: frozenset[str]
    api_groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    resource_names: frozenset[str] = frozenset()
    non_resource_urls: frozenset[str] = frozenset()

    @classmethod
    def from_policy(cls, policy: Mapping[str, Any]) -> Rule:
        """A rule from an rbac/v1 PolicyRule object."""
        return cls(
            frozenset(policy.get("verbs") or ()),
            frozenset(policy.get("apiGroups") or ()),
            frozenset(policy.get("resources") or ()),
            frozenset(policy.get("resourceNames") or ()),
            frozenset(policy.get("nonResourceURLs") or ()),
        )

    def as_policy(self) -> dict[str, Any]:
        """The rule as an rbac/v1 PolicyRule object (empty lists left out, as Go's omitempty does)."""
        policy: dict[str, Any] = {"verbs": sorted(self.verbs)}
        for key, values in (
            ("apiGroups", self.api_groups),
            ("resources", self.resources),
            ("resourceNames", self.resource_names),
            ("nonResourceURLs", self.non_resource_urls),
        ):
            if values:
                policy[key] = sorted(values)
        return policy


def rule(verbs: str, groups: str = "", resources: str = "", names: str = "", urls: str = "") -> Rule:
    """A rule from space-separated lists ("" for the core group is written as `core`)."""
    return Rule(
        frozenset(verbs.split()),
        frozenset("" if group == "core" else group for group in groups.split()),
        frozenset(resources.split()),
        frozenset(names.split()),
        frozenset(urls.split()),
    )


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do, as the authorizer sees it."""

    user: UserInfo
    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""
    resource_request: bool = True
    namespace: str = ""


@dataclass(frozen=True)
class Grant:
    """The rules one binding gives a user, and how RBAC names that binding in an allow reason."""

    rules: tuple[Rule, ...]
    source: str


class Policy(Protocol):
    """Where the authorizer reads bindings and roles from (the RBAC objects the cluster stores)."""

    def cluster_role_bindings(self) -> Sequence[Mapping[str, Any]]:
        """Every ClusterRoleBinding."""

    def role_bindings(self, namespace: str) -> Sequence[Mapping[str, Any]]:
        """The RoleBindings of one namespace."""

    def role_rules(self, role_ref: Mapping[str, Any], namespace: str) -> tuple[Rule, ...] | None:
        """The rules of the Role (in `namespace`) or ClusterRole a roleRef names; None when there is none."""


class Authorizer:
    """The RBAC authorizer: a request is allowed when a rule of a role bound to the user covers it."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    def allowed(self, attributes: Attributes) -> bool:
        """Whether the request is allowed."""
        return self.reason(attributes) is not None

    def reason(self, attributes: Attributes) -> str | None:
        """Why the request is allowed, worded as RBAC's allow reason; None when nothing allows it."""
        for grant in self.grants(attributes.user, attributes.namespace):
            if any(rule_allows(each, attributes) for each in grant.rules):
                return f"RBAC: allowed by {grant.source}"
        return None

    def rules_for(self, user: UserInfo, namespace: str) -> list[Rule]:
        """Every rule the user holds in `namespace` ("" for the cluster scope): RuleResolver.RulesFor."""
        return [each for grant in self.grants(user, namespace) for each in grant.rules]

    def grants(self, user: UserInfo, namespace: str) -> Iterator[Grant]:
        """The bindings that apply to the user, ClusterRoleBindings first (VisitRulesFor)."""
        for binding in self._policy.cluster_role_bindings():
            grant = self._grant(binding, user, "")
            if grant is not None:
                yield grant
        if not namespace:
            return
        for binding in self._policy.role_bindings(namespace):
            grant = self._grant(binding, user, namespace)
            if grant is not None:
                yield grant

    def allowed_for_signer(self, user: UserInfo, verb: str, signer_name: str) -> bool:
        """`verb` (approve or sign) on `signers` named the signer or its domain wildcard, as upstream's
        certificates.IsAuthorizedForSignerName checks."""
        names = [signer_name]
        if "/" in signer_name:
            names.append(signer_name.split("/", 1)[0] + "/*")
        return any(self.allowed(Attributes(user, verb, CERTIFICATES_GROUP, "signers", name=name)) for name in names)

    def _grant(self, binding: Mapping[str, Any], user: UserInfo, namespace: str) -> Grant | None:
        subject = next((s for s in binding.get("subjects") or () if applies_to(s, user, namespace)), None)
        if subject is None:
            return None
        role_ref = binding.get("roleRef") or {}
        rules = self._policy.role_rules(role_ref, namespace)
        if rules is None:
            return None
        name = (binding.get("metadata") or {}).get("name", "")
        described = f'RoleBinding "{name}/{namespace}"' if namespace else f'ClusterRoleBinding "{name}"'
        source = (
            f'{described} of {role_ref.get("kind", "")} "{role_ref.get("name", "")}" to {_describe(subject, namespace)}'
        )
        return Grant(rules, source)


def _describe(subject: Mapping[str, Any], namespace: str) -> str:
    """describeSubject: a service account as name/namespace."""
    name = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        name = f"{name}/{subject.get('namespace') or namespace}"
    return f'{subject.get("kind", "")} "{name}"'


def applies_to(subject: Mapping[str, Any], user: UserInfo, namespace: str) -> bool:
    """appliesToUser: a User by name, a Group by membership, a ServiceAccount by its username (its namespace
    defaulting to the binding's)."""
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return bool(user.username == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        account_namespace = subject.get("namespace") or namespace
        return bool(account_namespace) and user.username == f"{SERVICE_ACCOUNT_USER_PREFIX}{account_namespace}:{name}"
    return False


def rule_allows(each: Rule, attributes: Attributes) -> bool:
    """RuleAllows: verbs, then API group, resource (with `*/subresource`) and name, or the non-resource URL."""
    if "*" not in each.verbs and attributes.verb not in each.verbs:
        return False
    if not attributes.resource_request:
        return any(
            url == "*" or url == attributes.path or (url.endswith("*") and attributes.path.startswith(url[:-1]))
            for url in each.non_resource_urls
        )
    if "*" not in each.api_groups and attributes.api_group not in each.api_groups:
        return False
    wanted = f"{attributes.resource}/{attributes.subresource}" if attributes.subresource else attributes.resource
    resource_ok = (
        "*" in each.resources
        or wanted in each.resources
        or (attributes.subresource and f"*/{attributes.subresource}" in each.resources)
    )
    if not resource_ok:
        return False
    return not each.resource_names or attributes.name in each.resource_names
