"""Policy checks: small ordered functions, each looking at one thing and returning findings."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from csrgate.domain.cluster import ClusterKind
from csrgate.domain.csr import DecodedCsr
from csrgate.domain.findings import Code, Finding, error, warning
from csrgate.domain.policy import API_MINIMUM_EXPIRATION_SECONDS, KeyRules, SignerRules
from csrgate.domain.request import SigningRequest
from csrgate.domain.summary import describe_lifetime
from csrgate.domain.text import has_invisible, is_printable_ascii, lookalike_problem, shown

MAX_COMMON_NAME_LENGTH = 64  # ub-common-name in RFC 5280
# Approvers must be able to read every group and name a certificate would carry; longer lists are denied.
MAX_GROUPS = 20
MAX_GROUPS_CHARS = 400
MAX_SANS = 50
RSA_MIN_EXPONENT = 65537
ACCEPTED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})  # NIST P-256, P-384, P-521
NODE_USERNAME_PREFIX = "system:node:"
# The names of the `kubernetes` Service: the API server as every pod reaches it.
API_SERVER_NAMES = frozenset({"kubernetes", "kubernetes.default", "kubernetes.default.svc"})
API_SERVER_NAME_PREFIX = "kubernetes.default.svc."
# <service>.<namespace>.svc[.<cluster domain>] and localhost: names pods resolve to something other than a node.
_SERVICE_OR_LOCAL_NAME = re.compile(r"^[^.]+\.[^.]+\.svc(\.|$)|(^|\.)localhost$")
SYSTEM_GROUP_PREFIX = "system:"
_WEAK_SIGNATURE_HASHES = ("md2", "md4", "md5", "sha1")
_WELL_KNOWN_GROUPS_HINT = "groups come from the O values of the CSR subject"


@dataclass(frozen=True)
class CheckContext:
    """What every check may look at."""

    request: SigningRequest
    csr: DecodedCsr
    signer: SignerRules
    keys: KeyRules
    cluster_kind: ClusterKind


Check = Callable[[CheckContext], Iterator[Finding]]


def check_eks_support(ctx: CheckContext) -> Iterator[Finding]:
    """EKS never issues certificates for some signers, so approving them would only strand the requester."""
    if ctx.cluster_kind is ClusterKind.EKS and not ctx.signer.supported_on_eks:
        yield error(
            Code.SIGNER_UNSUPPORTED_ON_EKS,
            f"EKS never issues certificates for {ctx.request.signer_name} (the EKS user guide: "
            '"Client certificate signing is not supported"), so this request could be approved but never signed; '
            "sign in with IAM through an EKS access entry instead, and ask for time-boxed access in Slack with "
            "/csrgate access",
        )


def check_signature(ctx: CheckContext) -> Iterator[Finding]:
    """The self-signature proves the requester holds the private key, if made with a hash that is not broken."""
    algorithm = ctx.csr.signature_algorithm
    if any(weak in algorithm.lower() for weak in _WEAK_SIGNATURE_HASHES):
        yield error(
            Code.WEAK_SIGNATURE,
            f"the CSR is signed with {algorithm}, a broken hash; create it again with SHA-256 (openssl req -sha256)",
        )
    elif not ctx.csr.signature_valid:
        yield error(
            Code.BAD_SIGNATURE,
            "the CSR's signature does not verify, so it does not prove possession of the private key; "
            "create the CSR again from your key (openssl req -new -key KEY)",
        )


def check_key(ctx: CheckContext) -> Iterator[Finding]:
    """RSA under the policy's minimum or with a small exponent, curves other than P-256, P-384 and P-521, DSA and
    unknown key types are refused, judged by the key's numbers rather than its name."""
    key, rules = ctx.csr.public_key, ctx.keys
    fix = f"use RSA with at least {rules.rsa_min_bits} bits or EC P-256 (openssl ecparam -name prime256v1 -genkey)"
    if key.type not in rules.allowed_types:
        yield error(Code.WEAK_KEY, f"{key.describe()} keys are not accepted; {fix}")
    elif key.type == "RSA" and (key.bits or 0) < rules.rsa_min_bits:
        yield error(Code.WEAK_KEY, f"the RSA key has {key.bits} bits, below {rules.rsa_min_bits}; {fix}")
    elif key.type == "RSA" and (key.exponent or 0) < RSA_MIN_EXPONENT:
        yield error(Code.WEAK_KEY, f"the RSA key's public exponent is {key.exponent}, below {RSA_MIN_EXPONENT}; {fix}")
    elif key.type == "EC" and (key.bits or 0) < rules.ec_min_bits:
        yield error(Code.WEAK_KEY, f"the EC curve {key.curve} has {key.bits} bits, below {rules.ec_min_bits}; {fix}")
    elif key.type == "EC" and key.curve not in ACCEPTED_CURVES:
        yield error(Code.WEAK_KEY, f"keys on the curve {key.curve} are not accepted; {fix}")


