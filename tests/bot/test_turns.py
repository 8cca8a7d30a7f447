"""The turns in flight, which the outbox sender gives way to."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.turns import TurnsInFlight

pytestmark = pytest.mark.unit


async def test_give_way_returns_at_once_when_no_turn_is_in_flight() -> None:
    turns = TurnsInFlight()
    started = time.monotonic()
    await turns.give_way(at_most=5.0)
    assert time.monotonic() - started < 0.5
    assert turns.count == 0


async def test_give_way_waits_for_the_last_turn_to_end_or_gives_up() -> None:
    turns = TurnsInFlight()
    with turns.turn(), turns.turn():
        assert turns.count == 2
        waiting = asyncio.ensure_future(turns.give_way(at_most=5.0))
        await asyncio.sleep(0.02)
        assert not waiting.done()
    await asyncio.wait_for(waiting, 1.0)
    assert turns.count == 0
    with turns.turn():
        started = time.monotonic()
        await turns.give_way(at_most=0.05)  # the turn goes on: give up after 50 ms
        assert 0.04 <= time.monotonic() - started < 1.0


async def test_a_turn_that_fails_still_ends() -> None:
    turns = TurnsInFlight()
    try:
        with turns.turn():
            raise RuntimeError("the turn failed")
    except RuntimeError:
        pass
    assert turns.count == 0
    await asyncio.wait_for(turns.give_way(at_most=5.0), 1.0)
