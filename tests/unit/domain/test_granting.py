"""Access asked for in Slack and decided there: the form checked as an attacker would fill it, the clicks that may
decide (and the many that may not), Revoke, and Extend checked again against what the cluster offers now."""

from __future__ import annotations

import pytest
from memory import ACCESS, Csrgate, access_gate, asked_grant, eks_access_gate, granted, posted_grant

from csrgate.domain.approvals import ClickAnswer
from csrgate.domain.errors import RetryLater
from csrgate.domain.grant_messages import GrantButton
from csrgate.domain.grants import Grant, GrantForm, GrantState
from csrgate.domain.jobs import ApplyGrant, EndGrant, PostGrant
from csrgate.domain.records import MessageRef, SlackUser


def nothing_recorded(gate: Csrgate) -> bool:
    return gate.grants.grants == {} and gate.decisions.jobs == [] and gate.audit.events == []


# --- the form ----------------------------------------------------------------------------------------------------


def test_a_request_is_recorded_for_the_askers_user_and_posted_for_review() -> None:
    # GIVEN the lab offering edit in payments for up to four hours
    gate = access_gate()
    # WHEN dana asks for edit in payments for an hour
    grant = asked_grant(gate, reason="deploying  the\npayments fix")
    # THEN it is recorded for her user on the lab, needing one approval, and queued to be posted
    stored = gate.grant(grant.grant_id)
    assert stored == grant
    assert (stored.cluster, stored.role, stored.cluster_role, stored.namespace) == ("lab", "edit", "edit", "payments")
    assert (stored.username, stored.slack_user, stored.slack_name, stored.email) == (
        "dana",
        "U0DANA",
        "dana",
        "dana@example.com",
    )
    assert (stored.duration_seconds, stored.reason, stored.asked_at) == (
        3600,
        "deploying the payments fix",
        gate.clock(),
    )
    assert (stored.state, stored.approvals_needed, stored.privileged) == (GrantState.AWAITING_REVIEW, 1, False)
    assert stored.session_name is None  # not EKS: nobody signs in with an IAM role session here
    assert gate.decisions.jobs == [PostGrant(grant.grant_id)]
    requested = gate.audit.events[-1]
    assert (requested.event, requested.actor, requested.cluster) == ("grant.requested", "dana (U0DANA)", "lab")
    assert dict(requested.details) == {
        "grant_id": grant.grant_id,
        "role": "edit",
        "cluster_role": "edit",
        "namespace": "payments",
        "username": "dana",
        "requester": "U0DANA",
        "duration_seconds": 3600,
        "reason": "deploying the payments fix",
    }
    # WHEN the worker posts it
    gate.work()
    # THEN the lab's channel shows the request with Approve and Deny
    message = gate.grant(grant.grant_id).slack_message
    assert message is not None and message.channel == "C0LAB"
    assert gate.channel.headline(message) == "Access edit in namespace payments on lab for dana: needs review"
    assert gate.channel.buttons(message) == (GrantButton.APPROVE, GrantButton.DENY)
    assert gate.channel.facts(message) == {
        "Requested in Slack by": "@dana (U0DANA), verified by Slack",
        "Access": "edit (ClusterRole edit), in namespace payments",
        "Kubernetes user": "dana",
        "For": "1 hour",
        "Reason": "deploying the payments fix",
        "Needs": "1 approval",
    }
    assert gate.grants.event_names(grant.grant_id) == ["grant.requested", "slack.grant_posted"]


def test_the_user_name_comes_from_the_clusters_template() -> None:
    # GIVEN a cluster whose people sign in with OIDC as their email, prefixed
    gate = access_gate(usernameTemplate="oidc:{email}", emailDomains=None)
    # WHEN dana asks, THEN the grant is for her OIDC user
    assert asked_grant(gate).username == "oidc:dana@example.com"


def test_on_eks_the_grant_is_for_the_user_eks_makes_of_the_askers_role_session() -> None:
    # GIVEN the lab on EKS, where people assume k8s-people with their email as the session name and the access entry
    # names them sso:{{SessionName}}
    gate = eks_access_gate()
    # WHEN dana@example.com asks for edit in payments
    grant = asked_grant(gate)
    # THEN the grant records her session, and is for the user EKS makes of it: the @ made a -
    stored = gate.grant(grant.grant_id)
    assert (stored.username, stored.session_name, stored.email) == (
        "sso:dana-example.com",
        "dana@example.com",
        "dana@example.com",
    )
    requested = gate.audit.events[-1]
    assert (requested.details["username"], requested.details["session_name"]) == (
        "sso:dana-example.com",
        "dana@example.com",
    )
    # AND the approvers read that user on the request
    gate.work()
    assert gate.channel.facts(gate.grant(grant.grant_id).slack_message)["Kubernetes user"] == "sso:dana-example.com"  # type: ignore[arg-type]


def test_on_eks_the_raw_session_name_keeps_the_at_sign() -> None:
    # GIVEN an access entry whose username is sso:{{SessionNameRaw}}, WHEN dana asks, THEN the @ stays
    grant = asked_grant(eks_access_gate(username="sso:{{SessionNameRaw}}"))
    assert (grant.username, grant.session_name) == ("sso:dana@example.com", "dana@example.com")