def check_subject_text(ctx: CheckContext) -> Iterator[Finding]:
    """Subject text is shown to people: control, invisible and unassigned characters have no place in it, and the
    user and group names (CN, O) are printable ASCII unless the policy allows more, never look-alikes."""
    subject = ctx.csr.subject
    values = [*subject.common_names, *subject.organizations, *(value for _, value in subject.other)]
    if any(has_invisible(value) for value in values):
        yield error(
            Code.INVALID_SUBJECT,
            "the subject contains control, invisible or non-printable characters; use plain printable text",
        )
    for label, value in [*(("CN", cn) for cn in subject.common_names), *(("O", o) for o in subject.organizations)]:
        if ctx.signer.allow_non_ascii_subject:
            problem = lookalike_problem(value)
            if problem and problem != "holds invisible characters":
                yield error(Code.INVALID_SUBJECT, f"the {label} {shown(value)!r} {problem}; use plain text")
        elif not is_printable_ascii(value):
            yield error(
                Code.INVALID_SUBJECT,
                f"the {label} {shown(value)!r} is not printable ASCII, so it could pass for another name; "
                "use ASCII letters, digits and punctuation",
            )
    if len(subject.organizations) > MAX_GROUPS or sum(map(len, subject.organizations)) > MAX_GROUPS_CHARS:
        yield error(
            Code.INVALID_SUBJECT,
            f"the subject asks for {len(subject.organizations)} groups; at most {MAX_GROUPS} (and "
            f"{MAX_GROUPS_CHARS} characters in all) so that approvers can read every one",
        )
    if len(subject.common_names) > 1:
        yield error(Code.INVALID_SUBJECT, f"the subject has {len(subject.common_names)} CNs; give exactly one")
    if any(len(cn) > MAX_COMMON_NAME_LENGTH for cn in subject.common_names):
        yield error(Code.INVALID_SUBJECT, f"the CN is longer than {MAX_COMMON_NAME_LENGTH} characters")


def check_common_name(ctx: CheckContext) -> Iterator[Finding]:
    """The CN becomes the Kubernetes user name, so it must be there and look like the signer expects."""
    common_name, signer = ctx.csr.subject.common_name, ctx.signer
    if common_name is None or not common_name.strip():
        if signer.require_common_name:
            yield error(
                Code.MISSING_COMMON_NAME,
                "the subject has no CN; set it to the user name the certificate is for (-subj '/CN=NAME')",
            )
        return
    if signer.common_name_pattern is not None and not signer.common_name_pattern.fullmatch(common_name):
        yield error(
            Code.INVALID_SUBJECT,
            f"the CN does not match the form {ctx.request.signer_name} requires: {signer.common_name_pattern.pattern}",
        )


def check_reserved_username(ctx: CheckContext) -> Iterator[Finding]:
    """Client certificates must not claim the identities Kubernetes keeps for itself."""
    common_name = ctx.csr.subject.common_name or ""
    for prefix in ctx.signer.reserved_username_prefixes:
        if common_name.startswith(prefix):
            yield error(
                Code.RESERVED_USERNAME,
                f"user names starting with {prefix!r} are reserved for Kubernetes components; choose a personal name",
            )


