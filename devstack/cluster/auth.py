"""Who is calling (client certificate or bearer token) and what they may do (RBAC-like rules).

Authentication follows kube-apiserver's union authenticator: a client certificate signed by the cluster CA
names the user (CN) and groups (O values); otherwise a bearer token from the token list does; every
authenticated user also gets `system:authenticated`. Authorization is a fixed set of cluster roles bound to
groups, matched the way the RBAC authorizer matches rules.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


class Authenticator:
    """Maps a verified client certificate or a bearer token to a user."""

    def __init__(self, tokens: Mapping[str, UserInfo]) -> None:
        self._tokens = dict(tokens)

    def authenticate(self, peer_certificate_der: bytes | None, authorization: str | None) -> UserInfo | None:
        """The caller, or None when neither credential is valid (the server answers 401)."""
        if peer_certificate_der:
            user = user_from_certificate(peer_certificate_der)
            if user is not None:
                return user
        if authorization and authorization[:7].lower() == "bearer ":
            presented = authorization[7:].strip().encode("utf-8", errors="replace")
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


# The cluster roles of this dev cluster, bound to groups.
DISCOVERY = rule("get", urls="/api /api/* /apis /apis/* /openapi /openapi/* /version /version/ /healthz /livez /readyz")
BASIC_USER = rule("create", AUTHENTICATION_GROUP, "selfsubjectreviews")
EVERYTHING = rule("*", "*", "*")
EVERY_URL = rule("*", urls="*")
APPROVER_RULES = (
    # csrgate's worker: it also creates the CSRs of certificates asked for in Slack, on the asker's behalf.
    rule("create get list watch", CERTIFICATES_GROUP, "certificatesigningrequests"),
    rule("update", CERTIFICATES_GROUP, "certificatesigningrequests/approval"),
    # As the docs' RBAC example for approvers: `approve` on the signers (here every signer).
    rule("approve", CERTIFICATES_GROUP, "signers"),
    # Before approving a kubelet's serving certificate on its own, csrgate checks the SANs against the Node.
    rule("get", "core", "nodes"),
)
# What the system:node ClusterRole lets kubelets do with CSRs (plugin/pkg/auth/authorizer/rbac/bootstrappolicy):
# ask for their client and serving certificates and follow them.
NODE_RULES = (rule("create get list watch", CERTIFICATES_GROUP, "certificatesigningrequests"),)
DEFAULT_BINDINGS: Mapping[str, tuple[Rule, ...]] = {
    MASTERS: (EVERYTHING, EVERY_URL),
    AUTHENTICATED: (DISCOVERY, BASIC_USER),
    APPROVERS_GROUP: APPROVER_RULES,
    NODES_GROUP: NODE_RULES,
    # The service accounts of namespace `ci` may ask for certificates, as a binding would let a CI job.
    CI_SERVICE_ACCOUNTS_GROUP: NODE_RULES,
}


# What a cluster that lets people renew their own certificates binds to system:authenticated: create CSRs and follow
# them (the system:node role's rules, for every user).
SELF_RENEWAL_RULES = (rule("create get list watch", CERTIFICATES_GROUP, "certificatesigningrequests"),)


def bindings(*, self_renewal: bool = False) -> Mapping[str, tuple[Rule, ...]]:
    """The dev cluster's bindings; with `self_renewal`, every authenticated user may create CSRs."""
    if not self_renewal:
        return DEFAULT_BINDINGS
    return {**DEFAULT_BINDINGS, AUTHENTICATED: (*DEFAULT_BINDINGS[AUTHENTICATED], *SELF_RENEWAL_RULES)}


@dataclass
class Authorizer:
    """Allows a request when any rule bound to one of the user's groups covers it."""

    bindings: Mapping[str, tuple[Rule, ...]] = field(default_factory=lambda: DEFAULT_BINDINGS)

    def allowed(self, attributes: Attributes) -> bool:
        """Whether the request is allowed."""
        return any(
            _covers(each, attributes) for group in attributes.user.groups for each in self.bindings.get(group, ())
        )

    def allowed_for_signer(self, user: UserInfo, verb: str, signer_name: str) -> bool:
        """`verb` (approve or sign) on `signers` named the signer or its domain wildcard, as upstream's
        certificates.IsAuthorizedForSignerName checks."""
        names = [signer_name]
        if "/" in signer_name:
            names.append(signer_name.split("/", 1)[0] + "/*")
        return any(self.allowed(Attributes(user, verb, CERTIFICATES_GROUP, "signers", name=name)) for name in names)


def _covers(each: Rule, attributes: Attributes) -> bool:
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
