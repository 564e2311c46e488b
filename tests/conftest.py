"""Shared fixtures: a world with a fake Bot API, a moved clock and two partners.

Every test refuses the network: any socket connect raises.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from playground.sim import Person, World
from tests.helpers import started


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tests must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with started(World(db_path=tmp_path / "data" / "trellis.sqlite3")) as w:
        yield w


@pytest.fixture
def alice(world: World) -> Person:
    return world.person(101, "Alice")


@pytest.fixture
def bob(world: World) -> Person:
    return world.person(202, "Bob")


@pytest.fixture
def carol(world: World) -> Person:
    return world.person(303, "Carol")
