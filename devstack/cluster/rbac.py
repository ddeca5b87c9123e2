"""The RBAC API (rbac.authorization.k8s.io/v1): Roles, ClusterRoles, RoleBindings and ClusterRoleBindings, kept as
pkg/registry/rbac keeps them, and the stores the authorizer reads its policy from.

Validation follows pkg/apis/rbac/validation. The escalation rule follows the policy-based storage
(pkg/registry/rbac/{role,rolebinding,...}/policybased and validation.ConfirmNoEscalation): a binding may be written
only by a user who has `bind` on the role it references or already holds every permission that role grants (in the
binding's namespace for a RoleBinding); a role only by one who has `escalate` or holds all its rules. Members of
system:masters may always (EscalationAllowed).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from devstack.cluster.auth import MASTERS, Attributes, Authorizer, Rule, UserInfo
from devstack.cluster.registry import FieldErrors, Registry
from devstack.cluster.schema import CLUSTER_ROLE, CLUSTER_ROLE_BINDING, ROLE, ROLE_BINDING
from devstack.cluster.status import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    RBAC_GROUP,
    ROLE_BINDINGS,
    ROLES,
    GoLiteral,
    Resource,
    forbidden_object,
    invalid,
    not_supported,
    required,
)
from devstack.cluster.store import Store
from devstack.cluster.strategy import metadata_for_create, metadata_for_update

API_VERSION = f"{RBAC_GROUP}/v1"
_SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]
_GC_METADATA = ("ownerReferences", "finalizers")


class StorePolicy:
    """The authorizer's view of the stored RBAC objects."""

    def __init__(self, roles: Store, cluster_roles: Store, role_bindings: Store, cluster_role_bindings: Store) -> None:
        self._roles = roles
        self._cluster_roles = cluster_roles
        self._role_bindings = role_bindings
        self._cluster_role_bindings = cluster_role_bindings

    def cluster_role_bindings(self) -> Sequence[Mapping[str, Any]]:
        """Every ClusterRoleBinding."""
        return self._cluster_role_bindings.snapshot()[0]

    def role_bindings(self, namespace: str) -> Sequence[Mapping[str, Any]]:
        """The RoleBindings of one namespace."""
        items = self._role_bindings.snapshot()[0]
        return [item for item in items if item["metadata"].get("namespace") == namespace]

    def role_rules(self, role_ref: Mapping[str, Any], namespace: str) -> tuple[Rule, ...] | None:
        """The rules of the referenced ClusterRole, or Role in `namespace` (GetRoleReferenceRules)."""
        name = role_ref.get("name", "")
        if role_ref.get("kind") == "ClusterRole":
            found = self._cluster_roles.get(name)
        elif role_ref.get("kind") == "Role" and namespace:
            found = self._roles.get(f"{namespace}/{name}")
        else:
            found = None
        if found is None:
            return None
        return tuple(Rule.from_policy(each) for each in found.get("rules") or ())


