"""`my data` and `forget me` in the 1:1 chat, through the real service and the fake Bot
Connector, on SQLite and PostgreSQL: a download link to everything stored about the person
(JSON, private, expiring, audited), an erasure only after the confirmation, and a card that can
only ever act on whoever pressed it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlmodel import col, select

from bot.config import Settings
from impact.service import create_app
from store.audit import AuditEntry
from store.db import Database
from store.privacy.rights import find_people
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_text, find_action
from tests.store.privacy.scan import needles, scan
from tests.store.privacy.world import NIA, NIA_COMMENT, NIA_SECRETS, SAM, TENANT, build

pytestmark = pytest.mark.service

PUBLIC = "https://impact-bot.example.nhs.uk"


@dataclass
class Chat:
    url: str
    nia: TeamsUser
    sam: TeamsUser
    nia_id: int
    http: aiohttp.ClientSession


@pytest.fixture
async def chat(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> AsyncIterator[Chat]:
    world = build(db)
    clock.now = clock.now.replace(year=2026, month=11, day=20)
    app = create_app(settings_factory(public_url=PUBLIC), db=db, clock=clock)
    runner, url = await serve(app)

    def person(who: Any) -> TeamsUser:
        return TeamsUser(bot_url=url, connector=connector, session=http, tenant_id=TENANT,
                         name=who.name, user_id=who.teams_user_id,
                         aad_object_id=who.aad_object_id or "")  # fmt: skip

    yield Chat(url, person(NIA), person(SAM), world.nia, http)
    await runner.cleanup()


def link_of(card: dict[str, Any]) -> str:
    url = str(find_action(card, "Download my data")["url"])
    assert url.startswith(f"{PUBLIC}/my-data/")
    return url.removeprefix(PUBLIC)


async def test_my_data_gives_a_private_expiring_download_of_everything(
    chat: Chat, clock: Clock, db: Database
) -> None:
    await chat.nia.say("my data")
    path = link_of(chat.nia.last_card()[1])
    async with chat.http.get(chat.url + path) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert "private" in response.headers["Cache-Control"]
        assert "no-store" in response.headers["Cache-Control"]
        assert "attachment" in response.headers["Content-Disposition"]
        document = await response.json()
    assert document["people"]["person"][0]["name"] == NIA.name
    assert NIA_COMMENT in str(document["assessments"]["answers"])
    assert "person.export" in {entry["action"] for entry in document["audit"]["audit"]}
    assert SAM.name not in str(document)
    async with chat.http.get(chat.url + "/my-data/" + "x" * 43) as forged:
        assert forged.status == 404
    clock.advance(timedelta(minutes=16))
    async with chat.http.get(chat.url + path) as expired:
        assert expired.status == 404
    downloads = db.run_sync(lambda s: s.exec(select(AuditEntry.actor).where(
        col(AuditEntry.action) == "person.export.download")).all())  # fmt: skip
    assert downloads == [NIA.aad_object_id]


async def test_forget_me_asks_first_then_erases_everything(chat: Chat, db: Database) -> None:
    await chat.nia.say("forget me")
    card_id, card = chat.nia.last_card()
    assert "cannot be undone" in card_text(card)
    await chat.nia.press("Keep it", card_id=card_id)
    assert "Nothing was erased" in card_text(chat.nia.last_card()[1])
    assert db.run_sync(lambda s: find_people(s, NIA.teams_user_id)) != []

    await chat.nia.say("forget me")
    card_id, _card = chat.nia.last_card()
    await chat.nia.press("Erase my data", card_id=card_id)
    assert "Erased" in card_text(chat.nia.last_card()[1])
    assert scan(db, needles(*NIA_SECRETS, NIA_COMMENT), chat.nia_id) == []
    assert db.run_sync(lambda s: find_people(s, SAM.teams_user_id)) != []


async def test_a_forget_press_only_ever_erases_whoever_pressed(chat: Chat, db: Database) -> None:
    await chat.sam.say("forget me")
    card_id, card = chat.sam.last_card()
    # Card data naming someone else changes nothing: who is erased comes from Teams.
    data = {**find_action(card, "Erase my data")["data"], "person": NIA.teams_user_id}
    await chat.sam.execute(card_id, "privacy_forget", data)
    assert db.run_sync(lambda s: find_people(s, SAM.teams_user_id)) == []
    assert [p.person_id for p in db.run_sync(lambda s: find_people(s, NIA.teams_user_id))] == [
        chat.nia_id
    ]


async def test_an_old_or_forged_confirmation_erases_nothing(
    chat: Chat, db: Database, clock: Clock
) -> None:
    await chat.nia.say("forget me")
    card_id, _card = chat.nia.last_card()
    clock.advance(timedelta(minutes=16))
    await chat.nia.press("Erase my data", card_id=card_id)
    assert "expired" in card_text(chat.nia.last_card()[1])
    await chat.nia.execute(card_id, "privacy_forget", {"verb": "privacy_forget"})
    future = {"verb": "privacy_forget", "asked_at": int(clock.now.timestamp()) + 600}
    await chat.nia.execute(card_id, "privacy_forget", future)
    assert db.run_sync(lambda s: find_people(s, NIA.teams_user_id)) != []


async def test_without_a_public_address_my_data_says_who_to_ask(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    app = create_app(settings_factory(), db=db, clock=clock)
    runner, url = await serve(app)
    try:
        someone = TeamsUser(bot_url=url, connector=connector, session=http)
        await someone.say("my data")
        assert "impact-bot people export" in card_text(someone.last_card()[1])
    finally:
        await runner.cleanup()
