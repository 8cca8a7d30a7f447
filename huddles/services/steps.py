"""The scheduled steps of huddles, each idempotent and safe to run late or twice:

    post_due(now)      prompts whose time has come (posting.py: the late rule, never twice)
    escalate_due(now)  open escalations a full IMPACT_ESCALATE_AFTER_DAYS older than their
                       level allows move one team further up the tree (never past the top)
    nudge_due(now)     each open action's owner, once, on its due date, inside their own
                       reminder window (the same days, hours, zone and "away" as round nudges)
    digest_due(now)    Monday 08:00 (to 12:00) digests: each lead's, in their own zone, in the
                       1:1 chat; the improvement team's in its channel

The scheduler only wakes these (jobs.py says when); tests call them with a moved clock. Every
message is written to the outbox in the transaction that records why it was sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session

from framework.identity import Identity, TeamMember
from huddles.rules.digest import digest_week
from huddles.rules.items import action_nudge_due, escalation_level
from huddles.rules.views import NudgeView, item_ref
from huddles.services.access import HuddleAccess
from huddles.services.board import short_date
from huddles.services.digests import improvement_view, lead_digest
from huddles.services.ports import HuddleMessages, HuddleOptions
from huddles.services.posting import HuddlePoster
from rounds.rules.schedule import resolve_zone
from store.audit import audit
from store.db import Database
from store.huddles import items as item_store
from store.huddles.people import known_zones, zone_of
from store.huddles.schedules import schedules
from store.huddles.tables import HuddleItem
from store.huddles.tree import chain_in, parent_map
from store.outbox import Target, enqueue, is_queued
from store.people import Person, ensure_person
from store.rounds.participants import preferences_of
from store.teams import Team, installed_team

log = logging.getLogger(__name__)


class HuddleSteps:
    def __init__(
        self,
        db: Database,
        access: HuddleAccess,
        poster: HuddlePoster,
        messages: HuddleMessages,
        options: HuddleOptions,
        *,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.access = access
        self.poster = poster
        self.messages = messages
        self.options = options
        self.on_queued = on_queued

    async def run_due(self, now: datetime) -> None:
        """Everything the minute's tick looks at."""
        await self.poster.post_due(now)
        await self.escalate_due(now)
        await self.nudge_due(now)
        await self.digest_due(now)

    async def post_due(self, now: datetime) -> int:
        return await self.poster.post_due(now)

    # -- escalations ----------------------------------------------------------------------------

    async def escalate_due(self, now: datetime) -> int:
        return await self.db.run(lambda s: self.raise_levels(s, now))

    def raise_levels(self, session: Session, now: datetime) -> int:
        parents, moved = parent_map(session), 0
        for row in item_store.open_escalations(session):
            chain = chain_in(parents, row.team_id)
            level = escalation_level(
                row.created_at, now, self.options.escalate_after_days, len(chain)
            )
            if level > row.level and item_store.raise_level(session, row.id, level, now):
                moved += 1
                audit(session, actor="scheduler", action="huddle.escalated",
                      target=f"huddle_item:{row.id}",
                      detail={"level": level, "team": chain[min(level, len(chain) - 1)]},
                      now=now)  # fmt: skip
        return moved

    # -- action owners' nudges ------------------------------------------------------------------

    async def nudge_due(self, now: datetime) -> int:
        count = await self.db.run(lambda s: self.queue_nudges(s, now))
        if count:
            self.on_queued()
        return count

    def queue_nudges(self, session: Session, now: datetime) -> int:
        """One nudge per open action, on its due date in the owner's zone and window."""
        today = now.date()  # UTC; every zone's "today" is within a day of it
        queued = 0
        candidates = item_store.actions_to_nudge(
            session, today - timedelta(days=1), today + timedelta(days=1)
        )
        for item, person, team in candidates:
            assert person.id is not None
            assert item.due is not None
            preferences = preferences_of(session, person.id)
            window = preferences.window(resolve_zone(person.time_zone, self.options.zone.key))
            if preferences.is_away(window.local_date(now)):
                continue
            if not action_nudge_due(item.due, False, False, now, window):
                continue
            if self._nudge(session, item, person, team, now):
                queued += 1
        return queued

    def _nudge(
        self, session: Session, item: HuddleItem, person: Person, team: Team, now: datetime
    ) -> bool:
        assert item.id is not None
        assert item.due is not None
        if not item_store.mark_nudged(session, item.id, now):
            return False
        view = NudgeView(
            ref=item_ref(item.kind, item.id, item.revision),
            text=item.text,
            team_name=team.name,
            due=short_date(item.due),
        )
        return enqueue(
            session,
            dedupe_key=f"huddle:action:{item.id}:nudge",
            kind="nudge",
            tenant_id=person.tenant_id,
            target=_person_target(person.teams_user_id, person.tenant_id, team),
            activity=self.messages.nudge(view),
            now=now,
            person_id=person.id,
            team_id=team.id,
        )

    # -- Monday digests -------------------------------------------------------------------------

    async def digest_due(self, now: datetime) -> int:
        zones = await self.db.run(known_zones) | {self.options.zone.key}
        if not any(digest_week(now, zone) for zone in zones):
            return 0  # not Monday morning anywhere we know of: no roster reads
        sent = await self._improvement_digest(now)
        teams = await self.db.run(
            lambda s: list({t.id: t for _s, t in schedules(s) if t.installed}.values())
        )
        for team in teams:
            try:
                leads = await self.access.leads(team)
            except Exception:
                log.exception("could not read the leads of team %s for its digest", team.team_id)
                continue
            for lead in leads:
                sent += await self._send_lead_digest(team, lead, now)
        if sent:
            self.on_queued()
        return sent

    async def _send_lead_digest(self, team: Team, lead: TeamMember, now: datetime) -> int:
        return await self.db.run(lambda s: self._lead_digest(s, team, lead, now))

    def _lead_digest(self, session: Session, team: Team, lead: TeamMember, now: datetime) -> int:
        tenant = lead.tenant_id or team.tenant_id
        zone = resolve_zone(zone_of(session, tenant, lead.teams_user_id), self.options.zone.key)
        week = digest_week(now, zone)
        key = f"huddle:digest:{week}:team:{team.id}:lead:{lead.teams_user_id}"
        if week is None or len(key) > 200 or is_queued(session, key):
            return 0
        person = ensure_person(
            session, Identity(tenant, lead.teams_user_id, lead.aad_object_id, lead.name), now
        )
        view = lead_digest(session, team, now.astimezone(zone).date(), zone)
        return int(
            enqueue(
                session,
                dedupe_key=key,
                kind="digest",
                tenant_id=tenant,
                target=_person_target(lead.teams_user_id, tenant, team),
                activity=self.messages.digest(view),
                now=now,
                person_id=person.id,
                team_id=team.id,
            )
        )

    async def _improvement_digest(self, now: datetime) -> int:
        team_id, zone = self.options.improvement_team_id, self.options.zone
        week = digest_week(now, zone)
        if not team_id or week is None:
            return 0

        def work(session: Session) -> int:
            key = f"huddle:digest:{week}:improvement"
            team = installed_team(session, team_id)
            if team is None or is_queued(session, key):
                return 0
            view = improvement_view(session, now.astimezone(zone).date(), zone)
            return int(
                enqueue(
                    session,
                    dedupe_key=key,
                    kind="digest",
                    tenant_id=team.tenant_id,
                    target=Target.conversation(team.channel_conversation_id, team.service_url),
                    activity=self.messages.digest(view),
                    now=now,
                    team_id=team.id,
                )
            )

        return await self.db.run(work)


def _person_target(user_id: str, tenant_id: str, team: Team) -> Target:
    """Someone's 1:1 chat with the bot: the sender uses their stored chat, or creates it."""
    bot_id = json.loads(team.reference or "{}").get("bot", {}).get("id", "") or "bot"
    return Target.person(
        user_id=user_id, tenant_id=tenant_id, service_url=team.service_url, bot_id=bot_id
    )