class _RbacRegistry(Registry):
    """What the four RBAC resources share: metadata, defaults, the name rule and the escalation check."""

    def __init__(
        self, store: Store, authorizer: Authorizer, clock: Callable[[], datetime], policy: StorePolicy
    ) -> None:
        super().__init__(store, authorizer, clock)
        self._policy = policy

    def prepare_for_create(self, body: dict[str, Any], user: UserInfo, uid: str, now: str) -> dict[str, Any]:
        """The generic registry's metadata; the rest as given, defaulted as the v1 defaulting functions do."""
        prepared = copy.deepcopy(body)
        prepared["metadata"] = metadata_for_create(body, uid, now)
        return self._defaulted(prepared)

    def prepare_for_update(
        self, new: dict[str, Any], old: dict[str, Any], subresource: str, now: str
    ) -> dict[str, Any]:
        """Everything from the update but the system's metadata."""
        prepared = copy.deepcopy(new)
        prepared["metadata"] = metadata_for_update(new, old)
        return self._defaulted(prepared)

    def admit_create(self, obj: dict[str, Any], user: UserInfo) -> None:
        """The escalation check of the policy-based storage."""
        self._refuse_escalation(obj, user, "")

    def admit_update(self, new: dict[str, Any], old: dict[str, Any], subresource: str, user: UserInfo) -> None:
        """The escalation check, unless only the garbage collector's fields change (IsOnlyMutatingGCFields)."""
        if _without_gc_fields(new) != _without_gc_fields(old):
            self._refuse_escalation(new, user, new["metadata"]["name"])

    def _defaulted(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj["apiVersion"], obj["kind"] = API_VERSION, self.resource.kind
        return obj

    def _refuse_escalation(self, obj: dict[str, Any], user: UserInfo, requested_name: str) -> None:
        if MASTERS in user.groups:
            return
        problem = self._escalation(obj, user, requested_name)
        if problem:
            raise forbidden_object(obj["metadata"].get("name", ""), self.resource, problem)

    def _escalation(self, obj: dict[str, Any], user: UserInfo, requested_name: str) -> str | None:
        """What is wrong with writing `obj`, or None when the user may."""
        raise NotImplementedError

    def _holds(self, user: UserInfo, namespace: str, rules: Iterable[Rule]) -> str | None:
        return confirm_no_escalation(user, self._authorizer.rules_for(user, namespace), rules)


class _RoleRegistry(_RbacRegistry):
    def validate(self, obj: dict[str, Any]) -> FieldErrors:
        """ValidateRole / ValidateClusterRole: the name and every rule."""
        errors = validate_rbac_name(obj)
        for index, each in enumerate(obj.get("rules") or []):
            errors += validate_policy_rule(each, self.namespaced, f"rules[{index}]")
        return errors

    def _escalation(self, obj: dict[str, Any], user: UserInfo, requested_name: str) -> str | None:
        namespace = obj["metadata"].get("namespace", "")
        escalate = Attributes(
            user, "escalate", RBAC_GROUP, self.resource.name, name=requested_name, namespace=namespace
        )
        if self._authorizer.allowed(escalate):
            return None  # RoleEscalationAuthorized
        return self._holds(user, namespace, (Rule.from_policy(each) for each in obj.get("rules") or ()))


class RoleRegistry(_RoleRegistry):
    """roles: namespaced rules."""

    resource = ROLES
    message = ROLE
    namespaced = True


class ClusterRoleRegistry(_RoleRegistry):
    """clusterroles: cluster-wide rules, non-resource URLs allowed."""

    resource = CLUSTER_ROLES
    message = CLUSTER_ROLE


class _BindingRegistry(_RbacRegistry):
    _role_kinds: list[str]

    def _defaulted(self, obj: dict[str, Any]) -> dict[str, Any]:
        """SetDefaults_RoleBinding and SetDefaults_Subject: the RBAC group where it was left out."""
        role_ref = obj.get("roleRef")
        if isinstance(role_ref, dict) and not role_ref.get("apiGroup"):
            role_ref["apiGroup"] = RBAC_GROUP
        for subject in obj.get("subjects") or []:
            if subject.get("kind") in ("User", "Group") and not subject.get("apiGroup"):
                subject["apiGroup"] = RBAC_GROUP
        return super()._defaulted(obj)

    def validate(self, obj: dict[str, Any]) -> FieldErrors:
        """ValidateRoleBinding / ValidateClusterRoleBinding: the name, roleRef and every subject."""
        errors = validate_rbac_name(obj)
        role_ref = obj.get("roleRef") or {}
        if role_ref.get("apiGroup", "") != RBAC_GROUP:
            errors.append(not_supported("roleRef.apiGroup", role_ref.get("apiGroup", ""), [RBAC_GROUP]))
        if role_ref.get("kind", "") not in self._role_kinds:
            errors.append(not_supported("roleRef.kind", role_ref.get("kind", ""), self._role_kinds))
        name = role_ref.get("name", "")
        if not name:
            errors.append(required("roleRef.name"))
        errors += [invalid("roleRef.name", name, problem) for problem in _path_segment_problems(name)]
        for index, subject in enumerate(obj.get("subjects") or []):
            errors += validate_subject(subject, self.namespaced, f"subjects[{index}]")
        return errors

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> FieldErrors:
        """roleRef cannot change: a binding to another role is a new binding."""
        errors = self.validate(new)
        if new.get("roleRef") != old.get("roleRef"):
            errors.append(
                invalid("roleRef", GoLiteral(_go_role_ref(new.get("roleRef") or {})), "cannot change roleRef")
            )
        return errors

    def _escalation(self, obj: dict[str, Any], user: UserInfo, requested_name: str) -> str | None:
        namespace = obj["metadata"].get("namespace", "")
        role_ref = obj.get("roleRef") or {}
        resource = "roles" if role_ref.get("kind") == "Role" else "clusterroles"
        bind = Attributes(user, "bind", RBAC_GROUP, resource, name=role_ref.get("name", ""), namespace=namespace)
        if self._authorizer.allowed(bind):
            return None  # BindingAuthorized
        rules = self._policy.role_rules(role_ref, namespace)
        if rules is None:
            return f'{resource}.{RBAC_GROUP} "{role_ref.get("name", "")}" not found'
        return self._holds(user, namespace, rules)


class RoleBindingRegistry(_BindingRegistry):
    """rolebindings: a Role or ClusterRole granted in one namespace."""

    resource = ROLE_BINDINGS
    message = ROLE_BINDING
    namespaced = True
    _role_kinds = ["Role", "ClusterRole"]


class ClusterRoleBindingRegistry(_BindingRegistry):
    """clusterrolebindings: a ClusterRole granted cluster-wide."""

    resource = CLUSTER_ROLE_BINDINGS
    message = CLUSTER_ROLE_BINDING
    _role_kinds = ["ClusterRole"]


RBAC_RESOURCES: tuple[Resource, ...] = (ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)


# --- validation ---------------------------------------------------------------------------------------------------


def validate_rbac_name(obj: dict[str, Any]) -> FieldErrors:
    """ValidateRBACName: any name that is a valid path segment."""
    name = obj.get("metadata", {}).get("name", "")
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    return [invalid("metadata.name", name, problem) for problem in _path_segment_problems(name)]


def _path_segment_problems(name: str) -> list[str]:
    """path.IsValidPathSegmentName."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in name]


def validate_policy_rule(each: dict[str, Any], namespaced: bool, path: str) -> FieldErrors:
    """ValidatePolicyRule."""
    errors: FieldErrors = []
    if not each.get("verbs"):
        errors.append(required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = each.get("nonResourceURLs") or []
    if urls:
        shown = GoLiteral(_go_strings(urls))
        if namespaced:
            errors.append(
                invalid(f"{path}.nonResourceURLs", shown, "namespaced rules cannot apply to non-resource URLs")
            )
        if each.get("apiGroups") or each.get("resources") or each.get("resourceNames"):
            errors.append(
                invalid(
                    f"{path}.nonResourceURLs",
                    shown,
                    "rules cannot apply to both regular resources and non-resource URLs",
                )
            )
        return errors
    if not each.get("apiGroups"):
        errors.append(required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
    if not each.get("resources"):
        errors.append(required(f"{path}.resources", "resource rules must supply at least one resource"))
    return errors


def validate_subject(subject: dict[str, Any], namespaced: bool, path: str) -> FieldErrors:
    """ValidateRoleBindingSubject: a named User, Group (in the RBAC group) or ServiceAccount (in the core group, with a
    namespace when the binding has none to lend it)."""
    errors: FieldErrors = []
    if not subject.get("name"):
        errors.append(required(f"{path}.name"))
    kind, group = subject.get("kind", ""), subject.get("apiGroup", "")
    if kind == "ServiceAccount":
        if group:
            errors.append(not_supported(f"{path}.apiGroup", group, [""]))
        if not namespaced and not subject.get("namespace"):
            errors.append(required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if group != RBAC_GROUP:
            errors.append(not_supported(f"{path}.apiGroup", group, [RBAC_GROUP]))
    else:
        errors.append(not_supported(f"{path}.kind", kind, _SUBJECT_KINDS))
    return errors


def _go_strings(values: Sequence[str]) -> str:
    return "[]string{" + ", ".join(json.dumps(value) for value in values) + "}"


def _go_role_ref(role_ref: Mapping[str, Any]) -> str:
    fields = ", ".join(f"{go}:{json.dumps(role_ref.get(key, ''))}" for go, key in (
        ("APIGroup", "apiGroup"), ("Kind", "kind"), ("Name", "name")))  # fmt: skip
    return f"rbac.RoleRef{{{fields}}}"


def _without_gc_fields(obj: dict[str, Any]) -> dict[str, Any]:
    trimmed = copy.deepcopy(obj)
    for key in (*_GC_METADATA, "resourceVersion"):
        trimmed.get("metadata", {}).pop(key, None)
    return trimmed


# --- escalation ---------------------------------------------------------------------------------------------------


def confirm_no_escalation(user: UserInfo, owned: Sequence[Rule], granted: Iterable[Rule]) -> str | None:
    """ConfirmNoEscalation: None when the owned rules cover every granted one, otherwise the refusal, listing what is
    missing as compact rules, one a line, sorted."""
    missing = covers(owned, granted)
    if not missing:
        return None
    described = sorted({compact_string(each) for each in compact(missing)})
    groups = "[" + " ".join(json.dumps(group) for group in user.groups) + "]"
    return (
        f"user {json.dumps(user.username)} (groups={groups}) is attempting to grant RBAC permissions not currently "
        "held:\n" + "\n".join(described)
    )


def covers(owned: Sequence[Rule], granted: Iterable[Rule]) -> list[Rule]:
    """Covers: the broken-down granted rules no owned rule covers."""
    return [sub for each in granted for sub in breakdown(each) if not any(rule_covers(own, sub) for own in owned)]


def breakdown(each: Rule) -> list[Rule]:
    """BreakdownRule: one rule per API group, resource, verb (and name); one per non-resource URL and verb."""
    pieces = []
    for group in sorted(each.api_groups):
        for resource in sorted(each.resources):
            for verb in sorted(each.verbs):
                names = sorted(each.resource_names) or [""]
                pieces += [
                    Rule(frozenset({verb}), frozenset({group}), frozenset({resource}), frozenset({name} - {""}))
                    for name in names
                ]
    for url in sorted(each.non_resource_urls):
        pieces += [Rule(frozenset({verb}), non_resource_urls=frozenset({url})) for verb in sorted(each.verbs)]
    return pieces


def rule_covers(owner: Rule, sub: Rule) -> bool:
    """ruleCovers: every part of `sub` is within `owner`."""
    verbs = "*" in owner.verbs or sub.verbs <= owner.verbs
    groups = "*" in owner.api_groups or sub.api_groups <= owner.api_groups
    names = not owner.resource_names or (bool(sub.resource_names) and sub.resource_names <= owner.resource_names)
    urls = all(any(_url_covers(own, url) for own in owner.non_resource_urls) for url in sub.non_resource_urls)
    return verbs and groups and _resources_cover(owner.resources, sub.resources) and names and urls


def _resources_cover(owned: frozenset[str], wanted: frozenset[str]) -> bool:
    if "*" in owned or wanted <= owned:
        return True
    return all(
        resource in owned or ("/" in resource and "*/" + resource.split("/", 1)[1] in owned) for resource in wanted
    )


def _url_covers(owner: str, url: str) -> bool:
    return owner == url or (owner.endswith("*") and url.startswith(owner.rstrip("*")))


def compact(rules: Sequence[Rule]) -> list[Rule]:
    """CompactRules: simple rules (one group, one resource, at most one name) on the same target merge their verbs."""
    merged: dict[tuple[str, str, str], Rule] = {}
    others = []
    for each in rules:
        simple = len(each.api_groups) == 1 and len(each.resources) == 1 and len(each.resource_names) <= 1
        if not simple or each.non_resource_urls:
            others.append(each)
            continue
        target = (next(iter(each.api_groups)), next(iter(each.resources)), next(iter(each.resource_names), ""))
        known = merged.get(target)
        merged[target] = each if known is None else Rule(known.verbs | each.verbs, *_target(known))
    return others + list(merged.values())


def _target(each: Rule) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    return each.api_groups, each.resources, each.resource_names


def compact_string(each: Rule) -> str:
    """rbacv1helpers.CompactString: `{APIGroups:[""], Resources:["configmaps"], Verbs:["create"]}`."""
    parts = [
        f"{label}:[{' '.join(json.dumps(value) for value in sorted(values))}]"
        for label, values in (
            ("APIGroups", each.api_groups),
            ("Resources", each.resources),
            ("NonResourceURLs", each.non_resource_urls),
            ("ResourceNames", each.resource_names),
            ("Verbs", each.verbs),
        )
        if values
    ]
    return "{" + ", ".join(parts) + "}"
