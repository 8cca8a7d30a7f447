"""The self-assessment's card actions: one model per verb."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from bot.actions.base import CardAction, Id, Long, QuestionNumber, Revision

# Teams returns a choice's value as a string: "1".."5" (or the int) are accepted.
Level = Annotated[int, Field(ge=1, le=5)]


class OnAssessment(CardAction):
    """A button on a card of one assessment, drawn at one revision of it (compare-and-set)."""

    recovery_fields: ClassVar[tuple[str, ...]] = ("aid",)

    aid: Id
    rev: Revision


class StartAction(CardAction):
    verb: Literal["start"]
    round: Id | None = None  # Start on a round's invitation


class HelpAction(CardAction):
    verb: Literal["help"]


class CarryOnAction(CardAction):
    """ "No, carry on" on the restart question: back to where the person was."""

    verb: Literal["carry_on"]


class ChooseAction(OnAssessment):
    """A level tapped on a question card: shown as chosen, recorded by Next."""

    verb: Literal["choose"]
    q: QuestionNumber
    level: Level
    comment: Long | None = None


class AnswerAction(OnAssessment):
    verb: Literal["answer"]
    q: QuestionNumber
    level: Level | None = None
    comment: Long | None = None


class SkipAction(OnAssessment):
    verb: Literal["skip"]
    q: QuestionNumber
    comment: Long | None = None


class BackAction(OnAssessment):
    verb: Literal["back"]
    q: QuestionNumber
    comment: Long | None = None


class ChangeAction(OnAssessment):
    verb: Literal["change"]
    change_q: QuestionNumber | None = None


class SubmitAction(OnAssessment):
    verb: Literal["submit"]
    confirm: bool = False  # "Submit anyway", after being told how many were skipped


class RestartAction(OnAssessment):
    verb: Literal["restart"]


class ReopenAction(OnAssessment):
    verb: Literal["reopen"]


class RoleAction(CardAction):
    """The round's role question, asked once before its first question."""

    verb: Literal["role"]
    round: Id
    role: Annotated[str, StringConstraints(max_length=40)] | None = None
