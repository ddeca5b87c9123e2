"""A Slack Web API stand-in: the methods csrgate calls, over real HTTP, with tokens checked and failures on demand."""

from __future__ import annotations

import itertools
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block, Option, OptionGroup
from slack_sdk.models.views import View


@dataclass
class PostedMessage:
    """A message as the stand-in holds it."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    updated: bool = False


@dataclass
class Trigger:
    """A trigger_id Slack issued with a command, shortcut or click: one views.open (or push), within seconds."""

    user: str
    issued: float
    used: bool = False


@dataclass
class OpenedView:
    """A view the app opened, pushed or published, as Slack keeps it: the view itself carries its id."""

    id: str
    user: str
    view: dict[str, Any]
    root: str = ""  # the modal at the bottom of a pushed stack; "clear" closes the whole stack
    state: str = "open"
    errors: dict[str, str] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What /_emulator/views lists: the view, and who sees it, whether it is open and its inline errors."""
        return {**self.view, "user": self.user, "state": self.state, "errors": dict(self.errors)}


# Slack's limit on how long a trigger_id may wait for views.open (api.slack.com/interactivity/handling#modal_responses)
TRIGGER_LIFETIME = 3.0


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    error: str


@dataclass
class SlackStandIn:
    """Serves /api/chat.postMessage and /api/chat.update on 127.0.0.1; `fail_next` makes the next calls fail."""

    token: str = "xoxb-stand-in"
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {"name", "email"}
    groups: dict[str, list[str]] = field(default_factory=dict)  # user group id -> member ids
    messages: list[PostedMessage] = field(default_factory=list)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    opened: list[OpenedView] = field(default_factory=list)  # modals, in the order they were opened or pushed
    homes: dict[str, OpenedView] = field(default_factory=dict)  # user id -> the Home view published for them
    triggers: dict[str, Trigger] = field(default_factory=dict)
    # The bare stand-in takes any trigger_id, since its callers build their own payloads; the emulator issues them
    # and checks them as Slack does.
    check_triggers: bool = False
    clock: Callable[[], float] = time.time
    # Slack's limit on chat.postMessage, about one message per second in a channel: when set, a post sooner than
    # that after the channel's last is answered 429 with Retry-After, as Slack does. Off unless a test asks for it.
    channel_posts_per_second: float | None = None
    rate_limited: int = 0  # posts answered 429 by that limit
    _channel_posted: dict[str, float] = field(default_factory=dict)  # channel -> when its last post was accepted
    files: list[dict[str, Any]] = field(default_factory=list)  # completed uploads: channel, name, title, content
    _uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # when each call of `calls` came (time.time()), at the same index: to count calls per time window
    call_times: list[float] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _view_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None

    @property
    def api_url(self) -> str:
        """The base URL for `WebClient(base_url=...)`."""
        assert self._server is not None, "start the stand-in first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    @property
    def views(self) -> list[dict[str, Any]]:
        """Every modal opened or pushed, as Slack has it (with its id), oldest first."""
        with self._lock:
            return [opened.view for opened in self.opened]

    def issue_trigger(self, user: str) -> str:
        """A fresh trigger_id for something `user` did, remembered with when it was issued."""
        trigger_id = f"{int(self.clock() * 1000)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"
        with self._lock:
            self.triggers[trigger_id] = Trigger(user, self.clock())
        return trigger_id

    def find_view(self, view_id: str) -> OpenedView | None:
        """A modal or Home view by id."""
        with self._lock:
            return next((v for v in [*self.opened, *self.homes.values()] if v.id == view_id), None)

    def fail_next(self, status: int, *, times: int = 1, retry_after: int | None = None, error: str = "") -> None:
        """Answer the next `times` calls with this HTTP status (429 with Retry-After, 500, or 200 with an error)."""
        with self._lock:
            self._failures.extend(_Failure(status, retry_after, error or _default_error(status)) for _ in range(times))

    def start(self) -> SlackStandIn:
        """Listen on a free port in a background thread."""
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                stand_in._handle(self)

            def do_GET(self) -> None:
                stand_in._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # a short poll interval: stop() waits for the next poll, and tests stop a stand-in each
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path, _, query = request.path.partition("?")
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        if path.startswith("/upload/"):
            return self._receive_upload(request, path.removeprefix("/upload/"), body)
        method = path.removeprefix("/api/")
        raw = body.decode("utf-8")
        arguments: dict[str, Any] = dict(parse_qsl(query))
        if "json" in (request.headers.get("Content-Type") or ""):
            arguments.update(json.loads(raw or "{}"))
        else:
            arguments.update(parse_qsl(raw))
        with self._lock:
            self.calls.append((method, arguments))
            self.call_times.append(time.time())
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return _answer(request, failure.status, {"ok": False, "error": failure.error}, headers)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _answer(request, 200, {"ok": False, "error": "invalid_auth"})
        wait = self._channel_wait(method, arguments)
        if wait:
            return _answer(request, 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)})
        handlers = {
            "chat.postMessage": self._post,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "users.info": self._user_info,
            "usergroups.users.list": self._group_members,
            "views.open": self._open_view,
            "views.push": self._push_view,
            "views.update": self._update_view,
            "views.publish": self._publish_view,
            "users.lookupByEmail": self._lookup_by_email,
            "conversations.open": self._open_conversation,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }
        handler = handlers.get(method)
        if handler is None:
            return _answer(request, 200, {"ok": False, "error": "unknown_method"})
        refused = _malformed(method, arguments)
        if refused is not None:
            return _answer(request, 200, {"ok": False, "error": refused})
        return _answer(request, 200, handler(arguments))

    def _channel_wait(self, method: str, arguments: dict[str, Any]) -> int:
        """Whole seconds to wait before posting to the channel again (0: post now, and count it as posted)."""
        if method != "chat.postMessage" or not self.channel_posts_per_second:
            return 0
        channel, now = str(arguments.get("channel", "")), self.clock()
        with self._lock:
            due = self._channel_posted.get(channel, float("-inf")) + 1 / self.channel_posts_per_second
            if now < due:
                self.rate_limited += 1
                return max(1, math.ceil(due - now))
            self._channel_posted[channel] = now
        return 0

    def _lookup_by_email(self, arguments: dict[str, Any]) -> dict[str, Any]:
        email = str(arguments.get("email") or "").casefold()
        for user_id, user in self.users.items():
            if user.get("email", "").casefold() == email:
                return {"ok": True, "user": {"id": user_id, "name": user["name"], "profile": {"email": user["email"]}}}
        return {"ok": False, "error": "users_not_found"}

    def _open_conversation(self, arguments: dict[str, Any]) -> dict[str, Any]:
        user = str(arguments.get("users") or "")
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": f"D{user}"}}

    def _upload_url(self, arguments: dict[str, Any]) -> dict[str, Any]:
        assert self._server is not None
        with self._lock:
            file_id = f"F{len(self._uploads) + 1:06d}"
            self._uploads[file_id] = {"name": str(arguments.get("filename") or ""), "content": None}
        port = self._server.server_address[1]
        return {"ok": True, "file_id": file_id, "upload_url": f"http://127.0.0.1:{port}/upload/{file_id}"}

    def _receive_upload(self, request: BaseHTTPRequestHandler, file_id: str, body: bytes) -> None:
        with self._lock:
            upload = self._uploads.get(file_id)
            if upload is not None:
                upload["content"] = body
        _answer(request, 200 if upload is not None else 404, {"ok": upload is not None})

    def _complete_upload(self, arguments: dict[str, Any]) -> dict[str, Any]:
        described = json.loads(str(arguments.get("files") or "[]"))
        channel = str(arguments.get("channel_id") or "")
        completed = []
        with self._lock:
            for entry in described:
                upload = self._uploads.get(str(entry.get("id")))
                if upload is None or upload["content"] is None:
                    return {"ok": False, "error": "file_not_found"}
                record = {
                    "id": entry["id"],
                    "channel": channel,
                    "name": upload["name"],
                    "title": entry.get("title") or upload["name"],
                    "content": upload["content"],
                    "initial_comment": str(arguments.get("initial_comment") or ""),
                }
                self.files.append(record)
                completed.append({"id": entry["id"], "name": upload["name"], "title": record["title"]})
        return {"ok": True, "files": completed}

    def _post_ephemeral(self, arguments: dict[str, Any]) -> dict[str, Any]:
        channel, user, text = (str(arguments.get(name)) for name in ("channel", "user", "text"))
        self.show_ephemeral(channel, user, text, arguments.get("blocks"))
        return {"ok": True, "message_ts": "0"}

    def show_ephemeral(self, channel: str, user: str, text: str, blocks: Any = None) -> None:
        """Record a message only `user` sees in `channel` (chat.postEphemeral, a command's answer, a response_url)."""
        shown: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks:
            shown["blocks"] = _blocks(blocks)
        with self._lock:
            self.ephemeral.append(shown)

    def _user_info(self, arguments: dict[str, Any]) -> dict[str, Any]:
        user_id = str(arguments.get("user"))
        user = self.users.get(user_id)
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": {"id": user_id, "name": user["name"], "profile": {"email": user.get("email", "")}}}

    def _group_members(self, arguments: dict[str, Any]) -> dict[str, Any]:
        members = self.groups.get(str(arguments.get("usergroup")))
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(members)}

    def _open_view(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return self._stack_view(arguments, root=None)

    def _push_view(self, arguments: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            top = next((v for v in reversed(self.opened) if v.state == "open"), None)
        if top is None:  # Slack pushes only onto a modal that is open
            return {"ok": False, "error": "not_found"}
        return self._stack_view(arguments, root=top.root)

    def _stack_view(self, arguments: dict[str, Any], root: str | None) -> dict[str, Any]:
        """views.open and views.push: a modal on the trigger's user's screen, once per trigger_id."""
        error, user = self._claim_trigger(str(arguments.get("trigger_id") or ""))
        if error is not None:
            return {"ok": False, "error": error}
        with self._lock:
            view_id = f"V{next(self._view_ids)}"
            opened = OpenedView(view_id, user, _as_shown(view_id, _view(arguments)), root=root or view_id)
            self.opened.append(opened)
        return {"ok": True, "view": opened.view}

    def _claim_trigger(self, trigger_id: str) -> tuple[str | None, str]:
        """The error Slack answers for this trigger_id (None if it may open a view) and the user it belongs to."""
        with self._lock:
            trigger = self.triggers.get(trigger_id)
            if not trigger_id or (trigger is None and self.check_triggers):
                return "invalid_trigger_id", ""
            if trigger is None:
                return None, ""
            if self.check_triggers and trigger.used:
                return "exchanged_trigger_id", trigger.user
            if self.check_triggers and self.clock() - trigger.issued > TRIGGER_LIFETIME:
                return "expired_trigger_id", trigger.user
            trigger.used = True
            return None, trigger.user

    def _update_view(self, arguments: dict[str, Any]) -> dict[str, Any]:
        opened = self.find_view(str(arguments.get("view_id") or ""))
        if opened is None:
            return {"ok": False, "error": "not_found"}
        with self._lock:
            opened.view = _as_shown(opened.id, _view(arguments))
            opened.errors = {}
        return {"ok": True, "view": opened.view}

    def _publish_view(self, arguments: dict[str, Any]) -> dict[str, Any]:
        user = str(arguments.get("user_id") or "")
        if not user or (self.users and user not in self.users):
            return {"ok": False, "error": "user_not_found"}
        with self._lock:
            previous = self.homes.get(user)
            view_id = previous.id if previous is not None else f"V{next(self._view_ids)}"
            self.homes[user] = OpenedView(view_id, user, _as_shown(view_id, _view(arguments)), root=view_id)
            return {"ok": True, "view": self.homes[user].view}

    def _post(self, arguments: dict[str, Any]) -> dict[str, Any]:
        channel = str(arguments.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        with self._lock:
            ts = f"{1_700_000_000 + next(self._ts)}.000100"
            message = PostedMessage(
                channel=channel,
                ts=ts,
                text=str(arguments.get("text") or ""),
                blocks=_blocks(arguments.get("blocks")),
                thread_ts=arguments.get("thread_ts"),
            )
            self.messages.append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": message.text}}

    def _update(self, arguments: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            for message in self.messages:
                if message.channel == arguments.get("channel") and message.ts == arguments.get("ts"):
                    message.text = str(arguments.get("text") or message.text)
                    message.blocks = _blocks(arguments.get("blocks")) or message.blocks
                    message.updated = True
                    return {"ok": True, "channel": message.channel, "ts": message.ts}
        return {"ok": False, "error": "message_not_found"}


@contextmanager
def running_slack(token: str = "xoxb-stand-in") -> Iterator[SlackStandIn]:
    """A started stand-in, stopped on exit."""
    stand_in = SlackStandIn(token=token).start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


_MAX_MESSAGE_BLOCKS = 50
# The view each views.* method takes: modals open and stack, Home tabs are published; update takes either.
_VIEW_TYPES = {"views.open": "modal", "views.push": "modal", "views.publish": "home", "views.update": None}


def _malformed(method: str, arguments: dict[str, Any]) -> str | None:
    """The error Slack would answer for blocks or a view its Block Kit rules refuse, read with slack_sdk's own
    models; None when they are fine."""
    try:
        if method in _VIEW_TYPES:
            view = _view(arguments)
            validate_view(view)
            wanted = _VIEW_TYPES[method]
            return None if wanted is None or view.get("type") == wanted else "invalid_arguments"
        blocks = _blocks(arguments.get("blocks"))
        if len(blocks) > _MAX_MESSAGE_BLOCKS:
            return "invalid_blocks"
        for raw in blocks:
            validate_block(raw)
    except (SlackObjectFormationError, TypeError, ValueError, KeyError):
        return "invalid_arguments" if method in _VIEW_TYPES else "invalid_blocks"
    return None


def validate_view(view: dict[str, Any]) -> None:
    """Raise SlackObjectFormationError (or TypeError, ValueError, KeyError for a shape no model takes) where Block
    Kit refuses the view: the view itself, each of its blocks and their elements, and each option."""
    View(**view).to_dict()  # to_dict validates every nested model, not only the view's own fields
    _validate_options(view.get("blocks"))


def validate_block(raw: dict[str, Any]) -> None:
    """Raise as validate_view does where Block Kit refuses the block, its elements or their options."""
    block = Block.parse(raw)
    if block is None:
        raise SlackObjectFormationError(f"unknown block type {raw.get('type')!r}")
    block.to_dict()
    _validate_options(raw)


_OPTION_LISTS = {"options": Option, "initial_options": Option, "option_groups": OptionGroup}


def _validate_options(value: Any) -> None:
    """Check each option and option group with slack_sdk's models: a select built from JSON keeps them as dicts, so
    its own to_dict never validates them (text of at most 75 characters, a value of at most 150)."""
    if isinstance(value, list):
        for item in value:
            _validate_options(item)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key in _OPTION_LISTS and isinstance(item, list):
            for raw in item:
                _OPTION_LISTS[key](**raw).to_dict()
        elif key == "initial_option" and isinstance(item, dict):
            Option(**item).to_dict()
        else:
            _validate_options(item)


def _view(arguments: dict[str, Any]) -> dict[str, Any]:
    view = arguments.get("view")
    return dict(json.loads(view) if isinstance(view, str) else view or {})


def _as_shown(view_id: str, view: dict[str, Any]) -> dict[str, Any]:
    """A view as Slack answers and sends it back: with its id and an empty state until someone types."""
    return {**view, "id": view_id, "state": {"values": {}}}


def _blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])


def _default_error(status: int) -> str:
    return {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}.get(status, "fatal_error")


def _answer(
    request: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode("utf-8")
    request.send_response(status)
    request.send_header("Content-Type", "application/json; charset=utf-8")
    request.send_header("Content-Length", str(len(payload)))
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(payload)
