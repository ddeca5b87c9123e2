"""Time-boxed access, attacked: what someone with a Slack account (an approver or not, maybe with a second account),
a namespace they administer, and the text fields of the form tries in order to get access nobody approved, keep it
past its end or a Revoke, have csrgate touch someone else's binding, or wear csrgate down. Each test is one attempt,
and says what must hold."""

from __future__ import annotations

from typing import Any

import pytest
from memory import ACCESS, Csrgate, access_gate, asked_grant, client_csr, cluster_config, granted, posted_grant

from csrgate.domain.approvals import ClickAnswer
from csrgate.domain.asks import CertificateAsk
from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.grant_messages import GrantButton
from csrgate.domain.grants import GRANT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, Binding, Grant, GrantState
from csrgate.domain.records import SlackUser

SELF_APPROVAL = "You cannot decide on your own access request."
NOT_OFFERED = "lab offers access in these namespaces only: payments, team-*."
DURATION_ERROR = "Pick one of the durations listed: edit is offered for 4h."


def extension_of(gate: Csrgate, grant: Grant) -> Grant:
    """The extension dana asked for with Extend, as stored now."""
    text = gate.granting.extend(grant.grant_id, grant.slack_user)
    assert text.startswith("Asked to extend it"), text
    (extension,) = [g for g in gate.grants.grants.values() if g.extends == grant.grant_id]
    return extension


def second_account(gate: Csrgate, access: dict[str, Any], slack_id: str, name: str, email: str) -> None:
    """Another Slack account, made an approver of the lab (whose access settings are ACCESS with `access` changed)."""
    gate.people.users[slack_id] = SlackUser(slack_id, name, email)
    gate.reconfigure(
        access={key: value for key, value in (ACCESS | access).items() if value is not None},
        approvers={"users": ["U0ALICE", "U0BOB", "U0CAROL", slack_id], "groups": ["S0PLATFORM"]},
    )


def binding_name(grant: Grant) -> str:
    return grant.binding().name


# --- approving one's own request ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("access", "name", "email"),
    [
        pytest.param({}, "dana-ops", "dana+ops@example.com", id="the same mailbox, plus-addressed"),
        pytest.param({}, "dana", "d.smith@example.com", id="the same Slack handle"),
        pytest.param(
            {"usernameTemplate": "oidc:{email}", "emailDomains": None},
            "dana-partner",
            "dana@partner.example",
            id="the same name at another domain",
        ),
    ],
)
def test_a_second_slack_account_of_the_requester_cannot_approve_their_request(
    access: dict[str, Any], name: str, email: str
) -> None:
    # GIVEN dana asks for edit in payments, and has a second Slack account that is an approver of the lab
    gate = access_gate(**access)
    second_account(gate, access, "U0DANA2", name, email)
    grant = posted_grant(gate)
    # WHEN her second account approves the request
    result = gate.click_grant(grant.grant_id, "U0DANA2")
    # THEN it is refused as her own, as a certificate request of hers would be
    assert (result.answer, result.text) == (ClickAnswer.REFUSED, SELF_APPROVAL)
    assert gate.grant(grant.grant_id).state is GrantState.AWAITING_REVIEW
    assert gate.rbac.objects == {}


def test_the_requester_cannot_approve_from_outside_the_channel_message() -> None:
    # GIVEN alice (an approver) asks for access for herself
    gate = access_gate()
    grant = posted_grant(gate, "U0ALICE")
    # WHEN her click arrives with no message (as from the App Home), or on the request's own message
    for message in (None, gate.grant(grant.grant_id).slack_message):
        result = gate.granting.click(grant.grant_id, GrantButton.APPROVE, "U0ALICE", message)
        # THEN she is refused either way
        assert (result.answer, result.text) == (ClickAnswer.REFUSED, SELF_APPROVAL)
    assert gate.grant(grant.grant_id).approvals == ()


