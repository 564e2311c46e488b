"""The /conflict state machine as pure data and functions: no database, no Telegram.

States (docs/conflict.md has the diagram):
  topic -> appointment -> [scheduled ->] rules -> speaking -> paraphrasing -> confirming
  confirming -> correcting -> paraphrasing ("Not quite")  |  confirming -> more ("Yes")
  more -> speaking (same speaker, "More")  |  more -> validating ("That's it")
  validating -> speaking (roles swap)  |  validating -> round_menu (after both halves)
  round_menu -> speaking (another round)  |  round_menu -> requests (both feel heard)
  requests -> closed (everything answered, then Finish)
  any active state -> timeout (the caller's) -> back ; -> parked (24 h idle) -> back
  parked before it ever started -> ended after a week ; any open state -> ended (End)

Every function here takes a `Conv` and returns what should happen (a `Move`, a refusal
key, or a derived value); `bot.conflict.store` persists a `Move`, `bot.conflict.views`
renders the result, `bot.conflict.feature` ties them together in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot import schedule

FLOOR = ("speaking", "paraphrasing", "confirming", "more", "correcting", "validating")
ACTIVE = ("topic", "appointment", "rules", *FLOOR, "round_menu", "requests")
WAITING = ("scheduled", "timeout", "parked")
OPEN = (*ACTIVE, *WAITING)
FINAL = ("closed", "ended")
BREAKABLE = tuple(s for s in ACTIVE if s != "topic")
NOT_STARTED = ("topic", "appointment", "scheduled")

IDLE_NUDGE_AFTER = 30 * 60
PARK_AFTER = 24 * 3600
NEVER_STARTED_CLOSES_AFTER = 7 * 24 * 3600  # from the invitation, parked or not
MIN_BREAK = 20 * 60
MAX_BREAK = 24 * 3600
FOLLOW_UP_AFTER = 7 * 24 * 3600
# Limits on what a partner writes. Text over a limit is never cut: the writer is told the
# limit and asked to shorten it, and nothing is sent or saved meanwhile.
TOPIC_MAX = 200
AGREEMENT_MAX = 300  # becomes a promise, whose limit is the same (Promises.MAX_TEXT)
TEXT_MAX = 3000  # leaves room for the name and quotes within Telegram's 4096
EVENING = time(19)

# Which step's button each action is, and who may press it.
RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "ap": (("appointment",), "partner"),
    "fs": (("rules",), "initiator"),
    "dn": (("speaking",), "speaker"),
    "kp": (("speaking",), "speaker"),  # what I wrote while listening: use / edit / drop
    "ok": (("confirming",), "speaker"),
    "nq": (("confirming",), "speaker"),
    "mo": (("more",), "speaker"),  # "Is there more?": More / That's it
    "sk": (("validating",), "listener"),
    "rm": (("round_menu",), "either"),
    "nr": (("requests",), "either"),  # "I have no request" / "Nothing to offer"
    "fi": (("requests",), "either"),  # Finish, once everything is answered
    "sl": (FLOOR, "either"),  # repair: "Can we slow down?"
    "sr": (FLOOR, "either"),  # repair: "I'm sorry, let me try again"
    "hd": (OPEN, "either"),  # a held message: Send as it is / Rewrite
    "to": ((*BREAKABLE, "timeout"), "either"),  # during a break: propose a later time
    "tt": ((*BREAKABLE, "timeout"), "either"),
    "ak": (("timeout",), "not_pauser"),  # "ready to come back?", never forcing
    "en": (OPEN, "either"),
    "ey": (OPEN, "either"),
    "ek": (OPEN, "either"),
    "rs": (OPEN, "either"),  # during a time-out: only its caller (see role_for)
    "ru": (OPEN, "either"),  # the rules card on demand
    "rp": (("parked",), "either"),  # replace a parked conversation that never began
}
LATER_CHOICES = ("60", "180", "eve", "mor", "tmr")
BREAK_CHOICES = ("20", "60", "eve", "mor", "tmr")
CHOICE_LABELS = {
    "20": "conflict.b_in20",
    "60": "conflict.b_in1h",
    "180": "conflict.b_in3h",
    "eve": "conflict.b_evening",
    "tmr": "conflict.b_tomorrow",
    "mor": "conflict.b_morning",
}


@dataclass(frozen=True, slots=True)
class Conv:
    id: int
    couple_id: int
    initiator: int
    partner: int
    group_chat_id: int | None
    topic: str
    state: str
    paused_state: str | None
    speaker: int | None
    listener: int | None
    round: int
    half: int
    attempt: int
    rounds_done: int
    heard_by: int | None
    version: int
    resume_at: int | None
    idle_nudge_at: int | None
    park_at: int | None
    paused_by: int | None = None
    rules_shown: int = 0

    def has(self, user_id: int) -> bool:
        return user_id in (self.initiator, self.partner)

    def other(self, user_id: int) -> int:
        return self.partner if user_id == self.initiator else self.initiator

    @property
    def chats(self) -> tuple[int, ...]:
        """Where the conversation is shown: the group, or both private chats."""
        if self.group_chat_id is not None:
            return (self.group_chat_id,)
        return (self.initiator, self.partner)

    @property
    def in_group(self) -> bool:
        return self.group_chat_id is not None

    @property
    def replaceable(self) -> bool:
        """Parked before anyone spoke: a new /conflict may take its place."""
        return self.state == "parked" and self.never_started

    @property
    def never_started(self) -> bool:
        """Nobody has spoken yet: it was still being named, arranged or waited for."""
        state = self.paused_state if self.state in ("timeout", "parked") else self.state
        return state in NOT_STARTED

    def turn_holder(self) -> int | None:
        """Whose move the current step waits for (None: either, or nobody)."""
        if self.state in ("topic", "rules"):
            return self.initiator
        if self.state == "appointment":
            return self.partner
        if self.state in ("speaking", "confirming", "more", "correcting"):
            return self.speaker
        if self.state in ("paraphrasing", "validating"):
            return self.listener
        return None

    def may(self, user_id: int, role: str) -> bool:
        if role == "either":
            return self.has(user_id)
        if role == "not_pauser":
            return self.has(user_id) and user_id != self.paused_by
        holder = {
            "initiator": self.initiator,
            "partner": self.partner,
            "speaker": self.speaker,
            "listener": self.listener,
            "pauser": self.paused_by,
        }[role]
        return user_id == holder


def role_for(conv: Conv, action: str) -> str | None:
    """Who may press `action` in the conversation's current state (None: not this step)."""
    rule = RULES.get(action)
    if rule is None or conv.state not in rule[0]:
        return None
    if action == "rs" and conv.state == "timeout":
        return "pauser"  # a time-out is its caller's: only they end it early
    return rule[1]


