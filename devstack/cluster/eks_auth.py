"""EKS authentication for the dev cluster: the bearer tokens `aws eks get-token` makes, checked as EKS checks them.

A token is `k8s-aws-v1.` followed by the unpadded base64url of an STS GetCallerIdentity URL, presigned with the
header `x-k8s-aws-id: <cluster id>` signed in. The cluster decodes it and checks the URL's form, host and age as
aws-iam-authenticator's tokenVerifier.Verify does (pkg/token/token.go), then asks STS who signed it, sending that header
with this cluster's id: a token made for another cluster fails STS's signature check. The caller is mapped to a
Kubernetes user as EKS access entries map an IAM principal, the username template rendered as aws-iam-authenticator's
renderTemplate does (pkg/server/server.go).

STS is a port here (`CallerIdentity`), so this module imports no AWS library; devstack.aws.sts_caller_identity is the
local STS that checks the signature.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from devstack.cluster.auth import EKS_TOKEN_PREFIX, UserInfo

LOG = logging.getLogger("devstack.cluster.eks")

MAX_TOKEN_LENGTH = 4 * 1024  # maxTokenLenBytes
CLUSTER_ID_HEADER = "x-k8s-aws-id"
# A presigned STS URL is good for 15 minutes after its X-Amz-Date, whatever its X-Amz-Expires says
# (presignedURLExpiration; aws/aws-sdk-go#2167).
TOKEN_LIFETIME = datetime.timedelta(minutes=15)
# How far ahead of the cluster's clock X-Amz-Date may be. Verify leaves a date ahead to STS, which refuses a request
# signed more than SigV4's allowed clock skew (5 minutes) ahead of its own time; here the cluster checks it itself.
CLOCK_SKEW = datetime.timedelta(minutes=5)
MAX_EXPIRES_SECONDS = 900  # Verify refuses an X-Amz-Expires outside 0..900
ACTION = "GetCallerIdentity"
API_VERSION = "2011-06-15"
ALGORITHM = "AWS4-HMAC-SHA256"
# Verify's parameterWhitelist: a URL with any other parameter could ask STS for something else.
ALLOWED_PARAMETERS = frozenset(
    {
        "action",
        "version",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-security-token",
        "x-amz-signature",
        "x-amz-signedheaders",
    }
)
REQUIRED_PARAMETERS = ALLOWED_PARAMETERS - {"x-amz-security-token"}
MAX_PARAMETERS = 64  # more is refused before each is looked at
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_ACCOUNT = re.compile(r"\d{12}")
_PARTITION = re.compile(r"aws(-[a-z]+)*")
_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
# What aws-iam-authenticator's renderTemplate fills in (all but {{EC2PrivateDNSName}}, which needs EC2).
PLACEHOLDERS = frozenset({"AccountID", "SessionName", "SessionNameRaw", "AccessKeyID"})

# STS: GET the presigned URL with these headers; the caller's ARN, or None when STS refuses the request.
CallerIdentity = Callable[[str, Mapping[str, str]], str | None]


class RefusedToken(ValueError):
    """A token the cluster does not accept; the message says why (for the log, never for the client)."""


def utc_now() -> datetime.datetime:
    """The wall clock, in UTC."""
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class AccessEntry:
    """What an EKS access entry gives its principal: a username (a template) and Kubernetes groups."""

    username: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class EksAuthentication:
    """How the dev cluster authenticates EKS tokens: its cluster id (the `x-k8s-aws-id` the tokens must be signed
    for), the STS endpoint the URLs must name (scheme and host, e.g. http://127.0.0.1:PORT; EKS accepts
    https://sts.amazonaws.com and the regional STS hosts), STS itself, the access entries by principal ARN, and the
    clock the tokens' age is read with."""

    cluster_id: str
    sts_endpoint: str
    caller_identity: CallerIdentity
    access_entries: Mapping[str, AccessEntry] = field(default_factory=dict)
    clock: Callable[[], datetime.datetime] = utc_now


@dataclass(frozen=True)
class PresignedRequest:
    """The parts of a token's presigned URL the cluster reads: the URL, the access key it is signed with, when."""

    url: str
    access_key_id: str
    signed_at: datetime.datetime


@dataclass(frozen=True)
class Caller:
    """Who STS says signed the URL: their ARN, the IAM principal an access entry names, the account, the session."""

    arn: str
    principal_arn: str
    account_id: str
    session_name: str = ""


def decode_token(token: str) -> str:
    """The presigned URL inside an EKS token (the prefix, then unpadded base64url of ASCII), as Verify reads it."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise RefusedToken("the token is too long")
    if not token.startswith(EKS_TOKEN_PREFIX):
        raise RefusedToken(f"the token does not start with {EKS_TOKEN_PREFIX}")
    encoded = token[len(EKS_TOKEN_PREFIX) :]
    # base64.RawURLEncoding: the URL-safe alphabet, no padding (so never a length of 1 mod 4)
    if not encoded or not _BASE64URL.fullmatch(encoded) or len(encoded) % 4 == 1:
        raise RefusedToken("the token is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise RefusedToken("the token does not hold an ASCII URL") from None


def read_presigned_url(url: str, sts_endpoint: str) -> PresignedRequest:
    """The presigned GetCallerIdentity request in `url`, checked as Verify checks it: the STS endpoint's scheme and
    host, path `/`, only the allowed query parameters, each once, Action GetCallerIdentity of version 2011-06-15, SigV4
    with the `host` and `x-k8s-aws-id` headers signed, X-Amz-Expires at most 900 s."""
    try:
        parts, expected = urlsplit(url), urlsplit(sts_endpoint)
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_PARAMETERS)
    except ValueError as exc:
        raise RefusedToken(f"the URL cannot be read: {exc}") from None
    if (parts.scheme, parts.netloc) != (expected.scheme, expected.netloc):
        raise RefusedToken(f"unexpected STS endpoint {parts.scheme}://{parts.netloc}")
    if parts.path != "/" or parts.fragment:
        raise RefusedToken("unexpected path in the URL")
    if ";" in parts.query:  # Go's url.ParseQuery refuses a semicolon
        raise RefusedToken("a semicolon in the query")
    query: dict[str, str] = {}
    for key, value in pairs:
        name = key.lower()
        if name not in ALLOWED_PARAMETERS:
            raise RefusedToken(f"parameter {key!r} is not allowed")
        if name in query:
            raise RefusedToken(f"parameter {key!r} is given more than once")
        query[name] = value
    missing = sorted(REQUIRED_PARAMETERS - query.keys())
    if missing:
        raise RefusedToken(f"parameters missing: {', '.join(missing)}")
    if query["action"] != ACTION or query["version"] != API_VERSION:
        raise RefusedToken(f"the URL asks for {query['action']} (version {query['version']}), not {ACTION}")
    if query["x-amz-algorithm"] != ALGORITHM:
        raise RefusedToken(f"unexpected signing algorithm {query['x-amz-algorithm']!r}")
    signed_headers = query["x-amz-signedheaders"].lower().split(";")
    if "host" not in signed_headers or CLUSTER_ID_HEADER not in signed_headers:
        raise RefusedToken(f"the host and {CLUSTER_ID_HEADER} headers are not both signed")
    expires = query["x-amz-expires"]
    if not (0 < len(expires) <= 3 and expires.isascii() and expires.isdigit()) or int(expires) > MAX_EXPIRES_SECONDS:
        raise RefusedToken(f"X-Amz-Expires {expires!r} is not 0 to {MAX_EXPIRES_SECONDS}")
    date = query["x-amz-date"]
    if not _AMZ_DATE.fullmatch(date):
        raise RefusedToken(f"X-Amz-Date {date!r} is not YYYYMMDDTHHMMSSZ")
    try:
        signed_at = datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        raise RefusedToken(f"X-Amz-Date {date!r} is not a time") from None
    access_key_id = query["x-amz-credential"].split("/", 1)[0]
    if not access_key_id:
        raise RefusedToken("X-Amz-Credential names no access key")
    return PresignedRequest(url, access_key_id, signed_at)


def check_age(signed_at: datetime.datetime, now: datetime.datetime) -> None:
    """Refuse a URL signed more than TOKEN_LIFETIME ago (Verify: "X-Amz-Date parameter is expired") or more than
    CLOCK_SKEW ahead of `now`."""
    if now > signed_at + TOKEN_LIFETIME:
        raise RefusedToken(f"X-Amz-Date {signed_at.isoformat()} is more than 15 minutes old")
    if signed_at > now + CLOCK_SKEW:
        raise RefusedToken(f"X-Amz-Date {signed_at.isoformat()} is in the future")


def caller_from_arn(arn: str) -> Caller:
    """The caller an ARN from GetCallerIdentity names, as aws-iam-authenticator's arn.Canonicalize reads it: an
    assumed role `arn:P:sts::A:assumed-role/R/S` is the IAM role `arn:P:iam::A:role/R` in session S; an IAM user, role,
    account root or federated user is its own principal."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not _PARTITION.fullmatch(parts[1]) or parts[3]:
        raise RefusedToken(f"STS answered with an unreadable ARN {arn!r}")
    partition, service, account, resource = parts[1], parts[2], parts[4], parts[5]
    if not _ACCOUNT.fullmatch(account):
        raise RefusedToken(f"STS answered with an unreadable ARN {arn!r}")
    kind, _, rest = resource.partition("/")
    if service == "sts" and kind == "assumed-role":
        role, _, session = rest.rpartition("/")
        if not role or not session:
            raise RefusedToken(f"assumed-role ARN {arn!r} names no role or session")
        return Caller(arn, f"arn:{partition}:iam::{account}:role/{role}", account, session)
    if (service == "iam" and kind in ("user", "role", "root")) or (service == "sts" and kind == "federated-user"):
        return Caller(arn, arn, account)
    raise RefusedToken(f"{arn!r} is not an IAM identity")


def principal_key(principal_arn: str) -> str:
    """How a principal ARN is matched: case-insensitively (aws-iam-authenticator's doMapping lowers the canonical ARN)
    and, for a role, by its name alone. An assumed role's ARN names the role without its path, so EKS matches a role
    entry with its path dropped (aws-auth documents that a role ARN cannot carry one: `role/my-role`, never
    `role/team/my-role`); a user's ARN keeps its path, as GetCallerIdentity reports it."""
    prefix, marker, name = principal_arn.partition(":role/")
    if marker and "/" in name:
        name = name.rsplit("/", 1)[1]
    return f"{prefix}{marker}{name}".lower()


def check_template(template: str) -> None:
    """Refuse a username template with a placeholder this cluster cannot fill (EKS refuses such an entry)."""
    unknown = sorted(set(_PLACEHOLDER.findall(template)) - PLACEHOLDERS)
    if unknown:
        raise ValueError(f"username template {template!r}: unknown placeholder(s) {', '.join(unknown)}")


def render_username(template: str, caller: Caller, access_key_id: str) -> str:
    """The username an entry's template gives the caller, as renderTemplate fills it: {{AccountID}}, {{SessionName}}
    (the session name with every `@` replaced by `-`), {{SessionNameRaw}} (the session name as it is) and
    {{AccessKeyID}}. One pass, so nothing a session name holds is read as a placeholder."""
    values = {
        "AccountID": caller.account_id,
        "SessionName": caller.session_name.replace("@", "-"),
        "SessionNameRaw": caller.session_name,
        "AccessKeyID": access_key_id,
    }
    return _PLACEHOLDER.sub(lambda found: values.get(found.group(1), found.group(0)), template)


class EksTokenAuthenticator:
    """Authenticates EKS bearer tokens for the dev cluster (the webhook aws-iam-authenticator answers on EKS)."""

    def __init__(self, settings: EksAuthentication) -> None:
        for entry in settings.access_entries.values():
            check_template(entry.username)
        self._settings = settings
        self._entries = {principal_key(arn): entry for arn, entry in settings.access_entries.items()}

    def authenticate_token(self, token: str) -> UserInfo | None:
        """The user a token stands for, or None when it is refused (the server answers 401)."""
        try:
            return self._authenticate(token)
        except RefusedToken as refused:
            LOG.info("EKS token refused: %s", refused)
            return None

    def _authenticate(self, token: str) -> UserInfo:
        settings = self._settings
        request = read_presigned_url(decode_token(token), settings.sts_endpoint)
        check_age(request.signed_at, settings.clock())
        try:
            arn = settings.caller_identity(request.url, {CLUSTER_ID_HEADER: settings.cluster_id})
        except Exception as exc:  # STS could not be asked: the token is not accepted, as Verify's STSError
            raise RefusedToken(f"STS could not be asked: {type(exc).__name__}: {exc}") from None
        if arn is None:
            raise RefusedToken("STS refused the presigned request (signature, key or cluster id)")
        caller = caller_from_arn(arn)
        entry = self._entries.get(principal_key(caller.principal_arn))
        if entry is None:
            raise RefusedToken(f"no access entry for {caller.principal_arn}")
        username = render_username(entry.username, caller, request.access_key_id)
        if not username:
            raise RefusedToken(f"the access entry for {caller.principal_arn} gives an empty username")
        # the extra aws-iam-authenticator's server sets for every mapped identity
        extra = (
            ("accessKeyId", (request.access_key_id,)),
            ("arn", (caller.arn,)),
            ("canonicalArn", (caller.principal_arn,)),
            ("sessionName", (caller.session_name,)),
        )
        return UserInfo(username, tuple(entry.groups), extra=extra)
