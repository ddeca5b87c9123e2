"""The Slack stand-in with what people and scripts use in place of the Slack client: a page and /_emulator/."""

from __future__ import annotations

import base64
import html
import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode

from slack_sdk.signature import SignatureVerifier

from devstack.slack import SlackStandIn


@dataclass
class SlackEmulator(SlackStandIn):
    """The stand-in, plus clicks signed as Slack signs them and sent to the service's interactions URL."""

    interactions_url: str = ""
    signing_secret: str = ""

    @property
    def base_url(self) -> str:
        """The page's URL (the Web API is under /api/)."""
        return self.api_url.removesuffix("api/")

    def click(self, channel: str, ts: str, action_id: str, user: str) -> tuple[int, dict[str, Any]]:
        """`user` clicks the button `action_id` on a message: the HTTP status and timing of the service's answer."""
        with self._lock:
            message = next((m for m in self.messages if m.channel == channel and m.ts == ts), None)
        if message is None:
            return 404, {"error": "message_not_found"}
        button = _find_button(message.blocks, action_id)
        if button is None:
            return 404, {"error": "action_not_found"}
        payload = {
            "type": "block_actions",
            "user": {"id": user, "team_id": "T0DEV"},
            "trigger_id": f"{time.time():.6f}.dev",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "channel": {"id": channel},
            "message": {"ts": ts, "text": message.text, "blocks": message.blocks},
            "actions": [{**button, "action_ts": f"{time.time():.6f}"}],
        }
        status, elapsed = self.send_interaction(urlencode({"payload": json.dumps(payload)}).encode())
        return 200, {"status": status, "elapsed_ms": elapsed}

    def submit(self, view_id: str, user: str, values: dict[str, dict[str, str]]) -> tuple[int, dict[str, Any]]:
        """`user` submits an opened view (a modal) with text in its inputs: {block_id: {action_id: text}}."""
        with self._lock:
            index = int(view_id.removeprefix("V")) - 1 if view_id.removeprefix("V").isdigit() else -1
            view = dict(self.views[index]) if 0 <= index < len(self.views) else None
        if view is None:
            return 404, {"error": "view_not_found"}
        view["id"] = view_id
        view["state"] = {
            "values": {
                block: {action: {"type": "plain_text_input", "value": text} for action, text in actions.items()}
                for block, actions in values.items()
            }
        }
        payload = {"type": "view_submission", "user": {"id": user, "team_id": "T0DEV"}, "view": view}
        status, elapsed = self.send_interaction(urlencode({"payload": json.dumps(payload)}).encode())
        return 200, {"status": status, "elapsed_ms": elapsed}

    def send_interaction(
        self, body: bytes, timestamp: int | None = None, signature: str | None = None
    ) -> tuple[int, float]:
        """POST a form body to the interactions URL signed with the signing secret; status and milliseconds."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        verifier = SignatureVerifier(self.signing_secret)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature or str(verifier.generate_signature(timestamp=stamp, body=body.decode())),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        request = urllib.request.Request(self.interactions_url, data=body, headers=headers, method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as refused:
            status = int(refused.code)
        return status, round((time.monotonic() - started) * 1000, 1)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path, _, query = request.path.partition("?")
        if path == "/" and request.command == "GET":
            return _send(request, 200, self._page().encode(), "text/html; charset=utf-8")
        if not path.startswith("/_emulator/"):
            return super()._handle(request)
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        arguments = dict(parse_qsl(query))
        route = (request.command, path.removeprefix("/_emulator/"))
        if route == ("GET", "messages"):
            return _json(request, 200, self._messages(arguments.get("channel")))
        if route == ("GET", "ephemeral"):
            with self._lock:
                return _json(request, 200, list(self.ephemeral))
        if route == ("GET", "files"):
            return _json(request, 200, self._files())
        if route == ("GET", "views"):
            with self._lock:
                return _json(request, 200, [{"id": f"V{i + 1}", **v} for i, v in enumerate(self.views)])
        if route == ("POST", "submit"):
            fields = json.loads(body or b"{}")
            try:
                status, answer = self.submit(fields["view_id"], fields["user"], fields.get("values", {}))
            except KeyError as missing:
                return _json(request, 400, {"error": f"missing {missing}"})
            return _json(request, status, answer)
        if route == ("GET", "calls"):
            with self._lock:
                return _json(request, 200, [{"method": m, "arguments": a} for m, a in self.calls])
        if route == ("GET", "users"):
            return _json(request, 200, self.users)
        if route == ("POST", "fail"):
            # {"status": 429, "times": 1, "retry_after": 1}: the next Web API calls fail, to try rate limits
            fields = json.loads(body or b"{}")
            retry_after = fields.get("retry_after")
            self.fail_next(
                int(fields.get("status", 429)),
                times=int(fields.get("times", 1)),
                retry_after=None if retry_after is None else int(retry_after),
            )
            return _json(request, 200, {"ok": True})
        if route == ("POST", "click"):
            form = "form" in (request.headers.get("Content-Type") or "")
            fields = dict(parse_qsl(body.decode())) if form else json.loads(body or b"{}")
            try:
                status, answer = self.click(fields["channel"], fields["ts"], fields["action_id"], fields["user"])
            except KeyError as missing:
                return _json(request, 400, {"error": f"missing {missing}"})
            if form:  # from the page: back to it
                request.send_response(303)
                request.send_header("Location", "/")
                request.send_header("Content-Length", "0")
                request.end_headers()
                return None
            return _json(request, status, answer)
        return _json(request, 404, {"error": "not_found"})

    def _messages(self, channel: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(m) for m in self.messages if channel is None or m.channel == channel]

    def _files(self) -> list[dict[str, Any]]:
        with self._lock:
            files = list(self.files)
        return [
            {
                "channel": f["channel"],
                "user": f["channel"][1:] if f["channel"][1:] in self.users else None,  # DMs are "D" + user id
                "name": f["name"],
                "title": f["title"],
                "initial_comment": f["initial_comment"],
                "content": base64.b64encode(f["content"]).decode("ascii"),
            }
            for f in files
        ]

    def _page(self) -> str:
        users = "".join(
            f'<option value="{html.escape(uid)}">{html.escape(u["name"])} ({html.escape(uid)})</option>'
            for uid, u in self.users.items()
        )
        rows = []
        for message in self._messages(None):
            buttons = "".join(
                f'<button name="action_id" value="{html.escape(b["action_id"])}">'
                f"{html.escape(str(b.get('text', {}).get('text', b['action_id'])))}</button>"
                for b in _buttons(message["blocks"])
            )
            form = (
                f'<form method="post" action="/_emulator/click"><input type="hidden" name="channel" '
                f'value="{html.escape(message["channel"])}"><input type="hidden" name="ts" '
                f'value="{html.escape(message["ts"])}"><select name="user">{users}</select>{buttons}</form>'
                if buttons
                else ""
            )
            rows.append(
                f"<li><b>{html.escape(message['channel'])}</b> {html.escape(message['ts'])}"
                f"{' (updated)' if message['updated'] else ''}<pre>{html.escape(message['text'])}</pre>{form}</li>"
            )
        return (
            "<!doctype html><html><head><title>csrgate dev Slack</title>"
            '<meta http-equiv="refresh" content="5"></head><body><h1>Messages</h1>'
            f"<ul>{''.join(rows)}</ul></body></html>"
        )


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        element
        for block in blocks
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if element.get("type") == "button"
    ]


def _find_button(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any] | None:
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return {
                    "action_id": action_id,
                    "block_id": block.get("block_id", ""),
                    "value": element.get("value", ""),
                    "type": element.get("type", "button"),
                }
    return None


def _json(request: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    _send(request, status, json.dumps(body).encode(), "application/json")


def _send(request: BaseHTTPRequestHandler, status: int, payload: bytes, content_type: str) -> None:
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(payload)))
    request.end_headers()
    request.wfile.write(payload)
