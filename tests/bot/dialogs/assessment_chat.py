"""The self-assessment chat as the conversation tests drive it: the framework's questions, the
cards' words and what the database holds for a person."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import select

from framework.content import default_framework
from store.assessments.tables import Answer, Assessment
from store.db import Database
from store.people import Person
from tests.fakes.teams_client import TeamsUser, card_of, card_text

QUESTIONS = 22
FRAMEWORK = default_framework()


def level_title(question: int, level: int) -> str:
    """What a level on a question card is called (the title of its tap action)."""
    return f"{FRAMEWORK.level(level).name}: {FRAMEWORK.descriptor(question, level)}"


def is_live(card: dict[str, Any]) -> bool:
    """A question or review card that still has its buttons."""
    titles = [a.get("title") for a in card.get("actions") or []]
    return "Next" in titles or "Submit my answers" in titles or "Submit anyway" in titles


def live_cards(user: TeamsUser) -> list[dict[str, Any]]:
    return [card for _id, card in user.cards() if is_live(card)]


def answers_in_db(db: Database, user: TeamsUser) -> dict[int, tuple[int | None, str | None]]:
    def read(session: Any) -> dict[int, tuple[int | None, str | None]]:
        rows = session.exec(
            select(Answer.question_number, Answer.level, Answer.comment)
            .join(Assessment, Answer.assessment_id == Assessment.id)
            .join(Person, Assessment.person_id == Person.id)
            .where(Person.teams_user_id == user.user_id, Assessment.status != "abandoned")
        ).all()
        return {q: (level, comment) for q, level, comment in rows}

    return db.run_sync(read)


def shown(user: TeamsUser, card_id: str) -> dict[str, Any]:
    """The card `card_id` as the person's chat shows it now (updated in place or not)."""
    return card_of(user.connector.activity(user.conversation_id, card_id)) or {}


def question_number(card: dict[str, Any]) -> int | None:
    text = card_text(card)
    marker = "Question "
    if marker not in text:
        return None
    return int(text.split(marker, 1)[1].split(" ", 1)[0])


async def start(user: TeamsUser) -> None:
    await user.install()
    await user.press("Start")


async def answer_all(
    user: TeamsUser, level_for: Callable[[int], int], via: str = "execute", *, tap: bool = False
) -> None:
    """Answer every question: tap the level, then Next (`tap`), or Next with the level in its
    data at once (what the server receives either way)."""
    for expected in range(1, QUESTIONS + 1):
        _, card = user.last_card()
        assert question_number(card) == expected
        level = level_for(expected)
        if tap:
            chosen = await user.press(level_title(expected, level), via=via)
            assert chosen.status in (200, 201)
            result = await user.press("Next", {}, via=via)
        else:
            result = await user.press("Next", {"level": str(level), "comment": ""}, via=via)
        assert result.status in (200, 201)
