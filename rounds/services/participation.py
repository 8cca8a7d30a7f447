"""A participant's own choices about a round's reminders: the days and hours that suit them,
being away, "Remind me later" and "Stop reminding me". Each call is one unit of work; the
answers are sentences for the person, in their own time zone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from framework.identity import Identity
from rounds.rules.preferences import (
    UpdatePreferences,
    describe,
    parse_command,
    preferences_from_form,
)
from rounds.rules.schedule import resolve_zone, snooze_until
from rounds.rules.written import PreferencesError
from store.db import Database
from store.people import ensure_person
from store.rounds import participants

HINT = (
    "Try: reminders mon-fri 09:00-17:00, reminders every day 20:00-06:00, "
    "or away until 24 December."
)


@dataclass(frozen=True)
class RoundChoice:
    """What "Remind me later" or "Stop reminding me" did: a sentence, and whether it applied."""

    message: str
    applied: bool
    round_open: bool = True


class Participation:
    def __init__(self, db: Database, zone: ZoneInfo, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.zone = zone
        self.clock = clock

    async def reminders_command(self, identity: Identity, text: str) -> str:
        """`reminders …`, `away until …`: set or show when they like to be nudged."""
        return await self.db.run(lambda s: self._apply(s, identity, text))

    async def reminders_form(self, identity: Identity, days: str, start: str, end: str) -> str:
        """The invitation's Reminder times form."""

        def save(session: Session) -> str:
            now = self.clock()
            person = ensure_person(session, identity, now)
            assert person.id is not None
            zone = resolve_zone(person.time_zone, self.zone.key)
            current = participants.preferences_of(session, person.id)
            try:
                chosen = preferences_from_form(days, start, end, current=current)
            except PreferencesError as exc:
                return f"ⓘ {exc} Nothing was changed."
            participants.save_preferences(session, person.id, chosen, now)
            return f"✓ Reminders: {describe(chosen, zone, today=now.astimezone(zone).date())}."

        return await self.db.run(save)

    def _apply(self, session: Session, identity: Identity, text: str) -> str:
        now = self.clock()
        person = ensure_person(session, identity, now)
        assert person.id is not None
        zone = resolve_zone(person.time_zone, self.zone.key)
        today = now.astimezone(zone).date()
        current = participants.preferences_of(session, person.id)
        try:
            command = parse_command(text, current=current, today=today)
        except PreferencesError as exc:
            return f"ⓘ {exc} {HINT}"
        if isinstance(command, UpdatePreferences):
            participants.save_preferences(session, person.id, command.preferences, now)
            return f"✓ Reminders: {describe(command.preferences, zone, today=today)}."
        return f"Reminders: {describe(current, zone, today=today)}. {HINT}"

    async def snooze(self, identity: Identity, round_id: int) -> RoundChoice:
        """Remind me later: at the next start of their reminder window."""
        return await self.db.run(lambda s: self._choose(s, identity, round_id, snooze=True))

    async def opt_out(self, identity: Identity, round_id: int) -> RoundChoice:
        """Stop reminding me (they can still answer until the round closes)."""
        return await self.db.run(lambda s: self._choose(s, identity, round_id, snooze=False))

    def _choose(
        self, session: Session, identity: Identity, round_id: int, *, snooze: bool
    ) -> RoundChoice:
        view = participants.participant_view(session, round_id, identity)
        if view is None:
            return RoundChoice("That invitation isn't for you, so nothing was changed.", False)
        zone = resolve_zone(view.person_time_zone, self.zone.key)
        if view.round_status != "open":
            message = f"{view.round_name} has closed, so there is nothing to remind you about."
            return RoundChoice(message, False, round_open=False)
        if snooze:
            until = snooze_until(self.clock(), view.preferences.window(zone))
            participants.snooze(session, round_id, view.person_id, until)
            when = until.astimezone(zone)
            return RoundChoice(f"⏰ OK, I'll remind you on {when:%A %-d %B at %H:%M}.", True)
        participants.opt_out(session, round_id, view.person_id)
        closes = view.closes_at.astimezone(zone)
        message = (
            f"✓ OK, no more reminders for {view.round_name}. You can still answer until "
            f"{closes:%A %-d %B}."
        )
        return RoundChoice(message, True)
