"""The policy as data: a YAML document, validated at load, merged over csrgate's built-in secure defaults."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from csrgate.domain.documents import DocumentError, load_document
from csrgate.domain.errors import PolicyError

# The key usages Kubernetes accepts in spec.usages (k8s.io/api/certificates/v1 KeyUsage).
KeyUsage = Literal[
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
]
SanKind = Literal["dns", "ip", "email", "uri"]
# Usages that become extended key usages. A certificate with none of them, or with `any`, is accepted by Go for
# every purpose, client and server authentication alike.
_EXTENDED_USAGES = frozenset(
    {
        "server auth", "client auth", "code signing", "email protection", "s/mime", "ipsec end system",
        "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc", "any",
    }
)  # fmt: skip
KeyType = Literal["RSA", "EC", "Ed25519"]  # what Go's crypto/x509 verifies; Ed448 and DSA never are

API_MINIMUM_EXPIRATION_SECONDS = 600  # CertificateSigningRequestSpec.expirationSeconds minimum
RSA_FLOOR_BITS = 2048
EC_FLOOR_BITS = 256
# Floors: a policy file adds to these, it never removes them (as rsaMinBits can only be raised).
FORBIDDEN_GROUPS_FLOOR = ("system:masters", "kubeadm:cluster-admins")
RESERVED_USERNAME_FLOOR = "system:"  # for every signer whose certificates authenticate clients
_FLOOR_LISTS = ("forbiddenGroups", "reservedUsernamePrefixes")
# The `kubernetes` Service's ClusterIP in kubeadm's and EKS's default Service ranges.
DEFAULT_API_SERVER_ADDRESSES = ("10.96.0.1", "10.100.0.1", "172.20.0.1")
_SIGNER_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?")


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class KeyRules(_Rules):
    """Which public keys are strong enough. Floors can be raised, never lowered."""

    rsa_min_bits: StrictInt = Field(default=RSA_FLOOR_BITS, ge=RSA_FLOOR_BITS)
    ec_min_bits: StrictInt = Field(default=EC_FLOOR_BITS, ge=EC_FLOOR_BITS)
    allowed_types: tuple[KeyType, ...] = ("RSA", "EC", "Ed25519")


class SanRules(_Rules):
    """Which subject alternative names a signer's certificates may carry."""

    allowed: tuple[SanKind, ...] = ()
    required: StrictBool = False  # at least one DNS or IP name
    dns_patterns: tuple[re.Pattern[str], ...] = ()  # each DNS name must fully match one; empty means any
    # Each DNS name is the node's full name, or that name followed by a suffix matching node_dns_suffix_pattern
    # (kubelet-csr-approver's providerRegex), for signers whose CN names a node.
    dns_names_start_with_node_name: StrictBool = False
    node_dns_suffix_pattern: re.Pattern[str] | None = None
    max_dns_names: StrictInt | None = Field(default=None, ge=1)
    max_ip_addresses: StrictInt | None = Field(default=None, ge=1)
    ip_ranges: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None = None  # None means any
    service_ranges: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()  # IP SANs never in these
    # Before an automatic approval, the worker finds every DNS and IP SAN in the requesting node's Node object.
    match_node_addresses: StrictBool = False
    # Serving certificates never name the API server (the `kubernetes` Service), unless this says they may.
    allow_api_server_names: StrictBool = False
    api_server_addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = tuple(
        ipaddress.ip_address(address) for address in DEFAULT_API_SERVER_ADDRESSES
    )

    @field_validator("dns_patterns", mode="before")
    @classmethod
    def _compile(cls, patterns: Any) -> Any:
        if not isinstance(patterns, list | tuple):
            return patterns
        compiled = []
        for index, pattern in enumerate(patterns):
            if not isinstance(pattern, str):
                raise ValueError(f"item {index} must be a string")
            try:
                compiled.append(re.compile(pattern))
            except re.error as exc:
                raise ValueError(f"item {index} is not a valid regular expression: {exc}") from exc
        return compiled

    @field_validator("ip_ranges", "service_ranges", mode="before")
    @classmethod
    def _networks(cls, ranges: Any) -> Any:
        if not isinstance(ranges, list | tuple):
            return ranges
        networks = []
        for index, text in enumerate(ranges):
            try:
                networks.append(ipaddress.ip_network(str(text), strict=True))
            except ValueError as exc:
                raise ValueError(f"item {index} is not a CIDR range: {exc}") from exc
        return networks