def test_extend_on_a_request_under_review_decides_and_asks_for_nothing() -> None:
    # GIVEN dana's request awaiting review
    gate = access_gate()
    grant = posted_grant(gate)
    message = gate.grant(grant.grant_id).slack_message
    # WHEN an approver's click names Extend on the review message, THEN it decides nothing
    result = gate.granting.click(grant.grant_id, GrantButton.EXTEND, "U0ALICE", message)
    assert result.answer is ClickAnswer.REFUSED
    # AND Extend by dana on a request still under review asks for nothing more
    assert gate.granting.extend(grant.grant_id, "U0DANA").startswith("This access is awaiting review")
    assert gate.grant(grant.grant_id).state is GrantState.AWAITING_REVIEW and len(gate.grants.grants) == 1


def test_a_replayed_approval_of_an_approver_since_removed_does_not_count() -> None:
    # GIVEN dana's cluster-wide request needing two approvers, approved by alice, who is then removed
    gate = access_gate()
    grant = posted_grant(gate, role="cluster-view", namespace="")
    gate.click_grant(grant.grant_id, "U0ALICE")
    gate.reconfigure(access=ACCESS, approvers={"users": ["U0BOB", "U0CAROL"]})
    # WHEN her click is sent again, THEN it is refused
    assert gate.click_grant(grant.grant_id, "U0ALICE").answer is ClickAnswer.REFUSED
    # AND bob's approval alone does not decide it
    assert gate.click_grant(grant.grant_id, "U0BOB").answer is ClickAnswer.RECORDED
    assert gate.grant(grant.grant_id).state is GrantState.AWAITING_REVIEW


# --- asking for what is not offered -----------------------------------------------------------------------------


def test_a_role_another_cluster_offers_cannot_be_asked_for_on_this_one() -> None:
    # GIVEN staging offering admin across the cluster, and the lab not
    gate = access_gate()
    staging = cluster_config(
        name="staging",
        slackChannel="C0STAGING",
        access=ACCESS | {"roles": [{"name": "root", "clusterRole": "cluster-admin", "scope": "cluster"}]},
    )
    gate.directory.clusters["staging"] = staging
    # WHEN dana asks the lab for it, THEN she is told to pick a listed role, and nothing is recorded
    assert gate.ask_access(role="root", namespace="") == {"role": "Pick one of the roles listed."}
    assert gate.grants.grants == {}


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease", "default"])
def test_kubernetes_own_namespaces_are_never_reached_through_a_pattern(namespace: str) -> None:
    # GIVEN a cluster offering edit in every namespace by pattern
    gate = access_gate(namespaces=["*"])
    # WHEN dana asks for edit in one of Kubernetes' own, THEN it is refused
    assert gate.ask_access(namespace=namespace) == {"namespace": "lab offers access in these namespaces only: *."}
    assert gate.grants.grants == {}


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        ({"namespace": "p\u0430yments"}, {"namespace": NOT_OFFERED}),  # a Cyrillic a
        ({"namespace": "payments\x00"}, {"namespace": NOT_OFFERED}),
        ({"namespace": "payments/../kube-system"}, {"namespace": NOT_OFFERED}),
        ({"namespace": "team-a,kube-system"}, {"namespace": NOT_OFFERED}),
        ({"namespace": "team-" + "a" * 60}, {"namespace": NOT_OFFERED}),  # longer than a namespace may be
        ({"role": "edit\u200b"}, {"role": "Pick one of the roles listed."}),
        ({"role": "edit "}, {"role": "Pick one of the roles listed."}),
        ({"cluster": "lab "}, {"cluster": "Pick one of the clusters listed."}),
        ({"cluster": "LAB"}, {"cluster": "Pick one of the clusters listed."}),
        ({"duration": " 3600"}, {"duration": DURATION_ERROR}),
        ({"duration": "+3600"}, {"duration": DURATION_ERROR}),
        ({"duration": "\u0663\u0666\u0660\u0660"}, {"duration": DURATION_ERROR}),
        ({"duration": "0x0e10"}, {"duration": DURATION_ERROR}),
        ({"duration": "1e3"}, {"duration": DURATION_ERROR}),
    ],
)  # fmt: skip
def test_disguised_values_in_the_form_are_refused(form: dict[str, str], errors: dict[str, str]) -> None:
    gate = access_gate()
    assert gate.ask_access(**form) == errors
    assert gate.grants.grants == {} and gate.decisions.jobs == []


