"""The terminal playground: two partners talk to the real bot, and time moves on command.

Everything the bot does here goes through `bot.app.build_application` (via `World`)
against `FakeBotAPI`; this module only turns typed lines into updates and the fake
API's record back into text. It adds nothing to the bot that real users run.

Line grammar (one per line, in a script or at the prompt):

    a: hello             A says "hello" in A's private chat with the bot
    b@g: /pair           B says "/pair" in the couple's group
    a: #2                A presses button 2 of the newest message with buttons there
    a: #Yes, pair us     ...or the newest button whose label contains the text
                         (a link button does what Telegram would: "Send the link to
                         my partner" makes the partner open it)
    hello                the active partner, in their current chat
    /as b  /as b@g       switch the active partner (and chat)
    /press 2             the active partner presses button 2 in their current chat
    /open b              B opens the newest invite link A received (as if A sent it)
    /group               make a group holding both partners and add the bot to it
    /wait 2h  /wait 7d   move the clock, sweeping every step so schedules fire in order
    /tick                one sweep now         /time   show the clock
    /restart             restart the bot (the database survives)
    /playground          this help             /quit   leave
"""

from __future__ import annotations

import html
import itertools
import json
import re
import tempfile
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, unquote, urlparse
from zoneinfo import ZoneInfo

from playground.fakeapi import BOT_USERNAME, FakeBotAPI, Sent
from playground.sim import HandlerFailed, Person, World

HELP = (__doc__ or "").split("Line grammar", 1)[1].split("\n", 1)[1].rstrip()
GROUP_ID = -500
DEFAULT_STEP = timedelta(minutes=15)
START_LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?(start|startgroup)=([A-Za-z0-9_-]+)")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_LINE = re.compile(r"^(?P<who>[A-Za-z]\w*)(?P<group>@g(?:roup)?)?:\s?(?P<text>.*)$")


class UsageError(Exception):
    """A line the playground can't act on (a typo, no such button): not the bot's fault."""


@dataclass
class Event:
    """One thing the bot did, with the message as it looked at that moment."""

    kind: str  # 'new' | 'edit' | 'toast'
    sent: Sent


