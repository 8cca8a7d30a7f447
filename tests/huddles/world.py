"""A world for huddle tests (services, dialogs), as a fixture their conftest files import: the
real service on loopback (SQLite and PostgreSQL), the fake Bot Connector as Teams, teams the bot
was added to with rosters (owners are leads), the huddle services as the scheduler runs them,
and the outbox sender to deliver what they queue."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import time
from typing import Any

import aiohttp
import pytest
from sqlmodel import col, select

from bot.config import Settings
from bot.dialogs.huddles.wiring import HuddleServices, huddle_services
from bot.registry import FeatureContext
from bot.sender.outbox_sender import OutboxSender
from impact.service import CONTEXT_KEY, create_app
from store.db import Database
from store.huddles.schedules import ScheduleSpec
from store.outbox import OutboxMessage
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_of

WARD = "19:ward7@thread.tacv2"
DIRECTORATE = "19:medicine@thread.tacv2"
EXECUTIVE = "19:executive@thread.tacv2"
IMPROVEMENT = "19:improvement@thread.tacv2"
ADMIN_AAD = "11111111-2222-3333-4444-555555555555"
WEEKDAYS = frozenset(range(5))


@dataclass
class World:
    db: Database
    clock: Clock
    connector: FakeConnector
    services: HuddleServices
    url: str
    http: aiohttp.ClientSession
    sender: OutboxSender
    ctx: FeatureContext
    people: dict[str, TeamsUser] = field(default_factory=dict)

    def person(self, key: str, name: str, **fields: Any) -> TeamsUser:
        user = TeamsUser(
            bot_url=self.url, connector=self.connector, session=self.http, name=name, **fields
        )
        self.people[key] = user
        return user

    async def team(
        self, team_id: str, name: str, owners: list[TeamsUser], members: list[TeamsUser]
    ) -> None:
        """The bot added to a team (by its first owner), with this roster."""
        await owners[0].add_bot_to_team(team_id, name)
        self.connector.conversations[team_id].members = [o.member("owner") for o in owners] + [
            m.member() for m in members
        ]

    async def schedule(self, team_id: str, **overrides: Any) -> int:
        values: dict[str, Any] = {
            "team_id": team_id,
            "name": "Morning huddle",
            "format_id": "improvement",
            "days": WEEKDAYS,
            "at": time(8, 30),
            "zone": "Europe/London",
            "lead_minutes": 5,
        }
        values.update(overrides)
        return await self.services.admin.create(ScheduleSpec(**values), actor="test")

    async def deliver(self) -> None:
        """Send everything queued to the fake connector, as the running service would."""
        for _ in range(50):
            result = await self.sender.drain_once(self.clock.now)
            if result.pending == 0:
                return
        raise AssertionError("the outbox did not drain")

    def outbox(self, kind: str | None = None) -> list[OutboxMessage]:
        def read(session: Any) -> list[OutboxMessage]:
            query = select(OutboxMessage).order_by(col(OutboxMessage.id))
            if kind is not None:
                query = query.where(OutboxMessage.kind == kind)
            return list(session.exec(query).all())

        return self.db.run_sync(read)

    def channel_cards(self, conversation_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (aid, card)
            for aid, activity in self.connector.shown(conversation_id)
            if (card := card_of(activity)) is not None
        ]


def payload_card(message: OutboxMessage) -> dict[str, Any]:
    activity = json.loads(message.payload)["activity"]
    card = card_of(activity)
    assert card is not None
    return card


def target_of(message: OutboxMessage) -> dict[str, Any]:
    target: dict[str, Any] = json.loads(message.payload)["target"]
    return target


@pytest.fixture
async def world(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> AsyncIterator[World]:
    settings = settings_factory(admin_ids=ADMIN_AAD, improvement_team_id=IMPROVEMENT)
    app = create_app(settings, db=db, clock=clock)
    runner, url = await serve(app)
    sender = OutboxSender.from_settings(settings, db, clock=clock)
    try:
        ctx = app[CONTEXT_KEY]
        yield World(db, clock, connector, huddle_services(ctx), url, http, sender, ctx)
    finally:
        await sender.aclose()
        await runner.cleanup()
