"""`reminders …`, `away until …`, `back on …`, `not away`: when a person likes to be nudged.

reminders                      what is set now
reminders mon-fri 07:00-19:00  days and hours (their own Teams time zone)
reminders every day 20:00-06:00
reminders default
away until 24 December         no nudges until then (annual leave)
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.actions import CardAction
from bot.cards import assessment as cards
from bot.cards.assessment_views import NoticeView
from bot.dialogs.assessment import Reply
from framework.identity import Identity
from rounds.rules.preferences import (
    PreferencesError,
    UpdatePreferences,
    describe,
    is_preferences_command,
    parse_command,
    preferences_from_form,
)
from rounds.rules.schedule import resolve_zone
from store.assessments.aggregate import Clock
from store.db import Database
from store.people import ensure_person
from store.rounds.lifecycle import preferences_of, save_preferences

HINT = (
    "Try: reminders mon-fri 09:00-17:00, reminders every day 20:00-06:00, "
    "or away until 24 December."
)


class RemindersDialog:
    def __init__(self, db: Database, *, zone: ZoneInfo, clock: Clock) -> None:
        self.db = db
        self.zone = zone
        self.clock = clock

    @staticmethod
    def handles(text: str) -> bool:
        return is_preferences_command(text)

    async def on_text(self, identity: Identity, text: str) -> Reply:
        return Reply(
            send=[
                cards.notice_card(
                    NoticeView(await self.db.run(lambda s: self._apply(s, identity, text)))
                )
            ]
        )

    async def on_form(self, identity: Identity, action: CardAction) -> Reply:
        """The invitation's "Reminder times" form."""

        def save(session: Session) -> str:
            now = self.clock()
            person = ensure_person(session, identity, now)
            assert person.id is not None
            zone = resolve_zone(person.time_zone, self.zone.key)
            current = preferences_of(session, person.id)
            try:
                chosen = preferences_from_form(
                    action.remind_days or "",
                    action.remind_from or "",
                    action.remind_to or "",
                    current=current,
                )
            except PreferencesError as exc:
                return f"ⓘ {exc} Nothing was changed."
            save_preferences(session, person.id, chosen, now)
            return f"✓ Reminders: {describe(chosen, zone, today=now.astimezone(zone).date())}."

        message = await self.db.run(save)
        return Reply(send=[cards.notice_card(NoticeView(message))])

    def _apply(self, session: Session, identity: Identity, text: str) -> str:
        now = self.clock()
        person = ensure_person(session, identity, now)
        assert person.id is not None
        zone = resolve_zone(person.time_zone, self.zone.key)
        today = now.astimezone(zone).date()
        current = preferences_of(session, person.id)
        try:
            command = parse_command(text, current=current, today=today)
        except PreferencesError as exc:
            return f"ⓘ {exc} {HINT}"
        if isinstance(command, UpdatePreferences):
            save_preferences(session, person.id, command.preferences, now)
            return f"✓ Reminders: {describe(command.preferences, zone, today=today)}."
        return f"Reminders: {describe(current, zone, today=today)}. {HINT}"
