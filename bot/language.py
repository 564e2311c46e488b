"""/language: each partner reads Trellis in their own language.

A user's language (`users.language`) starts as their Telegram client's (Core.touch_user)
and changes only here. It decides every message the bot writes to them; what partners
write is never translated. A group reads the couple's group language (/settings).
"""

from __future__ import annotations

from bot.callbacks import cb
from bot.core import Actor, Core
from bot.messages import Button, Msg, Outcome, rows


class Languages:
    def __init__(self, core: Core) -> None:
        self.core = core

    def name(self, lang: str) -> str:
        """A language as its own catalogue names it ('Español', 'Русский')."""
        return self.core.catalogues[lang].t("language.name")

    def buttons(self, *prefix: object) -> list[Button]:
        """One button per catalogue language, its callback data `prefix:…:lang`."""
        return [Button(self.name(lang), cb(*prefix, lang)) for lang in self.core.catalogues]

    async def command(self, actor: Actor) -> Outcome:
        out = Outcome()
        if not actor.private:
            return out.say(Msg(actor.chat_id, self.core.t("common.private_only")))
        async with self.core.db.tx() as conn:
            await self.core.touch_user(conn, actor)
        grid = self.buttons("lg")
        return out.say(Msg(actor.chat_id, self.core.t("language.ask"), rows(grid)))

    async def press(self, actor: Actor, lang: str, message_id: int | None) -> Outcome:
        out = Outcome()
        if lang not in self.core.catalogues or not actor.private:
            out.toast, out.alert = self.core.t("common.stale"), True
            return out
        async with self.core.db.tx() as conn:
            await self.core.touch_user(conn, actor)
            if self.core.lang == lang:
                return out.say(
                    Msg(actor.chat_id, self.core.t("language.same"), edit_message_id=message_id)
                )
            await self.core.set_language(conn, actor.user_id, lang)
        return out.say(Msg(actor.chat_id, self.core.t("language.set"), edit_message_id=message_id))

    def status_line(self) -> str:
        """'Language: Español', for /status, in the language being spoken."""
        return self.core.t("language.status", language=self.name(self.core.lang))