def check_groups(ctx: CheckContext) -> Iterator[Finding]:
    """O values become groups: no privileged groups, no `system:` groups the signer does not require."""
    signer, organizations = ctx.signer, ctx.csr.subject.organizations
    for group in dict.fromkeys(organizations):
        if group in signer.forbidden_groups:
            yield error(
                Code.FORBIDDEN_GROUP,
                f"the group {group!r} may not be requested ({_WELL_KNOWN_GROUPS_HINT}); remove that O value "
                "and ask for RBAC bindings instead",
            )
        elif group.startswith(SYSTEM_GROUP_PREFIX) and group not in signer.required_groups:
            yield error(
                Code.FORBIDDEN_GROUP,
                f"the group {group!r} is reserved for Kubernetes ({_WELL_KNOWN_GROUPS_HINT}); remove that O value",
            )
        elif signer.only_required_groups and group not in signer.required_groups:
            yield error(
                Code.INVALID_SUBJECT,
                f"{ctx.request.signer_name} allows only the O values {_quoted(signer.required_groups)}; "
                f"remove {group!r}",
            )
    missing = [group for group in signer.required_groups if group not in organizations]
    if missing:
        yield error(Code.INVALID_SUBJECT, f"{ctx.request.signer_name} requires the O values {_quoted(missing)}")


def check_requester(ctx: CheckContext) -> Iterator[Finding]:
    """Where the signer says so, the certificate's subject must be the identity that asked for it."""
    if not ctx.signer.subject_must_match_requester:
        return
    username, common_name = ctx.request.username, ctx.csr.subject.common_name
    if username is None:
        yield warning(
            Code.REQUESTER_UNKNOWN,
            "who created this request is unknown, so nobody can tell whether the node asked for its own "
            "certificate; a person must confirm it",
        )
    elif username != common_name:
        yield error(
            Code.SUBJECT_MISMATCH,
            f"the CN must equal the requesting identity {shown(username)!r}: "
            "a node may only ask for its own certificate",
        )
    missing = [group for group in ctx.signer.requester_groups if group not in ctx.request.groups]
    if username is not None and missing:
        yield warning(
            Code.REQUESTER_UNKNOWN,
            f"the requesting identity is not in {_quoted(missing)}, as a node authenticated by the cluster is; "
            "a person must confirm who asked",
        )


def check_usages(ctx: CheckContext) -> Iterator[Finding]:
    """spec.usages, not the CSR's own extensions, decide what the certificate is for (as the signers read it)."""
    usages, signer = ctx.request.usages, ctx.signer
    not_allowed = [usage for usage in dict.fromkeys(usages) if usage not in signer.allowed_usages]
    if not_allowed:
        yield error(
            Code.USAGE_NOT_ALLOWED,
            f"{ctx.request.signer_name} does not allow the usages {_quoted(not_allowed)}; "
            f"remove them from spec.usages (allowed: {_quoted(signer.allowed_usages)})",
        )
    missing = [usage for usage in signer.required_usages if usage not in usages]
    if missing:
        yield error(Code.MISSING_USAGE, f"add {_quoted(missing)} to spec.usages")


def check_sans(ctx: CheckContext) -> Iterator[Finding]:
    """Each kind of subject alternative name must be allowed, and each name must fit the signer's rules."""
    sans, rules = ctx.csr.sans, ctx.signer.sans
    present = {"dns": sans.dns, "ip": sans.ip, "email": sans.email, "uri": sans.uri}
    for kind, names in present.items():
        if names and kind not in rules.allowed:
            yield error(Code.SAN_NOT_ALLOWED, f"{kind.upper()} names are not allowed for {ctx.request.signer_name}")
    if sans.other:
        yield error(Code.SAN_NOT_ALLOWED, "only DNS, IP, email and URI subject alternative names are understood")
    count = sum(len(names) for names in present.values())
    if count > MAX_SANS:
        yield error(Code.SAN_NOT_ALLOWED, f"the CSR has {count} subject alternative names; at most {MAX_SANS}")
    if rules.required and not (sans.dns or sans.ip):
        yield error(Code.MISSING_SAN, "add at least one DNS name or IP address as a subject alternative name")
    if "dns" in rules.allowed:
        yield from _check_dns_names(ctx)
    if "ip" in rules.allowed:
        yield from _check_ip_addresses(ctx)
    if ctx.signer.serves and not rules.allow_api_server_names:
        yield from _check_api_server_names(ctx)