@pytest.mark.parametrize(
    ("eks", "email"),
    [
        ({}, "o'brien@example.com"),  # ' is not a session name's
        ({}, "dänä@example.com"),  # nor is any letter outside ASCII
        ({}, "d" * 53 + "@example.com"),  # 65 characters, one more than STS takes
        ({"sessionName": "{email_local}"}, "d@example.com"),  # d: one character, one fewer than STS takes
    ],
    ids=["apostrophe", "non-ASCII", "65 characters", "1 character"],
)
def test_on_eks_an_email_that_makes_no_session_name_aws_accepts_is_an_inline_error(
    eks: dict[str, str], email: str
) -> None:
    # GIVEN someone at example.com whose email makes a session name STS refuses
    gate = eks_access_gate(**eks)
    gate.people.users["U0ODD"] = SlackUser("U0ODD", "odd", email)
    # WHEN they ask, THEN the form says why, and nothing is recorded
    assert gate.ask_access("U0ODD") == {
        "cluster": "On lab you sign in with an AWS role session named after your email, and AWS takes only 2 to 64 "
        "letters, digits and _+=,.@- as a session name; ask an administrator."
    }
    assert nothing_recorded(gate)


def test_on_eks_a_session_name_of_64_characters_is_taken() -> None:
    gate = eks_access_gate()
    email = "d" * 52 + "@example.com"
    gate.people.users["U0LONG"] = SlackUser("U0LONG", "long", email)
    assert asked_grant(gate, "U0LONG").session_name == email


def test_on_eks_an_email_outside_the_clusters_domains_still_cannot_ask() -> None:
    # GIVEN eve, whose Slack email is at another domain, WHEN she asks on the EKS lab, THEN she is refused
    gate = eks_access_gate()
    gate.people.users["U0EVE"] = SlackUser("U0EVE", "eve", "dana@attacker.example")
    assert gate.ask_access("U0EVE") == {"cluster": "lab takes requests from Slack only for emails at example.com."}
    assert nothing_recorded(gate)


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        ({"role": "cluster-admin"}, {"role": "Pick one of the roles listed."}),
        ({"role": ""}, {"role": "Pick one of the roles listed."}),
        ({"role": "EDIT"}, {"role": "Pick one of the roles listed."}),
        (
            {"namespace": "kube-system"},
            {"namespace": "lab offers access in these namespaces only: payments, team-*."},
        ),
        ({"namespace": "billing"}, {"namespace": "lab offers access in these namespaces only: payments, team-*."}),
        ({"namespace": ""}, {"namespace": "lab offers access in these namespaces only: payments, team-*."}),
        ({"namespace": "Payments"}, {"namespace": "lab offers access in these namespaces only: payments, team-*."}),
        ({"namespace": "../payments"}, {"namespace": "lab offers access in these namespaces only: payments, team-*."}),
        ({"namespace": "team-*"}, {"namespace": "lab offers access in these namespaces only: payments, team-*."}),
        (
            {"role": "cluster-view", "namespace": "payments"},
            {"namespace": "cluster-view is cluster-wide: leave the namespace empty."},
        ),
        ({"duration": "7200"}, {"duration": "Pick one of the durations listed: edit is offered for 4h."}),
        ({"duration": "28800"}, {"duration": "Pick one of the durations listed: edit is offered for 4h."}),
        ({"duration": "1h"}, {"duration": "Pick one of the durations listed: edit is offered for 4h."}),
        ({"duration": ""}, {"duration": "Pick one of the durations listed: edit is offered for 4h."}),
        ({"duration": "-3600"}, {"duration": "Pick one of the durations listed: edit is offered for 4h."}),
        ({"duration": "3600.0"}, {"duration": "Pick one of the durations listed: edit is offered for 4h."}),
        ({"duration": "３６００"}, {"duration": "Pick one of the durations listed: edit is offered for 4h."}),
        ({"duration": "9" * 5000}, {"duration": "Pick one of the durations listed: edit is offered for 4h."}),
        ({"duration": "0" * 20 + "3600"}, {"duration": "Pick one of the durations listed: edit is offered for 4h."}),
        ({"reason": ""}, {"reason": "Say why you need it: the approvers read it."}),
        ({"reason": " \n\t "}, {"reason": "Say why you need it: the approvers read it."}),
        ({"reason": "x" * 501}, {"reason": "Keep the reason under 500 characters."}),
        ({"cluster": "nowhere"}, {"cluster": "Pick one of the clusters listed."}),
        ({"cluster": ""}, {"cluster": "Pick one of the clusters listed."}),
        (
            {"namespace": "kube-system", "duration": "86400", "reason": ""},
            {
                "namespace": "lab offers access in these namespaces only: payments, team-*.",
                "duration": "Pick one of the durations listed: edit is offered for 4h.",
                "reason": "Say why you need it: the approvers read it.",
            },
        ),
    ],
)
def test_a_request_outside_what_the_cluster_offers_is_an_inline_error_and_nothing_is_recorded(
    form: dict[str, str], errors: dict[str, str]
) -> None:
    # GIVEN the lab offering edit in payments and team-* for up to four hours
    gate = access_gate()
    # WHEN dana fills the form so
    result = gate.ask_access("U0DANA", **form)
    # THEN she reads what to change by the form's block, and nothing is recorded, queued or audited
    assert result == errors
    assert nothing_recorded(gate)


def test_every_namespace_a_pattern_offers_may_be_asked_for() -> None:
    # GIVEN team-* offered, WHEN dana asks for team-a or team-b (spaces around it trimmed), THEN each is recorded
    gate = access_gate()
    assert asked_grant(gate, namespace="team-a").namespace == "team-a"
    assert asked_grant(gate, namespace=" team-b ").namespace == "team-b"


def test_a_reason_is_kept_on_one_line_and_what_is_not_text_is_replaced() -> None:
    # GIVEN a reason over several lines with text that is not UTF-8, THEN approvers read it on one line, replaced
    gate = access_gate()
    grant = asked_grant(gate, reason="on call\n\n<!channel> \ud800 now")
    assert grant.reason == "on call <!channel> ? now"
    assert asked_grant(gate, reason="x" * 500).reason == "x" * 500


