"""A cluster's `access` section as an operator writes it: the roles, namespaces and durations people may ask for, the
message naming the key for each mistake, how many approvers each role needs, and which namespaces a request may
name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from memory import ACCESS, EKS_ACCESS, EKS_LAB, LAB, PEOPLE_ROLE, cluster_config

from csrgate.domain.cluster import ClusterConfigError, ClusterIdentity, read_cluster
from csrgate.domain.grants import namespace_offered, parse_duration
from csrgate.domain.identity import identify


def access_with(**changes: Any) -> dict[str, Any]:
    """The lab's access section with some keys changed (None drops the key)."""
    return {key: value for key, value in (ACCESS | changes).items() if value is not None}


def eks_access_with(**changes: Any) -> dict[str, Any]:
    """The EKS lab's access section with some keys of its `eks` changed (None drops the key)."""
    eks = {key: value for key, value in (EKS_ACCESS["eks"] | changes).items() if value is not None}
    return EKS_ACCESS | {"eks": eks}


def problem(access: dict[str, Any], cluster: dict[str, Any] | None = None) -> str:
    """What the operator reads when the lab's document (or the lab changed so) carries this access section."""
    with pytest.raises(ClusterConfigError) as raised:
        read_cluster(json.dumps(LAB | (cluster or {}) | {"access": access}), "/csrgate/clusters/lab")
    return str(raised.value)


def test_the_offered_roles_namespaces_and_durations_are_read() -> None:
    # GIVEN the lab's access section
    cluster = cluster_config(access=ACCESS)
    access = cluster.access
    assert access is not None
    # THEN each role is offered by its name, with the ClusterRole it binds, where, and for how long at most
    edit = access.role("edit")
    assert edit is not None
    assert (edit.cluster_role, edit.scope, edit.max_seconds, edit.is_privileged) == (
        "edit",
        "namespace",
        4 * 3600,
        False,
    )
    cluster_view = access.role("cluster-view")
    assert cluster_view is not None and (cluster_view.scope, cluster_view.cluster_role) == ("cluster", "view")
    assert access.role("cluster-admin") is None
    assert access.namespaces == ("payments", "team-*")
    assert (access.username_template, access.email_domains) == ("{email_local}", ("example.com",))


def test_a_role_offered_without_saying_how_long_lasts_at_most_eight_hours_and_the_form_offers_up_to_that() -> None:
    # GIVEN a role with no maxDuration, and the usual durations
    cluster = cluster_config(
        access=access_with(roles=[{"name": "view", "clusterRole": "view"}], durations=None),
    )
    assert cluster.access is not None
    view = cluster.access.role("view")
    assert view is not None
    # THEN it is offered for 1, 4 and 8 hours
    assert view.max_duration == "8h"
    assert cluster.access.durations_for(view) == (3600, 4 * 3600, 8 * 3600)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"roles": [{"name": "Edit", "clusterRole": "edit"}]},
            "access.roles.0.name: String should match pattern",
        ),
        (
            {"roles": [{"name": "edit", "clusterRole": "edit"}, {"name": "edit", "clusterRole": "view"}]},
            "access: roles: each role needs its own name",
        ),
        ({"roles": []}, "access.roles: Tuple should have at least 1 item"),
        (
            {"roles": [{"name": "edit", "clusterRole": "edit/../admin"}]},
            "access.roles.0.clusterRole: String should match pattern",
        ),
        (
            {"roles": [{"name": "edit", "clusterRole": "edit", "verbs": ["*"]}]},
            "access.roles.0.verbs: unknown key",
        ),
        (
            {"roles": [{"name": "edit", "clusterRole": "edit", "approvals": 0}]},
            "access.roles.0.approvals: Input should be greater than or equal to 1",
        ),
        (
            {"namespaces": None},
            "access: namespaces: a namespaced role needs the namespaces people may ask for",
        ),
        (
            {"namespaces": ["Payments"]},
            "access: namespaces: 'Payments' is not a namespace name or a pattern such as team-*",
        ),
        (
            {"namespaces": ["team-[ab]"]},
            "access: namespaces: 'team-[ab]' is not a namespace name or a pattern such as team-*",
        ),
        (
            {"namespaces": ["../kube-system"]},
            "access: namespaces: '../kube-system' is not a namespace name or a pattern such as team-*",
        ),
        (
            {"emailDomains": None},
            "access: usernameTemplate {email_local} drops the email's domain: list emailDomains",
        ),
        (
            {"usernameTemplate": "system:{email_local}"},
            "access: usernameTemplate must not make system: user names",
        ),
        ({"usernameTemplate": "dana"}, "access: usernameTemplate must name the person"),
        (
            {"durations": ["90s"]},
            "access: durations: '90s' is not minutes, hours or days between 1m and 31d",
        ),
        (
            {"durations": ["32d"]},
            "access: durations: '32d' is not minutes, hours or days between 1m and 31d",
        ),
    ],
)
def test_each_mistake_is_refused_with_a_message_naming_its_key(changes: dict[str, Any], message: str) -> None:
    # WHEN the document carries the mistake, THEN loading it names the key and what is wrong
    assert problem(access_with(**changes)).startswith(f"/csrgate/clusters/lab: {message}")


