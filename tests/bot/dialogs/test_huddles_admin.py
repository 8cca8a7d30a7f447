"""Huddle schedules and the team tree from Teams, through the real service and the fake Bot
Connector, on SQLite and PostgreSQL: only a team's leads (its owners in Teams, or named leads)
and the improvement team change schedules; only the improvement team arranges the tree; every
decision audited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select

from store.audit import AuditEntry
from store.huddles.tables import HuddleSchedule, TeamParent
from tests.bot.cards.test_cards import walk
from tests.fakes.teams_client import TeamsUser, card_text
from tests.huddles.world import ADMIN_AAD, DIRECTORATE, WARD, World

pytestmark = pytest.mark.service


async def ward(world: World) -> tuple[TeamsUser, TeamsUser]:
    lead = world.person("lead", "Sam Lead")
    nurse = world.person("nurse", "Nia Nurse")
    await world.team(WARD, "Ward 7", [lead], [nurse])
    world.connector.add_channel(WARD, "19:nights@thread.tacv2", "Night shift")
    return lead.in_channel(WARD), nurse.in_channel(WARD)


def schedules(world: World) -> list[HuddleSchedule]:
    return world.db.run_sync(
        lambda s: list(s.exec(select(HuddleSchedule).order_by(col(HuddleSchedule.id))).all())
    )


def decisions(world: World) -> list[tuple[str, bool]]:
    return world.db.run_sync(
        lambda s: [
            (a.action, a.allowed)
            for a in s.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
        ]
    )


def field(card: dict[str, Any], input_id: str) -> dict[str, Any]:
    return next(e for e in walk(card) if e.get("id") == input_id)


FORM = {
    "name": "Morning safety huddle",
    "format": "safety",
    "channel": "19:nights@thread.tacv2",
    "days": "mon,wed,fri",
    "at": "07:45",
    "zone": "Europe/London",
    "lead_minutes": "10",
    "bank_holidays": "true",
}


async def test_a_lead_sets_a_schedule_from_the_channel_with_the_form(world: World) -> None:
    lead, _nurse = await ward(world)
    await lead.say("huddle schedule")
    listing, (form_id, form) = lead.cards()[-2], lead.cards()[-1]
    assert "No huddle schedules yet." in card_text(listing[1])
    channels = field(form, "channel")["choices"]
    assert channels == [
        {"title": "General", "value": WARD},
        {"title": "Night shift", "value": "19:nights@thread.tacv2"},
    ], "the channels come from Teams (GET /v3/teams/{id}/conversations)"
    assert field(form, "zone")["value"] == "Europe/London"
    assert field(form, "lead_minutes")["value"] == "5"
    assert field(form, "bank_holidays")["value"] == "true"
    await lead.press("Save schedule", FORM, card_id=form_id)
    [saved] = schedules(world)
    assert (saved.name, saved.format_id, saved.channel_id, saved.channel_name) == (
        "Morning safety huddle", "safety", "19:nights@thread.tacv2", "Night shift",
    )  # fmt: skip
    assert (saved.days, saved.at, saved.lead_minutes, saved.skip_bank_holidays) == (
        "mon,wed,fri", "07:45", 10, True,
    )  # fmt: skip
    shown = card_text(lead.connector.activity(WARD, form_id)["attachments"][0]["content"])
    assert "✓ Morning safety huddle saved. Next prompt Friday 27 November at 07:35." in shown
    assert ("huddle.schedule", True) in decisions(world)


async def test_a_bad_form_saves_nothing_and_keeps_what_was_typed(world: World) -> None:
    lead, _nurse = await ward(world)
    await lead.say("huddle schedule")
    form_id, _form = lead.cards()[-1]
    typed = {**FORM, "zone": "Mars/Olympus", "bank_holidays": "false"}
    await lead.press("Save schedule", typed, card_id=form_id)
    card = lead.connector.activity(WARD, form_id)["attachments"][0]["content"]
    assert "I don't know the time zone 'Mars/Olympus'" in card_text(card)
    assert field(card, "name")["value"] == "Morning safety huddle"
    assert field(card, "channel")["value"] == "19:nights@thread.tacv2"
    assert field(card, "bank_holidays")["value"] == "false"
    assert schedules(world) == []


async def test_general_is_chosen_by_its_own_id_or_by_the_empty_value_of_older_cards(
    world: World,
) -> None:
    lead, _nurse = await ward(world)
    for n, channel in enumerate((WARD, "")):
        await lead.say("huddle schedule")
        form_id, _form = lead.cards()[-1]
        name = f"Morning huddle {n}"
        await lead.press("Save schedule", {**FORM, "name": name, "channel": channel},
                         card_id=form_id)  # fmt: skip
    assert [(s.name, s.channel_id, s.channel_name) for s in schedules(world)] == [
        ("Morning huddle 0", None, "General"), ("Morning huddle 1", None, "General"),
    ]  # fmt: skip


async def test_only_leads_and_the_improvement_team_change_schedules(world: World) -> None:
    lead, nurse = await ward(world)
    await nurse.say("huddle schedule")
    assert "Only the team's leads" in card_text(nurse.last_card()[1])
    await lead.say("huddle schedule")
    form_id, form = lead.cards()[-1]
    save = next(a for a in form["actions"] if a["title"] == "Save schedule")
    # a forged Save from a member who is not a lead
    await nurse.press_action(form_id, save, FORM)
    assert schedules(world) == []
    # a named lead (impact-bot huddles leads add) may
    await world.services.admin.add_lead(WARD, nurse.aad_object_id, actor="cli:test")
    await nurse.press_action(form_id, save, FORM)
    assert len(schedules(world)) == 1
    # and the improvement team may, though not in the team
    admin = world.person("admin", "Ivy Improver", aad_object_id=ADMIN_AAD).in_channel(WARD)
    await admin.say("huddle pause")
    assert schedules(world)[0].paused
    assert [d for d in decisions(world) if d[0] in ("huddle.form", "huddle.schedule")] == [
        ("huddle.form", False),
        ("huddle.form", True),
        ("huddle.schedule", False),
        ("huddle.schedule", True),
        ("huddle.schedule", True),
    ]


async def test_pause_resume_skip_and_delete_from_text_and_from_the_card(world: World) -> None:
    lead, nurse = await ward(world)
    schedule_id = await world.schedule(WARD)
    await nurse.say("huddle pause")
    assert "Only the team's leads" in card_text(nurse.last_card()[1])
    assert not schedules(world)[0].paused
    await lead.say("huddle pause")
    assert schedules(world)[0].paused
    assert "✓ Morning huddle paused." in card_text(lead.last_card()[1])
    await lead.say("huddle resume")
    await lead.say("huddle skip 2 December")
    assert schedules(world)[0].skip_dates == "2026-12-02"
    await lead.say("huddle skip tomorrow")
    assert "✓ Morning huddle will skip 2026-11-26." in card_text(lead.last_card()[1])
    card_id, card = lead.last_card()
    skip_it = next(e for e in walk(card) if e.get("title") == "Skip it")
    await lead.press_action(
        card_id, skip_it, {"schedule": str(schedule_id), "skip_on": "2026-12-04"}
    )
    assert schedules(world)[0].skip_dates == "2026-11-26,2026-12-02,2026-12-04"
    delete = next(e for e in walk(card) if e.get("title") == "Delete")
    await nurse.press_action(card_id, delete, {"schedule": str(schedule_id)})
    assert schedules(world)[0].deleted_at is None
    await lead.press_action(card_id, delete, {"schedule": str(schedule_id)})
    assert schedules(world)[0].deleted_at is not None


async def test_huddles_in_the_chat_lists_the_teams_someone_leads(world: World) -> None:
    lead, nurse = await ward(world)
    await world.schedule(WARD)
    chat = world.people["lead"]
    await chat.say("huddles")
    text = card_text(chat.last_card()[1])
    assert "Morning huddle** · Ward 7" in text
    assert "Next prompt Thursday 26 November at 08:25" in text
    await world.people["nurse"].say("huddles")
    assert "You don't lead a team's huddles here" in card_text(world.people["nurse"].last_card()[1])
    assert nurse.team_id == lead.team_id == WARD


async def test_only_the_improvement_team_arranges_the_team_tree(world: World) -> None:
    lead, _nurse = await ward(world)
    director = world.person("director", "Dee Director")
    await world.team(DIRECTORATE, "Medicine", [director], [])
    chat = world.people["lead"]
    await chat.say("team tree")
    assert "Only the improvement team" in card_text(chat.last_card()[1])
    admin = world.person("admin", "Ivy Improver", aad_object_id=ADMIN_AAD)
    await admin.say("team tree")
    card_id, tree = admin.last_card()
    assert [c["value"] for c in field(tree, "team")["choices"]] == [DIRECTORATE, WARD]
    forged = {"verb": "team_parent_save", "team": WARD, "parent": DIRECTORATE}
    await chat.execute(chat.last_card()[0], "team_parent_save", forged)
    await admin.press("Save", {"team": WARD, "parent": DIRECTORATE}, card_id=card_id)
    assert "✓ Ward 7 now escalates to Medicine." in card_text(admin.last_card()[1])
    await admin.press("Save", {"team": DIRECTORATE, "parent": WARD}, card_id=card_id)
    assert "would make the tree loop" in card_text(admin.last_card()[1])
    links = world.db.run_sync(
        lambda s: [(p.team_id, p.parent_id) for p in s.exec(select(TeamParent))]
    )
    assert len(links) == 1
    assert "→ Ward 7" in card_text(admin.last_card()[1])
    assert [d for d in decisions(world) if d[0].startswith("team.")] == [
        ("team.tree", False),
        ("team.tree", True),
        ("team.parent", False),
        ("team.parent", True),
        ("team.parent", True),
        ("team.parent", True),
    ]
    assert lead.team_id == WARD


async def test_a_channel_command_typed_in_the_chat_says_where_to_type_it(world: World) -> None:
    lead, _nurse = await ward(world)
    chat = world.people["lead"]
    for command in ("huddle schedule", "huddle pause"):
        await chat.say(command)
        assert "Type that in the team's channel" in card_text(chat.last_card()[1])
    assert lead.team_id == WARD