def test_a_cluster_without_access_offers_none() -> None:
    # GIVEN the lab offering no access at all
    gate = Csrgate()
    # WHEN dana asks for it, THEN she is told to pick a cluster that does
    assert gate.ask_access("U0DANA") == {"cluster": "Pick one of the clusters listed."}
    assert gate.granting.offered() == ()
    assert nothing_recorded(gate)


def test_an_email_outside_the_clusters_domains_cannot_ask() -> None:
    # GIVEN eve, whose Slack email is dana's name at another domain
    gate = access_gate()
    gate.people.users["U0EVE"] = SlackUser("U0EVE", "eve", "dana@attacker.example")
    # WHEN she asks, THEN she is refused: her email's local part would have made her dana
    assert gate.ask_access("U0EVE") == {"cluster": "lab takes requests from Slack only for emails at example.com."}
    assert nothing_recorded(gate)


def test_someone_slack_shows_no_email_for_cannot_ask() -> None:
    # GIVEN frank, whose Slack profile shows no email, WHEN he asks, THEN csrgate cannot tell who he is and refuses
    gate = access_gate()
    gate.people.users["U0NOMAIL"] = SlackUser("U0NOMAIL", "frank")
    result = gate.ask_access("U0NOMAIL")
    assert isinstance(result, dict) and "cannot read your email" in result["cluster"]
    assert nothing_recorded(gate)


def test_a_user_name_the_cluster_maps_to_another_email_cannot_be_asked_for() -> None:
    # GIVEN the lab says its user dana is dana.smith@example.com
    gate = access_gate()
    gate.reconfigure(access=ACCESS, requesterEmails={"dana": "dana.smith@example.com"})
    # WHEN dana@example.com asks, THEN she is refused: the user dana is someone else
    assert gate.ask_access("U0DANA") == {
        "cluster": "On lab, that user name belongs to another email; ask an administrator."
    }
    assert nothing_recorded(gate)


def test_asking_is_limited_to_five_times_an_hour() -> None:
    # GIVEN dana asked five times in the last hour
    gate = access_gate()
    for _ in range(5):
        asked_grant(gate)
        gate.clock.advance(minutes=10)
    # WHEN she asks a sixth time
    result = gate.ask_access("U0DANA")
    # THEN she is told to wait, and nothing more is recorded
    assert result == {"reason": "You asked 5 times in the last hour: wait for those to be decided."}
    assert len(gate.grants.grants) == 5 and len(gate.decisions.jobs) == 5
    # WHEN the first of them is an hour old, THEN she may ask again
    gate.clock.advance(minutes=10, seconds=1)
    asked_grant(gate)


def test_a_privileged_role_needs_the_clusters_privileged_number_of_approvals() -> None:
    # GIVEN admin (an administrative ClusterRole) and view cluster-wide, each privileged
    gate = access_gate()
    # WHEN dana asks for each
    admin = posted_grant(gate, role="admin", duration="900")
    everywhere = posted_grant(gate, role="cluster-view", namespace="")
    # THEN each needs two approvals, and the message says why
    assert (admin.approvals_needed, admin.privileged) == (2, True)
    assert (everywhere.approvals_needed, everywhere.privileged, everywhere.namespace) == (2, True, None)
    assert gate.channel.facts(admin.slack_message)["Needs"] == "2 approvals (privileged role)"  # type: ignore[arg-type]
    assert gate.channel.facts(everywhere.slack_message)["Access"] == (
        "cluster-view (ClusterRole view), in the whole cluster"
    )  # type: ignore[arg-type]


def test_a_role_asking_for_more_approvals_gets_them() -> None:
    # GIVEN a role wanting three approvals, WHEN dana asks for it, THEN her request needs three
    gate = access_gate(roles=[*ACCESS["roles"], {"name": "deploy", "clusterRole": "edit", "approvals": 3}])
    assert asked_grant(gate, role="deploy").approvals_needed == 3


# --- Approve and Deny --------------------------------------------------------------------------------------------


def test_one_approval_decides_a_request_needing_one_and_the_worker_is_told_to_grant_it() -> None:
    # GIVEN dana's request for edit, posted
    gate = access_gate()
    grant = posted_grant(gate)
    gate.clock.advance(minutes=2)
    # WHEN alice approves
    result = gate.click_grant(grant.grant_id, "U0ALICE")
    # THEN it is approved, queued for the worker, and the message says so with Revoke
    assert (result.answer, result.text) == (
        ClickAnswer.DECIDED,
        "Done: approved by alice (U0ALICE). csrgate is granting it.",
    )
    stored = gate.grant(grant.grant_id)
    assert stored.state is GrantState.APPROVED
    assert (stored.decided_by, stored.decided_at, stored.decision_reason) == (
        "alice (U0ALICE)",
        gate.clock(),
        "approved in Slack",
    )
    assert gate.decisions.jobs[-1] == ApplyGrant(grant.grant_id)
    assert gate.channel.headline(stored.slack_message) == (  # type: ignore[arg-type]
        "Access edit in namespace payments on lab for dana: approved: binding it"
    )
    assert gate.channel.buttons(stored.slack_message) == (GrantButton.REVOKE,)  # type: ignore[arg-type]
    assert gate.channel.facts(stored.slack_message)["Approved by"] == "alice (U0ALICE)"  # type: ignore[arg-type]
    recorded, approved = gate.audit.events[-2:]
    assert (recorded.event, recorded.details["approvals"], recorded.details["slack_user"]) == (
        "grant.approval_recorded",
        1,
        "U0ALICE",
    )
    assert (approved.event, approved.actor, approved.details["approvers"]) == (
        "grant.approved",
        "alice (U0ALICE)",
        "alice (U0ALICE)",
    )


def test_an_approver_through_a_group_may_approve() -> None:
    # GIVEN erin, an approver through S0PLATFORM, WHEN she approves dana's request, THEN it is decided
    gate = access_gate()
    grant = posted_grant(gate)
    assert gate.click_grant(grant.grant_id, "U0ERIN").answer is ClickAnswer.DECIDED