# --- who people are on EKS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eks", "email", "identity"),
    [
        ({}, "dana@example.com", ClusterIdentity("sso:dana-example.com", "dana@example.com")),
        (
            {"username": "sso:{{SessionNameRaw}}"},
            "dana@example.com",
            ClusterIdentity("sso:dana@example.com", "dana@example.com"),
        ),
        (
            {"username": "people/{{SessionName}}/{{SessionNameRaw}}"},
            "dana@example.com",
            ClusterIdentity("people/dana-example.com/dana@example.com", "dana@example.com"),
        ),
        ({"sessionName": "{email_local}"}, "dana@example.com", ClusterIdentity("sso:dana", "dana")),
        (
            {"sessionName": "slack-{email}"},
            "dana.smith+ops@example.com",
            ClusterIdentity("sso:slack-dana.smith+ops-example.com", "slack-dana.smith+ops@example.com"),
        ),
    ],
    ids=["defaults", "raw", "both", "local part", "prefixed"],
)
def test_on_eks_a_person_is_the_user_eks_makes_of_the_session_named_after_their_email(
    eks: dict[str, Any], email: str, identity: ClusterIdentity
) -> None:
    # GIVEN the lab on EKS, its people assuming k8s-people with a session name made of their Slack email
    cluster = cluster_config(**EKS_LAB, access=eks_access_with(**eks))
    assert cluster.access is not None and cluster.access.eks is not None
    assert cluster.access.eks.role_arn == PEOPLE_ROLE
    # WHEN csrgate asks who the email is there, THEN it is the access entry's username filled as EKS fills it:
    # {{SessionName}} with each @ made a -, {{SessionNameRaw}} as the session name is
    assert identify(email, cluster.access, cluster) == identity


def test_elsewhere_a_person_is_the_user_the_template_makes_and_has_no_session() -> None:
    # GIVEN the lab (not EKS) naming people by the local part of their email
    cluster = cluster_config(access=ACCESS)
    assert cluster.access is not None
    # THEN dana@example.com is the user dana, with no IAM session
    assert identify("dana@example.com", cluster.access, cluster) == ClusterIdentity("dana", None)


