"""Who a person is on EKS, attacked: a Slack email spelt so that csrgate binds someone else's Kubernetes user or hands
out someone else's role session, a second Slack account approving access for the user its owner signs in as, text
that would escape the kubeconfig, the AWS profile or the direct message it is delivered in, and settings that would
make everyone one user or a reserved one. Each test is one attempt, and says what must hold."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.configloader import raw_config_parse
from memory import ACCESS, EKS_ACCESS, EKS_LAB, PEOPLE_ROLE, Csrgate, cluster_config, granted, posted_grant

from csrgate.domain.approvals import ClickAnswer
from csrgate.domain.cluster import AccessSettings, ClusterConfig, ClusterIdentity
from csrgate.domain.grants import Grant, GrantState
from csrgate.domain.identity import identify
from csrgate.domain.records import SlackUser

SELF_APPROVAL = "You cannot decide on your own access request."
DANA = "dana@example.com"
APPROVERS = ["U0ALICE", "U0BOB", "U0CAROL"]


def eks_access(**eks: Any) -> dict[str, Any]:
    """The EKS lab's access section with some keys of its `eks` changed."""
    return EKS_ACCESS | {"eks": EKS_ACCESS["eks"] | eks}


def eks_gate(access: dict[str, Any] | None = None) -> Csrgate:
    """csrgate with the lab on EKS offering access as `access` (the EKS lab's by default)."""
    return Csrgate(**EKS_LAB, access=access or EKS_ACCESS)


def generic_gate(**access: Any) -> Csrgate:
    """csrgate with the lab (not EKS) offering access as ACCESS has it with some keys changed, and no
    requesterEmailTemplate: only the access section says who people are."""
    return Csrgate(access=ACCESS | access, requesterEmailTemplate=None)


def someone(gate: Csrgate, slack_id: str, name: str, email: str, approver: bool = False) -> None:
    """Another Slack account; made one of the lab's approvers when `approver`."""
    gate.people.users[slack_id] = SlackUser(slack_id, name, email)
    if approver:
        access = gate.config.access.model_dump(by_alias=True, exclude_none=True) if gate.config.access else None
        gate.reconfigure(**EKS_LAB, access=access, approvers={"users": [*APPROVERS, slack_id]})


def access_of(cluster: ClusterConfig) -> AccessSettings:
    assert cluster.access is not None
    return cluster.access


def nothing_recorded(gate: Csrgate) -> bool:
    return gate.grants.grants == {} and gate.decisions.jobs == [] and gate.rbac.objects == {}


# --- someone else's user, or their session ------------------------------------------------------------------------

SIGN_INS = {
    "defaults": EKS_ACCESS,
    "raw": eks_access(username="sso:{{SessionNameRaw}}"),
    "raw, any domain": eks_access(username="sso:{{SessionNameRaw}}") | {"emailDomains": []},
    "local part": eks_access(sessionName="{email_local}"),
    "prefixed": eks_access(sessionName="slack-{email}", username="people:{{SessionName}}"),
}
LOOK_ALIKES = [
    "DANA@EXAMPLE.COM",  # another spelling of her mailbox: another session and another user, never hers
    "Dana@example.com",
    "dana+x@example.com",  # plus-addressed
    "dana.@example.com",
    "dana-example.com@example.com",  # her user name, with the @ EKS writes as -, as a local part
    "d\u0430na@example.com",  # a Cyrillic a
    "dana\u200b@example.com",  # a zero-width space
    "dana\uff20example.com",  # a fullwidth @
    "dana@ex\u0430mple.com",
    '"dana@example.com"@example.com',  # a quoted local part
    "dana@example.com@example.com",
    "dana%example.com@example.com",  # the percent hack
    "dana@example.com\n",
    " dana@example.com",
    "dana@example.com.",
    "dana@example.com\x00",
    "dana@",
    "@example.com",
    "",
]


@pytest.mark.parametrize("email", LOOK_ALIKES)
@pytest.mark.parametrize("sign_in", list(SIGN_INS))
def test_no_other_spelling_of_an_email_is_danas_user_or_her_session(sign_in: str, email: str) -> None:
    # GIVEN the lab on EKS, where dana@example.com is one user signing in as one session
    cluster = cluster_config(**EKS_LAB, access=SIGN_INS[sign_in])
    hers = identify(DANA, access_of(cluster), cluster)
    assert isinstance(hers, ClusterIdentity) and hers.session_name is not None
    # WHEN someone whose Slack email is spelt otherwise is identified there
    theirs = identify(email, access_of(cluster), cluster)
    # THEN they are refused, or are another user signing in as another session
    if isinstance(theirs, ClusterIdentity):
        assert theirs.username != hers.username
        assert theirs.session_name != hers.session_name


