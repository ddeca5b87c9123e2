"""The Slack stand-in as scripts and the dev page use it: trigger_ids, views, commands, shortcuts, the Home tab and
modal submissions, each sent to a service as Slack sends it (signed) and its answer applied as Slack applies it.

Real HTTP throughout: the real slack_sdk WebClient calls the stand-in, and a small local app plays the service,
checking every request's signature with slack_sdk's SignatureVerifier.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from slack_app import EMPTY, Received, SlackApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from devstack.slack_emulator import PAGE_DIR, SlackEmulator

SECRET = "test-signing-secret"
DANA, ALICE = "U0DANA", "U0ALICE"
USERS = {DANA: {"name": "dana", "email": "dana@example.com"}, ALICE: {"name": "alice", "email": "alice@example.com"}}
LIFETIMES = [
    {"text": {"type": "plain_text", "text": "1 day"}, "value": "86400"},
    {"text": {"type": "plain_text", "text": "7 days"}, "value": "604800"},
]
REQUEST_VIEW: dict[str, Any] = {
    "type": "modal",
    "callback_id": "csrgate_certificate_request",
    "private_metadata": "from-the-shortcut",
    "title": {"type": "plain_text", "text": "Request a certificate"},
    "submit": {"type": "plain_text", "text": "Request"},
    "blocks": [
        {
            "type": "input",
            "block_id": "cluster",
            "label": {"type": "plain_text", "text": "Cluster"},
            "element": {
                "type": "static_select",
                "action_id": "cluster",
                "options": [{"text": {"type": "plain_text", "text": "dev"}, "value": "dev"}],
            },
        },
        {
            "type": "input",
            "block_id": "csr",
            "label": {"type": "plain_text", "text": "CSR"},
            "element": {"type": "plain_text_input", "action_id": "csr", "multiline": True},
        },
        {
            "type": "input",
            "block_id": "lifetime",
            "label": {"type": "plain_text", "text": "Lifetime"},
            "element": {"type": "static_select", "action_id": "lifetime", "options": LIFETIMES},
        },
        {
            "type": "actions",
            "block_id": "more",
            "elements": [
                {
                    "type": "button",
                    "action_id": "csrgate_help",
                    "value": "help",
                    "text": {"type": "plain_text", "text": "?"},
                }
            ],
        },
    ],
}
SENT = [{"type": "section", "text": {"type": "mrkdwn", "text": "Request sent"}}]
HOME_VIEW: dict[str, Any] = {
    "type": "home",
    "blocks": [
        {
            "type": "actions",
            "block_id": "start",
            "elements": [
                {
                    "type": "button",
                    "action_id": "csrgate_request_certificate",
                    "value": "new",
                    "text": {"type": "plain_text", "text": "Request a certificate"},
                }
            ],
        }
    ],
}


# --- the service side: a local app that records what Slack sends it --------------------------------------------------


@dataclass
class Clock:
    """The stand-in's time, moved by the test instead of slept through."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app() -> Iterator[SlackApp]:
    running = SlackApp(SECRET).start()
    yield running
    running.stop()


@pytest.fixture
def slack(app: SlackApp, clock: Clock) -> Iterator[SlackEmulator]:
    emulator = SlackEmulator(token="xoxb-test", signing_secret=SECRET, users=dict(USERS), clock=clock).start()
    emulator.interactions_url = f"{app.url}/interactions"
    emulator.commands_url = f"{app.url}/commands"
    emulator.events_url = f"{app.url}/events"
    yield emulator
    emulator.stop()


@pytest.fixture
def web(slack: SlackEmulator) -> WebClient:
    return WebClient(token=slack.token, base_url=slack.api_url)


