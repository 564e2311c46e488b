"""The playground: the example week replays through the real bot, and its commands behave."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest

from playground.__main__ import main
from playground.fakeapi import Fault, Sent
from playground.repl import Event, Playground, UsageError, parse_duration, plain, run_lines

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "first-week.txt"


def playground(tmp_path: Path, **kwargs: object) -> tuple[Playground, io.StringIO]:
    out = io.StringIO()
    return Playground(out, media_dir=tmp_path / "media", **kwargs), out  # type: ignore[arg-type]


async def test_first_week_example_replays_with_the_key_moments(tmp_path: Path) -> None:
    pg, out = playground(tmp_path)
    code = await run_lines(pg, EXAMPLE.read_text(encoding="utf-8").splitlines())
    transcript = out.getvalue()
    assert code == 0, transcript
    assert "?? " not in transcript and "!! " not in transcript
    # paired by invite, then the group linked through the offered link
    assert (
        "-- Alice sends the link to Bob, who opens it --\n[Bob's chat]\n  Alice invited"
        in transcript
    )
    assert "[Bob's chat] (edited)\n  You're paired with Alice." in transcript
    assert "[group]\n  Paired: Alice and Bob." in transcript
    # the check-in opens on Sunday 19:00 Berlin time and the reveal reaches the group, protected
    assert "-- Sun 29 Nov 19:00 CET --\n[Alice's chat]\n  It's check-in time." in transcript
    assert "[group] 🔒\n  🤝 Nobody went first." in transcript
    assert "Alice: Cooking together on Saturday" in transcript
    # the conversation runs to its close
    assert "[1] Now is good   [2] Later…" in transcript
    assert "You talked about “the dishes”: 1 round" in transcript
    assert "• Alice: “I will tell you when a week gets heavy”" in transcript
    assert "• Bob: “I will leave the pans to soak for you”" in transcript
    # buttons are numbered, HTML is gone
    assert "[1] Yes, pair us   [2] Not now" in transcript
    assert "<b>" not in transcript and "&lt;" not in transcript.replace("&lt;b&gt;", "")


async def test_press_by_number_switching_and_usage_errors(tmp_path: Path) -> None:
    pg, out = playground(tmp_path, names=("Sam", "Robin"))
    script = [
        "a: /start",
        "/open robin",
        "/as b",
        "/press 1",  # Yes, pair us
        "/press 9",  # no such button
        "sam@g: /pair",  # no group yet
        "hello there",  # bare: Robin, private
        "/wait 2x",
        "/restart",
        "/tick",
        "sam: /status",
        "/quit",
        "b: never read",
    ]
    code = await run_lines(pg, script)
    transcript = out.getvalue()
    assert code == 2, transcript
    assert "[Robin's chat] (edited)\n  You're paired with Sam." in transcript
    assert "?? no button 9" in transcript
    assert "?? there is no group yet" in transcript
    assert "> hello there\n[Robin's chat]\n  I wasn't waiting" in transcript
    assert "?? can't read the duration" in transcript
    assert "the bot restarted" in transcript and "Paired with Robin" in transcript
    assert "never read" not in transcript.split("> /quit")[1]


async def test_group_first_pairing_and_toasts(tmp_path: Path) -> None:
    pg, out = playground(tmp_path)
    script = ["/group", "/press 1", "a@g: #I'm in", "b@g: #1", "a: #Berlin"]
    assert await run_lines(pg, script) == 2
    transcript = out.getvalue()
    assert "-- Alice made a group with both of you and added the bot --" in transcript
    assert "[group]\n  Alice is in." in transcript
    assert "(popup: You're already in." in transcript  # Alice pressing twice
    assert "Paired: Alice and Bob" in transcript
    assert "?? no button like 'Berlin' in [Alice's chat]" in transcript  # it's in the group


async def test_wait_fires_scheduled_things_in_order(tmp_path: Path) -> None:
    pg, out = playground(tmp_path)
    script = ["a: /start", "/open b", "b: #1", "a: #Berlin", "a: #Keep", "/wait 8d"]
    assert await run_lines(pg, script) == 0
    transcript = out.getvalue()
    opened = transcript.index("-- Sun 29 Nov 19:00 CET --\n[Alice's chat]\n  It's check-in")
    nudged = transcript.index("gentle nudge")
    assert opened < nudged
    assert transcript.rstrip().endswith("-- Tue 01 Dec 10:00 CET --")


async def test_a_raising_handler_fails_the_script(tmp_path: Path) -> None:
    pg, out = playground(tmp_path)
    pg.api.faults.append(Fault("sendMessage", "bad_request"))
    assert await run_lines(pg, ["a: /help", "a: /privacy"]) == 1
    transcript = out.getvalue()
    assert "!! a handler raised:" in transcript and "BadRequest" in transcript
    assert "encrypted" in transcript  # the script went on


async def test_kept_database_survives_a_second_run(tmp_path: Path) -> None:
    db = tmp_path / "kept" / "trellis.sqlite3"
    first, _ = playground(tmp_path, db_path=db)
    assert await run_lines(first, ["a: /start", "/open b", "b: #1"]) == 0
    first_clock = first.world.clock.now()
    second, out = playground(tmp_path, db_path=db)
    assert second.world.clock.now() == first_clock
    assert await run_lines(second, ["b: /status", "a: /status"]) == 0
    assert out.getvalue().count("Paired with") == 2


def test_media_edits_and_protect_are_shown(tmp_path: Path) -> None:
    pg, _ = playground(tmp_path, db_path=tmp_path / "db" / "trellis.sqlite3")
    photo = Event("new", Sent(101, 7, "Your <b>week</b>", protect=True, photo=b"\x89PNG"))
    lines = list(pg._render(photo))
    assert lines[0].startswith("[Alice's chat] 🔒 📷 picture saved to ")
    saved = Path(lines[0].rsplit(" ", 1)[1])
    assert saved.read_bytes() == b"\x89PNG" and saved.parent == tmp_path / "media"
    assert lines[1] == "  Your week"
    doc = Event("edit", Sent(202, 8, "", document=b"{}", filename="trellis-export.json"))
    head = next(iter(pg._render(doc)))
    assert head.startswith("[Bob's chat] (edited) 📎 document saved to ")
    assert head.endswith("002-trellis-export.json")


def test_durations_and_html() -> None:
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1d12h") == timedelta(days=1, hours=12)
    assert parse_duration("30m") == timedelta(minutes=30)
    for bad in ("", "2", "2x", "h2"):
        with pytest.raises(UsageError):
            parse_duration(bad)
    assert plain("<b>Tom &amp; Jo</b> say &lt;hi&gt;") == "Tom & Jo say <hi>"
    assert plain('<a href="https://x.y/?a=1&amp;b=2">here</a>') == "here (https://x.y/?a=1&b=2)"


def test_command_line_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "s.txt"
    script.write_text("# a comment\na: /help\n", encoding="utf-8")
    assert main(["--script", str(script), "--names", "Ana,Ben", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "> a: /help\n[Ana's chat]\n  Trellis — what you can do:" in printed
    assert "a comment" not in printed
