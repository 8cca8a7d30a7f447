"""The huddle world (tests/huddles/world.py) for the huddle dialog tests, and someone on their
first question for the assessment tests."""

from collections.abc import Callable

import pytest

from tests.bot.dialogs.assessment_chat import start
from tests.fakes.teams_client import TeamsUser
from tests.huddles.world import world

__all__ = ["user", "world"]


@pytest.fixture
async def user(teams_user: Callable[..., TeamsUser]) -> TeamsUser:
    """Someone who added the bot and pressed Start: on question 1's card, nothing answered."""
    person = teams_user()
    await start(person)
    return person