def test_a_namespace_padded_with_spaces_is_the_namespace_itself() -> None:
    # GIVEN dana's namespace typed with spaces around it, WHEN it is granted, THEN the binding is in that namespace
    gate = access_gate()
    grant = granted(gate, namespace="  payments \n")
    assert grant.namespace == "payments"
    assert gate.rbac.users_bound() == [("payments", "edit", "dana")]


def test_the_user_bound_is_the_one_the_approvers_saw_whatever_the_askers_email_becomes() -> None:
    # GIVEN dana's request posted for her user dana
    gate = access_gate()
    grant = posted_grant(gate)
    # WHEN her Slack email changes before it is approved and bound
    gate.people.users["U0DANA"] = SlackUser("U0DANA", "dana", "root@example.com")
    gate.click_grant(grant.grant_id, "U0ALICE")
    gate.work()
    # THEN the user bound is still dana, as the approvers saw it
    assert gate.rbac.users_bound() == [("payments", "edit", "dana")]


@pytest.mark.parametrize(
    "email",
    [
        "dana@elsewhere.example@example.com",
        '"dana@elsewhere.example"@example.com',
        "dana@example.com.elsewhere.example",
    ],
)
def test_an_email_that_is_not_one_address_at_an_offered_domain_cannot_ask_for_someone_elses_user(email: str) -> None:
    # GIVEN a cluster with no mapping of its users to emails, taking requests from example.com
    gate = Csrgate(access=ACCESS, requesterEmailTemplate=None)
    # AND eve, whose Slack email ends in @example.com but is not an address there of hers
    gate.people.users["U0EVE"] = SlackUser("U0EVE", "eve", email)
    # WHEN she asks for access, THEN it is refused before anything is recorded
    result = gate.ask_access("U0EVE")
    assert isinstance(result, dict) and set(result) == {"cluster"}, result
    assert gate.grants.grants == {}


# --- what someone types, in csrgate's messages --------------------------------------------------------------------


def test_a_reason_cannot_add_lines_to_the_review_message() -> None:
    # GIVEN a reason that tries to look like csrgate's own lines
    gate = access_gate()
    forged = "fix\nNeeds: 0 approvals\u2028Approved by: alice (U0ALICE)\u2029\x85<!channel>"
    grant = posted_grant(gate, reason=forged)
    # THEN the message shows it as one line of the reason, and no line of its own
    facts = gate.channel.facts(gate.grant(grant.grant_id).slack_message)  # type: ignore[arg-type]
    assert facts["Reason"] == "fix Needs: 0 approvals Approved by: alice (U0ALICE) <!channel>"
    assert facts["Needs"] == "1 approval" and "Approved by" not in facts


def test_a_denial_reason_cannot_add_lines_either() -> None:
    gate = access_gate()
    grant = posted_grant(gate)
    gate.deny_grant(grant.grant_id, "U0ALICE", "no\nApproved by: bob (U0BOB)")
    facts = gate.channel.facts(gate.grant(grant.grant_id).slack_message)  # type: ignore[arg-type]
    assert facts["Why"] == "no Approved by: bob (U0BOB)" and "Approved by" not in facts


# --- wearing csrgate down -------------------------------------------------------------------------------------------


def test_requests_submitted_at_once_cannot_pass_the_hourly_limit() -> None:
    # GIVEN dana asked four times in the hour
    gate = access_gate()
    for namespace in ("team-a", "team-b", "team-c", "team-d"):
        asked_grant(gate, namespace=namespace)
    # WHEN two more submissions land at the same moment
    second: list[object] = []
    gate.grants.before("create", lambda: second.append(gate.ask_access(namespace="team-e")))
    first = gate.ask_access(namespace="team-f")
    # THEN one of them is told to wait, and five of hers are recorded
    assert isinstance(first, Grant) and second == [
        {"reason": "You asked 5 times in the last hour: wait for those to be decided."}
    ]
    assert len(gate.grants.grants) == 5


