"""The Slack stand-in with what people and scripts use in place of the Slack client: a page and /_emulator/.

Scripts act as Slack users through /_emulator/ (commands, shortcuts, clicks, modal submissions, opening the Home
tab); each is sent to the service as Slack sends it (api.slack.com/interactivity, /events-api), signed with the
signing secret, and the service's answer is applied as Slack applies it.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import yaml
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.signature import SignatureVerifier

from devstack.slack import OpenedView, SlackStandIn, validate_view

TEAM = {"id": "T0DEV", "domain": "csrgate-dev"}
APP_ID = "A0DEV"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
PAGE_DIR = Path(__file__).with_name("slack_page")
PAGE_FILES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
MANIFEST = Path(__file__).parents[1] / "slack" / "manifest.yaml"
# The global shortcuts csrgate's self-service requests use, until slack/manifest.yaml declares its own.
DEFAULT_SHORTCUTS = [
    {"callback_id": "csrgate_request_certificate", "name": "Request a certificate"},
    {"callback_id": "csrgate_request_access", "name": "Request access"},
]
DEFAULT_COMMANDS = [{"command": "/csrgate", "description": "csrgate: request a certificate, or `help`"}]
# The page runs only its own files: data from the service under test can never become script.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# The state key Slack gives each element type in view_submission's view.state.values.
_STATE_KEYS = {
    "plain_text_input": "value",
    "number_input": "value",
    "email_text_input": "value",
    "url_text_input": "value",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
}
_OPTION_ELEMENTS = ("static_select", "radio_buttons")
# Where each element type holds what it shows when the view opens: Slack submits that until the person changes it
# (what people report of view_submission, e.g. slackapi/bolt-js#1258).
_INITIAL_KEYS = {
    "plain_text_input": "initial_value",
    "number_input": "initial_value",
    "email_text_input": "initial_value",
    "url_text_input": "initial_value",
    "datepicker": "initial_date",
    "timepicker": "initial_time",
    "users_select": "initial_user",
    "conversations_select": "initial_conversation",
    "channels_select": "initial_channel",
    "static_select": "initial_option",
    "radio_buttons": "initial_option",
}


class Refused(Exception):
    """A request to /_emulator/ that cannot be acted on; becomes the HTTP answer `status` with `error`."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass
class Delivery:
    """The service's answer to something sent as Slack sends it."""

    status: int
    elapsed_ms: float
    body: Any  # parsed JSON when it is JSON, else the text ("" when empty)

    def answer(self) -> dict[str, Any]:
        """What /_emulator/ answers the script that acted."""
        return {"status": self.status, "elapsed_ms": self.elapsed_ms, "body": self.body}


@dataclass
class _ResponseTarget:
    """Where a response_url's messages go: a command's channel and user (and the clicked message, if any)."""

    channel: str
    user: str
    ts: str | None = None


def declared_shortcuts(manifest: Path = MANIFEST) -> list[dict[str, str]]:
    """The app's global shortcuts as slack/manifest.yaml declares them, then csrgate's self-service ones it does not
    declare yet (so the page offers them while the service side is being built)."""
    features = _manifest_features(manifest)
    declared = [
        {"callback_id": str(s["callback_id"]), "name": str(s.get("name") or s["callback_id"])}
        for s in features.get("shortcuts") or []
        if s.get("type", "global") == "global" and s.get("callback_id")
    ]
    known = {s["callback_id"] for s in declared}
    return declared + [s for s in DEFAULT_SHORTCUTS if s["callback_id"] not in known]


def declared_commands(manifest: Path = MANIFEST) -> list[dict[str, str]]:
    """The app's slash commands as slack/manifest.yaml declares them, else /csrgate."""
    declared = [
        {"command": str(c["command"]), "description": str(c.get("description") or "")}
        for c in _manifest_features(manifest).get("slash_commands") or []
        if c.get("command")
    ]
    return declared or list(DEFAULT_COMMANDS)


