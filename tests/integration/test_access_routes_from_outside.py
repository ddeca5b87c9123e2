"""What reaches the interactions route about time-boxed access: signed payloads of the access kinds (the grant
buttons, the access form, the Deny dialog of a grant) with fields missing, of the wrong type, oversized or naming
something else, and clicks by people who may not. Each is answered without a 5xx and changes nothing it may not.

AWS is moto provisioned from template.yaml; Slack is the stand-in, reached by the real WebClient over HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_clicks import answer
from stack import Stack

from csrgate.adapters.aws.grants import GRANT_SK
from devstack.harness import LambdaContext, load_function
from devstack.lab import CLUSTERS, PEOPLE
from devstack.lambda_events import interaction_event, sqs_event

ACCESS = {
    "usernameTemplate": "{email_local}",
    "emailDomains": ["example.com"],
    "roles": [
        {"name": "edit", "clusterRole": "edit", "maxDuration": "4h"},
        {"name": "cluster-view", "clusterRole": "view", "scope": "cluster"},
    ],
    "namespaces": ["payments", "team-*"],
}
APPROVE, DENY = "csrgate_grant_approve", "csrgate_grant_deny"
REVOKE, EXTEND = "csrgate_grant_revoke", "csrgate_grant_extend"
GRANT_ACTIONS = (APPROVE, DENY, REVOKE, EXTEND)
NO_GRANT = "00000000-0000-4000-8000-000000000000"
FORM = {"cluster": "lab", "role": "edit", "namespace": "payments", "duration": "3600", "reason": "deploying the fix"}


@pytest.fixture
def lab(stack: Stack) -> Stack:
    """The lab offering edit in payments and team-* to people at example.com; alice and bob approve it."""
    stack.slack.users.update(PEOPLE | {"U0DANA": {"name": "dana", "email": "dana@example.com"}})
    stack.put_cluster("lab", CLUSTERS["lab"] | {"access": ACCESS})
    return stack


@pytest.fixture
def interactions(lab: Stack, capsys: pytest.CaptureFixture[str]) -> Any:
    return load_function("interactions")


def submission(user: Any, values: Any) -> dict[str, Any]:
    """The access form submitted, each value as Slack sends a select's (cluster, role, duration) or a text input's."""
    state: Any = values
    if isinstance(values, dict):
        state = {}
        for block, value in values.items():
            if block in ("cluster", "role", "duration"):
                state[block] = {block: {"type": "static_select", "selected_option": {"value": value}}}
            else:
                state[block] = {block: {"type": "plain_text_input", "value": value}}
    return {
        "type": "view_submission",
        "user": {"id": user},
        "view": {"callback_id": "csrgate_access_request", "state": {"values": state}},
    }


def grants(stack: Stack) -> list[dict[str, Any]]:
    """Every grant stored, as plain values."""
    return [item for item in stack.items() if item.get("sk") == GRANT_SK]


def click(user: Any, grant_id: Any, action: str, message: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """A block_actions payload: `user` clicked a grant button on `message` (channel, ts)."""
    where = message or {"channel": "C0LAB", "ts": "1.1"}
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": "T0"},
        "trigger_id": "1234.5678.abcd",
        "container": {"type": "message", "message_ts": where["ts"], "channel_id": where["channel"]},
        "actions": [{"action_id": action, "block_id": f"grant:{grant_id}", "value": grant_id, "type": "button"}],
    }
    return payload | extra


def posted(stack: Stack, interactions: Any) -> dict[str, Any]:
    """dana's request for edit in payments, submitted and posted by the worker; the stored grant."""
    status, body = answer(interactions, interaction_event(submission("U0DANA", FORM)))
    assert status == 200 and json.loads(body)["response_action"] == "update", body
    worker = load_function("worker")
    worker.lambda_handler(sqs_event(stack.queue_messages("DecisionQueue"), receive_count=1), LambdaContext())
    [grant] = grants(stack)
    assert grant.get("slack_message"), grant
    return grant