@pytest.mark.parametrize("kind", ["certificate", "access"])
def test_asks_the_table_refused_to_store_do_not_count_against_the_asker(kind: str) -> None:
    # GIVEN DynamoDB throttling every write for a while, as someone asks five times
    gate = access_gate()
    store = gate.asks if kind == "certificate" else gate.grants
    ask = (lambda: gate.ask("U0ANGELA", client_csr("angela"))) if kind == "certificate" else gate.ask_access
    for _ in range(5):
        store.before("create", throttled)
        with pytest.raises(RetryLater):
            ask()
    # WHEN DynamoDB is back, THEN they may still ask five times
    for _ in range(5):
        assert isinstance(ask(), CertificateAsk | Grant)
    assert "5 times in the last hour" in str(ask())


def throttled() -> None:
    raise RetryLater("DynamoDB answered ThrottlingException")


def test_extend_clicked_over_and_over_asks_once_and_writes_nothing_more() -> None:
    gate = access_gate()
    grant = granted(gate)
    extension_of(gate, grant)
    events, jobs = len(gate.grants.events), len(gate.decisions.jobs)
    for _ in range(50):
        assert gate.granting.extend(grant.grant_id, "U0DANA").startswith("You asked to extend it already")
    assert len(gate.grants.grants) == 2
    assert (len(gate.grants.events), len(gate.decisions.jobs)) == (events, jobs)


def test_an_extension_cannot_be_extended_before_it_is_granted() -> None:
    gate = access_gate()
    grant = granted(gate)
    extension = extension_of(gate, grant)
    assert gate.granting.extend(extension.grant_id, "U0DANA").startswith("This access is awaiting review")
    assert len(gate.grants.grants) == 2


# --- keeping access past a Revoke -----------------------------------------------------------------------------------


def test_revoking_access_also_ends_its_granted_extension() -> None:
    # GIVEN dana's access, and its extension approved and bound (a second binding of the same access)
    gate = access_gate()
    grant = granted(gate)
    extension = extension_of(gate, grant)
    gate.work()
    gate.click_grant(extension.grant_id, "U0BOB")
    gate.work()
    assert gate.grant(extension.grant_id).state is GrantState.ACTIVE
    assert gate.rbac.users_bound() == [("payments", "edit", "dana")] * 2
    # WHEN alice revokes dana's access on its message
    assert gate.click_grant(grant.grant_id, "U0ALICE", GrantButton.REVOKE).answer is ClickAnswer.DECIDED
    gate.work()
    # THEN dana holds nothing any more: the extension is revoked with it
    assert gate.rbac.users_bound() == []
    assert gate.grant(extension.grant_id).state is GrantState.ENDED
    assert gate.grant(extension.grant_id).ended_by == "alice (U0ALICE)"


def test_revoking_access_denies_its_extension_still_awaiting_review() -> None:
    # GIVEN dana's access, and its extension awaiting review
    gate = access_gate()
    grant = granted(gate)
    extension = extension_of(gate, grant)
    gate.work()
    # WHEN alice revokes dana's access, and bob then approves the extension
    gate.click_grant(grant.grant_id, "U0ALICE", GrantButton.REVOKE)
    result = gate.click_grant(extension.grant_id, "U0BOB")
    gate.work()
    # THEN the extension was ended with the access, and nothing is bound again
    assert result.answer is ClickAnswer.STALE
    assert gate.grant(extension.grant_id).state is GrantState.DENIED
    assert gate.rbac.users_bound() == []


def test_revoking_an_extension_also_ends_the_access_it_extends() -> None:
    # GIVEN dana's access and its extension, both bound
    gate = access_gate()
    grant = granted(gate)
    extension = extension_of(gate, grant)
    gate.work()
    gate.click_grant(extension.grant_id, "U0BOB")
    gate.work()
    # WHEN alice revokes it on the extension's message (the newer one in the channel)
    gate.click_grant(extension.grant_id, "U0ALICE", GrantButton.REVOKE)
    gate.work()
    # THEN dana holds nothing any more
    assert gate.rbac.users_bound() == []
    assert gate.grant(grant.grant_id).state is GrantState.ENDED