def _manifest_features(manifest: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(manifest.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    features = loaded.get("features") if isinstance(loaded, dict) else None
    return features if isinstance(features, dict) else {}


@dataclass
class SlackEmulator(SlackStandIn):
    """The stand-in, plus what Slack users do, signed as Slack signs it and sent to the service's URLs."""

    interactions_url: str = ""
    commands_url: str = ""
    events_url: str = ""
    signing_secret: str = ""
    check_triggers: bool = True
    shortcuts: list[dict[str, str]] = field(default_factory=declared_shortcuts)
    commands: list[dict[str, str]] = field(default_factory=declared_commands)
    _responses: dict[str, _ResponseTarget] = field(default_factory=dict)
    _event_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def base_url(self) -> str:
        """The page's URL (the Web API is under /api/)."""
        return self.api_url.removesuffix("api/")

    # --- what users do ------------------------------------------------------------------------------------------

    def command(self, user: str, command: str, text: str, channel: str | None = None) -> Delivery:
        """`user` types `/command text` in `channel` (their DM by default); the answer is shown to them only."""
        where = channel or f"D{user}"
        form = {
            "token": "dev",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": where,
            "channel_name": "directmessage" if where.startswith("D") else where.lower(),
            "user_id": user,
            "user_name": self._name(user),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._response_url(_ResponseTarget(where, user)),
            "trigger_id": self.issue_trigger(user),
        }
        delivery = self.post_signed(self._wired(self.commands_url, "commands_url"), urlencode(form).encode(), FORM)
        self._show_command_answer(where, user, command, delivery)
        return delivery

    def shortcut(self, user: str, callback_id: str) -> Delivery:
        """`user` picks a global shortcut (the lightning bolt menu)."""
        payload = {
            "type": "shortcut",
            "token": "dev",
            "callback_id": callback_id,
            "trigger_id": self.issue_trigger(user),
            "action_ts": f"{self.clock():.6f}",
            "user": self._user(user),
            "team": dict(TEAM),
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._interact(payload)

    def click(
        self, channel: str, ts: str, action_id: str, user: str, block_id: str | None = None, value: str | None = None
    ) -> Delivery:
        """`user` clicks the button (or picks `value` in the select) `action_id` on a message."""
        with self._lock:
            message = next((m for m in self.messages if m.channel == channel and m.ts == ts), None)
        if message is None:
            raise Refused(404, "message_not_found")
        action = _action(message.blocks, action_id, block_id, value)
        payload = {
            "type": "block_actions",
            "token": "dev",
            "api_app_id": APP_ID,
            "user": self._user(user),
            "team": dict(TEAM),
            "trigger_id": self.issue_trigger(user),
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
            "channel": {"id": channel},
            "message": {"ts": ts, "text": message.text, "blocks": message.blocks},
            "response_url": self._response_url(_ResponseTarget(channel, user, ts)),
            "actions": [{**action, "action_ts": f"{self.clock():.6f}"}],
        }
        return self._interact(payload)

    def click_view(
        self,
        block_id: str,
        action_id: str,
        user: str,
        *,
        view_id: str | None = None,
        home: str | None = None,
        value: str | None = None,
        values: dict[str, dict[str, Any]] | None = None,
    ) -> Delivery:
        """`user` clicks a button in a modal (`view_id`) or on their Home tab (`home`: whose Home it is)."""
        opened = self._shown_view(user, view_id=view_id, home=home)
        action = _action(opened.view.get("blocks") or [], action_id, block_id, value)
        payload = {
            "type": "block_actions",
            "token": "dev",
            "api_app_id": APP_ID,
            "user": self._user(user),
            "team": dict(TEAM),
            "trigger_id": self.issue_trigger(user),
            "container": {"type": "view", "view_id": opened.id},
            "view": self._sent_view(opened, fill_state(opened.view, values or {})),
            "actions": [{**action, "action_ts": f"{self.clock():.6f}"}],
        }
        return self._interact(payload)

    def submit(self, view_id: str, user: str, values: dict[str, dict[str, Any]]) -> Delivery:
        """`user` submits their open modal with its inputs filled: {block_id: {action_id: text or option value}}."""
        opened = self._shown_view(user, view_id=view_id)
        payload = {
            "type": "view_submission",
            "token": "dev",
            "api_app_id": APP_ID,
            "user": self._user(user),
            "team": dict(TEAM),
            "trigger_id": self.issue_trigger(user),
            "view": self._sent_view(opened, fill_state(opened.view, values)),
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        delivery = self._interact(payload)
        self._apply_submission_answer(opened, delivery)
        return delivery

    def close(self, view_id: str, user: str) -> Delivery | None:
        """`user` closes their modal; the service hears of it (view_closed) only if the view asked to be told."""
        opened = self._shown_view(user, view_id=view_id)
        with self._lock:
            opened.state = "closed"
        if not opened.view.get("notify_on_close"):
            return None
        payload = {
            "type": "view_closed",
            "user": self._user(user),
            "team": dict(TEAM),
            "view": self._sent_view(opened, fill_state(opened.view, {})),
            "is_cleared": False,
        }
        return self._interact(payload)

    def open_home(self, user: str) -> dict[str, Any]:
        """`user` opens the app's Home tab: the service hears app_home_opened, then the Home view is shown."""
        status = None
        if self.events_url:
            status = self.post_signed(self.events_url, json.dumps(self._home_opened(user)).encode(), JSON).status
        with self._lock:
            home = self.homes.get(user)
        return {"user": user, "view": home.view if home is not None else None, "status": status}

    def respond(self, token: str, message: dict[str, Any]) -> None:
        """A message the service sent to a response_url: shown to its user, or in place of the clicked message."""
        with self._lock:
            target = self._responses.get(token)
        if target is None:
            raise Refused(404, "expired_url")
        if message.get("replace_original") and target.ts is not None:
            self._replace_message(target.channel, target.ts, message)
        elif message.get("response_type") == "in_channel":
            self._post({"channel": target.channel, "text": message.get("text"), "blocks": message.get("blocks")})
        else:
            self.show_ephemeral(target.channel, target.user, str(message.get("text") or ""), message.get("blocks"))

    # --- sending as Slack sends -----------------------------------------------------------------------------------

    def send_interaction(
        self, body: bytes, timestamp: int | None = None, signature: str | None = None
    ) -> tuple[int, float]:
        """POST a form body to the interactions URL signed with the signing secret; status and milliseconds."""
        delivery = self.post_signed(self.interactions_url, body, FORM, timestamp, signature)
        return delivery.status, delivery.elapsed_ms

    def post_signed(
        self, url: str, body: bytes, content_type: str, timestamp: int | None = None, signature: str | None = None
    ) -> Delivery:
        """POST `body` as Slack does: X-Slack-Request-Timestamp and a v0 X-Slack-Signature of the raw body."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        verifier = SignatureVerifier(self.signing_secret)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature or str(verifier.generate_signature(timestamp=stamp, body=body.decode())),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, raw, kind = int(answer.status), answer.read(), answer.headers.get("Content-Type") or ""
        except urllib.error.HTTPError as refused:
            status, raw, kind = int(refused.code), refused.read(), refused.headers.get("Content-Type") or ""
        except (urllib.error.URLError, TimeoutError) as unreachable:
            raise Refused(502, f"the service did not answer at {url}: {unreachable}") from None
        return Delivery(status, round((time.monotonic() - started) * 1000, 1), _parsed(raw, kind))

    def _interact(self, payload: dict[str, Any]) -> Delivery:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post_signed(self._wired(self.interactions_url, "interactions_url"), body, FORM)

    def _wired(self, url: str, name: str) -> str:
        if not url:
            raise Refused(409, f"{name} is not set: nothing receives this in the service")
        return url

    def _home_opened(self, user: str) -> dict[str, Any]:
        now = self.clock()
        return {
            "token": "dev",
            "team_id": TEAM["id"],
            "api_app_id": APP_ID,
            "type": "event_callback",
            "event_id": f"Ev{next(self._event_ids):08d}",
            "event_time": int(now),
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": f"D{user}",
                "tab": "home",
                "event_ts": f"{now:.6f}",
            },
        }

    def _response_url(self, target: _ResponseTarget) -> str:
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._responses[token] = target
        return f"{self.base_url}_emulator/respond/{token}"

    def _user(self, user: str) -> dict[str, str]:
        name = self._name(user)
        return {"id": user, "username": name, "name": name, "team_id": TEAM["id"]}

    def _name(self, user: str) -> str:
        return str(self.users.get(user, {}).get("name") or user)

    # --- applying the service's answers as Slack does -------------------------------------------------------------

    def _show_command_answer(self, channel: str, user: str, command: str, delivery: Delivery) -> None:
        """A command's answer body is shown to whoever typed it (api.slack.com/interactivity/slash-commands)."""
        body = delivery.body
        if delivery.status != 200:
            self.show_ephemeral(channel, user, f'{command} failed with the error "dispatch_failed"')
        elif isinstance(body, dict) and (body.get("text") or body.get("blocks")):
            if body.get("response_type") == "in_channel":
                self._post({"channel": channel, "text": body.get("text"), "blocks": body.get("blocks")})
            else:
                self.show_ephemeral(channel, user, str(body.get("text") or ""), body.get("blocks"))
        elif isinstance(body, str) and body.strip():
            self.show_ephemeral(channel, user, body)

    def _apply_submission_answer(self, opened: OpenedView, delivery: Delivery) -> None:
        """What Slack does with a view_submission's answer (api.slack.com/surfaces/modals#response_actions)."""
        body = delivery.body
        action = body.get("response_action") if isinstance(body, dict) else None
        if delivery.status != 200 or (body and action is None):
            return  # Slack keeps the modal open and shows that it could not reach the app
        with self._lock:
            if action == "errors":
                opened.errors = {str(k): str(v) for k, v in (body.get("errors") or {}).items()}
            elif action in ("update", "push") and _valid_modal(body.get("view")):
                self._replace_or_push(opened, action, body["view"])
            elif action == "clear":
                for view in self.opened:
                    if view.root == opened.root:
                        view.state = "closed"
            elif action is None:
                opened.state = "closed"

    def _replace_or_push(self, opened: OpenedView, action: str, view: dict[str, Any]) -> None:
        if action == "update":
            opened.view = {**view, "id": opened.id, "state": {"values": {}}}
            opened.errors = {}
            return
        view_id = f"V{next(self._view_ids)}"
        shown = {**view, "id": view_id, "state": {"values": {}}}
        self.opened.append(OpenedView(view_id, opened.user, shown, root=opened.root))

    def _replace_message(self, channel: str, ts: str, message: dict[str, Any]) -> None:
        with self._lock:
            for posted in self.messages:
                if posted.channel == channel and posted.ts == ts:
                    posted.text = str(message.get("text") or posted.text)
                    posted.blocks = list(message.get("blocks") or posted.blocks)
                    posted.updated = True

    def _shown_view(self, user: str, *, view_id: str | None = None, home: str | None = None) -> OpenedView:
        """The modal or Home view `user` acts on: it must be open, and theirs (Slack shows a view to one user)."""
        if home is not None:
            with self._lock:
                opened = self.homes.get(home)
        else:
            opened = self.find_view(view_id or "")
        if opened is None:
            raise Refused(404, "view_not_found")
        if opened.state != "open":
            raise Refused(409, "view_closed")
        if opened.user and opened.user != user:
            raise Refused(403, f"view {opened.id} is shown to {opened.user}, not {user}")
        return opened

    def _sent_view(self, opened: OpenedView, state: dict[str, Any]) -> dict[str, Any]:
        """The view as Slack puts it in a payload: the app's view with its id, the team's and what was typed."""
        return {
            **opened.view,
            "id": opened.id,
            "team_id": TEAM["id"],
            "app_id": APP_ID,
            "type": opened.view.get("type", "modal"),
            "callback_id": opened.view.get("callback_id", ""),
            "private_metadata": opened.view.get("private_metadata", ""),
            "root_view_id": opened.root,
            "state": state,
        }

    # --- the HTTP side ----------------------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path, _, query = request.path.partition("?")
        if request.command == "GET" and (path == "/" or path.startswith("/_emulator/page/")):
            return self._serve_page(request, path.removeprefix("/_emulator/page/") if path != "/" else "index.html")
        if not path.startswith("/_emulator/"):
            return super()._handle(request)
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        route = path.removeprefix("/_emulator/")
        arguments = dict(parse_qsl(query))
        try:
            if route.startswith("files/") and request.command == "GET":
                return self._serve_file(request, route.removeprefix("files/"))
            if route == "click" and FORM in (request.headers.get("Content-Type") or ""):
                return self._click_from_form(request, dict(parse_qsl(body.decode())))
            return _json(request, 200, self._route(request.command, route, arguments, body))
        except Refused as refused:
            return _json(request, refused.status, {"error": refused.error})
        except KeyError as missing:
            return _json(request, 400, {"error": f"missing {missing}"})
        except (ValueError, TypeError) as malformed:
            return _json(request, 400, {"error": f"malformed request: {malformed}"})

    def _route(self, method: str, route: str, arguments: dict[str, str], body: bytes) -> Any:
        """What each /_emulator/ route answers (errors are raised as Refused)."""
        if route.startswith("respond/") and method == "POST":
            self.respond(route.removeprefix("respond/"), json.loads(body or b"{}"))
            return {"ok": True}
        reads: dict[str, Callable[[dict[str, str]], Any]] = {
            "messages": lambda a: self._messages(a.get("channel")),
            "ephemeral": lambda a: self._ephemeral(a.get("user")),
            "files": lambda a: self._files(with_content=True),
            "views": lambda a: self._view_records(a.get("user")),
            "calls": lambda a: self._calls(),
            "users": lambda a: self.users,
            "home": lambda a: self.open_home(a["user"]),
            "state": lambda a: self.state(a.get("user", "")),
        }
        acts: dict[str, Callable[[dict[str, Any]], Any]] = {
            "command": lambda f: self.command(f["user"], f["command"], f.get("text", ""), f.get("channel")).answer(),
            "shortcut": lambda f: self.shortcut(f["user"], f["callback_id"]).answer(),
            "click": self._click_from_json,
            "submit": lambda f: self.submit(f["view_id"], f["user"], f.get("values") or {}).answer(),
            "close": self._close_from_json,
            "fail": self._fail_from_json,
        }
        if method == "GET" and route in reads:
            return reads[route](arguments)
        if method == "POST" and route in acts:
            return acts[route](json.loads(body or b"{}"))
        raise Refused(404, "not_found")

    def _click_from_json(self, fields: dict[str, Any]) -> dict[str, Any]:
        if "view_id" in fields or "home" in fields:
            return self.click_view(
                fields["block_id"],
                fields["action_id"],
                fields["user"],
                view_id=fields.get("view_id"),
                home=fields.get("home"),
                value=fields.get("value"),
                values=fields.get("values"),
            ).answer()
        return self.click(
            fields["channel"],
            fields["ts"],
            fields["action_id"],
            fields["user"],
            fields.get("block_id"),
            fields.get("value"),
        ).answer()

    def _click_from_form(self, request: BaseHTTPRequestHandler, fields: dict[str, str]) -> None:
        """A click from a plain HTML form: acted on, then back to the page."""
        self.click(fields["channel"], fields["ts"], fields["action_id"], fields["user"], fields.get("block_id"))
        request.send_response(303)
        request.send_header("Location", "/")
        request.send_header("Content-Length", "0")
        request.end_headers()

    def _close_from_json(self, fields: dict[str, Any]) -> dict[str, Any]:
        delivery = self.close(fields["view_id"], fields["user"])
        return {"closed": fields["view_id"], **(delivery.answer() if delivery is not None else {})}

    def _fail_from_json(self, fields: dict[str, Any]) -> dict[str, Any]:
        # {"status": 429, "times": 1, "retry_after": 1}: the next Web API calls fail, to try rate limits
        retry_after = fields.get("retry_after")
        self.fail_next(
            int(fields.get("status", 429)),
            times=int(fields.get("times", 1)),
            retry_after=None if retry_after is None else int(retry_after),
        )
        return {"ok": True}

    # --- what the page and scripts read -------------------------------------------------------------------------------

    def state(self, user: str) -> dict[str, Any]:
        """Everything the page draws for `user`, in one read: it polls this."""
        with self._lock:
            home = self.homes.get(user)
        messages = self._messages(None)
        return {
            "user": user,
            "users": {uid: {"name": u.get("name", uid)} for uid, u in self.users.items()},
            "channels": sorted({m["channel"] for m in messages if not m["channel"].startswith("D")}),
            "messages": messages,
            "ephemeral": self._ephemeral(user),
            "files": self._files(with_content=False),
            "views": [v for v in self._view_records(user) if v["state"] == "open"],
            "home": home.view if home is not None else None,
            "shortcuts": self.shortcuts,
            "commands": self.commands,
        }

    def _messages(self, channel: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(m) for m in self.messages if channel is None or m.channel == channel]

    def _ephemeral(self, user: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self.ephemeral if user is None or e["user"] == user]

    def _view_records(self, user: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [v.record() for v in self.opened if user is None or v.user == user]

    def _calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"method": m, "arguments": a} for m, a in self.calls]

    def _files(self, *, with_content: bool) -> list[dict[str, Any]]:
        with self._lock:
            files = list(self.files)
        described = []
        for f in files:
            entry = {
                "id": f["id"],
                "channel": f["channel"],
                "user": f["channel"][1:] if f["channel"][1:] in self.users else None,  # DMs are "D" + user id
                "name": f["name"],
                "title": f["title"],
                "initial_comment": f["initial_comment"],
                "size": len(f["content"]),
                "url": f"/_emulator/files/{f['id']}",
            }
            if with_content:
                entry["content"] = base64.b64encode(f["content"]).decode("ascii")
            described.append(entry)
        return described

    def _serve_file(self, request: BaseHTTPRequestHandler, file_id: str) -> None:
        """A file's bytes as a download, never as something the browser would render (it may be attacker text)."""
        with self._lock:
            found = next((f for f in self.files if f["id"] == file_id), None)
        if found is None:
            raise Refused(404, "file_not_found")
        name = re.sub(r"[^A-Za-z0-9._-]", "_", str(found["name"])) or "file"
        headers = {"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"}
        _send(request, 200, bytes(found["content"]), "application/octet-stream", headers)

    def _serve_page(self, request: BaseHTTPRequestHandler, name: str) -> None:
        kinds = {"index.html": "text/html; charset=utf-8", **PAGE_FILES}
        if name not in kinds:
            return _json(request, 404, {"error": "not_found"})
        headers = {
            "Content-Security-Policy": PAGE_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        }
        _send(request, 200, (PAGE_DIR / name).read_bytes(), kinds[name], headers)


def fill_state(view: dict[str, Any], values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """view.state as Slack sends it: every input of the view, filled from `values` ({block_id: {action_id: v}})
    the way Slack fills that element's type; where nothing was given, what the element showed when the view opened
    (its initial value or option), else empty (null)."""
    elements = dict(_inputs(view.get("blocks") or []))
    for block_id, actions in values.items():
        for action_id in actions:
            if (block_id, action_id) not in elements:
                raise Refused(400, f"the view has no input {block_id}/{action_id}")
    state: dict[str, dict[str, Any]] = {}
    for (block_id, action_id), element in elements.items():
        given = values.get(block_id, {}).get(action_id)
        state.setdefault(block_id, {})[action_id] = _element_state(element, given)
    return {"values": state}


def _inputs(blocks: list[dict[str, Any]]) -> Iterator[tuple[tuple[str, str], dict[str, Any]]]:
    """Each element whose value Slack keeps in view.state, by (block_id, action_id)."""
    for block in blocks:
        block_id = str(block.get("block_id") or "")
        if block.get("type") == "input":
            candidates = [block.get("element") or {}]
        elif block.get("type") == "actions":
            candidates = list(block.get("elements") or [])
        else:
            candidates = [block.get("accessory") or {}]
        for element in candidates:
            kind = element.get("type")
            if element.get("action_id") and (kind in _STATE_KEYS or kind in _OPTION_ELEMENTS):
                yield (block_id, str(element["action_id"])), element


def _element_state(element: dict[str, Any], given: Any) -> dict[str, Any]:
    kind = str(element.get("type"))
    shown = element.get(_INITIAL_KEYS[kind])
    if kind in _OPTION_ELEMENTS:
        selected = _option(element, str(given)) if given is not None else dict(shown) if shown else None
        return {"type": kind, "selected_option": selected}
    return {"type": kind, _STATE_KEYS[kind]: shown if given is None else given}


def _option(element: dict[str, Any], value: str) -> dict[str, Any]:
    """The option object of a select or radio group whose value is `value`, as Slack sends the selected one."""
    grouped = [o for group in element.get("option_groups") or [] for o in group.get("options") or []]
    for option in [*(element.get("options") or []), *grouped]:
        if option.get("value") == value:
            return dict(option)
    raise Refused(400, f"{element.get('action_id')} has no option with value {value!r}")


def _action(blocks: list[dict[str, Any]], action_id: str, block_id: str | None, value: str | None) -> dict[str, Any]:
    """The `actions` entry of block_actions for the element clicked (a button) or picked from (a select)."""
    for block in blocks:
        if block_id is not None and block.get("block_id") != block_id:
            continue
        elements = (block.get("elements") or []) if block.get("type") == "actions" else [block.get("accessory") or {}]
        for element in elements:
            if element.get("action_id") == action_id:
                return _clicked(element, str(block.get("block_id") or ""), value)
    raise Refused(404, "action_not_found")


def _clicked(element: dict[str, Any], block_id: str, value: str | None) -> dict[str, Any]:
    kind = str(element.get("type", "button"))
    action = {"action_id": element["action_id"], "block_id": block_id, "type": kind}
    if kind in _OPTION_ELEMENTS:
        return {**action, "selected_option": _option(element, str(value))}
    return {**action, "value": element.get("value", ""), "text": element.get("text", {})}


def _valid_modal(view: Any) -> bool:
    """Whether Slack would show this view from a response_action (update/push), read with slack_sdk's models."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        return False
    try:
        validate_view(view)
    except (SlackObjectFormationError, TypeError, ValueError, KeyError):
        return False
    return True


def _parsed(raw: bytes, content_type: str) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _json(request: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    _send(request, status, json.dumps(body).encode(), "application/json")


def _send(
    request: BaseHTTPRequestHandler,
    status: int,
    payload: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> None:
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(payload)))
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(payload)