def state_of(stack: Stack, grant_id: str) -> tuple[str, int]:
    [grant] = [g for g in grants(stack) if g["grant_id"] == grant_id]
    return grant["state"], len(grant.get("approvals", []))


# --- the grant buttons --------------------------------------------------------------------------------------------

ODD_GRANT_IDS: list[Any] = [
    NO_GRANT,
    NO_GRANT.upper(),
    "not-a-grant",
    "9" * 10_000,
    {"grant_id": NO_GRANT},
    [NO_GRANT],
    None,
    f"{NO_GRANT}\n",
    f"../{NO_GRANT}",
]
ODD_CLICKS: list[dict[str, Any]] = [
    {"user": {}},
    {"user": {"id": ""}},
    {"user": "U0ALICE"},
    {"user": {"id": "U0NOBODY"}},
    {"user": {"id": ["U0ALICE"]}},
    {"container": {}},
    {"container": "C0LAB"},
    {"container": {"type": "view", "view_id": "V1"}, "view": {"type": "home"}},
    {"container": {"type": "message", "channel_id": 7, "message_ts": None}},
    {"actions": []},
    {"actions": [{"action_id": APPROVE}]},
    {"actions": [{"action_id": [APPROVE], "value": NO_GRANT}]},
]


def test_grant_buttons_naming_no_grant_are_answered_and_change_nothing(lab: Stack, interactions: Any) -> None:
    for action in GRANT_ACTIONS:
        for value in ODD_GRANT_IDS:
            status, _ = answer(interactions, interaction_event(click("U0ALICE", value, action)))
            assert status == 200, (action, value)
    assert grants(lab) == []


@pytest.mark.parametrize("action", GRANT_ACTIONS)
def test_odd_grant_clicks_on_a_real_request_never_fail_and_never_decide(
    lab: Stack, interactions: Any, action: str
) -> None:
    # GIVEN dana's request posted in the lab's channel
    grant = posted(lab, interactions)
    message = grant["slack_message"]
    for changes in ODD_CLICKS:
        # WHEN a signed click on it arrives with a field missing, of the wrong type, or naming someone Slack does not
        # know
        payload = click("U0ALICE", grant["grant_id"], action, message) | changes
        status, _ = answer(interactions, interaction_event(payload))
        # THEN it is answered, and decides nothing
        assert status == 200, changes
        assert state_of(lab, grant["grant_id"]) == ("awaiting_review", 0), changes


def test_deny_whose_dialog_slack_will_not_open_is_answered_not_failed(lab: Stack, interactions: Any) -> None:
    # GIVEN dana's request posted, and Slack refusing triggers it did not issue (or issued too long ago)
    grant = posted(lab, interactions)
    lab.slack.check_triggers = True
    for trigger in ("1234.5678.abcd", "", None, ["x"], 7):
        # WHEN alice's Deny click carries such a trigger
        payload = click("U0ALICE", grant["grant_id"], DENY, grant["slack_message"], trigger_id=trigger)
        status, _ = answer(interactions, interaction_event(payload))
        # THEN she is answered and told to click again, and nothing is decided
        assert status == 200, trigger
        assert state_of(lab, grant["grant_id"]) == ("awaiting_review", 0)
        assert "click Deny again" in lab.slack.ephemeral[-1]["text"]


def test_clicks_by_people_who_may_not_decide_nothing(lab: Stack, interactions: Any) -> None:
    grant = posted(lab, interactions)
    for user, action in [("U0MALLORY", APPROVE), ("U0MALLORY", DENY), ("U0MALLORY", REVOKE), ("U0DANA", APPROVE)]:
        payload = click(user, grant["grant_id"], action, grant["slack_message"])
        assert answer(interactions, interaction_event(payload))[0] == 200
        assert state_of(lab, grant["grant_id"]) == ("awaiting_review", 0), (user, action)