@pytest.mark.parametrize("button", [GrantButton.APPROVE, GrantButton.DENY])
def test_the_requester_cannot_decide_on_their_own_request_even_as_an_approver(button: GrantButton) -> None:
    # GIVEN alice, an approver, asks for edit for herself
    gate = access_gate()
    grant = posted_grant(gate, "U0ALICE")
    # WHEN she clicks Approve or Deny on her own request, or submits a denial
    clicked = gate.click_grant(grant.grant_id, "U0ALICE", button)
    denied = gate.deny_grant(grant.grant_id, "U0ALICE", "changed my mind")
    # THEN she is refused both ways, and the refusal audited
    assert (clicked.answer, clicked.text) == (ClickAnswer.REFUSED, "You cannot decide on your own access request.")
    assert denied.answer is ClickAnswer.REFUSED
    stored = gate.grant(grant.grant_id)
    assert stored.state is GrantState.AWAITING_REVIEW and stored.approvals == ()
    refused = gate.audit.events[-1]
    assert (refused.event, refused.actor, refused.details["reason"]) == (
        "slack.request_rejected",
        "U0ALICE",
        "self-approval",
    )
    assert gate.grants.event_names(grant.grant_id)[-1] == "slack.request_rejected"
    # AND bob may decide it
    assert gate.click_grant(grant.grant_id, "U0BOB").answer is ClickAnswer.DECIDED


def test_an_approver_whose_own_user_the_request_is_for_cannot_approve_it() -> None:
    # GIVEN a cluster taking two domains, where alice@example.com (an approver) and alice@corp.example (a second
    # Slack account) are both the user alice
    gate = Csrgate(access=ACCESS | {"emailDomains": ["example.com", "corp.example"]}, requesterEmailTemplate=None)
    gate.people.users["U0ALICE2"] = SlackUser("U0ALICE2", "alice-corp", "alice@corp.example")
    grant = posted_grant(gate, "U0ALICE2")
    assert grant.username == "alice"
    # WHEN alice approves the access for her own user
    result = gate.click_grant(grant.grant_id, "U0ALICE")
    # THEN she is refused: nobody approves access for themselves
    assert (result.answer, result.text) == (ClickAnswer.REFUSED, "You cannot decide on your own access request.")
    assert gate.grant(grant.grant_id).state is GrantState.AWAITING_REVIEW


def test_someone_who_is_not_an_approver_is_refused() -> None:
    # GIVEN dana's request, WHEN mallory (no approver) approves or denies it, THEN she is refused, nothing changes
    gate = access_gate()
    grant = posted_grant(gate)
    result = gate.click_grant(grant.grant_id, "U0MALLORY")
    assert (result.answer, result.text) == (ClickAnswer.REFUSED, "You are not an approver for lab.")
    assert gate.grant(grant.grant_id).approvals == ()
    assert gate.audit.events[-1].details["reason"] == "not an approver"
    assert gate.deny_grant(grant.grant_id, "U0MALLORY").answer is ClickAnswer.REFUSED
    assert gate.grant(grant.grant_id).state is GrantState.AWAITING_REVIEW and gate.decisions.jobs == [
        PostGrant(grant.grant_id)
    ]


def test_an_approval_clicked_on_another_message_is_refused() -> None:
    # GIVEN two requests posted, and a button that is not on the first one's message
    gate = access_gate()
    first = posted_grant(gate)
    second = posted_grant(gate, namespace="team-a")
    for elsewhere in (second.slack_message, MessageRef("C0LAB", "1772442000.999999"), MessageRef("C0OTHER", "1.2")):
        # WHEN alice's click names the first request on that message
        result = gate.granting.click(first.grant_id, GrantButton.APPROVE, "U0ALICE", elsewhere)
        # THEN it is refused, and neither request changes
        assert (result.answer, result.text) == (ClickAnswer.REFUSED, "This button is not on the request's message.")
    assert gate.grant(first.grant_id).approvals == () and gate.grant(second.grant_id).approvals == ()


def test_a_click_before_the_message_is_saved_is_asked_again() -> None:
    # GIVEN a request whose message is posted but not yet saved
    gate = access_gate()
    grant = asked_grant(gate)
    # WHEN alice clicks on a message csrgate has not recorded as the request's yet
    result = gate.granting.click(grant.grant_id, GrantButton.APPROVE, "U0ALICE", MessageRef("C0LAB", "1.1"))
    # THEN she is told to click again, and nothing is recorded
    assert (result.answer, result.text) == (
        ClickAnswer.STALE,
        "csrgate is still posting this request: click again in a moment.",
    )
    assert gate.grant(grant.grant_id).approvals == ()


def test_only_approve_approves() -> None:
    # GIVEN dana's request, and alice's click arriving as Extend (the requester's button, not a review's)
    gate = access_gate()
    grant = posted_grant(gate)
    # WHEN it reaches the review
    result = gate.click_grant(grant.grant_id, "U0ALICE", GrantButton.EXTEND)
    # THEN it approves nothing
    assert result.answer is ClickAnswer.REFUSED
    stored = gate.grant(grant.grant_id)
    assert stored.state is GrantState.AWAITING_REVIEW and stored.approvals == ()


def test_an_unknown_grant_is_refused() -> None:
    # GIVEN no grant of that id, WHEN a click names it, THEN it is refused
    gate = access_gate()
    result = gate.granting.click("nope", GrantButton.APPROVE, "U0ALICE", MessageRef("C0LAB", "1.1"))
    assert (result.answer, result.text) == (ClickAnswer.REFUSED, "csrgate knows no such request.")


