"""Opening a round: the roster is read from Teams (all pages), frozen, and one invitation per
person is queued in the same transaction; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.config import Settings
from bot.web import TURNS_KEY
from framework.content import default_framework
from framework.identity import TeamMember
from impact.features.rounds import round_steps
from impact.service import CONTEXT_KEY, create_app
from rounds.services import opening as opening_service
from rounds.services.rosters import read_rosters
from store.db import Database
from store.outbox import OutboxMessage
from store.rounds.lifecycle import RoundSpec, create_round
from store.rounds.opening import roster_entries
from store.rounds.tables import Round, RoundParticipant, RoundParticipantTeam
from store.teams import Team
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser

pytestmark = pytest.mark.service

WARD = "19:ward7@thread.tacv2"
PHARMACY = "19:pharmacy@thread.tacv2"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def member(n: int, tenant: str, role: str = "user") -> dict[str, Any]:
    return {
        "id": f"29:staff-{n}",
        "name": f"Staff {n}",
        "aadObjectId": f"00000000-0000-0000-0000-{n:012d}",
        "tenantId": tenant,
        "userRole": role,
    }


async def test_open_reads_every_page_freezes_the_roster_and_queues_one_invitation_each(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
) -> None:
    app = create_app(settings_factory(), db=db, clock=clock)
    runner, url = await serve(app)
    try:
        lead = TeamsUser(bot_url=url, connector=connector, session=http, name="Sam Lead")
        await lead.add_bot_to_team(WARD, "Ward 7")
        await lead.add_bot_to_team(PHARMACY, "Pharmacy")
        tenant = lead.tenant_id
        ward = [member(n, tenant, "owner" if n == 0 else "user") for n in range(520)]
        pharmacy = [member(n, tenant) for n in (7, 1000, 1001)]  # staff 7 is in both teams
        connector.conversations[WARD].members = ward
        connector.conversations[PHARMACY].members = pharmacy
        # staff 1000 already talks to the bot: their invitation goes to that chat
        known = TeamsUser(
            bot_url=url,
            connector=connector,
            session=http,
            user_id="29:staff-1000",
            name="Staff 1000",
        )
        known.tenant_id = tenant
        await known.say("help")

        framework = default_framework()
        spec = RoundSpec(
            name="Winter 2026",
            team_ids=(WARD, PHARMACY),
            opens_at=clock.now,
            closes_at=clock.now + timedelta(days=14),
            reminder_plan="3d,7d,last-day",
        )
        round_id = db.run_sync(
            lambda s: create_round(s, spec, framework=framework, actor="test", now=clock.now).id
        )
        opener = round_steps(app[CONTEXT_KEY]).opener
        [result] = await opener.open_due(clock.now)
        assert (result.round_id, result.participants, result.invited) == (round_id, 522, 522)
        assert await opener.open_due(clock.now) == [], "a round opens once"
        pages = [c for c in connector.calls if c.kind == "members" and c.conversation_id == WARD]
        assert len(pages) == 2

        def stored(session: Any) -> tuple[str, int, int, list[OutboxMessage]]:
            round_ = session.get(Round, round_id)
            participants = session.exec(select(RoundParticipant)).all()
            links = session.exec(select(RoundParticipantTeam)).all()
            outbox = list(session.exec(select(OutboxMessage)).all())
            return round_.status, len(participants), len(links), outbox

        status, participants, links, outbox = db.run_sync(stored)
        assert status == "open"
        assert participants == 522
        assert links == 523  # staff 7 counts for both teams
        assert len(outbox) == 522
        assert len({m.dedupe_key for m in outbox}) == 522
        payloads = {m.person_id: json.loads(m.payload) for m in outbox}
        targets = [p["target"] for p in payloads.values()]
        assert sum(1 for t in targets if "conversation_id" in t) == 1  # staff 1000's chat
        assert all(t.get("user_id", "").startswith("29:staff-") for t in targets if "user_id" in t)
        card = payloads[next(iter(payloads))]["activity"]["attachments"][0]["content"]
        titles = [a["title"] for a in card["actions"]]
        assert titles == ["Start", "Remind me later", "Stop reminding me", "Reminder times"]
    finally:
        await runner.cleanup()


async def test_each_batch_of_the_opening_gives_way_to_the_turns_in_flight_first(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """And the rosters are made into entries off the event loop's thread (15,000 of them are
    25-75 ms of Python)."""
    entries_made_on: list[int] = []

    def roster_entries_seen(rosters: Any) -> Any:
        entries_made_on.append(threading.get_ident())
        return roster_entries(rosters)

    monkeypatch.setattr(opening_service, "roster_entries", roster_entries_seen)
    app = create_app(settings_factory(), db=db, clock=clock)
    assert app[CONTEXT_KEY].give_way == app[TURNS_KEY].give_way, "the service's own turns"
    runner, url = await serve(app)
    try:
        lead = TeamsUser(bot_url=url, connector=connector, session=http, name="Sam Lead")
        await lead.add_bot_to_team(WARD, "Ward 7")
        connector.conversations[WARD].members = [member(n, lead.tenant_id) for n in range(450)]
        spec = RoundSpec("Winter 2026", (WARD,), clock.now, clock.now + timedelta(days=14), "3d")
        db.run_sync(
            lambda s: create_round(s, spec, framework=default_framework(), actor="t", now=clock.now)
        )
        events: list[str] = []

        async def give_way() -> None:
            events.append("give way")

        steps = round_steps(replace(app[CONTEXT_KEY], give_way=give_way))
        run = steps.db.run

        async def recorded(work: Any) -> Any:
            events.append("write")
            return await run(work)

        steps.db.run = recorded  # type: ignore[method-assign]
        reads = steps.opener.process_reads  # on PostgreSQL it draws and writes the invitations
        if reads is not None:
            run_there = reads.run

            async def recorded_there(work: Any) -> Any:
                events.append("write")
                return await run_there(work)

            reads.run = recorded_there  # type: ignore[method-assign]
        try:
            [result] = await steps.opener.open_due(clock.now)
        finally:
            del steps.db.run
            if reads is not None:
                del reads.run
        assert result.invited == 450
        assert entries_made_on
        assert threading.get_ident() not in entries_made_on, "off the event loop's thread"
        # 3 batches frozen and 3 queued (200 people each): each write of a batch follows a
        # give-way, never another batch's write
        batches = [i for i, e in enumerate(events) if e == "write"]
        assert events.count("give way") >= 6
        assert sum(1 for i in batches if i > 0 and events[i - 1] == "give way") >= 6
    finally:
        await runner.cleanup()


async def test_each_teams_roster_is_read_after_giving_way_to_the_turns_in_flight() -> None:
    """A whole trust's rosters are read one team after another, a few milliseconds of the
    event loop each (the request and the SDK's parsing of the page): before each team's read
    the opener gives way to the turns in flight, as before each batch it writes."""
    events: list[str] = []

    class Reader:
        async def roster(self, team_id: str, reference: str, tenant_id: str) -> list[TeamMember]:
            events.append(f"read {team_id}")
            return [TeamMember(f"29:{team_id}", None, "P", tenant_id)]

        async def channels(self, team_id: str, reference: str) -> list[Any]:
            return []

    async def give_way() -> None:
        events.append("give way")

    teams = [
        Team(id=n, tenant_id="t", team_id=f"team-{n}", channel_conversation_id="c",
             service_url="https://smba.example/", reference="{}", updated_at=NOW)
        for n in (1, 2, 3)
    ]  # fmt: skip
    round_ = Round(id=1, name="R", opens_at=NOW, closes_at=NOW, reminder_plan="3d")
    read, missing = await read_rosters(Reader(), round_, teams, give_way=give_way)
    assert (sorted(read), missing) == ([1, 2, 3], [])
    assert events == [e for n in (1, 2, 3) for e in ("give way", f"read team-{n}")]
