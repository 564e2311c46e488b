"""A bilingual couple: Alice reads Trellis in Spanish, Bob in Russian, through every journey.

Their Telegram clients say `es-MX` and `ru`; each message is written for its reader, a
group reads the couple's group language, and what either partner writes is shown as
written, never translated.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

import content
from bot import chart
from playground.sim import Person, World
from tests.helpers import invite_token

GROUP = -500
# "That's all for this week" in every language: a check-in's buttons before it are spent.
FINISHED = {
    content.load(lang).t(key)
    for lang in content.languages()
    for key in ("checkin.finished_first", "checkin.finished_both")
}
WEEK1 = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # Sunday 19:00 in Berlin


def _data(world: World, who: Person, chat: int) -> tuple[dict[str, str], int]:
    """The buttons of the newest check-in message (other messages may have come since)."""
    for sent in reversed(world.api.chats[chat]):
        found = {b["text"]: b.get("callback_data", "") for row in sent.buttons for b in row}
        if any(d.startswith(("ci:", "cn:")) for d in found.values()):
            return found, sent.message_id
        if any(sent.text == done for done in FINISHED):
            break
    return {}, 0


async def answer_all(world: World, who: Person, score: str, typed: str) -> None:
    """Answer the open check-in in whatever language it is shown: buttons are found by
    their callback data (scale 1-5, a note's Skip), open questions are typed."""
    for _ in range(12):
        buttons, message_id = _data(world, who, who.id)
        if score in buttons:
            await world.press_data(who, buttons[score], who.id, message_id)
        elif any(d.startswith("cn:") and d.endswith(":skip") for d in buttons.values()):
            data = next(d for d in buttons.values() if d.startswith("cn:") and d.endswith(":skip"))
            await world.press_data(who, data, who.id, message_id)
        elif any(d.startswith("ci:") and d.endswith(":skip") for d in buttons.values()):
            await world.send(who, typed)
        else:
            return
    raise AssertionError("check-in did not end")


async def pair(world: World, alice: Person, bob: Person) -> None:
    await world.send(alice, "/start")
    assert world.said(alice.id, "Hola, Alice. Soy Trellis")
    await world.send(bob, f"/start {invite_token(world, alice)}")
    assert "приглашает тебя стать парой" in world.last_text(bob.id)
    await world.press(bob, "Да, давай")
    assert world.said(bob.id, "Теперь вы пара")
    assert world.said(alice.id, "Bob ha aceptado tu invitación")
    assert world.said(alice.id, "¿En qué zona horaria vivís?")
    await world.press(alice, "Berlin")
    await world.press(alice, "Dejar domingo 19:00")


def reveal_of(world: World, chat: int) -> str:
    found = [s.text for s in world.api.sent_to(chat) if "🤝" in s.text]
    assert found, f"no reveal in {chat}"
    return found[-1]


@pytest.fixture
def charts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], chart.ChartText]]:
    """Every chart drawn: its week labels and its words."""
    drawn: list[tuple[list[str], chart.ChartText]] = []
    real = chart.render

    async def spy(labels: list[str], lines: object, text: chart.ChartText) -> bytes:
        drawn.append((list(labels), text))
        return await real(labels, lines, text)  # type: ignore[arg-type]

    monkeypatch.setattr(chart, "render", spy)
    return drawn