def test_an_approval_from_another_message_or_channel_decides_nothing(lab: Stack, interactions: Any) -> None:
    grant = posted(lab, interactions)
    message = grant["slack_message"]
    for elsewhere in ({"channel": "D0ALICE", "ts": message["ts"]}, {"channel": message["channel"], "ts": "1.2"}):
        status, _ = answer(interactions, interaction_event(click("U0ALICE", grant["grant_id"], APPROVE, elsewhere)))
        assert status == 200
    assert state_of(lab, grant["grant_id"]) == ("awaiting_review", 0)


def test_extend_by_anyone_but_the_requester_asks_for_nothing(lab: Stack, interactions: Any) -> None:
    grant = posted(lab, interactions)
    for user in ("U0ALICE", "U0MALLORY"):
        where = {"channel": f"D0{user}", "ts": "1.1"}
        assert answer(interactions, interaction_event(click(user, grant["grant_id"], EXTEND, where)))[0] == 200
    assert len(grants(lab)) == 1


# --- the access form ------------------------------------------------------------------------------------------------


ODD_FORMS: list[Any] = [
    {},
    [],
    "values",
    {"cluster": "lab"},
    FORM | {"cluster": "nowhere"},
    FORM | {"role": "cluster-admin"},
    FORM | {"role": "cluster-view"},  # cluster-wide, with a namespace
    FORM | {"namespace": "kube-system"},
    FORM | {"namespace": "n" * 100_000},
    FORM | {"duration": "99999999999999999999"},
    FORM | {"duration": "1800", "role": "cluster-view", "namespace": ""},  # half an hour: not offered
    FORM | {"reason": "x" * 300_000},
    FORM | {"reason": ""},
    {key: 7 for key in FORM},
    {key: None for key in FORM},
    {key: {"value": value} for key, value in FORM.items()},
    {key: {key: {"selected_option": value}} for key, value in FORM.items()},
    {key: {key: {"selected_option": {"value": ["lab"]}}} for key in FORM},
    {key: {key: [value]} for key, value in FORM.items()},
]


def test_access_forms_that_are_not_what_the_cluster_offers_are_answered_with_errors(
    lab: Stack, interactions: Any
) -> None:
    for values in ODD_FORMS:
        status, body = answer(interactions, interaction_event(submission("U0DANA", values)))
        assert status == 200, values
        answered = json.loads(body)
        assert answered["response_action"] == "errors" and answered["errors"], answered
        assert set(answered["errors"]) <= {"cluster", "role", "namespace", "duration", "reason"}
    assert grants(lab) == []


def test_an_access_form_from_no_one_slack_knows_records_nothing(lab: Stack, interactions: Any) -> None:
    for user in ({}, {"id": ""}, {"id": "U0NOBODY"}, {"id": 7}, "U0DANA", None):
        payload = submission("U0DANA", FORM)
        payload["user"] = user
        status, _ = answer(interactions, interaction_event(payload))
        assert status == 200, user
    assert grants(lab) == []


def test_access_forms_of_the_wrong_shape_never_crash(lab: Stack, interactions: Any) -> None:
    for view in (
        {"callback_id": "csrgate_access_request"},
        {"callback_id": "csrgate_access_request", "state": []},
        {"callback_id": "csrgate_access_request", "state": {"values": {"cluster": []}}},
        {"callback_id": ["csrgate_access_request"], "state": {}},
    ):
        payload = {"type": "view_submission", "user": {"id": "U0DANA"}, "view": view}
        assert answer(interactions, interaction_event(payload))[0] in (200, 400), view
    assert grants(lab) == []


def test_extra_fields_in_the_access_form_bind_no_one_else(lab: Stack, interactions: Any) -> None:
    # GIVEN dana's form with fields csrgate does not offer, naming another user and another role
    values = FORM | {"username": "alice", "user": "system:admin", "cluster_role": "cluster-admin", "scope": "cluster"}
    # WHEN she submits it
    status, _ = answer(interactions, interaction_event(submission("U0DANA", values)))
    # THEN what is recorded is edit in payments, for her own user
    assert status == 200
    [grant] = grants(lab)
    assert (grant["username"], grant["cluster_role"], grant["namespace"]) == ("dana", "edit", "payments")


# --- the Deny dialog of a grant -------------------------------------------------------------------------------------


