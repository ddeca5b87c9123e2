"""What people see of a grant in Slack: its message in the cluster's channel in every state, the access form and what
it says once sent, the Extend reminder, the kubeconfig DM and the Deny dialog. Names and the reason are someone's
text: shown whole and literally, never as a mention, a link or formatting.

Slack is the stand-in, reached by the real WebClient over HTTP; it refuses Block Kit that Slack refuses, and acts as a
person filling in and submitting a form, sending the submission signed to a small local app.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_app import EMPTY, SlackApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from test_slack_rendering import HOSTILE, assert_literal, elements, sent, shown_literally

from csrgate.adapters.slack.blocks import DENY_CALLBACK, GRANT_ACTIONS
from csrgate.adapters.slack.channel import SlackNotifier
from csrgate.adapters.slack.client import web_client
from csrgate.adapters.slack.delivery import SlackDelivery
from csrgate.adapters.slack.forms import (
    ACCESS_FORM,
    REQUEST_ACCESS_SHORTCUT,
    AccessChoices,
    OfferedRole,
    access_form,
    grant_sent_view,
)
from csrgate.adapters.slack.views import SlackViews
from csrgate.domain.delivery import Delivery
from csrgate.domain.grant_messages import GrantButton, extension_text, grant_message, granted_text
from csrgate.domain.grants import Grant, GrantState
from csrgate.domain.records import Actor, Approval, MessageRef
from devstack.slack_emulator import SlackEmulator

SECRET = "test-signing-secret"
DANA, ALICE, BOB = "U0DANA", "U0ALICE", "U0BOB"
GRANT_ID = "1f2e3d4c-5b6a-4789-9abc-def012345678"
ASKED = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
STARTED = ASKED + timedelta(minutes=5)
# The reason, a Slack display name, a user name from an email template: each may be longer than one text element.
HOSTILE_GRANT_TEXT = (*HOSTILE, "y" * 3500)
# What each state has by then, as the grant's life fills it in.
LIVED: dict[GrantState, dict[str, Any]] = {
    GrantState.AWAITING_REVIEW: {"approvals": (Approval(ALICE, "alice", ASKED + timedelta(minutes=1)),)},
    GrantState.APPROVED: {"decided_by": "alice (U0ALICE), bob (U0BOB)", "decided_at": STARTED},
    GrantState.ACTIVE: {
        "decided_by": "alice (U0ALICE), bob (U0BOB)",
        "decided_at": STARTED,
        "starts_at": STARTED,
        "ends_at": STARTED + timedelta(hours=1),
    },
    GrantState.ENDING: {
        "decided_by": "alice (U0ALICE), bob (U0BOB)",
        "starts_at": STARTED,
        "ends_at": STARTED + timedelta(hours=1),
        "ended_by": "dana (U0DANA)",
        "ended_at": STARTED + timedelta(minutes=20),
    },
    GrantState.ENDED: {
        "decided_by": "alice (U0ALICE), bob (U0BOB)",
        "starts_at": STARTED,
        "ends_at": STARTED + timedelta(hours=1),
        "ended_by": Actor.SERVICE.value,
        "ended_at": STARTED + timedelta(hours=1),
    },
    GrantState.DENIED: {"decided_by": "alice (U0ALICE)", "decision_reason": "use the read-only role first"},
    GrantState.EXPIRED: {"note": "nobody decided within a day"},
    GrantState.FAILED: {"decided_by": "alice (U0ALICE), bob (U0BOB)", "note": "the cluster could not be reached"},
}
BUTTONS = {
    GrantState.AWAITING_REVIEW: ["csrgate_grant_approve", "csrgate_grant_deny"],
    GrantState.APPROVED: ["csrgate_grant_revoke"],
    GrantState.ACTIVE: ["csrgate_grant_revoke"],
}
CHOICES = AccessChoices(
    clusters=("dev", "prod"),
    roles=(OfferedRole("edit", "edit", "namespace"), OfferedRole("view-all", "view", "cluster")),
    durations=(60, 3600, 28800),
    namespaces=("payments", "team-*"),
)


def grant(state: GrantState = GrantState.AWAITING_REVIEW, **changes: Any) -> Grant:
    """dana's grant of edit in payments on dev, as it stands in `state`."""
    asked = Grant(
        grant_id=GRANT_ID,
        cluster="dev",
        role="edit",
        cluster_role="edit",
        namespace="payments",
        username="sso:dana@example.com",
        slack_user=DANA,
        slack_name="dana",
        email="dana@example.com",
        duration_seconds=3600,
        reason="rotate the payments database password",
        asked_at=ASKED,
        approvals_needed=2,
    )
    return replace(asked, state=state, **{**LIVED[state], **changes})