def test_a_privileged_request_needs_two_different_approvers() -> None:
    # GIVEN dana's request for admin, which needs two approvals
    gate = access_gate()
    grant = posted_grant(gate, role="admin", duration="900")
    # WHEN alice approves
    first = gate.click_grant(grant.grant_id, "U0ALICE")
    # THEN one approval is recorded and the message counts it
    assert (first.answer, first.text) == (ClickAnswer.RECORDED, "Approval recorded; 1 more needed.")
    message = gate.grant(grant.grant_id).slack_message
    assert gate.channel.facts(message)["Approved so far"] == "1 of 2: alice"  # type: ignore[arg-type]
    # WHEN alice approves again
    again = gate.click_grant(grant.grant_id, "U0ALICE")
    # THEN she is refused: one person is one approval
    assert (again.answer, again.text) == (ClickAnswer.REFUSED, "You have already approved this request.")
    assert gate.grant(grant.grant_id).state is GrantState.AWAITING_REVIEW
    assert gate.decisions.jobs == [PostGrant(grant.grant_id)]
    # WHEN bob approves, THEN it is decided by both
    assert gate.click_grant(grant.grant_id, "U0BOB").answer is ClickAnswer.DECIDED
    assert gate.grant(grant.grant_id).decided_by == "alice (U0ALICE), bob (U0BOB)"


def test_an_approver_removed_since_approving_no_longer_counts() -> None:
    # GIVEN alice approved dana's request for admin, then left the lab's approvers
    gate = access_gate()
    grant = posted_grant(gate, role="admin", duration="900")
    gate.click_grant(grant.grant_id, "U0ALICE")
    gate.reconfigure(access=ACCESS, approvers={"users": ["U0BOB", "U0CAROL"]})
    # WHEN bob approves
    result = gate.click_grant(grant.grant_id, "U0BOB")
    # THEN only his approval counts, and alice's lapse is recorded
    assert (result.answer, result.text) == (ClickAnswer.RECORDED, "Approval recorded; 1 more needed.")
    assert gate.grant(grant.grant_id).state is GrantState.AWAITING_REVIEW
    lapsed = gate.audit.events[-1]
    assert (lapsed.event, lapsed.details["approver"], lapsed.details["reason"]) == (
        "grant.approval_lapsed",
        "alice (U0ALICE)",
        "no longer an approver for lab",
    )
    assert gate.channel.facts(gate.grant(grant.grant_id).slack_message)["Approved so far"] == "1 of 2: bob"  # type: ignore[arg-type]
    # WHEN carol approves, THEN bob and carol decide it
    assert gate.click_grant(grant.grant_id, "U0CAROL").answer is ClickAnswer.DECIDED
    assert gate.grant(grant.grant_id).decided_by == "bob (U0BOB), carol (U0CAROL)"


def test_two_approvers_clicking_at_once_decide_once() -> None:
    # GIVEN dana's request for edit, and bob clicking just as alice's approval is being decided
    gate = access_gate()
    grant = posted_grant(gate)
    results = []
    gate.grants.before("move", lambda: results.append(gate.click_grant(grant.grant_id, "U0BOB")))
    # WHEN alice approves
    alices = gate.click_grant(grant.grant_id, "U0ALICE")
    # THEN bob's click decided it with both approvals, and alice is told it was decided
    (bobs,) = results
    assert bobs.answer is ClickAnswer.DECIDED
    assert (alices.answer, alices.text) == (
        ClickAnswer.STALE,
        "Already approved by alice (U0ALICE), bob (U0BOB); csrgate is granting it.",
    )
    assert gate.audit.names().count("grant.approved") == 1
    assert gate.decisions.jobs.count(ApplyGrant(grant.grant_id)) == 1
    assert gate.grant(grant.grant_id).state is GrantState.APPROVED


def test_two_approvers_of_a_privileged_request_clicking_at_once_each_count() -> None:
    # GIVEN dana's request for admin, and bob's approval landing just before alice's
    gate = access_gate()
    grant = posted_grant(gate, role="admin", duration="900")
    results = []
    gate.grants.before("add_approval", lambda: results.append(gate.click_grant(grant.grant_id, "U0BOB")))
    # WHEN alice approves
    alices = gate.click_grant(grant.grant_id, "U0ALICE")
    # THEN bob's counted one, alice's decided it with both
    assert [result.answer for result in results] == [ClickAnswer.RECORDED]
    assert alices.answer is ClickAnswer.DECIDED
    assert gate.grant(grant.grant_id).decided_by == "bob (U0BOB), alice (U0ALICE)"
    assert gate.decisions.jobs.count(ApplyGrant(grant.grant_id)) == 1


def test_deny_asks_for_a_reason_and_a_denial_without_one_is_refused() -> None:
    # GIVEN dana's request
    gate = access_gate()
    grant = posted_grant(gate)
    # WHEN bob clicks Deny, THEN he is asked why
    clicked = gate.click_grant(grant.grant_id, "U0BOB", GrantButton.DENY)
    assert (clicked.answer, clicked.text) == (
        ClickAnswer.ASK_REASON,
        "Why deny it? The requester will see your reason.",
    )
    # WHEN he submits no reason, THEN the denial is refused and nothing changes
    for reason in ("", "  \n "):
        result = gate.deny_grant(grant.grant_id, "U0BOB", reason)
        assert (result.answer, result.text) == (
            ClickAnswer.REFUSED,
            "A denial needs a reason the requester can act on.",
        )
    assert gate.grant(grant.grant_id).state is GrantState.AWAITING_REVIEW
    assert gate.decisions.jobs == [PostGrant(grant.grant_id)]