@pytest.mark.parametrize(
    ("domain", "look_alike"),
    [
        ("kube.example", "dana@\u212aube.example"),  # a Kelvin sign, which case folding makes k
        ("staff.example", "dana@\u017ftaff.example"),  # a long s, which case folding makes s
        ("staff.example", "dana@sta\ufb00.example"),  # the ff ligature, which case folding makes ff
    ],
)
@pytest.mark.parametrize("naming", ["eks", "usernameTemplate"])
def test_a_domain_that_only_folds_to_the_clusters_is_not_the_clusters(
    naming: str, domain: str, look_alike: str
) -> None:
    # GIVEN a cluster whose people at one domain are named by the local part of their email (dana@<domain> is dana)
    if naming == "eks":
        gate = eks_gate(eks_access(sessionName="{email_local}") | {"emailDomains": [domain]})
        danas = "sso:dana"
    else:
        gate = generic_gate(emailDomains=[domain])
        danas = "dana"
    someone(gate, "U0LOOK", "look-alike", look_alike)
    # WHEN someone whose Slack email is at a domain Unicode case folding makes that one asks
    result = gate.ask_access("U0LOOK")
    # THEN they are refused: no grant for dana's user is asked for by them
    assert result == {"cluster": f"lab takes requests from Slack only for emails at {domain}."}
    assert nothing_recorded(gate)
    # AND the domain in capitals is still the domain
    someone(gate, "U0DANA", "dana", f"dana@{domain.upper()}")
    asked = gate.ask_access("U0DANA")
    assert isinstance(asked, Grant) and asked.username == danas


@pytest.mark.parametrize(
    ("access", "email"),
    [
        (
            eks_access(sessionName="{email_local}", username="{{SessionNameRaw}}:serviceaccount:kube-system:default"),
            "system@example.com",
        ),
        (eks_access(sessionName="{email_local}", username="{{SessionName}}:node-manager"), "eks@example.com"),
        (eks_access(sessionName="{email_local}", username="{{SessionName}}:x"), "aws@example.com"),
        (ACCESS | {"usernameTemplate": "{email_local}:serviceaccount:kube-system:default"}, "system@example.com"),
        (ACCESS | {"usernameTemplate": "{email_local}:masters"}, "system@example.com"),
    ],
    ids=["a service account", "an EKS identity", "an AWS identity", "elsewhere, a service account", "elsewhere"],
)
def test_an_email_cannot_make_a_reserved_user_name_through_a_template(access: dict[str, Any], email: str) -> None:
    # GIVEN a template putting the local part of the email first, which the settings let through
    gate = eks_gate(access) if "eks" in access else generic_gate(**access)
    someone(gate, "U0SYS", "sys", email)
    # WHEN someone whose local part makes the user name one Kubernetes or EKS reserves asks
    result = gate.ask_access("U0SYS")
    # THEN they are refused, and nothing is bound to a service account's or EKS's own user
    assert isinstance(result, dict) and "reserved" in result["cluster"], result
    assert nothing_recorded(gate)
    # AND anyone else is named by the template as before
    asked = gate.ask_access("U0DANA")
    assert isinstance(asked, Grant) and asked.username.startswith("dana:")


def test_a_look_alike_email_gets_its_own_session_never_the_granted_one() -> None:
    # GIVEN dana granted edit on EKS, her session recorded on the grant
    gate = eks_gate()
    grant = granted(gate)
    assert grant.session_name == DANA
    # WHEN mallory, at the same domain, asks with an email that differs from dana's only in case or an alias
    for slack_id, email in [("U0M1", "DANA@example.com"), ("U0M2", "dana+mallory@example.com")]:
        someone(gate, slack_id, "mallory", email)
        theirs = gate.ask_access(slack_id)
        # THEN her grant records her own session and user, which dana's profile and binding never name
        assert isinstance(theirs, Grant)
        assert theirs.session_name == email and theirs.username != grant.username
    assert gate.rbac.users_bound() == [("payments", "edit", "sso:dana-example.com")]