async def test_spanish_and_russian_partners_each_read_their_own_language(
    world: World, charts: list[tuple[list[str], chart.ChartText]]
) -> None:
    alice = world.person(101, "Alice", "es-MX")
    bob = world.person(202, "Bob", "ru")
    await pair(world, alice, bob)
    assert world.said(alice.id, "Próximo encuentro: domingo, 29 de noviembre, 19:00 Europe/Berlin")
    assert world.said(bob.id, "Следующая: воскресенье, 29 ноября, 19:00 Europe/Berlin")
    await world.send(bob, "/status")
    assert "<b>Язык</b>: Русский" in world.last_text(bob.id)
    assert "каждую неделю, воскресенье, в 19:00" in world.last_text(bob.id)
    await world.send(alice, "/status")
    assert "<b>Idioma</b>: Español" in world.last_text(alice.id)

    # A check-in, revealed in private chats: each reads the questions in their language,
    # and the other's words exactly as they were written.
    world.clock.set(WEEK1)
    await world.tick()
    assert world.said(alice.id, "Es la hora del encuentro. 5 preguntas breves")
    assert world.said(bob.id, "Время встречи. 5 коротких вопросов")
    await answer_all(world, alice, "5", "Un paseo juntos el sábado")
    assert "en cuanto tu pareja termine" in world.last_text(alice.id)
    await answer_all(world, bob, "2", "Прогулка в парке")
    mine, his = reveal_of(world, alice.id), reveal_of(world, bob.id)
    assert "Nadie fue primero" in mine and "Никто не был первым" in his
    assert "Прогулка в парке" in mine and "Un paseo juntos el sábado" in his
    assert "de forma distinta" in mine and "по-разному" in his
    assert "Nobody went first" not in mine + his

    # The week's summary, written for each reader.
    await world.tick()
    assert world.said(alice.id, "Vuestra semana juntos") and world.said(
        bob.id, "Ваша неделя вместе"
    )

    # A /conflict round in private chats.
    await world.send(alice, "/conflict")
    assert "¿De qué te gustaría hablar?" in world.last_text(alice.id)
    await world.send(alice, "los fines de semana")
    assert "Alice хочет поговорить о «los fines de semana»" in world.last_text(bob.id)
    await world.press(bob, "Сейчас удобно")
    await world.press(alice, "Primero habla Alice")
    assert world.said(alice.id, "Alice, tienes la palabra")
    assert world.said(bob.id, "Слово у Alice")
    await world.send(alice, "Me siento sola los domingos")
    await world.press(alice, "Listo, te toca, Bob")
    assert "<b>Alice:</b> Me siento sola los domingos" in world.texts(bob.id)
    assert "что ты услышал(а) от Alice" in world.last_text(bob.id)
    await world.send(bob, "Тебе одиноко по воскресеньям")
    assert "Bob ha oído: «Тебе одиноко по воскресеньям»" in world.last_text(alice.id)
    await world.press(alice, "Sí, eso es")
    await world.press(alice, "Eso es todo")
    await world.press(bob, "Пропустить шаг")
    assert world.said(bob.id, "Bob, слово за тобой")
    await world.send(bob, "Я устаю по воскресеньям")
    await world.press(bob, "Готово, слово Alice")
    assert "<b>Bob:</b> Я устаю по воскресеньям" in world.texts(alice.id)
    await world.send(alice, "Te cansas los domingos")
    assert "Alice услышал(а): «Te cansas los domingos»" in world.last_text(bob.id)
    await world.press(bob, "Да, именно так")
    await world.press(bob, "Это всё")
    await world.press(alice, "Saltar este paso")
    assert world.said(alice.id, "La ronda 1 ha terminado")
    assert world.said(bob.id, "Раунд 1 завершён")
    await world.press(alice, "Terminar la conversación")
    await world.press(alice, "Sí, terminarla")
    assert world.said(
        bob.id, "Alice завершает разговор о «los fines de semana». Пройдено: 1 раунд."
    )
    assert world.said(alice.id, "después de 1 ronda")

    # A promise: the date in each reader's words.
    await world.send(alice, "/promise llamar a mi madre para el viernes")
    assert (
        "Promesa anotada: «llamar a mi madre», para el viernes, 4 de diciembre"
        in world.last_text(alice.id)
    )
    assert world.said(
        bob.id, "Alice даёт тебе обещание: «llamar a mi madre», срок: пятница, 4 декабря"
    )
    await world.send(bob, "/promise починить кран к среде")
    assert world.said(
        alice.id, "Bob te ha hecho una promesa: «починить кран», para el miércoles, 2 de diciembre"
    )

    # Their group reads the inviter's language; reveals there are written once, for it.
    world.make_group(GROUP, alice, bob)
    _, link = world.find_button(alice.id, "Añadir Trellis a nuestro grupo")
    await world.add_bot(GROUP, alice)
    await world.send(alice, f"/start {link['url'].split('startgroup=')[1]}", chat_id=GROUP)
    assert world.said(GROUP, "Emparejados: Alice y Bob")
    world.clock.set(WEEK1 + timedelta(weeks=1))
    await world.tick()
    await answer_all(world, alice, "4", "Cocinar juntos")
    await answer_all(world, bob, "3", "Ужин вдвоём")
    group_reveal = reveal_of(world, GROUP)
    assert "Nadie fue primero" in group_reveal and "Ужин вдвоём" in group_reveal
    assert not [s for s in world.api.sent_to(bob.id) if "Никто не был первым" in s.text][1:]

    # Alice makes the group Russian in /settings; Bob is told in Russian.
    await world.send(alice, "/settings")
    await world.press(alice, "Idioma del grupo")
    await world.press(alice, "Русский")
    assert world.said(bob.id, "Теперь эта группа читает на языке: Русский")
    await world.send(bob, "/status", chat_id=GROUP)
    assert "<b>Язык</b>: Русский" in world.last_text(GROUP)

    # A third complete week: the summary's chart, its labels in the group's language, and
    # Alice's own /summary drawn again with hers.
    await world.tick()
    world.clock.set(WEEK1 + timedelta(weeks=2))
    await world.tick()
    await answer_all(world, alice, "4", "Reír juntos")
    await answer_all(world, bob, "4", "Смеяться вместе")
    assert "Никто не был первым" in reveal_of(world, GROUP)
    await world.tick()
    assert world.said(GROUP, "Ваша неделя вместе")
    summary = [t for t in world.texts(GROUP) if "Ваша неделя вместе" in t][-1]
    assert "Какими были недели" in summary  # the trend, its figures written the Russian way
    assert re.search(r"\b[1-5],\d\b", summary) and not re.search(r"\b[1-5]\.\d\b", summary)
    titles = [text.title for _, text in charts]
    assert "Какими были недели для каждого из вас (это не оценка)" in titles
    group_labels = next(labels for labels, text in charts if text.title.startswith("Какими"))
    assert group_labels[-3:] == ["23 нояб.", "30 нояб.", "7 дек."]
    await world.send(alice, "/summary")
    assert charts[-1][1].title == "Cómo ha sentido cada uno las semanas (no es una nota)"
    assert charts[-1][0][-3:] == ["23 nov", "30 nov", "7 dic"]
    assert charts[-1][1].y_label == "Cómo se sintió la semana"
    assert any("Vuestra semana juntos" in s.text for s in world.api.sent_to(alice.id)[-2:])