@pytest.mark.parametrize(
    ("access", "message"),
    [
        (
            EKS_ACCESS | {"usernameTemplate": "sso:{email}"},
            "access: usernameTemplate must not be given with eks, whose username makes the user name",
        ),
        (
            {key: value for key, value in EKS_ACCESS.items() if key != "eks"},
            "access: usernameTemplate is required (or, on an EKS cluster, eks)",
        ),
        (eks_access_with(roleArn=None), "access.eks.roleArn: Field required"),
        (
            eks_access_with(roleArn="arn:aws:iam::123456789012:user/dana"),
            "access.eks.roleArn: String should match pattern",
        ),
        (eks_access_with(roleArn="k8s-people"), "access.eks.roleArn: String should match pattern"),
        (
            eks_access_with(sessionName="dana"),
            "access.eks: sessionName must name the person: use {email} or {email_local}",
        ),
        (
            eks_access_with(sessionName="{name}"),
            "access.eks: sessionName unknown placeholder {name}: use {email}, {email_local}",
        ),
        (
            eks_access_with(sessionName="k8s:{email}"),
            "access.eks: sessionName may hold only letters, digits and _+=,.@- besides {email} or {email_local}, "
            "as STS does",
        ),
        (
            eks_access_with(sessionName="{email} "),
            "access.eks: sessionName may hold only letters, digits and _+=,.@- besides {email} or {email_local}, "
            "as STS does",
        ),
        (
            {
                key: value
                for key, value in eks_access_with(sessionName="{email_local}").items()
                if key != "emailDomains"
            },
            "access: eks.sessionName {email_local} drops the email's domain: list emailDomains",
        ),
        (
            eks_access_with(username="sso:{email}"),
            "access.eks: username takes only the placeholders {{SessionName}} and {{SessionNameRaw}}",
        ),
        (
            eks_access_with(username="{{AccountID}}:{{SessionName}}"),
            "access.eks: username takes only the placeholders {{SessionName}} and {{SessionNameRaw}}",
        ),
        (
            eks_access_with(username="sso:dana"),
            "access.eks: username must contain {{SessionName}} or {{SessionNameRaw}}, or everyone is one user",
        ),
        (
            eks_access_with(username="system:{{SessionName}}"),
            "access.eks: username must not start with system:, eks:, aws:, amazon: or iam:, which EKS refuses",
        ),
        (
            eks_access_with(username="iam:{{SessionNameRaw}}"),
            "access.eks: username must not start with system:, eks:, aws:, amazon: or iam:, which EKS refuses",
        ),
        (eks_access_with(username="sso: {{SessionName}}"), "access.eks: username must not hold whitespace"),
        (eks_access_with(groups=["ops"]), "access.eks.groups: unknown key"),
        (
            {key: value for key, value in EKS_ACCESS.items() if key != "emailDomains"},
            "access: eks.username {{SessionName}} makes a-b@c.example and a@b-c.example one user: list emailDomains, "
            "none ending with - and another, or use {{SessionNameRaw}}",
        ),
        (
            EKS_ACCESS | {"emailDomains": ["example.com", "corp-example.com"]},
            "access: eks.username {{SessionName}} makes a-b@c.example and a@b-c.example one user",
        ),
    ],
)
def test_each_eks_mistake_is_refused_with_a_message_naming_its_key(access: dict[str, Any], message: str) -> None:
    # WHEN the EKS lab's document carries the mistake, THEN loading it names the key and what is wrong
    assert problem(access, EKS_LAB).startswith(f"/csrgate/clusters/lab: {message}")


def test_two_emails_eks_would_make_one_user_are_two_users_or_one_cannot_ask() -> None:
    # GIVEN EKS sign-in with {{SessionNameRaw}}, which keeps the @, and any email domain
    raw = {
        key: value for key, value in eks_access_with(username="sso:{{SessionNameRaw}}").items() if key != "emailDomains"
    }
    cluster = cluster_config(**EKS_LAB, access=raw)
    assert cluster.access is not None
    # THEN a-b@c.example and a@b-c.example are two users
    assert identify("a-b@c.example", cluster.access, cluster) == ClusterIdentity("sso:a-b@c.example", "a-b@c.example")
    assert identify("a@b-c.example", cluster.access, cluster) == ClusterIdentity("sso:a@b-c.example", "a@b-c.example")
    # GIVEN {{SessionName}}, which makes the @ a -, and two domains neither of which ends with - and the other
    cluster = cluster_config(**EKS_LAB, access=EKS_ACCESS | {"emailDomains": ["example.com", "example.org"]})
    assert cluster.access is not None
    # THEN dana-x@example.com is sso:dana-x-example.com, and dana@x-example.com, who would be that user too, cannot ask
    assert identify("dana-x@example.com", cluster.access, cluster) == ClusterIdentity(
        "sso:dana-x-example.com", "dana-x@example.com"
    )
    assert identify("dana@x-example.com", cluster.access, cluster) == (
        "lab takes requests from Slack only for emails at example.com, example.org."
    )