def test_a_denial_with_a_reason_is_recorded_and_the_requester_told_once() -> None:
    # GIVEN dana's request
    gate = access_gate()
    grant = posted_grant(gate)
    # WHEN bob denies it with a reason
    result = gate.deny_grant(grant.grant_id, "U0BOB", "use the staging cluster")
    # THEN it is denied, and the worker is to tell dana
    assert (result.answer, result.text) == (
        ClickAnswer.DECIDED,
        "Done: denied by bob (U0BOB). csrgate is telling the requester.",
    )
    stored = gate.grant(grant.grant_id)
    assert (stored.state, stored.decided_by, stored.decision_reason) == (
        GrantState.DENIED,
        "bob (U0BOB)",
        "use the staging cluster",
    )
    assert gate.decisions.jobs[-1] == ApplyGrant(grant.grant_id)
    message = stored.slack_message
    assert gate.channel.headline(message).endswith(": denied")  # type: ignore[arg-type]
    assert gate.channel.buttons(message) == ()  # type: ignore[arg-type]
    facts = gate.channel.facts(message)  # type: ignore[arg-type]
    assert (facts["Denied by"], facts["Why"]) == ("bob (U0BOB)", "use the staging cluster")
    denied = gate.audit.events[-1]
    assert (denied.event, denied.details["reason"]) == ("grant.denied", "use the staging cluster")
    # WHEN the worker acts on it, twice
    gate.work()
    gate.decisions.enqueue(ApplyGrant(grant.grant_id))
    gate.work()
    # THEN dana is told once, in bob's words, and nothing was bound
    assert gate.requesters.told == [
        (
            "U0DANA",
            "Your request for edit in namespace payments on lab was denied by bob (U0BOB): use the staging cluster",
        )
    ]
    assert gate.grant(grant.grant_id).told
    assert gate.rbac.created == []


def test_slack_down_while_a_decision_is_redrawn_keeps_the_decision() -> None:
    # GIVEN dana's request, and Slack rate limiting message updates
    gate = access_gate()
    grant = posted_grant(gate)
    gate.channel.failure = RetryLater("Slack answered ratelimited to chat_update")
    # WHEN alice approves, THEN it is decided all the same, and the failed redraw recorded
    assert gate.click_grant(grant.grant_id, "U0ALICE").answer is ClickAnswer.DECIDED
    assert gate.grant(grant.grant_id).state is GrantState.APPROVED
    assert gate.decisions.jobs[-1] == ApplyGrant(grant.grant_id)
    failed = gate.audit.events[-1]
    assert (failed.event, failed.details["reason"]) == (
        "slack.update_failed",
        "Slack answered ratelimited to chat_update",
    )


def test_an_approval_landing_as_the_sweeper_expires_the_request_stands() -> None:
    # GIVEN dana's request twelve hours old, and alice approving it as the sweeper expires it
    gate = access_gate()
    grant = posted_grant(gate)
    gate.clock.advance(hours=12, seconds=1)
    gate.grants.before("move", lambda: gate.click_grant(grant.grant_id, "U0ALICE"))
    # WHEN the sweeper runs, THEN nothing expired, and alice's approval stands
    assert gate.sweeper.sweep().grants_expired == 0
    assert gate.grant(grant.grant_id).state is GrantState.APPROVED
    assert "grant.review_expired" not in gate.audit.names()


def test_a_decided_request_tells_a_late_clicker_what_happened() -> None:
    # GIVEN dana's request denied by bob, WHEN alice approves late, THEN she is told who decided
    gate = access_gate()
    grant = posted_grant(gate)
    gate.deny_grant(grant.grant_id, "U0BOB", "use the staging cluster")
    result = gate.click_grant(grant.grant_id, "U0ALICE")
    assert (result.answer, result.text) == (ClickAnswer.STALE, "Already denied by bob (U0BOB).")


def test_a_request_whose_cluster_no_longer_offers_access_cannot_be_approved() -> None:
    # GIVEN dana's request, and the lab then offering no access, WHEN alice approves, THEN she is refused
    gate = access_gate()
    grant = posted_grant(gate)
    gate.reconfigure()
    result = gate.click_grant(grant.grant_id, "U0ALICE")
    assert (result.answer, result.text) == (ClickAnswer.REFUSED, "lab no longer offers access.")
    assert gate.grant(grant.grant_id).state is GrantState.AWAITING_REVIEW


# --- Revoke ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("revoker", "label"), [("U0DANA", "dana (U0DANA)"), ("U0CAROL", "carol (U0CAROL)")])
def test_the_requester_or_an_approver_may_revoke_access_and_the_binding_goes(revoker: str, label: str) -> None:
    # GIVEN dana holds edit in payments
    gate = access_gate()
    grant = granted(gate)
    assert gate.rbac.users_bound() == [("payments", "edit", "dana")]
    gate.clock.advance(minutes=10)
    # WHEN she (or carol, an approver) clicks Revoke on its message
    result = gate.click_grant(grant.grant_id, revoker, GrantButton.REVOKE)
    # THEN it is ending, and the worker is to remove the binding
    assert (result.answer, result.text) == (ClickAnswer.DECIDED, "Revoked: csrgate is removing the binding in lab.")
    stored = gate.grant(grant.grant_id)
    assert (stored.state, stored.ended_by, stored.ended_at) == (GrantState.ENDING, label, gate.clock())
    assert gate.decisions.jobs[-1] == EndGrant(grant.grant_id)
    assert gate.channel.headline(stored.slack_message).endswith(": ending: removing it")  # type: ignore[arg-type]
    assert gate.audit.events[-1].event == "grant.revoked"
    # WHEN the worker acts on it
    gate.work()
    # THEN the binding is gone, the grant ended, and dana told who revoked it
    assert gate.rbac.users_bound() == []
    assert gate.grant(grant.grant_id).state is GrantState.ENDED
    assert gate.requesters.told[-1] == (
        "U0DANA",
        f"Your access edit in namespace payments on lab was revoked by {label}; the binding is removed.",
    )