class RecordingAPI(FakeBotAPI):
    """The fake Bot API, also keeping a running log of sends, edits and toasts in order."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    def _capture(self, kind: str, sent: Sent) -> None:
        # A copy: a later edit changes the stored message in place.
        snapshot = replace(sent, buttons=[list(row) for row in sent.buttons])
        self.events.append(Event(kind, snapshot))

    def _store(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        result = super()._store(params, **extra)
        self._capture("new", self.chats[int(params["chat_id"])][-1])
        return result

    def _api_editMessageText(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        result = super()._api_editMessageText(params, files)
        self._capture("edit", self._find(params))
        return result

    def _api_editMessageReplyMarkup(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> dict[str, Any]:
        result = super()._api_editMessageReplyMarkup(params, files)
        self._capture("edit", self._find(params))
        return result

    def _api_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        if params.get("text"):
            self.events.append(Event("toast", Sent(0, 0, str(params["text"]))))
        return True


def parse_duration(text: str) -> timedelta:
    """'2h', '7d', '30m', '1d12h', '90s' -> timedelta."""
    compact = text.replace(" ", "").lower()
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise UsageError(f"can't read the duration {text!r}; try 30m, 2h, 7d or 1d12h")
    delta = timedelta()
    for number, unit in parts:
        delta += timedelta(**{_UNITS[unit]: float(number)})
    return delta


def plain(text: str) -> str:
    """Telegram HTML as a terminal shows it: links as 'text (url)', other tags dropped."""

    def link(m: re.Match[str]) -> str:
        url, label = html.unescape(m.group(1)), m.group(2)
        return label if label == url else f"{label} ({url})"

    text = re.sub(r'<a\s+href="([^"]*)"\s*>(.*?)</a>', link, text, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


class Playground:
    """Two partners, an optional group, a clock and a transcript."""

    def __init__(
        self,
        out: TextIO,
        *,
        names: tuple[str, str] = ("Alice", "Bob"),
        db_path: Path | None = None,
        media_dir: Path = Path("playground-out"),
        display_tz: str = "Europe/Berlin",
        step: timedelta = DEFAULT_STEP,
    ) -> None:
        self.out = out
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if db_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="trellis-playground-")
            db_path = Path(self._tmp.name) / "trellis.sqlite3"
        self.api = RecordingAPI()
        self.world = World(db_path=db_path, api=self.api)
        self.people = [self.world.person(101, names[0]), self.world.person(202, names[1])]
        self.active = self.people[0]
        self.in_group: dict[int, bool] = {p.id: False for p in self.people}
        self.group: int | None = None
        self._load_state(db_path)
        self.media_dir = media_dir
        self.zone = ZoneInfo(display_tz)
        self.step = step
        self.failed = False  # a handler raised
        self.bad_lines = 0  # lines the playground couldn't act on
        self._seen = 0
        self._media = 0
        self._clock_shown = ""

    def _load_state(self, db_path: Path) -> None:
        """A kept database comes with what the bot can't rebuild by itself: the encryption
        key, the clock (schedules are in the future of it), the last update id (the bot
        ignores an id it has seen) and the group. They live in a file beside it."""
        self._state_file: Path | None = None
        if self._tmp is not None:
            return
        self._state_file = db_path.with_name(db_path.name + ".playground.json")
        db_path.parent.mkdir(parents=True, exist_ok=True)
        if not self._state_file.exists():
            return
        state = json.loads(self._state_file.read_text(encoding="utf-8"))
        self.world.key = state["key"]
        self.world.clock.set(datetime.fromisoformat(state["now"]))
        self.world._update_ids = itertools.count(state["next_update_id"])
        self.world._message_ids = itertools.count(state["next_message_id"])
        if state.get("group") is not None:
            self.group = self.world.make_group(state["group"], *self.people, title="Us")

    def _save_state(self) -> None:
        if self._state_file is None:
            return
        state = {
            "key": self.world.key,
            "now": self.world.clock.now().isoformat(),
            "next_update_id": next(self.world._update_ids),
            "next_message_id": next(self.world._message_ids),
            "group": self.group,
        }
        self._state_file.write_text(json.dumps(state), encoding="utf-8")
        self._state_file.chmod(0o600)

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        await self.world.start()
        self.api.events.clear()  # the command menus and the like: nothing a user sees

    async def stop(self) -> None:
        await self.world.stop()
        self._save_state()
        if self._tmp is not None:
            self._tmp.cleanup()

    def prompt(self) -> str:
        where = "@group" if self.in_group[self.active.id] else ""
        return f"{self.active.first_name.lower()}{where}> "

    # -- one line ----------------------------------------------------------------

    async def handle(self, line: str) -> bool:
        """Act on one line and print what the bot did. False means: quit."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        try:
            keep_going = await self._dispatch(line)
        except HandlerFailed as exc:
            self.failed = True
            self._show()
            cause = exc.__cause__ or exc
            self.say("!! a handler raised:")
            self.say("".join(traceback.format_exception(cause)).rstrip())
            return True
        except UsageError as exc:
            self.bad_lines += 1
            self._show()
            self.say(f"?? {exc}")
            return True
        self._show()
        return keep_going

    async def _dispatch(self, line: str) -> bool:
        m = _LINE.match(line)
        who = self._find_person(m.group("who")) if m else None
        if m and who is not None:
            if m.group("group"):
                self._group_id()
            self.in_group[who.id] = bool(m.group("group"))
            await self._say_as(who, m.group("text"))
            return True
        if not line.startswith("/"):
            await self._say_as(self.active, line)
            return True
        command, _, arg = line.partition(" ")
        arg = arg.strip()
        if command in ("/quit", "/exit"):
            return False
        if command == "/playground":
            self.say(HELP)
        elif command == "/as":
            name, _, chat = arg.partition("@")
            if chat:
                self._group_id()
            self.active = self._person(name)
            self.in_group[self.active.id] = bool(chat)
        elif command == "/press":
            await self._press(self.active, arg)
        elif command == "/open":
            await self._open_invite(self._person(arg) if arg else self.active)
        elif command == "/group":
            await self._make_group(self.active)
        elif command == "/wait":
            await self.wait(parse_duration(arg))
        elif command == "/tick":
            await self.world.tick()
        elif command == "/time":
            self.show_clock(force=True)
        elif command == "/restart":
            await self.world.restart()
            self.say("-- the bot restarted; the database was kept --")
        else:
            await self._say_as(self.active, line)  # a bot command: /start, /conflict, ...
        return True

    def _find_person(self, name: str) -> Person | None:
        name = name.strip().lower()
        if name in ("a", "b"):
            return self.people["ab".index(name)]
        return next((p for p in self.people if p.first_name.lower() == name), None)

    def _person(self, name: str) -> Person:
        found = self._find_person(name)
        if found is not None:
            return found
        names = ", ".join(p.first_name for p in self.people)
        raise UsageError(f"who is {name!r}? Use a, b or a name ({names})")

    def _partner_of(self, who: Person) -> Person:
        return self.people[1] if who is self.people[0] else self.people[0]

    def _chat_of(self, who: Person) -> int:
        return self._group_id() if self.in_group[who.id] else who.id

    def _group_id(self) -> int:
        if self.group is None:
            raise UsageError("there is no group yet; type /group to make one")
        return self.group

    async def _say_as(self, who: Person, text: str) -> None:
        if text.startswith("#"):
            await self._press(who, text[1:].strip())
            return
        if text.startswith("\\#"):
            text = text[1:]
        if not text:
            raise UsageError("nothing to send")
        await self.world.send(who, text, chat_id=self._chat_of(who))

    # -- buttons and links -------------------------------------------------------

    async def _press(self, who: Person, which: str) -> None:
        chat = self._chat_of(who)
        if which.isdigit():
            sent = next((s for s in reversed(self.api.chats[chat]) if s.buttons), None)
            flat = [b for row in sent.buttons for b in row] if sent else []
            if not 1 <= int(which) <= len(flat):
                raise UsageError(
                    f"no button {which} on the newest message with buttons in {self._where(chat)}"
                )
            assert sent is not None
            button = flat[int(which) - 1]
        elif which:
            try:
                sent, button = self.world.find_button(chat, which)
            except AssertionError:
                raise UsageError(f"no button like {which!r} in {self._where(chat)}") from None
        else:
            raise UsageError("press which button? e.g. /press 1")
        if "callback_data" in button:
            await self.world.press_data(who, button["callback_data"], chat, sent.message_id)
        else:
            await self._follow(who, button.get("url", ""))

    async def _follow(self, who: Person, url: str) -> None:
        """A link button: t.me links to this bot do what Telegram would; others just print."""
        if "/share/" in url:
            shared = parse_qs(urlparse(url).query).get("url", [""])[0]
            if START_LINK.search(shared):
                other = self._partner_of(who)
                self.say(
                    f"-- {who.first_name} sends the link to {other.first_name}, who opens it --"
                )
                await self._open_invite(other)
                return
        found = START_LINK.search(url)
        if found is None or "/share/" in url:
            self.say(f"(a link: {unquote(url)})")
            return
        kind, payload = found.groups()
        if kind == "start":
            self.in_group[who.id] = False
            await self.world.send(who, f"/start {payload}")
        else:
            await self._make_group(who)
            await self.world.send(who, f"/start@{BOT_USERNAME} {payload}", chat_id=self.group)

    async def _open_invite(self, who: Person) -> None:
        """`who` opens the newest bot link their partner was sent, as if it were forwarded."""
        other = self._partner_of(who)
        for sent in reversed(self.api.chats[other.id]):
            urls = [sent.text] + [b.get("url", "") for row in sent.buttons for b in row]
            for url in urls:
                share = parse_qs(urlparse(url).query).get("url") if "/share/" in url else None
                found = START_LINK.search(share[0] if share else url)
                if found and found.group(1) == "start":
                    self.in_group[who.id] = False
                    await self.world.send(who, f"/start {found.group(2)}")
                    return
        raise UsageError(f"{other.first_name} hasn't been sent an invite link yet (a: /start)")

    async def _make_group(self, by: Person) -> None:
        if self.group is None:
            self.group = self.world.make_group(GROUP_ID, *self.people, title="Us")
            self.say(f"-- {by.first_name} made a group with both of you and added the bot --")
            await self.world.add_bot(GROUP_ID, by)
        for p in self.people:
            self.in_group[p.id] = p is by or self.in_group[p.id]

    # -- time --------------------------------------------------------------------

    async def wait(self, delta: timedelta) -> None:
        """Move the clock in steps on the step grid, sweeping at each, so due things fire
        in order and at (nearly) their time."""
        clock = self.world.clock
        end = clock.now() + delta
        step = self.step.total_seconds()
        while clock.now() < end:
            now = clock.now().timestamp()
            grid = datetime.fromtimestamp((now // step + 1) * step, UTC)
            clock.set(min(grid, end))
            await self.world.tick()
            if self.api.events[self._seen :]:
                self.show_clock()
                self._show()
        self.show_clock()

    def _now(self) -> str:
        return self.world.clock.now().astimezone(self.zone).strftime("%a %d %b %H:%M %Z")

    def show_clock(self, force: bool = False) -> None:
        """A '-- Sun 29 Nov 19:00 CET --' line, unless that moment was the last one shown."""
        now = self._now()
        if force or now != self._clock_shown:
            self.say(f"-- {now} --")
            self._clock_shown = now

    # -- output ------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(text, file=self.out)

    def _where(self, chat_id: int) -> str:
        if chat_id == self.group:
            return "[group]"
        for p in self.people:
            if p.id == chat_id:
                return f"[{p.first_name}'s chat]"
        return f"[chat {chat_id}]"

    def _show(self) -> None:
        """Everything the bot did since last shown."""
        events, self._seen = self.api.events[self._seen :], len(self.api.events)
        for event in events:
            for line in self._render(event):
                self.say(line)

    def _render(self, e: Event) -> Iterable[str]:
        s = e.sent
        if e.kind == "toast":
            yield f"  (popup: {plain(s.text)})"
            return
        head = [self._where(s.chat_id)]
        if e.kind == "edit":
            head.append("(edited)")
        if s.protect:
            head.append("🔒")
        if s.photo is not None:
            head.append(f"📷 picture saved to {self._save(s.photo, 'picture.png')}")
        if s.document is not None:
            head.append(f"📎 document saved to {self._save(s.document, s.filename or 'file')}")
        yield " ".join(head)
        for line in plain(s.text).strip("\n").splitlines():
            yield f"  {line}".rstrip()
        n = 0
        for row in s.buttons:
            labels = []
            for button in row:
                n += 1
                link = " ↗" if "url" in button else ""
                labels.append(f"[{n}] {button['text']}{link}")
            yield "  " + "   ".join(labels)

    def _save(self, data: bytes, name: str) -> Path:
        self._media += 1
        self.media_dir.mkdir(parents=True, exist_ok=True)
        path = self.media_dir / f"{self._media:03d}-{Path(name).name}"
        path.write_bytes(data)
        return path


async def run_lines(pg: Playground, lines: Iterable[str], *, echo: bool = True) -> int:
    """Script mode: echo each line, act on it. Exit status 1 if a handler raised,
    2 if a line couldn't be acted on (a typo, a button that isn't there), else 0."""
    await pg.start()
    pg.show_clock()
    try:
        for raw in lines:
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if echo:
                pg.say(f"\n> {line.strip()}")
            if not await pg.handle(line):
                break
    finally:
        await pg.stop()
    return 1 if pg.failed else 2 if pg.bad_lines else 0


async def run_interactive(pg: Playground) -> int:
    """Read lines at a prompt until /quit or end of input."""
    await pg.start()
    pg.say(
        f"Trellis playground: you are {pg.people[0].first_name} (a) and "
        f"{pg.people[1].first_name} (b). Try: /start, then /open b. "
        "/playground lists the commands, /quit leaves."
    )
    pg.show_clock()
    try:
        while True:
            try:
                # Blocking is right here: nothing else runs on the loop, and the clock
                # only moves on /wait.
                line = input(pg.prompt())  # noqa: ASYNC250
            except (EOFError, KeyboardInterrupt):
                pg.say("")
                break
            if not await pg.handle(line):
                break
    finally:
        await pg.stop()
    return 1 if pg.failed else 0
