"""SelfSubjectAccessReview and SelfSubjectRulesReview (authorization.k8s.io/v1): the caller asks the authorizer about
themselves, which is what `kubectl auth can-i` and `kubectl auth can-i --list` send
(pkg/registry/authorization/selfsubjectaccessreview and selfsubjectrulesreview)."""

from __future__ import annotations

import copy
from typing import Any

from devstack.cluster.auth import Attributes, Authorizer, UserInfo
from devstack.cluster.status import FieldError, invalid_object

_GROUP = "authorization.k8s.io"


def access_review(authorizer: Authorizer, user: UserInfo, review: dict[str, Any]) -> dict[str, Any]:
    """The review with its status: allowed, and RBAC's reason when it is."""
    spec = review.get("spec") or {}
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (resource is None) == (non_resource is None):
        problem = "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        raise invalid_object(
            "", [FieldError("FieldValueInvalid", "spec.resourceAttributes", f'Invalid value: "null": {problem}')],
            "SelfSubjectAccessReview", _GROUP,
        )  # fmt: skip
    if resource is not None:
        attributes = Attributes(
            user,
            resource.get("verb", ""),
            resource.get("group", ""),
            resource.get("resource", ""),
            resource.get("subresource", ""),
            resource.get("name", ""),
            namespace=resource.get("namespace", ""),
        )
    else:
        asked = non_resource or {}
        attributes = Attributes(user, asked.get("verb", ""), path=asked.get("path", ""), resource_request=False)
    reason = authorizer.reason(attributes)
    status: dict[str, Any] = {"allowed": reason is not None}
    if reason:
        status["reason"] = reason
    return _answer(review, "SelfSubjectAccessReview", status)


def rules_review(authorizer: Authorizer, user: UserInfo, review: dict[str, Any]) -> dict[str, Any]:
    """The review with every rule the caller holds in spec.namespace (RulesFor), resource and non-resource apart."""
    namespace = (review.get("spec") or {}).get("namespace", "")
    resource_rules, non_resource_rules = [], []
    for each in authorizer.rules_for(user, namespace):
        policy = each.as_policy()
        if each.non_resource_urls:
            non_resource_rules.append({"verbs": policy["verbs"], "nonResourceURLs": policy["nonResourceURLs"]})
        else:
            resource_rules.append(policy)
    status = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": False}
    return _answer(review, "SelfSubjectRulesReview", status)


def _answer(review: dict[str, Any], kind: str, status: dict[str, Any]) -> dict[str, Any]:
    answer = copy.deepcopy(review)
    answer.update(kind=kind, apiVersion=f"{_GROUP}/v1", status=status)
    answer.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    return answer