def act(slack: SlackEmulator, route: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST to /_emulator/<route> as a script does; the HTTP status and JSON answer."""
    request = urllib.request.Request(
        f"{slack.base_url}_emulator/{route}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    return _read(request)


def read(slack: SlackEmulator, route: str) -> Any:
    status, answer = _read(urllib.request.Request(f"{slack.base_url}_emulator/{route}"))
    assert status == 200, answer
    return answer


def _read(request: urllib.request.Request) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return int(refused.code), json.loads(refused.read())


def trigger_of(slack: SlackEmulator, app: SlackApp, user: str = DANA) -> str:
    """A fresh trigger_id, as the app gets one when `user` picks a shortcut."""
    status, _ = act(slack, "shortcut", {"user": user, "callback_id": "csrgate_request_certificate"})
    assert status == 200
    return str(app.received[-1].payload["trigger_id"])


def opened_request_view(slack: SlackEmulator, app: SlackApp, web: WebClient) -> str:
    """The certificate request modal, opened for dana from a shortcut; its view id."""
    return str(web.views_open(trigger_id=trigger_of(slack, app), view=REQUEST_VIEW)["view"]["id"])


def answering(app: SlackApp, body: dict[str, Any]) -> None:
    """The app answers every request with this JSON."""
    app.answer = lambda received: (200, "application/json", json.dumps(body))


# --- shortcuts and trigger_ids ---------------------------------------------------------------------------------------


def test_a_shortcut_reaches_the_service_as_slacks_signed_global_shortcut_payload(
    slack: SlackEmulator, app: SlackApp
) -> None:
    # WHEN dana picks "Request a certificate" from the shortcuts menu
    status, answer = act(slack, "shortcut", {"user": DANA, "callback_id": "csrgate_request_certificate"})
    # THEN the service got Slack's global shortcut payload, signed with the signing secret
    assert status == 200 and answer["status"] == 200 and answer["body"] == ""
    [received] = app.received
    assert received.path == "/interactions" and received.signed
    payload = received.payload
    assert payload["type"] == "shortcut" and payload["callback_id"] == "csrgate_request_certificate"
    assert payload["user"] == {"id": DANA, "username": "dana", "name": "dana", "team_id": "T0DEV"}
    assert payload["team"]["id"] == "T0DEV" and payload["trigger_id"]
    assert (payload["is_enterprise_install"], payload["enterprise"]) == (False, None)


def test_views_open_takes_a_trigger_id_once_and_answers_the_view_as_slack_does(
    slack: SlackEmulator, app: SlackApp, web: WebClient
) -> None:
    # GIVEN the trigger_id of dana's shortcut
    trigger = trigger_of(slack, app)
    # WHEN the service opens its modal with it
    opened = web.views_open(trigger_id=trigger, view=REQUEST_VIEW)["view"]
    # THEN Slack's answer: the view with its id and an empty state
    assert opened["id"] == "V1" and opened["callback_id"] == "csrgate_certificate_request"
    assert opened["state"] == {"values": {}}
    # AND a second views.open with the same trigger is refused
    with pytest.raises(SlackApiError) as refused:
        web.views_open(trigger_id=trigger, view=REQUEST_VIEW)
    assert refused.value.response["error"] == "exchanged_trigger_id"
    # AND the view is recorded as dana's, open, without errors
    [record] = read(slack, "views")
    assert (record["id"], record["user"], record["state"], record["errors"]) == ("V1", DANA, "open", {})


def test_a_trigger_id_expires_three_seconds_after_slack_issued_it(
    slack: SlackEmulator, app: SlackApp, web: WebClient, clock: Clock
) -> None:
    trigger = trigger_of(slack, app)
    clock.now += 3.01
    with pytest.raises(SlackApiError) as refused:
        web.views_open(trigger_id=trigger, view=REQUEST_VIEW)
    assert refused.value.response["error"] == "expired_trigger_id"
    assert slack.views == []


def test_a_trigger_id_within_three_seconds_opens_the_view(
    slack: SlackEmulator, app: SlackApp, web: WebClient, clock: Clock
) -> None:
    trigger = trigger_of(slack, app)
    clock.now += 2.9
    assert web.views_open(trigger_id=trigger, view=REQUEST_VIEW)["ok"]


def test_a_trigger_id_slack_never_issued_is_invalid(slack: SlackEmulator, web: WebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        web.views_open(trigger_id="1.2.made-up", view=REQUEST_VIEW)
    assert refused.value.response["error"] == "invalid_trigger_id"


# --- views.update, views.publish and the Home tab --------------------------------------------------------------------


def test_views_update_replaces_the_view_and_keeps_its_id(slack: SlackEmulator, app: SlackApp, web: WebClient) -> None:
    view_id = opened_request_view(slack, app, web)
    replaced = {**REQUEST_VIEW, "title": {"type": "plain_text", "text": "Request sent"}, "blocks": SENT}
    answer = web.views_update(view_id=view_id, view=replaced)
    assert answer["view"]["id"] == view_id
    [record] = read(slack, "views")
    assert record["title"]["text"] == "Request sent" and record["blocks"] == SENT and record["state"] == "open"


def test_views_update_refuses_a_view_slack_would_refuse(slack: SlackEmulator, app: SlackApp, web: WebClient) -> None:
    view_id = opened_request_view(slack, app, web)
    with pytest.raises(SlackApiError) as refused:
        web.views_update(view_id=view_id, view={**REQUEST_VIEW, "title": {"type": "plain_text", "text": "x" * 30}})
    assert refused.value.response["error"] == "invalid_arguments"


def test_opening_the_home_tab_tells_the_service_and_shows_what_it_published(
    slack: SlackEmulator, app: SlackApp, web: WebClient
) -> None:
    # GIVEN a service that publishes dana's Home view when she opens the tab, as app_home_opened asks it to
    def publish(received: Received) -> tuple[int, str, str]:
        web.views_publish(user_id=received.payload["event"]["user"], view=HOME_VIEW)
        return EMPTY

    app.answer = publish
    # WHEN dana opens the Home tab
    home = read(slack, "home?user=U0DANA")
    # THEN the service got Slack's signed event callback, as JSON
    [received] = app.received
    assert received.path == "/events" and received.signed and received.content_type == "application/json"
    event = received.payload
    assert (event["type"], event["team_id"], event["api_app_id"]) == ("event_callback", "T0DEV", "A0DEV")
    assert event["event_id"].startswith("Ev") and isinstance(event["event_time"], int)
    assert {k: v for k, v in event["event"].items() if k != "event_ts"} == {
        "type": "app_home_opened",
        "user": DANA,
        "channel": "DU0DANA",
        "tab": "home",
    }
    # AND the page gets the Home view just published, with its id
    assert home["user"] == DANA and home["status"] == 200
    assert home["view"]["type"] == "home" and home["view"]["id"].startswith("V")
    assert home["view"]["blocks"] == HOME_VIEW["blocks"]


def test_publishing_again_replaces_the_home_view_and_a_modal_is_not_a_home_view(
    slack: SlackEmulator, web: WebClient
) -> None:
    first = web.views_publish(user_id=DANA, view=HOME_VIEW)["view"]["id"]
    second = web.views_publish(user_id=DANA, view={"type": "home", "blocks": SENT})["view"]
    assert second["id"] == first and read(slack, "home?user=U0DANA")["view"]["blocks"] == SENT
    with pytest.raises(SlackApiError) as refused:
        web.views_publish(user_id=DANA, view=REQUEST_VIEW)
    assert refused.value.response["error"] == "invalid_arguments"


def test_the_home_tab_of_someone_nothing_was_published_for_is_empty(slack: SlackEmulator) -> None:
    slack.events_url = ""
    assert read(slack, "home?user=U0ALICE") == {"user": ALICE, "view": None, "status": None}


# --- submitting a modal ----------------------------------------------------------------------------------------------


def test_a_submission_fills_each_input_as_slack_does_for_its_type(
    slack: SlackEmulator, app: SlackApp, web: WebClient
) -> None:
    view_id = opened_request_view(slack, app, web)
    # WHEN dana picks the cluster and types a reason-less CSR field... leaving the lifetime unpicked
    status, answer = act(slack, "submit", {"view_id": view_id, "user": DANA, "values": {"cluster": {"cluster": "dev"}}})
    # THEN the service got Slack's view_submission with the view and its state filled per element type
    assert status == 200 and answer["status"] == 200
    submission = app.received[-1].payload
    assert app.received[-1].signed and submission["type"] == "view_submission" and submission["trigger_id"]
    view = submission["view"]
    assert (view["id"], view["type"], view["callback_id"]) == (view_id, "modal", "csrgate_certificate_request")
    assert view["private_metadata"] == "from-the-shortcut" and view["blocks"] == REQUEST_VIEW["blocks"]
    assert view["state"]["values"] == {
        "cluster": {
            "cluster": {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": "dev"}, "value": "dev"},
            }
        },
        "csr": {"csr": {"type": "plain_text_input", "value": None}},
        "lifetime": {"lifetime": {"type": "static_select", "selected_option": None}},
    }


def test_a_select_value_the_view_does_not_offer_is_refused(slack: SlackEmulator, app: SlackApp, web: WebClient) -> None:
    view_id = opened_request_view(slack, app, web)
    status, answer = act(
        slack, "submit", {"view_id": view_id, "user": DANA, "values": {"cluster": {"cluster": "prod"}}}
    )
    assert status == 400 and "prod" in answer["error"]
    status, answer = act(slack, "submit", {"view_id": view_id, "user": DANA, "values": {"nope": {"nope": "x"}}})
    assert status == 400 and "nope/nope" in answer["error"]


def test_inline_errors_keep_the_modal_open_with_them(slack: SlackEmulator, app: SlackApp, web: WebClient) -> None:
    view_id = opened_request_view(slack, app, web)
    answering(app, {"response_action": "errors", "errors": {"csr": "This is not a PEM CSR"}})
    act(slack, "submit", {"view_id": view_id, "user": DANA, "values": {"csr": {"csr": "junk"}}})
    [record] = read(slack, "views")
    assert (record["state"], record["errors"]) == ("open", {"csr": "This is not a PEM CSR"})


def test_an_update_answer_replaces_the_modal_in_place(slack: SlackEmulator, app: SlackApp, web: WebClient) -> None:
    view_id = opened_request_view(slack, app, web)
    done = {"type": "modal", "title": {"type": "plain_text", "text": "Sent"}, "blocks": SENT}
    answering(app, {"response_action": "update", "view": done})
    act(slack, "submit", {"view_id": view_id, "user": DANA, "values": {}})
    [record] = read(slack, "views")
    assert (record["id"], record["title"]["text"], record["state"]) == (view_id, "Sent", "open")


def test_an_empty_answer_closes_the_modal_and_clear_closes_the_stack(
    slack: SlackEmulator, app: SlackApp, web: WebClient
) -> None:
    first = opened_request_view(slack, app, web)
    act(slack, "submit", {"view_id": first, "user": DANA, "values": {}})
    second = opened_request_view(slack, app, web)
    pushed = {"type": "modal", "title": {"type": "plain_text", "text": "More"}, "blocks": SENT}
    answering(app, {"response_action": "push", "view": pushed})
    act(slack, "submit", {"view_id": second, "user": DANA, "values": {}})
    answering(app, {"response_action": "clear"})
    act(slack, "submit", {"view_id": read(slack, "views")[-1]["id"], "user": DANA, "values": {}})
    assert [(v["id"], v["state"]) for v in read(slack, "views")] == [
        (first, "closed"),
        (second, "closed"),
        ("V3", "closed"),
    ]


def test_a_modal_is_only_submitted_by_whoever_it_was_opened_for(
    slack: SlackEmulator, app: SlackApp, web: WebClient
) -> None:
    view_id = opened_request_view(slack, app, web)
    status, _ = act(slack, "submit", {"view_id": view_id, "user": ALICE, "values": {}})
    assert status == 403


# --- slash commands --------------------------------------------------------------------------------------------------


def test_a_slash_command_is_slacks_signed_form_and_its_answer_is_shown_only_to_its_user(
    slack: SlackEmulator, app: SlackApp
) -> None:
    answering(app, {"text": "*csrgate* helps you get a certificate"})
    status, answer = act(slack, "command", {"user": DANA, "command": "/csrgate", "text": "help"})
    assert status == 200 and answer["status"] == 200
    assert answer["body"] == {"text": "*csrgate* helps you get a certificate"}
    [received] = app.received
    assert received.path == "/commands" and received.signed and "form" in received.content_type
    form = received.form
    assert {k: form[k] for k in ("team_id", "channel_id", "user_id", "user_name", "command", "text")} == {
        "team_id": "T0DEV",
        "channel_id": "DU0DANA",
        "user_id": DANA,
        "user_name": "dana",
        "command": "/csrgate",
        "text": "help",
    }
    assert (form["api_app_id"], form["is_enterprise_install"]) == ("A0DEV", "false")
    assert form["trigger_id"] and form["team_domain"] and form["channel_name"]
    assert read(slack, "ephemeral") == [
        {"channel": "DU0DANA", "user": DANA, "text": "*csrgate* helps you get a certificate"}
    ]
    # AND what the service later sends to the response_url is shown to dana too
    request = urllib.request.Request(
        form["response_url"], data=b'{"text": "later"}', headers={"Content-Type": "application/json"}, method="POST"
    )
    assert _read(request)[0] == 200
    assert read(slack, "ephemeral")[-1] == {"channel": "DU0DANA", "user": DANA, "text": "later"}


def test_a_command_answered_in_plain_text_or_with_an_error_is_shown_as_slack_shows_it(
    slack: SlackEmulator, app: SlackApp
) -> None:
    app.answer = lambda received: (200, "text/plain", "plain answer")
    assert act(slack, "command", {"user": DANA, "command": "/csrgate", "text": "", "channel": "C0DEV"})[1]["body"] == (
        "plain answer"
    )
    app.answer = lambda received: (500, "text/plain", "boom")
    act(slack, "command", {"user": DANA, "command": "/csrgate", "text": ""})
    assert [(e["channel"], e["text"]) for e in read(slack, "ephemeral")] == [
        ("C0DEV", "plain answer"),
        ("DU0DANA", '/csrgate failed with the error "dispatch_failed"'),
    ]


def test_a_command_with_nowhere_to_go_says_so(slack: SlackEmulator) -> None:
    slack.commands_url = ""
    status, answer = act(slack, "command", {"user": DANA, "command": "/csrgate", "text": ""})
    assert status == 409 and "commands_url" in answer["error"]


# --- clicks in views and messages ------------------------------------------------------------------------------------


def test_a_click_in_a_modal_is_block_actions_with_the_view_and_a_fresh_trigger(
    slack: SlackEmulator, app: SlackApp, web: WebClient
) -> None:
    view_id = opened_request_view(slack, app, web)
    status, answer = act(
        slack, "click", {"view_id": view_id, "block_id": "more", "action_id": "csrgate_help", "user": DANA}
    )
    assert status == 200 and answer["status"] == 200
    payload = app.received[-1].payload
    assert payload["type"] == "block_actions" and payload["container"] == {"type": "view", "view_id": view_id}
    assert (payload["view"]["id"], payload["view"]["type"], payload["view"]["callback_id"]) == (
        view_id,
        "modal",
        "csrgate_certificate_request",
    )
    assert "values" in payload["view"]["state"]
    [action] = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "csrgate_help",
        "more",
        "help",
        "button",
    )
    # AND its trigger_id opens a view of its own, for dana
    assert web.views_push(trigger_id=payload["trigger_id"], view={**REQUEST_VIEW, "blocks": SENT})["ok"]


def test_a_click_on_the_home_tab_names_the_home_view(slack: SlackEmulator, app: SlackApp, web: WebClient) -> None:
    home_id = web.views_publish(user_id=DANA, view=HOME_VIEW)["view"]["id"]
    status, _ = act(
        slack,
        "click",
        {"home": DANA, "block_id": "start", "action_id": "csrgate_request_certificate", "user": DANA},
    )
    assert status == 200
    payload = app.received[-1].payload
    assert payload["container"] == {"type": "view", "view_id": home_id} and payload["view"]["type"] == "home"
    assert payload["actions"][0]["value"] == "new"


def test_a_message_click_still_works_and_may_name_its_block(
    slack: SlackEmulator, app: SlackApp, web: WebClient
) -> None:
    blocks = [
        {
            "type": "actions",
            "block_id": "decide",
            "elements": [
                {
                    "type": "button",
                    "action_id": "csrgate_approve",
                    "value": "r1",
                    "text": {"type": "plain_text", "text": "Approve"},
                }
            ],
        }
    ]
    posted = web.chat_postMessage(channel="C0DEV", text="review", blocks=blocks)
    body = {"channel": "C0DEV", "ts": posted["ts"], "action_id": "csrgate_approve", "user": ALICE, "block_id": "decide"}
    status, answer = act(slack, "click", body)
    assert status == 200 and answer["status"] == 200
    payload = app.received[-1].payload
    assert payload["container"]["type"] == "message" and payload["actions"][0]["block_id"] == "decide"
    assert payload["response_url"].startswith(slack.base_url)


# --- what the page reads ---------------------------------------------------------------------------------------------


def test_the_page_state_holds_what_one_user_sees(slack: SlackEmulator, app: SlackApp, web: WebClient) -> None:
    # GIVEN a channel message, an ephemeral message for alice and a modal open for dana
    web.chat_postMessage(channel="C0DEV", text="review")
    web.chat_postEphemeral(channel="C0DEV", user=ALICE, text="only alice")
    view_id = opened_request_view(slack, app, web)
    # THEN dana's state has the channel, her modal, and not alice's ephemeral message
    dana = read(slack, "state?user=U0DANA")
    assert dana["channels"] == ["C0DEV"] and [m["text"] for m in dana["messages"]] == ["review"]
    assert dana["ephemeral"] == [] and [v["id"] for v in dana["views"]] == [view_id]
    assert dana["users"][DANA] == {"name": "dana"}
    assert {"csrgate_request_certificate", "csrgate_request_access"} <= {s["callback_id"] for s in dana["shortcuts"]}
    # AND alice's has her ephemeral message and no modal
    alice = read(slack, "state?user=U0ALICE")
    assert [e["text"] for e in alice["ephemeral"]] == ["only alice"] and alice["views"] == []


def test_a_shared_file_is_served_as_a_download_never_as_a_page(slack: SlackEmulator, web: WebClient) -> None:
    web.files_upload_v2(channel="DU0DANA", filename="dana.kubeconfig", content="<script>alert(1)</script>")
    [described] = read(slack, "state?user=U0DANA")["files"]
    with urllib.request.urlopen(slack.base_url + described["url"].lstrip("/"), timeout=10) as answer:
        assert answer.read() == b"<script>alert(1)</script>"
        assert answer.headers["Content-Type"] == "application/octet-stream"
        assert answer.headers["Content-Disposition"] == 'attachment; filename="dana.kubeconfig"'


def test_the_page_runs_only_its_own_script_and_never_writes_html() -> None:
    # the page's code builds nodes and sets textContent; no API that parses a string as HTML
    script = (PAGE_DIR / "app.js").read_text()
    for parser in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "DOMParser", "eval("):
        assert parser not in script
    assert "<script>" not in (PAGE_DIR / "index.html").read_text()


def test_the_page_is_served_with_a_policy_that_forbids_inline_script(slack: SlackEmulator) -> None:
    with urllib.request.urlopen(slack.base_url, timeout=10) as answer:
        policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    for name in ("app.js", "style.css"):
        with urllib.request.urlopen(f"{slack.base_url}_emulator/page/{name}", timeout=10) as answer:
            assert answer.read() == (PAGE_DIR / name).read_bytes()


def test_the_page_files_are_the_only_files_served(slack: SlackEmulator) -> None:
    status, _ = _read(urllib.request.Request(f"{slack.base_url}_emulator/page/..%2Fslack.py"))
    assert status == 404
    assert Path(PAGE_DIR / "index.html").exists()