# --- approving one's own access with a second account ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("access", "requester", "second"),
    [
        pytest.param(EKS_ACCESS, DANA, "dana+ops@example.com", id="the same mailbox, plus-addressed"),
        pytest.param(EKS_ACCESS, DANA, "DANA@EXAMPLE.COM", id="the same mailbox, in capitals"),
        pytest.param(
            EKS_ACCESS,
            "ann-corp@example.com",
            "ann@corp-example.com",
            id="an email outside the cluster's domains that EKS makes the same user",
        ),
        pytest.param(
            eks_access(sessionName="{email_local}") | {"emailDomains": ["example.com", "corp.example"]},
            DANA,
            "dana@corp.example",
            id="the same local part at the cluster's other domain",
        ),
        pytest.param(
            eks_access(username="sso:{{SessionNameRaw}}") | {"emailDomains": []},
            DANA,
            "dana@partner.example",
            id="the same name at another domain, with the raw session name",
        ),
    ],
)
def test_a_second_account_that_signs_in_as_the_granted_user_cannot_approve(
    access: dict[str, Any], requester: str, second: str
) -> None:
    # GIVEN someone asking for edit on EKS, and a second Slack account of theirs (another Slack name) that approves
    gate = eks_gate(access)
    someone(gate, "U0ASKER", "asker", requester)
    someone(gate, "U0SECOND", "ops-account", second, approver=True)
    grant = posted_grant(gate, "U0ASKER")
    # WHEN the second account approves the request
    result = gate.click_grant(grant.grant_id, "U0SECOND")
    # THEN it is refused as the requester's own: it signs in as the user the grant binds, or is the same mailbox
    assert (result.answer, result.text) == (ClickAnswer.REFUSED, SELF_APPROVAL)
    assert gate.grant(grant.grant_id).state is GrantState.AWAITING_REVIEW
    assert gate.rbac.objects == {}


def test_an_approver_who_is_another_user_on_eks_still_decides() -> None:
    # GIVEN dana-x@example.com's request, and bob, whose session and user are his own
    gate = eks_gate()
    someone(gate, "U0DX", "dx", "dana-x@example.com")
    grant = posted_grant(gate, "U0DX")
    # WHEN bob approves, THEN it is decided: the self-check refuses the requester, not a neighbour's name
    assert gate.click_grant(grant.grant_id, "U0BOB").answer is ClickAnswer.DECIDED


# --- text that would escape the kubeconfig, the profile or the message ---------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "a`b@example.com",  # ends the profile's code block in the message
        "a\nrole_arn=arn:aws:iam::999999999999:role/x@example.com",  # another line of the profile
        "a]\n[profile default@example.com",
        "a\r\nb@example.com",
        "a;b@example.com",
        "a#b@example.com",  # a comment in INI
        "a$(id)b@example.com",
        "a'b@example.com",
        'a"b@example.com',
        "a b@example.com",
        "a:b@example.com",  # YAML's key separator
        "a{b}@example.com",
        "a*b*@example.com",  # Slack's bold
        "a<!channel>@example.com",
        "a|b@example.com",
        "a\\b@example.com",
        "a/b@example.com",
    ],
)
def test_an_email_with_text_the_profile_or_message_would_read_makes_no_session(email: str) -> None:
    # GIVEN the lab on EKS taking any domain, with the raw session name: nothing but STS's rules limits the email
    gate = eks_gate(eks_access(username="sso:{{SessionNameRaw}}") | {"emailDomains": []})
    someone(gate, "U0ODD", "odd", email)
    # WHEN they ask, THEN no session is made of it: nothing reaches a kubeconfig, a profile or a message
    result = gate.ask_access("U0ODD")
    assert isinstance(result, dict) and "session name" in result["cluster"], result
    assert nothing_recorded(gate)


@pytest.mark.parametrize(
    "email",
    ["=a,b+c=d@example.com", "a.b_c-d@example.com", "--dana@example.com", "0x1@example.com", "dana@example.com"],
)
def test_every_character_sts_allows_stays_inert_in_the_kubeconfig_and_the_profile(email: str, tmp_path: Path) -> None:
    # GIVEN someone whose email holds characters STS takes in a session name, granted edit on EKS
    gate = eks_gate()
    someone(gate, "U0ODD", "odd", email)
    grant = granted(gate, "U0ODD")
    ((_, delivery),) = gate.requesters.delivered
    # THEN the kubeconfig, as kubectl reads it, names exactly that user in one user entry and one context
    config = yaml.safe_load(delivery.content)
    assert set(config) == {"apiVersion", "kind", "clusters", "users", "contexts", "current-context", "preferences"}
    assert [user["name"] for user in config["users"]] == [grant.username]
    assert [context["context"]["user"] for context in config["contexts"]] == [grant.username]
    assert config["current-context"] == f"{grant.username}@lab"
    # AND the message holds one code block, the profile, as the AWS CLI reads it: the role and her session
    assert delivery.comment.count("```") == 2
    profile = delivery.comment.split("```")[1]
    path = tmp_path / "config"
    path.write_text(profile)
    assert raw_config_parse(str(path)) == {
        "profile csrgate-lab-eks": {
            "role_arn": PEOPLE_ROLE,
            "role_session_name": email,
            "source_profile": "default",
        }
    }