def test_an_approval_racing_the_revoke_of_the_access_it_extends_is_ended_too() -> None:
    # GIVEN dana's access and its extension under review, and bob's approval landing while alice's Revoke ends it
    gate = access_gate()
    grant = granted(gate)
    extension = extension_of(gate, grant)
    gate.work()
    message = gate.grant(extension.grant_id).slack_message

    def approve() -> None:
        gate.granting.click(extension.grant_id, GrantButton.APPROVE, "U0BOB", message)

    gate.grants.before("move", lambda: None)  # alice's Revoke of dana's access
    gate.grants.before("move", approve)  # just before the extension is ended with it
    gate.click_grant(grant.grant_id, "U0ALICE", GrantButton.REVOKE)
    gate.work()
    gate.work()
    # THEN the approval counted, and the access it gave was ended with the rest: nothing stays bound
    ended = gate.grant(extension.grant_id)
    assert (ended.state, ended.decided_by, ended.ended_by) == (GrantState.ENDED, "bob (U0BOB)", "alice (U0ALICE)")
    assert gate.rbac.users_bound() == []


def test_access_ending_on_time_leaves_its_granted_extension() -> None:
    # GIVEN dana's hour of access, and its extension asked for, approved and bound ten minutes before its end
    gate = access_gate()
    grant = granted(gate)
    gate.clock.advance(minutes=50)
    extension = extension_of(gate, grant)
    gate.work()
    gate.click_grant(extension.grant_id, "U0BOB")
    gate.work()
    # WHEN the hour is up and the worker ends it
    gate.clock.advance(minutes=11)
    gate.sweeper.sweep()
    gate.work()
    # THEN her first grant ended, and the extension still gives her the access
    assert gate.grant(grant.grant_id).state is GrantState.ENDED
    assert gate.grant(extension.grant_id).state is GrantState.ACTIVE
    assert gate.rbac.users_bound() == [("payments", "edit", "dana")]


# --- cluster objects made to confuse the sweep ------------------------------------------------------------------


def test_a_labelled_binding_elsewhere_cannot_make_the_sweep_rebind_access_an_administrator_removed() -> None:
    # GIVEN dana's access in payments, whose binding a cluster administrator deleted by hand to cut her off
    gate = access_gate()
    grant = granted(gate)
    gate.rbac.delete_outside(grant.binding())
    # AND, in team-a where she administers bindings, one she made labelled as that grant's
    planted = Binding("mine", "team-a", "view", "dana", grant.grant_id)
    gate.rbac.apply_outside(planted)
    # WHEN the worker sweeps the lab's bindings
    gate.grant_worker.sweep_bindings("lab")
    # THEN her planted binding is gone, and the one the administrator deleted is not made again
    assert gate.rbac.users_bound() == []


def test_a_binding_the_sweep_cannot_settle_does_not_keep_it_from_the_others() -> None:
    # GIVEN mallory, who administers team-a, holds view there through csrgate, and has altered her binding so that it
    # cannot be replaced (a finalizer keeps it when deleted)
    gate = access_gate()
    grant = granted(gate, "U0MALLORY", role="view", namespace="team-a")
    gate.rbac.apply_outside(Binding(binding_name(grant), "team-a", "view", "eve", grant.grant_id))
    unbind = gate.rbac.unbind

    def kept_in_team_a(binding: Binding) -> bool:
        """Deleted, as far as the API server answers, and still there."""
        return True if binding.namespace == "team-a" else unbind(binding)

    gate.rbac.unbind = kept_in_team_a  # type: ignore[method-assign]
    # AND, after it, a binding of access that ended which is csrgate's to remove
    ended = granted(gate)
    gate.click_grant(ended.grant_id, "U0DANA", GrantButton.REVOKE)
    gate.work()
    gate.rbac.apply_outside(gate.grant(ended.grant_id).binding())
    # WHEN the worker sweeps the lab's bindings
    gate.grant_worker.sweep_bindings("lab")
    # THEN the ended access is removed all the same, and the binding it could not settle is audited
    assert gate.rbac.found("payments", binding_name(ended)) is None
    (stuck,) = [event for event in gate.audit.events if event.event == "grant.orphan_not_removed"]
    assert stuck.details["binding"] == binding_name(grant) and stuck.details["namespace"] == "team-a"


