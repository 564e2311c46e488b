"""The real `python -m bot`, killed with SIGKILL at random moments and restarted.

The bot runs as a child process against the fake Bot API served over HTTP on
127.0.0.1 (playground/fakehttp.py): long polling, updates confirmed only by the next
getUpdates. Two partners pair, then answer a check-in and send thanks while the process
is killed again and again. At the end, with the process left running until quiet:

- nothing committed is lost: every thank-you in the database reached Bob, the check-in
  is revealed to both with every stored answer;
- every owed message is delivered: no outbox row is pending or given up;
- per-chat order holds: Bob got the thank-yous in the order they were committed;
- duplicates are at most one per kill (Telegram has no idempotency key).

The second test does the same through a private /conflict: turns relayed on Done,
paraphrases shown back, the process killed between and inside the steps; every turn of
a floor that passed reaches the listener once and in order, every paraphrase reaches
the speaker, and the conversation moves on after every kill (the actor's own next
screen is owed too, so a kill never leaves a partner with only a spent keyboard).

The seed is printed (set KILL_SEED to replay one run; the seed fixes the choices, not
the timing); KILL_COUNT sets the kills. A failing run prints the last updates, kills
and Bot API calls, interleaved in time.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from playground.fakeapi import BOT_ID, Sent
from playground.fakehttp import FakeTelegram

TOKEN = "123456789:KILL-test-token"
ROOT = Path(__file__).resolve().parents[1]
ALICE, BOB = 101, 202
NAMES = {ALICE: "Alice", BOB: "Bob"}
THANKS = 8
WAIT = 8.0  # seconds an expected answer may take (the machine is shared)


class Harness:
    def __init__(self, tmp: Path, seed: int) -> None:
        self.tmp = tmp
        self.rng = random.Random(seed)
        self.server = FakeTelegram(TOKEN)
        self.key = Fernet.generate_key().decode()
        self.db = tmp / "data" / "trellis.sqlite3"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.starts = 0
        self.log = tmp / "bot.log"
        self._ids = itertools.count(1)
        self.pushed: list[tuple[float, str]] = []  # (monotonic time, what) for transcript()
        for uid, name in NAMES.items():
            self.server.api.users[uid] = {"first_name": name}

    # -- the process ---------------------------------------------------------------

    def start(self) -> None:
        polls = self.server.polls
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": self.server.base_url,
            "TELEGRAM_BASE_FILE_URL": self.server.base_url,
            "DATABASE_PATH": str(self.db),
            "DATA_ENCRYPTION_KEY": self.key,
            "SWEEP_INTERVAL_SECONDS": "0.5",
            "LOG_LEVEL": "INFO",
        }
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot"], env=env, cwd=self.tmp, stdout=log, stderr=log
            )
        self.starts += 1
        self.until(lambda: self.server.polls > polls, "the bot to start polling", 30)

    def kill(self) -> None:
        assert self.proc is not None
        self.pushed.append((time.monotonic(), "-- SIGKILL --"))
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        self.server.stop()

    def maybe_kill(self, chance: float) -> None:
        """SIGKILL after a random short delay (mid-handler, mid-drain, mid-poll), restart."""
        if self.rng.random() >= chance:
            return
        time.sleep(self.rng.uniform(0, 0.25))
        self.kill()
        self.start()

    # -- waiting and reading -----------------------------------------------------

    def until(self, ok: Callable[[], bool], what: str, timeout: float = WAIT) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.server.lock:
                if ok():
                    return True
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"the bot exited while waiting for {what}:\n{self.tail()}")
            time.sleep(0.05)
        return False

    def must(self, ok: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        if not self.until(ok, what, timeout):
            raise AssertionError(f"timed out waiting for {what}\n{self.tail()}")

    def push(self, update: dict[str, Any], what: str) -> None:
        self.pushed.append((time.monotonic(), f"update {self.server.push(update)}: {what}"))

    def transcript(self, last: int = 60) -> str:
        """The last updates, kills and Bot API calls, interleaved in time: what to read
        when a run fails (the seed replays the choices, not the timing)."""
        with self.server.lock:
            calls = [
                (
                    c.at,
                    f"  {c.method} {c.params.get('chat_id', '')} "
                    f"{str(c.params.get('text', ''))[:70]!r} {_labels(c.params)}",
                )
                for c in self.server.api.calls
                if c.method != "getUpdates"
            ]
        events = sorted(calls + self.pushed)[-last:]
        return "\n".join(text for _, text in events)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def chat(self, chat_id: int) -> list[Sent]:
        return self.server.api.chats[chat_id]

    def texts(self, chat_id: int) -> list[str]:
        return [s.text for s in self.chat(chat_id)]

    def snapshot(self, chat_id: int) -> tuple[int, int, str]:
        msgs = self.chat(chat_id)
        return (len(msgs), sum(m.edits for m in msgs), msgs[-1].text if msgs else "")

    # -- what the partners do ----------------------------------------------------

    def say(self, uid: int, text: str) -> None:
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": uid, "type": "private", "first_name": NAMES[uid]},
            "from": {"id": uid, "is_bot": False, "first_name": NAMES[uid]},
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self.push({"message": message}, f"{NAMES[uid]} says {text!r}")

    def press(self, uid: int, label: str) -> bool:
        with self.server.lock:
            for sent in reversed(self.chat(uid)):
                for row in sent.buttons:
                    for button in row:
                        if label.lower() in button["text"].lower() and "callback_data" in button:
                            data, message_id = button["callback_data"], sent.message_id
                            break
                    else:
                        continue
                    break
                else:
                    continue
                break
            else:
                return False
        self.push(
            {
                "callback_query": {
                    "id": str(next(self._ids)),
                    "from": {"id": uid, "is_bot": False, "first_name": NAMES[uid]},
                    "chat_instance": str(uid),
                    "data": data,
                    "message": {
                        "message_id": message_id,
                        "date": int(time.time()),
                        "chat": {"id": uid, "type": "private", "first_name": NAMES[uid]},
                        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Trellis"},
                        "text": "…",
                    },
                }
            },
            f"{NAMES[uid]} presses {label!r} ({data}) on message {message_id}",
        )
        return True

    def buttons(self, uid: int) -> list[str]:
        with self.server.lock:
            msgs = self.chat(uid)
            return msgs[-1].button_texts() if msgs else []

    def checkin_step(self, uid: int) -> None:
        """One step of a partner's check-in, from what their chat shows now. If the step
        shows no effect (its update was lost with a killed process before being handled,
        or its answer was), /checkin shows the current step again."""
        before = self.snapshot(uid)
        labels = self.buttons(uid)
        if "5" in labels:
            self.press(uid, "4")
        elif "Skip" in labels and "note" in before[2]:
            if self.rng.random() < 0.5:
                self.press(uid, "Skip")
            else:
                self.say(uid, f"a note from {NAMES[uid]}")
        elif "Skip" in labels or "Prefer not to say" in labels:  # an open question
            self.say(uid, f"a walk, says {NAMES[uid]}")
        elif "Open it now" in labels:
            self.press(uid, "Open it now")
        else:
            self.say(uid, "/checkin")
        self.maybe_kill(0.3)
        if not self.until(lambda: self.snapshot(uid) != before, "a check-in step", 4):
            self.say(uid, "/checkin")
            self.until(lambda: self.snapshot(uid) != before, "the check-in shown again", 4)


def _labels(params: dict[str, Any]) -> str:
    markup = params.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    rows = (markup or {}).get("inline_keyboard") or []
    return str([b.get("text") for row in rows for b in row]) if rows else ""


def pair(h: Harness) -> None:
    """Alice invites Bob, Bob accepts, Alice keeps the default schedule (no kills)."""
    h.say(ALICE, "/start")
    h.must(lambda: any("start=" in t for t in h.texts(ALICE)), "Alice's invite link")
    found = re.search(r"start=([A-Za-z0-9_-]{22})", " ".join(h.texts(ALICE)))
    assert found is not None
    h.say(BOB, f"/start {found.group(1)}")
    h.must(lambda: "Yes, pair us" in " ".join(h.buttons(BOB)), "Bob's invite question")
    h.press(BOB, "Yes, pair us")
    h.must(lambda: "Berlin" in " ".join(h.buttons(ALICE)), "the time zone question")
    h.press(ALICE, "Berlin")
    h.must(lambda: "Keep Sunday" in " ".join(h.buttons(ALICE)), "the day question")
    h.press(ALICE, "Keep Sunday")
    h.must(lambda: any("All set" in t for t in h.texts(ALICE)), "onboarding done")


def committed_thanks(h: Harness) -> list[str]:
    conn = sqlite3.connect(h.db)
    try:
        rows = conn.execute("SELECT text FROM appreciations ORDER BY id").fetchall()
    finally:
        conn.close()
    fernet = Fernet(h.key.encode())
    return [fernet.decrypt(r[0]).decode() for r in rows]


def outbox_state(h: Harness) -> tuple[int, list[str]]:
    conn = sqlite3.connect(h.db)
    try:
        # Owed now: a row held for later (quiet hours, `not_before`) is not owed yet.
        pending = conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed IS NULL "
            "AND (not_before IS NULL OR not_before <= ?)",
            (int(time.time()),),
        ).fetchone()[0]
        failed = [r[0] for r in conn.execute("SELECT failed FROM outbox WHERE failed IS NOT NULL")]
    finally:
        conn.close()
    return int(pending), failed


def revealed(h: Harness, uid: int) -> int:
    return sum("Nobody went first" in t for t in h.texts(uid))


def test_sigkill_loses_nothing_committed_and_repeats_at_most_one_per_kill(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("KILL_SEED") or random.SystemRandom().randrange(10**6))
    wanted_kills = int(os.environ.get("KILL_COUNT") or 10)
    print(f"kill test seed={seed} (replay with KILL_SEED={seed})")
    h = Harness(tmp_path, seed)
    h.server.start()
    try:
        h.start()
        pair(h)  # without kills: the journey below starts from a paired couple

        # The journey, killed at random moments: thanks (drains) and a check-in.
        h.say(ALICE, "/checkin")
        h.must(lambda: "5" in h.buttons(BOB) or "Open it now" in h.buttons(ALICE), "/checkin")
        if h.press(ALICE, "Open it now"):  # an early check-in asks first
            h.must(lambda: "5" in h.buttons(BOB), "Bob's first question")
        sent_thanks = 0
        deadline = time.monotonic() + 80
        while time.monotonic() < deadline:
            done = revealed(h, ALICE) and revealed(h, BOB) and sent_thanks >= THANKS
            if done and h.kills >= wanted_kills:
                break
            if sent_thanks < THANKS and h.rng.random() < 0.4:
                sent_thanks += 1
                h.say(ALICE, f"/thanks thanks-{sent_thanks:02}")
                h.maybe_kill(0.5)
                continue
            if not done:
                for uid in (ALICE, BOB):
                    if not revealed(h, uid):
                        h.checkin_step(uid)
            else:
                h.say(ALICE, "/status")
                h.maybe_kill(1.0)  # kills while idle: sweeps and polls
        assert h.kills >= wanted_kills // 2, f"only {h.kills} kills in the time budget"

        # Left alone: everything owed goes out, every update is confirmed.
        h.must(lambda: outbox_state(h)[0] == 0 and h.server.unconfirmed() == 0, "quiet", 30)
        _, failed = outbox_state(h)
        assert failed == [], f"given up: {failed}"

        dupes = 0
        committed = committed_thanks(h)
        got = [m.group(1) for t in h.texts(BOB) for m in [re.search(r"(thanks-\d\d)", t)] if m]
        # nothing committed lost, nothing invented
        assert set(got) == set(committed), (got, committed)
        # per-chat order: what was committed first arrived first (a repeat sits next to it)
        order = {text: n for n, text in enumerate(committed)}
        positions = [order[g] for g in got]
        assert positions == sorted(positions), got
        dupes += len(got) - len(set(got))
        for uid in (ALICE, BOB):
            assert revealed(h, uid) >= 1, f"no reveal for {NAMES[uid]}"
            dupes += revealed(h, uid) - 1
            reveal = next(t for t in h.texts(uid) if "Nobody went first" in t)
            assert reveal.count("Alice: <b>4</b>/5") >= 1 and "Bob: <b>4</b>/5" in reveal
        assert dupes <= h.kills, f"{dupes} repeated messages for {h.kills} kills"
        print(f"kills={h.kills} starts={h.starts} thanks={len(committed)} repeats={dupes}")
    except AssertionError:
        print(h.transcript())
        raise
    finally:
        h.stop()


def test_a_rejected_token_is_never_printed(tmp_path: Path) -> None:
    """Was: Telegram's 401 at start printed the whole token on stderr."""
    server = FakeTelegram("999:another-token")  # so ours is refused with 401
    server.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bot"],
            env={
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": str(ROOT),
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_BASE_URL": server.base_url,
                "DATABASE_PATH": str(tmp_path / "data" / "trellis.sqlite3"),
                "DATA_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            },
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.stop()
    assert done.returncode != 0
    assert "Trellis stopped" in done.stderr
    assert TOKEN not in done.stderr and TOKEN.split(":")[1] not in done.stderr


def conversation_step(h: Harness, uid: int, n: int) -> bool:
    """One step of a partner in a private /conflict, from what their chat shows now;
    False when nothing there is theirs to do."""
    labels = h.buttons(uid)
    last = h.snapshot(uid)[2]
    name = NAMES[uid]
    if "Now is good" in labels:
        h.press(uid, "Now is good")
    elif f"{name} speaks first" in labels:
        h.press(uid, f"{name} speaks first")
    elif any(label.startswith("Done, over to") for label in labels):
        h.say(uid, f"turn-{name}-{n:03}")
        h.maybe_kill(0.25)
        h.press(uid, "Done, over to")
    elif "what did you hear" in last:
        h.say(uid, f"para-{name}-{n:03}")
    elif "Yes, that's it" in labels:
        h.press(uid, "Yes, that's it")
    elif "That's it" in labels:
        h.press(uid, "That's it")
    elif "Skip this step" in labels:
        h.press(uid, "Skip this step")
    elif "Another round" in labels:
        h.press(uid, "Another round")
    elif any(label.startswith("Use it") for label in labels):  # words kept while listening
        h.press(uid, "Use it")
    elif any(label.startswith("Send as it is") for label in labels):
        h.press(uid, "Send as it is")
    else:
        return False
    h.maybe_kill(0.25)
    return True


def resume(h: Harness, uid: int) -> None:
    """/conflict, then Resume on its answer: where the conversation stands, shown again.

    Each waits for its own answer (a newer message), never for a button an older message
    already shows: the driver once sent /conflict and Resume dozens of times in a few
    milliseconds that way, the bot's replies queued behind Telegram's one message a
    second per chat, and after a kill the backlog (thousands of presses, delivered
    again) kept the bot busy past the test's time budget."""
    count = len(h.chat(uid))
    h.say(uid, "/conflict")
    answered = h.until(
        lambda: len(h.chat(uid)) > count and "Resume" in h.buttons(uid), "/conflict's answer", 15
    )
    if answered:
        before = h.snapshot(uid)
        h.press(uid, "Resume")
        h.until(lambda: h.snapshot(uid) != before, "the step shown again", 15)


def conversation_turns(h: Harness) -> list[tuple[int, int, str, str]]:
    """(round, user, kind, text) of every committed turn, in the order committed."""
    conn = sqlite3.connect(h.db)
    try:
        rows = conn.execute("SELECT round, user_id, kind, text FROM conflict_turns ORDER BY id")
        fernet = Fernet(h.key.encode())
        return [(r, u, k, fernet.decrypt(t).decode()) for r, u, k, t in rows.fetchall()]
    finally:
        conn.close()


def test_sigkill_during_a_conversation_loses_and_reorders_nothing(tmp_path: Path) -> None:
    """The same, through a private /conflict: turns relayed on Done, paraphrases shown to
    the speaker, killed at random between and inside the steps."""
    seed = int(os.environ.get("KILL_SEED") or random.SystemRandom().randrange(10**6))
    wanted_kills = int(os.environ.get("KILL_COUNT") or 6)
    print(f"conversation kill test seed={seed} (replay with KILL_SEED={seed})")
    h = Harness(tmp_path, seed)
    h.server.start()
    try:
        h.start()
        pair(h)
        h.say(ALICE, "/conflict the weekend plans")
        h.must(lambda: "Now is good" in h.buttons(BOB), "Bob asked whether now is good")
        n, idle = 0, 0
        deadline = time.monotonic() + 70
        while time.monotonic() < deadline:
            paraphrased = {u for _, u, k, _ in conversation_turns(h) if k == "paraphrase"}
            if h.kills >= wanted_kills and paraphrased == {ALICE, BOB}:
                break
            acted = False
            for uid in (ALICE, BOB):
                before = h.snapshot(uid)
                n += 1
                if conversation_step(h, uid, n):
                    acted = True
                    h.until(lambda uid=uid, before=before: h.snapshot(uid) != before, "a step", 3)
            idle = 0 if acted else idle + 1
            if idle >= 3:  # a step lost with a killed process: Resume shows where things are
                for uid in (ALICE, BOB):
                    resume(h, uid)
                idle = 0
        assert h.kills >= wanted_kills // 2, (
            f"only {h.kills} kills in the time budget",
            [(s.text[:80], s.button_texts()) for s in h.chat(ALICE)[-4:] + h.chat(BOB)[-4:]],
        )

        h.must(lambda: outbox_state(h)[0] == 0 and h.server.unconfirmed() == 0, "quiet", 30)
        _, failed = outbox_state(h)
        assert failed == [], f"given up: {failed}"
        turns = conversation_turns(h)
        dupes = 0
        for listener, speaker in ((BOB, ALICE), (ALICE, BOB)):
            heard_rounds = {r for r, u, k, _ in turns if u == listener and k == "paraphrase"}
            # Every turn of a floor that passed reached the listener, in committed order.
            owed = [
                t for r, u, k, t in turns if u == speaker and k == "speak" and r in heard_rounds
            ]
            got = [
                m.group(1)
                for t in h.texts(listener)
                for m in [re.search(rf"<b>{NAMES[speaker]}:</b> ((?:turn|para)-\w+-\d+)", t)]
                if m
            ]
            assert set(owed) <= set(got), (owed, got)
            order = {text: i for i, text in enumerate(owed)}
            positions = [order[g] for g in got if g in order]
            assert positions == sorted(positions), got
            dupes += len(got) - len(set(got))
            # Every committed paraphrase was shown to the speaker.
            for text in (t for _, u, k, t in turns if u == listener and k == "paraphrase"):
                assert any(text in shown for shown in h.texts(speaker)), text
        assert any(k == "paraphrase" for _, _, k, _ in turns), (
            "the conversation never moved",
            [(s.text[:80], s.button_texts()) for s in h.chat(ALICE)[-4:] + h.chat(BOB)[-4:]],
        )
        assert dupes <= h.kills, f"{dupes} repeated relays for {h.kills} kills"
        print(f"kills={h.kills} starts={h.starts} turns={len(turns)} repeats={dupes}")
    except AssertionError:
        print(h.transcript())
        raise
    finally:
        h.stop()