class SignerRules(_Rules):
    """What one signer's requests must look like, and what a clean request gets."""

    managed: StrictBool = True
    on_clean: Literal["approve", "review"] = "review"
    supported_on_eks: StrictBool = True
    allowed_usages: tuple[KeyUsage, ...] = ()
    required_usages: tuple[KeyUsage, ...] = ()
    require_common_name: StrictBool = True
    common_name_pattern: re.Pattern[str] | None = None
    subject_must_match_requester: StrictBool = False
    reserved_username_prefixes: tuple[StrictStr, ...] = ("system:",)
    forbidden_groups: tuple[StrictStr, ...] = ("system:masters", "kubeadm:cluster-admins")
    required_groups: tuple[StrictStr, ...] = ()
    only_required_groups: StrictBool = False
    privileged_groups: tuple[StrictStr, ...] = ()  # O values that make a request need more approvers
    requester_groups: tuple[StrictStr, ...] = ()  # groups the requesting identity must be in to skip a person
    allow_non_ascii_subject: StrictBool = False  # CN and O in printable ASCII unless this says otherwise
    expiration_required: StrictBool = True
    max_expiration_seconds: StrictInt | None = Field(default=None, ge=API_MINIMUM_EXPIRATION_SECONDS)
    sans: SanRules = SanRules()
    # A client CSR made with a still-valid certificate csrgate delivered, for the same user and no more groups, is its
    # renewal (csrgate.domain.renewals): approved on its own, or reviewed, and never once the chain of renewals is
    # older than this since a person last approved.
    on_renewal: Literal["approve", "review"] = "approve"
    max_renewal_chain_days: StrictInt = Field(default=90, ge=1, le=3650)

    @model_validator(mode="after")
    def _required_usages_are_allowed(self) -> SignerRules:
        missing = sorted(set(self.required_usages) - set(self.allowed_usages))
        if missing:
            raise ValueError(f"requiredUsages {missing} must also be in allowedUsages")
        return self

    @property
    def authenticates_clients(self) -> bool:
        """Whether this signer's certificates may log in to the API server (client auth, any, or no EKU at all)."""
        return self._may_be_used_for("client auth")

    @property
    def serves(self) -> bool:
        """Whether this signer's certificates may serve TLS (server auth, any, or no EKU at all)."""
        return self._may_be_used_for("server auth")

    def _may_be_used_for(self, usage: str) -> bool:
        return bool({usage, "any"} & set(self.allowed_usages)) or not _EXTENDED_USAGES & set(self.allowed_usages)

    @model_validator(mode="after")
    def _floors_hold(self) -> SignerRules:
        """No policy removes the floors: they are added back to whatever a file lists."""
        floors: dict[str, Any] = {
            "forbidden_groups": tuple(dict.fromkeys(self.forbidden_groups + FORBIDDEN_GROUPS_FLOOR))
        }
        if self.authenticates_clients and RESERVED_USERNAME_FLOOR not in self.reserved_username_prefixes:
            floors["reserved_username_prefixes"] = (*self.reserved_username_prefixes, RESERVED_USERNAME_FLOOR)
        for name, value in floors.items():
            object.__setattr__(self, name, value)
        return self


class Policy(_Rules):
    """The whole policy: key strength and the rules of each managed signer."""

    version: Literal[1] = 1
    keys: KeyRules = KeyRules()
    signers: dict[str, SignerRules] = {}

    @field_validator("signers")
    @classmethod
    def _signer_names(cls, signers: dict[str, SignerRules]) -> dict[str, SignerRules]:
        for name in signers:
            if not _SIGNER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a signer name (a domain, a slash and a path)")
        return signers

    def rules_for(self, signer_name: str | None) -> SignerRules | None:
        """The rules of a managed signer, or None when csrgate must leave its requests alone."""
        rules = self.signers.get(signer_name or "")
        return rules if rules is not None and rules.managed else None


@cache
def default_policy() -> Policy:
    """csrgate's built-in secure defaults (parsed once; policies are immutable)."""
    return load_policy("", "(built-in defaults)")


def load_policy(text: str, source: str) -> Policy:
    """Parse and validate a policy document, merged over the built-in defaults; raise PolicyError naming the key."""
    overrides = _document(text, source)
    merged = _merge(_document(_DEFAULT_POLICY_TEXT, "(built-in defaults)"), overrides)
    try:
        return Policy.model_validate(merged)
    except ValidationError as exc:
        raise PolicyError(source, _describe(exc)) from None


def _document(text: str, source: str) -> dict[str, Any]:
    try:
        document = load_document(text, allow_empty=True)
    except DocumentError as exc:
        raise PolicyError(source, str(exc)) from None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise PolicyError(source, "the top level must be a mapping with `version`, `keys` and `signers`")
    return dict(document)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        elif key in _FLOOR_LISTS and isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = list(dict.fromkeys([*merged[key], *value]))  # floors: a file adds, never removes
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(_key_text(part) for part in first["loc"]) or "(top level)"
    message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
    more = exc.error_count() - 1
    return f"{where}: {message}" + (f" (and {more} more)" if more else "")


def _key_text(part: int | str) -> str:
    text = str(part)
    return f'"{text}"' if "/" in text or "." in text else text


_DEFAULT_POLICY_TEXT = resources.files(__package__).joinpath("default-policy.yaml").read_text(encoding="utf-8")