def refusal(conv: Conv, user_id: int, action: str, version: int | None) -> str | None:
    """Why `user_id` may not press `action` on version `version` (a strings key), or None."""
    if not conv.has(user_id):
        return "common.not_yours"
    role = role_for(conv, action)
    if role is None or version != conv.version:
        return "conflict.stale"
    if not conv.may(user_id, role):
        if action == "rs" and conv.state == "timeout":
            return "conflict.not_your_break"
        return "conflict.not_your_turn"
    return None


@dataclass(frozen=True, slots=True)
class Move:
    """A transition: the next state and the columns that change with it."""

    state: str
    fields: dict[str, Any] = field(default_factory=dict)


def apply(conv: Conv, move: Move) -> Conv:
    """The conversation after `move` (what the store writes, in memory)."""
    known = {k: v for k, v in move.fields.items() if k in Conv.__dataclass_fields__}
    return replace(conv, state=move.state, version=conv.version + 1, **known)


def deadlines(state: str, now: int) -> dict[str, int | None]:
    """The idle nudge and parking deadlines a state starts with."""
    return {
        "idle_nudge_at": now + IDLE_NUDGE_AFTER if state in FLOOR else None,
        "park_at": now + PARK_AFTER if state in ACTIVE else None,
    }


# -- the floor --------------------------------------------------------------------


def first_speaker(conv: Conv, choice: str) -> Move | None:
    """'me' or 'you' from the rules step: who holds the floor first."""
    if choice not in ("me", "you"):
        return None
    first = conv.initiator if choice == "me" else conv.partner
    return Move("speaking", {"speaker": first, "listener": conv.other(first), "half": 0})


def done_speaking(conv: Conv, said_something: bool) -> Move | str:
    """The speaker presses Done: the listener repeats back, if there is something to hear."""
    if not said_something:
        return "conflict.write_first"
    return Move("paraphrasing", {"attempt": 1})


def paraphrase_confirmed(conv: Conv) -> Move:
    """ "Yes, that's it": before validating, the speaker is asked whether there is more."""
    return Move("more")


def more_or_done(conv: Conv, choice: str) -> Move | None:
    if choice == "more":
        return Move("speaking", {"attempt": 0})  # 0: the same speaker, going on
    if choice == "done":
        return Move("validating")
    return None


def pass_floor(conv: Conv) -> Move:
    """After validation: the roles swap, or both halves of the round are done."""
    if conv.half == 0:
        return Move(
            "speaking",
            {"speaker": conv.listener, "listener": conv.speaker, "half": 1, "attempt": 1},
        )
    return Move("round_menu", {"rounds_done": conv.rounds_done + 1, "heard_by": None})


def another_round(conv: Conv) -> Move:
    """The partner who opened this round opens the next one too."""
    return Move(
        "speaking",
        {
            "speaker": conv.listener,
            "listener": conv.speaker,
            "half": 0,
            "attempt": 1,
            "round": conv.round + 1,
            "heard_by": None,
        },
    )


