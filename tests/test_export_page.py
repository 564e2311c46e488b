"""/export's readable page: opened as a browser would parse it, and its content checked."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from playground.fakeapi import Sent
from playground.sim import Person, World
from tests.helpers import pair_by_invite
from tests.test_data_rights import couple_id, services, write_checkin, write_conversation

TRICKY = "<script>alert('x')</script> & \"quotes\""


class Page(HTMLParser):
    """Tags and the visible text of a page, as a browser would read them."""

    def __init__(self, raw: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in: list[str] = []
        self.feed(raw)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self._in and self._in.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if not set(self._in) & {"style", "title", "script"}:
            self.text.append(data)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())

    def names(self) -> set[str]:
        return {tag for tag, _ in self.tags}


async def write_talk(world: World, cid: int, alice: Person, bob: Person) -> None:
    """A conversation Alice started: her turns, Bob's shown turns and one he kept back."""
    conv = await write_conversation(
        world, cid, alice.id, bob.id, "the dishes", turn=f"alice-speaks {TRICKY}"
    )
    svc = services(world)
    now = svc.core.now()
    enc = svc.core.cipher.encrypt
    async with svc.core.db.tx() as conn:
        for uid, rnd, kind, text in (
            (bob.id, 1, "paraphrase", "bob-reflects"),
            (bob.id, 1, "validation", "bob-validates"),
            (bob.id, 2, "speak", "bob-speaks"),
            (bob.id, 2, "kept", "bob-kept-back"),
        ):
            await conn.execute(
                "INSERT INTO conflict_turns (conversation_id, user_id, round, kind, text, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (conv, uid, rnd, kind, enc(text), now),
            )
        await conn.execute(
            "INSERT INTO agreements (conversation_id, couple_id, kind, author, decider, doer, "
            "text, status, created_at) VALUES (?, ?, 'request', ?, ?, ?, ?, 'accepted', ?)",
            (conv, cid, alice.id, bob.id, bob.id, enc("alice-asks"), now),
        )


def documents(world: World, chat_id: int) -> dict[str, Sent]:
    return {
        (s.filename or "").rsplit(".", 1)[-1]: s
        for s in world.api.sent_to(chat_id)
        if s.document is not None
    }


async def test_export_sends_json_and_a_readable_page(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    cid = await couple_id(world, alice)
    await write_checkin(world, cid, {alice.id: f"alice-note {TRICKY}", bob.id: "bob-note"})
    await write_talk(world, cid, alice, bob)
    await world.send(alice, "/promise alice-promise by Friday")
    await world.send(bob, "/promise bob-promise")
    await world.send(alice, "/thanks alice-thanks")
    await world.send(bob, "/thanks bob-thanks")

    await world.send(alice, "/export")
    docs = documents(world, alice.id)
    assert set(docs) == {"json", "html"}
    assert json.loads(docs["json"].document or b"")["you"]["first_name"] == "Alice"
    assert docs["html"].filename == "trellis-export-2026-11-23.html"
    assert "browser" in docs["html"].text

    raw = (docs["html"].document or b"").decode("utf-8")
    page = Page(raw)
    # No scripts, nothing loaded: no script tag, no handler, no source, a CSP that forbids them.
    assert "script" not in page.names()
    assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on") or a == "src"]
    assert {"link", "img", "iframe", "object"}.isdisjoint(page.names())
    [csp] = [a for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert csp["content"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert page.names() >= {"html", "head", "title", "style", "body", "h1", "h2", "h3"}

    text = page.visible
    assert text.startswith("What Alice wrote in Trellis")
    # Her check-in, by week, with the question's own words and her note, escaped.
    assert "Week 2026-W48" in text and "4 of 5" in text
    assert f"Your note: alice-note {TRICKY}" in text
    assert "&lt;script&gt;" in raw
    # The conversation: her turns, Bob's shown ones in his name, never what he kept back.
    assert "“the dishes”" in text and "Round 1" in text and "Round 2" in text
    assert "You said: alice-speaks" in text
    assert "Bob reflected back: bob-reflects" in text
    assert "Bob acknowledged: bob-validates" in text
    assert "Bob said: bob-speaks" in text
    assert "You asked: “alice-asks” (accepted)" in text
    # Her promise and thanks; nothing of Bob's own.
    assert "“alice-promise”" in text and "still open" in text
    assert "“alice-thanks”" in text
    for theirs in ("bob-note", "bob-kept-back", "bob-promise", "bob-thanks"):
        assert theirs not in raw
    # In order: check-ins, conversations, promises, thanks.
    heads = [
        "Check-ins, week by week",
        "Conversations",
        "Promises you made",
        "Thanks you sent",
    ]
    assert [text.index(h) for h in heads] == sorted(text.index(h) for h in heads)

    # Bob's page: his own words, and Alice's turn that was shown to him.
    await world.send(bob, "/export")
    bob_page = Page((documents(world, bob.id)["html"].document or b"").decode()).visible
    assert "You said: bob-speaks" in bob_page and "You wrote while listening: bob-kept" in bob_page
    assert "Alice said: alice-speaks" in bob_page
    assert "alice-note" not in bob_page and "alice-asks" not in bob_page


async def test_export_page_for_someone_with_nothing_yet(world: World, alice: Person) -> None:
    await world.send(alice, "/export")
    page = Page((documents(world, alice.id)["html"].document or b"").decode()).visible
    assert page.count("Nothing yet.") == 4
