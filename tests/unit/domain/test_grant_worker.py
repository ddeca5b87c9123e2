"""The worker's part of access asked for in Slack, and the sweeper's: the review posted once, exactly the grant's
binding made and removed on time, nothing bound that the cluster or the configuration no longer allows, a Revoke
honoured even mid-bind, bindings no live grant accounts for removed, and what was lost queued again."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta

import pytest
import yaml
from memory import (
    ACCESS,
    PEOPLE_ROLE,
    Csrgate,
    access_gate,
    asked_grant,
    cluster_config,
    eks_access_gate,
    granted,
    posted_grant,
)

from csrgate.domain.errors import PermanentFailure, RetryLater
from csrgate.domain.grant_messages import GrantButton
from csrgate.domain.grants import (
    GRANT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    Binding,
    Grant,
    GrantState,
    grant_event,
)
from csrgate.domain.jobs import ApplyGrant, EndGrant, PostGrant, SweepBindings
from csrgate.domain.messages import MESSAGE_LEASE_SECONDS
from csrgate.domain.sweeper import SweepResult


def binding_name(grant: Grant, user: str = "dana") -> str:
    return f"csrgate-{user}-{grant.grant_id.replace('-', '')[:8]}"


def granted_or_failed(gate: Csrgate, **form: str) -> Grant:
    """A request approved by alice and acted on by the worker, as stored now."""
    grant = posted_grant(gate, **form)
    gate.click_grant(grant.grant_id, "U0ALICE")
    gate.work()
    return gate.grant(grant.grant_id)


def queued_with_delays(gate: Csrgate) -> list[tuple[object, int | None]]:
    return list(zip(gate.decisions.jobs, gate.decisions.delays, strict=True))


# --- the review message ------------------------------------------------------------------------------------------


def test_a_request_is_posted_once_however_often_the_job_comes() -> None:
    # GIVEN dana's request, posted by the worker
    gate = access_gate()
    grant = posted_grant(gate)
    assert len(gate.channel.posts) == 1
    # WHEN the job is delivered again
    gate.decisions.enqueue(PostGrant(grant.grant_id))
    gate.work()
    # THEN nothing new is posted, and the saved message stays the grant's
    assert len(gate.channel.posts) == 1
    assert gate.grant(grant.grant_id).slack_message == grant.slack_message
    assert gate.grants.event_names(grant.grant_id).count("slack.grant_posted") == 1


def test_a_post_slack_refuses_for_now_is_tried_again() -> None:
    # GIVEN Slack rate limiting as the request is posted
    gate = access_gate()
    grant = asked_grant(gate)
    gate.channel.failure = RetryLater("Slack answered ratelimited to chat_postMessage")
    # WHEN the worker posts it, THEN the job fails to be tried again, and nothing is saved
    with pytest.raises(RetryLater):
        gate.work()
    assert gate.grant(grant.grant_id).slack_message is None
    # WHEN it is tried again with Slack back, THEN it is posted
    gate.channel.failure = None
    gate.decisions.enqueue(PostGrant(grant.grant_id))
    gate.work()
    assert gate.grant(grant.grant_id).slack_message is not None


def test_the_job_delivered_again_while_it_is_being_posted_posts_nothing_more() -> None:
    # GIVEN dana's request, whose post job SQS delivers a second time while the first delivery is still posting
    gate = access_gate()
    grant = asked_grant(gate)
    gate.grants.before("save_message", lambda: gate.grant_worker.post(grant.grant_id))
    # WHEN the first delivery posts it
    gate.work()
    # THEN the approvers see one message, and it is the grant's
    assert len(gate.channel.posts) == 1
    assert gate.grant(grant.grant_id).slack_message is not None
    assert gate.grants.event_names(grant.grant_id).count("slack.grant_posted") == 1


def test_a_request_whose_post_job_was_lost_is_posted_after_the_next_sweep() -> None:
    # GIVEN dana's request, whose post job never reached the worker, and one posted as usual
    gate = access_gate()
    lost = asked_grant(gate)
    gate.decisions.take()
    posted = posted_grant(gate, namespace="team-a")
    # WHEN the sweeper runs five minutes later
    gate.clock.advance(minutes=5, seconds=1)
    assert gate.sweeper.sweep().grants_requeued == 1
    # THEN the lost one is posted, and only it
    assert [job for job in gate.work() if isinstance(job, PostGrant)] == [PostGrant(lost.grant_id)]
    assert gate.grant(lost.grant_id).slack_message is not None
    assert len(gate.channel.posts) == 2 and gate.grant(posted.grant_id).slack_message == posted.slack_message


def test_a_poster_that_crashed_holding_the_lease_is_recovered_once_it_lapses() -> None:
    # GIVEN dana's request, whose poster took the lease and died before posting
    gate = access_gate()
    grant = asked_grant(gate)
    gate.decisions.take()
    assert gate.grants.claim_message(grant.grant_id, gate.clock(), MESSAGE_LEASE_SECONDS)
    # WHEN the job is delivered again while the lease holds, THEN nothing is posted
    gate.grant_worker.post(grant.grant_id)
    assert gate.channel.posts == []
    # WHEN the sweeper queues it again after the lease lapsed, THEN it is posted
    gate.clock.advance(minutes=5, seconds=1)
    gate.sweeper.sweep()
    gate.work()
    assert gate.grant(grant.grant_id).slack_message is not None and len(gate.channel.posts) == 1


def test_a_request_that_expired_before_it_was_posted_is_not_posted() -> None:
    # GIVEN dana's request, expired by the sweeper before its post job ran
    gate = access_gate()
    grant = asked_grant(gate)
    gate.clock.advance(hours=12, seconds=1)
    gate.sweeper.sweep()
    # WHEN the post job runs, THEN nothing is posted for the approvers to click
    gate.work()
    assert gate.grant(grant.grant_id).state is GrantState.EXPIRED and gate.channel.posts == []


# --- binding ------------------------------------------------------------------------------------------------------


def test_an_approved_grant_binds_exactly_its_binding_and_delivers_a_kubeconfig() -> None:
    # GIVEN dana's request for edit in payments for an hour, approved by alice
    gate = access_gate()
    grant = posted_grant(gate)
    gate.click_grant(grant.grant_id, "U0ALICE")
    gate.clock.advance(minutes=5)
    # WHEN the worker acts on the approval
    gate.work()
    # THEN the lab holds one RoleBinding of edit to dana in payments, labelled and annotated as the grant's
    starts, ends = gate.clock(), gate.clock() + timedelta(hours=1)
    name = binding_name(grant)
    assert gate.rbac.found("payments", name) == Binding(
        name=name,
        namespace="payments",
        cluster_role="edit",
        username="dana",
        grant_id=grant.grant_id,
        annotations=(
            ("csrgate.io/approved-by", "alice (U0ALICE)"),
            ("csrgate.io/ends-at", "2026-03-02T10:05:00+00:00"),
            ("csrgate.io/grant", grant.grant_id),
            ("csrgate.io/reason", "deploying the payments fix"),
            ("csrgate.io/requested-by", "dana (U0DANA) <dana@example.com>"),
        ),
    )
    assert gate.rbac.objects[("payments", name)].labels == {MANAGED_BY_LABEL: MANAGED_BY, GRANT_LABEL: grant.grant_id}
    assert gate.rbac.users_bound() == [("payments", "edit", "dana")]
    # AND the grant is active from now for its hour, its end queued for 15 minutes from now (SQS's longest delay)
    stored = gate.grant(grant.grant_id)
    assert (stored.state, stored.starts_at, stored.ends_at) == (GrantState.ACTIVE, starts, ends)
    assert (EndGrant(grant.grant_id), 900) in queued_with_delays(gate)
    # AND dana has a kubeconfig for the lab, in payments, as her user, with the access in its message
    ((user, delivery),) = gate.requesters.delivered
    assert (user, delivery.filename) == ("U0DANA", "lab-payments.kubeconfig")
    assert delivery.comment == (
        "You have edit (ClusterRole edit) in namespace payments on lab as dana, until 2026-03-02 10:05 UTC; csrgate "
        "removes it then. Approved by alice (U0ALICE).\n"
        "The attached kubeconfig points at the cluster; add the credentials you sign in with, such as your client "
        "certificate:\n`kubectl --kubeconfig lab-payments.kubeconfig config set-credentials dana "
        "--client-certificate=dana.crt --client-key=dana.key --embed-certs=true`"
    )
    config = yaml.safe_load(delivery.content)
    endpoint = gate.rbac.endpoint()
    assert config["clusters"] == [
        {
            "name": "lab",
            "cluster": {
                "server": "https://lab.example.com:6443",
                "certificate-authority-data": base64.b64encode(endpoint.ca_pem).decode("ascii"),
            },
        }
    ]
    assert config["contexts"] == [
        {"name": "dana@lab", "context": {"cluster": "lab", "user": "dana", "namespace": "payments"}}
    ]
    assert config["current-context"] == "dana@lab"
    assert config["users"] == [{"name": "dana", "user": {}}]
    assert stored.told
    # AND the channel's message shows it granted, until when, with Revoke
    message = stored.slack_message
    assert gate.channel.headline(message) == "Access edit in namespace payments on lab for dana: granted"  # type: ignore[arg-type]
    assert gate.channel.facts(message)["From"] == "2026-03-02 09:05 UTC until 2026-03-02 10:05 UTC"  # type: ignore[arg-type]
    assert gate.channel.buttons(message) == (GrantButton.REVOKE,)  # type: ignore[arg-type]
    bound = next(event for event in gate.audit.events if event.event == "grant.bound")
    assert {key: bound.details[key] for key in ("binding", "kind", "starts_at", "ends_at", "approved_by")} == {
        "binding": name,
        "kind": "RoleBinding",
        "starts_at": "2026-03-02T09:05:00+00:00",
        "ends_at": "2026-03-02T10:05:00+00:00",
        "approved_by": "alice (U0ALICE)",
    }
    assert gate.grants.event_names(grant.grant_id)[-2:] == ["grant.bound", "grant.delivered"]


def test_on_eks_the_kubeconfig_signs_in_with_aws_eks_get_token() -> None:
    # GIVEN the lab is an EKS cluster whose people sign in through an access entry, named by usernameTemplate (no eks)
    gate = Csrgate(
        kind="eks",
        connection={"eksClusterName": "lab-eks", "region": "eu-west-1"},
        access=ACCESS | {"usernameTemplate": "sso:{email}", "emailDomains": []},
    )
    # WHEN dana's access is granted
    granted(gate)
    # THEN her kubeconfig's user runs `aws eks get-token` for that cluster
    ((_, delivery),) = gate.requesters.delivered
    config = yaml.safe_load(delivery.content)
    assert config["users"] == [
        {
            "name": "sso:dana@example.com",
            "user": {"exec": aws_get_token()},
        }
    ]
    assert gate.rbac.users_bound() == [("payments", "edit", "sso:dana@example.com")]
    # AND her message says so, naming no role: she signs in with her own credentials
    assert delivery.comment.endswith("\nThe attached kubeconfig signs you in with `aws eks get-token`.")


def test_on_eks_the_kubeconfig_assumes_the_requesters_role_as_the_persons_session() -> None:
    # GIVEN the lab on EKS, where people assume k8s-people with their email as the session name
    gate = eks_access_gate()
    # WHEN dana's access to edit in payments is granted
    grant = granted(gate)
    # THEN the binding is for the user EKS makes of her session
    assert gate.rbac.users_bound() == [("payments", "edit", "sso:dana-example.com")]
    assert gate.rbac.found("payments", binding_name(grant, "sso-dana-example-com")) is not None
    # AND her kubeconfig signs in as that session of that role, at the endpoint and CA the cluster's connection gives
    ((user, delivery),) = gate.requesters.delivered
    assert (user, delivery.filename) == ("U0DANA", "lab-payments.kubeconfig")
    config = yaml.safe_load(delivery.content)
    assert config["users"] == [
        {
            "name": "sso:dana-example.com",
            # `aws eks get-token --role-arn` would name the session EKSGetTokenAuth: a profile names hers
            "user": {"exec": aws_get_token(env=[{"name": "AWS_PROFILE", "value": "csrgate-lab-eks"}])},
        }
    ]
    endpoint = gate.rbac.endpoint()
    assert config["clusters"] == [
        {
            "name": "lab",
            "cluster": {
                "server": endpoint.server,
                "certificate-authority-data": base64.b64encode(endpoint.ca_pem).decode("ascii"),
            },
        }
    ]
    assert config["contexts"] == [
        {
            "name": "sso:dana-example.com@lab",
            "context": {"cluster": "lab", "user": "sso:dana-example.com", "namespace": "payments"},
        }
    ]
    # AND her message says what she has, where, until when, and how the kubeconfig signs her in
    assert delivery.comment == (
        "You have edit (ClusterRole edit) in namespace payments on lab as sso:dana-example.com, until "
        "2026-03-02 10:00 UTC; csrgate removes it then. Approved by alice (U0ALICE).\n"
        "The attached kubeconfig signs you in with `aws eks get-token`, as session dana@example.com of the role "
        "below. Add this profile to ~/.aws/config once (source_profile: the profile you sign in to AWS with, which "
        "must be allowed to assume the role):\n```\n[profile csrgate-lab-eks]\n"
        f"role_arn = {PEOPLE_ROLE}\nrole_session_name = dana@example.com\nsource_profile = default\n```"
    )


def test_cluster_wide_access_is_a_cluster_role_binding() -> None:
    # GIVEN dana's request for view across the lab, approved by two
    gate = access_gate()
    grant = granted(gate, role="cluster-view", namespace="", approvers=("U0ALICE", "U0BOB"))
    # THEN it is a ClusterRoleBinding, and her kubeconfig names no namespace
    assert gate.rbac.found(None, binding_name(grant)) is not None
    assert gate.rbac.users_bound() == [(None, "view", "dana")]
    ((_, delivery),) = gate.requesters.delivered
    assert delivery.filename == "lab-cluster.kubeconfig"
    assert yaml.safe_load(delivery.content)["contexts"][0]["context"] == {"cluster": "lab", "user": "dana"}


def test_an_apply_delivered_again_binds_nothing_twice_and_delivers_once() -> None:
    # GIVEN dana's access granted and delivered
    gate = access_gate()
    grant = granted(gate)
    gate.decisions.take()
    jobs = len(gate.decisions.jobs)
    # WHEN the apply job comes again
    gate.decisions.enqueue(ApplyGrant(grant.grant_id))
    gate.work()
    # THEN nothing more is bound, delivered or queued
    assert len(gate.rbac.created) == 1 and len(gate.requesters.delivered) == 1
    assert len(gate.decisions.jobs) == jobs + 1


def test_a_delivery_slack_refused_is_made_when_the_job_is_tried_again() -> None:
    # GIVEN dana's request approved, and Slack refusing direct messages for now
    gate = access_gate()
    grant = posted_grant(gate)
    gate.click_grant(grant.grant_id, "U0ALICE")
    gate.requesters.failure = RetryLater("Slack answered ratelimited to files_upload")
    # WHEN the worker binds it, THEN the job fails to be tried again, the binding made
    with pytest.raises(RetryLater):
        gate.work()
    assert gate.grant(grant.grant_id).state is GrantState.ACTIVE and not gate.grant(grant.grant_id).told
    # WHEN it is tried again, THEN dana gets her kubeconfig once, and nothing is bound twice
    gate.requesters.failure = None
    gate.decisions.enqueue(ApplyGrant(grant.grant_id))
    gate.work()
    assert len(gate.requesters.delivered) == 1 and gate.grant(grant.grant_id).told
    assert len(gate.rbac.created) == 1


def test_a_binding_made_whose_grant_could_not_be_recorded_is_not_made_again() -> None:
    # GIVEN dana's request approved, and the table down just after the binding is made
    gate = access_gate()
    grant = posted_grant(gate)
    gate.click_grant(grant.grant_id, "U0ALICE")

    def table_down() -> None:
        raise RetryLater("DynamoDB is unreachable")

    gate.grants.before("move", table_down)
    with pytest.raises(RetryLater):
        gate.work()
    assert gate.grant(grant.grant_id).state is GrantState.APPROVED
    # WHEN the job is tried again
    gate.decisions.enqueue(ApplyGrant(grant.grant_id))
    gate.work()
    # THEN the binding made first is the grant's, and it is active
    assert len(gate.rbac.created) == 1 and gate.rbac.users_bound() == [("payments", "edit", "dana")]
    assert gate.grant(grant.grant_id).state is GrantState.ACTIVE
    assert len(gate.requesters.delivered) == 1


def test_a_role_the_cluster_refuses_to_let_csrgate_bind_fails_and_the_requester_is_not_told_the_clusters_words() -> (
    None
):
    # GIVEN dana's request for admin approved by two, in a cluster where csrgate may bind only view and edit
    gate = access_gate()
    grant = posted_grant(gate, role="admin", duration="900")
    gate.click_grant(grant.grant_id, "U0ALICE")
    gate.click_grant(grant.grant_id, "U0BOB")
    # WHEN the worker tries to bind it
    gate.work()
    # THEN it failed: nothing is bound, no end is queued, nothing is delivered
    stored = gate.grant(grant.grant_id)
    assert stored.state is GrantState.FAILED
    assert gate.rbac.objects == {} and gate.requesters.delivered == []
    assert EndGrant(grant.grant_id) not in gate.decisions.jobs
    # AND dana is told it could not be granted, without what the cluster said
    assert gate.requesters.told == [
        (
            "U0DANA",
            "Your access admin in namespace payments on lab was approved but could not be granted; the cluster's "
            "administrators can see why.",
        )
    ]
    # AND the approvers see why on the message, and the audit trail keeps the cluster's words
    message = stored.slack_message
    assert gate.channel.headline(message).endswith(": not granted")  # type: ignore[arg-type]
    assert gate.channel.buttons(message) == ()  # type: ignore[arg-type]
    assert "refused to let csrgate bind ClusterRole admin" in gate.channel.facts(message)["Note"]  # type: ignore[arg-type]
    failed = next(event for event in gate.audit.events if event.event == "grant.failed")
    assert "attempting to grant RBAC permissions not currently held" in failed.details["reason"]


def test_a_namespace_the_cluster_does_not_have_fails_the_grant() -> None:
    # GIVEN team-z is offered by the lab's pattern, but no such namespace exists
    gate = access_gate()
    grant = granted_or_failed(gate, namespace="team-z")
    # THEN nothing is bound, and the grant failed saying so
    assert grant.state is GrantState.FAILED and "namespace team-z does not exist" in (grant.note or "")
    assert gate.rbac.objects == {}


def test_a_binding_of_that_name_made_by_someone_else_is_left_alone_and_the_grant_fails() -> None:
    # GIVEN a RoleBinding named as dana's grant's would be, made by hand for mallory
    gate = access_gate()
    grant = posted_grant(gate)
    theirs = Binding(binding_name(grant), "payments", "edit", "mallory", grant.grant_id)
    gate.rbac.apply_outside(theirs, labels={})
    gate.click_grant(grant.grant_id, "U0ALICE")
    # WHEN the worker binds dana's grant
    gate.work()
    # THEN it failed, and the other binding is as it was
    assert gate.grant(grant.grant_id).state is GrantState.FAILED
    assert gate.rbac.users_bound() == [("payments", "edit", "mallory")]


@pytest.mark.parametrize(
    ("access", "note"),
    [
        (ACCESS | {"roles": [ACCESS["roles"][0]]}, "lab no longer offers edit as ClusterRole edit"),
        (
            ACCESS | {"roles": [{"name": "edit", "clusterRole": "admin"}]},
            "lab no longer offers edit as ClusterRole edit",
        ),
        (ACCESS | {"namespaces": ["team-*"]}, "lab no longer offers access in payments"),
        (None, "lab no longer offers access"),
    ],
    ids=["role-removed", "role-rebound", "namespace-removed", "access-removed"],
)
def test_a_grant_the_configuration_no_longer_offers_is_not_bound(access: dict[str, object] | None, note: str) -> None:
    # GIVEN dana's request approved, and the lab's offer changed before the worker binds it
    gate = access_gate()
    grant = posted_grant(gate)
    gate.click_grant(grant.grant_id, "U0ALICE")
    gate.reconfigure(**({"access": access} if access else {}))
    # WHEN the worker acts on the approval
    gate.work()
    # THEN nothing is bound, the grant failed saying why, and dana is told
    stored = gate.grant(grant.grant_id)
    assert (stored.state, stored.note) == (GrantState.FAILED, note)
    assert gate.rbac.objects == {}
    assert gate.requesters.told[-1][0] == "U0DANA"


def test_cluster_wide_access_approved_for_a_role_now_offered_only_in_namespaces_is_not_bound() -> None:
    # GIVEN dana's request for view across the lab approved, then cluster-view offered only in namespaces
    gate = access_gate()
    grant = posted_grant(gate, role="cluster-view", namespace="")
    gate.click_grant(grant.grant_id, "U0ALICE")
    gate.click_grant(grant.grant_id, "U0BOB")
    roles = [role for role in ACCESS["roles"] if role["name"] != "cluster-view"]
    gate.reconfigure(access=ACCESS | {"roles": [*roles, {"name": "cluster-view", "clusterRole": "view"}]})
    # WHEN the worker acts on the approval
    gate.work()
    # THEN no ClusterRoleBinding is made: the lab no longer offers view across the cluster
    stored = gate.grant(grant.grant_id)
    assert (stored.state, stored.note) == (GrantState.FAILED, "lab no longer offers cluster-view cluster-wide")
    assert gate.rbac.objects == {}


def test_a_revoke_landing_while_the_binding_is_made_removes_it_at_once() -> None:
    # GIVEN dana's request approved, and her Revoke landing between the binding and its record
    gate = access_gate()
    grant = posted_grant(gate)
    gate.click_grant(grant.grant_id, "U0ALICE")
    gate.grants.before("move", lambda: gate.click_grant(grant.grant_id, "U0DANA", GrantButton.REVOKE))
    # WHEN the worker binds it
    gate.work()
    # THEN the binding is gone again, the grant ended, and no kubeconfig went out
    assert len(gate.rbac.created) == 1 and gate.rbac.objects == {}
    assert gate.grant(grant.grant_id).state is GrantState.ENDED
    assert gate.requesters.delivered == []
    # AND the end the Revoke queued changes nothing more
    gate.work()
    assert gate.grant(grant.grant_id).state is GrantState.ENDED and gate.rbac.objects == {}


def test_a_grant_whose_job_failed_for_good_is_failed_and_its_requester_told() -> None:
    # GIVEN dana's request approved, and its apply job dead-lettered (the cluster unreachable for too long)
    gate = access_gate()
    grant = posted_grant(gate)
    gate.click_grant(grant.grant_id, "U0ALICE")
    # WHEN the worker is told it failed for good
    gate.grant_worker.fail(grant.grant_id, "lab could not be reached after 5 tries")
    # THEN it failed, and dana is told
    stored = gate.grant(grant.grant_id)
    assert (stored.state, stored.note) == (GrantState.FAILED, "lab could not be reached after 5 tries")
    assert "could not be granted" in gate.requesters.told[-1][1]
    # AND a failure told for access already active changes nothing
    active = granted(gate, namespace="team-a")
    gate.grant_worker.fail(active.grant_id, "late")
    assert gate.grant(active.grant_id).state is GrantState.ACTIVE


def test_a_denial_slack_refuses_for_good_is_given_up_not_sent_again_and_again() -> None:
    # GIVEN dana's request denied, and Slack refusing her direct messages for good
    gate = access_gate()
    grant = posted_grant(gate)
    gate.deny_grant(grant.grant_id, "U0BOB")
    gate.requesters.failure = PermanentFailure("Slack refused chat_postMessage: user_disabled")
    # WHEN the worker tries to tell her, and gives the job up as the queue's consumer does
    with pytest.raises(PermanentFailure):
        gate.work()
    gate.grant_worker.fail(grant.grant_id, "the access cannot be granted: Slack refused chat_postMessage")
    # THEN the failure is recorded, and no later sweep queues the denial again
    assert gate.grants.event_names(grant.grant_id)[-1] == "grant.delivery_failed"
    gate.clock.advance(minutes=30)
    assert gate.sweeper.sweep().grants_requeued == 0
    assert gate.grant(grant.grant_id).state is GrantState.DENIED


# --- ending -------------------------------------------------------------------------------------------------------


def test_an_end_looked_at_early_is_queued_again_for_when_it_is_due() -> None:
    # GIVEN dana's access for an hour, fifty minutes in
    gate = access_gate()
    grant = granted(gate)
    gate.decisions.take()
    gate.clock.advance(minutes=50)
    # WHEN its end is looked at
    gate.decisions.enqueue(EndGrant(grant.grant_id))
    gate.work()
    # THEN it stays, and its end is queued again for a second after it is due
    assert gate.grant(grant.grant_id).state is GrantState.ACTIVE
    assert gate.rbac.users_bound() == [("payments", "edit", "dana")]
    assert queued_with_delays(gate)[-1] == (EndGrant(grant.grant_id), 601)


def test_access_ends_on_time_by_the_chain_of_queued_ends() -> None:
    # GIVEN dana's access for four hours
    gate = access_gate()
    grant = granted(gate, duration=str(4 * 3600))
    # WHEN each queued end is delivered after its delay
    looks = 0
    while gate.grant(grant.grant_id).state is GrantState.ACTIVE:
        delay = gate.decisions.delays[-1]
        assert delay is not None and 0 < delay <= 900
        gate.clock.advance(seconds=delay)
        gate.work()
        looks += 1
    # THEN it ended when due, looked at every 15 minutes till then, the binding removed, and dana told
    stored = gate.grant(grant.grant_id)
    assert stored.state is GrantState.ENDED and looks == 16
    assert stored.ends_at == gate.clock() == stored.ended_at
    assert gate.rbac.objects == {}
    assert gate.requesters.told[-1] == (
        "U0DANA",
        "Your access edit in namespace payments on lab has ended; the binding is removed. Ask again with "
        "/csrgate access.",
    )
    message = stored.slack_message
    assert gate.channel.headline(message).endswith(": ended")  # type: ignore[arg-type]
    assert gate.channel.facts(message)["Ended"] == "2026-03-02 13:00 UTC by csrgate"  # type: ignore[arg-type]
    assert gate.channel.buttons(message) == ()  # type: ignore[arg-type]
    names = gate.grants.event_names(grant.grant_id)
    assert names[-2:] == ["grant.due", "grant.ended"]
    ended = gate.audit.events[-1]
    assert (ended.event, ended.details["removed"], ended.details["ended_by"]) == ("grant.ended", True, "csrgate")


def test_an_end_whose_binding_was_deleted_by_hand_still_ends_the_grant() -> None:
    # GIVEN dana's access, whose binding someone deleted with kubectl
    gate = access_gate()
    grant = granted(gate)
    gate.rbac.delete_outside(gate.grant(grant.grant_id).binding())
    # WHEN its end comes
    gate.clock.advance(hours=1)
    gate.decisions.enqueue(EndGrant(grant.grant_id))
    gate.work()
    # THEN it ended, the audit saying there was nothing left to remove
    assert gate.grant(grant.grant_id).state is GrantState.ENDED
    assert gate.audit.events[-1].details["removed"] is False


def test_an_end_the_cluster_cannot_take_now_is_tried_again() -> None:
    # GIVEN dana's access revoked, and the lab's API down
    gate = access_gate()
    grant = granted(gate)
    gate.click_grant(grant.grant_id, "U0DANA", GrantButton.REVOKE)
    gate.rbac.failure = RetryLater("lab's API is unreachable")
    # WHEN the worker tries to remove it, THEN the job fails to be tried again, and it is still ending
    with pytest.raises(RetryLater):
        gate.work()
    assert gate.grant(grant.grant_id).state is GrantState.ENDING
    # WHEN it is tried again with the API back, THEN the binding is gone
    gate.rbac.failure = None
    gate.decisions.enqueue(EndGrant(grant.grant_id))
    gate.work()
    assert gate.grant(grant.grant_id).state is GrantState.ENDED and gate.rbac.objects == {}


# --- bindings nobody accounts for ---------------------------------------------------------------------------------


def test_sweeping_removes_csrgate_bindings_not_exactly_a_live_grants_and_restores_altered_ones() -> None:
    # GIVEN dana's live access, and bindings labelled as csrgate's that are not exactly a live grant's
    gate = access_gate()
    live = granted(gate)
    ended = granted(gate, namespace="team-a")
    gate.click_grant(ended.grant_id, "U0DANA", GrantButton.REVOKE)
    gate.work()
    gate.rbac.apply_outside(gate.grant(ended.grant_id).binding())  # put back by hand after it ended
    ghost = Binding("csrgate-mallory-00000000", "team-b", "edit", "mallory", "00000000-dead-4000-8000-000000000000")
    gate.rbac.apply_outside(ghost)  # for no grant csrgate knows
    elsewhere = stored_grant_of_another_cluster(gate, live)
    gate.rbac.apply_outside(elsewhere.binding())  # another cluster's grant, bound here
    altered = granted(gate, namespace="team-b")
    gate.rbac.apply_outside(Binding(binding_name(altered), "team-b", "edit", "mallory", altered.grant_id))
    rebound = granted(gate, role="view", namespace="team-a")
    gate.rbac.apply_outside(Binding(binding_name(rebound), "team-a", "admin", "dana", rebound.grant_id))
    by_hand = Binding("ops-edit", "payments", "edit", "ops", "")
    gate.rbac.apply_outside(by_hand, labels={})  # not csrgate's
    # WHEN the worker sweeps the lab's bindings
    removed = gate.grant_worker.sweep_bindings("lab")
    # THEN only dana's live access (the altered bindings put back as approved) and the binding made by hand remain
    assert removed == 5
    assert sorted(gate.rbac.users_bound()) == [
        ("payments", "edit", "dana"),
        ("payments", "edit", "ops"),
        ("team-a", "view", "dana"),
        ("team-b", "edit", "dana"),
    ]
    assert gate.rbac.found("payments", binding_name(live)) is not None
    reasons = {
        event.details["binding"]: event.details["reason"]
        for event in gate.audit.events
        if event.event == "grant.orphan_removed"
    }
    assert reasons == {
        binding_name(ended): "its grant is ended",
        ghost.name: "no such grant",
        elsewhere.binding().name: "no such grant",
        binding_name(altered): "it differs from its grant",
        binding_name(rebound): "it differs from its grant",
    }
    orphan = next(event for event in gate.audit.events if event.event == "grant.orphan_removed")
    assert (orphan.actor, orphan.cluster) == ("csrgate", "lab")
    # AND a second sweep finds nothing more to remove
    assert gate.grant_worker.sweep_bindings("lab") == 0


def test_sweeping_keeps_a_binding_made_for_a_grant_not_yet_recorded_active() -> None:
    # GIVEN the lab's bindings swept between dana's binding being made and its grant recorded active
    gate = access_gate()
    grant = posted_grant(gate)
    gate.click_grant(grant.grant_id, "U0ALICE")
    sweeps: list[int] = []
    gate.grants.before("move", lambda: sweeps.append(gate.grant_worker.sweep_bindings("lab")))
    gate.work()
    # THEN the binding of the approved grant was kept
    assert sweeps == [0]
    assert gate.grant(grant.grant_id).state is GrantState.ACTIVE
    assert gate.rbac.users_bound() == [("payments", "edit", "dana")]


def test_sweeping_a_cluster_csrgate_offers_no_access_on_touches_nothing() -> None:
    # GIVEN dana's binding and an orphan in the lab, which then stops offering access
    gate = access_gate()
    granted(gate)
    gate.rbac.apply_outside(Binding("csrgate-x-1", "payments", "edit", "x", "nope"))
    gate.reconfigure()
    # WHEN an unknown cluster, or the lab, is swept, THEN nothing is removed
    assert gate.grant_worker.sweep_bindings("nowhere") == 0
    assert gate.grant_worker.sweep_bindings("lab") == 0
    assert len(gate.rbac.objects) == 2


def stored_grant_of_another_cluster(gate: Csrgate, like: Grant) -> Grant:
    """A live grant csrgate recorded for the staging cluster, otherwise like one on the lab."""
    grant = replace(like, grant_id="0000beef-0000-4000-8000-000000000000", cluster="staging")
    gate.grants.create(grant, grant_event(grant, "grant.requested", "dana (U0DANA)", gate.clock()))
    return grant


# --- the sweeper --------------------------------------------------------------------------------------------------


def test_a_request_nobody_decided_in_twelve_hours_expires_and_its_message_says_so() -> None:
    # GIVEN dana's request, left undecided
    gate = access_gate()
    grant = posted_grant(gate)
    gate.clock.advance(hours=12)
    assert gate.sweeper.sweep().grants_expired == 0
    # WHEN just over twelve hours have passed
    gate.clock.advance(seconds=1)
    result = gate.sweeper.sweep()
    # THEN it expired, and its message lost its buttons
    assert result.grants_expired == 1
    stored = gate.grant(grant.grant_id)
    assert stored.state is GrantState.EXPIRED
    assert gate.channel.headline(stored.slack_message).endswith(": expired: nobody decided")  # type: ignore[arg-type]
    assert gate.channel.buttons(stored.slack_message) == ()  # type: ignore[arg-type]
    expired = next(event for event in gate.audit.events if event.event == "grant.review_expired")
    assert (expired.actor, expired.details["waited_hours"]) == ("csrgate", 12)
    # AND a late approval is told so
    assert gate.click_grant(grant.grant_id, "U0ALICE").text == "This request expired before anyone decided."
    assert gate.sweeper.sweep().grants_expired == 0


def test_access_whose_queued_end_was_lost_is_ended_by_the_sweeper() -> None:
    # GIVEN dana's access for an hour, whose queued end was lost
    gate = access_gate()
    grant = granted(gate)
    gate.decisions.take()
    # WHEN the sweeper runs before and after its end
    gate.clock.advance(minutes=59)
    assert gate.sweeper.sweep().grants_ended == 0
    gate.clock.advance(minutes=1)
    result = gate.sweeper.sweep()
    # THEN it is ending, its end queued, and the worker removes the binding
    assert result.grants_ended == 1
    assert gate.grant(grant.grant_id).state is GrantState.ENDING
    assert EndGrant(grant.grant_id) in gate.decisions.take()
    gate.decisions.enqueue(EndGrant(grant.grant_id))
    gate.work()
    assert gate.grant(grant.grant_id).state is GrantState.ENDED and gate.rbac.objects == {}


def test_what_the_worker_never_received_is_queued_again_five_minutes_later() -> None:
    # GIVEN the queue down as three decisions are recorded: an approval, a denial, and a Revoke
    gate = access_gate()
    approved = posted_grant(gate)
    denied = posted_grant(gate, namespace="team-a")
    revoked = granted(gate, namespace="team-b")
    gate.decisions.take()
    gate.decisions.failure = RetryLater("SQS is unreachable")
    with pytest.raises(RetryLater):
        gate.click_grant(approved.grant_id, "U0ALICE")
    with pytest.raises(RetryLater):
        gate.deny_grant(denied.grant_id, "U0BOB")
    with pytest.raises(RetryLater):
        gate.click_grant(revoked.grant_id, "U0DANA", GrantButton.REVOKE)
    gate.decisions.failure = None
    # WHEN the sweeper runs within five minutes, THEN it leaves them to the functions that recorded them
    gate.clock.advance(minutes=5)
    assert gate.sweeper.sweep().grants_requeued == 0
    # WHEN it runs after five minutes
    gate.clock.advance(seconds=1)
    result = gate.sweeper.sweep()
    # THEN each is queued again, and the worker does what each asks
    assert result.grants_requeued == 3
    assert set(gate.decisions.jobs) >= {
        ApplyGrant(approved.grant_id),
        ApplyGrant(denied.grant_id),
        EndGrant(revoked.grant_id),
    }
    gate.work()
    assert gate.grant(approved.grant_id).state is GrantState.ACTIVE
    assert gate.grant(denied.grant_id).told
    assert gate.grant(revoked.grant_id).state is GrantState.ENDED
    # AND nothing is left to queue again
    gate.clock.advance(minutes=10)
    assert gate.sweeper.sweep().grants_requeued == 0


def test_extend_is_offered_once_shortly_before_access_ends() -> None:
    # GIVEN dana's access for an hour
    gate = access_gate()
    grant = granted(gate)
    # WHEN the sweeper runs 44 minutes in, THEN nothing is offered yet
    gate.clock.advance(minutes=44)
    assert gate.sweeper.sweep().extensions_offered == 0
    # WHEN it runs 45 minutes in
    gate.clock.advance(minutes=1)
    result = gate.sweeper.sweep()
    # THEN dana is offered Extend, once
    assert result.extensions_offered == 1
    assert gate.requesters.extensions == [
        (
            "U0DANA",
            grant.grant_id,
            "Your access edit in namespace payments on lab ends in 15 minutes. Extend asks the approvers again for "
            "another 1 hour.",
        )
    ]
    assert gate.grant(grant.grant_id).reminded
    gate.clock.advance(minutes=10)
    assert gate.sweeper.sweep().extensions_offered == 0
    assert len(gate.requesters.extensions) == 1


def test_short_access_is_not_offered_extend() -> None:
    # GIVEN dana's access for 15 minutes, no longer than Extend's lead
    gate = access_gate()
    granted(gate, duration="900")
    # WHEN the sweeper runs throughout it
    for _ in range(3):
        gate.clock.advance(minutes=5)
        gate.sweeper.sweep()
    # THEN she is never offered Extend
    assert gate.requesters.extensions == []


def test_an_extend_offer_slack_refuses_is_recorded_and_not_sent_again() -> None:
    # GIVEN dana's access ten minutes from its end, and Slack refusing her direct messages
    gate = access_gate()
    grant = granted(gate)
    gate.clock.advance(minutes=50)
    gate.requesters.failure = PermanentFailure("Slack refused chat_postMessage: cannot_dm_bot")
    # WHEN the sweeper offers Extend, THEN the refusal is recorded
    assert gate.sweeper.sweep().extensions_offered == 0
    failed = gate.audit.events[-1]
    assert (failed.event, failed.details["reason"]) == (
        "slack.reminder_failed",
        "Slack refused chat_postMessage: cannot_dm_bot",
    )
    assert gate.grants.event_names(grant.grant_id)[-1] == "grant.extension_offered"
    # AND the offer, claimed once, is not sent again
    gate.requesters.failure = None
    gate.clock.advance(minutes=5)
    gate.sweeper.sweep()
    assert gate.requesters.extensions == []


def test_every_cluster_offering_access_has_its_bindings_swept() -> None:
    # GIVEN the lab and staging offering access, and prod not
    gate = access_gate()
    for name, access in (("staging", ACCESS), ("prod", None)):
        gate.directory.clusters[name] = cluster_config(
            name=name,
            slackChannel="C0" + name.upper(),
            hmacSecretId=f"csrgate/forwarders/{name}",
            connection={"secretId": f"csrgate/clusters/{name}/kubeconfig"},
            access=access,
        )
    # WHEN the sweeper runs
    gate.sweeper.sweep()
    # THEN the lab's and staging's bindings are to be swept
    assert gate.decisions.jobs == [SweepBindings("lab"), SweepBindings("staging")]


def test_a_sweep_with_no_grants_changes_nothing() -> None:
    # GIVEN the lab offering access, and no grants, WHEN the sweeper runs, THEN it only has the bindings checked
    gate = access_gate()
    assert gate.sweeper.sweep() == SweepResult()
    assert gate.decisions.jobs == [SweepBindings("lab")]


def aws_get_token(**more: object) -> dict[str, object]:
    """The exec entry of a kubeconfig for the lab's EKS cluster: `aws eks get-token`, as its user runs it."""
    return {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "aws",
        "args": ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "lab-eks", "--output", "json"],
        "interactiveMode": "IfAvailable",
        "provideClusterInfo": False,
        **more,
    }