async def test_language_changes_mid_week_and_old_weeks_read_in_the_new_one(world: World) -> None:
    alice = world.person(101, "Alice", "es")
    bob = world.person(202, "Bob", "ru-RU")
    await pair(world, alice, bob)
    world.clock.set(WEEK1)
    await world.tick()
    assert "1/5" in world.last_text(bob.id) and "Время встречи" in world.last_text(bob.id)
    await world.press(bob, "3")  # the first question, in Russian

    # Mid-week, Bob switches to English: the rest of his week is in English.
    await world.send(bob, "/language")
    assert "На каком языке" in world.last_text(bob.id)
    await world.press(bob, "English")
    assert "From now on I'll talk to you in English." in world.last_text(bob.id)
    await world.send(bob, "/checkin")
    assert "Want to add a short note" in world.last_text(bob.id)
    await answer_all(world, bob, "3", "A quiet evening")
    assert "Thank you, that's all for this week" in world.last_text(bob.id)
    await world.send(bob, "/status")
    assert "<b>Language</b>: English" in world.last_text(bob.id)
    await answer_all(world, alice, "5", "Una tarde tranquila")
    assert "Nobody went first" in reveal_of(world, bob.id)
    assert "Nadie fue primero" in reveal_of(world, alice.id)
    await world.tick()
    assert world.said(bob.id, "Your week together") and world.said(
        alice.id, "Vuestra semana juntos"
    )

    # Stored as data: the same past week reads in whichever language Bob picks now.
    await world.send(bob, "/language")
    await world.press(bob, "Русский")
    assert "по-русски" in world.last_text(bob.id)
    await world.send(bob, "/history")
    assert "Прошлые недели" in world.last_text(bob.id)
    await world.press(bob, "23 нояб. 2026")
    assert any("Ваша неделя вместе" in s.text for s in world.api.sent_to(bob.id)[-3:])
    # His export reads Russian too: the captions, the page, and the questions he answered
    # (gathered on the database thread, which is told his language).
    await world.send(bob, "/export")
    docs = [s for s in world.api.sent_to(bob.id) if s.document is not None][-2:]
    assert "Всё, что ты написал(а) в Trellis" in docs[0].text
    assert "Что Bob написал(а) в Trellis" in docs[1].document.decode()
    ru_questions = {q.text for q in content.load("ru").questions}
    assert any(q in docs[0].document.decode() for q in ru_questions)
    # Pressing the same language again says so and changes nothing.
    await world.send(bob, "/language")
    await world.press(bob, "Русский")
    assert "Я уже говорю с тобой по-русски." in world.last_text(bob.id)


async def test_an_unknown_client_language_falls_back_to_english(world: World) -> None:
    carol = world.person(303, "Carol", "pt-BR")
    await world.send(carol, "/start")
    assert world.said(carol.id, "Hi Carol. I'm Trellis")


async def test_a_conversation_in_the_group_reads_the_group_language_and_nudges_the_writer_in_theirs(
    world: World,
) -> None:
    alice = world.person(101, "Alice", "es-ES")
    bob = world.person(202, "Bob", "ru")
    await pair(world, alice, bob)
    world.make_group(GROUP, alice, bob)
    _, link = world.find_button(alice.id, "Añadir Trellis a nuestro grupo")
    await world.add_bot(GROUP, alice)
    await world.send(alice, f"/start {link['url'].split('startgroup=')[1]}", chat_id=GROUP)
    await world.send(bob, "/conflict los platos", chat_id=GROUP)  # Bob writes, the group reads
    assert "A Bob le gustaría hablar de «los platos». Alice, ¿es buen momento" in world.last_text(
        GROUP
    )
    await world.press(alice, "Ahora está bien", chat_id=GROUP)
    await world.press(bob, "Primero habla Bob", chat_id=GROUP)
    assert "Bob, tienes la palabra" in world.last_text(GROUP)
    await world.send(bob, "Ты никогда не моешь посуду", chat_id=GROUP)
    # The gentle suggestion goes to Bob alone, in his language; the group sees his words.
    assert "Только для тебя, Bob" in world.last_text(bob.id)
    assert "«Всегда» и «никогда»" in world.last_text(bob.id)
    await world.send(alice, "Pero yo cocino siempre", chat_id=GROUP)
    assert "Ahora la palabra la tiene Bob" in world.last_text(GROUP)
