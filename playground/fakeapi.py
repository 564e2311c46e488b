"""A stand-in for the Telegram Bot API, plugged into PTB as its HTTP layer.

`FakeBotAPI` is a `telegram.request.BaseRequest`: the real `Bot` serialises
each call exactly as it would for Telegram, and this class answers like
Telegram does. It records every call, keeps each chat's messages (with edits),
knows which users are in which groups, can inject faults (429, Forbidden,
network errors) and never opens a socket.
"""

from __future__ import annotations

import asyncio
import json
import time as _time
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from telegram.error import NetworkError
from telegram.request import BaseRequest, RequestData

BOT_ID = 777000111
BOT_USERNAME = "TrellisBot"


ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
}


class _HTMLCheck(HTMLParser):
    """Parses text the way Telegram's HTML parse mode must accept it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problem = self.problem or f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.problem = self.problem or f'unexpected end tag "{tag}"'

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def telegram_problem(params: dict[str, Any], field: str, limit: int) -> str | None:
    """Why Telegram would answer 400 to this text (HTML parse mode), or None."""
    raw = params.get(field)
    if raw is None:
        return None
    check = _HTMLCheck()
    check.feed(str(raw))
    check.close()
    if check.problem or check.stack:
        return f"can't parse entities: {check.problem or 'unclosed tag'}"
    visible = "".join(check.text)
    if len(visible.encode("utf-16-le")) // 2 > limit:
        return f"{field} is too long"
    if field == "text" and not visible.strip():
        return "message text is empty"
    return None


def markup_problem(params: dict[str, Any]) -> str | None:
    markup = params.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode("utf-8")) <= 64:
                return "BUTTON_DATA_INVALID"
    return None


class ProcessKilled(BaseException):
    """Raised by a 'die' fault: like SIGKILL, nothing in the bot may catch it."""


@dataclass
class Sent:
    """One message as the chat shows it now (edits applied)."""

    chat_id: int
    message_id: int
    text: str
    buttons: list[list[dict[str, Any]]] = field(default_factory=list)
    protect: bool = False
    photo: bytes | None = None
    document: bytes | None = None
    filename: str | None = None
    edits: int = 0

    def button_texts(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    refused: bool = False  # answered with a fault: nothing reached the chat


@dataclass
class Fault:
    """Answer the next `times` calls of `method` (to `chat_id`, if given) with an error."""

    method: str
    kind: str  # 'retry_after' | 'forbidden' | 'network' | 'bad_request' | 'die'
    chat_id: int | None = None
    times: int = 1
    retry_after: int = 1
    description: str = "Bad Request: simulated"  # what a 'bad_request' says


class FakeBotAPI(BaseRequest):
    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self.calls: list[Call] = []
        self.chats: dict[int, list[Sent]] = defaultdict(list)
        self.group_members: dict[int, set[int]] = {}
        self.group_titles: dict[int, str] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.blocked: set[int] = set()
        self.faults: list[Fault] = []
        # group id -> supergroup id: the old id answers 400 with migrate_to_chat_id
        self.migrated: dict[int, int] = {}
        self._next_id: dict[int, int] = defaultdict(int)
        # A test holds sends to one chat (`hold`) to act while one is in flight: `holding`
        # is set when a send is waiting there, `release` lets every held send go on.
        self.hold: int | None = None
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    # -- BaseRequest -------------------------------------------------------

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        files: dict[str, Any] = {}
        if request_data is not None and request_data.contains_files:
            files = dict(request_data.multipart_data)
        if self.latency:
            await asyncio.sleep(self.latency)
        held = api_method == "sendMessage" and _int(params.get("chat_id")) == self.hold
        if held and not self.release.is_set():
            self.holding.set()
            await self.release.wait()
        return self.answer(api_method, params, files)

    def answer(
        self, api_method: str, params: dict[str, Any], files: dict[str, Any]
    ) -> tuple[int, bytes]:
        """Telegram's answer to one call (also served over HTTP by playground/fakehttp.py)."""
        self.calls.append(Call(api_method, params, _time.monotonic()))
        fault = self._fault_for(api_method, params)
        if fault is not None:
            self.calls[-1].refused = True
            return self._error(fault)
        chat_id = _int(params.get("chat_id"))
        if chat_id is not None and chat_id in self.migrated:
            body = {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: group chat was upgraded to a supergroup chat",
                "parameters": {"migrate_to_chat_id": self.migrated[chat_id]},
            }
            return 400, json.dumps(body).encode()
        if chat_id is not None and chat_id in self.blocked and api_method.startswith("send"):
            return self._error(Fault(api_method, "forbidden"))
        problem = self._refusal(api_method, params)
        if problem is not None:
            body = {"ok": False, "error_code": 400, "description": f"Bad Request: {problem}"}
            return 400, json.dumps(body).encode()
        handler = getattr(self, f"_api_{api_method}", None)
        if handler is None:
            return _ok(True)
        return _ok(handler(params, files))

    @staticmethod
    def _refusal(method: str, params: dict[str, Any]) -> str | None:
        """What Telegram itself would refuse: lengths, HTML, callback data, toast size."""
        if method in ("sendMessage", "editMessageText"):
            return telegram_problem(params, "text", 4096) or markup_problem(params)
        if method in ("sendPhoto", "sendDocument"):
            return telegram_problem(params, "caption", 1024) or markup_problem(params)
        if method == "answerCallbackQuery" and len(params.get("text") or "") > 200:
            return "MESSAGE_TOO_LONG"
        return None

    # -- faults ------------------------------------------------------------

    def _fault_for(self, method: str, params: dict[str, Any]) -> Fault | None:
        for fault in self.faults:
            if fault.method != method or fault.times <= 0:
                continue
            if fault.chat_id is not None and _int(params.get("chat_id")) != fault.chat_id:
                continue
            fault.times -= 1
            return fault
        return None

    @staticmethod
    def _error(fault: Fault) -> tuple[int, bytes]:
        if fault.kind == "die":
            raise ProcessKilled("simulated kill -9 during a Bot API call")
        if fault.kind == "network":
            raise NetworkError("simulated network failure")
        if fault.kind == "retry_after":
            body = {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {fault.retry_after}",
                "parameters": {"retry_after": fault.retry_after},
            }
            return 429, json.dumps(body).encode()
        if fault.kind == "forbidden":
            body = {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            }
            return 403, json.dumps(body).encode()
        body = {"ok": False, "error_code": 400, "description": fault.description}
        return 400, json.dumps(body).encode()

    # -- Bot API methods ---------------------------------------------------

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id < 0:
            return {"id": chat_id, "type": "group", "title": self.group_titles.get(chat_id, "Us")}
        user = self.users.get(chat_id, {"first_name": "User"})
        return {"id": chat_id, "type": "private", "first_name": user["first_name"]}

    def _message(self, sent: Sent) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(_time.time()),
            "chat": self._chat(sent.chat_id),
            "from": {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Trellis",
                "username": BOT_USERNAME,
            },
        }
        if sent.photo is not None:
            msg["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
            msg["caption"] = sent.text
        elif sent.document is not None:
            msg["document"] = {"file_id": "d", "file_unique_id": "d", "file_name": sent.filename}
            msg["caption"] = sent.text
        else:
            msg["text"] = sent.text
        if sent.buttons:
            msg["reply_markup"] = {"inline_keyboard": sent.buttons}
        return msg

    def _store(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        self._next_id[chat_id] += 1
        markup = params.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        sent = Sent(
            chat_id=chat_id,
            message_id=self._next_id[chat_id],
            text=params.get("text") or params.get("caption") or "",
            buttons=markup.get("inline_keyboard", []),
            protect=bool(params.get("protect_content")),
            **extra,
        )
        self.chats[chat_id].append(sent)
        return self._message(sent)

    def _api_getMe(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Trellis",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
        }

    def _api_sendMessage(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        return self._store(params)

    def _api_sendPhoto(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        data = next(iter(files.values()))[1] if files else b""
        return self._store(params, photo=data)

    def _api_sendDocument(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        name, data = (next(iter(files.values()))[:2]) if files else ("file", b"")
        return self._store(params, document=data, filename=name)

    def _find(self, params: dict[str, Any]) -> Sent:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        for sent in self.chats[chat_id]:
            if sent.message_id == message_id:
                return sent
        raise KeyError((chat_id, message_id))

    def _api_editMessageText(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        sent = self._find(params)
        sent.text = params["text"]
        markup = params.get("reply_markup") or {}
        sent.buttons = markup.get("inline_keyboard", [])
        sent.edits += 1
        return self._message(sent)

    def _api_editMessageReplyMarkup(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> dict[str, Any]:
        sent = self._find(params)
        sent.buttons = (params.get("reply_markup") or {}).get("inline_keyboard", [])
        sent.edits += 1
        return self._message(sent)

    def _api_getChatMember(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        user = {"id": user_id, "is_bot": False, **self.users.get(user_id, {"first_name": "X"})}
        status = "member" if user_id in self.group_members.get(chat_id, set()) else "left"
        return {"status": status, "user": user}

    def _api_getChatMemberCount(self, params: dict[str, Any], files: dict[str, Any]) -> int:
        # The bot counts as a member, as on Telegram.
        return len(self.group_members.get(int(params["chat_id"]), set())) + 1

    def _api_getUpdates(self, params: dict[str, Any], files: dict[str, Any]) -> list[Any]:
        return []

    # -- what tests read -----------------------------------------------------

    def sent_to(self, chat_id: int) -> list[Sent]:
        return list(self.chats[chat_id])

    def last(self, chat_id: int) -> Sent:
        return self.chats[chat_id][-1]

    def texts(self, chat_id: int) -> list[str]:
        return [s.text for s in self.chats[chat_id]]

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _ok(result: Any) -> tuple[int, bytes]:
    return 200, json.dumps({"ok": True, "result": result}).encode()