def test_crafted_labels_make_the_sweep_remove_only_bindings_labelled_as_csrgates() -> None:
    # GIVEN dana's access in payments, and what mallory made in team-a, where she administers bindings
    gate = access_gate()
    grant = granted(gate)
    crafted = {
        "copy": Binding(binding_name(grant), "team-a", "edit", "dana", grant.grant_id),  # dana's grant's label
        "upper": Binding("upper", "team-a", "edit", "mallory", grant.grant_id.upper()),
        "garbage": Binding("garbage", "team-a", "edit", "mallory", "../../GRANT#x"),
    }
    for binding in crafted.values():
        gate.rbac.apply_outside(binding)
    empty = Binding("empty-label", "team-a", "edit", "mallory", "")
    gate.rbac.apply_outside(empty, labels={MANAGED_BY_LABEL: MANAGED_BY, GRANT_LABEL: ""})
    unlabelled = Binding("csrgate-dana-00000000", "team-b", "edit", "ops", grant.grant_id)
    gate.rbac.apply_outside(unlabelled, labels={GRANT_LABEL: grant.grant_id})  # not managed by csrgate
    # WHEN the worker sweeps the lab's bindings
    removed = gate.grant_worker.sweep_bindings("lab")
    # THEN mallory's bindings labelled as csrgate's are gone; dana's, the one naming an empty grant and the one
    # csrgate does not manage are left as they are
    assert removed == 3
    assert sorted(gate.rbac.objects) == [
        ("payments", binding_name(grant)),
        ("team-a", "empty-label"),
        ("team-b", "csrgate-dana-00000000"),
    ]


def test_the_end_of_access_removes_nothing_but_the_grants_own_binding() -> None:
    # GIVEN dana's access, whose binding someone replaced with one for another grant under the same name
    gate = access_gate()
    grant = granted(gate)
    other = Binding(binding_name(grant), "payments", "edit", "ops", "00000000-0000-4000-8000-0000000000ff")
    gate.rbac.apply_outside(other)
    # WHEN dana's access is revoked and the worker ends it
    gate.click_grant(grant.grant_id, "U0DANA", GrantButton.REVOKE)
    gate.work()
    # THEN the binding that is not hers stays
    assert gate.grant(grant.grant_id).state is GrantState.ENDED
    assert gate.rbac.users_bound() == [("payments", "edit", "ops")]


@pytest.mark.xfail(
    strict=True,
    reason="a role with write access to RBAC in the namespace (admin) lets its holder relabel csrgate's binding, or "
    "make another, so that it outlives the grant: csrgate removes only what is labelled as the grant's",
)
def test_a_holder_of_admin_cannot_keep_it_past_the_end_by_relabelling_the_binding() -> None:
    # GIVEN dana holds admin in team-a (privileged: two approvers), which lets her edit bindings there
    gate = access_gate()
    gate.rbac.allowed_roles.add("admin")
    grant = granted(gate, role="admin", namespace="team-a", duration="900", approvers=("U0ALICE", "U0BOB"))
    # WHEN she takes csrgate's label off her binding, and her time is up
    gate.rbac.apply_outside(grant.binding(), labels={})
    gate.clock.advance(minutes=16)
    gate.sweeper.sweep()
    gate.work()
    gate.work()
    # THEN she holds admin no more
    assert gate.grant(grant.grant_id).state is GrantState.ENDED
    assert gate.rbac.users_bound() == []


def test_a_cluster_that_refuses_removing_one_binding_leaves_its_grant_ending_not_ended() -> None:
    # GIVEN dana's access revoked, and the cluster refusing to remove her binding for now
    gate = access_gate()
    grant = granted(gate)
    gate.click_grant(grant.grant_id, "U0DANA", GrantButton.REVOKE)
    gate.rbac.failure = PermanentFailure("forbidden")
    # WHEN the worker tries, THEN it fails and the grant is still to be ended (the sweeper queues it again)
    with pytest.raises(PermanentFailure):
        gate.work()
    assert gate.grant(grant.grant_id).state is GrantState.ENDING
    gate.rbac.failure = None
    gate.clock.advance(minutes=6)
    gate.sweeper.sweep()
    gate.work()
    assert gate.grant(grant.grant_id).state is GrantState.ENDED and gate.rbac.users_bound() == []
