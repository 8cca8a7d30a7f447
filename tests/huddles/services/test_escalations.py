"""An escalation up the huddle cascade and back, on SQLite and PostgreSQL: raised in a ward's
huddle, it appears on its directorate's next huddle card; still open after
IMPACT_ESCALATE_AFTER_DAYS it moves to the executive's; resolved there with a note, the ward is
told in its channel and it leaves every board."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from framework.identity import Identity
from huddles.rules.views import Draft
from store.huddles.occurrences import history
from store.huddles.schedules import team_by_teams_id
from tests.fakes.teams_client import TeamsUser, card_text
from tests.huddles.world import DIRECTORATE, EXECUTIVE, WARD, World, payload_card, target_of

pytestmark = pytest.mark.service

THURSDAY = datetime(2026, 11, 26, 8, 25, tzinfo=UTC)


def identity(user: TeamsUser) -> Identity:
    return Identity(user.tenant_id, user.user_id, user.aad_object_id, user.name)


def latest_huddle(world: World, team_id: str) -> int:
    def read(session: Any) -> int:
        team = team_by_teams_id(session, team_id)
        assert team.id is not None
        return history(session, team.id)[0].huddle_id

    return world.db.run_sync(read)


def prompt_text(world: World, team_id: str) -> str:
    """The text of the team's latest prompt card, as posted."""
    prompts = [m for m in world.outbox("huddle") if target_of(m)["conversation_id"] == team_id]
    return card_text(payload_card(prompts[-1]))


async def cascade(world: World) -> dict[str, TeamsUser]:
    people = {
        "ward": world.person("ward", "Wren Ward"),
        "director": world.person("director", "Dee Director"),
        "chief": world.person("chief", "Cal Chief"),
    }
    await world.team(WARD, "Ward 7", [people["ward"]], [])
    await world.team(DIRECTORATE, "Medicine", [people["director"]], [])
    await world.team(EXECUTIVE, "Executive", [people["chief"]], [])
    admin = world.services.admin
    await admin.set_parent(WARD, DIRECTORATE, actor="cli:test")
    await admin.set_parent(DIRECTORATE, EXECUTIVE, actor="cli:test")
    for team in (WARD, DIRECTORATE, EXECUTIVE):
        await world.schedule(team)
    return people


async def test_an_escalation_climbs_the_tree_and_the_raising_team_hears_back(
    world: World,
) -> None:
    people = await cascade(world)
    capture, steps = world.services.capture, world.services.steps
    world.clock.now = THURSDAY
    assert await steps.post_due(THURSDAY) == 3
    ward_huddle = latest_huddle(world, WARD)
    raised = await capture.add(
        identity(people["ward"]), ward_huddle, WARD,
        Draft(kind="escalation", text="No porter after 8pm: patients wait for scans"),
    )  # fmt: skip
    assert raised.changed
    assert raised.view is not None
    assert "Waiting on Medicine · today" in [e.detail for e in raised.view.escalations]

    # Friday: on the directorate's card, not the executive's
    friday = THURSDAY + timedelta(days=1)
    world.clock.now = friday
    assert await steps.post_due(friday) == 3
    assert "From Ward 7 · 1 day" in prompt_text(world, DIRECTORATE)
    assert "No porter after 8pm" not in prompt_text(world, EXECUTIVE)
    assert await steps.escalate_due(friday) == 0

    # Three full days open: it moves up one team
    world.clock.now = THURSDAY + timedelta(days=3, minutes=5)
    assert await steps.escalate_due(world.clock.now) == 1
    assert await steps.escalate_due(world.clock.now) == 0
    monday = THURSDAY + timedelta(days=4)
    world.clock.now = monday
    assert await steps.post_due(monday) == 3
    assert "From Ward 7 · 4 days" in prompt_text(world, EXECUTIVE)
    assert "No porter after 8pm" not in prompt_text(world, DIRECTORATE)
    assert "Waiting on Executive · 4 days" in prompt_text(world, WARD)

    # the directorate can no longer answer it; the executive can, with a note
    executive_huddle = latest_huddle(world, EXECUTIVE)
    [item] = [e for e in (raised.view.escalations) if e.kind == "escalation"]
    ref = item.ref.rsplit(":", 1)[0] + ":1"  # moved up once: its revision moved on
    refused = await capture.change(
        identity(people["director"]), latest_huddle(world, DIRECTORATE), DIRECTORATE, ref,
        "unblocked", "Sorted",
    )  # fmt: skip
    assert "Only members of Executive can change that" in refused.note
    no_note = await capture.change(
        identity(people["chief"]), executive_huddle, EXECUTIVE, ref, "unblocked", ""
    )
    assert "note is empty" in no_note.note
    done = await capture.change(
        identity(people["chief"]), executive_huddle, EXECUTIVE, ref, "unblocked",
        "Porter rota extended to 10pm from Monday",
    )  # fmt: skip
    assert done.changed
    [notice] = world.outbox("notice")
    assert target_of(notice)["conversation_id"] == WARD
    told = card_text(json.loads(notice.payload)["activity"]["attachments"][0]["content"])
    assert "Escalation unblocked: Executive replied" in told
    assert "No porter after 8pm: patients wait for scans" in told
    assert "Porter rota extended to 10pm from Monday" in told
    await world.deliver()
    assert any("Escalation unblocked" in card_text(c) for _i, c in world.channel_cards(WARD))

    tuesday = monday + timedelta(days=1)
    world.clock.now = tuesday
    assert await steps.post_due(tuesday) == 3
    for team in (WARD, DIRECTORATE, EXECUTIVE):
        assert "No porter after 8pm" not in prompt_text(world, team)


async def test_an_escalation_never_climbs_past_the_top(world: World) -> None:
    people = await cascade(world)
    world.clock.now = THURSDAY
    await world.services.steps.post_due(THURSDAY)
    await world.services.capture.add(
        identity(people["ward"]), latest_huddle(world, WARD), WARD,
        Draft(kind="escalation", text="Ceiling leak in bay 4"),
    )  # fmt: skip
    steps = world.services.steps
    assert await steps.escalate_due(THURSDAY + timedelta(days=30)) == 1
    assert await steps.escalate_due(THURSDAY + timedelta(days=60)) == 0
    world.clock.now = THURSDAY + timedelta(days=61)
    await steps.post_due(world.clock.now)
    assert "From Ward 7 · 61 days" in prompt_text(world, EXECUTIVE)
