"""Only the right people: the improvement team is IMPACT_ADMIN_IDS plus the *owners* of the
improvement Team (not its members, never its guests, and only from that Team's tenant), every
refusal audited; and two tenants in one database never see, list or export each other's teams,
rounds or results, in cards or in the CLI's lists (`--tenant`). On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.config import Settings
from framework.content import default_framework
from impact.main import main
from impact.service import create_app
from rounds.services.admin import RoundAdmin, RoundSpec
from store.audit import AuditEntry
from store.db import Database
from store.rounds.tables import Round
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_text

pytestmark = pytest.mark.service

TENANT_A = "tenant-a-trust"
TENANT_B = "tenant-b-trust"
IMPROVE = "19:improvement@thread.tacv2"
WARD_A = "19:ward-a@thread.tacv2"
WARD_B = "19:ward-b@thread.tacv2"
ADMIN_B = "bbbbbbbb-0000-4000-8000-00000000000b"


@dataclass
class World:
    db: Database
    settings: Settings
    owner_a: TeamsUser
    member_a: TeamsUser
    guest_a: TeamsUser
    admin_b: TeamsUser
    round_a: int
    round_b: int


@pytest.fixture
async def world(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
) -> AsyncIterator[World]:
    settings = settings_factory(
        improvement_team_id=IMPROVE,
        admin_ids=ADMIN_B,
        allowed_tenants=f"{TENANT_A},{TENANT_B}",
        public_url="https://impact.example.nhs.uk",
    )
    runner, url = await serve(create_app(settings, db=db, clock=clock))

    def person(name: str, tenant: str, **fields: Any) -> TeamsUser:
        return TeamsUser(
            bot_url=url, connector=connector, session=http, name=name, tenant_id=tenant, **fields
        )

    owner_a = person("Olive Owner", TENANT_A)
    member_a = person("Mo Member", TENANT_A)
    guest_a = person("Gus Guest", TENANT_A)
    admin_b = person("Bea Admin", TENANT_B, aad_object_id=ADMIN_B)
    await owner_a.add_bot_to_team(IMPROVE, "Improvement team")
    connector.conversations[IMPROVE].members = [
        owner_a.member("owner"),
        member_a.member("user"),
        guest_a.member("guest"),
    ]
    await owner_a.add_bot_to_team(WARD_A, "Ward A")
    await admin_b.add_bot_to_team(WARD_B, "Ward B")
    admin = RoundAdmin(db, default_framework(), settings.round_options(), clock)

    def spec(name: str, team: str) -> RoundSpec:
        return RoundSpec(
            name=name,
            team_ids=(team,),
            opens_at=clock.now + timedelta(days=1),
            closes_at=clock.now + timedelta(days=15),
            reminder_plan="3d,7d,last-day",
        )

    round_a = await admin.create(spec("Alpha round", WARD_A), actor="test", tenant=TENANT_A)
    round_b = await admin.create(spec("Bravo round", WARD_B), actor="test", tenant=TENANT_B)
    yield World(db, settings, owner_a, member_a, guest_a, admin_b, round_a, round_b)
    await runner.cleanup()


def refusals(db: Database) -> list[tuple[str, str]]:
    return db.run_sync(
        lambda s: [
            (a.actor, a.action)
            for a in s.exec(select(AuditEntry).where(AuditEntry.allowed == False)).all()  # noqa: E712
        ]
    )


async def test_owners_count_members_and_guests_do_not_and_refusals_are_audited(
    world: World,
) -> None:
    await world.owner_a.say("rounds")
    assert "Assessment rounds" in card_text(world.owner_a.last_card()[1])
    for person in (world.member_a, world.guest_a):
        await person.say("rounds")
        assert "Only the improvement team can do that" in card_text(person.last_card()[1])
    refused = refusals(world.db)
    assert (world.member_a.aad_object_id, "rounds.view") in refused
    assert (world.guest_a.aad_object_id, "rounds.view") in refused
    assert world.owner_a.aad_object_id not in {actor for actor, _ in refused}


async def test_an_owner_speaking_from_another_tenant_does_not_count(world: World) -> None:
    elsewhere = TeamsUser(
        bot_url=world.owner_a.bot_url,
        connector=world.owner_a.connector,
        session=world.owner_a.session,
        name=world.owner_a.name,
        user_id=world.owner_a.user_id,
        aad_object_id=world.owner_a.aad_object_id,
        tenant_id=TENANT_B,
    )
    await elsewhere.say("rounds")
    assert "Only the improvement team can do that" in card_text(elsewhere.last_card()[1])
    assert (world.owner_a.aad_object_id, "rounds.view") in refusals(world.db)


async def test_each_tenants_admin_sees_only_its_own_rounds_and_teams(world: World) -> None:
    await world.owner_a.say("rounds")
    seen_by_a = card_text(world.owner_a.last_card()[1])
    assert "Alpha round" in seen_by_a
    assert "Bravo round" not in seen_by_a
    assert "Ward B" not in seen_by_a
    await world.admin_b.say("rounds")
    seen_by_b = card_text(world.admin_b.last_card()[1])
    assert "Bravo round" in seen_by_b
    assert "Alpha round" not in seen_by_b
    await world.owner_a.say("new round")
    form = world.owner_a.last_card()[1]
    teams = next(e for e in form["body"] if e.get("id") == "teams")
    assert {c["value"] for c in teams["choices"]} == {IMPROVE, WARD_A}


async def test_another_tenants_round_cannot_be_read_exported_changed_or_used(
    world: World,
) -> None:
    owner = world.owner_a
    team_b = world.db.run_sync(
        lambda s: s.exec(select(Round).where(Round.id == world.round_b)).one()
    )
    assert team_b.status == "scheduled"
    results = await owner.execute(
        "x", "results", {"verb": "results", "round_id": world.round_b, "team_id": 3}
    )
    shown = json.dumps(results.body) + json.dumps(owner.chat())
    assert "Bravo" not in shown
    assert "Ward B" not in shown
    exported = await owner.execute(
        "x", "export", {"verb": "export", "round_id": world.round_b, "fmt": "csv"}
    )
    assert "/exports/" not in json.dumps(exported.body) + json.dumps(owner.chat())
    await owner.execute("x", "round_close", {"verb": "round_close", "round": world.round_b})
    await owner.execute("x", "round_cancel", {"verb": "round_cancel", "round": world.round_b})
    statuses = world.db.run_sync(lambda s: {r.id: r.status for r in s.exec(select(Round)).all()})
    assert statuses[world.round_b] == "scheduled"
    closes = world.db.run_sync(lambda s: s.get(Round, world.round_b).closes_at)  # type: ignore[union-attr]
    await owner.execute("x", "round_extend", {"verb": "round_extend", "round": world.round_b})
    assert world.db.run_sync(lambda s: s.get(Round, world.round_b).closes_at) == closes  # type: ignore[union-attr]
    created = await owner.execute(
        "x",
        "round_create",
        {"verb": "round_create", "name": "Sneaky", "teams": WARD_B, "opens": "now",
         "closes": "+7d"},
    )  # fmt: skip
    assert "Nothing was created" in json.dumps(created.body) + json.dumps(owner.chat())
    names = world.db.run_sync(lambda s: [r.name for r in s.exec(select(Round)).all()])
    assert "Sneaky" not in names
    refused = {action for actor, action in refusals(world.db) if actor == owner.aad_object_id}
    assert {
        "results.other_tenant",
        "export.other_tenant",
        "round_close.other_tenant",
        "round_create.other_tenant",
    } <= refused
    # The same actions on its own round work: the checks above can fail.
    await owner.execute("x", "round_cancel", {"verb": "round_cancel", "round": world.round_a})
    assert world.db.run_sync(lambda s: s.get(Round, world.round_a).status) == "cancelled"  # type: ignore[union-attr]


def run_cli(world: World, tmp_path: Path, *args: str) -> str:
    """`impact-bot …` in a subprocess-free way: main() in a worker thread (it runs its own loop),
    with the test's settings in the environment."""
    env = {
        "DATABASE_URL": world.settings.database_url,
        "IMPACT_IMPROVEMENT_TEAM_ID": IMPROVE,
        "IMPACT_ADMIN_IDS": ADMIN_B,
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(list(args)) == 0
        return out.getvalue()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def test_the_cli_lists_by_tenant_and_names_the_admins(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("IMPACT_", "Microsoft")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    rounds_a = await asyncio.to_thread(
        run_cli, world, tmp_path, "rounds", "list", "--tenant", TENANT_A
    )
    assert "Alpha round" in rounds_a
    assert "Bravo round" not in rounds_a
    teams_b = await asyncio.to_thread(
        run_cli, world, tmp_path, "teams", "list", "--tenant", TENANT_B
    )
    assert "Ward B" in teams_b
    assert "Ward A" not in teams_b
    assert "Improvement" not in teams_b
    everything = await asyncio.to_thread(run_cli, world, tmp_path, "rounds", "list")
    assert "Alpha round" in everything
    assert "Bravo round" in everything
    listed = json.loads(
        await asyncio.to_thread(run_cli, world, tmp_path, "admins", "list", "--json")
    )
    admins = {row["person"]: row for row in listed["admins"]}
    assert admins[ADMIN_B]["why"] == "IMPACT_ADMIN_IDS"
    owner = admins[world.owner_a.aad_object_id]
    assert owner["tenant"] == TENANT_A
    assert "owner of the improvement Team" in owner["why"]
    assert world.member_a.aad_object_id not in admins
    assert world.guest_a.aad_object_id not in admins
    roles = {row["person"]: row["role"] for row in listed["not_counted"]}
    assert roles == {world.member_a.aad_object_id: "user", world.guest_a.aad_object_id: "guest"}
    text = await asyncio.to_thread(run_cli, world, tmp_path, "admins", "list")
    assert "IMPACT_ADMIN_IDS" in text
    assert "not counted:" in text