@pytest.mark.parametrize(
    ("connection", "role_arn"),
    [
        ({"eksClusterName": "lab\n[profile default]\ncredential_process = sh -c id"}, PEOPLE_ROLE),
        ({"eksClusterName": "lab]"}, PEOPLE_ROLE),
        ({"eksClusterName": "lab```"}, PEOPLE_ROLE),
        ({"eksClusterName": "lab eks"}, PEOPLE_ROLE),
        ({"eksClusterName": "-lab"}, PEOPLE_ROLE),
        ({"eksClusterName": ""}, PEOPLE_ROLE),
        ({}, f"{PEOPLE_ROLE}\ncredential_process = sh -c id"),
        ({}, f"{PEOPLE_ROLE}\n"),
        ({}, f"{PEOPLE_ROLE}`"),
        ({}, f"{PEOPLE_ROLE}]"),
        ({}, f"{PEOPLE_ROLE} x"),
    ],
)
def test_settings_that_would_write_more_into_the_profile_are_refused(connection: dict[str, str], role_arn: str) -> None:
    # WHEN the cluster's EKS name or the people's role carries a line, a section, a code fence or a space, THEN the
    # settings are refused: the profile people paste into ~/.aws/config holds only what it says
    with pytest.raises(ValueError, match="eksClusterName|roleArn"):
        cluster_config(
            **EKS_LAB | {"connection": EKS_LAB["connection"] | connection},
            access=eks_access(roleArn=role_arn),
        )


def test_nothing_secret_is_in_the_kubeconfig_or_the_message() -> None:
    # GIVEN dana granted edit on EKS
    gate = eks_gate()
    granted(gate)
    ((_, delivery),) = gate.requesters.delivered
    config = yaml.safe_load(delivery.content)
    # THEN her kubeconfig's user only runs `aws eks get-token` under the csrgate profile: no token, key or password
    ((user,),) = [[entry["user"]] for entry in config["users"]]
    assert set(user) == {"exec"}
    assert user["exec"]["env"] == [{"name": "AWS_PROFILE", "value": "csrgate-lab-eks"}]
    assert set(config["clusters"][0]["cluster"]) == {"server", "certificate-authority-data"}
    # AND neither it nor the message carries credentials, or a command the AWS CLI would run to get some
    for text in (delivery.content, delivery.comment):
        lowered = text.casefold()
        for secret in (
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
            "credential_process",
            "token:",
            "client-key-data",
            "password",
        ):
            assert secret not in lowered


# --- settings that would make everyone one user, or a reserved one ---------------------------------------------------


@pytest.mark.parametrize(
    ("eks", "domains", "message"),
    [
        ({"username": "sso:{{sessionname}}"}, None, "username takes only the placeholders"),
        ({"username": "sso:{{ SessionName }}"}, None, "username takes only the placeholders"),
        ({"username": "sso:{{{SessionName}}}"}, None, "username takes only the placeholders"),
        ({"username": "sso:{SessionName}"}, None, "username takes only the placeholders"),
        ({"username": "sso:{{SessionName}"}, None, "username takes only the placeholders"),
        ({"username": "sso:{{AccessKeyID}}"}, None, "username takes only the placeholders"),
        ({"username": "sso:{{EC2PrivateDNSName}}"}, None, "username takes only the placeholders"),
        ({"username": "sso:{email}"}, None, "username takes only the placeholders"),
        ({"username": "eks:{{SessionNameRaw}}"}, None, "username must not start with system:"),
        ({"username": "amazon:{{SessionName}}"}, None, "username must not start with system:"),
        ({"username": "sso:\t{{SessionName}}"}, None, "username must not hold whitespace"),
        ({"username": "sso:{{SessionName}}\n"}, None, "username must not hold whitespace"),
        ({"sessionName": "{EMAIL}"}, None, "sessionName unknown placeholder"),
        ({"sessionName": "{email}{"}, None, "sessionName"),
        ({"sessionName": "slack"}, None, "sessionName must name the person"),
        ({"sessionName": "{email}\n"}, None, "sessionName may hold only"),
        ({"sessionName": "{email}:x"}, None, "sessionName may hold only"),
        ({}, ["example.com", "Corp-EXAMPLE.com"], "makes a-b@c.example and a@b-c.example one user"),
        ({"sessionName": "x{email}"}, ["example.com", "team-example.com"], "one user"),
    ],
)
def test_settings_that_make_everyone_one_user_or_two_people_one_are_refused(
    eks: dict[str, str], domains: list[str] | None, message: str
) -> None:
    # WHEN the EKS lab's sign-in settings carry the mistake, THEN they are refused, saying why
    access = eks_access(**eks) | ({"emailDomains": domains} if domains is not None else {})
    with pytest.raises(ValueError, match=re.escape(message)):
        cluster_config(**EKS_LAB, access=access)