# --- Slack and the service it sends to ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running_app() -> Iterator[SlackApp]:
    app = SlackApp(SECRET).start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def running(running_app: SlackApp) -> Iterator[SlackEmulator]:
    users = {
        DANA: {"name": "dana", "email": "dana@example.com"},
        ALICE: {"name": "alice", "email": "alice@example.com"},
        BOB: {"name": "bob", "email": "bob@example.com"},
    }
    emulator = SlackEmulator(token="xoxb-test", signing_secret=SECRET, users=users)
    emulator.start()
    emulator.interactions_url = f"{running_app.url}/interactions"
    yield emulator
    emulator.stop()


@pytest.fixture
def app(running_app: SlackApp) -> SlackApp:
    """The service, with nothing received yet, answering every request with an empty 200."""
    running_app.received.clear()
    running_app.answer = lambda received: EMPTY
    return running_app


@pytest.fixture
def slack(running: SlackEmulator, app: SlackApp) -> SlackEmulator:
    """Slack, with nothing received or shown yet."""
    for received in (running.calls, running.messages, running.files, running.ephemeral, running.opened):
        received.clear()
    return running


@pytest.fixture
def client(slack: SlackEmulator) -> Callable[[], WebClient]:
    return lambda: web_client(slack.token, slack.api_url)