def test_nobody_else_may_revoke_access() -> None:
    # GIVEN dana holds edit in payments
    gate = access_gate()
    grant = granted(gate)
    # WHEN mallory clicks Revoke
    result = gate.click_grant(grant.grant_id, "U0MALLORY", GrantButton.REVOKE)
    # THEN she is refused, and dana's access stays
    assert (result.answer, result.text) == (
        ClickAnswer.REFUSED,
        "Only the requester and the approvers may revoke access.",
    )
    assert gate.grant(grant.grant_id).state is GrantState.ACTIVE
    assert gate.rbac.users_bound() == [("payments", "edit", "dana")]
    assert gate.audit.events[-1].details["reason"] == "not an approver"


def test_revoke_on_another_message_is_refused() -> None:
    # GIVEN dana's access, WHEN Revoke comes from a message that is not the grant's, THEN nothing changes
    gate = access_gate()
    grant = granted(gate)
    result = gate.granting.click(grant.grant_id, GrantButton.REVOKE, "U0DANA", MessageRef("C0LAB", "1.2"))
    assert (result.answer, result.text) == (ClickAnswer.REFUSED, "This button is not on its message.")
    assert gate.grant(grant.grant_id).state is GrantState.ACTIVE


def test_revoking_ended_access_changes_nothing() -> None:
    # GIVEN dana's access revoked and removed
    gate = access_gate()
    grant = granted(gate)
    gate.click_grant(grant.grant_id, "U0DANA", GrantButton.REVOKE)
    gate.work()
    jobs = len(gate.decisions.jobs)
    # WHEN alice clicks Revoke on it again
    result = gate.click_grant(grant.grant_id, "U0ALICE", GrantButton.REVOKE)
    # THEN she is told it has ended, and nothing is queued
    assert (result.answer, result.text) == (ClickAnswer.STALE, "This access has ended (dana (U0DANA)).")
    assert len(gate.decisions.jobs) == jobs


def test_access_revoked_before_its_binding_is_made_is_never_bound() -> None:
    # GIVEN dana's request approved, its binding not yet made
    gate = access_gate()
    grant = posted_grant(gate)
    gate.click_grant(grant.grant_id, "U0ALICE")
    # WHEN she revokes it, and the worker then takes both jobs
    assert gate.click_grant(grant.grant_id, "U0DANA", GrantButton.REVOKE).answer is ClickAnswer.DECIDED
    gate.work()
    # THEN nothing was ever bound, and the grant ended
    assert gate.rbac.created == []
    assert gate.grant(grant.grant_id).state is GrantState.ENDED
    assert gate.requesters.delivered == []


# --- Extend ------------------------------------------------------------------------------------------------------


def test_extend_asks_again_for_the_same_access_through_the_same_approval() -> None:
    # GIVEN dana holds edit in payments for an hour
    gate = access_gate()
    grant = granted(gate)
    # WHEN she clicks Extend in her reminder
    text = gate.granting.extend(grant.grant_id, "U0DANA")
    # THEN a new request for the same access is recorded and posted for review, naming the one it extends
    assert text == "Asked to extend it by 1 hour: the approvers of lab have it."
    (extension,) = [g for g in gate.grants.grants.values() if g.extends == grant.grant_id]
    assert (extension.role, extension.namespace, extension.duration_seconds, extension.reason) == (
        "edit",
        "payments",
        3600,
        grant.reason,
    )
    assert (extension.state, extension.slack_user, extension.approvals_needed) == (
        GrantState.AWAITING_REVIEW,
        "U0DANA",
        1,
    )
    assert gate.decisions.jobs[-1] == PostGrant(extension.grant_id)
    gate.work()
    message = gate.grant(extension.grant_id).slack_message
    assert gate.channel.facts(message)["Extends"] == f"grant {grant.grant_id}"  # type: ignore[arg-type]
    assert gate.audit.events[-2].details["extends"] == grant.grant_id


def test_on_eks_an_extension_is_for_the_same_session_and_user() -> None:
    # GIVEN dana holds edit in payments on the EKS lab
    gate = eks_access_gate()
    grant = granted(gate)
    # WHEN she extends it, THEN the extension binds the same user, for the same session
    gate.granting.extend(grant.grant_id, "U0DANA")
    (extension,) = [g for g in gate.grants.grants.values() if g.extends == grant.grant_id]
    assert (extension.username, extension.session_name) == ("sso:dana-example.com", "dana@example.com")


def test_only_the_requester_may_extend_their_access() -> None:
    # GIVEN dana's access, WHEN anyone else clicks Extend on it (or on no grant), THEN nothing is asked for
    gate = access_gate()
    grant = granted(gate)
    for someone in ("U0ALICE", "U0MALLORY"):
        assert gate.granting.extend(grant.grant_id, someone) == "csrgate knows no such access of yours."
    assert gate.granting.extend("nope", "U0DANA") == "csrgate knows no such access of yours."
    assert len(gate.grants.grants) == 1


def test_access_that_is_not_live_cannot_be_extended() -> None:
    # GIVEN a request still awaiting review, and access revoked
    gate = access_gate()
    waiting = posted_grant(gate)
    ended = granted(gate, namespace="team-a")
    gate.click_grant(ended.grant_id, "U0DANA", GrantButton.REVOKE)
    gate.work()
    # THEN neither can be extended
    assert gate.granting.extend(waiting.grant_id, "U0DANA") == (
        "This access is awaiting review: ask again with /csrgate access."
    )
    assert gate.granting.extend(ended.grant_id, "U0DANA") == "This access is ended: ask again with /csrgate access."
    assert len(gate.grants.grants) == 2


