"""The fake Bot API served over HTTP on 127.0.0.1, for the real `python -m bot` process.

`FakeTelegram` answers every method with `FakeBotAPI.answer` and adds what a separate
process needs: a real `getUpdates` with long polling, where updates are confirmed only
by the next call's `offset` (as on Telegram: an update handed out but not confirmed is
handed out again to the next poller, e.g. a restarted process), and a 401 for a wrong
token. It runs in a thread; every access to its state takes `lock`.
"""

from __future__ import annotations

import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from playground.fakeapi import FakeBotAPI

JSON_FIELDS = {
    "chat_id",
    "message_id",
    "user_id",
    "offset",
    "timeout",
    "limit",
    "protect_content",
    "show_alert",
    "reply_markup",
    "allowed_updates",
    "commands",
    "scope",
    "link_preview_options",
}
POLL_WAIT_CAP = 0.5  # seconds a getUpdates may wait here, whatever the bot asks


def _decode(fields: dict[str, str]) -> dict[str, Any]:
    """PTB sends each parameter JSON-encoded unless it is a string: decode the known ones."""
    params: dict[str, Any] = {}
    for name, value in fields.items():
        if name in JSON_FIELDS:
            try:
                params[name] = json.loads(value)
                continue
            except ValueError:
                pass
        params[name] = value
    return params


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A killed bot leaves its requests half-read: that is the point, not an error."""


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.api = FakeBotAPI()
        self.lock = threading.Condition()
        self.updates: list[dict[str, Any]] = []  # handed out until confirmed
        self.next_update_id = 1
        self.confirmed_up_to = 0
        self.polls = 0  # getUpdates calls: a started process polls
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/bot"

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = fake.handle(
                    self.path, self.headers.get("Content-Type") or "", body
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                return None

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- updates ---------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update as Telegram would; returns its update_id."""
        with self.lock:
            update_id = self.next_update_id
            self.next_update_id += 1
            self.updates.append({"update_id": update_id, **update})
            self.lock.notify_all()
            return update_id

    def unconfirmed(self) -> int:
        with self.lock:
            return len(self.updates)

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), POLL_WAIT_CAP)
        with self.lock:
            self.polls += 1
            if offset:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                self.confirmed_up_to = max(self.confirmed_up_to, offset - 1)
            if not self.updates and wait:
                self.lock.wait(wait)
            return list(self.updates[: int(params.get("limit") or 100)])

    # -- HTTP --------------------------------------------------------------------

    def handle(self, path: str, content_type: str, body: bytes) -> tuple[int, bytes]:
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            error = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return 401, json.dumps(error).encode()
        method = path[len(prefix) :]
        fields, files = self._parse(content_type, body)
        params = _decode(fields)
        if method == "getUpdates":
            return 200, json.dumps({"ok": True, "result": self._get_updates(params)}).encode()
        with self.lock:
            return self.api.answer(method, params, files)

    @staticmethod
    def _parse(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Any]]:
        if content_type.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
            )
            fields: dict[str, str] = {}
            files: dict[str, Any] = {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                data = part.get_payload(decode=True) or b""
                filename = part.get_filename()
                if filename:
                    files[str(name)] = (filename, data)
                else:
                    fields[str(name)] = data.decode("utf-8")
            return fields, files
        if content_type.startswith("application/json"):
            loaded = json.loads(body or b"{}")
            return {k: v if isinstance(v, str) else json.dumps(v) for k, v in loaded.items()}, {}
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}, {}