def try_again(conv: Conv, user_id: int) -> str | None:
    """What "I'm sorry, let me try again" takes back at this step, for this partner.

    'speak': the speaker's last message of this bit (not yet passed on in private mode);
    'paraphrase': the listener's summary the speaker is checking; None: nothing of theirs.
    """
    if conv.state == "speaking" and user_id == conv.speaker:
        return "speak"
    if conv.state == "confirming" and user_id == conv.listener:
        return "paraphrase"
    return None


# -- breaks -------------------------------------------------------------------------


def break_until(code: str, now: datetime, quiet: schedule.Quiet) -> datetime | None:
    """When a break or a later appointment chosen as `code` ends: 20 min to 24 h away,
    never inside the couple's quiet hours (such a choice is not offered: None)."""
    minutes = {"20": 20, "60": 60, "180": 180, "tmr": 24 * 60}
    tz = ZoneInfo(quiet.tz)
    if code in minutes:
        until = now + timedelta(minutes=minutes[code])
    elif code == "eve":
        evening = schedule.local_to_utc(now.astimezone(tz).date(), EVENING, tz)
        until = evening if evening > now else now + timedelta(hours=3)
    elif code == "mor":  # the end of the coming quiet hours: tomorrow morning
        start = schedule.local_to_utc(now.astimezone(tz).date(), quiet.start, tz)
        if start <= now:
            start += timedelta(days=1)
        until = quiet.outside(start)
        if until == start:  # no quiet hours: no morning choice
            return None
    else:
        return None
    low, high = now + timedelta(seconds=MIN_BREAK), now + timedelta(seconds=MAX_BREAK)
    until = min(max(until, low), high)
    return None if quiet.covers(until) else until


def offered(choices: tuple[str, ...], now: datetime, quiet: schedule.Quiet) -> list[str]:
    """The choices whose moment is outside quiet hours, each moment once (the first label)."""
    seen: set[datetime] = set()
    kept = []
    for code in choices:
        until = break_until(code, now, quiet)
        if until is not None and until not in seen:
            seen.add(until)
            kept.append(code)
    return kept


def take_break(conv: Conv, user_id: int, until: int) -> Move | str:
    """A time-out, or another time proposed during one.

    The caller sets it and may move it either way; the other partner may only propose a
    later return, never shorten the caller's break.
    """
    if conv.state != "timeout":
        return Move(
            "timeout", {"paused_state": conv.state, "paused_by": user_id, "resume_at": until}
        )
    if user_id != conv.paused_by and until < (conv.resume_at or 0):
        return "conflict.not_shorter"
    return Move(
        "timeout",
        {"paused_state": conv.paused_state, "paused_by": conv.paused_by, "resume_at": until},
    )


def resume(conv: Conv) -> Move:
    """Back from a break, a park or the agreed appointment."""
    back = "rules" if conv.state == "scheduled" else (conv.paused_state or "rules")
    return Move(back, {"paused_state": None, "paused_by": None})


def park(conv: Conv, now: int, created_at: int) -> Move:
    """Quiet for a day: paused. One that never started closes a week after it was opened."""
    fields: dict[str, Any] = {"paused_state": conv.state}
    if conv.never_started:
        fields["park_at"] = max(created_at + NEVER_STARTED_CLOSES_AFTER, now + 1)
    return Move("parked", fields)


# -- requests and offers -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Agreement:
    """A request or offer; `doer` does it, `decider` says yes or no to it.

    `status`: proposed -> willing (a request the doer is putting into their own words)
    -> accepted; proposed -> declined ("not now", changeable until the close) ; 'none':
    the author had no request or nothing to offer. `words`: the doer's "I will …".
    """

    id: int
    conversation_id: int
    couple_id: int
    kind: str
    author: int
    decider: int
    doer: int
    text: str
    status: str
    follow_up_at: int | None
    words: str = ""


def next_to_write(mine: list[Agreement]) -> str | None:
    """What a partner writes next in the requests step: 'request', 'offer' or nothing."""
    kinds = {a.kind for a in mine}
    if "request" not in kinds:
        return "request"
    if "offer" not in kinds:
        return "offer"
    return None


def settled(everything: list[Agreement], partners: tuple[int, int]) -> bool:
    """Both partners made (or passed on) a request and an offer, and all are answered."""
    for uid in partners:
        if next_to_write([a for a in everything if a.author == uid]) is not None:
            return False
    return all(a.status in ("accepted", "declined", "none") for a in everything)


def decision(agreement: Agreement, user_id: int, choice: str) -> str | None:
    """The status a press makes, or None if it changes nothing (a refusal).

    "Not now" may be changed to yes until the conversation closes.
    """
    if user_id != agreement.decider or choice not in ("y", "n"):
        return None
    if agreement.status == "proposed":
        yes = "willing" if agreement.kind == "request" else "accepted"
        return yes if choice == "y" else "declined"
    if agreement.status == "declined" and choice == "y":
        return "willing" if agreement.kind == "request" else "accepted"
    return None