def deny_submission(user: Any, metadata: Any, reason: Any = "use the staging cluster") -> dict[str, Any]:
    private = metadata if isinstance(metadata, str) else json.dumps(metadata)
    return {
        "type": "view_submission",
        "user": {"id": user},
        "view": {
            "callback_id": "csrgate_deny_reason",
            "private_metadata": private,
            "state": {"values": {"reason": {"reason_text": {"type": "plain_text_input", "value": reason}}}},
        },
    }


ODD_METADATA: list[Any] = [
    {"grant_id": NO_GRANT, "channel": "C0LAB", "ts": "1.1"},
    {"grant_id": "not-a-grant"},
    {"grant_id": [NO_GRANT]},
    {"grant_id": None},
    {"grant_id": NO_GRANT, "channel": None},
    {"grant_id": NO_GRANT, "channel": "C0LAB"},
    {"grant_id": NO_GRANT, "request_id": NO_GRANT},
    [NO_GRANT],
    '"grant_id channel"',
    "null",
    "7",
    "{",
    "[" * 10_000,
]


def test_deny_dialogs_naming_no_grant_are_answered(lab: Stack, interactions: Any) -> None:
    for metadata in ODD_METADATA:
        status, _ = answer(interactions, interaction_event(deny_submission("U0ALICE", metadata)))
        assert status in (200, 400), metadata


def test_deny_dialogs_of_a_real_request_by_no_approver_or_without_a_reason_decide_nothing(
    lab: Stack, interactions: Any
) -> None:
    # GIVEN dana's request posted
    grant = posted(lab, interactions)
    metadata = {"grant_id": grant["grant_id"]} | grant["slack_message"]
    for user, reason in [
        ({"id": ""}, "no"),
        ({"id": "U0NOBODY"}, "no"),
        ({}, "no"),
        ({"id": "U0MALLORY"}, "no"),
        ({"id": "U0DANA"}, "no"),
        ({"id": "U0ALICE"}, ""),
        ({"id": "U0ALICE"}, 7),
        ({"id": "U0ALICE"}, ["no"]),
        ({"id": "U0ALICE"}, " \n "),
    ]:
        # WHEN its Deny dialog is submitted by someone who may not deny it, or with no reason
        payload = deny_submission("", metadata, reason) | {"user": user}
        status, _ = answer(interactions, interaction_event(payload))
        # THEN it is answered and decides nothing
        assert status == 200, (user, reason)
        assert state_of(lab, grant["grant_id"]) == ("awaiting_review", 0)


def test_a_deny_dialog_of_another_message_decides_nothing(lab: Stack, interactions: Any) -> None:
    grant = posted(lab, interactions)
    metadata = {"grant_id": grant["grant_id"], "channel": "C0LAB", "ts": "1.2"}
    status, _ = answer(interactions, interaction_event(deny_submission("U0ALICE", metadata)))
    assert status == 200
    assert state_of(lab, grant["grant_id"]) == ("awaiting_review", 0)


def test_a_certificate_deny_dialog_naming_a_grant_decides_nothing(lab: Stack, interactions: Any) -> None:
    # GIVEN dana's request posted, and a certificate's Deny dialog naming it as a request
    grant = posted(lab, interactions)
    metadata = {"request_id": grant["grant_id"]} | grant["slack_message"]
    # WHEN alice submits it, THEN the grant is not denied
    assert answer(interactions, interaction_event(deny_submission("U0ALICE", metadata)))[0] == 200
    assert state_of(lab, grant["grant_id"]) == ("awaiting_review", 0)


def test_a_certificate_button_naming_a_grant_decides_nothing(lab: Stack, interactions: Any) -> None:
    grant = posted(lab, interactions)
    for action in ("csrgate_approve", "csrgate_deny"):
        payload = click("U0ALICE", grant["grant_id"], action, grant["slack_message"])
        assert answer(interactions, interaction_event(payload))[0] == 200
    assert state_of(lab, grant["grant_id"]) == ("awaiting_review", 0)
