"""/conflict: a guided, turn-taking conversation (docs/conflict.md).

machine  the pure state machine: states, who may press what, every transition
store    its SQL (conversations, turns, agreements; text encrypted at rest)
views    what partners read: each step's screen, buttons and the summary
nudges   the gentle start-up check and the shape of requests
feature  `Conflict`, which ties them together for the services container
"""

from bot.conflict.feature import AgreementSink, Conflict
from bot.conflict.machine import (
    BREAK_CHOICES,
    LATER_CHOICES,
    Agreement,
    Conv,
    break_until,
    offered,
    refusal,
)
from bot.conflict.nudges import NudgeMatcher, normalise

__all__ = [
    "BREAK_CHOICES",
    "LATER_CHOICES",
    "Agreement",
    "AgreementSink",
    "Conflict",
    "Conv",
    "NudgeMatcher",
    "break_until",
    "normalise",
    "offered",
    "refusal",
]