def as_a_person(slack: SlackEmulator, route: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST to the stand-in's /_emulator/<route>, as a script acting as a Slack user does."""
    request = urllib.request.Request(
        f"{slack.base_url}_emulator/{route}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return int(refused.code), json.loads(refused.read())


def trigger(slack: SlackEmulator, app: SlackApp, user: str = DANA) -> str:
    """The trigger_id the service gets when `user` picks "Request access" from the shortcuts menu."""
    status, _ = as_a_person(slack, "shortcut", {"user": user, "callback_id": REQUEST_ACCESS_SHORTCUT})
    assert status == 200
    shortcut = app.received[-1].payload
    assert shortcut["type"] == "shortcut" and shortcut["callback_id"] == "csrgate_request_access"
    return str(shortcut["trigger_id"])


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [element for element in elements(blocks) if element.get("type") == "button"]


def actions_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [block for block in blocks if block["type"] == "actions"]


def options(view: dict[str, Any], block_id: str) -> list[tuple[str, str]]:
    """(text, value) of each option of the view's select in `block_id`."""
    [block] = [block for block in view["blocks"] if block.get("block_id") == block_id]
    return [(option["text"]["text"], option["value"]) for option in block["element"]["options"]]


# --- the grant's message in the cluster's channel -------------------------------------------------------------------


@pytest.mark.parametrize("state", list(GrantState), ids=lambda s: s.value)
def test_every_state_of_a_grant_posts_and_redraws_with_its_buttons(
    slack: SlackEmulator, client: Callable[[], WebClient], state: GrantState
) -> None:
    # GIVEN a grant that was asked for, and the same grant as it stands in `state`
    asked, now = grant(), grant(state)
    # WHEN its message is posted, then redrawn
    ref = SlackNotifier(client).post_grant("C0DEV", grant_message(asked))
    SlackNotifier(client).update_grant(ref, grant_message(now))
    # THEN Slack took both (the stand-in refuses what Slack refuses), and the channel shows the grant as it stands
    [message] = slack.messages
    assert (message.channel, message.ts, message.updated) == ("C0DEV", ref.ts, True)
    [posted] = sent(slack, "chat.postMessage")
    [updated] = sent(slack, "chat.update")
    assert_literal(updated, "rotate the payments database password")
    shown = shown_literally(updated["blocks"])
    assert shown.startswith(grant_message(now).headline)
    assert "Access: edit (ClusterRole edit), in namespace payments" in shown
    # AND its buttons are the ones that state offers, each naming the grant
    assert [b["action_id"] for b in buttons(updated["blocks"])] == BUTTONS.get(state, [])
    assert all(b["value"] == GRANT_ID for b in buttons(updated["blocks"]))
    assert [a["block_id"] for a in actions_blocks(updated["blocks"])] == (
        [f"grant:{GRANT_ID}"] if state in BUTTONS else []
    )
    # AND the grant's id closes the message, for whoever looks it up in the audit trail
    assert updated["blocks"][-1]["elements"][0]["text"] == f"csrgate grant `{GRANT_ID}`"
    assert [b["action_id"] for b in buttons(posted["blocks"])] == ["csrgate_grant_approve", "csrgate_grant_deny"]


@pytest.mark.parametrize("value", HOSTILE_GRANT_TEXT, ids=lambda v: v[:20])
@pytest.mark.parametrize("state", [GrantState.AWAITING_REVIEW, GrantState.DENIED, GrantState.FAILED])
def test_a_grant_message_shows_the_reason_and_names_whole_and_literally(
    slack: SlackEmulator, client: Callable[[], WebClient], value: str, state: GrantState
) -> None:
    # GIVEN a grant whose reason, asker's Slack name and Kubernetes user name hold text Slack would act on
    hostile = grant(state, reason=value, slack_name=value, username=value, decision_reason=value, note=value)
    # WHEN its message is posted and redrawn
    ref = SlackNotifier(client).post_grant("C0DEV", grant_message(hostile))
    SlackNotifier(client).update_grant(ref, grant_message(hostile))
    # THEN each value is shown whole, in rich text only: never a mention, a link or formatting, never cut short
    for arguments in (*sent(slack, "chat.postMessage"), *sent(slack, "chat.update")):
        assert_literal(arguments, value)
        shown = shown_literally(arguments["blocks"])
        assert f"Reason: {value}\n" in shown
        assert f"Requested in Slack by: @{value} ({DANA}), verified by Slack" in shown
        assert f"Kubernetes user: {value}\n" in shown
        assert f"Access edit in namespace payments on dev for {value}: " in shown


def test_approving_privileged_access_asks_to_confirm_and_revoking_always_does(
    slack: SlackEmulator, client: Callable[[], WebClient]
) -> None:
    # GIVEN a privileged grant awaiting review, and an ordinary one that is active
    SlackNotifier(client).post_grant("C0DEV", grant_message(grant(privileged=True, approvals_needed=3)))
    SlackNotifier(client).post_grant("C0DEV", grant_message(grant(GrantState.ACTIVE)))
    review, active = sent(slack, "chat.postMessage")
    # THEN Approve is primary and asks the approver to confirm, naming how many approvals it needs; Deny is danger
    approve, deny = buttons(review["blocks"])
    assert (approve["text"]["text"], approve["style"], deny["text"]["text"], deny["style"]) == (
        "Approve",
        "primary",
        "Deny",
        "danger",
    )
    assert "3 approvals" in approve["confirm"]["text"]["text"] and approve["confirm"]["style"] == "primary"
    assert "confirm" not in deny
    # AND Revoke is danger and asks before it removes the access
    [revoke] = buttons(active["blocks"])
    assert (revoke["text"]["text"], revoke["style"]) == ("Revoke", "danger")
    assert revoke["confirm"]["text"]["text"] == "Remove this access now?"
    assert (revoke["confirm"]["confirm"]["text"], revoke["confirm"]["style"]) == ("Revoke", "danger")


def test_approving_ordinary_access_needs_no_confirmation(slack: SlackEmulator, client: Callable[[], WebClient]) -> None:
    SlackNotifier(client).post_grant("C0DEV", grant_message(grant()))
    [posted] = sent(slack, "chat.postMessage")
    assert ["confirm" in button for button in buttons(posted["blocks"])] == [False, False]


def test_each_grant_action_id_names_the_button_the_interactions_route_acts_on() -> None:
    assert GRANT_ACTIONS == {
        "csrgate_grant_approve": GrantButton.APPROVE,
        "csrgate_grant_deny": GrantButton.DENY,
        "csrgate_grant_revoke": GrantButton.REVOKE,
        "csrgate_grant_extend": GrantButton.EXTEND,
    }


# --- the requester's direct messages --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE_GRANT_TEXT, ids=lambda v: v[:20])
def test_the_extension_reminder_is_a_direct_message_with_an_extend_button(
    slack: SlackEmulator, client: Callable[[], WebClient], value: str
) -> None:
    # GIVEN the reminder for an access whose user name holds text Slack would act on
    active = grant(GrantState.ACTIVE, username=value)
    text = extension_text(active, STARTED + timedelta(minutes=50)) + f" ({value})"
    # WHEN it is offered to dana
    SlackDelivery(client).offer_extension(DANA, GRANT_ID, text)
    # THEN it is in dana's DM, drawn literally, with one Extend button naming the grant
    [dm] = sent(slack, "chat.postMessage")
    assert dm["channel"] == "DU0DANA"
    assert_literal(dm, value)
    assert shown_literally(dm["blocks"]) == text
    [extend] = buttons(dm["blocks"])
    assert (extend["action_id"], extend["value"], extend["text"]["text"], extend["style"]) == (
        "csrgate_grant_extend",
        GRANT_ID,
        "Extend",
        "primary",
    )
    assert [a["block_id"] for a in actions_blocks(dm["blocks"])] == [f"grant:{GRANT_ID}"]


def test_the_extend_button_reaches_the_service_as_a_click_naming_the_grant(
    slack: SlackEmulator, client: Callable[[], WebClient], app: SlackApp
) -> None:
    SlackDelivery(client).offer_extension(DANA, GRANT_ID, "Your access ends in 10 minutes.")
    [dm] = slack.messages
    status, _ = as_a_person(
        slack, "click", {"channel": dm.channel, "ts": dm.ts, "action_id": "csrgate_grant_extend", "user": DANA}
    )
    assert status == 200
    [action] = app.received[-1].payload["actions"]
    assert (action["action_id"], action["value"], action["block_id"]) == (
        "csrgate_grant_extend",
        GRANT_ID,
        f"grant:{GRANT_ID}",
    )


@pytest.mark.parametrize("value", ["*ops*", "<!channel>", "y" * 3500], ids=lambda v: v[:20])
def test_the_granted_access_comes_with_its_kubeconfig_and_its_text_drawn_literally(
    slack: SlackEmulator, client: Callable[[], WebClient], value: str
) -> None:
    # GIVEN the message telling dana her access exists, for a user name Slack would format
    active = grant(GrantState.ACTIVE, username=value)
    delivery = Delivery("dev-dana.kubeconfig", "apiVersion: v1\nkind: Config\n", granted_text(active))
    # WHEN it is delivered
    SlackDelivery(client).deliver(DANA, delivery)
    # THEN the kubeconfig is in dana's DM, and the text with it reads exactly as written
    [uploaded] = slack.files
    assert (uploaded["channel"], uploaded["name"]) == ("DU0DANA", "dev-dana.kubeconfig")
    assert uploaded["content"] == b"apiVersion: v1\nkind: Config\n"
    [dm] = sent(slack, "chat.postMessage")
    assert_literal(dm, value)
    assert shown_literally(dm["blocks"]) == granted_text(active)


# --- the Deny dialog ------------------------------------------------------------------------------------------------


def test_the_deny_dialog_of_a_grant_carries_the_grant_and_its_message(
    slack: SlackEmulator, client: Callable[[], WebClient], app: SlackApp
) -> None:
    # WHEN alice clicks Deny on a grant's message and the service asks her why
    SlackNotifier(client).ask_deny_reason(trigger(slack, app, ALICE), GRANT_ID, MessageRef("C0DEV", "1.2"), grant=True)
    # THEN the dialog she sees is about access, and its submission will say which grant and message it belongs to
    [dialog] = slack.views
    assert (dialog["callback_id"], dialog["title"]["text"]) == (DENY_CALLBACK, "Deny access")
    assert json.loads(dialog["private_metadata"]) == {"grant_id": GRANT_ID, "channel": "C0DEV", "ts": "1.2"}
    status, _ = as_a_person(
        slack, "submit", {"view_id": dialog["id"], "user": ALICE, "values": {"reason": {"reason_text": "not now"}}}
    )
    submitted = app.received[-1].payload["view"]
    assert status == 200 and submitted["state"]["values"]["reason"]["reason_text"]["value"] == "not now"


def test_the_deny_dialog_of_a_certificate_request_is_unchanged(
    slack: SlackEmulator, client: Callable[[], WebClient], app: SlackApp
) -> None:
    request_id = "0f6a3c1e-5d2b-5c4a-9e7f-123456789abc"
    SlackNotifier(client).ask_deny_reason(trigger(slack, app, ALICE), request_id, None)
    [dialog] = slack.views
    assert (dialog["callback_id"], dialog["title"]["text"]) == (DENY_CALLBACK, "Deny certificate")
    assert json.loads(dialog["private_metadata"]) == {"request_id": request_id}


# --- the access form ------------------------------------------------------------------------------------------------


def test_the_access_form_opens_and_its_submission_carries_each_value_by_block_id(
    slack: SlackEmulator, client: Callable[[], WebClient], app: SlackApp
) -> None:
    # GIVEN dana picked "Request access" and the service opened the form
    SlackViews(client).open(trigger(slack, app), access_form(CHOICES))
    [form] = slack.views
    assert (form["callback_id"], form["title"]["text"], form["submit"]["text"]) == (
        ACCESS_FORM,
        "Request access",
        "Request",
    )
    assert [block["block_id"] for block in form["blocks"] if block["type"] == "input"] == [
        "cluster",
        "role",
        "namespace",
        "duration",
        "reason",
    ]
    # WHEN she picks a cluster, a cluster-wide role and a duration, types a reason and leaves the namespace empty
    values = {
        "cluster": {"cluster": "prod"},
        "role": {"role": "view-all"},
        "duration": {"duration": "3600"},
        "reason": {"reason": "<!channel> *look* at the incident"},
    }
    status, answer = as_a_person(slack, "submit", {"view_id": form["id"], "user": DANA, "values": values})
    # THEN the service gets the form, signed, with each value under its block id and the namespace empty
    assert status == 200 and answer["status"] == 200
    [submission] = [r for r in app.received if r.payload["type"] == "view_submission"]
    assert submission.signed and submission.payload["user"]["id"] == DANA
    view = submission.payload["view"]
    assert view["callback_id"] == ACCESS_FORM
    state = view["state"]["values"]
    assert {block: state[block][block].get("selected_option", {}) for block in ("cluster", "role", "duration")} == {
        "cluster": {"text": {"type": "plain_text", "text": "prod", "emoji": False}, "value": "prod"},
        "role": {
            "text": {"type": "plain_text", "text": "view-all (ClusterRole view, cluster-wide)", "emoji": False},
            "value": "view-all",
        },
        "duration": {"text": {"type": "plain_text", "text": "1 hour", "emoji": False}, "value": "3600"},
    }
    assert state["namespace"] == {"namespace": {"type": "plain_text_input", "value": None}}
    assert state["reason"] == {"reason": {"type": "plain_text_input", "value": "<!channel> *look* at the incident"}}


def test_the_access_form_says_what_each_choice_is(
    slack: SlackEmulator, client: Callable[[], WebClient], app: SlackApp
) -> None:
    SlackViews(client).open(trigger(slack, app), access_form(CHOICES))
    [form] = slack.views
    assert options(form, "cluster") == [("dev", "dev"), ("prod", "prod")]
    assert options(form, "role") == [
        ("edit (ClusterRole edit)", "edit"),
        ("view-all (ClusterRole view, cluster-wide)", "view-all"),
    ]
    assert options(form, "duration") == [("1 minute", "60"), ("1 hour", "3600"), ("8 hours", "28800")]
    [namespace] = [block for block in form["blocks"] if block.get("block_id") == "namespace"]
    assert namespace["optional"] is True and namespace["element"]["type"] == "plain_text_input"
    assert "payments, team-*" in namespace["hint"]["text"]
    [reason] = [block for block in form["blocks"] if block.get("block_id") == "reason"]
    assert reason["element"]["multiline"] is True and reason["element"]["max_length"] == 500
    assert "optional" not in reason or reason["optional"] is False


def test_a_single_cluster_is_picked_already_and_submitted_as_picked(
    slack: SlackEmulator, client: Callable[[], WebClient], app: SlackApp
) -> None:
    # GIVEN the form when only dev offers access
    SlackViews(client).open(trigger(slack, app), access_form(replace(CHOICES, clusters=("dev",))))
    [form] = slack.views
    # WHEN dana submits it without touching the cluster
    values = {"role": {"role": "edit"}, "namespace": {"namespace": "payments"}, "duration": {"duration": "60"}}
    as_a_person(slack, "submit", {"view_id": form["id"], "user": DANA, "values": {**values, "reason": {"reason": "x"}}})
    # THEN dev is submitted, as Slack submits an input's initial option
    state = app.received[-1].payload["view"]["state"]["values"]
    assert state["cluster"]["cluster"]["selected_option"]["value"] == "dev"
    assert state["namespace"]["namespace"]["value"] == "payments"


def test_the_access_form_stays_within_block_kits_limits_however_much_is_offered(
    slack: SlackEmulator, client: Callable[[], WebClient], app: SlackApp
) -> None:
    # GIVEN more clusters and roles than a select holds, ClusterRoles with long names, and many namespace patterns
    long_role = "x" * 63
    choices = AccessChoices(
        clusters=tuple(f"cluster-{n:03d}" for n in range(150)),
        roles=(
            *(OfferedRole(f"role-{n:03d}", f"{'a' * 200}-{n}", "namespace") for n in range(150)),
            OfferedRole(long_role, "b" * 253, "cluster"),
        ),
        durations=tuple(range(60, 60 * 200, 60)),
        namespaces=tuple(f"team-{n:04d}-*" for n in range(500)),
    )
    # WHEN it is opened
    SlackViews(client).open(trigger(slack, app), access_form(choices))
    # THEN Slack took it: at most 100 options a select, option texts of at most 75 characters, a short hint
    [form] = slack.views
    for block_id in ("cluster", "role", "duration"):
        offered = options(form, block_id)
        assert 0 < len(offered) <= 100
        assert all(len(text) <= 75 and len(value) <= 150 for text, value in offered)
    assert options(form, "role")[0][0].startswith("role-000 (ClusterRole aaa")
    [namespace] = [block for block in form["blocks"] if block.get("block_id") == "namespace"]
    assert len(namespace["hint"]["text"]) <= 2000


def test_a_role_offered_by_several_clusters_is_one_choice(
    slack: SlackEmulator, client: Callable[[], WebClient], app: SlackApp
) -> None:
    roles = (OfferedRole("edit", "edit", "namespace"), OfferedRole("edit", "edit", "namespace"))
    SlackViews(client).open(trigger(slack, app), access_form(replace(CHOICES, roles=roles)))
    [form] = slack.views
    assert options(form, "role") == [("edit (ClusterRole edit)", "edit")]


def test_without_any_cluster_offering_access_the_form_says_so(
    slack: SlackEmulator, client: Callable[[], WebClient], app: SlackApp
) -> None:
    SlackViews(client).open(trigger(slack, app), access_form(AccessChoices((), (), (), ())))
    [notice] = slack.views
    assert notice["title"]["text"] == "Request access" and "submit" not in notice
    assert "No cluster offers" in shown_literally(notice["blocks"])


def test_once_sent_the_form_says_what_was_asked_of_whom(
    slack: SlackEmulator, client: Callable[[], WebClient], app: SlackApp
) -> None:
    # GIVEN the open form, and a service that answers its submission with what was sent
    SlackViews(client).open(trigger(slack, app), access_form(CHOICES))
    [form] = slack.views
    answer = json.dumps({"response_action": "update", "view": grant_sent_view(grant(username="<!channel>")).to_dict()})
    app.answer = lambda received: (200, "application/json", answer)
    # WHEN dana submits it
    as_a_person(slack, "submit", {"view_id": form["id"], "user": DANA, "values": {"reason": {"reason": "x"}}})
    # THEN the form shows, in its place, where it went, what and for how long, the user name drawn literally
    [shown] = slack.views
    assert shown["id"] == form["id"] and shown["title"]["text"] == "Request sent"
    text = shown_literally(shown["blocks"])
    assert text.startswith("Sent to the approvers of dev: edit (ClusterRole edit) in namespace payments for 1 hour")
    assert "as the Kubernetes user <!channel>" in text
    assert not [e for e in elements(shown["blocks"]) if e.get("type") in ("broadcast", "link", "user")]


def test_a_cluster_wide_grant_once_sent_says_the_whole_cluster() -> None:
    view = grant_sent_view(grant(role="view-all", cluster_role="view", namespace=None, duration_seconds=28800))
    assert "view-all (ClusterRole view) in the whole cluster for 8 hours" in shown_literally(view.to_dict()["blocks"])


# --- the stand-in refuses what Slack refuses, inside views and blocks too --------------------------------------------


def select_view(options: list[dict[str, Any]]) -> dict[str, Any]:
    select = {"type": "static_select", "action_id": "role", "options": options}
    input_block = {"type": "input", "block_id": "role", "label": {"type": "plain_text", "text": "Role"}}
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Request access"},
        "blocks": [{**input_block, "element": select}],
    }


def option(text: str, value: str = "v") -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


BUTTON_TOO_LONG = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "x" * 76}}


@pytest.mark.parametrize(
    ("method", "arguments"),
    [
        ("views.open", {"trigger_id": "1.2.x", "view": select_view([option(f"o{n}", str(n)) for n in range(101)])}),
        ("views.open", {"trigger_id": "1.2.x", "view": select_view([option("x" * 76)])}),
        ("views.open", {"trigger_id": "1.2.x", "view": select_view([option("ok", "v" * 151)])}),
        ("chat.postMessage", {"channel": "C0DEV", "blocks": [{"type": "actions", "elements": [BUTTON_TOO_LONG]}]}),
    ],
    ids=["101 options", "option text of 76", "option value of 151", "button text of 76"],
)
def test_the_stand_in_refuses_block_kit_that_slack_refuses_inside_views_and_blocks(
    slack: SlackEmulator, method: str, arguments: dict[str, Any]
) -> None:
    client = WebClient(token=slack.token, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as refused:
        client.api_call(method, json=arguments)
    assert refused.value.response["error"] in ("invalid_blocks", "invalid_arguments")
    assert slack.views == [] and slack.messages == []
