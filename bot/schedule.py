"""Weekly schedule arithmetic in a couple's own time zone.

Rules: a local time that does not exist (spring forward) moves to the next
valid minute; an ambiguous one (fall back) takes the first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale
from babel.dates import format_skeleton, get_day_names, get_month_names

WEEK = 7 * 24 * 3600  # seconds

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The CLDR locale whose date conventions each catalogue language reads: Trellis's English
# writes days British style ("Sunday 29 November, 19:00").
_CLDR = {"en": "en_GB"}


@cache
def cldr(lang: str) -> Locale:
    """The CLDR locale (Babel) whose names and formats a catalogue language uses."""
    return Locale.parse(_CLDR.get(lang, lang))


_locale = cldr


@cache
def day_names(lang: str = "en", width: Literal["wide", "abbreviated"] = "wide") -> tuple[str, ...]:
    """Monday..Sunday in `lang` as CLDR names them on their own ('lunes', 'понедельник')."""
    names = get_day_names(width, context="stand-alone", locale=_locale(lang))
    return tuple(str(names[n]) for n in range(7))


@cache
def day_words(lang: str = "en") -> dict[str, int]:
    """Every CLDR spelling of a weekday in `lang` (wide and short, standing alone or in a
    date), lower-cased, to its number (Monday 0)."""
    out: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for context in ("format", "stand-alone"):
            names = get_day_names(width, context=context, locale=_locale(lang))
            for n in range(7):
                out[str(names[n]).lower().rstrip(".")] = n
    return out


def weekday_of(word: str, lang: str = "en") -> int | None:
    """The weekday `word` names in `lang`, allowing the inflected endings CLDR does not list
    (Russian 'к пятнице', 'в среду'): a word beginning with a full name less its last letter
    counts, if that stem is unambiguous."""
    word = word.lower().rstrip(".")
    words = day_words(lang)
    if word in words:
        return words[word]
    hits = {
        n
        for name, n in words.items()
        if len(name) >= 5 and word.startswith(name[:-1]) and len(word) - len(name) <= 2
    }
    return hits.pop() if len(hits) == 1 else None


@cache
def month_words(lang: str = "en") -> dict[str, int]:
    """Every CLDR spelling of a month in `lang`, lower-cased, to its number (January 1)."""
    out: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for context in ("format", "stand-alone"):
            names = get_month_names(width, context=context, locale=_locale(lang))
            for n in range(1, 13):
                out[str(names[n]).lower().rstrip(".")] = n
    if lang == "en":
        out["sept"] = 9
    return out


def day_month(local: datetime | date, lang: str = "en") -> str:
    """'Friday 27 November', 'viernes, 27 de noviembre', 'пятница, 27 ноября': the wide
    weekday, then day and month, joined the way the language's full CLDR date joins them."""
    loc = _locale(lang)
    names = get_day_names("wide", context="format", locale=loc)
    joint = " " if lang == "en" else ", "  # Trellis's English: "Sunday 29 November"
    if lang != "en" and "EEEE, " not in str(loc.date_formats["full"].pattern):
        joint = " "
    return f"{names[local.weekday()]}{joint}{format_skeleton('MMMMd', local, locale=loc)}"


@lru_cache(maxsize=4096)  # the sweep parses each couple's stored 'HH:MM' again and again
def parse_hhmm(text: str) -> time | None:
    text = text.strip().replace(".", ":")
    try:
        hh, mm = text.split(":")
        return time(int(hh), int(mm))
    except ValueError:
        return None


def valid_zone(name: str) -> str | None:
    """The canonical IANA name for `name` (case-insensitive), or None."""
    name = name.strip().replace(" ", "_")
    zones = _zones()
    return zones.get(name.lower())


_ZONES: dict[str, str] | None = None


def _zones() -> dict[str, str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = {z.lower(): z for z in available_timezones() if "/" in z or z == "UTC"}
    return _ZONES


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC moment of wall-clock `day at` in `tz`, per the rules above."""
    naive = datetime.combine(day, at)
    first = naive.replace(tzinfo=tz, fold=0)
    # A wall time exists iff it survives a round trip through UTC.
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
        return first.astimezone(UTC)
    # Non-existent (spring forward): walk to the next minute that exists.
    probe = naive
    for _ in range(24 * 60):
        probe += timedelta(minutes=1)
        cand = probe.replace(tzinfo=tz, fold=0)
        if cand.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == probe:
            return cand.astimezone(UTC)
    raise ValueError("no valid local time found")  # pragma: no cover


def next_due(
    tz_name: str, weekday: int, at: time, after: datetime, *, not_before: datetime | None = None
) -> datetime:
    """The first weekly moment strictly after `after` (and at or after `not_before`)."""
    tz = zone(tz_name)
    floor = max(after, not_before) if not_before else after
    local_day = floor.astimezone(tz).date()
    start = local_day - timedelta(days=(local_day.weekday() - weekday) % 7)
    for week in range(0, 60):
        moment = local_to_utc(start + timedelta(weeks=week), at, tz)
        if moment > after and (not_before is None or moment >= not_before):
            return moment
    raise ValueError("no due moment found")  # pragma: no cover


def iso_week(moment: datetime, tz_name: str) -> str:
    """The couple-local ISO week of `moment`, e.g. '2026-W48'."""
    year, week, _ = moment.astimezone(zone(tz_name)).isocalendar()
    return f"{year}-W{week:02d}"


def human(moment: datetime, tz_name: str, lang: str = "en") -> str:
    """'Sunday 30 November, 19:00 Europe/Berlin', in `lang`'s CLDR date format."""
    local = moment.astimezone(zone(tz_name))
    return f"{day_month(local, lang)}, {local:%H:%M} {tz_name}"


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def from_ts(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


# -- quiet hours -----------------------------------------------------------------------

QUIET_DEFAULT = ("22:00", "08:00")


@dataclass(frozen=True, slots=True)
class Quiet:
    """A couple's nightly quiet hours, `start` to `end` local time (may wrap midnight).

    Nothing scheduled fires inside them: a due moment that falls there moves to `end`.
    `start == end` means no quiet hours.
    """

    tz: str
    start: time
    end: time

    @classmethod
    def of(cls, tz: str, start: str, end: str) -> Quiet:
        return _quiet(tz, start, end)

    def covers_time(self, at: time) -> bool:
        """Whether the local wall time `at` lies inside the quiet hours."""
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end

    def covers(self, moment: datetime) -> bool:
        local = moment.astimezone(zone(self.tz))
        return self.covers_time(local.time().replace(second=0, microsecond=0))

    def outside(self, moment: datetime) -> datetime:
        """`moment`, or the end of the quiet hours it falls in (the next local morning)."""
        if not self.covers(moment):
            return moment
        tz = zone(self.tz)
        local = moment.astimezone(tz)
        day = local.date()
        if local.time() >= self.end:  # late evening: the end is tomorrow morning
            day += timedelta(days=1)
        return local_to_utc(day, self.end, tz)

    def outside_ts(self, value: int) -> int:
        return ts(self.outside(from_ts(value)))

    def label(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


@lru_cache(maxsize=1024)  # a handful of (zone, window) pairs serve every couple
def _quiet(tz: str, start: str, end: str) -> Quiet:
    s, e = parse_hhmm(start), parse_hhmm(end)
    assert s is not None and e is not None, (start, end)
    return Quiet(tz, s, e)
