"""The dev cluster's RBAC rules: how bindings apply to users, how one set of rules covers another (the escalation
check) and how missing permissions are worded, each as upstream's rbac packages do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from devstack.cluster.auth import Attributes, Authorizer, Rule, UserInfo, rule
from devstack.cluster.decoding import decode_body
from devstack.cluster.rbac import compact, compact_string, confirm_no_escalation, covers
from devstack.cluster.schema import SELF_SUBJECT_ACCESS_REVIEW

RBAC = "rbac.authorization.k8s.io"
EDIT = (rule("get list watch create update patch delete", "core", "configmaps"),)


class MemoryPolicy:
    """Bindings and roles held in memory, as the stores hold them."""

    def __init__(
        self,
        cluster_bindings: Sequence[Mapping[str, Any]] = (),
        bindings: Sequence[Mapping[str, Any]] = (),
        roles: Mapping[tuple[str, str], tuple[Rule, ...]] | None = None,
    ) -> None:
        self._cluster_bindings = cluster_bindings
        self._bindings = bindings
        self._roles = roles or {("ClusterRole", "edit"): EDIT}

    def cluster_role_bindings(self) -> Sequence[Mapping[str, Any]]:
        return self._cluster_bindings

    def role_bindings(self, namespace: str) -> Sequence[Mapping[str, Any]]:
        return [b for b in self._bindings if b["metadata"]["namespace"] == namespace]

    def role_rules(self, role_ref: Mapping[str, Any], namespace: str) -> tuple[Rule, ...] | None:
        return self._roles.get((role_ref["kind"], role_ref["name"]))


def binding(name: str, subject: dict[str, str], namespace: str = "", role: str = "edit") -> dict[str, Any]:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"metadata": metadata, "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
            "subjects": [subject]}  # fmt: skip


def write_configmaps(user: UserInfo, namespace: str) -> Attributes:
    return Attributes(user, "create", "", "configmaps", namespace=namespace)


def test_a_rolebinding_allows_only_in_its_namespace_and_says_which_binding_allowed() -> None:
    # GIVEN dana bound to edit in payments
    authorizer = Authorizer(MemoryPolicy(bindings=[binding("g1", {"kind": "User", "name": "dana"}, "payments")]))
    dana = UserInfo("dana", ("system:authenticated",))
    # THEN she may write configmaps in payments, with RBAC's reason, and nowhere else
    assert authorizer.reason(write_configmaps(dana, "payments")) == (
        'RBAC: allowed by RoleBinding "g1/payments" of ClusterRole "edit" to User "dana"'
    )
    assert not authorizer.allowed(write_configmaps(dana, "billing"))
    assert not authorizer.allowed(write_configmaps(dana, ""))


@pytest.mark.parametrize(
    ("subject", "allowed"),
    [
        ({"kind": "ServiceAccount", "name": "deployer"}, True),  # the binding's namespace is the account's
        ({"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}, False),
        ({"kind": "Group", "name": "system:serviceaccounts:payments"}, True),
        ({"kind": "User", "name": "deployer"}, False),
    ],
)
def test_a_service_account_is_matched_by_its_username(subject: dict[str, str], allowed: bool) -> None:
    authorizer = Authorizer(MemoryPolicy(bindings=[binding("g1", subject, "payments")]))
    account = UserInfo("system:serviceaccount:payments:deployer", ("system:serviceaccounts:payments",))
    assert authorizer.allowed(write_configmaps(account, "payments")) is allowed


def test_a_clusterrolebinding_to_a_missing_role_allows_nothing() -> None:
    policy = MemoryPolicy(cluster_bindings=[binding("x", {"kind": "Group", "name": "g"}, role="gone")])
    assert not Authorizer(policy).allowed(write_configmaps(UserInfo("u", ("g",)), "payments"))


@pytest.mark.parametrize(
    ("owned", "granted", "missing"),
    [
        ((rule("*", "*", "*"),), EDIT, []),
        (EDIT, (rule("get", "core", "configmaps"),), []),
        # A rule by name is covered by one without names, not the other way round.
        ((rule("get", "core", "configmaps"),), (rule("get", "core", "configmaps", names="a"),), []),
        ((rule("get", "core", "configmaps", names="a"),), (rule("get", "core", "configmaps"),), ["get"]),
        # `*/status` covers every resource's status, not the resources.
        ((rule("get", "core", "*/status"),), (rule("get", "core", "nodes/status"),), []),
        ((rule("get", "core", "*/status"),), (rule("get", "core", "nodes"),), ["get"]),
    ],
)
def test_covers_breaks_granted_rules_down_and_returns_what_is_not_owned(
    owned: tuple[Rule, ...], granted: tuple[Rule, ...], missing: list[str]
) -> None:
    assert [verb for each in covers(owned, granted) for verb in each.verbs] == missing


def test_a_non_resource_url_is_covered_by_a_prefix_with_a_star() -> None:
    assert covers((rule("get", urls="/apis/*"),), (rule("get", urls="/apis/rbac"),)) == []
    assert len(covers((rule("get", urls="/apis/*"),), (rule("get", urls="/api"),))) == 1


def test_missing_rules_are_compacted_per_resource_and_worded_as_upstream() -> None:
    missing = covers((), (rule("get list", "core", "configmaps"), rule("bind", RBAC, "clusterroles", names="edit")))
    described = sorted(compact_string(each) for each in compact(missing))
    assert described == [
        '{APIGroups:[""], Resources:["configmaps"], Verbs:["get" "list"]}',
        '{APIGroups:["rbac.authorization.k8s.io"], Resources:["clusterroles"], ResourceNames:["edit"], Verbs:["bind"]}',
    ]


def test_the_escalation_refusal_names_the_user_their_groups_and_the_missing_rules() -> None:
    user = UserInfo("csrgate-approver", ("csrgate:approvers", "system:authenticated"))
    refusal = confirm_no_escalation(user, EDIT, (rule("*", "*", "*"), rule("*", urls="*")))
    assert refusal == (
        'user "csrgate-approver" (groups=["csrgate:approvers" "system:authenticated"]) is attempting to grant RBAC '
        'permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n'
        '{NonResourceURLs:["*"], Verbs:["*"]}'
    )
    assert confirm_no_escalation(user, EDIT, EDIT) is None


def field(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return bytes([number << 3 | 2, len(data)]) + data


def test_an_access_review_sent_as_protobuf_decodes_to_its_json_shape() -> None:
    # GIVEN what `kubectl auth can-i create configmaps -n payments` sends (k8s.io/api authorization/v1 field numbers)
    attributes = field(1, "payments") + field(2, "create") + field(5, "configmaps")
    review = field(1, b"") + field(2, field(1, attributes))
    type_meta = field(1, "authorization.k8s.io/v1") + field(2, "SelfSubjectAccessReview")
    body = b"k8s\x00" + field(1, type_meta) + field(2, review)
    # WHEN the server decodes it THEN it reads the resource attributes
    decoded = decode_body(body, "application/vnd.kubernetes.protobuf", SELF_SUBJECT_ACCESS_REVIEW).object
    assert decoded["spec"]["resourceAttributes"] == {
        "namespace": "payments",
        "verb": "create",
        "resource": "configmaps",
    }
