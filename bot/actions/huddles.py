"""Huddles' card actions: capture on the prompt card, item changes, the leads' schedule forms
and the improvement team's team tree. Each field is validated again by the services, with
clear messages; these models only make sure the types and sizes are what a card can send."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from bot.actions.base import CardAction, Id, Long, Short

TeamsId = Annotated[str, StringConstraints(max_length=256)]
Days = Annotated[str, StringConstraints(max_length=64)]


class HuddleHereAction(CardAction):
    """I'm here."""

    verb: Literal["huddle_here"]
    huddle: Id


class HuddleIdeaAction(CardAction):
    verb: Literal["huddle_idea"]
    huddle: Id
    idea_text: Long | None = None


class HuddleActionItemAction(CardAction):
    """Add action: what, who (a Teams id from the roster, or "me") and by when."""

    verb: Literal["huddle_action"]
    huddle: Id
    action_text: Long | None = None
    action_owner: TeamsId | None = None
    action_due: Short | None = None


class HuddleEscalationAction(CardAction):
    verb: Literal["huddle_escalation"]
    huddle: Id
    escalation_text: Long | None = None


class HuddleItemAction(CardAction):
    """Update an item: from a prompt card (`huddle`), a list (`list`) or a nudge (neither)."""

    verb: Literal["huddle_item"]
    huddle: Id | None = None
    list: Literal["ideas", "actions"] | None = None
    item: Short | None = None
    change: Short | None = None
    change_note: Long | None = None


class HuddleOutcomeAction(CardAction):
    huddle: Id
    outcome_note: Long | None = None


class HuddleHeldAction(HuddleOutcomeAction):
    verb: Literal["huddle_held"]


class HuddleNotHeldAction(HuddleOutcomeAction):
    verb: Literal["huddle_not_held"]


class HuddleScheduleFormAction(CardAction):
    """New schedule: the form for a team."""

    verb: Literal["huddle_schedule_form"]
    team: TeamsId | None = None


class HuddleScheduleSaveAction(CardAction):
    verb: Literal["huddle_schedule_save"]
    team: TeamsId | None = None
    name: Short | None = None
    format: Short | None = None
    channel: Annotated[str, StringConstraints(max_length=512)] | None = None
    days: Days | None = None
    at: Short | None = None
    zone: Short | None = None
    lead_minutes: Short | None = None
    bank_holidays: Literal["true", "false"] | None = None


class HuddleScheduleChangeAction(CardAction):
    """Pause, Resume, Skip and Delete on the schedules card (the schedule from its list)."""

    schedule: Id | None = None
    skip_on: Short | None = None


class HuddlePauseAction(HuddleScheduleChangeAction):
    verb: Literal["huddle_pause"]


class HuddleResumeAction(HuddleScheduleChangeAction):
    verb: Literal["huddle_resume"]


class HuddleSkipAction(HuddleScheduleChangeAction):
    verb: Literal["huddle_skip"]


class HuddleDeleteAction(HuddleScheduleChangeAction):
    verb: Literal["huddle_delete"]


class TeamParentAction(CardAction):
    """The team tree form: a team and the team above it ("none": a top team)."""

    verb: Literal["team_parent_save"]
    team: TeamsId | None = None
    parent: TeamsId | None = None
