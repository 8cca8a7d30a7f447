"""Posting huddle prompts through the outbox.

`post_due(now)` looks at every active schedule: the prompt whose time has come (with the late
rule: within 30 minutes of its time, for a date after the last one posted; see
huddles.rules.schedule.due_post) is claimed (a huddle row unique per schedule, date and slot)
and queued in the same transaction, so however many processes or leaders run this at once, and
however often, each prompt is posted once. `post_now` posts an unscheduled huddle (the CLI's
`huddles post`). The roster is read first (outside the transaction) for the lead's @mention and
the action owner choices; if Teams does not answer, the prompt goes out without them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime

from sqlmodel import Session

from framework.huddle_formats import HuddleFormats
from framework.identity import TeamMember
from huddles.rules.schedule import Occurrence, due_post
from huddles.services.access import HuddleAccess
from huddles.services.board import prompt_view
from huddles.services.ports import HuddleMessages
from store.audit import audit
from store.db import Database
from store.huddles.occurrences import Claim, claim, last_posted_dates, next_slot
from store.huddles.schedules import active_schedules, get_schedule, timing_of
from store.huddles.tables import HuddleSchedule
from store.outbox import Target, enqueue
from store.teams import Team

log = logging.getLogger(__name__)


def prompt_key(schedule_id: int, local_date: date, slot: int) -> str:
    return f"huddle:{schedule_id}:{local_date}:{slot}"


class HuddlePoster:
    def __init__(
        self,
        db: Database,
        access: HuddleAccess,
        formats: HuddleFormats,
        messages: HuddleMessages,
        *,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.access = access
        self.formats = formats
        self.messages = messages
        self.on_queued = on_queued

    async def post_due(self, now: datetime) -> int:
        """Post every prompt due now; how many were posted by this call."""
        posted = 0
        for schedule, team, occurrence in await self.db.run(lambda s: self._due(s, now)):
            wanted = self._claim(schedule, team, occurrence.local_date, 0, occurrence.huddle_at)
            if await self._post_one(team, wanted, now) is not None:
                posted += 1
                log.info("posted huddle %s for %s", wanted.prompt_key, team.team_id)
        if posted:
            self.on_queued()
        return posted

    async def _post_one(self, team: Team, wanted: Claim, now: datetime) -> int | None:
        members, leads = await self.people(team)
        return await self.db.run(lambda s: self._post(s, team, wanted, members, leads, now))

    async def post_now(self, schedule_id: int, *, actor: str, now: datetime) -> int:
        """Post an unscheduled huddle now; its id."""
        schedule, team = await self.db.run(lambda s: _schedule_and_team(s, schedule_id))
        members, leads = await self.people(team)

        def post(session: Session) -> int:
            local_date = now.astimezone(timing_of(schedule).tz).date()
            slot = next_slot(session, schedule_id, local_date)
            wanted = self._claim(schedule, team, local_date, slot, now)
            huddle_id = self._post(session, team, wanted, members, leads, now)
            assert huddle_id is not None, "a new slot is free in this transaction"
            audit(session, actor=actor, action="huddle.post",
                  target=f"huddle_schedule:{schedule_id}", detail={"huddle": huddle_id},
                  now=now)  # fmt: skip
            return huddle_id

        huddle_id = await self.db.run(post)
        self.on_queued()
        return huddle_id

    async def people(self, team: Team) -> tuple[list[TeamMember], list[TeamMember]]:
        """The team's roster and its leads, or nothing if Teams does not answer."""
        try:
            return await self.access.roster(team), await self.access.leads(team)
        except Exception:
            log.exception("could not read the roster of team %s for its huddle", team.team_id)
            return [], []

    # -- in the transaction -----------------------------------------------------------------

    def _due(
        self, session: Session, now: datetime
    ) -> list[tuple[HuddleSchedule, Team, Occurrence]]:
        last = last_posted_dates(session)
        due = []
        for schedule, team in active_schedules(session):
            assert schedule.id is not None
            occurrence = due_post(timing_of(schedule), now, last.get(schedule.id))
            if occurrence is not None:
                due.append((schedule, team, occurrence))
        return due

    @staticmethod
    def _claim(
        schedule: HuddleSchedule, team: Team, local_date: date, slot: int, huddle_at: datetime
    ) -> Claim:
        assert schedule.id is not None
        assert team.id is not None
        return Claim(
            schedule_id=schedule.id,
            team_id=team.id,
            local_date=local_date,
            slot=slot,
            huddle_at=huddle_at,
            conversation_id=schedule.channel_id or team.team_id,
            prompt_key=prompt_key(schedule.id, local_date, slot),
        )

    def _post(
        self,
        session: Session,
        team: Team,
        wanted: Claim,
        members: Sequence[TeamMember],
        leads: Sequence[TeamMember],
        now: datetime,
    ) -> int | None:
        huddle_id = claim(session, wanted, now)
        if huddle_id is None:
            return None  # posted already (another process, or an earlier run)
        view = prompt_view(session, huddle_id, self.formats, members=members, leads=leads, now=now)
        assert view is not None
        enqueue(
            session,
            dedupe_key=wanted.prompt_key,
            kind="huddle",
            tenant_id=team.tenant_id,
            target=Target.conversation(wanted.conversation_id, team.service_url),
            activity=self.messages.prompt(view),
            now=now,
            team_id=team.id,
        )
        return huddle_id


def _schedule_and_team(session: Session, schedule_id: int) -> tuple[HuddleSchedule, Team]:
    schedule = get_schedule(session, schedule_id)
    team = session.get(Team, schedule.team_id)
    assert team is not None
    return schedule, team