def test_eks_sign_in_is_only_for_an_eks_cluster() -> None:
    # GIVEN the lab, a generic cluster, WHEN its access section says how people sign in to EKS, THEN it is refused
    assert problem(EKS_ACCESS) == (
        "/csrgate/clusters/lab: (top level): access.eks is for kind: eks clusters, whose people sign in with IAM"
    )


def test_on_eks_a_usual_template_still_names_people_without_eks() -> None:
    # GIVEN an EKS cluster whose access section gives usernameTemplate (no eks), THEN it is read as before
    cluster = cluster_config(**EKS_LAB, access=ACCESS | {"usernameTemplate": "sso:{email}", "emailDomains": []})
    assert cluster.access is not None and cluster.access.eks is None
    assert identify("dana@example.com", cluster.access, cluster) == ClusterIdentity("sso:dana@example.com")


@pytest.mark.parametrize("max_duration", ["0m", "30s", "32d", "8 hours", "1H", "-1h", "10000d", ""])
def test_a_maximum_outside_one_minute_to_31_days_is_refused(max_duration: str) -> None:
    # GIVEN a role whose maxDuration is not minutes, hours or days between 1m and 31d
    access = access_with(roles=[{"name": "edit", "clusterRole": "edit", "maxDuration": max_duration}])
    # THEN the document is refused, naming the role and the key
    assert problem(access) == (
        "/csrgate/clusters/lab: access.roles.0: maxDuration must be minutes, hours or days between 1m and 31d, "
        "such as 8h"
    )


@pytest.mark.parametrize("max_duration", ["1m", "31d", "744h"])
def test_the_bounds_themselves_are_accepted(max_duration: str) -> None:
    # GIVEN a role lasting at most a minute, or 31 days, THEN the document is read
    cluster = cluster_config(
        access=access_with(roles=[{"name": "edit", "clusterRole": "edit", "maxDuration": max_duration}])
    )
    assert cluster.access is not None and cluster.access.roles[0].max_duration == max_duration


def test_a_cluster_wide_role_needs_no_namespaces() -> None:
    # GIVEN only a cluster-wide role and no namespaces, THEN the document is read
    cluster = cluster_config(
        access=access_with(roles=[{"name": "view-all", "clusterRole": "view", "scope": "cluster"}], namespaces=None)
    )
    assert cluster.access is not None and cluster.access.namespaces == ()


@pytest.mark.parametrize(
    ("role", "privileged"),
    [
        ({"name": "edit", "clusterRole": "edit"}, False),
        ({"name": "view-all", "clusterRole": "view", "scope": "cluster"}, True),
        ({"name": "admin", "clusterRole": "admin"}, True),
        ({"name": "root", "clusterRole": "cluster-admin"}, True),
        ({"name": "deployer", "clusterRole": "deployer", "privileged": True}, True),
    ],
    ids=["edit", "cluster-wide", "admin", "cluster-admin", "marked"],
)
def test_cluster_wide_and_administrative_roles_need_the_privileged_number_of_approvals(
    role: dict[str, Any], privileged: bool
) -> None:
    # GIVEN a cluster needing one approval, three for privileged requests
    cluster = cluster_config(access=access_with(roles=[role]), privilegedRequiredApprovals=3)
    assert cluster.access is not None
    offered = cluster.access.roles[0]
    # THEN a cluster-wide, admin, cluster-admin or marked role is privileged and needs three; any other, one
    assert offered.is_privileged is privileged
    assert cluster.grant_approvals(offered) == (3 if privileged else 1)