def _check_dns_names(ctx: CheckContext) -> Iterator[Finding]:
    names, rules = ctx.csr.sans.dns, ctx.signer.sans
    if rules.max_dns_names is not None and len(names) > rules.max_dns_names:
        yield error(Code.SAN_NOT_ALLOWED, f"at most {rules.max_dns_names} DNS names are allowed, not {len(names)}")
    if rules.dns_patterns:
        for name in names:
            if not any(pattern.fullmatch(name) for pattern in rules.dns_patterns):
                yield error(Code.SAN_NOT_ALLOWED, f"the DNS name {name!r} matches none of the allowed patterns")
    if rules.dns_names_start_with_node_name:
        yield from _check_node_dns_names(ctx)


def _check_node_dns_names(ctx: CheckContext) -> Iterator[Finding]:
    """As kubelet-csr-approver binds them: the node's full name, or that name and a suffix the policy allows."""
    node, suffix_pattern = _node_name(ctx.csr.subject.common_name), ctx.signer.sans.node_dns_suffix_pattern
    for name in ctx.csr.sans.dns:
        suffix = name.removeprefix(node) if node is not None and name.startswith(node) else None
        if suffix is None or suffix and not suffix.startswith("."):
            yield error(Code.SAN_NOT_ALLOWED, f"the DNS name {name!r} is not the node's name {node!r}")
            continue
        if _SERVICE_OR_LOCAL_NAME.search(name.lower().rstrip(".")):
            yield error(
                Code.SAN_NOT_ALLOWED,
                f"the DNS name {name!r} is a Service's or the local host's name, which no node serves, whatever "
                "its node is called",
            )
            continue
        if suffix and (suffix_pattern is None or not suffix_pattern.fullmatch(suffix)):
            allowed = "no suffix" if suffix_pattern is None else f"only suffixes matching {suffix_pattern.pattern!r}"
            yield warning(
                Code.SAN_NOT_ALLOWED,
                f"the DNS name {name!r} is the node's name followed by {suffix!r}, and the policy allows {allowed} "
                "(sans.nodeDnsSuffixPattern); a person must confirm the node owns that name",
            )


def _check_ip_addresses(ctx: CheckContext) -> Iterator[Finding]:
    addresses, rules = ctx.csr.sans.ip, ctx.signer.sans
    if rules.max_ip_addresses is not None and len(addresses) > rules.max_ip_addresses:
        yield error(
            Code.SAN_NOT_ALLOWED, f"at most {rules.max_ip_addresses} IP addresses are allowed, not {len(addresses)}"
        )
    for text in addresses:
        if rules.ip_ranges is not None and not _in_ranges(text, rules.ip_ranges):
            yield error(Code.SAN_NOT_ALLOWED, f"the IP address {text} is outside the allowed ranges")
        elif _in_ranges(text, rules.service_ranges):
            yield error(
                Code.SAN_NOT_ALLOWED,
                f"the IP address {text} is in the cluster's Service range (sans.serviceRanges), which no node serves",
            )


def _check_api_server_names(ctx: CheckContext) -> Iterator[Finding]:
    """A serving certificate for the API server's in-cluster name lets its holder stand in for the API server
    before every pod that trusts the cluster CA (their service-account tokens included)."""
    for name in ctx.csr.sans.dns:
        if _names_api_server(name.lower().rstrip(".")):
            yield error(Code.SAN_NOT_ALLOWED, f"the DNS name {name!r} is the API server's own name")
    for text in ctx.csr.sans.ip:
        if _in_addresses(text, ctx.signer.sans.api_server_addresses):
            yield error(Code.SAN_NOT_ALLOWED, f"the IP address {text} is the API server's Service address")


