"""Rounds' card actions: the participant's choices and the improvement team's forms."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from bot.actions.base import CardAction, Id, Short

Clock = Annotated[str, StringConstraints(max_length=8)]


class SnoozeAction(CardAction):
    """Remind me later, on an invitation or a nudge."""

    verb: Literal["snooze"]
    round: Id


class OptOutAction(CardAction):
    """Stop reminding me."""

    verb: Literal["optout"]
    round: Id


class ReminderTimesAction(CardAction):
    """The invitation's Reminder times form."""

    verb: Literal["reminder_times"]
    remind_days: Short | None = None
    remind_from: Clock | None = None
    remind_to: Clock | None = None


class RoundNewAction(CardAction):
    verb: Literal["round_new"]


class RoundCreateAction(CardAction):
    """The new-round form; every field is validated again, with clear messages, on creation."""

    verb: Literal["round_create"]
    name: Short | None = None
    teams: Annotated[str, StringConstraints(max_length=4000)] | None = None
    opens: Short | None = None
    closes: Short | None = None
    reminders: Short | None = None
    role_question: Literal["true", "false"] | None = None
    repeat: Short | None = None


class RoundChangeAction(CardAction):
    """Extend a week / Close now / Cancel round, on the rounds card (the round from its list)."""

    round: Id | None = None


class RoundExtendAction(RoundChangeAction):
    verb: Literal["round_extend"]


class RoundCloseAction(RoundChangeAction):
    verb: Literal["round_close"]


class RoundCancelAction(RoundChangeAction):
    verb: Literal["round_cancel"]


class ResultsAction(CardAction):
    """Full results, from a round's summary card."""

    verb: Literal["results"]
    round_id: Id
    team_id: Id


class ExportAction(CardAction):
    """Download CSV / Excel, from Full results."""

    verb: Literal["export"]
    round_id: Id
    fmt: Literal["csv", "xlsx"] = "csv"
