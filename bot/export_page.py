"""The readable half of /export: one HTML page, no scripts, printable.

A pure view: it gets what `DataRights` gathered (the JSON export's data, plus the
user's conversations) and returns the page. Every word comes from the content
catalogue through `Core.t`, which escapes every value; nothing else is inserted.
A Content-Security-Policy that allows no script and no fetch is in the page itself.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from babel.dates import format_date

from bot.core import Core
from bot.schedule import cldr, zone

TURN_KINDS = ("speak", "paraphrase", "correction", "validation", "kept")
PROMISE_STATES = {"kept": "kept", "missed": "missed"}  # open, asked, claimed: still open

STYLE = """
body { font: 16px/1.5 Georgia, 'DejaVu Serif', serif; color: #222; margin: 0; }
main { max-width: 44rem; margin: 0 auto; padding: 2rem 1.25rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #bbb; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .25rem; }
.meta, .when { color: #555; font-size: .9rem; }
ul { padding-left: 1.2rem; }
li { margin: .35rem 0; }
blockquote { margin: .3rem 0 .6rem; padding: .2rem .8rem; border-left: 3px solid #8a6; }
blockquote.partner { border-left-color: #68a; }
.who { font-weight: bold; }
footer { margin-top: 2.5rem; color: #777; font-size: .8rem; }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  h2, h3 { break-after: avoid; }
  li, blockquote { break-inside: avoid; }
}
"""


@dataclass(frozen=True, slots=True)
class Turn:
    mine: bool
    round: int
    kind: str
    text: str


@dataclass(slots=True)
class Talk:
    """One /conflict conversation as this user saw it."""

    topic: str | None
    started: int
    partner: str  # their first name
    turns: list[Turn] = field(default_factory=list)
    agreements: list[tuple[str, str, str]] = field(default_factory=list)  # kind, text, status


def _day(iso: str | None, tz: str, lang: str = "en") -> str:
    """'27 November 2026', '27 de noviembre de 2026', '27 ноября 2026 г.' (CLDR's long date)."""
    if iso is None:
        return ""
    local = datetime.fromisoformat(iso).astimezone(zone(tz))
    return format_date(local, "long", locale=cldr(lang))


def _ts_iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _list(items: Iterable[str]) -> str:
    return "".join(f"<li>{item}</li>" for item in items)


class ExportPage:
    def __init__(self, core: Core) -> None:
        self.core = core

    def t(self, key: str, /, **values: object) -> str:
        return self.core.t(f"export_page.{key}", **values)

    def render(self, data: dict[str, Any], talks: list[Talk], partner: str) -> str:
        couple = data.get("couple") or {}
        tz = couple.get("timezone") or self.core.settings.default_timezone
        name = (data.get("you") or {}).get("first_name") or ""
        title = self.t("title", name=name)
        sections = [
            ("checkins", self._checkins(data["checkin_answers"], tz)),
            ("conversations", self._talks(talks, tz)),
            ("promises", self._promises(data["promises_made"], tz)),
            ("thanks", self._thanks(data["thanks_sent"], tz)),
        ]
        body = "".join(
            f"<section><h2>{self.t(key)}</h2>{inner or '<p>' + self.t('nothing') + '</p>'}"
            "</section>"
            for key, inner in sections
        )
        intro = self.t("intro", when=_day(data["exported_at"], tz, self.core.lang), partner=partner)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta http-equiv="Content-Security-Policy" '
            "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{STYLE}</style></head>\n"
            f'<body><main><h1>{title}</h1><p class="meta">{intro}</p>\n{body}\n'
            f"<footer>{self.t('footer')}</footer></main></body></html>\n"
        )

    def _checkins(self, answers: list[dict[str, Any]], tz: str) -> str:
        weeks: dict[str, list[str]] = {}
        for a in answers:
            parts = [f'<span class="who">{html.escape(a["question"] or a["theme"])}</span>']
            if a["value"] is not None:
                parts.append(self.t("scale", value=a["value"]))
            lines = [" · ".join(parts)]
            if a["answer"]:
                lines.append(self.t("answer", text=a["answer"]))
            if a["note"]:
                lines.append(self.t("note", text=a["note"]))
            weeks.setdefault(a["week"], []).append("<br>".join(lines))
        return "".join(
            f"<h3>{self.t('week', week=week)}</h3><ul>{_list(items)}</ul>"
            for week, items in weeks.items()
        )

    def _talks(self, talks: list[Talk], tz: str) -> str:
        out = []
        for talk in talks:
            head = self.t("topic", topic=talk.topic) if talk.topic else self.t("topic_none")
            when = self.t("started", when=_day(_ts_iso(talk.started), tz, self.core.lang))
            parts = [f'<h3>{head}</h3><p class="when">{when}</p>']
            shown_round = 0
            for turn in talk.turns:
                if turn.round != shown_round:
                    shown_round = turn.round
                    parts.append(f'<p class="when">{self.t("round", round=turn.round)}</p>')
                who = self.t("you") if turn.mine else html.escape(talk.partner)
                kind = self.t(f"turn_{turn.kind}") if turn.kind in TURN_KINDS else ""
                css = "" if turn.mine else ' class="partner"'
                text = html.escape(turn.text).replace("\n", "<br>")
                parts.append(
                    f'<blockquote{css}><span class="who">{who}</span> {kind}:<br>'
                    f"{text}</blockquote>"
                )
            if talk.agreements:
                parts.append(
                    "<ul>"
                    + _list(
                        f"{self.t(kind, text=text)} ({self.t('agreement_' + status)})"
                        for kind, text, status in talk.agreements
                    )
                    + "</ul>"
                )
            out.append("".join(parts))
        return "".join(out)

    def _promises(self, promises: list[dict[str, Any]], tz: str) -> str:
        return (
            "<ul>"
            + _list(
                f'“{html.escape(p["promise"])}”<br><span class="when">'
                + self.t(
                    "promise_when",
                    made=_day(p["made"], tz, self.core.lang),
                    due=_day(p["due"], tz, self.core.lang),
                )
                + " · "
                + self.t("promise_" + PROMISE_STATES.get(p["state"], "open"))
                + "</span>"
                for p in promises
            )
            + "</ul>"
            if promises
            else ""
        )

    def _thanks(self, thanks: list[dict[str, Any]], tz: str) -> str:
        return (
            "<ul>"
            + _list(
                f"“{html.escape(x['text'])}” "
                + f'<span class="when">{html.escape(_day(x["at"], tz, self.core.lang))}</span>'
                for x in thanks
            )
            + "</ul>"
            if thanks
            else ""
        )