def check_expiration(ctx: CheckContext) -> Iterator[Finding]:
    """Certificates cannot be revoked, so their lifetime is the only limit on a leaked key."""
    seconds, signer = ctx.request.expiration_seconds, ctx.signer
    limit = signer.max_expiration_seconds
    if seconds is None:
        if signer.expiration_required:
            most = f" (at most {limit}, {describe_lifetime(limit)})" if limit else ""
            yield error(
                Code.EXPIRATION_UNSET, f"set spec.expirationSeconds{most}: client certificates cannot be revoked"
            )
    elif seconds < API_MINIMUM_EXPIRATION_SECONDS:
        yield error(
            Code.EXPIRATION_TOO_SHORT,
            f"expirationSeconds is {seconds}; Kubernetes requires at least {API_MINIMUM_EXPIRATION_SECONDS}",
        )
    elif limit is not None and seconds > limit:
        yield error(
            Code.EXPIRATION_TOO_LONG,
            f"expirationSeconds is {seconds} ({describe_lifetime(seconds)}); "
            f"ask for at most {limit} ({describe_lifetime(limit)})",
        )


# A message shows each list on one line, and a line of text in a message holds at most 3,000 characters (Slack's
# limit for one text) with its label. A list longer than this is denied rather than shown cut short, since
# approvers must read every name a certificate would carry.
MAX_LIST_CHARS = 2800


def check_lists_fit_one_message(ctx: CheckContext) -> Iterator[Finding]:
    """The SANs and the groups, written as messages show them (code points of non-ASCII letters included), must
    each fit one line of a message."""
    sans = ctx.csr.sans
    named = [
        (kind, name)
        for kind, names in (("DNS", sans.dns), ("IP", sans.ip), ("EMAIL", sans.email), ("URI", sans.uri))
        for name in names
    ]
    length = _shown_length(f"{kind}:{shown(name)}" for kind, name in named)
    if length > MAX_LIST_CHARS:
        yield error(
            Code.SAN_NOT_ALLOWED,
            f"the CSR has {len(named)} subject alternative names, {length} characters as approvers read them, and "
            f"at most {MAX_LIST_CHARS} fit in one message; split the names over several CSRs, each with fewer names",
        )
    groups = ctx.csr.subject.organizations
    length = _shown_length(shown(group) for group in groups)
    if length > MAX_LIST_CHARS:
        yield error(
            Code.INVALID_SUBJECT,
            f"the subject asks for {len(groups)} groups, {length} characters as approvers read them (with the code "
            f"points of non-ASCII letters), and at most {MAX_LIST_CHARS} fit in one message; ask for fewer groups, "
            "or shorter names, in each CSR",
        )


def _shown_length(values: Iterable[str]) -> int:
    """The length of the values written one after another, as a message lists them (", " between them)."""
    lengths = [len(value) for value in values]
    return sum(lengths) + 2 * max(len(lengths) - 1, 0)


CHECKS: tuple[Check, ...] = (
    check_eks_support,
    check_signature,
    check_key,
    check_subject_text,
    check_common_name,
    check_reserved_username,
    check_groups,
    check_requester,
    check_usages,
    check_sans,
    check_expiration,
    check_lists_fit_one_message,  # last: the other checks have judged the names one by one
)


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(repr(value) for value in values)


def _in_ranges(text: str, ranges: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:  # a network rather than an address: never a valid SAN
        return False
    return any(address.version == network.version and address in network for network in ranges)


def _names_api_server(name: str) -> bool:
    """`kubernetes.default.svc` and its longer forms, or a wildcard that covers one (`*.default.svc`, as Go's
    VerifyHostname matches it)."""
    candidates = [name, f"kubernetes{name[1:]}"] if name.startswith("*.") or name == "*" else [name]
    return any(n in API_SERVER_NAMES or n.startswith(API_SERVER_NAME_PREFIX) for n in candidates)


def _in_addresses(text: str, addresses: Iterable[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address in set(addresses)


def _node_name(common_name: str | None) -> str | None:
    if not common_name or not common_name.startswith(NODE_USERNAME_PREFIX):
        return None
    return common_name.removeprefix(NODE_USERNAME_PREFIX) or None
