"""Huddle records as evidence beside question 18 in a team's round summary and Full results, on
SQLite and PostgreSQL: "Held 2 of 3 scheduled huddles in the last quarter" where the bot holds
records for the team, nothing where it holds none, and never a change to anyone's answer."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from framework.content import default_framework
from framework.identity import Identity
from huddles.rules.digest import HuddleStatus
from impact.features.rounds import round_steps
from store.huddles.occurrences import history
from store.huddles.schedules import team_by_teams_id
from store.rounds.lifecycle import RoundSpec, create_round
from tests.fakes.teams_client import TeamsUser, card_text
from tests.huddles.world import ADMIN_AAD, WARD, World, payload_card, target_of
from tests.rounds.services.test_steps import complete

pytestmark = pytest.mark.service

OTHER = "19:ward9@thread.tacv2"
EVIDENCE = "Q18 Staff attend huddles: Held 2 of 3 scheduled huddles in the last quarter."


def me(user: TeamsUser) -> Identity:
    return Identity(user.tenant_id, user.user_id, user.aad_object_id, user.name)


def huddles_of(world: World, team_id: str) -> dict[date, int]:
    def read(session: Any) -> dict[date, int]:
        team = team_by_teams_id(session, team_id)
        assert team.id is not None
        return {r.local_date: r.huddle_id for r in history(session, team.id)}

    return world.db.run_sync(read)


async def test_the_round_summary_and_full_results_show_huddles_beside_question_18(
    world: World,
) -> None:
    lead = world.person("lead", "Sam Lead")
    staff = [world.person(f"s{n}", f"Staff {n}") for n in range(6)]
    await world.team(WARD, "Ward 7", [lead], staff)
    await world.team(OTHER, "Ward 9", [world.person("other", "Oli Other")], [])
    await world.schedule(WARD)
    for day in (24, 25, 26):
        world.clock.now = datetime(2026, 11, day, 8, 25, tzinfo=UTC)
        await world.services.steps.post_due(world.clock.now)
    capture = world.services.capture
    held = huddles_of(world, WARD)
    for day, status, note in ((24, HuddleStatus.HELD, ""), (25, HuddleStatus.HELD, ""),
                              (26, HuddleStatus.NOT_HELD, "Ward move")):  # fmt: skip
        recorded = await capture.outcome(me(lead), held[date(2026, 11, day)], WARD, status, note)
        assert recorded.changed

    framework = default_framework()
    spec = RoundSpec("Winter 2026", (WARD, OTHER), world.clock.now,
                     world.clock.now + timedelta(days=7), "3d")  # fmt: skip
    round_id = world.db.run_sync(
        lambda s: create_round(s, spec, framework=framework, actor="t", now=world.clock.now).id
    )
    steps = round_steps(world.ctx)
    await steps.run_due(world.clock.now)
    for level, person in zip((2, 3, 3, 4, 4), staff, strict=False):
        complete(world.db, me(person), round_id, level, world.clock.now)
    world.clock.now += timedelta(days=8)
    assert await steps.close_due(world.clock.now) == [round_id]
    summaries = {target_of(m)["conversation_id"]: m for m in world.outbox("summary")}
    ward_card = payload_card(summaries[WARD])
    assert EVIDENCE in card_text(ward_card)
    assert "From the bot's own records; no one's answers are changed." in card_text(ward_card)
    assert "Evidence" not in card_text(payload_card(summaries[OTHER])), "no records: nothing"
    assert "Median level per component" in card_text(ward_card), "the answers' own results"

    full = next(a for a in ward_card["actions"] if a["title"] == "Full results")
    admin = world.person("admin", "Ivy Improver", aad_object_id=ADMIN_AAD)
    await admin.execute("summary", "results", full["data"])
    results = card_text(admin.last_card()[1])
    assert "Evidence: Held 2 of 3 scheduled huddles in the last quarter" in results
    payload = json.loads(summaries[WARD].payload)
    assert payload["activity"]["attachments"][0]["content"] == ward_card

    # Asked again: the same card, evidence and all (frozen with the results at the close).
    await admin.execute("summary", "results", full["data"])
    assert card_text(admin.last_card()[1]) == results