def test_access_is_extended_once() -> None:
    # GIVEN dana extended her access, WHEN she clicks Extend again, THEN she is told the approvers have it
    gate = access_gate()
    grant = granted(gate)
    gate.granting.extend(grant.grant_id, "U0DANA")
    again = gate.granting.extend(grant.grant_id, "U0DANA")
    assert again == "You asked to extend it already: the approvers have your request."
    assert len(gate.grants.grants) == 2


def test_extend_clicked_twice_at_once_asks_once() -> None:
    # GIVEN dana holds edit, and her second click on Extend lands while the first is being recorded
    gate = access_gate()
    grant = granted(gate)
    second: list[str] = []
    gate.grants.before("create", lambda: second.append(gate.granting.extend(grant.grant_id, "U0DANA")))
    # WHEN the first click is recorded
    first = gate.granting.extend(grant.grant_id, "U0DANA")
    # THEN one extension is asked for, and the other click is told so
    assert sorted([first, *second]) == [
        "Asked to extend it by 1 hour: the approvers of lab have it.",
        "You asked to extend it already: the approvers have your request.",
    ]
    assert [g.extends for g in gate.grants.grants.values()].count(grant.grant_id) == 1
    posts = [job for job in gate.decisions.jobs if isinstance(job, PostGrant)]
    assert len(posts) == 2  # the grant's own review, and its one extension's
    # AND the two clicks hold one place of her five an hour: three more asks are hers, not two
    for namespace in ("team-a", "team-b", "team-c"):
        asked_grant(gate, namespace=namespace)
    assert gate.ask_access(namespace="team-d") == {
        "reason": "You asked 5 times in the last hour: wait for those to be decided."
    }


def test_extend_is_checked_against_what_the_cluster_offers_now() -> None:
    # GIVEN dana holds edit in payments
    gate = access_gate()
    grant = granted(gate)
    for access, text in [
        # the lab stops offering edit
        (ACCESS | {"roles": [ACCESS["roles"][0]]}, "lab no longer offers edit as ClusterRole edit"),
        # edit is offered again, but binds another ClusterRole
        (
            ACCESS | {"roles": [{"name": "edit", "clusterRole": "admin"}]},
            "lab no longer offers edit as ClusterRole edit",
        ),
        # edit is offered, but no longer in payments
        (ACCESS | {"namespaces": ["team-*"]}, "lab no longer offers access in payments"),
        # access is no longer offered at all
        (None, "lab no longer offers access"),
    ]:
        gate.reconfigure(**({"access": access} if access else {}))
        # WHEN she clicks Extend, THEN she is refused, told why
        assert gate.granting.extend(grant.grant_id, "U0DANA") == f"{text}: ask again with /csrgate access."
    assert len(gate.grants.grants) == 1


def test_extend_of_cluster_wide_access_whose_role_is_now_namespaced_is_refused() -> None:
    # GIVEN dana holds view across the lab, and cluster-view is then offered only in namespaces
    gate = access_gate()
    grant = posted_grant(gate, role="cluster-view", namespace="")
    gate.click_grant(grant.grant_id, "U0ALICE")
    gate.click_grant(grant.grant_id, "U0BOB")
    gate.work()
    assert gate.grant(grant.grant_id).state is GrantState.ACTIVE
    roles = [role for role in ACCESS["roles"] if role["name"] != "cluster-view"]
    gate.reconfigure(access=ACCESS | {"roles": [*roles, {"name": "cluster-view", "clusterRole": "view"}]})
    # WHEN she clicks Extend, THEN she is refused: what she holds is not offered any more
    text = gate.granting.extend(grant.grant_id, "U0DANA")
    assert text == "lab no longer offers cluster-view cluster-wide: ask again with /csrgate access."
    assert len(gate.grants.grants) == 1


def test_an_extension_is_cut_to_the_roles_current_maximum() -> None:
    # GIVEN dana holds edit for four hours, and edit is now offered for an hour at most
    gate = access_gate()
    grant = granted(gate, duration=str(4 * 3600))
    roles = [role for role in ACCESS["roles"] if role["name"] != "edit"]
    gate.reconfigure(access=ACCESS | {"roles": [*roles, {"name": "edit", "clusterRole": "edit", "maxDuration": "1h"}]})
    # WHEN she extends it, THEN the extension is for an hour
    assert (
        gate.granting.extend(grant.grant_id, "U0DANA") == "Asked to extend it by 1 hour: the approvers of lab have it."
    )
    (extension,) = [g for g in gate.grants.grants.values() if g.extends]
    assert extension.duration_seconds == 3600


def test_extend_checks_the_askers_email_again() -> None:
    # GIVEN dana holds edit, and her Slack email has since moved to another domain
    gate = access_gate()
    grant = granted(gate)
    gate.people.users["U0DANA"] = SlackUser("U0DANA", "dana", "dana@elsewhere.example")
    # THEN she cannot extend it
    assert gate.granting.extend(grant.grant_id, "U0DANA") == (
        "lab takes requests from Slack only for emails at example.com."
    )


def test_extend_counts_toward_the_hourly_limit() -> None:
    # GIVEN dana asked five times in the hour, WHEN she clicks Extend, THEN she is told to wait
    gate = access_gate()
    grant = granted(gate)
    for namespace in ("team-a", "team-b", "team-c", "team-d"):
        asked_grant(gate, namespace=namespace)
    assert gate.granting.extend(grant.grant_id, "U0DANA") == (
        "You asked 5 times in the last hour: wait for those to be decided."
    )


def test_the_form_is_submitted_as_slack_sends_it() -> None:
    # GIVEN the form's values exactly as the interactions function passes them
    gate = access_gate()
    result = gate.granting.submit("U0DANA", GrantForm("lab", "view", "team-a", "900", "reading logs"))
    assert isinstance(result, Grant) and (result.role, result.duration) == ("view", "15 minutes")