@pytest.mark.parametrize(
    ("role", "needed"),
    [
        ({"name": "edit", "clusterRole": "edit", "approvals": 3}, 3),  # raised above the usual one
        ({"name": "edit", "clusterRole": "edit", "approvals": 1}, 2),  # never below the cluster's usual two
        ({"name": "admin", "clusterRole": "admin", "approvals": 1}, 4),  # never below the privileged four
        ({"name": "admin", "clusterRole": "admin", "approvals": 5}, 5),
    ],
)
def test_a_roles_own_number_of_approvals_raises_but_never_lowers(role: dict[str, Any], needed: int) -> None:
    # GIVEN a cluster needing two approvals, four for privileged requests
    cluster = cluster_config(access=access_with(roles=[role]), requiredApprovals=2, privilegedRequiredApprovals=4)
    assert cluster.access is not None
    # THEN the role's own number counts only when it is higher
    assert cluster.grant_approvals(cluster.access.roles[0]) == needed


def test_the_form_offers_each_role_only_durations_up_to_its_maximum() -> None:
    # GIVEN 15m, 1h, 4h and 8h offered, and roles lasting at most 8h, 4h, 1h
    cluster = cluster_config(access=ACCESS)
    access = cluster.access
    assert access is not None
    offered = {role.name: access.durations_for(role) for role in access.roles}
    # THEN each role is offered the durations within its maximum, shortest first
    assert offered == {
        "view": (900, 3600, 4 * 3600, 8 * 3600),
        "edit": (900, 3600, 4 * 3600),
        "admin": (900, 3600),
        "cluster-view": (900, 3600, 4 * 3600, 8 * 3600),
    }


def test_a_role_shorter_than_every_offered_duration_is_offered_for_its_maximum() -> None:
    # GIVEN a role lasting at most 30 minutes, and 1h and 4h offered
    cluster = cluster_config(
        access=access_with(
            roles=[{"name": "edit", "clusterRole": "edit", "maxDuration": "30m"}], durations=["1h", "4h"]
        )
    )
    assert cluster.access is not None
    # THEN the form offers 30 minutes, never longer
    assert cluster.access.durations_for(cluster.access.roles[0]) == (1800,)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("8h", 28800), ("7d", 604800), ("1m", 60), ("9999d", 9999 * 86400)],
)
def test_durations_are_minutes_hours_or_days(text: str, seconds: int) -> None:
    # GIVEN a duration as an operator writes it, THEN it is read as seconds
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0m", "08h", "1.5h", "90s", "1w", "h", "10000d", " 1h", "1h ", "１h", "1H"])
def test_anything_else_is_no_duration(text: str) -> None:
    # GIVEN anything but 1 to 9999 minutes, hours or days, written plainly, THEN it is no duration
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("namespace", "patterns", "offered"),
    [
        ("payments", ("payments",), True),
        ("team-a", ("team-*",), True),
        ("team-", ("team-*",), False),  # not a namespace name: it ends with a dash
        ("teams", ("team-*",), False),
        ("payments-old", ("payments",), False),
        ("anything", ("*",), True),
        # Kubernetes' own namespaces only when named
        ("kube-system", ("*",), False),
        ("kube-system", ("kube-*",), False),
        ("kube-public", ("kube*",), False),
        ("default", ("*",), False),
        ("default", ("d*",), False),
        ("kube-system", ("kube-system",), True),
        ("default", ("default", "team-*"), True),
        # names Kubernetes would never give a namespace
        ("Payments", ("*",), False),
        ("PAYMENTS", ("payments",), False),
        ("a" * 64, ("*",), False),
        ("a" * 63, ("*",), True),
        ("../x", ("*",), False),
        ("..", ("*",), False),
        ("team-a/../kube-system", ("team-*",), False),
        ("", ("*",), False),
        (" payments", ("payments",), False),
        ("payments\n", ("payments",), False),
        ("pay_ments", ("*",), False),
        ("team-a.b", ("team-*",), False),
    ],
)
def test_a_namespace_is_offered_when_it_is_a_valid_name_matching_a_pattern(
    namespace: str, patterns: tuple[str, ...], offered: bool
) -> None:
    # GIVEN the cluster's namespace patterns, WHEN a request names a namespace, THEN it is offered only as listed
    assert namespace_offered(namespace, patterns) is offered
